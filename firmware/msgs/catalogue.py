# The IPC message catalogue, part 2: every message declared once — id, who sends
# it to whom, its payload kind and each field with its unit. Data only, read by
# the layout check (check() below, on the unix port: a message sent with another
# layout or direction raises in its sender), by `jezgro msgs` and by the test
# that compares docs/architecture.md with it. The board never imports this
# module (the check is a simulation/test aid), so its tables cost no board RAM.
#
# Kinds: I32 = four int32 sent with ctx.send_i32 (16 bytes, field i = msg.i32(i));
#        BYTES = a byte payload of a length in [lo, hi], layout in msgs/ev.py.
# Service names are those of the configuration tables (firmware/config/); KERNEL
# is sid 0, which also stands for test harnesses that forge messages.
from micropython import const
import msgs as m

I32 = const(0)
BYTES = const(1)
KIND_NAMES = ("4 x int32", "bytes")

# (id, name, senders, receivers, kind, (min, max) payload bytes, ((field, unit or meaning), ...))
MESSAGES = (
    (m.AUDIT_EVENT, "AUDIT_EVENT", ("KERNEL", "CAN_HANDLER"), ("AUDIT_LOGGER", "CAN_HANDLER"), I32, (16, 16),
     (("code", "event | sid << 8 | cause << 16 (const.EV_*, F_*)"), ("text", "fault text number, 0: none"),
      ("t_ms", "ms since boot"), ("gen", "generation of the service"))),
    (m.SERVICE_QUARANTINED, "SERVICE_QUARANTINED", ("KERNEL",), ("POWER_MGR", "TRANSLATOR"), I32, (16, 16),
     (("sid", "the held service"), ("cause", "const.F_*"), ("-", ""), ("-", ""))),
    (m.SERVICE_RESTARTED, "SERVICE_RESTARTED", ("KERNEL",), ("POWER_MGR", "TRANSLATOR"), I32, (16, 16),
     (("sid", "the service released from quarantine"), ("-", ""), ("-", ""), ("-", ""))),
    (m.PING, "PING", ("*",), ("*",), BYTES, (0, 54), (("any", "diagnostics and tests: not checked"),)),
    (m.PONG, "PONG", ("*",), ("*",), BYTES, (0, 54), (("any", "answer to PING"),)),
    (m.GRID_UNLOCKED, "GRID_UNLOCKED", ("PLL_SYNC",), ("POWER_MGR",), I32, (16, 16),
     (("vmag", "positive-sequence voltage, Q8 V"), ("f", "mHz"), ("-", ""), ("-", ""))),
    (m.GRID_LOCKED, "GRID_LOCKED", ("PLL_SYNC",), ("POWER_MGR",), I32, (16, 16),
     (("vmag", "positive-sequence voltage, Q8 V"), ("f", "mHz"), ("-", ""), ("-", ""))),
    (m.GRID_EMERGENCY, "GRID_EMERGENCY", ("DROOP_CTRL",), ("POWER_MGR",), I32, (16, 16),
     (("f", "mHz"), ("v", "1/1000 pu"), ("cause", "EMERG_*"), ("tripped", "1: protection tripped"))),
    (m.GRID_SETPOINT, "GRID_SETPOINT", ("POWER_MGR", "SCENARIO"), ("DROOP_CTRL",), I32, (16, 16),
     (("p", "W, + import"), ("q", "var, + injected"), ("-", ""), ("-", ""))),
    (m.POWER_SETPOINT, "POWER_SETPOINT", ("ISO15118", "CAN_HANDLER", "TRANSLATOR"), ("POWER_MGR",), I32, (16, 16),
     (("p", "W, + import"), ("q", "var"), ("src", "SRC_*"), ("valid", "ms, 0: until replaced"))),
    (m.POWER_LIMITS, "POWER_LIMITS", ("OCPP_CLIENT", "CAN_HANDLER", "TRANSLATOR"), ("POWER_MGR",), I32, (16, 16),
     (("max_import", "W >= 0"), ("max_export", "W >= 0"), ("src_flags", "SRC_* | LIM_* << 8"),
      ("valid", "ms, 0: until replaced"))),
    (m.SAFE_STATE, "SAFE_STATE", ("POWER_MGR",), ("DROOP_CTRL", "CURRENT_CTRL", "CAN_HANDLER"), I32, (16, 16),
     (("entering", "1: power to zero now, 0: over"), ("state", "gateway state (power.gateway_fsm)"),
      ("-", ""), ("-", ""))),
    (m.EV_POWER_CAP, "EV_POWER_CAP", ("POWER_MGR",), ("ISO15118",), I32, (16, 16),
     (("cap", "W the EV may import"), ("present", "0: nothing caps it"), ("-", ""), ("-", ""))),
    (m.EVSE_POWER_TARGET, "EVSE_POWER_TARGET", ("POWER_MGR",), ("ISO15118",), I32, (16, 16),
     (("target", "W, - discharge (station command)"), ("present", "0: the EV's own plan"), ("-", ""), ("-", ""))),
    (m.EV_CHARGING_NEEDS, "EV_CHARGING_NEEDS", ("ISO15118",), ("OCPP_CLIENT",), BYTES, (44, 44),
     (("evse", "u8[0]"), ("mode", "u8[1] NEEDS_AC1/AC3/DC"), ("present", "u16[2] bit i: value i there"),
      ("values", "i32[4 + 4 i]: NEEDS_* (s, Wh, A, V, W, %)"))),
    (m.EV_CHARGING_SCHEDULE, "EV_CHARGING_SCHEDULE", ("ISO15118",), ("OCPP_CLIENT",), BYTES, (48, 48),
     (("evse", "u8[0]"), ("first", "u8[1] index of the first period"), ("total", "u8[2] periods"),
      ("unit", "u8[3] 0 W, 1 0.1 A"), ("time_base", "i32[4] unix s"),
      ("periods", "5 x (i32 start s, i32 limit, - discharge)"))),
    (m.SESSION_STATE, "SESSION_STATE", ("ISO15118",), ("POWER_MGR", "OCPP_CLIENT"), I32, (16, 16),
     (("level", "SESSION_*"), ("protocol", "secc.session_msg PROTO_*"), ("state", "secc.session_msg STATE_*"),
      ("serial", "session number since boot"))),
    (m.ISO_CERT_REQUEST, "ISO_CERT_REQUEST", ("ISO15118",), ("OCPP_CLIENT",), BYTES, (1, 54),
     (("kind", "u8[0] CERT_INSTALL/UPDATE/STATUS"), ("schema", "bytes[1..] ASCII namespace"),
      ("body", "file iso15118_cert.req"))),
    (m.ISO_CERT_RESPONSE, "ISO_CERT_RESPONSE", ("OCPP_CLIENT",), ("ISO15118",), I32, (16, 16),
     (("result", "CERT_ACCEPTED/FAILED/NO_ANSWER"), ("-", ""), ("-", ""), ("-", ""))),
    (m.EV_STATUS, "EV_STATUS", ("ISO15118",), ("CAN_HANDLER", "OCPP_CLIENT"), I32, (16, 16),
     (("soc", "% (-1: not reported)"), ("energy", "Wh this session, + imported"), ("serial", "session number"),
      ("-", ""))),
    (m.SESSION_END, "SESSION_END", ("ISO15118",), ("OCPP_CLIENT",), I32, (16, 16),
     (("reason", "END_STOP/LOST/FAILED/REJECTED"), ("serial", "session number since boot"), ("-", ""), ("-", ""))),
    (m.ISO_AUTH_RESULT, "ISO_AUTH_RESULT", ("OCPP_CLIENT",), ("ISO15118",), I32, (16, 16),
     (("result", "AUTH_ACCEPTED/REJECTED; AUTH_REQUIRED: OCPP decides EIM authorization"),
      ("serial", "session number (0 with AUTH_REQUIRED)"), ("-", ""), ("-", ""))),
    (m.ISO_STOP, "ISO_STOP", ("OCPP_CLIENT",), ("ISO15118",), I32, (16, 16),
     (("serial", "session number to stop (0: the running one)"), ("-", ""), ("-", ""), ("-", ""))),
    (m.EV_ID, "EV_ID", ("ISO15118",), ("OCPP_CLIENT",), BYTES, (1, 41),
     (("evse", "u8[0]"), ("evccid", "bytes[1..] the EV's EVCCID from SessionSetupReq (ASCII, MAC as hex)"))),
    (m.ISO_AUTHORIZE, "ISO_AUTHORIZE", ("ISO15118",), ("OCPP_CLIENT",), BYTES, (2, 37),
     (("evse", "u8[0]"), ("emaid", "bytes[1..] ASCII contract id"))),
    (m.CP_STATE, "CP_STATE", ("SLAC",), ("ISO15118", "OCPP_CLIENT", "POWER_MGR"), I32, (16, 16),
     (("level", "CP_A..CP_F (IEC 61851-1 pilot state, debounced)"),
      ("duty", "PWM duty the EVSE drives, 1/1000 (50: 5 % digital communication, 1000: no PWM)"),
      ("pp", "A cable rating from proximity pilot, 0: none/DC"), ("serial", "plug-in number since boot"))),
    (m.SLAC_LINK, "SLAC_LINK", ("SLAC",), ("ISO15118", "OCPP_CLIENT"), I32, (16, 16),
     (("up", "1: matched (logical network joined), 0: lost/unplugged"), ("atten", "dB average attenuation"),
      ("serial", "plug-in number of the match"), ("-", ""))),
    (m.BRIDGE_IN, "BRIDGE_IN", ("PROTOCOL_A",), ("TRANSLATOR",), I32, (16, 16),
     (("charger", "index in bridge.json (-1: several)"), ("waiting", "source messages in the hand-off inbox"),
      ("-", ""), ("-", ""))),
    (m.BRIDGE_ANSWER, "BRIDGE_ANSWER", ("TRANSLATOR",), ("PROTOCOL_A",), I32, (16, 16),
     (("charger", "index in bridge.json (-1: several)"), ("waiting", "answers/requests for the chargers"),
      ("-", ""), ("-", ""))),
    (m.BRIDGE_UP, "BRIDGE_UP", ("TRANSLATOR",), ("PROTOCOL_B",), I32, (16, 16),
     (("charger", "index in bridge.json (-1: several)"), ("waiting", "2.0.1 messages for the CSMS"),
      ("-", ""), ("-", ""))),
    (m.BRIDGE_REPLY, "BRIDGE_REPLY", ("PROTOCOL_B",), ("TRANSLATOR",), I32, (16, 16),
     (("charger", "index in bridge.json (-1: several)"), ("waiting", "CSMS answers/requests for TRANSLATOR"),
      ("-", ""), ("-", ""))),
)

_by_id = {}  # type: dict
_known = set()  # type: set


def _index():
    # built once (the kernel calls names() at boot), so that check() allocates nothing
    global _by_id, _known
    _by_id = {row[0]: row for row in MESSAGES}
    known = set()  # type: set
    for row in MESSAGES:
        known.update(row[2])
        known.update(row[3])
    known.discard("*")
    _known = known


def get(mtype):
    if not _by_id:
        _index()
    return _by_id.get(mtype)


def names():
    # every service name a message is declared for: direction is checked between these
    if not _known:
        _index()
    return _known


def check(mtype, n, is_i32, src_name, dst_name):
    # -> None, or what is wrong with this send. Direction is checked between the services
    # the catalogue names (a test's own services and KERNEL, which forges for tests, are free).
    row = get(mtype)
    if row is None:
        return "IPC message 0x%04x is not in the catalogue (msgs/catalogue.py)" % mtype
    # one name per line: `a, b = x, y` builds a tuple, and this runs on every send
    name = row[1]
    senders = row[2]
    receivers = row[3]
    kind = row[4]
    size = row[5]
    if row[2] != ("*",):
        if kind == I32 and not is_i32:
            return "IPC %s is four int32 (send_i32), sent as %d bytes" % (name, n)
        if kind == BYTES and (is_i32 or not size[0] <= n <= size[1]):
            return "IPC %s is %d..%d bytes, sent as %s" % (name, size[0], size[1],
                                                          "four int32" if is_i32 else "%d bytes" % n)
    known = names()
    if src_name in known and src_name != "KERNEL" and "*" not in senders and src_name not in senders:
        return "IPC %s from %s: declared senders %s" % (name, src_name, ", ".join(senders))
    if dst_name in known and "*" not in receivers and dst_name not in receivers:
        return "IPC %s to %s: declared receivers %s" % (name, dst_name, ", ".join(receivers))
    return None
