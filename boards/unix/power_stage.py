# Unix power stage: the plant simulation stands in for the ADC and TIM1.
# Same interface as boards/stm32h743/power_stage.py: ADC holds raw 12-bit
# counts of the sample taken at this tick's instant (grid.hw indices), PWM the
# duties (Q15) the control wrote, taken over at the next PWM period.
# sample()/apply() are the tick-side calls; here the plant (board.S.tick_hook)
# has already filled ADC before the tick and reads PWM on its next step.
import array
import micropython
from grid.hw import ADC_N, PWM_N

ADC = array.array("i", bytes(4 * ADC_N))
PWM = array.array("i", bytes(4 * PWM_N))
NAME = "plant"


@micropython.viper
def sample(adc: ptr32):
    pass


@micropython.viper
def apply(pwm: ptr32):
    pass
