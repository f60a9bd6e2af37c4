# The IPC message catalogue, part 1: every message id, the field indexes of the
# four-int32 messages and the values their fields take. The declarations (who
# sends what to whom, each field's unit) are in msgs/catalogue.py; byte-payload
# layouts in msgs/ev.py. One id has one meaning and one direction: a setpoint
# is never a limit in disguise (POWER_SETPOINT vs POWER_LIMITS vs EV_POWER_CAP).
#
# Sign convention everywhere: positive active power = import from the grid
# (charging the EV), negative = export to the grid (V2G discharge); positive
# reactive power = injected into the grid (capacitive).
#
# Everything here is micropython.const: importing this module puts nothing on
# the heap, and reading a field (msg.i32(P_W)) or sending (send_* below, one
# ctx.send_i32 each) allocates nothing, so the CRITICAL tick may use them too.
from micropython import const

# --- ids (u16): 0x00xx kernel, 0x01xx grid, 0x02xx power, 0x03xx protocols, 0x04xx EV link, 0x05xx bridge --------------------
AUDIT_EVENT = const(0x0001)
SERVICE_QUARANTINED = const(0x0002)
SERVICE_RESTARTED = const(0x0003)
PING = const(0x0004)
PONG = const(0x0005)
GRID_UNLOCKED = const(0x0101)
GRID_LOCKED = const(0x0102)
GRID_EMERGENCY = const(0x0103)
GRID_SETPOINT = const(0x0104)
POWER_SETPOINT = const(0x0201)
POWER_LIMITS = const(0x0202)
SAFE_STATE = const(0x0203)
EV_POWER_CAP = const(0x0204)
EVSE_POWER_TARGET = const(0x0205)
EV_CHARGING_NEEDS = const(0x0301)
EV_CHARGING_SCHEDULE = const(0x0302)
SESSION_STATE = const(0x0303)
ISO_CERT_REQUEST = const(0x0305)
ISO_CERT_RESPONSE = const(0x0306)
ISO_AUTHORIZE = const(0x0307)
EV_STATUS = const(0x0308)
SESSION_END = const(0x0309)
ISO_AUTH_RESULT = const(0x030A)
ISO_STOP = const(0x030B)
EV_ID = const(0x030C)
CP_STATE = const(0x0401)
SLAC_LINK = const(0x0402)
# protocol bridge (spec §2.2): the OCPP messages themselves are too large for IPC and wait in the
# bridge's hand-off queues (firmware/bridge/handoff.py); these say "there is something for you"
BRIDGE_IN = const(0x0501)
BRIDGE_ANSWER = const(0x0502)
BRIDGE_UP = const(0x0503)
BRIDGE_REPLY = const(0x0504)

# --- field indexes of the four-int32 messages (msg.i32(index)) ---------------------------------
# AUDIT_EVENT: i32[0] event | sid << 8 | cause << 16, then the text number, time, generation
AUDIT_CODE = const(0)
AUDIT_TEXT = const(1)
AUDIT_T_MS = const(2)
AUDIT_GEN = const(3)
# SERVICE_QUARANTINED / SERVICE_RESTARTED
SVC_SID = const(0)
SVC_CAUSE = const(1)
# GRID_UNLOCKED / GRID_LOCKED
GRID_VMAG_Q8 = const(0)
GRID_F_MHZ = const(1)
# GRID_EMERGENCY
EMERG_F_MHZ = const(0)
EMERG_V_MPU = const(1)
EMERG_CAUSE = const(2)
EMERG_TRIPPED = const(3)
# GRID_SETPOINT, POWER_SETPOINT
P_W = const(0)
Q_VAR = const(1)
SET_SRC = const(2)
SET_VALID_MS = const(3)
# POWER_LIMITS
LIM_MAX_IMPORT_W = const(0)
LIM_MAX_EXPORT_W = const(1)
LIM_SRC_FLAGS = const(2)  # source in bits 0..7, LIM_* flags above: unpack with lim_src/lim_flags
LIM_VALID_MS = const(3)
# SAFE_STATE
SAFE_ENTERING = const(0)
SAFE_GW_STATE = const(1)
# EV_POWER_CAP / EVSE_POWER_TARGET: a value and whether it is there at all
VALUE_W = const(0)
PRESENT = const(1)
# SESSION_STATE
SESS_LEVEL = const(0)
SESS_PROTOCOL = const(1)
SESS_SECC_STATE = const(2)
SESS_SERIAL = const(3)
# ISO_CERT_RESPONSE
CERT_RESULT = const(0)
# EV_STATUS
EV_SOC = const(0)
EV_ENERGY_WH = const(1)
EV_SERIAL = const(2)
# SESSION_END
END_REASON = const(0)
END_SERIAL = const(1)
# ISO_AUTH_RESULT
AUTH_RESULT = const(0)
AUTH_SERIAL = const(1)
# ISO_STOP
STOP_SERIAL = const(0)
# CP_STATE
CP_LEVEL = const(0)
CP_DUTY_PERMILLE = const(1)
CP_PP_A = const(2)
CP_PLUG_SERIAL = const(3)
# SLAC_LINK
LINK_UP = const(0)
LINK_ATTEN_DB = const(1)
LINK_PLUG_SERIAL = const(2)
# BRIDGE_IN / BRIDGE_ANSWER / BRIDGE_UP / BRIDGE_REPLY
BRIDGE_CHARGER = const(0)
BRIDGE_WAITING = const(1)

# --- field values --------------------------------------------------------------------------------
# power sources (SET_SRC, LIM_SRC_FLAGS)
SRC_LOCAL = const(0)
SRC_OCPP = const(1)
SRC_ISO15118 = const(2)
SRC_STATION = const(3)  # station controller over CAN (0x700 STATION_CMD)
N_SOURCES = const(4)
SOURCE_NAMES = ("local", "ocpp", "iso15118", "station")
# which limits a POWER_LIMITS carries: an absent limit is absent, never a magic number
LIM_IMPORT = const(1)
LIM_EXPORT = const(2)
# SESSION_STATE level
SESSION_NONE = const(0)  # no vehicle / session stopped
SESSION_CONNECTED = const(1)  # vehicle connected, session being set up
SESSION_AUTHORIZED = const(2)  # energy transfer authorised
# SESSION_END reason: how an ISO 15118 session ended (OCPP stoppedReason / triggerReason)
END_STOP = const(1)  # SessionStopReq answered OK: the EV (or the EVSE's stop request) ended it
END_LOST = const(2)  # no request in time / connection closed: communication lost
END_FAILED = const(3)  # protocol failure (FAILED response code, malformed message)
END_REJECTED = const(4)  # authorization rejected: the session was refused
# ISO_AUTH_RESULT result (serial 0 with AUTH_REQUIRED: OCPP_CLIENT decides every EIM authorization)
AUTH_REJECTED = const(0)
AUTH_ACCEPTED = const(1)
AUTH_REQUIRED = const(2)
# GRID_EMERGENCY cause
EMERG_FREQ = const(1)  # outside the profile's critical frequency band
EMERG_VOLT = const(2)  # outside the continuous voltage band
EMERG_ISLAND = const(3)  # protection tripped (loss of mains / anti-islanding)
# CP_STATE level: IEC 61851-1 control pilot states (A no vehicle, B connected, C charging,
# D charging with ventilation, E short/no pilot, F EVSE fault)
CP_A = const(1)
CP_B = const(2)
CP_C = const(3)
CP_D = const(4)
CP_E = const(5)
CP_F = const(6)
CP_NAMES = ("-", "A", "B", "C", "D", "E", "F")
# ISO_CERT_RESPONSE result
CERT_ACCEPTED = const(1)
CERT_FAILED = const(0)
CERT_NO_ANSWER = const(-1)

MAX_VALID_MS = const(3600000)  # validity/expiry fields are capped at an hour: re-sent at least hourly


def lim_src(v):
    return v & 0xFF


def lim_flags(v):
    return v >> 8


def _valid(ms):
    return ms if 0 <= ms <= MAX_VALID_MS else MAX_VALID_MS


# --- senders (pack): one send_i32 each, nothing allocated -----------------------------------------
def send_grid_setpoint(ctx, dst, p_w, q_var):
    return ctx.send_i32(dst, GRID_SETPOINT, p_w, q_var)


def send_power_setpoint(ctx, dst, p_w, q_var, src, valid_ms=0):
    # valid_ms 0: until replaced
    return ctx.send_i32(dst, POWER_SETPOINT, p_w, q_var, src, _valid(valid_ms))


def send_power_limits(ctx, dst, max_import_w, max_export_w, src, flags, valid_ms=0):
    # flags: LIM_IMPORT / LIM_EXPORT say which of the two are there; valid_ms 0: until replaced
    return ctx.send_i32(dst, POWER_LIMITS, max_import_w if max_import_w > 0 else 0,
                        max_export_w if max_export_w > 0 else 0, src | (flags << 8), _valid(valid_ms))


def send_safe_state(ctx, dst, entering, gw_state):
    return ctx.send_i32(dst, SAFE_STATE, 1 if entering else 0, gw_state, priority=True)


def send_ev_power_cap(ctx, dst, cap_w):
    # cap_w < 0: nothing caps the EV but its own and the charger's rating
    return ctx.send_i32(dst, EV_POWER_CAP, cap_w if cap_w > 0 else 0, 1 if cap_w >= 0 else 0)


def send_evse_power_target(ctx, dst, target_w):
    # target_w None: no target, the EV follows its own plan
    return ctx.send_i32(dst, EVSE_POWER_TARGET, target_w if target_w is not None else 0,
                        1 if target_w is not None else 0)


def send_session_state(ctx, dst, level, protocol, secc_state, serial):
    return ctx.send_i32(dst, SESSION_STATE, level, protocol, secc_state, serial)


def send_ev_status(ctx, dst, soc, energy_wh, serial):
    # soc: % or -1 when the session does not report it
    return ctx.send_i32(dst, EV_STATUS, soc, energy_wh, serial)


def send_session_end(ctx, dst, reason, serial):
    return ctx.send_i32(dst, SESSION_END, reason, serial)


def send_auth_result(ctx, dst, result, serial):
    return ctx.send_i32(dst, ISO_AUTH_RESULT, result, serial)


def send_iso_stop(ctx, dst, serial):
    return ctx.send_i32(dst, ISO_STOP, serial)


def send_grid_lock(ctx, dst, locked, vmag_q8, f_mhz):
    # unlocked goes first in the mailbox: POWER_MGR must stop power before anything else
    if locked:
        return ctx.send_i32(dst, GRID_LOCKED, vmag_q8, f_mhz)
    return ctx.send_i32(dst, GRID_UNLOCKED, vmag_q8, f_mhz, priority=True)


def send_grid_emergency(ctx, dst, f_mhz, v_mpu, cause, tripped):
    return ctx.send_i32(dst, GRID_EMERGENCY, f_mhz, v_mpu, cause, 1 if tripped else 0, priority=True)


def send_cert_response(ctx, dst, result):
    return ctx.send_i32(dst, ISO_CERT_RESPONSE, result)


def send_bridge(ctx, dst, mtype, charger, waiting):
    # one of the BRIDGE_* wake-ups: charger index (bridge.json order, -1: several), entries waiting
    return ctx.send_i32(dst, mtype, charger, waiting)


def value_or_none(msg):
    # EV_POWER_CAP / EVSE_POWER_TARGET -> the value, or None when absent
    return msg.i32(VALUE_W) if msg.i32(PRESENT) else None


def send_cp_state(ctx, dst, level, duty_permille, pp_a, plug_serial):
    # unplug (A), E and F go first in the mailbox: power must stop before anything else is read
    return ctx.send_i32(dst, CP_STATE, level, duty_permille, pp_a, plug_serial,
                        priority=level == CP_A or level >= CP_E)


def send_slac_link(ctx, dst, up, atten_db, plug_serial):
    return ctx.send_i32(dst, SLAC_LINK, 1 if up else 0, atten_db, plug_serial)
