# What the ISO15118 service tells the rest of the gateway: the codes of its SESSION_STATE message and
# the EV data it hands to OCPP_CLIENT, turned into the catalogue's payloads (msgs/catalogue.py: who sends
# what to whom; msgs/ev.py: the byte layouts).
from micropython import const
from msgs import ev

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
    # Session data after an accepted ChargeParameterDiscoveryReq -> EV_CHARGING_NEEDS bytes.
    # DIN data has no AC fields, energy request or departure time: those are simply absent.
    ac = getattr(d, "ac", False)
    vals = {ev.NEEDS_MAX_I: d.ev_max_i, ev.NEEDS_MAX_V: d.ev_max_v}
    if ac:
        mode = ev.NEEDS_AC3 if d.phases == 3 else ev.NEEDS_AC1
        vals[ev.NEEDS_MIN_I] = d.ev_min_i
        vals[ev.NEEDS_ENERGY] = d.energy_request_wh
    else:
        mode = ev.NEEDS_DC
        vals[ev.NEEDS_SOC] = d.soc
        if getattr(d, "energy_request_wh", 0):
            vals[ev.NEEDS_ENERGY] = d.energy_request_wh
        if getattr(d, "ev_max_p", 0):
            vals[ev.NEEDS_MAX_P] = d.ev_max_p
    dep = getattr(d, "departure_s", None)
    if dep is not None:
        vals[ev.NEEDS_DEPARTURE] = int(now_unix) + dep
    return ev.pack_needs(evse_id, mode, vals)


def schedule_chunks(profile, evse_id, time_base):
    # [(start s, max power W)] (at most 24 used) -> EV_CHARGING_SCHEDULE payloads
    per = profile[:ev.SCHED_PERIODS_MAX]
    return [ev.pack_schedule(evse_id, first, per, ev.UNIT_W, time_base)
            for first in range(0, len(per), ev.SCHED_CHUNK)]
