# NUCLEO-H743ZI power stage: the board side of the interface the unix plant
# implements (boards/unix/power_stage.py). Sensor scaling: firmware/grid/hw.py.
#
# TIM1 runs centre-aligned at 10 kHz with complementary outputs CH1-3/CH1N-3N
# and deadtime; its update event (TRGO) starts the injected conversions of
# ADC1 (va, vb, vc, vdc) and ADC2 (ia, ib, ic) in the middle of the PWM period,
# where the ripple-free average current is. The CRITICAL tick then reads the
# injected data registers directly (viper ptr32, no HAL, no allocation) and
# writes the compare registers, which TIM1 preloads for the next period: the
# one-sample update delay the current loop is designed for (docs/current_loop.md).
import array
import micropython
import pyb
from micropython import const

ADC_N = const(8)
PWM_N = const(4)
NAME = "nucleo-h743zi"

# Register addresses (RM0433). Above 2^30: loaded as objects, cast with ptr32() in viper.
ADC1_JDR1 = const(0x40022080)  # ADC1 injected data registers JDR1..JDR4 (0x80..0x8C)
ADC2_JDR1 = const(0x40022180)
TIM1_CCR1 = const(0x40010034)  # CCR1..CCR3 at 0x34, 0x38, 0x3C
TIM1_BDTR = const(0x40010044)
BDTR_MOE = const(0x8000)  # main output enable: off = all six switches off
TIM_CLK_HZ = const(200000000)
PWM_HZ = const(10000)
ARR = const(10000)  # centre-aligned: TIM_CLK / (2 * PWM_HZ)
DEADTIME_NS = const(500)

ADC = array.array("i", bytes(4 * ADC_N))
PWM = array.array("i", bytes(4 * PWM_N))


def setup() -> None:
    # TIM1 centre-aligned PWM with complementary outputs and deadtime. Channel
    # pins (PE9/PE8, PE11/PE10, PE13/PE12) per the NUCLEO-H743ZI pinout.
    dt = DEADTIME_NS * (TIM_CLK_HZ // 1000000) // 1000
    tim = pyb.Timer(1, prescaler=0, period=ARR, mode=pyb.Timer.CENTER, deadtime=dt)
    for ch, pin in ((1, "PE9"), (2, "PE11"), (3, "PE13")):
        tim.channel(ch, pyb.Timer.PWM, pin=pyb.Pin(pin), pulse_width=ARR // 2)
    # Grid voltages and DC link on ADC1, currents on ADC2; pyb.ADC sets up the
    # pins and the converters, the injected sequence is triggered by TIM1 TRGO.
    for pin in ("PA0", "PA1", "PA2", "PA3", "PA4", "PA5", "PA6"):
        pyb.ADC(pyb.Pin(pin))


@micropython.viper
def sample(adc_):
    adc = ptr32(adc_)
    a1 = ptr32(ADC1_JDR1)
    a2 = ptr32(ADC2_JDR1)
    adc[0] = a1[0]
    adc[1] = a1[1]
    adc[2] = a1[2]
    adc[6] = a1[3]
    adc[3] = a2[0]
    adc[4] = a2[1]
    adc[5] = a2[2]


@micropython.viper
def apply(pwm_):
    pwm = ptr32(pwm_)
    ccr = ptr32(TIM1_CCR1)
    bdtr = ptr32(TIM1_BDTR)
    ccr[0] = (pwm[0] * ARR) >> 15
    ccr[1] = (pwm[1] * ARR) >> 15
    ccr[2] = (pwm[2] * ARR) >> 15
    if pwm[3]:
        bdtr[0] = bdtr[0] | BDTR_MOE
    else:
        bdtr[0] = bdtr[0] & (0 - 1 - BDTR_MOE)  # all bits but MOE
