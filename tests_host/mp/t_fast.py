# Feeds every 5 ms (10 ms watchdog).
async def main(ctx):
    while True:
        ctx.feed()
        await ctx.sleep_ms(5)
