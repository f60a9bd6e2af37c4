# Replay power stage: the emulated target's (qemu MPS2_AN500) stand-in for the ADC and TIM1, and the
# unix side of the same comparison. Same interface as boards/stm32h743/power_stage.py: sample(adc)
# is the tick's ADC read, here the next row of recorded plant data (raw 12-bit counts, grid.hw
# indices); apply(pwm) is the compare-register write, here kept for the runner to compare.
# It has no plant: the recording is open-loop input, so the unix port and the M7 see the same
# samples and must compute the same states tick for tick (tests_target/test_emulated.py).
import array
import micropython
from micropython import const
from grid.hw import PWM_N

ADC_N = const(8)  # grid.hw.ADC_N (an imported const is an object to viper; test_emulated checks they agree)

ADC = array.array("i", bytes(4 * ADC_N))
PWM = array.array("i", bytes(4 * PWM_N))
NAME = "replay"
# REC: ADC_N unsigned 16-bit little-endian counts per tick (any buffer: read through ptr16, never
# copied, 96 KB for 6 000 ticks); POS: [next row, rows in REC]. load() sets both.
REC = bytearray(2 * ADC_N)
POS = array.array("i", [0, 0])


def load(rows):
    # rows: a buffer of ADC_N uint16 counts per tick, replayed from its start.
    global REC
    REC = rows
    POS[0] = 0
    POS[1] = len(rows) // (2 * ADC_N)


@micropython.viper
def sample(adc_):
    # After the last row the input holds its last value (a replay that runs longer sees a still grid).
    adc = ptr32(adc_)
    pos = ptr32(POS)
    rec = ptr16(REC)
    row = pos[0]
    if row >= pos[1]:
        row = pos[1] - 1
    else:
        pos[0] = row + 1
    base = row * ADC_N
    i = 0
    while i < ADC_N:
        adc[i] = rec[base + i]
        i += 1


@micropython.viper
def apply(pwm_):
    pass
