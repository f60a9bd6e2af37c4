# A MEDIUM service that keeps the CPU busy (always ready), to show that
# priority scheduling and the tick domain are not disturbed by it.
steps = [0]


async def main(ctx):
    while True:
        ctx.feed()
        steps[0] += 1
        await ctx.yield_()
