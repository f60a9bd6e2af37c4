# PLL_SYNC (CRITICAL, tick slot 0): the positive-sequence PLL of grid/pll.py
# runs in the 10 kHz tick and publishes through shared.PLL. This coroutine
# only reports lock changes: MSG_GRID_UNLOCKED (with priority) and
# MSG_GRID_LOCKED to POWER_MGR, payloads per grid/messages.py. While unlocked
# the message is repeated every second, so a restarted POWER_MGR hears it.
import power_stage
from micropython import const
from grid import pll
from jezgro.const import MSG_GRID_UNLOCKED, MSG_GRID_LOCKED

POLL_MS = const(1)
REPEAT_MS = const(1000)


def _sid(ctx, name):
    for s in ctx.kernel.services:
        if s.name == name:
            return s.sid
    return -1


async def main(ctx):
    pll.reset()
    ctx.register_tick(pll.make_tick(power_stage.ADC, power_stage.sample))
    pm = _sid(ctx, "POWER_MGR")
    st = pll.ST
    was = 0
    since = ctx.ticks_ms()
    ctx.pll_events = 0  # status for the simulation and tests
    while True:
        ctx.feed()
        locked = st[pll.LOCKED]
        now = ctx.ticks_ms()
        if locked != was or (not locked and ctx.kernel.ticks_diff(now, since) >= REPEAT_MS):
            if pm >= 0 and (locked != was or ctx.pll_events):
                if locked:
                    ctx.send_i32(pm, MSG_GRID_LOCKED, st[pll.VMAG], pll.freq_mhz())
                else:
                    ctx.send_i32(pm, MSG_GRID_UNLOCKED, st[pll.VMAG], pll.freq_mhz(), priority=True)
                ctx.pll_events += 1
            was = locked
            since = now
        await ctx.sleep_ms(POLL_MS)
