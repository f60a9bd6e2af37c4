# A CRITICAL service: a viper tick function counting ticks into a shared
# array, registered at every start. Its restarts are counted by the kernel.
import array
import micropython

counts = array.array("i", [0, 0])  # [ticks seen by this incarnation, total ticks]


@micropython.viper
def _tick():
    c = ptr32(counts)
    c[0] += 1
    c[1] += 1


async def main(ctx):
    counts[0] = 0
    ctx.register_tick(_tick)
    await ctx.wait_forever()
