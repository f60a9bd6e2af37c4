# DROOP_CTRL's logic (1 kHz, thread context): P(f) and Q(V) around the
# scheduled power with the profile's thresholds, droop, response time and
# ramp limits; the current references for CURRENT_CTRL; protection with an
# active anti-islanding method (slip-mode frequency shift, SMS).
#
# Units: P, Q in W/var (P positive = import, Q positive = injected), f in Hz,
# V in pu. Floats are fine at 1 kHz in thread context.
#
# SMS: the current is shifted by theta_sms = THETA_M * sin(pi/2 * (f - fn) /
# (F_M - fn)) ahead of the voltage. On a stiff grid f stays at fn and the
# shift is zero (no THD cost, measured in tests); in an island the RLC load's
# phase changes slower with f than theta_sms (Qf = 1: 2.3 deg/Hz vs 5.2 deg/Hz),
# so the frequency runs away into the under/over-frequency trip.
import math
from micropython import const
from grid import profiles
from grid.hw import P_RATED_W, S_RATED_VA

SMS_THETA_M = math.radians(10.0)
SMS_F_M = 3.0  # fm - fg, Hz
TS = 1e-3
I_MAX_Q8 = const(5773)


class Droop:
    def __init__(self, profile=profiles.DEFAULT, p_rated=P_RATED_W, s_rated=S_RATED_VA):
        self.name = profile
        self.pr = profiles.get(profile)
        self.fn = self.pr.get("f_nom_hz", 50.0)
        self.p_rated = p_rated
        self.s_rated = s_rated
        self.sched_p = 0.0
        self.sched_q = 0.0
        self.ramp_p = 0.0  # scheduled P after the ramp limiter
        self.p_out = 0.0  # P reference after P(f) and its response filter
        self.q_out = 0.0
        self.p_target = 0.0
        self.q_target = 0.0
        self.running = False
        self.sms = True
        self.theta_sms = 0.0
        self.tripped = 0
        self.trip_cause = 0
        self.uv_t = [0.0] * len(self.pr["trip"]["uv"])
        self.ov_t = [0.0] * len(self.pr["trip"]["ov"])
        self.uf_t = 0.0
        self.of_t = 0.0
        # first-order P(f) response: 10 time constants within the response time
        # (within 10 % of the step after 23 % of it, leaving room for measurement)
        self.alpha = TS / (self.pr["response_s"] / 10.0)
        self.alpha_q = TS / 0.2
        # the profile's numbers once, as the same float expressions update() used to evaluate each
        # millisecond (the results are bit-identical; dict look-ups and tuple unpacking were most of
        # DROOP_CTRL's step, which runs 1000 times per simulated second)
        pr = self.pr
        self._ramp_step = pr["ramp_pct_s"] / 100.0 * self.p_rated * TS
        self._db_hi = pr["db_hi"]
        self._db_lo = pr["db_lo"]
        self._fs = self.fn * (pr["droop_pct"] / 100.0)
        v1, v2, v3, v4, qmax = pr["qv"]
        self._qv = (v1, v2, v3, v4, qmax / 100.0 * self.s_rated)
        tr = pr["trip"]
        self._uf = tr["uf"]
        self._of = tr["of"]
        self._uv_lim = [lim for lim, _ in tr["uv"]]
        self._uv_s = [t for _, t in tr["uv"]]
        self._ov_lim = [lim for lim, _ in tr["ov"]]
        self._ov_s = [t for _, t in tr["ov"]]
        self._f_band = pr["f_band_hz"]

    def status(self):
        # what DROOP_CTRL publishes (ctx.publish): the grid code, the scheduled and the target power
        return {"grid_code": self.name, "sched_p_w": int(self.sched_p), "sched_q_var": int(self.sched_q),
                "p_target_w": int(self.p_target), "q_target_var": int(self.q_target),
                "running": self.running, "tripped": self.tripped, "trip_cause": self.trip_cause}

    def schedule(self, p_w, q_var):
        self.sched_p = float(p_w)
        self.sched_q = float(q_var)

    # --- characteristics -------------------------------------------------
    def p_of_f(self, f):
        # P(f) change in W (positive = more import), spec §5.2
        if f > self._db_hi:
            return (f - self._db_hi) / self._fs * self.p_rated
        if f < self._db_lo:
            return -(self._db_lo - f) / self._fs * self.p_rated
        return 0.0

    def q_of_v(self, v):
        # Q(V) in var (positive = inject), spec §5.3
        v1, v2, v3, v4, qm = self._qv
        if v < v2:
            return qm if v <= v1 else qm * (v2 - v) / (v2 - v1)
        if v > v3:
            return -qm if v >= v4 else -qm * (v - v3) / (v4 - v3)
        return 0.0

    # --- 1 kHz update ------------------------------------------------------
    def update(self, f, v, locked):
        if self.running:
            step = self._ramp_step
            d = self.sched_p - self.ramp_p
            self.ramp_p += step if d > step else (-step if d < -step else d)
        else:
            self.ramp_p = self.sched_p  # no power flows yet: nothing to ramp
        pt = self.ramp_p + self.p_of_f(f)
        if pt > self.p_rated:
            pt = self.p_rated
        if pt < -self.p_rated:
            pt = -self.p_rated
        qt = self.sched_q + self.q_of_v(v)
        self.p_target = pt
        self.q_target = qt
        if self.running:
            self.p_out += self.alpha * (pt - self.p_out)
            self.q_out += self.alpha_q * (qt - self.q_out)
        else:
            self.p_out = pt
            self.q_out = qt
        self._protect(f, v)
        if self.sms and locked:
            x = (f - self.fn) / SMS_F_M
            x = 1.0 if x > 1.0 else (-1.0 if x < -1.0 else x)
            self.theta_sms = SMS_THETA_M * math.sin(math.pi / 2 * x)
        else:
            self.theta_sms = 0.0

    def _protect(self, f, v):
        if self.tripped:
            return
        uf, tuf = self._uf
        of, tof = self._of
        self.uf_t = self.uf_t + TS if f < uf else 0.0
        self.of_t = self.of_t + TS if f > of else 0.0
        if self.uf_t > tuf or self.of_t > tof:
            self.tripped = 1
            self.trip_cause = 1
        tm = self.uv_t
        lims = self._uv_lim
        secs = self._uv_s
        for i in range(len(tm)):
            tm[i] = tm[i] + TS if v < lims[i] else 0.0
            if tm[i] > secs[i]:
                self.tripped = 1
                self.trip_cause = 2
        tm = self.ov_t
        lims = self._ov_lim
        secs = self._ov_s
        for i in range(len(tm)):
            tm[i] = tm[i] + TS if v > lims[i] else 0.0
            if tm[i] > secs[i]:
                self.tripped = 1
                self.trip_cause = 2

    def emergency(self, f, v):
        lo, hi = self._f_band
        return f < lo or f > hi

    def current_refs(self, vd_q8):
        # (id, iq) in Q8 A, generator convention: id = P_export / (1.5 vd), iq = -Q / (1.5 vd)
        if vd_q8 < 2000:  # < 7.8 V: no meaningful voltage to divide by; hold zero
            return 0, 0
        vd = vd_q8 / 256.0
        i_d = -self.p_out / (1.5 * vd)
        i_q = -self.q_out / (1.5 * vd)
        th = self.theta_sms
        if th:
            c = math.cos(th)
            s = math.sin(th)
            i_d, i_q = i_d * c - i_q * s, i_d * s + i_q * c
        lim = I_MAX_Q8 / 256.0 * 1.1
        m = math.sqrt(i_d * i_d + i_q * i_q)
        if m > lim:
            i_d *= lim / m
            i_q *= lim / m
        return int(i_d * 256), int(i_q * 256)
