# Ratings of the power stage and the scaling of its sensors: the one place
# where firmware fixed point meets volts and amperes. The unix plant and the
# NUCLEO-H743ZI power stage both produce raw 12-bit ADC counts with exactly
# this scaling, so the control code cannot tell them apart.
#
# ADC (12 bit, mid-scale 2048 = 0):
#   grid phase voltages   0.25 V/count     (+-512 V)
#   inverter currents     1/32 A/count     (+-64 A), positive = inverter -> grid
#   DC-link voltage       0.25 V/count     (0..1024 V), 0 = 0 V
# PWM: duty per phase as Q15 (32768 = 100 % high-side on time).
from micropython import const

ADC_MID = const(2048)
ADC_MAX = const(4095)
V_PER_COUNT_Q16 = const(16384)  # 0.25 V in Q16
I_SHIFT_Q8 = const(3)  # counts << 3 = Q8 A (1/32 A = 8/256)
VDC_SHIFT_Q4 = const(2)  # counts << 2 = Q4 V

# Indices into the power stage's ADC sample array (raw counts).
ADC_VA = const(0)
ADC_VB = const(1)
ADC_VC = const(2)
ADC_IA = const(3)
ADC_IB = const(4)
ADC_IC = const(5)
ADC_VDC = const(6)
ADC_N = const(8)

# Indices into the PWM command array (Q15 duties, ENABLE 0/1).
PWM_A = const(0)
PWM_B = const(1)
PWM_C = const(2)
PWM_ENABLE = const(3)
PWM_N = const(4)

# Ratings (spec: L = 0.5 mH, R = 0.1 ohm L filter; 3-phase 400 V / 50 Hz grid).
F_NOM_MHZ = const(50000)
V_NOM_PEAK_Q8 = const(83269)  # 230 V rms phase = 325.27 V peak, Q8 V
P_RATED_W = const(11000)
S_RATED_VA = const(11000)
I_RATED_PEAK_Q8 = const(5773)  # 11 kW / (1.5 * 325.27 V) = 22.55 A peak, Q8 A
VDC_NOM_V = const(750)
L_FILTER_UH = const(500)
R_FILTER_MOHM = const(100)
