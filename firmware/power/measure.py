# Measured active and reactive power from the dq currents (grid/curctl.CC, Q8 A, generator
# convention) and the PLL's dq voltages (jezgro/shared.PLL, Q8 V), in POWER_MGR (HIGH, every poll)
# rather than in the 10 kHz tick: the tick has no cycles to spare and the station needs 10 Hz.
#
#   P_import = -1.5 (vd id + vq iq)      Q_injected = 1.5 (vq id - vd iq)      (amplitude-invariant Park)
#
# Integers only (no boxed floats per poll): operands are taken in Q4 (rounded), so a product is
# |V_Q4 x I_Q4| < 2^31 up to 1.3 kV x 1.3 kA, far beyond the converter; 1.5 / 2^8 = 3 >> 9 brings
# it to W. Filter: first-order low pass, y += (x - y) >> FILTER_SHIFT per update (10 ms polls:
# a time constant of ~80 ms, enough to take the switching ripple out of a 10 Hz report).
# Energy is not integrated from this sampled power: grid/energy.py does it at the control tick.
from micropython import const

FILTER_SHIFT = const(3)


class Measure:
    def __init__(self):
        self.p_w = 0
        self.q_var = 0
        self.n = 0

    def update(self, vd_q8, vq_q8, id_q8, iq_q8):
        # rounded, not floored: a floor biases every current by -1/32 A, ~15 W at 325 V, which the
        # energy registers would integrate (the billing error at low power)
        vd = (vd_q8 + 8) >> 4
        vq = (vq_q8 + 8) >> 4
        i_d = (id_q8 + 8) >> 4
        i_q = (iq_q8 + 8) >> 4
        p = -((3 * (vd * i_d + vq * i_q)) >> 9)
        q = (3 * (vq * i_d - vd * i_q)) >> 9
        if self.n == 0:
            self.p_w = p
            self.q_var = q
        else:
            self.p_w += (p - self.p_w) >> FILTER_SHIFT
            self.q_var += (q - self.q_var) >> FILTER_SHIFT
        self.n += 1
