# Stands in for POWER_MGR: records every message it gets.
got = []


async def main(ctx):
    while True:
        ctx.feed()
        msg = await ctx.receive(10)
        if msg is not None:
            got.append((msg.type, msg.i32(0), msg.i32(1)))
