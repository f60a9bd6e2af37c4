# SCENARIO service (simulation only): sends the scenario's power schedule to
# DROOP_CTRL at the scripted times, as POWER_MGR does in the full gateway
# (MSG_POWER_SCHEDULE, format in firmware/grid/messages.py).
from jezgro.const import MSG_POWER_SCHEDULE
from power.messages import SRC_LOCAL

SCHEDULE = []  # [[t_s, p_w, q_var], ...], set by plant.scenario before boot


async def main(ctx):
    droop = -1
    for s in ctx.kernel.services:
        if s.name == "DROOP_CTRL":
            droop = s.sid
    t0 = ctx.ticks_ms()
    todo = sorted(SCHEDULE)
    while True:
        ctx.feed()
        t = ctx.kernel.ticks_diff(ctx.ticks_ms(), t0) / 1000
        while todo and todo[0][0] <= t:
            _, p, q = todo.pop(0)
            ctx.send_i32(droop, MSG_POWER_SCHEDULE, int(p), int(q), SRC_LOCAL, 0)
        await ctx.sleep_ms(5)
