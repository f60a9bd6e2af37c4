# Runs normally for a while, then its first incarnation spins inside a step without ever yielding:
# `while True: pass` (MODE "python": one backward jump, where the VM takes a pending exception) or
# the same loop in viper (MODE "viper": native code, which never looks at a pending exception, so
# only a reset ends it), or MODE "swallow": a bare `except KeyboardInterrupt` around the loop eats the
# first break and spins again, so the board must send it again. Later incarnations run normally. Used
# on the emulated M7 (tests_target).
import micropython

MODE = ["python"]
spins = [0]  # spins entered
swallowed = [0]  # breaks eaten (MODE "swallow")


@micropython.viper
def _viper_spin():
    while True:
        pass


async def main(ctx):
    if not ctx.is_restart:
        for _ in range(20):
            ctx.feed()
            await ctx.sleep_ms(5)
        spins[0] += 1
        if MODE[0] == "viper":
            _viper_spin()
        elif MODE[0] == "swallow":
            try:
                while True:
                    pass
            except KeyboardInterrupt:
                swallowed[0] += 1
        while True:
            pass
    while True:
        ctx.feed()
        await ctx.sleep_ms(50)
