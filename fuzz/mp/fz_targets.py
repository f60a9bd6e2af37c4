# The fuzz targets: each decoder that takes bytes from outside, called the way its service calls it,
# with the errors it documents. one(data) -> None (accepted) or a rejection kind (decoders that answer
# with a code instead of raising); a documented error raises one of `errors`. fix(data), when set, makes
# a mutated input pass the cheap outer check (a CRC, a length field) half of the time, so that the
# mutations reach the checks behind it.
import json
import os

FS = os.getenv("JEZGRO_FUZZ_FS") or "/tmp/jezgro-fuzz-fs"


def _text(data):
    # the str the firmware makes of received bytes, None where it refuses them (not UTF-8)
    try:
        return data.decode()
    except UnicodeError:
        return None


class Target:
    def __init__(self, one, errors, kinds=None, fix=None, is_json=False):
        self.one = one
        self.errors = errors
        self.kinds = kinds
        self.fix = fix
        self.is_json = is_json


def _exi(schema):
    from exi import codec, schemas
    g = schemas.grammar(schema)

    def one(data):
        codec.decode(g, data)
    return Target(one, (codec.EXIError,))


def _v2gtp():
    from iso15118.transport import v2gtp
    import struct

    def one(data):
        # the TCP stream as the SECC reads it (SDP covers the datagram parser): whole messages, or what is
        # still missing at the end of the input
        d = v2gtp.Deframer(2048)
        d.feed(data)
        if d.started():
            return "incomplete message"

    def kinds(e):
        return "V2GTPError: " + v2gtp.ERROR_NAMES[e.code]

    def fix(b):
        if len(b) >= 8:
            struct.pack_into(">I", b, 4, len(b) - 8)
    return Target(one, (v2gtp.V2GTPError,), kinds, fix)


def _sdp():
    from iso15118.transport import sdp, v2gtp
    import struct

    def one(data):
        if len(data) > 3 and data[2] == 0x90 and data[3] & 1:
            sdp.decode_res(data)
        else:
            sdp.decode_req(data)

    def fix(b):
        if len(b) >= 8:
            struct.pack_into(">I", b, 4, len(b) - 8)
    def kinds(e):
        return "V2GTPError: " + v2gtp.ERROR_NAMES[e.code] if isinstance(e, v2gtp.V2GTPError) else "SdpError: " + str(e)
    return Target(one, (sdp.SdpError, v2gtp.V2GTPError), kinds, fix)


def _ws(from_client):
    from net import wsframe

    def one(data):
        # the frames of a buffer as the client (from_client False) or server reads them
        buf = bytearray(data)
        n = len(buf)
        while n:
            h = wsframe.parse_header(buf, n, 4096, from_client)
            if h is None or h[0] + h[3] > n:
                return "incomplete"
            key = bytes(buf[h[0] - 4:h[0]]) if from_client else None
            payload, n = wsframe.take(buf, n, h, key)
            if h[2] == wsframe.OP_TEXT and _text(payload) is None:
                return "not UTF-8"

    def kinds(e):
        return "FrameError %d: %s" % (e.code, str(e).split(" ")[0])
    return Target(one, (wsframe.FrameError,), kinds)


def _rpc():
    from ocpp import rpc

    def one(data):
        text = _text(data)
        if text is None:
            return "not UTF-8 (closed 1007 by net/ws.py)"
        rpc.parse(text)

    def kinds(e):
        return "RpcError " + e.code
    return Target(one, (rpc.RpcError,), kinds, None, True)


def _can():
    from canbus import station, codec, tables as T
    link = station.Link()
    names = {station.E_LENGTH: "length", station.E_CRC: "crc", station.E_STALE: "stale",
             station.E_COUNTER: "counter", station.E_VALUE: "value"}
    now = [0]

    def add(t, d):
        return t + d

    def one(data):
        now[0] += 10
        r = link.command(data, len(data), now[0], add)
        link.expire(now[0], lambda a, b: a - b)
        return None if r >= 0 else names[r]

    import array
    v = array.array("i", bytes(4 * (len(T.STATION_CMD_SIGS) // 3)))

    def fix(b):
        # the next rolling counter and a good CRC: the value checks behind them are reached
        if len(b) == T.STATION_CMD_LEN:
            codec.unpack(b, T.STATION_CMD_SIGS, v)
            v[T.STATION_CMD_COUNTER] = (link.last_counter + 1) & 15
            codec.pack(b, T.STATION_CMD_SIGS, v)
            b[15] = codec.crc8(T.STATION_CMD, b, 15)
    return Target(one, (), None, fix)


def _slac():
    from slac import mme as m
    rx = m.Rx()
    buf = bytearray(m.MAX_FRAME + 64)
    averaged = {m.CM_ATTEN_CHAR | m.IND: (m.AC_AAG, m.AC_GROUPS), m.CM_ATTEN_PROFILE | m.IND: (m.AP_AAG, m.AP_GROUPS)}

    def one(data):
        n = len(data)
        if n > len(buf):
            n = len(buf)
        buf[:n] = data[:n]
        t = m.parse(rx, buf, n)
        if t < 0:
            return m.ERROR_NAMES[-1 - t]
        # what the state machines read from an accepted frame: its fields, the averaged attenuation
        for o in (0, 1, 2, 6, 19, 50, 51, 60):
            if rx.body + o < n:
                rx.u8(o)
        avg = averaged.get(t)
        if avg is not None:
            m.average(rx, avg[0], rx.u8(avg[1]))
    return Target(one, ())


def _modbus():
    from bridge import modbus

    def one(data):
        n = modbus.frame_length(data, len(data))
        if n == 0 or n > len(data):
            return "incomplete"
        frame = data[:n]
        # what the wallbox asked: the same transaction and unit; the function and count of the request
        fn = frame[7] & 0x7F if n > 7 else 3
        count = frame[8] >> 1 if n > 8 and fn != modbus.FN_WRITE_MULTIPLE else 0
        modbus.parse_response(frame, frame[0] << 8 | frame[1], frame[6], fn, count or 1)

    def kinds(e):
        return "ModbusError " + e.kind

    def fix(b):
        if len(b) >= 6:
            ln = len(b) - 6
            b[4] = ln >> 8 & 0xFF
            b[5] = ln & 0xFF
    return Target(one, (modbus.ModbusError,), kinds, fix)


def _config(module, error_names, load_name="load"):
    # the loader behind ctx.configure, reading the file from a filesystem root like the service does
    mod = __import__(module, None, None, [load_name])
    load = getattr(mod, load_name)
    errors = tuple(getattr(mod, n) for n in error_names)
    try:
        os.mkdir(FS)
    except OSError:
        pass
    path = FS + "/" + mod.FILE

    def one(data):
        with open(path, "wb") as f:
            f.write(data)
        load(FS)
    return Target(one, errors, None, None, True)


def _regmap():
    from bridge import regmap

    def one(data):
        text = _text(data)
        if text is None:
            return "not UTF-8"
        regmap.parse(text, "map.json")
    return Target(one, (regmap.RegMapError,), None, None, True)


TARGETS = {
    "exi-sap": lambda: _exi("handshake"),
    "exi-din": lambda: _exi("din"),
    "exi-iso2": lambda: _exi("iso2"),
    "exi-iso20-common": lambda: _exi("iso20-common"),
    "exi-iso20-ac": lambda: _exi("iso20-ac"),
    "exi-iso20-dc": lambda: _exi("iso20-dc"),
    "v2gtp": _v2gtp,
    "sdp": _sdp,
    "ws-client": lambda: _ws(False),
    "ws-server": lambda: _ws(True),
    "ocpp-rpc": _rpc,
    "ocpp16-rpc": _rpc,
    "slac-mme": _slac,
    "can-station": _can,
    "modbus": _modbus,
    "config-ocpp": lambda: _config("ocpp.config", ("ConfigError",)),
    "config-bridge": lambda: _config("bridge.config", ("ConfigError",)),
    "config-regmap": _regmap,
    "config-grid": lambda: _config("grid.grid_config", ("ConfigError",)),
    "config-iso15118": lambda: _config("iso15118.secc.service_config", ("ConfigError",)),
    "config-slac": lambda: _config("slac.service_config", ("ConfigError",)),
    "config-net": lambda: _config("services.ethernet", ("ConfigError",)),
}


def make(name):
    f = TARGETS.get(name)
    if f is None:
        raise ValueError("unknown target " + name)
    return f()


def names():
    print(json.dumps(sorted(TARGETS)))
