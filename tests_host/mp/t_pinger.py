# Pings ECHO (sid 2) every 10 ms and counts the PONGs that come back.
import msgs

pongs = [0]


async def main(ctx):
    n = 0
    while True:
        ctx.feed()
        ctx.send_i32(2, msgs.PING, n)
        n += 1
        msg = await ctx.receive(10)
        if msg is not None and msg.type == msgs.PONG:
            pongs[0] += 1
            await ctx.sleep_ms(10)
