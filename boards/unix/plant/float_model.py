# The reference plant (floats): a 3-phase grid (scriptable events) behind an L filter, an
# averaged 2-level inverter with its DC link, an optional parallel RLC load
# at the point of common coupling (IEC 62116 set-up) and loss of mains.
# Stepped once per 100 us tick, before the control tick (board.S.tick_hook),
# it leaves in power_stage.ADC what the board's ADC would have converted at
# that instant (12-bit quantisation, noise, DC offsets) and applies the PWM
# duties the control wrote one tick earlier (one-sample update delay).
#
# Floats are fine here: this is the simulation, never target code. It is the
# model the fixed-point plant (plant/model.py, what the simulation steps) is
# checked against (tests_host/test_grid_plant.py, docs/performance.md), and
# that plant hands its islanded ticks (RLC load without the grid) to it.
#
# Conventions: theta is the angle of the positive-sequence fundamental with
# v_alpha = V cos(theta); amplitude-invariant Clarke; inverter current
# positive from inverter to grid; 3-wire system (no zero-sequence current).
import math
import power_stage
from grid.hw import ADC_IA, ADC_IB, ADC_IC, ADC_VDC, PWM_A, PWM_B, PWM_C, PWM_ENABLE

TS = 1e-4
TWO_PI = 2 * math.pi
SQ3_2 = math.sqrt(3) / 2
V_NOM = 230.0 * math.sqrt(2)
L_F = 0.5e-3
R_F = 0.1
ISLAND_SUBSTEPS = 10
METER_WINDOW = 200  # steps: one 50 Hz cycle


class FloatPlant:
    def __init__(self, f=50.0, v_pu=1.0, vdc=750.0, seed=1):
        self.t = 0.0
        self.n = 0
        self.f = f
        self.f_to = f
        self.rocof = 0.0
        self.th = 0.0
        self.v1 = v_pu * V_NOM
        self.neg = 0.0  # negative sequence, pu of V1's nominal
        self.neg_ph = 0.0
        self.h5 = 0.0
        self.h7 = 0.0
        self.ka = self.kb = self.kc = 1.0  # per-phase sag factors
        self.dca = self.dcb = self.dcc = 0.0
        self.noise = 0.0  # peak of uniform measurement noise, V
        self.rng = seed
        self.mains = True
        # states
        self.ia = 0.0  # alpha/beta inverter current
        self.ib = 0.0
        self.vdc = vdc
        self.vbat = vdc
        self.d = [16384, 16384, 16384]
        self.en = 0
        # PCC (equal to the grid while mains are connected)
        self.pa = 0.0
        self.pb = 0.0
        self.load = None  # (R, L, C) per phase, parallel
        self.la = 0.0  # load inductor current alpha/beta
        self.lb = 0.0
        self.e_imp_j = 0.0  # energy through the PCC since the start, J (import: grid -> EV)
        self.e_exp_j = 0.0
        self.e_win = 0.0
        self.grid_ia = 0.0  # grid-side current (inverter - load), alpha/beta
        self.grid_ib = 0.0
        self.a = math.exp(-R_F * TS / L_F)
        self.b = (1 - self.a) / R_F
        self.events = []
        self.on_event = None
        self.adc = power_stage.ADC
        self.pwm = power_stage.PWM
        self.vinv_a = 0.0
        self.vinv_b = 0.0
        self.truth_theta = 0.0
        self.truth_f = f
        self._grid(0.0)
        self.pa, self.pb = self.ga, self.gb
        self._sample()

    # --- scenario events ------------------------------------------------------
    def schedule(self, events):
        # events: [[t_s, {action: value, ...}], ...]
        self.events = sorted(events, key=lambda e: e[0])

    def _apply(self, ev):
        for k in ev:
            v = ev[k]
            if k == "f":
                self.f = self.f_to = v
                self.rocof = 0.0
            elif k == "ramp_hz_s":
                self.rocof = v
            elif k == "f_to":
                self.f_to = v
            elif k == "jump_deg":
                self.th += math.radians(v)
            elif k == "v_pu":
                self.v1 = v * V_NOM
            elif k == "sag_abc":  # per-phase retained voltage (single-phase sags)
                self.ka, self.kb, self.kc = v
            elif k == "neg":
                self.neg = v
            elif k == "h5":
                self.h5 = v
            elif k == "h7":
                self.h7 = v
            elif k == "dc_v":
                self.dca, self.dcb, self.dcc = v
            elif k == "noise_v":
                self.noise = v
            elif k == "island":
                if v and self.mains:
                    self.mains = False
                elif not v:
                    self.mains = True
            elif k == "rlc":
                self.set_load(*v)
            if self.on_event is not None:
                self.on_event(k, v)

    def set_load(self, r, l, c):
        self.load = (r, l, c)
        # start in the load's steady state on the present PCC voltage
        w = TWO_PI * self.f
        self.la = self.pb / (w * l)  # i_L lags v by 90 deg: v = V cos -> i_L = V/(wL) sin
        self.lb = -self.pa / (w * l)

    # --- grid source -------------------------------------------------------------
    def _grid(self, th):
        v1 = self.v1
        ga = v1 * math.cos(th)
        gb = v1 * math.sin(th)
        if self.neg:
            x = V_NOM * self.neg
            ga += x * math.cos(-th + self.neg_ph)
            gb += x * math.sin(-th + self.neg_ph)
        if self.h5:
            x = V_NOM * self.h5
            ga += x * math.cos(-5 * th)
            gb += x * math.sin(-5 * th)
        if self.h7:
            x = V_NOM * self.h7
            ga += x * math.cos(7 * th)
            gb += x * math.sin(7 * th)
        self.ga = ga
        self.gb = gb

    def _phases(self, a, b):
        # alpha/beta -> abc, with per-phase sags
        va = a
        vb = -0.5 * a + SQ3_2 * b
        vc = -0.5 * a - SQ3_2 * b
        if self.ka != 1.0 or self.kb != 1.0 or self.kc != 1.0:
            va *= self.ka
            vb *= self.kb
            vc *= self.kc
        return va, vb, vc

    # --- one tick ----------------------------------------------------------------
    def step(self):
        self.n += 1
        t = self.n * TS
        self.t = t
        while self.events and self.events[0][0] <= t + 1e-9:
            self._apply(self.events.pop(0)[1])
        f = self.f
        if self.rocof:
            f += self.rocof * TS
            if (self.rocof > 0 and f >= self.f_to) or (self.rocof < 0 and f <= self.f_to):
                f = self.f_to
                self.rocof = 0.0
            self.f = f
        th = self.th + TWO_PI * f * TS
        if th > TWO_PI:
            th -= TWO_PI
        self.th = th
        pa0 = self.pa
        pb0 = self.pb
        self._grid(th)
        # inverter voltage over the last period from the duties in force
        vdc = self.vdc
        if self.en:
            d = self.d
            xa = (d[0] - 16384) * (vdc / 32768)
            xb = (d[1] - 16384) * (vdc / 32768)
            xc = (d[2] - 16384) * (vdc / 32768)
            via = (2 * xa - xb - xc) / 3
            vib = (xb - xc) * (1 / math.sqrt(3))
        else:
            via = vib = 0.0
        self.vinv_a = via
        self.vinv_b = vib
        if self.mains:
            ga, gb = self._pcc_sagged(self.ga, self.gb)
            if self.en:
                self.ia = self.a * self.ia + self.b * (via - 0.5 * (pa0 + ga))
                self.ib = self.a * self.ib + self.b * (vib - 0.5 * (pb0 + gb))
            else:
                self.ia = self.ib = 0.0
            self.pa = ga
            self.pb = gb
            if self.load is not None:
                # stiff sinusoidal PCC: the load's L and C currents in closed form
                # (a numerical derivative would be off by half a sample, ~1.6 %)
                r, l, c = self.load
                w = TWO_PI * f
                self.la = gb / (w * l)
                self.lb = -ga / (w * l)
                self.grid_ia = self.ia - (ga / r + self.la - c * w * gb)
                self.grid_ib = self.ib - (gb / r + self.lb + c * w * ga)
            else:
                self.grid_ia = self.ia
                self.grid_ib = self.ib
        else:
            self._island(via, vib)
        if self.en:
            # the truth a revenue meter at the PCC would see: the net energy of each METER_WINDOW
            # (one 50 Hz cycle) goes to import or export, so the ripple within a cycle is not counted
            # both ways
            self.e_win += 1.5 * (self.pa * self.ia + self.pb * self.ib) * TS  # inverter -> grid positive
        if self.n % METER_WINDOW == 0:
            if self.e_win > 0:
                self.e_exp_j += self.e_win
            else:
                self.e_imp_j -= self.e_win
            self.e_win = 0.0
        # DC link: battery behind 0.1 ohm, 1 mF
        if self.en:
            p = 1.5 * (via * self.ia + vib * self.ib)
            self.vdc = vdc + TS / 1e-3 * ((self.vbat - vdc) / 0.1 - p / vdc)
        # the duties written by the last control tick take effect now
        pwm = self.pwm
        self.en = pwm[PWM_ENABLE]
        dd = self.d
        dd[0] = pwm[PWM_A]
        dd[1] = pwm[PWM_B]
        dd[2] = pwm[PWM_C]
        self.truth_theta = th
        self.truth_f = f
        self._sample()

    def _pcc_sagged(self, ga, gb):
        if self.ka == 1.0 and self.kb == 1.0 and self.kc == 1.0:
            return ga, gb
        va, vb, vc = self._phases(ga, gb)
        return (2 * va - vb - vc) / 3, (vb - vc) * (1 / math.sqrt(3))

    def _island(self, via, vib):
        # PCC voltage is a state: inverter current into the parallel RLC load.
        if self.load is None:
            r, l, c = 1e6, 1e3, 1e-9
        else:
            r, l, c = self.load
        h = TS / ISLAND_SUBSTEPS
        ia, ib, pa, pb, la, lb = self.ia, self.ib, self.pa, self.pb, self.la, self.lb
        en = self.en
        for _ in range(ISLAND_SUBSTEPS):
            if en:
                ia += h / L_F * (via - pa - R_F * ia)
                ib += h / L_F * (vib - pb - R_F * ib)
            else:
                ia = ib = 0.0
            pa += h / c * (ia - pa / r - la)
            pb += h / c * (ib - pb / r - lb)
            la += h / l * pa
            lb += h / l * pb
        self.ia, self.ib, self.pa, self.pb, self.la, self.lb = ia, ib, pa, pb, la, lb
        self.grid_ia = self.grid_ib = 0.0

    # --- what the ADC converts at this instant -----------------------------------
    def _sample(self):
        adc = self.adc
        va, vb, vc = self._phases_pcc()
        va += self.dca
        vb += self.dcb
        vc += self.dcc
        if self.noise:
            va += self._rand() * self.noise
            vb += self._rand() * self.noise
            vc += self._rand() * self.noise
        adc[0] = _q(va * 4)
        adc[1] = _q(vb * 4)
        adc[2] = _q(vc * 4)
        ia = self.ia
        ib = self.ib
        adc[ADC_IA] = _q(ia * 32)
        adc[ADC_IB] = _q((-0.5 * ia + SQ3_2 * ib) * 32)
        adc[ADC_IC] = _q((-0.5 * ia - SQ3_2 * ib) * 32)
        v = int(self.vdc * 4 + 0.5)
        adc[ADC_VDC] = 4095 if v > 4095 else (0 if v < 0 else v)

    def _phases_pcc(self):
        pa = self.pa
        pb = self.pb
        return pa, -0.5 * pa + SQ3_2 * pb, -0.5 * pa - SQ3_2 * pb

    def _rand(self):
        # uniform in [-1, 1): a 31-bit LCG, deterministic per seed
        self.rng = (self.rng * 1103515245 + 12345) & 0x7FFFFFFF
        return self.rng / 1073741824.0 - 1.0

    # --- truth for the recorder ----------------------------------------------------
    def truth(self):
        # -> (theta, f, pa, pb, ia, ib, grid_ia, grid_ib, vdc) at this tick (plant/recorder.py)
        return (self.truth_theta, self.truth_f, self.pa, self.pb, self.ia, self.ib, self.grid_ia, self.grid_ib,
                self.vdc)

    def p_q(self):
        # active/reactive power delivered to the PCC (inverter -> grid positive)
        pa, pb, ia, ib = self.pa, self.pb, self.ia, self.ib
        return 1.5 * (pa * ia + pb * ib), 1.5 * (pb * ia - pa * ib)

    def v_pu(self):
        return math.sqrt(self.pa * self.pa + self.pb * self.pb) / V_NOM


def _q(x):
    # 12-bit ADC conversion of a scaled value (counts relative to mid-scale)
    v = int(x + 2048.5) if x > -2048.5 else 0
    return 4095 if v > 4095 else v
