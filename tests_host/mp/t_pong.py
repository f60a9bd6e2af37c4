# Answers PING with PONG and does nothing else (no bookkeeping that allocates).
import msgs


async def main(ctx):
    while True:
        ctx.feed()
        msg = await ctx.receive(100)
        if msg is not None and msg.type == msgs.PING:
            ctx.send_i32(msg.src_handle(), msgs.PONG, msg.i32(0))
