# Messages on the grid side (payloads are four int32, sent with ctx.send_i32).
#
# MSG_POWER_SCHEDULE -> DROOP_CTRL: the format of firmware/power/messages.py,
#   i32[0] P in W (positive = import from the grid, charging; negative = V2G export)
#   i32[1] Q in var (positive = reactive power injected into the grid, capacitive)
#   i32[2] source (power.messages SRC_*)   i32[3] valid for ms (0: until replaced)
#   DROOP_CTRL adds P(f)/Q(V) to it, ramp-limits changes per the grid-code profile.
# MSG_GRID_UNLOCKED / MSG_GRID_LOCKED (PLL_SYNC -> POWER_MGR, UNLOCKED with priority):
#   i32[0] positive-sequence voltage magnitude, Q8 V   i32[1] frequency, mHz
# MSG_GRID_EMERGENCY (DROOP_CTRL -> POWER_MGR, priority):
#   i32[0] frequency, mHz   i32[1] voltage, 1/1000 pu   i32[2] EMERG_* cause   i32[3] 1 = tripped
from micropython import const

EMERG_FREQ = const(1)  # outside the profile's critical frequency band
EMERG_VOLT = const(2)  # outside the continuous voltage band
EMERG_ISLAND = const(3)  # protection tripped (loss of mains / anti-islanding)
