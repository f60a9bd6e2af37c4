# Records what an engineer plots from a grid run: truth from the plant next
# to what the firmware believes, every `every` ticks, into preallocated float
# columns; written as CSV at the end (writing while running would cost more
# than the plant itself).
import array
import math
from grid import pll, curctl
from plant.float_model import V_NOM

COLUMNS = ("t", "theta_err_deg", "f_true", "f_est", "vd", "vq", "locked", "id_ref", "iq_ref",
           "id", "iq", "p", "q", "p_target", "q_target", "v_pu", "i_grid", "ia", "enable", "trip",
           "vdc")
TWO_PI = 2 * math.pi
TO_RAD = TWO_PI / 4294967296


class Recorder:
    def __init__(self, plant, seconds, every=2, droop=None):
        self.plant = plant
        self.every = every
        self.n = int(seconds * 10000) // every + 2
        self.cols = [array.array("f", bytes(4 * self.n)) for _ in COLUMNS]
        self.k = 0
        self.tick = 0
        self.prev = plant.truth()
        self.droop = droop  # a callable returning (p_target, q_target) in W/var, or None

    def record(self):
        # called at the end of a plant step: the firmware state is that of the
        # previous control tick, the truth that of this instant's sample
        p = self.plant
        th_true, f_true = self.prev[0], self.prev[1]
        now = self.prev = p.truth()  # (theta, f, pa, pb, ia, ib, grid_ia, grid_ib, vdc)
        self.tick += 1
        if self.tick % self.every or self.k >= self.n:
            return
        st = pll.ST
        cc = curctl.CC
        c = self.cols
        k = self.k
        th = st[pll.THETA]
        if th < 0:
            th += 4294967296
        # the PLL's THETA belongs to the previous sample: compare with that instant
        e = th * TO_RAD - th_true
        e = (e + math.pi) % TWO_PI - math.pi
        c[0][k] = p.t - 1e-4
        c[1][k] = e * 57.29577951308232
        c[2][k] = f_true
        c[3][k] = st[pll.OMEGA_F] / (TWO_PI * 65536)
        c[4][k] = st[pll.VD] / 256
        c[5][k] = st[pll.VQ] / 256
        c[6][k] = st[pll.LOCKED]
        c[7][k] = cc[curctl.ID_REF] / 256
        c[8][k] = cc[curctl.IQ_REF] / 256
        c[9][k] = cc[curctl.ID] / 256
        c[10][k] = cc[curctl.IQ] / 256
        pa, pb, ia, ib, gia, gib = now[2], now[3], now[4], now[5], now[6], now[7]
        # active/reactive power delivered to the PCC (inverter -> grid positive), as Plant.p_q()
        c[11][k] = 1.5 * (pa * ia + pb * ib)
        c[12][k] = 1.5 * (pb * ia - pa * ib)
        if self.droop is not None:
            pt, qt = self.droop()
            c[13][k] = pt
            c[14][k] = qt
        c[15][k] = math.sqrt(pa * pa + pb * pb) / V_NOM
        c[16][k] = math.sqrt(gia * gia + gib * gib)
        c[17][k] = ia
        c[18][k] = cc[curctl.ENABLE]
        c[19][k] = cc[curctl.TRIP]
        c[20][k] = now[8]
        self.k = k + 1

    def write_csv(self, path):
        with open(path, "w") as f:
            f.write(",".join(COLUMNS) + "\n")
            c = self.cols
            for k in range(self.k):
                f.write(",".join(["%.6g" % col[k] for col in c]) + "\n")
