# DROOP_CTRL (HIGH, 1 kHz): P(f) and Q(V) around the power POWER_MGR
# schedules (GRID_SETPOINT, msgs/catalogue.py), turned into CURRENT_CTRL's
# dq references; protection and anti-islanding (grid/droop.py); GRID_EMERGENCY
# to POWER_MGR outside the profile's critical band or on a protection trip.
#
# Provisioning: <fs>/grid.json (grid/grid_config.py). A missing file means the
# defaults; a malformed one is reported (ctx.config_failed) and the defaults are used.
import math
from micropython import const
from grid import pll, curctl, grid_config
from grid.droop import Droop
import msgs
from msgs import EMERG_FREQ, EMERG_ISLAND

PERIOD_MS = const(1)
EMERG_REPEAT_MS = const(1000)
V_NOM_Q8 = 83269.0
W_TO_HZ = 1.0 / (2 * 3.141592653589793 * 65536)


def load_config(ctx):
    try:
        return grid_config.load_file(ctx.path(grid_config.FILE))
    except grid_config.ConfigError as e:
        ctx.config_failed("%s (defaults used)" % e)
        return grid_config.defaults()


async def main(ctx):
    cfg = load_config(ctx)
    d = Droop(cfg["grid_code"])
    d.sms = cfg["sms"]
    ctx.publish(d)
    pm = ctx.sid_of("POWER_MGR")
    st = pll.ST
    cc = curctl.CC
    safe = 0
    last_emerg = None
    while True:
        ctx.feed()
        msg = ctx.try_receive()
        while msg is not None:
            if msg.type == msgs.GRID_SETPOINT:
                d.schedule(msg.i32(msgs.P_W), msg.i32(msgs.Q_VAR))
            elif msg.type == msgs.SAFE_STATE:
                safe = msg.i32(msgs.SAFE_ENTERING)
            msg = ctx.try_receive()
        f = st[pll.OMEGA_F] * W_TO_HZ
        vd = st[pll.VD]
        vq = st[pll.VQ]
        v = math.sqrt(vd * vd + vq * vq) / V_NOM_Q8
        locked = st[pll.LOCKED]
        d.update(f, v, locked)
        if d.tripped:
            cc[curctl.TRIP] = 1
        run = locked and not d.tripped and not safe
        if run and not d.running:
            d.running = True
        elif not run:
            d.running = False
        i_d, i_q = d.current_refs(st[pll.VD])
        cc[curctl.ID_REF] = i_d
        cc[curctl.IQ_REF] = i_q
        cc[curctl.ENABLE] = 1 if run else 0
        cause = EMERG_ISLAND if d.tripped else (EMERG_FREQ if d.emergency(f, v) else 0)
        if cause and pm >= 0:
            now = ctx.ticks_ms()
            if last_emerg is None or ctx.ticks_diff(now, last_emerg) >= EMERG_REPEAT_MS:
                msgs.send_grid_emergency(ctx, pm, int(f * 1000), int(v * 1000), cause, d.tripped)
                last_emerg = now
        elif not cause:
            last_emerg = None
        await ctx.sleep_ms(PERIOD_MS)
