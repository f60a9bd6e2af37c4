# Payload formats of the power-path messages (four int32 each, sent with
# ctx.send_i32, so sending allocates nothing). Sign convention everywhere:
# positive active power = import from the grid (charging the EV), negative =
# export to the grid (V2G discharge).
from micropython import const

# MSG_POWER_SCHEDULE: a power setpoint from one source.
#   i32[0] P in W   i32[1] Q in var   i32[2] SRC_*   i32[3] valid for ms (0: until replaced)
# MSG_POWER_LIMITS: limits from one source. A limit that is absent is absent:
# flag bits say which are present (never a magic number for "no limit").
#   i32[0] max import W (>= 0)   i32[1] max export W (>= 0)   i32[2] SRC_*   i32[3] LIM_* flags
#   POWER_MGR -> ISO15118: the EV's import cap (power_mgr._send_cap), src SRC_LOCAL.
# MSG_SESSION_STATE (ISO15118 -> POWER_MGR):
#   i32[0] SESSION_*   i32[1] protocol id, i32[2] SECC state, i32[3] session number (informational,
#   iso15118/secc/session_msg.py)
SRC_LOCAL = const(0)
SRC_OCPP = const(1)
SRC_ISO15118 = const(2)
SRC_STATION = const(3)  # station controller over CAN (0x700 STATION_CMD)
N_SOURCES = const(4)
SOURCE_NAMES = ("local", "ocpp", "iso15118", "station")

LIM_IMPORT = const(1)
LIM_EXPORT = const(2)

SESSION_NONE = const(0)  # no vehicle / session stopped
SESSION_CONNECTED = const(1)  # vehicle connected, session being set up
SESSION_AUTHORIZED = const(2)  # energy transfer authorised

# Setpoint precedence: the EV's own target (ISO 15118) wins over a station
# command, which wins over the back office; limits from every source apply.
PRECEDENCE = (SRC_ISO15118, SRC_STATION, SRC_OCPP, SRC_LOCAL)
