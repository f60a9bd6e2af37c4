# VANDAL (test service, p_vandal_cfg): damages the board filesystem while the gateway runs, at
# AT_MS, the way a failing flash or a careless copy would, then crashes itself so that the kernel
# has something to write into the audit log after the damage.
import os
import board

AT_MS = 2000
DAMAGE = {"audit.log": "random", "ocpp_txq.log": "random", "ocpp_dm.json": "random",
          "ocpp_tx.json": "directory", "grid.json": "random"}
OUT = {"done_ms": None}


def _damage(path, kind):
    try:
        os.remove(path)
    except OSError:
        pass
    if kind == "directory":
        os.mkdir(path)
        return
    with open(path, "wb") as f:
        f.write(bytes((i * 131 + 7) & 0xFF for i in range(300)))


async def main(ctx):
    if OUT["done_ms"] is not None:
        while True:  # restarted after the crash below: stay quiet
            ctx.feed()
            await ctx.sleep_ms(500)
    t0 = ctx.ticks_ms()
    while ctx.ticks_diff(ctx.ticks_ms(), t0) < AT_MS:
        ctx.feed()
        await ctx.sleep_ms(100)
    for name, kind in DAMAGE.items():
        _damage(board.FS_ROOT + "/" + name, kind)
    OUT["done_ms"] = ctx.ticks_ms()
    raise RuntimeError("vandal done")
