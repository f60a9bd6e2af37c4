# The service restarted by the restart-latency benchmark.
async def main(ctx):
    n = ctx.store.get("n", 0)
    while True:
        ctx.feed()
        await ctx.receive(100)
        n += 1
