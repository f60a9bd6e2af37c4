# Crashes 1 ms after every start: a crash loop for restart-intensity tests.
async def main(ctx):
    await ctx.sleep_ms(1)
    raise RuntimeError("crash loop")
