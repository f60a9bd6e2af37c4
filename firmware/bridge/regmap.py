# A wallbox's register map (bridge.json "modbus": {"map": "<file>"}): which registers hold the
# charging state, the energy register, the current limit and an error word, with their function,
# type, scaling and word order. One JSON file per wallbox model, with the document it comes from
# (firmware/bridge/maps/: Alfen NG9xx, Phoenix Contact EV Charge Control Basic). Loading checks
# everything; a bad map is a RegMapError naming the file and the field.
import struct
from jezgro import persist

TYPES = {"u16": 1, "s16": 1, "u32": 2, "s32": 2, "f32": 2, "f64": 4}  # type -> registers (ascii: "count")
POINTS = ("state", "energy_wh", "current_limit_a", "error")
REQUIRED = ("state", "current_limit_a")
# what a wallbox state means to the bridge (the map says which raw value is which):
#   A no vehicle, B vehicle connected not charging, X vehicle waits for the EVSE (IEC 61851 C1/D1:
#   no PWM), C charging, F error / not available
STATES = ("A", "B", "X", "C", "F")


class RegMapError(Exception):
    pass


def _point(name, p, where):
    if not isinstance(p, dict):
        raise RegMapError("%s: %s must be an object" % (where, name))
    fn = p.get("fn", 3)
    if fn not in (3, 4):
        raise RegMapError("%s: %s.fn must be 3 (holding) or 4 (input)" % (where, name))
    addr = p.get("addr")
    if not isinstance(addr, int) or isinstance(addr, bool) or not 0 <= addr <= 65535:
        raise RegMapError("%s: %s.addr must be 0..65535" % (where, name))
    typ = p.get("type", "u16")
    if typ == "ascii":
        count = p.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 16:
            raise RegMapError("%s: %s.count must be 1..16" % (where, name))
    elif typ in TYPES:
        count = TYPES[typ]
    else:
        raise RegMapError("%s: %s.type must be one of u16 s16 u32 s32 f32 f64 ascii" % (where, name))
    scale = p.get("scale", 1)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale == 0:
        raise RegMapError("%s: %s.scale must be a non-zero number" % (where, name))
    out = {"fn": fn, "addr": addr, "type": typ, "count": count, "scale": scale}
    if name == "state":
        st = p.get("states")
        if not isinstance(st, dict) or not st or [v for v in st.values() if v not in STATES]:
            raise RegMapError("%s: state.states must map raw values to %s" % (where, "/".join(STATES)))
        out["states"] = st
    if name == "current_limit_a":
        if fn != 3:
            raise RegMapError("%s: current_limit_a must be a holding register (written with function 16)" % where)
        for k, d in (("min", 0), ("max", 32), ("default", 16)):
            v = p.get(k, d)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 80:
                raise RegMapError("%s: current_limit_a.%s must be 0..80 A" % (where, k))
            out[k] = v
    return out


def parse(text, where):
    d, why = persist.parse_json(text)
    if d is None or not isinstance(d, dict):
        raise RegMapError("%s: %s" % (where, why or "must be a JSON object"))
    for k in ("name", "source"):
        if not isinstance(d.get(k), str) or not d[k]:
            raise RegMapError("%s: \"%s\" is required (the model and the document the map comes from)" % (where, k))
    unit = d.get("unit_id", 1)
    if not isinstance(unit, int) or not 0 <= unit <= 255:
        raise RegMapError("%s: unit_id must be 0..255" % where)
    wo = d.get("word_order", "big")
    if wo not in ("big", "little"):
        raise RegMapError("%s: word_order must be big (high word first) or little" % where)
    pts = d.get("points")
    if not isinstance(pts, dict):
        raise RegMapError("%s: points must be an object" % where)
    for k in pts:
        if k not in POINTS:
            raise RegMapError("%s: unknown point \"%s\"" % (where, k))
    for k in REQUIRED:
        if k not in pts:
            raise RegMapError("%s: point \"%s\" is required" % (where, k))
    return {"name": d["name"], "source": d["source"], "unit_id": unit, "word_order": wo,
            "points": dict((k, _point(k, v, where)) for k, v in pts.items())}


def load(path):
    text, why = persist.read_text(path)
    if text is None:
        raise RegMapError("%s: %s" % (path, why))
    return parse(text, path)


def decode(regs, p, word_order):
    # registers -> the value of point p (ascii: the text without padding; numbers: scaled)
    typ = p["type"]
    if typ == "ascii":
        b = bytearray()
        for r in regs:
            b.append(r >> 8)
            b.append(r & 0xFF)
        return bytes(b).split(b"\x00")[0].decode().strip()
    if word_order == "little":
        regs = list(reversed(regs))
    raw = struct.pack(">" + "H" * len(regs), *regs)
    v = struct.unpack(">" + {"u16": "H", "s16": "h", "u32": "I", "s32": "i", "f32": "f", "f64": "d"}[typ], raw)[0]
    return v * p["scale"]


def encode(value, p, word_order):
    # a value in the point's unit -> its registers
    typ = p["type"]
    v = value / p["scale"]
    fmt = {"u16": "H", "s16": "h", "u32": "I", "s32": "i", "f32": "f", "f64": "d"}[typ]
    raw = struct.pack(">" + fmt, v if typ in ("f32", "f64") else int(v))
    regs = list(struct.unpack(">" + "H" * (len(raw) // 2), raw))
    return list(reversed(regs)) if word_order == "little" else regs
