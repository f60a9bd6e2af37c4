# SCENARIO service (simulation only): sends the scenario's power schedule to
# DROOP_CTRL at the scripted times, as POWER_MGR does in the full gateway
# (GRID_SETPOINT, msgs/catalogue.py).
import msgs

SCHEDULE = []  # [[t_s, p_w, q_var], ...], set by plant.scenario before boot


async def main(ctx):
    droop = ctx.sid_of("DROOP_CTRL")
    t0 = ctx.ticks_ms()
    todo = sorted(SCHEDULE)
    while True:
        ctx.feed()
        t = ctx.ticks_diff(ctx.ticks_ms(), t0) / 1000
        while todo and todo[0][0] <= t:
            _, p, q = todo.pop(0)
            msgs.send_grid_setpoint(ctx, droop, int(p), int(q))
        await ctx.sleep_ms(5)
