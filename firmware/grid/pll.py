# Positive-sequence PLL: DSOGI (k = sqrt 2) + positive-sequence calculator +
# SRF-PLL with a normalised phase detector, frequency reported through a
# 20 ms moving average. See docs/pll.md for the design and the measurements
# that chose it over a plain SRF-PLL.
#
# The tick (step) is @micropython.viper fixed point and allocates nothing.
# State lives in one array('i') (ST), addressed by the indices below.
#
# Q formats
#   THETA, THETA_HAT  u32 phase accumulator, 2^32 = one turn (wraps for free)
#   OMEGA, OMEGA_F, INTEG, OMEGA_REF   rad/s in Q16 (314.159 rad/s = 20588881)
#   V1A, Q1A, V1B, Q1B (SOGI states), alpha/beta inputs   volts in Q16
#   VD, VQ, VMAG   volts in Q8 (the shared.PLL format)
#   WTS   SOGI centre frequency omega*Ts in Q20
#   EN    normalised phase error vq/|v| in Q15 (~ radians)
#   MAF ring   omega - omega_nom, Q16 rad/s
#
# Portability: on the 64-bit unix port viper ints are 64 bits and ptr32 loads
# are zero-extended; on the Cortex-M7 they are 32 bits. Signed state is read
# back with sx(): v - ((v >> 31) << 32), which is the identity on the board
# (a 32-bit register shift by 32 gives 0) and sign-extends on unix. Every
# product below is kept under 2^31 (bounds noted per line), so the results
# are the same on both.
import array
import micropython
from micropython import const
from grid import trig
from jezgro import shared

THETA = const(0)  # estimate of the grid angle at this sample's instant (published)
THETA_HAT = const(1)  # loop's internal angle (the positive-sequence phasor's, leads by the SOGI delay)
OMEGA = const(2)  # PI output (unfiltered)
INTEG = const(3)
V1A = const(4)
Q1A = const(5)
V1B = const(6)
Q1B = const(7)
VD = const(8)
VQ = const(9)
VMAG = const(10)
WTS = const(11)
MAF_SUM = const(12)
MAF_I = const(13)
OMEGA_F = const(14)
EN = const(15)
LOCKED = const(16)
LOCK_CNT = const(17)
COAST_CNT = const(18)
TICKS = const(19)
DTHETA = const(20)
VD_INST = const(21)  # grid voltage predicted for the PWM period it is applied in, in that frame
VQ_INST = const(22)
OMEGA_L = const(23)
XPA = const(24)  # previous alpha/beta input (Q16 V), for the feed-forward prediction
XPB = const(25)
NST = const(26)
# ADC sample indices (grid.hw; repeated here because viper folds only this module's consts)
ADC_VA = const(0)
ADC_VB = const(1)
ADC_VC = const(2)

MAF_N = const(200)
SOGI_D_MAX = const(262143)  # SOGI input error limit, Q8 V (1024 V)
SOGI_E_MAX = const(0x7FFFFFF)  # SOGI error limit, Q16 V (2048 V): (e >> 12) * wts < 2^31
# SOGI state limit, Q16 V (702 V, just above the sensors' largest alpha/beta, 682 V): keeps the
# positive-sequence Park products |(pa, pb)| * 32767 below 2^31.
SOGI_X_MAX = const(46000000)
PRED_MAX_Q6 = const(32767)  # feed-forward prediction limit: the phase sensors' +-512 V
WLP_SH = const(7)  # 12.8 ms: fast enough to follow, slow enough not to ring with the PI (docs/pll.md)  # 20 ms at 10 kHz: nulls every multiple of 50 Hz in the frequency ripple
OMEGA_NOM = const(20588742)  # 2*pi*50 in Q16
OMEGA_MIN = const(16470993)  # 40 Hz
OMEGA_MAX = const(24706490)  # 60 Hz
WTS_NOM = const(32941)  # 2*pi*50*1e-4 in Q20
K_SOGI_Q12 = const(5793)  # sqrt(2)
# PI on the normalised error (rad): wn = 2*pi*25 rad/s, zeta = 1 (see docs/pll.md)
KP_Q6 = const(40212)  # 2*zeta*wn = 314.2 rad/s per rad; x2 (Q15 rad -> Q16 rad/s) x 64
KI_Q12 = const(20212)  # wn^2*Ts = 2.467 per rad per tick; x2 x 4096
DTHETA_FRAC_Q20 = const(45128)  # dtheta = omega_Q16 * 2^16*Ts/(2*pi) = omega_Q16 * 1.0430378
DELAY_COMP_Q3 = const(10)  # the DSOGI+PSC output leads the input by ~1.25 dtheta
VMIN_Q8 = const(1665)  # below 2 % of nominal there is no phase to track: coast
LOCK_TICKS = const(1000)  # 100 ms
COAST_MAX_TICKS = const(5000)  # 500 ms without voltage: not locked any more


@micropython.viper
def _scaled_state(v: int, k: int) -> int:
    # (v >> 12) * k (k: Q12 rescale factor) limited to the SOGI state range without forming a
    # product beyond 32 bits: k reaches 2^20 with the input at full scale and the SOGI nearly
    # empty. Only on the rare rescale branch (a sag onset or recovery): a call is cheap enough.
    a = v >> 12
    if k <= 0:
        return 0
    m = a if a >= 0 else 0 - a
    if m > SOGI_X_MAX // k:
        return SOGI_X_MAX if a >= 0 else 0 - SOGI_X_MAX
    return a * k


@micropython.viper
def step(st_, adc_, tab_, maf_, sh_):
    st = ptr32(st_)
    adc = ptr32(adc_)
    tab = ptr16(tab_)
    maf = ptr32(maf_)
    sh = ptr32(sh_)
    # --- Clarke (amplitude invariant) of the raw ADC counts -> Q16 volts -------
    va = int(adc[ADC_VA]) - 2048
    vb = int(adc[ADC_VB]) - 2048
    vc = int(adc[ADC_VC]) - 2048
    xa = ((2 * va - vb - vc) * 21845) >> 2  # 8190*21845 < 2^28; count*16384/3
    xb = ((vb - vc) * 18919) >> 1  # count*16384/sqrt3
    wts = int(st[WTS])
    # --- SOGI on alpha ---
    v1 = int(st[V1A])
    v1 = v1 - ((v1 >> 31) << 32)
    q1 = int(st[Q1A])
    q1 = q1 - ((q1 >> 31) << 32)
    # The SOGI's error and states are clamped outside any real grid (states: 702 V against the
    # sensors' 682 V alpha): at the ADC rails (a failed sensor, a full-scale step) they would
    # otherwise ring up until the products leave 32 bits, which wraps on the M7 and not on the
    # 64-bit unix port (tests_target/test_emulated.py replays rail inputs on both).
    d = (xa - v1) >> 8
    if d > SOGI_D_MAX:
        d = SOGI_D_MAX
    if d < 0 - SOGI_D_MAX:
        d = 0 - SOGI_D_MAX
    e = ((K_SOGI_Q12 * d) >> 4) - q1  # Q8 V (<2^18) * 5793 < 2^31; q1 < 2^26
    if e > SOGI_E_MAX:
        e = SOGI_E_MAX
    if e < 0 - SOGI_E_MAX:
        e = 0 - SOGI_E_MAX
    v1 = v1 + ((wts * (e >> 12)) >> 8)  # Q4 V (<2^15) * Q20 (<4e4) < 2^31
    if v1 > SOGI_X_MAX:
        v1 = SOGI_X_MAX
    if v1 < 0 - SOGI_X_MAX:
        v1 = 0 - SOGI_X_MAX
    q1 = q1 + ((wts * (v1 >> 12)) >> 8)
    if q1 > SOGI_X_MAX:
        q1 = SOGI_X_MAX
    if q1 < 0 - SOGI_X_MAX:
        q1 = 0 - SOGI_X_MAX
    st[V1A] = v1
    st[Q1A] = q1
    v1a = v1
    q1a = q1
    # --- SOGI on beta ---
    v1 = int(st[V1B])
    v1 = v1 - ((v1 >> 31) << 32)
    q1 = int(st[Q1B])
    q1 = q1 - ((q1 >> 31) << 32)
    d = (xb - v1) >> 8
    if d > SOGI_D_MAX:
        d = SOGI_D_MAX
    if d < 0 - SOGI_D_MAX:
        d = 0 - SOGI_D_MAX
    e = ((K_SOGI_Q12 * d) >> 4) - q1
    if e > SOGI_E_MAX:
        e = SOGI_E_MAX
    if e < 0 - SOGI_E_MAX:
        e = 0 - SOGI_E_MAX
    v1 = v1 + ((wts * (e >> 12)) >> 8)
    if v1 > SOGI_X_MAX:
        v1 = SOGI_X_MAX
    if v1 < 0 - SOGI_X_MAX:
        v1 = 0 - SOGI_X_MAX
    q1 = q1 + ((wts * (v1 >> 12)) >> 8)
    if q1 > SOGI_X_MAX:
        q1 = SOGI_X_MAX
    if q1 < 0 - SOGI_X_MAX:
        q1 = 0 - SOGI_X_MAX
    st[V1B] = v1
    st[Q1B] = q1
    # --- positive-sequence calculator, Q6 volts for the Park products ---
    pa = (v1a - q1) >> 11  # (v1a - qv1b)/2 in Q6
    pb = (q1a + v1) >> 11
    # --- Park with the loop angle ---
    th = int(st[THETA_HAT])
    i = (th >> 24) & 255
    fr = (th >> 8) & 0xFFFF
    s0 = int(tab[i]) - 32768
    s = s0 + (((int(tab[i + 1]) - 32768 - s0) * fr) >> 16)
    i = (i + 64) & 255
    s0 = int(tab[i]) - 32768
    c = s0 + (((int(tab[i + 1]) - 32768 - s0) * fr) >> 16)
    vd = (pa * c + pb * s) >> 13  # Q6 (<4e4) * Q15 -> Q21 -> Q8
    vq = (pb * c - pa * s) >> 13
    st[VD] = vd
    st[VQ] = vq
    # magnitude (alpha-max beta-min, within 4 %), only to normalise the detector
    ad = vd if vd >= 0 else 0 - vd
    aq = vq if vq >= 0 else 0 - vq
    mag = (ad * 15 + aq * 6) >> 4 if ad >= aq else (aq * 15 + ad * 6) >> 4
    st[VMAG] = mag
    # --- loop filter ---
    integ = int(st[INTEG])
    integ = integ - ((integ >> 31) << 32)
    locked = int(st[LOCKED])
    cnt = int(st[LOCK_CNT])
    # Input magnitude right now. After a sag onset or a recovery the SOGI
    # outputs lag by several ms and ring at 0.7 omega meanwhile; when they
    # disagree with the input by more than 3x, rescale the SOGI states to the
    # input's magnitude (their phase is still right) and coast this sample.
    # Unbalance and harmonics stay well inside the factor (single-phase loss:
    # 1/3 .. 1 pu around the cycle against 2/3 pu positive sequence).
    ax = xa if xa >= 0 else 0 - xa
    bx = xb if xb >= 0 else 0 - xb
    mx = (ax * 15 + bx * 6) >> 12 if ax >= bx else (bx * 15 + ax * 6) >> 12  # Q8 V
    trust = 1
    if mag >= VMIN_Q8 and (mx * 3 < mag or mag * 3 < mx):
        trust = 0
        k = (mx << 12) // mag  # Q12 (mx < 2^19 Q8 V: < 2^31)
        st[V1A] = int(_scaled_state(v1a, k))
        st[Q1A] = int(_scaled_state(q1a, k))
        st[V1B] = int(_scaled_state(v1, k))
        st[Q1B] = int(_scaled_state(q1, k))
    if trust and mag >= VMIN_Q8 and mx >= VMIN_Q8:
        en = (vq << 12) // (mag >> 3)  # Q15; vq Q8 (<1.6e5) << 12 < 2^30
        if en > 32767:
            en = 32767
        if en < -32767:
            en = -32767
        integ = integ + ((en * KI_Q12) >> 12)  # 32767*20212 < 2^30
        st[COAST_CNT] = 0
        # lock detector: |vq| < 5 % vd for 100 ms to lock, >= 5 % for 100 ms to unlock
        if vd > 0 and aq * 20 < vd:
            if locked:
                cnt = 0
            elif cnt < LOCK_TICKS:
                cnt += 1
                if cnt >= LOCK_TICKS:
                    locked = 1
                    cnt = 0
        else:
            if not locked:
                cnt = 0
            elif cnt < LOCK_TICKS:
                cnt += 1
                if cnt >= LOCK_TICKS:
                    locked = 0
                    cnt = 0
    else:
        # No (trustworthy) voltage: hold the frequency, let the angle run on (flywheel).
        en = 0
        co = int(st[COAST_CNT]) + 1
        st[COAST_CNT] = co
        if co >= COAST_MAX_TICKS:
            locked = 0
            cnt = 0
    st[EN] = en
    st[LOCKED] = locked
    st[LOCK_CNT] = cnt
    lo = OMEGA_MIN - OMEGA_NOM
    hi = OMEGA_MAX - OMEGA_NOM
    if integ < lo:
        integ = lo
    if integ > hi:
        integ = hi
    st[INTEG] = integ
    w = OMEGA_NOM + integ + ((en * KP_Q6) >> 6)  # 32767*40212 < 2^31
    if w < OMEGA_MIN:
        w = OMEGA_MIN
    if w > OMEGA_MAX:
        w = OMEGA_MAX
    st[OMEGA] = w
    # --- reported frequency: 20 ms moving average of omega ---
    k = int(st[MAF_I])
    old = int(maf[k])
    old = old - ((old >> 31) << 32)
    dw = w - OMEGA_NOM
    maf[k] = dw
    k += 1
    if k >= MAF_N:
        k = 0
    st[MAF_I] = k
    msum = int(st[MAF_SUM])
    msum = msum - ((msum >> 31) << 32)
    msum = msum + dw - old  # |dw| < 4.2e6, x200 < 2^30
    st[MAF_SUM] = msum
    wf = OMEGA_NOM + msum // MAF_N
    st[OMEGA_F] = wf
    # SOGI centre frequency: omega through a first-order low-pass (tau = 2^WLP_SH ticks)
    wl = int(st[OMEGA_L])
    wl = wl + ((w - wl) >> WLP_SH)
    st[OMEGA_L] = wl
    st[WTS] = ((wl >> 9) * 26844) >> 15  # omega*Ts in Q20: omega_Q16*0.0016
    # --- angle: report this sample's grid angle, then advance ---
    dth = w + (((w >> 10) * DTHETA_FRAC_Q20) >> 10)  # (w>>10 < 24200) * 45128 < 2^30
    dthf = wf + (((wf >> 10) * DTHETA_FRAC_Q20) >> 10)
    st[DTHETA] = dthf
    theta = th - ((dthf * DELAY_COMP_Q3) >> 3)
    st[THETA] = theta
    st[THETA_HAT] = th + dth
    # --- feed-forward for the current loop ---
    # The voltage the current loop computes now is applied 1.5 samples later, at
    # theta + 1.5 dtheta (curctl's inverse Park). The grid voltage it must match
    # is the one of that instant: predict it by linear extrapolation of the
    # measured alpha/beta (exact for the positive sequence's frame, and 1.5 samples
    # ahead for the negative sequence and the harmonics, which a frame rotation
    # alone would leave 5 deg (neg. seq.) to 16 deg (5th/7th) late), then Park it
    # at the application angle.
    pxa = int(st[XPA])
    pxa = pxa - ((pxa >> 31) << 32)
    pxb = int(st[XPB])
    pxb = pxb - ((pxb >> 31) << 32)
    st[XPA] = xa
    st[XPB] = xb
    fa = (xa + (((xa - pxa) * 3) >> 1)) >> 10  # Q6 V; |xa - pxa| < 2^26
    fb = (xb + (((xb - pxb) * 3) >> 1)) >> 10
    # Clamped to the sensors' range (512 V = 32767 in Q6): a full-scale step extrapolates to 2.5x
    # that, and fa * c + fb * s below would leave 32 bits (wraps on the M7, not on the 64-bit unix
    # port: found by tests_target/test_emulated.py). Clamped, |(fa, fb)| * 32767 < 1.6e9 < 2^31.
    if fa > PRED_MAX_Q6:
        fa = PRED_MAX_Q6
    if fa < 0 - PRED_MAX_Q6:
        fa = 0 - PRED_MAX_Q6
    if fb > PRED_MAX_Q6:
        fb = PRED_MAX_Q6
    if fb < 0 - PRED_MAX_Q6:
        fb = 0 - PRED_MAX_Q6
    th = theta + dthf + (dthf >> 1)
    i = (th >> 24) & 255
    fr = (th >> 8) & 0xFFFF
    s0 = int(tab[i]) - 32768
    s = s0 + (((int(tab[i + 1]) - 32768 - s0) * fr) >> 16)
    i = (i + 64) & 255
    s0 = int(tab[i]) - 32768
    c = s0 + (((int(tab[i + 1]) - 32768 - s0) * fr) >> 16)
    st[VD_INST] = (fa * c + fb * s) >> 13
    st[VQ_INST] = (fb * c - fa * s) >> 13
    st[TICKS] = int(st[TICKS]) + 1
    # --- publish (shared.PLL seqlock: odd while writing) ---
    seq = (int(sh[0]) + 1) & 0x3FFFFFFF
    sh[0] = seq
    sh[1] = theta
    sh[2] = wf
    sh[3] = vd
    sh[4] = vq
    sh[5] = locked
    sh[0] = (seq + 1) & 0x3FFFFFFF


ST = array.array("i", bytes(4 * NST))
MAF = array.array("i", bytes(4 * MAF_N))


def reset():
    for i in range(NST):
        ST[i] = 0
    for i in range(MAF_N):
        MAF[i] = 0
    ST[WTS] = WTS_NOM
    ST[OMEGA] = OMEGA_NOM
    ST[OMEGA_F] = OMEGA_NOM
    ST[OMEGA_L] = OMEGA_NOM
    ST[DTHETA] = 21474836


def make_tick(adc, sample):
    # The zero-argument callable the CRITICAL domain runs; binds the arrays once.
    # sample(adc) is the power stage's ADC read (a no-op where the plant fills adc).
    # One captured tuple: MicroPython heap-allocates the argument array when a
    # closure with more than five free variables is called (heap_lock test).
    b = (sample, adc, ST, trig.SIN, MAF, shared.PLL.a)

    def tick():
        smp, a, st, tab, maf, sh = b
        smp(a)
        step(st, a, tab, maf, sh)

    return tick


def freq_mhz():
    # Reported frequency in mHz (thread context, not the tick; a float is fine here).
    return int(ST[OMEGA_F] * 0.0024285 + 0.5)  # 1000/(2*pi*65536)


reset()
