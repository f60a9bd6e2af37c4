# Runs normally for a while, then spins without yielding: only the hang
# watchdog can get it back.
async def main(ctx):
    if not ctx.is_restart:
        for _ in range(20):
            ctx.feed()
            await ctx.sleep_ms(5)
        n = 0
        while True:
            n = (n + 1) & 0xFFFF
    while True:
        ctx.feed()
        await ctx.sleep_ms(50)
