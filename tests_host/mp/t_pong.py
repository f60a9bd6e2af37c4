# Answers MSG_PING with MSG_PONG and does nothing else (no bookkeeping that allocates).
from jezgro.const import MSG_PING, MSG_PONG


async def main(ctx):
    while True:
        ctx.feed()
        msg = await ctx.receive(100)
        if msg is not None and msg.type == MSG_PING:
            ctx.send_i32(msg.src_handle(), MSG_PONG, msg.i32(0))
