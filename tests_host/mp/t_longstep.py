# One long step (30 ms of real work without yielding), then well-behaved.
import time


async def main(ctx):
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 30:
        pass
    while True:
        ctx.feed()
        await ctx.sleep_ms(100)
