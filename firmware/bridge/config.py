# The bridge's provisioning: <board.FS_ROOT>/bridge.json, for example
#   {"source": "ocpp16", "port": 9016, "heartbeat_s": 300,
#    "chargers": [{"id": "CP-1", "password": "0123456789abcdef", "evse": 1, "phases": 3, "voltage": 230},
#                 {"id": "CP-2", "password": "fedcba9876543210", "evse": 2, "phases": 1, "voltage": 230}]}
# source "ocpp16": PROTOCOL_A is the Central System for the chargers listed (each its own identity, the
#   last path segment of its URL ws://gateway:port/<id>, Basic Auth id:password; a charger without
#   "password" connects without authentication, for test benches only).
# Upstream (PROTOCOL_B, ocpp.json) is one 2.0.1 station with one EVSE per charger connector (a 2.0.1
# EVSE runs one transaction at a time, a 1.6 connector too): "evse" is the EVSE id of the charger's
# connector 1 (default: the next free one), its connector k is EVSE evse + k - 1, connectorId 1.
# phases/voltage convert A <-> W for charging limits; rate_unit ("A" default, or "W") is the unit the
# charger is given its charging profiles in.
# Every problem is a ConfigError naming the file and the field.
from jezgro import persist
from ocpp.config import json_object

FILE = "bridge.json"
KNOWN = ("source", "port", "host", "heartbeat_s", "chargers", "offline_auth", "auth_wait_ms")
CHARGER_KNOWN = ("id", "password", "evse", "connectors", "phases", "voltage", "id_token_type", "rate_unit",
                 "modbus", "id_tag")
MODBUS_KNOWN = ("host", "port", "map", "poll_ms", "meter_s")


class ConfigError(Exception):
    pass


def _int(d, k, default, lo, hi, where):
    v = d.get(k, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ConfigError("%s: %s\"%s\" must be an integer %d..%d" % (FILE, where, k, lo, hi))
    return v


def _modbus(m, where):
    # a Modbus TCP wallbox: host, port, register-map file (relative to the filesystem root), poll period,
    # meter-value period
    if not isinstance(m, dict):
        raise ConfigError("%s: %smodbus must be an object" % (FILE, where))
    for k in m:
        if k not in MODBUS_KNOWN:
            raise ConfigError("%s: %smodbus: unknown field \"%s\"" % (FILE, where, k))
    if not isinstance(m.get("host"), str) or not isinstance(m.get("map"), str):
        raise ConfigError("%s: %smodbus needs \"host\" and \"map\"" % (FILE, where))
    w = where + "modbus."
    return {"host": m["host"], "map": m["map"], "port": _int(m, "port", 502, 1, 65535, w),
            "poll_ms": _int(m, "poll_ms", 1000, 100, 60000, w), "meter_s": _int(m, "meter_s", 10, 1, 3600, w)}


def _charger(c, i, next_evse):
    where = "chargers[%d]." % i
    if not isinstance(c, dict):
        raise ConfigError("%s: chargers[%d] must be an object" % (FILE, i))
    for k in c:
        if k not in CHARGER_KNOWN:
            raise ConfigError("%s: %sunknown field \"%s\"" % (FILE, where, k))
    cid = c.get("id")
    if not isinstance(cid, str) or not 0 < len(cid) <= 20 or "/" in cid:
        raise ConfigError("%s: %sid must be 1..20 characters without '/' (OCPP 1.6 identity)" % (FILE, where))
    pw = c.get("password")
    if pw is not None and (not isinstance(pw, str) or not 16 <= len(pw) <= 40):
        raise ConfigError("%s: %spassword must be 16..40 characters (OCPP 1.6 AuthorizationKey)" % (FILE, where))
    mb = c.get("modbus")
    if mb is not None:
        mb = _modbus(mb, where)
    tt = c.get("id_token_type", "ISO14443" if mb is None else "NoAuthorization")
    if tt not in ("Central", "eMAID", "ISO14443", "ISO15693", "KeyCode", "Local", "MacAddress", "NoAuthorization"):
        raise ConfigError("%s: %sid_token_type is not a 2.0.1 IdTokenEnumType" % (FILE, where))
    ru = c.get("rate_unit", "A")
    tag = c.get("id_tag", "")
    if not isinstance(tag, str) or len(tag) > 20:
        raise ConfigError("%s: %sid_tag must be a string of up to 20 characters" % (FILE, where))
    if mb is not None and ru != "A":
        raise ConfigError("%s: %srate_unit of a Modbus wallbox is A (its current-limit register)" % (FILE, where))
    if ru not in ("A", "W"):
        raise ConfigError("%s: %srate_unit must be A or W (the unit the charger takes charging limits in)" % (
            FILE, where))
    return {"id": cid, "password": pw, "rate_unit": ru, "modbus": mb, "id_tag": tag, "evse": _int(c, "evse", next_evse, 1, 8, where),
            "connectors": _int(c, "connectors", 1, 1, 4, where), "phases": _int(c, "phases", 3, 1, 3, where),
            "voltage": _int(c, "voltage", 230, 100, 1000, where), "id_token_type": tt}


def parse(text):
    d = json_object(text, FILE, KNOWN, ConfigError)
    src = d.get("source", "ocpp16")
    if src != "ocpp16":
        raise ConfigError("%s: source must be \"ocpp16\"" % FILE)
    ch = d.get("chargers")
    if not isinstance(ch, list) or not 1 <= len(ch) <= 16:
        raise ConfigError("%s: chargers must be a list of 1..16 chargers" % FILE)
    chargers = []  # type: list
    used = []  # type: list  # EVSE ids taken
    for i, c in enumerate(ch):
        c = _charger(c, i, (max(used) + 1) if used else 1)
        if c["id"] in [x["id"] for x in chargers]:
            raise ConfigError("%s: charger id %s twice" % (FILE, c["id"]))
        mine = list(range(c["evse"], c["evse"] + c["connectors"]))
        if [e for e in mine if e in used] or mine[-1] > 8:
            raise ConfigError("%s: chargers[%d] EVSEs %d..%d overlap another charger's or pass 8" % (
                FILE, i, mine[0], mine[-1]))
        used.extend(mine)
        chargers.append(c)
    oa = d.get("offline_auth", "cache")
    if oa not in ("cache", "accept", "reject"):
        raise ConfigError("%s: offline_auth must be cache, accept or reject" % FILE)
    host = d.get("host", "0.0.0.0")
    if not isinstance(host, str):
        raise ConfigError("%s: host must be a string" % FILE)
    return {"source": src, "port": _int(d, "port", 9016, 1, 65535, ""), "host": host,
            "heartbeat_s": _int(d, "heartbeat_s", 300, 10, 86400, ""), "chargers": chargers,
            "offline_auth": oa, "auth_wait_ms": _int(d, "auth_wait_ms", 4000, 100, 20000, "")}


def load(fs_root):
    text, why = persist.read_text(fs_root + "/" + FILE)
    if text is None:
        raise ConfigError("%s/%s: %s" % (fs_root, FILE, why))
    return parse(text)


def load_maps(fs_root, cfg):
    # the register map of every Modbus wallbox, by charger index; a bad map is a ConfigError
    from bridge import regmap
    out = {}
    for i, c in enumerate(cfg["chargers"]):
        if c["modbus"] is not None:
            try:
                out[i] = regmap.load(fs_root + "/" + c["modbus"]["map"])
            except regmap.RegMapError as e:
                raise ConfigError("%s: chargers[%d]: %s" % (FILE, i, e))
    return out


def evse_count(cfg):
    # the upstream station's EVSEs: up to the highest EVSE id a charger uses
    return max(c["evse"] + c["connectors"] - 1 for c in cfg["chargers"])
