# The gateway's energy meter at the grid connection, integrated at the control tick: CURRENT_CTRL's
# 10 kHz tick calls step() with the same ADC sample its current loop uses, so every 100 us of power
# is counted once, whatever the scheduler does (POWER_MGR used to integrate one filtered sample per
# 10 ms poll, which jittered under load and read 1-4 % low). No trigonometry, no PLL: the
# instantaneous three-phase power is the sum of the per-phase products of the raw ADC counts,
#
#   p = (va - mid)(ia - mid) + (vb - mid)(ib - mid) + (vc - mid)(ic - mid)   [counts^2]
#
# which is exact for any waveform (harmonics, unbalance) and equals 1.5 (v_alpha i_alpha + v_beta
# i_beta) of the amplitude-invariant Clarke frame, the plant's and a revenue meter's definition.
#
# Fixed point (grid/hw.py scaling: 0.25 V/count x 1/32 A/count = 1/128 W per count^2):
#   p                 |p| <= 3 x 2048 x 2048 = 3 x 2^22 < 2^24 (every product well within 31 bits)
#   EN[SUB]           net energy not yet a whole joule, in count^2 x tick = 1/128 W x 100 us
#                     = 1/1 280 000 J (UNITS_PER_J); |SUB| < UNITS_PER_J + 2^24 < 2^25
#   EN[WIN_J]         whole joules carried from SUB in the present window, signed;
#                     |WIN_J| <= WINDOW x 14 < 2^12
#   EN[WIN_N]         ticks into the present window (0..WINDOW-1)
#   EN[IMP_J/EXP_J]   whole joules, wrapping at 2^30 like a meter's pulse counter (298 kWh);
#                     readers take differences (power/gridmeter.py via power/status.GW)
#   EN[TICKS]         ticks integrated, wrapping at 2^30
# Direction: the net energy of each window of WINDOW ticks (20 ms, one 50 Hz cycle) goes to export
# (generator convention: + = inverter -> grid) or to import, as the plant's truth and a revenue
# meter do: the 100 Hz ripple of an unbalanced grid or a transient within a cycle is not counted
# both ways. The fraction of a joule stays in SUB for the next window, so nothing is lost to
# rounding, and zero-mean sensor noise at idle random-walks inside +-1 J instead of creeping up
# both registers. Import and export are separate, monotonic counters.
#
# EN is module state that no service resets: a restarted CURRENT_CTRL or POWER_MGR continues the
# counters (the ISR writes each word whole; a reader in thread context sees each counter atomic).
import array
import micropython
from micropython import const

SUB = const(0)
WIN_J = const(1)
WIN_N = const(2)
IMP_J = const(3)
EXP_J = const(4)
TICKS = const(5)
NEN = const(6)
WINDOW = const(200)  # ticks: 20 ms
UNITS_PER_J = const(1280000)  # 128 count^2 per W x 10 000 ticks per s
WRAP = const(0x3FFFFFFF)
MID = const(2048)  # grid/hw.ADC_MID (viper folds only this module's consts)
A_VA = const(0)
A_VB = const(1)
A_VC = const(2)
A_IA = const(3)
A_IB = const(4)
A_IC = const(5)

EN = array.array("i", bytes(4 * NEN))


@micropython.viper
def step(en_, adc_):
    en = ptr32(en_)
    adc = ptr32(adc_)
    p = ((int(adc[A_VA]) - MID) * (int(adc[A_IA]) - MID) + (int(adc[A_VB]) - MID) * (int(adc[A_IB]) - MID)
         + (int(adc[A_VC]) - MID) * (int(adc[A_IC]) - MID))
    s = int(en[SUB])
    s = s - ((s >> 31) << 32)  # sign-extend: unix ptr32 loads are zero-extended (grid/pll.py sx)
    s = s + p
    w = int(en[WIN_J])
    w = w - ((w >> 31) << 32)
    if s >= UNITS_PER_J:
        j = s // UNITS_PER_J  # at most 14 (|p| < 2^24): a divide only when a joule is complete
        s = s - j * UNITS_PER_J
        w = w + j
    elif s <= 0 - UNITS_PER_J:
        j = (0 - s) // UNITS_PER_J  # dividends kept positive: one rounding rule on every port
        s = s + j * UNITS_PER_J
        w = w - j
    en[SUB] = s
    n = int(en[WIN_N]) + 1
    if n >= WINDOW:
        n = 0
        if w > 0:
            en[EXP_J] = (int(en[EXP_J]) + w) & WRAP
        elif w < 0:
            en[IMP_J] = (int(en[IMP_J]) - w) & WRAP
        w = 0
    en[WIN_N] = n
    en[WIN_J] = w
    en[TICKS] = (int(en[TICKS]) + 1) & WRAP

def reset():
    # tests only: the firmware never resets the counters (readers take differences)
    for i in range(NEN):
        EN[i] = 0
