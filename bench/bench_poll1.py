# A service that wakes every millisecond and does nothing else: the shape of PLL_SYNC's and DROOP_CTRL's
# loops, for sim_bench's kernel cost per simulated millisecond.
async def main(ctx):
    while True:
        ctx.feed()
        await ctx.sleep_ms(1)
