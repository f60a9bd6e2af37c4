# PLL_SYNC (CRITICAL, tick slot 0): the positive-sequence PLL of grid/pll.py
# runs in the 10 kHz tick and publishes through shared.PLL. This coroutine
# only reports lock changes: GRID_UNLOCKED (with priority) and GRID_LOCKED
# to POWER_MGR (msgs/catalogue.py). While unlocked
# the message is repeated every second, so a restarted POWER_MGR hears it.
import power_stage
from micropython import const
from grid import pll
import msgs

POLL_MS = const(1)
REPEAT_MS = const(1000)


class LockReport:
    # PLL_SYNC's published status: how many lock messages it sent POWER_MGR
    def __init__(self):
        self.events = 0

    def status(self):
        return {"lock_messages": self.events}


async def main(ctx):
    pll.reset()
    ctx.register_tick(pll.make_tick(power_stage.ADC, power_stage.sample))
    pm = ctx.sid_of("POWER_MGR")
    st = pll.ST
    was = 0
    since = ctx.ticks_ms()
    rep = LockReport()
    ctx.publish(rep)
    while True:
        ctx.feed()
        locked = st[pll.LOCKED]
        now = ctx.ticks_ms()
        if locked != was or (not locked and ctx.ticks_diff(now, since) >= REPEAT_MS):
            if pm >= 0 and (locked != was or rep.events):
                msgs.send_grid_lock(ctx, pm, locked, st[pll.VMAG], pll.freq_mhz())
                rep.events += 1
            was = locked
            since = now
        await ctx.sleep_ms(POLL_MS)
