# Keeps what it allocates (a leak, as a real bug would): 4 KB per message received, until the heap
# runs out inside its own step. The out-of-memory tests check that the kernel names it.
OUT = {"held": 0}


async def main(ctx):
    hoard = []
    while True:
        ctx.feed()
        await ctx.receive(100)
        for _ in range(64):
            hoard.append(bytearray(4096))
            OUT["held"] = len(hoard)
