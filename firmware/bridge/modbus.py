# Modbus TCP (Modbus Application Protocol V1.1b3 + Modbus Messaging on TCP/IP V1.0b): the MBAP
# frames of the functions a wallbox needs (03 read holding, 04 read input, 16 write multiple
# registers), codec only. Every way a response can be wrong is a ModbusError with its kind, so the
# session counts it and says what it was.
import struct
from micropython import const

FN_READ_HOLDING = const(3)
FN_READ_INPUT = const(4)
FN_WRITE_MULTIPLE = const(16)
MAX_ADU = const(260)  # MBAP 7 + PDU 253
# error kinds (counted by name in the session's status)
KINDS = ("exception", "frame", "mismatch", "timeout", "link")
EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value", 4: "server device failure",
              5: "acknowledge", 6: "server device busy", 10: "gateway path unavailable",
              11: "gateway target failed to respond"}


class ModbusError(Exception):
    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind


def read_request(tid, unit, fn, addr, count):
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, fn, addr, count)


def write_request(tid, unit, addr, regs):
    n = len(regs)
    return struct.pack(">HHHBBHHB", tid, 0, 7 + 2 * n, unit, FN_WRITE_MULTIPLE, addr, n, 2 * n) + \
        struct.pack(">" + "H" * n, *regs)


def frame_length(buf, n):
    # the length of the response frame at buf[0:n] once its MBAP header is in (0: not yet); ModbusError
    # when the header cannot be a Modbus TCP response
    if n < 6:
        return 0
    if buf[2] or buf[3]:
        raise ModbusError("frame", "protocol id %d, not Modbus" % (buf[2] << 8 | buf[3]))
    ln = buf[4] << 8 | buf[5]
    if not 2 <= ln <= MAX_ADU - 6:
        raise ModbusError("frame", "MBAP length %d" % ln)
    return 6 + ln


def parse_response(frame, tid, unit, fn, count):
    # -> the registers read (a list of count ints), or [] for a write; ModbusError otherwise
    rtid, _, ln, runit, rfn = struct.unpack(">HHHBB", frame[:8])
    if rtid != tid:
        raise ModbusError("mismatch", "transaction id %d, expected %d" % (rtid, tid))
    if runit != unit:
        raise ModbusError("mismatch", "unit %d, expected %d" % (runit, unit))
    if rfn == fn | 0x80:
        code = frame[8] if len(frame) > 8 else 0
        raise ModbusError("exception", "exception %d (%s) to function %d" % (
            code, EXCEPTIONS.get(code, "unknown"), fn))
    if rfn != fn:
        raise ModbusError("mismatch", "function %d, expected %d" % (rfn, fn))
    if fn == FN_WRITE_MULTIPLE:
        if len(frame) != 12:
            raise ModbusError("frame", "write response of %d bytes" % len(frame))
        return []
    if len(frame) < 9 or frame[8] != 2 * count or len(frame) != 9 + 2 * count:
        raise ModbusError("frame", "read response with %d data bytes for %d registers" % (
            frame[8] if len(frame) > 8 else -1, count))
    return list(struct.unpack(">" + "H" * count, frame[9:9 + 2 * count]))
