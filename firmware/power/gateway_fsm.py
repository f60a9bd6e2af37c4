# The gateway state machine of spec §8.3 as an explicit transition table.
# Only CHARGING and DISCHARGING let power flow; every other state holds the
# power reference at zero.
from micropython import const

INIT = const(0)
GRID_SEARCH = const(1)
STANDBY = const(2)
V2G_SESSION = const(3)
CHARGING = const(4)
DISCHARGING = const(5)
SAFE = const(6)  # a CRITICAL or power-path service is held: no power until cleared
STATE_NAMES = ("INIT", "GRID_SEARCH", "STANDBY", "V2G_SESSION", "CHARGING", "DISCHARGING", "SAFE")

HW_OK = const(0)
PLL_LOCKED = const(1)
GRID_LOST = const(2)
VEHICLE_CONNECTED = const(3)
AUTHORIZED_IMPORT = const(4)
AUTHORIZED_EXPORT = const(5)
SESSION_STOP = const(6)
POWER_PATH_FAULT = const(7)
FAULT_CLEARED = const(8)
EVENT_NAMES = ("HW_OK", "PLL_LOCKED", "GRID_LOST", "VEHICLE_CONNECTED", "AUTHORIZED_IMPORT",
               "AUTHORIZED_EXPORT", "SESSION_STOP", "POWER_PATH_FAULT", "FAULT_CLEARED")

# (state, event) -> next state. Pairs not listed leave the state unchanged.
TABLE = {
    (INIT, HW_OK): GRID_SEARCH,
    (GRID_SEARCH, PLL_LOCKED): STANDBY,
    (STANDBY, VEHICLE_CONNECTED): V2G_SESSION,
    (STANDBY, GRID_LOST): GRID_SEARCH,
    (V2G_SESSION, AUTHORIZED_IMPORT): CHARGING,
    (V2G_SESSION, AUTHORIZED_EXPORT): DISCHARGING,
    (V2G_SESSION, SESSION_STOP): STANDBY,
    (V2G_SESSION, GRID_LOST): GRID_SEARCH,
    (CHARGING, AUTHORIZED_EXPORT): DISCHARGING,
    (CHARGING, SESSION_STOP): STANDBY,
    (CHARGING, GRID_LOST): GRID_SEARCH,
    (DISCHARGING, AUTHORIZED_IMPORT): CHARGING,
    (DISCHARGING, SESSION_STOP): STANDBY,
    (DISCHARGING, GRID_LOST): GRID_SEARCH,
    (SAFE, FAULT_CLEARED): GRID_SEARCH,
}
for _s in (INIT, GRID_SEARCH, STANDBY, V2G_SESSION, CHARGING, DISCHARGING):
    TABLE[(_s, POWER_PATH_FAULT)] = SAFE


def next_state(state, event):
    return TABLE.get((state, event), state)


def power_allowed(state):
    return state == CHARGING or state == DISCHARGING
