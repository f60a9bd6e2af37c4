# The plant the simulation steps: the float model of plant/float_model.py
# (its equations, events and conventions; read that file first) computed in
# fixed point by one @micropython.viper function per tick, because the float
# model cost 30x the whole control tick it feeds (issue 17, docs/performance.md).
#
# What runs where:
#   _step (viper, every tick while the mains are connected): grid angle with
#     its ramp, the grid voltage with negative sequence, 5th and 7th
#     harmonics and single-phase sags, the inverter voltage from the duties in
#     force, the L filter (exact discretisation, as the float model), the RLC
#     load's currents in closed form, the PCC energy meter, the DC link, and
#     the ADC conversion (DC offsets, the same LCG noise, 12-bit rounding).
#   FloatPlant (Python floats, plant/float_model.py): a tick with a scripted
#     event due and every islanded tick (the RLC load's own dynamics, ten
#     Euler sub-steps: rare, short, and simplest to keep exactly the reference).
#     The state goes over to it and back (_to_ref/_from_ref; islanded, it stays
#     there until the mains return); the rounding of that hand-over is below
#     the ADC's resolution (tests_host/test_grid_plant.py).
#
# Fixed point. This file runs only on the unix port (it is the simulation),
# which is 64-bit: viper ints there are 64-bit machine words, so intermediate
# products up to 2^62 are exact and the state is stored in 32-bit slots:
#   volts, amps       Q16 (65536 = 1 V / 1 A)
#   angle             48-bit turn (2^48 = one turn), in two slots (_HI, _LO)
#   angle per tick    48-bit turn per tick, two slots; its ramp per tick DDTH
#   coefficients      Q30
#   window energy     Q16 J
# ptr32 loads are zero-extended on the 64-bit port: signed slots are read back
# with v - ((v >> 31) << 32). On a 32-bit target this file would be wrong,
# and Plant() refuses to run there (_word_bits).
import array
import math
import micropython
from micropython import const
import power_stage
from grid import hw
from plant.float_model import FloatPlant, TS, TWO_PI, V_NOM, L_F, R_F, METER_WINDOW, SQ3_2  # noqa: F401

# state slots (X)
_N = const(0)
_TH_HI = const(1)
_TH_LO = const(2)
_DTH_HI = const(3)
_DTH_LO = const(4)
_DDTH = const(5)
_DTO_HI = const(6)
_DTO_LO = const(7)
_IA = const(8)
_IB = const(9)
_PA = const(10)
_PB = const(11)
_VDC = const(12)
_LA = const(13)
_LB = const(14)
_GIA = const(15)
_GIB = const(16)
_VIA = const(17)
_VIB = const(18)
_EWIN = const(19)
_RNG = const(20)
_EN = const(21)
_D0 = const(22)
_D1 = const(23)
_D2 = const(24)
_SLOW_AT = const(25)  # the tick a Python step must take (an event is due)
_NX = const(26)
# parameter slots (K), set from the float model's attributes by _params()
_V1 = const(0)
_NEG = const(1)
_NPH_HI = const(2)
_NPH_LO = const(3)
_H5 = const(4)
_H7 = const(5)
_KA = const(6)
_KB = const(7)
_KC = const(8)
_SAG = const(9)
_DCA = const(10)
_DCB = const(11)
_DCC = const(12)
_NOISE = const(13)
_LOAD = const(14)
_GR = const(15)
_KL = const(16)
_CQ = const(17)
_VBAT = const(18)
_FA = const(19)
_FB = const(20)
_NK = const(21)
# ADC and PWM slots (grid.hw; repeated because viper folds only this module's consts, checked below)
_ADC_IA = const(3)
_ADC_IB = const(4)
_ADC_IC = const(5)
_ADC_VDC = const(6)
_PWM_EN = const(3)
# numbers
_M48 = const(0xFFFFFFFFFFFF)
_M32 = const(0xFFFFFFFF)
_TAB_BITS = const(12)  # 4096 entries per turn: linear interpolation within 3e-7 of sin
_Q30 = const(1073741824)
_HALF30 = const(536870912)
_SQ3_2_Q30 = const(929887697)  # sqrt(3)/2
_INV_SQ3_Q30 = const(619925131)  # 1/sqrt(3)
_THIRD_Q30 = const(357913941)
_ADC_MID_Q16 = const(134250496)  # 2048.5 counts, Q16
_E_Q30 = const(161061)  # 1.5 * TS, Q30 (W -> J per tick, amplitude-invariant Clarke)
_DC_Q20 = const(157286)  # 0.1 ohm * 1.5 (TS / 1 mF = 0.1), Q20
_QUARTER48 = const(0x400000000000)

assert (hw.ADC_IA, hw.ADC_IB, hw.ADC_IC, hw.ADC_VDC, hw.PWM_ENABLE) == (_ADC_IA, _ADC_IB, _ADC_IC, _ADC_VDC,
                                                                         _PWM_EN)
assert (hw.PWM_A, hw.PWM_B, hw.PWM_C) == (0, 1, 2)

TURN48 = 1 << 48


def _table():
    # sin over one turn, Q30 stored offset-binary (+2^30) so that the zero-extended load needs no sign fix
    n = 1 << _TAB_BITS
    t = array.array("I", bytes(4 * (n + 1)))
    for i in range(n + 1):
        t[i] = (1 << 30) + int(round(math.sin(TWO_PI * i / n) * (1 << 30)))
    return t


SIN = _table()


@micropython.viper
def _sin48(tab: ptr32, a: int) -> int:
    # sin of a 48-bit angle, Q30
    i = (a >> 36) & 4095
    fr = (a >> 20) & 0xFFFF
    t0 = int(tab[i])
    return t0 + (((int(tab[i + 1]) - t0) * fr) >> 16) - _Q30


@micropython.viper
def _word_bits() -> int:
    x = 1 << 20
    return 64 if (x * x) >> 40 == 1 else 32


@micropython.viper
def _step(x: ptr32, k: ptr32, adc: ptr32, pwm: ptr32, tab: ptr32) -> int:
    # One tick with the mains connected. Returns 0; 1 when a meter window closed (Python books it);
    # 2 without stepping when this tick is the float model's (an event is due).
    n = int(x[_N]) + 1
    if n >= int(x[_SLOW_AT]):
        return 2
    x[_N] = n
    # frequency ramp and angle
    dth = (int(x[_DTH_HI]) << 32) | int(x[_DTH_LO])
    ddth = int(x[_DDTH])
    if ddth:
        ddth = ddth - ((ddth >> 31) << 32)
        dth += ddth
        dto = (int(x[_DTO_HI]) << 32) | int(x[_DTO_LO])
        if (ddth > 0 and dth >= dto) or (ddth < 0 and dth <= dto):
            dth = dto
            x[_DDTH] = 0
        x[_DTH_HI] = dth >> 32
        x[_DTH_LO] = dth & _M32
    th = (((int(x[_TH_HI]) << 32) | int(x[_TH_LO])) + dth) & _M48
    x[_TH_HI] = th >> 32
    x[_TH_LO] = th & _M32
    # grid voltage, alpha/beta, Q16 (inline table lookups for the fundamental)
    v1 = int(k[_V1])
    i = (th >> 36) & 4095
    fr = (th >> 20) & 0xFFFF
    t0 = int(tab[i])
    s = t0 + (((int(tab[i + 1]) - t0) * fr) >> 16) - _Q30
    c_ = (th + _QUARTER48) & _M48
    i = (c_ >> 36) & 4095
    fr = (c_ >> 20) & 0xFFFF
    t0 = int(tab[i])
    c = t0 + (((int(tab[i + 1]) - t0) * fr) >> 16) - _Q30
    ga = (v1 * c + _HALF30) >> 30
    gb = (v1 * s + _HALF30) >> 30
    amp = int(k[_NEG])
    if amp:
        a = ((((int(k[_NPH_HI]) << 32) | int(k[_NPH_LO])) - th) & _M48)
        ga += (amp * int(_sin48(tab, (a + _QUARTER48) & _M48)) + _HALF30) >> 30
        gb += (amp * int(_sin48(tab, a)) + _HALF30) >> 30
    amp = int(k[_H5])
    if amp:
        a = (th * 5) & _M48
        ga += (amp * int(_sin48(tab, (a + _QUARTER48) & _M48)) + _HALF30) >> 30
        gb -= (amp * int(_sin48(tab, a)) + _HALF30) >> 30
    amp = int(k[_H7])
    if amp:
        a = (th * 7) & _M48
        ga += (amp * int(_sin48(tab, (a + _QUARTER48) & _M48)) + _HALF30) >> 30
        gb += (amp * int(_sin48(tab, a)) + _HALF30) >> 30
    if k[_SAG]:
        # per-phase retained voltage in abc, back to alpha/beta (the zero sequence drops out)
        ka = int(k[_KA])
        kb = int(k[_KB])
        kc = int(k[_KC])
        half = ga >> 1
        r3 = (gb * _SQ3_2_Q30 + _HALF30) >> 30
        va = (ga * ka) >> 16
        vb = ((r3 - half) * kb) >> 16
        vc = ((-half - r3) * kc) >> 16
        ga = ((2 * va - vb - vc) * _THIRD_Q30 + _HALF30) >> 30
        gb = ((vb - vc) * _INV_SQ3_Q30 + _HALF30) >> 30
    # inverter voltage over the last period from the duties in force
    vdc = int(x[_VDC])
    en = int(x[_EN])
    via = 0
    vib = 0
    if en:
        xa = ((int(x[_D0]) - 16384) * vdc) >> 15
        xb = ((int(x[_D1]) - 16384) * vdc) >> 15
        xc = ((int(x[_D2]) - 16384) * vdc) >> 15
        via = ((2 * xa - xb - xc) * _THIRD_Q30 + _HALF30) >> 30
        vib = ((xb - xc) * _INV_SQ3_Q30 + _HALF30) >> 30
    x[_VIA] = via
    x[_VIB] = vib
    pa0 = int(x[_PA])
    pb0 = int(x[_PB])
    pa0 = pa0 - ((pa0 >> 31) << 32)
    pb0 = pb0 - ((pb0 >> 31) << 32)
    ia = 0
    ib = 0
    if en:
        ia = int(x[_IA])
        ib = int(x[_IB])
        ia = ia - ((ia >> 31) << 32)
        ib = ib - ((ib >> 31) << 32)
        fa = int(k[_FA])
        fb = int(k[_FB])
        ia = (fa * ia + fb * (via - ((pa0 + ga) >> 1)) + _HALF30) >> 30
        ib = (fa * ib + fb * (vib - ((pb0 + gb) >> 1)) + _HALF30) >> 30
    x[_IA] = ia
    x[_IB] = ib
    x[_PA] = ga
    x[_PB] = gb
    if k[_LOAD]:
        # stiff sinusoidal PCC: the load's L and C currents in closed form (as the float model)
        d16 = dth >> 16  # 32-bit turn per tick, proportional to omega
        kl = int(k[_KL])
        la = (gb * kl) // d16
        lb = -((ga * kl) // d16)
        x[_LA] = la
        x[_LB] = lb
        cq = int(k[_CQ])
        gr = int(k[_GR])
        x[_GIA] = ia - (((ga * gr + _HALF30) >> 30) + la - ((((gb * cq) >> 25) * d16) >> 25))
        x[_GIB] = ib - (((gb * gr + _HALF30) >> 30) + lb + ((((ga * cq) >> 25) * d16) >> 25))
    else:
        x[_GIA] = ia
        x[_GIB] = ib
    ret = 0
    if en:
        e = int(x[_EWIN])
        e = e - ((e >> 31) << 32)
        x[_EWIN] = e + ((((ga * ia + gb * ib) >> 16) * _E_Q30 + _HALF30) >> 30)
        # DC link: battery behind 0.1 ohm, 1 mF (TS/C = 0.1 s/F * ...): vdc' = vbat - 0.1 p / vdc
        p = via * ia + vib * ib  # Q32, x 1.5 = W
        if vdc > 0:
            x[_VDC] = int(k[_VBAT]) - ((((p >> 8) * _DC_Q20) >> 12) // vdc)
    if n % 200 == 0:
        ret = 1
    # the duties written by the last control tick take effect now
    x[_EN] = pwm[_PWM_EN]
    x[_D0] = pwm[0]
    x[_D1] = pwm[1]
    x[_D2] = pwm[2]
    # what the ADC converts at this instant
    half = ga >> 1
    r3 = (gb * _SQ3_2_Q30 + _HALF30) >> 30
    dc = int(k[_DCA])
    va = ga + dc - ((dc >> 31) << 32)
    dc = int(k[_DCB])
    vb = r3 - half + dc - ((dc >> 31) << 32)
    dc = int(k[_DCC])
    vc = -half - r3 + dc - ((dc >> 31) << 32)
    nz = int(k[_NOISE])
    if nz:
        rng = int(x[_RNG])
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        va += (((rng >> 14) - 65536) * nz) >> 16
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        vb += (((rng >> 14) - 65536) * nz) >> 16
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        vc += (((rng >> 14) - 65536) * nz) >> 16
        x[_RNG] = rng
    y = (va << 2) + _ADC_MID_Q16
    adc[0] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    y = (vb << 2) + _ADC_MID_Q16
    adc[1] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    y = (vc << 2) + _ADC_MID_Q16
    adc[2] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    half = ia >> 1
    r3 = (ib * _SQ3_2_Q30 + _HALF30) >> 30
    y = (ia << 5) + _ADC_MID_Q16
    adc[_ADC_IA] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    y = ((r3 - half) << 5) + _ADC_MID_Q16
    adc[_ADC_IB] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    y = ((-half - r3) << 5) + _ADC_MID_Q16
    adc[_ADC_IC] = 0 if y < 0 else (4095 if y >= 268369920 else y >> 16)
    y = (int(x[_VDC]) * 4 + 32768) >> 16
    adc[_ADC_VDC] = 4095 if y > 4095 else (0 if y < 0 else y)
    return ret


def _q16(v):
    return int(round(v * 65536))


def _put48(x, hi, v):
    v = int(v)
    x[hi] = v >> 32
    x[hi + 1] = v & 0xFFFFFFFF


def _get48(x, hi):
    return (x[hi] << 32) | x[hi + 1]


def _sx(v):
    return v - ((v >> 31) << 32) if v & 0x80000000 else v


class Plant:
    # Same interface as FloatPlant (step, schedule, _apply, set_load, the truth the recorder reads);
    # the float model `ref` holds the parameters events set and steps the ticks _step leaves to it.
    def __init__(self, f=50.0, v_pu=1.0, vdc=750.0, seed=1):
        if _word_bits() != 64:
            raise RuntimeError("plant.model needs the 64-bit unix port (viper ints of 64 bits)")
        self.ref = FloatPlant(f, v_pu, vdc, seed)
        self.x = array.array("I", bytes(4 * _NX))
        self.k = array.array("I", bytes(4 * _NK))
        self.adc = power_stage.ADC
        self.pwm = power_stage.PWM
        self.events = []
        self.floating = False  # islanded: the float model is the state until the mains return
        self._from_ref()

    # --- scenario events (the float model's) --------------------------------------------
    def schedule(self, events):
        self.events = sorted(events, key=lambda e: e[0])
        self._slow_at()

    def _apply(self, ev):
        self._float_do(self.ref._apply, ev)

    def set_load(self, r, l, c):
        self._float_do(self.ref.set_load, r, l, c)

    def _float_do(self, fn, *args):
        # fn on the float model with the state handed over (and back, unless islanded)
        if not self.floating:
            self._to_ref()
        fn(*args)
        self._settle()

    @property
    def on_event(self):
        return self.ref.on_event

    @on_event.setter
    def on_event(self, fn):
        self.ref.on_event = fn

    # --- one tick -------------------------------------------------------------------------
    def step(self):
        if self.floating:
            self._float_step()
            return
        r = _step(self.x, self.k, self.adc, self.pwm, SIN)
        if r:
            if r == 2:
                self._to_ref()
                self._float_step()
            else:
                self._book()

    def _float_step(self):
        # a tick with an event due, or islanded: the float model steps (and applies the event)
        ref = self.ref
        ref.events = self.events
        ref.step()
        self._settle()

    def _settle(self):
        # after the float model changed: islanded, it keeps the state; else the state comes back here
        self.floating = not self.ref.mains
        if not self.floating:
            self._from_ref()

    def _book(self):
        # a meter window closed: its net energy to import or export (as the float model)
        e = _sx(self.x[_EWIN]) / 65536
        self.x[_EWIN] = 0
        if e > 0:
            self.ref.e_exp_j += e
        else:
            self.ref.e_imp_j -= e

    def _slow_at(self):
        # the first tick the float model must take: the tick an event is due (the float model's test:
        # t_event <= n * TS + 1e-9)
        n = self.x[_N]
        if self.events:
            te = self.events[0][0]
            at = max(n + 1, int(te / TS) - 1)
            while at * TS + 1e-9 < te:
                at += 1
        else:
            at = 0x7FFFFFFF
        self.x[_SLOW_AT] = at

    # --- the hand-over to and from the float model -------------------------------------
    def _to_ref(self):
        x = self.x
        r = self.ref
        r.n = x[_N]
        r.t = r.n * TS
        r.th = _get48(x, _TH_HI) * (TWO_PI / TURN48)
        dth = _get48(x, _DTH_HI)
        r.f = dth / (TS * TURN48)
        ddth = _sx(x[_DDTH])
        r.rocof = ddth / (TS * TS * TURN48)
        if ddth:
            r.f_to = _get48(x, _DTO_HI) / (TS * TURN48)
        for name, slot in (("ia", _IA), ("ib", _IB), ("pa", _PA), ("pb", _PB), ("vdc", _VDC), ("la", _LA),
                           ("lb", _LB), ("grid_ia", _GIA), ("grid_ib", _GIB), ("vinv_a", _VIA),
                           ("vinv_b", _VIB)):
            setattr(r, name, _sx(x[slot]) / 65536)
        r.e_win = _sx(x[_EWIN]) / 65536
        r.rng = x[_RNG]
        r.en = x[_EN]
        r.d[0] = x[_D0]
        r.d[1] = x[_D1]
        r.d[2] = x[_D2]

    def _from_ref(self):
        x = self.x
        r = self.ref
        x[_N] = r.n
        _put48(x, _TH_HI, (r.th % TWO_PI) * (TURN48 / TWO_PI))
        dth = r.f * TS * TURN48
        _put48(x, _DTH_HI, dth)
        if r.rocof:
            x[_DDTH] = int(round(r.rocof * TS * TS * TURN48)) & 0xFFFFFFFF
            _put48(x, _DTO_HI, r.f_to * TS * TURN48)
        else:
            x[_DDTH] = 0
        for name, slot in (("ia", _IA), ("ib", _IB), ("pa", _PA), ("pb", _PB), ("vdc", _VDC), ("la", _LA),
                           ("lb", _LB), ("grid_ia", _GIA), ("grid_ib", _GIB), ("vinv_a", _VIA),
                           ("vinv_b", _VIB)):
            x[slot] = _q16(getattr(r, name)) & 0xFFFFFFFF
        x[_EWIN] = _q16(r.e_win) & 0xFFFFFFFF
        x[_RNG] = r.rng
        x[_EN] = r.en
        x[_D0] = r.d[0]
        x[_D1] = r.d[1]
        x[_D2] = r.d[2]
        self._params()
        self._slow_at()

    def _params(self):
        r = self.ref
        k = self.k

        def s(slot, v):
            k[slot] = int(round(v)) & 0xFFFFFFFF
        s(_V1, r.v1 * 65536)
        s(_NEG, V_NOM * r.neg * 65536)
        _put48(k, _NPH_HI, (r.neg_ph % TWO_PI) * (TURN48 / TWO_PI))
        s(_H5, V_NOM * r.h5 * 65536)
        s(_H7, V_NOM * r.h7 * 65536)
        s(_KA, r.ka * 65536)
        s(_KB, r.kb * 65536)
        s(_KC, r.kc * 65536)
        k[_SAG] = 0 if (r.ka == 1.0 and r.kb == 1.0 and r.kc == 1.0) else 1
        s(_DCA, r.dca * 65536)
        s(_DCB, r.dcb * 65536)
        s(_DCC, r.dcc * 65536)
        s(_NOISE, r.noise * 65536)
        s(_VBAT, r.vbat * 65536)
        s(_FA, r.a * (1 << 30))
        s(_FB, r.b * (1 << 30))
        if r.load is None:
            k[_LOAD] = 0
        else:
            rr, ll, cc = r.load
            k[_LOAD] = 1
            s(_GR, (1 << 30) / rr)
            s(_KL, TS * 4294967296 / (TWO_PI * ll))  # la = gb * KL / (omega turn per tick, 2^32)
            s(_CQ, cc * TWO_PI / (TS * 4294967296) * (1 << 50))  # i_C = v * CQ * dth32 >> 50

    # --- truth for the recorder and the summary -----------------------------------------
    @property
    def n(self):
        return self.ref.n if self.floating else self.x[_N]

    @property
    def t(self):
        return self.n * TS

    @property
    def mains(self):
        return self.ref.mains

    @property
    def truth_theta(self):
        return self.ref.truth_theta if self.floating else _get48(self.x, _TH_HI) * (TWO_PI / TURN48)

    @property
    def truth_f(self):
        return self.ref.truth_f if self.floating else _get48(self.x, _DTH_HI) / (TS * TURN48)

    def _a(self, slot, name):
        return getattr(self.ref, name) if self.floating else _sx(self.x[slot]) / 65536

    ia = property(lambda self: self._a(_IA, "ia"))
    ib = property(lambda self: self._a(_IB, "ib"))
    pa = property(lambda self: self._a(_PA, "pa"))
    pb = property(lambda self: self._a(_PB, "pb"))
    vdc = property(lambda self: self._a(_VDC, "vdc"))
    grid_ia = property(lambda self: self._a(_GIA, "grid_ia"))
    grid_ib = property(lambda self: self._a(_GIB, "grid_ib"))
    e_imp_j = property(lambda self: self.ref.e_imp_j)
    e_exp_j = property(lambda self: self.ref.e_exp_j)
    e_win = property(lambda self: self._a(_EWIN, "e_win"))  # the open 20 ms meter window's net J

    def truth(self):
        # -> (theta, f, pa, pb, ia, ib, grid_ia, grid_ib, vdc) at this tick, in one call (the recorder's,
        # every tick of a grid scenario)
        if self.floating:
            return self.ref.truth()
        x = self.x
        v = [0.0] * 5
        for i in range(5):
            w = x[_IA + i]  # IA IB PA PB VDC: consecutive slots
            v[i] = (w - ((w >> 31) << 32) if w & 0x80000000 else w) / 65536
        g = x[_GIA]
        h = x[_GIB]
        return ((((x[_TH_HI] << 32) | x[_TH_LO]) * (TWO_PI / TURN48)),
                ((x[_DTH_HI] << 32) | x[_DTH_LO]) / (TS * TURN48), v[2], v[3], v[0], v[1],
                (g - ((g >> 31) << 32) if g & 0x80000000 else g) / 65536,
                (h - ((h >> 31) << 32) if h & 0x80000000 else h) / 65536, v[4])

    def p_q(self):
        # active/reactive power delivered to the PCC (inverter -> grid positive)
        pa, pb, ia, ib = self.pa, self.pb, self.ia, self.ib
        return 1.5 * (pa * ia + pb * ib), 1.5 * (pb * ia - pa * ib)

    def v_pu(self):
        pa, pb = self.pa, self.pb
        return math.sqrt(pa * pa + pb * pb) / V_NOM
