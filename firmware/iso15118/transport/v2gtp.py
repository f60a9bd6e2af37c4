# V2G Transfer Protocol framing (ISO 15118-2 §7.8.3, ISO 15118-20 §7.8): an 8-byte big-endian header
# (version 0x01, inverse 0xFE, payload type u16, payload length u32) before every message on TCP/TLS
# and in every SDP datagram. Pure codec: no sockets here.
from micropython import const
import struct

VERSION = const(0x01)
INVERSE = const(0xFE)
HEADER_LEN = const(8)

# Payload types. 0x8001 is EXI for DIN 70121 / ISO 15118-2 and the supportedAppProtocol handshake
# ("SAP") for ISO 15118-20, which then switches to the -20 types below.
PT_EXI = const(0x8001)
PT_SAP = const(0x8001)
PT_20_COMMON = const(0x8002)
PT_20_AC = const(0x8003)
PT_20_DC = const(0x8004)
PT_20_ACDP = const(0x8005)
PT_20_WPT = const(0x8006)
PT_SDP_REQ = const(0x9000)
PT_SDP_RES = const(0x9001)
PT_SDP_REQ_WIRELESS = const(0x9002)  # -2 Annex: wireless SDP, recognised but not answered
PT_SDP_RES_WIRELESS = const(0x9003)

PAYLOAD_TYPES = (PT_EXI, PT_20_COMMON, PT_20_AC, PT_20_DC, PT_20_ACDP, PT_20_WPT,
                 PT_SDP_REQ, PT_SDP_RES, PT_SDP_REQ_WIRELESS, PT_SDP_RES_WIRELESS)

# Largest payload we accept. The standards leave it to the implementation; the biggest messages
# (-2 CertificateInstallationRes, -20 schedules with many entries) stay well below 8 KB in EXI, and
# the ISO15118 service has 128 KB in all.
MAX_PAYLOAD = const(8192)

# Error codes (index into FramingErrors.counts).
E_VERSION = const(0)    # version byte not 0x01: stream cannot be trusted -> close
E_INVERSE = const(1)    # inverse byte not 0xFE -> close
E_TYPE = const(2)       # unknown payload type: the message is skipped, the stream goes on
E_OVERSIZE = const(3)   # length > MAX_PAYLOAD: cannot buffer it -> close
E_LENGTH = const(4)     # datagram length disagrees with the header (SDP), or truncated
N_ERRORS = const(5)
ERROR_NAMES = ("version", "inverse", "payload_type", "oversize", "length")

# Fatal errors end a TCP connection: after them the stream has no trustworthy message boundary.
FATAL = (E_VERSION, E_INVERSE, E_OVERSIZE)


class V2GTPError(ValueError):
    def __init__(self, code, detail):
        super().__init__("V2GTP " + ERROR_NAMES[code] + ": " + detail)
        self.code = code


def header(payload_type, length):
    return struct.pack(">BBHI", VERSION, INVERSE, payload_type, length)


def frame(payload_type, payload):
    return header(payload_type, len(payload)) + payload


def parse_header(buf, off=0, max_payload=MAX_PAYLOAD):
    # -> (payload_type, payload_length); raises V2GTPError. buf holds >= 8 bytes from off.
    ver, inv, pt, n = struct.unpack_from(">BBHI", buf, off)
    if ver != VERSION:
        raise V2GTPError(E_VERSION, "0x%02x" % ver)
    if inv != INVERSE:
        raise V2GTPError(E_INVERSE, "0x%02x" % inv)
    if n > max_payload:
        raise V2GTPError(E_OVERSIZE, "%d > %d bytes" % (n, max_payload))
    if pt not in PAYLOAD_TYPES:
        raise V2GTPError(E_TYPE, "0x%04x" % pt)
    return pt, n


def parse_datagram(data, max_payload=MAX_PAYLOAD):
    # One whole V2GTP message in one datagram (SDP) -> (payload_type, payload memoryview).
    if len(data) < HEADER_LEN:
        raise V2GTPError(E_LENGTH, "datagram of %d bytes" % len(data))
    pt, n = parse_header(data, 0, max_payload)
    if len(data) != HEADER_LEN + n:
        raise V2GTPError(E_LENGTH, "header says %d, datagram carries %d" % (n, len(data) - HEADER_LEN))
    return pt, memoryview(data)[HEADER_LEN:]


_RELEASED = bytearray(0)  # a released deframer's buffer
_RELEASED_MV = memoryview(_RELEASED)


class Deframer:
    # Cuts a TCP byte stream into V2GTP messages. Bytes go in with feed() (any split), complete
    # messages come out of next() as (payload_type, payload bytes). A fatal header error raises
    # V2GTPError and poisons the deframer (the connection must close); an unknown payload type is
    # counted and its payload skipped. The buffer is allocated once: no per-message growth.
    # pool (transport/bufpool.py): the buffer comes from it and goes back with release(), so a
    # connection allocates no buffer (the SECC's); without one it is allocated here.
    def __init__(self, max_payload=MAX_PAYLOAD, pool=None):
        self.max_payload = max_payload
        self.pool = pool
        self.buf = pool.take(HEADER_LEN + max_payload) if pool is not None else bytearray(HEADER_LEN + max_payload)
        self.mv = memoryview(self.buf)
        self.fill = 0
        self.skip = 0       # bytes of an unknown-type payload still to drop
        self.dead = False
        self.errors = [0] * N_ERRORS
        self.frames = 0

    def started(self):
        # A message is partly in: its first byte came, its last did not (the slow-sender clock runs).
        return self.fill > 0 or self.skip > 0

    def limit(self, max_payload):
        # A new largest payload, between messages (the SECC after supportedAppProtocol: the
        # negotiated protocol's limit). The buffer grows at most once, to the protocol's size (with a
        # pool: a bigger pool buffer replaces the small one, which goes back).
        if self.started():
            raise ValueError("payload limit changed mid-message")
        if self.buf is _RELEASED:
            return  # its connection was closed: the next read says so (no buffer for a dead stream)
        self.max_payload = max_payload
        n = HEADER_LEN + max_payload
        if n > len(self.buf):
            pool = self.pool
            if pool is not None:
                old = self.buf
                self.buf = pool.take(n)
                pool.give(old)
            else:
                self.buf = bytearray(n)
            self.mv = memoryview(self.buf)

    def release(self):
        # The connection is over: the buffer goes back to the pool (another connection's from now
        # on), and this deframer takes no more bytes.
        buf = self.buf
        if buf is not _RELEASED:
            self.buf = _RELEASED  # space() is empty from now on: a read gives 0 bytes, "peer closed"
            self.mv = _RELEASED_MV
            self.dead = True
            if self.pool is not None:
                self.pool.give(buf)

    def space(self):
        # Writable window for readinto(): at most what completes the current header/message, so a
        # message never starts mid-buffer and no bytes have to be moved.
        if self.skip:
            return self.mv[0:min(self.skip, len(self.buf))]
        if self.fill < HEADER_LEN:
            return self.mv[self.fill:HEADER_LEN]
        n = struct.unpack_from(">I", self.buf, 4)[0]
        return self.mv[self.fill:HEADER_LEN + n]

    def commit(self, n):
        # n bytes were written into space(). Returns (pt, payload) when a message completed, else None.
        if self.dead:
            raise V2GTPError(E_VERSION, "stream already failed")
        if self.skip:
            self.skip -= n
            return None
        self.fill += n
        if self.fill < HEADER_LEN:
            return None
        try:
            pt, ln = parse_header(self.buf, 0, self.max_payload)
        except V2GTPError as e:
            self.errors[e.code] += 1
            if e.code == E_TYPE:
                self.skip = struct.unpack_from(">I", self.buf, 4)[0]
                self.fill = 0
                return None
            self.dead = True
            raise
        if self.fill < HEADER_LEN + ln:
            return None
        self.fill = 0
        self.frames += 1
        return pt, bytes(self.mv[HEADER_LEN:HEADER_LEN + ln])

    def feed(self, data):
        # Convenience for byte strings (tests, capture replay): -> list of complete messages.
        out = []
        i = 0
        while i < len(data):
            w = self.space()
            n = min(len(w), len(data) - i)
            w[0:n] = data[i:i + n]
            i += n
            m = self.commit(n)
            if m is not None:
                out.append(m)
        return out
