# Stands in for POWER_MGR: records every MSG_POWER_SCHEDULE (P W, Q var, source, valid ms).
from jezgro.const import MSG_POWER_SCHEDULE

log = []


async def main(ctx):
    while True:
        ctx.feed()
        msg = await ctx.receive(200)
        if msg is not None and msg.type == MSG_POWER_SCHEDULE:
            log.append([msg.i32(0), msg.i32(1), msg.i32(2), msg.i32(3)])
