# PLL against the plant without the kernel (fast unit runs): plant step, then
# the PLL tick, exactly the order board.S.tick_hook + CRITICAL tick gives.
# Returns per-tick theta error (deg), f_true, f_est (Hz), vd, vq (V), locked.
import math
import array
import power_stage
from plant.model import Plant
from grid import pll

R2D = 180 / math.pi


def run(events, seconds, grid=None, every=1):
    p = Plant()
    for k in (grid or {}):
        p._apply({k: grid[k]})
    p.schedule(events)
    pll.reset()
    tick = pll.make_tick(power_stage.ADC, power_stage.sample)
    n = int(seconds * 10000)
    m = n // every
    err = array.array("f", bytes(4 * m))
    ft = array.array("f", bytes(4 * m))
    fe = array.array("f", bytes(4 * m))
    vd = array.array("f", bytes(4 * m))
    vq = array.array("f", bytes(4 * m))
    lk = bytearray(m)
    st = pll.ST
    j = 0
    for i in range(n):
        p.step()
        tick()
        if i % every == 0 and j < m:
            th = st[pll.THETA]
            if th < 0:
                th += 4294967296
            e = th * (2 * math.pi / 4294967296) - p.truth_theta
            e = (e + math.pi) % (2 * math.pi) - math.pi
            err[j] = e * R2D
            ft[j] = p.truth_f
            fe[j] = st[pll.OMEGA_F] / (2 * math.pi * 65536)
            vd[j] = st[pll.VD] / 256
            vq[j] = st[pll.VQ] / 256
            lk[j] = st[pll.LOCKED]
            j += 1
    return err, ft, fe, vd, vq, lk
