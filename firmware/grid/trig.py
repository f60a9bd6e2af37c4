# Sine table for the viper control code.
#
# 256 entries per turn (+1 guard entry so interpolation never wraps), Q15,
# stored offset-binary (value + 32768) in an array('H'): viper's ptr16 loads
# are unsigned on every target, so the offset keeps one code path for the
# 64-bit unix port and the 32-bit board. Linear interpolation between
# entries is accurate to 7.5e-5 (0.004 deg), far below the 12-bit ADC.
#
# Angles are 32-bit phase accumulators (2^32 = one turn): index = bits 31..24,
# interpolation fraction = bits 23..8 (Q16).
#
# The tick functions (pll.py, curctl.py) write the table lookup inline rather than
# calling a helper: a call between viper functions goes through the runtime on every
# tick, and returning sin and cos together would allocate a tuple in the tick.
import array
import math
from micropython import const

N = const(256)
OFFSET = const(32768)
QUARTER = const(64)  # cos(x) = sin(x + quarter turn), in table entries


def _build():
    t = array.array("H", bytes(2 * (N + 1)))
    for i in range(N + 1):
        t[i] = OFFSET + int(round(32767 * math.sin(2 * math.pi * i / N)))
    return t


SIN = _build()
