# What the ISO15118 service tells the rest of the gateway, as IPC payloads.
#
# MSG_SESSION_STATE (ISO15118 -> POWER_MGR), four int32 (ctx.send_i32), sent when the SECC state changes:
#   i32[0] SESSION_* (power/messages.py): NONE no session / ended, CONNECTED EV talking, no energy yet,
#          AUTHORIZED energy transfer on (PowerDelivery Start accepted, until PowerDelivery Stop)
#   i32[1] PROTO_*   i32[2] STATE_*: the state the SECC waits in (index into STATE_NAMES)
#   i32[3] session number since boot (1, 2, ...; kept across restarts of the service)
# MSG_POWER_SCHEDULE (ISO15118 -> POWER_MGR, power/messages.py format, src SRC_ISO15118): the power the
#   session draws now (DC: present V x A, AC: nominal V x phases x allowed A), W; sent when it changes.
#   POWER_MGR is the setpoint arbiter and forwards the result to DROOP_CTRL.
# MSG_POWER_LIMITS (POWER_MGR -> ISO15118, power/messages.py format): i32[0] max import W with LIM_IMPORT
#   in i32[3] (absent: only our own rating applies). Becomes EvseLimits.max_p for the next response.
# MSG_POWER_SCHEDULE (POWER_MGR -> ISO15118): i32[0] the station controller's power command W with
#   i32[2] SRC_STATION, or i32[2] SRC_LOCAL: no command. Becomes Evse20.setpoint_w (-20 Dynamic).
# MSG_EV_CHARGING_NEEDS (ISO15118 -> OCPP_CLIENT) at ChargeParameterDiscovery: the byte format of
#   ocpp/iso15118_bridge.py, built by needs_payload() below.
# MSG_EV_CHARGING_SCHEDULE (ISO15118 -> OCPP_CLIENT) at PowerDelivery(Start) when the EV sent a
#   ChargingProfile (ISO 15118-2): iso15118_bridge.py's chunks, built by schedule_chunks() below.
from micropython import const
import struct

PROTO_NONE = const(0)
PROTO_DIN = const(1)
PROTO_ISO2_DC = const(2)
PROTO_ISO2_AC = const(3)
PROTO_ISO20 = const(4)
PROTO_NAMES = ("none", "DIN 70121", "ISO 15118-2 DC", "ISO 15118-2 AC", "ISO 15118-20")

# SECC states by class name (din.py, iso2.py, iso20.py), plus before/after a session.
STATE_NAMES = ("Idle", "SupportedAppProtocol", "SessionSetup", "ServiceDiscovery", "ServicePaymentSelection",
               "PaymentServiceSelection", "ContractAuthentication", "Authorization", "ChargeParameterDiscovery",
               "CableCheck", "PreCharge", "PowerDelivery", "CurrentDemand", "ACPowerDelivery", "ChargingStatus",
               "AfterCharging", "WeldingDetection", "ACSessionStop", "Ended",
               "AuthorizationSetup", "ServiceDetail", "ScheduleExchange", "ChargeLoop", "Stopped")  # -20
STATE_IDLE = const(0)
STATE_SAP = const(1)
STATE_ENDED = const(18)

# iso15118_bridge.py needs fields (bit i of the presence flags)
N_DEPARTURE = const(0)
N_ENERGY = const(1)
N_MIN_I = const(2)
N_MAX_I = const(3)
N_MAX_V = const(4)
N_MAX_P = const(5)
N_SOC = const(7)
MODE_AC1 = const(0)
MODE_AC3 = const(1)
MODE_DC = const(2)


def state_code(state):
    # state object (or None: session over) -> STATE_* index
    if state is None:
        return STATE_ENDED
    name = type(state).__name__
    return STATE_NAMES.index(name) if name in STATE_NAMES else STATE_IDLE


def is_ac(d):
    # -2: the AC branch; -20: the AC namespace (Data20.dc False)
    if d is None:
        return False
    if hasattr(d, "dc"):
        return not d.dc
    return getattr(d, "ac", False)


def session_power(d):
    # The power the session draws now, W (0 before PowerDelivery Start and after Stop). DIN/-2:
    # the session data's power_w(); -20: the AC target active power, DC present V x A.
    if d is None or not d.charging:
        return 0
    if hasattr(d, "power_w"):
        return d.power_w()
    if not d.dc and d.target_w is not None:
        return int(d.target_w)
    return d.limits.present_v * d.present_i


def protocol_code(ns, ac):
    if ns is None:
        return PROTO_NONE
    if "din" in ns:
        return PROTO_DIN
    if ":2:2013" in ns:
        return PROTO_ISO2_AC if ac else PROTO_ISO2_DC
    return PROTO_ISO20


def needs_payload(d, evse_id, now_unix):
    # Session data after an accepted ChargeParameterDiscoveryReq -> MSG_EV_CHARGING_NEEDS bytes (44).
    # DIN data has no AC fields, energy request or departure time: those are simply absent.
    ac = getattr(d, "ac", False)
    vals = {N_MAX_I: d.ev_max_i, N_MAX_V: d.ev_max_v}
    if ac:
        mode = MODE_AC3 if d.phases == 3 else MODE_AC1
        vals[N_MIN_I] = d.ev_min_i
        vals[N_ENERGY] = d.energy_request_wh
    else:
        mode = MODE_DC
        vals[N_SOC] = d.soc
        if getattr(d, "energy_request_wh", 0):
            vals[N_ENERGY] = d.energy_request_wh
        if getattr(d, "ev_max_p", 0):
            vals[N_MAX_P] = d.ev_max_p
    dep = getattr(d, "departure_s", None)
    if dep is not None:
        vals[N_DEPARTURE] = int(now_unix) + dep
    b = bytearray(44)
    b[0] = evse_id
    b[1] = mode
    flags = 0
    for i, v in vals.items():
        flags |= 1 << i
        struct.pack_into("<i", b, 4 + 4 * i, int(v))
    b[2] = flags & 0xFF
    b[3] = flags >> 8
    return b


MAX_PERIODS = const(24)   # the bridge's limit
CHUNK_PERIODS = const(5)


def schedule_chunks(profile, evse_id, time_base):
    # [(start s, max power W)] (at most 24 used) -> MSG_EV_CHARGING_SCHEDULE payloads (48 bytes each)
    per = profile[:MAX_PERIODS]
    out = []
    for first in range(0, len(per), CHUNK_PERIODS):
        b = bytearray(8 + 8 * CHUNK_PERIODS)
        b[0] = evse_id
        b[1] = first
        b[2] = len(per)
        b[3] = 0  # unit W
        struct.pack_into("<i", b, 4, int(time_base))
        for k, (start, limit) in enumerate(per[first:first + CHUNK_PERIODS]):
            struct.pack_into("<ii", b, 8 + 8 * k, int(start), int(limit))
        out.append(b)
    return out
