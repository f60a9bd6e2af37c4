# RFC 6455 framing, codec only (no I/O): client frames are masked (§5.3),
# server frames must not be. The masking XOR runs over every payload byte,
# so it is a viper loop over 32-bit words.
import micropython
import os
from micropython import const

OP_CONT = const(0)
OP_TEXT = const(1)
OP_BIN = const(2)
OP_CLOSE = const(8)
OP_PING = const(9)
OP_PONG = const(10)


class FrameError(Exception):
    # A protocol violation by the peer: the close code to send with it.
    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


@micropython.viper
def mask(buf, off: int, n: int, key):
    # XOR buf[off:off+n] with the 4-byte key in place (the key restarts at off).
    # Bytes up to a word boundary one by one, then 32-bit words with the key
    # rotated to that boundary, then the tail. Relies on the GC heap handing
    # out word-aligned bytearray storage and on a little-endian CPU (x86, ARM).
    p = ptr8(buf)
    k = ptr8(key)
    i = 0
    while i < n and ((off + i) & 3) != 0:
        p[off + i] = p[off + i] ^ k[i & 3]
        i += 1
    if n - i >= 4:
        kw = k[i & 3] | (k[(i + 1) & 3] << 8) | (k[(i + 2) & 3] << 16) | (k[(i + 3) & 3] << 24)
        w = ptr32(buf)
        j = (off + i) >> 2
        end = (off + n) >> 2
        while j < end:
            w[j] = w[j] ^ kw
            j += 1
        i = (end << 2) - off
    while i < n:
        p[off + i] = p[off + i] ^ k[i & 3]
        i += 1


def encode(op, payload, fin=True, masked=True):
    # One frame as a new bytearray: header, key, masked payload (a client's); masked=False: a
    # server's frame, header and payload as is (RFC 6455 §5.1).
    n = len(payload)
    if n < 126:
        hl = 2
    elif n < 65536:
        hl = 4
    else:
        hl = 10
    kl = 4 if masked else 0
    f = bytearray(hl + kl + n)
    f[0] = (0x80 if fin else 0) | op
    if hl == 2:
        f[1] = 0x80 | n
    elif hl == 4:
        f[1] = 0x80 | 126
        f[2] = n >> 8
        f[3] = n & 0xFF
    else:
        f[1] = 0x80 | 127
        for i in range(8):
            f[2 + i] = (n >> (8 * (7 - i))) & 0xFF
    if not masked:
        f[1] &= 0x7F
        f[hl:] = payload
        return f
    key = os.urandom(4)
    f[hl:hl + 4] = key
    f[hl + 4:] = payload
    mask(f, hl + 4, n, key)
    return f


def parse_header(buf, avail, max_payload, from_client=False):
    # (header_len, fin, op, payload_len) of the frame at buf[0:], or None when
    # more bytes are needed. Raises FrameError on violations. from_client: a
    # server reading a client's frames, which must be masked; header_len then
    # includes the 4-byte key (at buf[header_len - 4:header_len]).
    if avail < 2:
        return None
    b0 = buf[0]
    b1 = buf[1]
    if b0 & 0x70:
        raise FrameError(1002, "reserved bits set")
    op = b0 & 0x0F
    if op not in (OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG):
        raise FrameError(1002, "unknown opcode %d" % op)
    if bool(b1 & 0x80) != from_client:
        raise FrameError(1002, "unmasked frame from client" if from_client else "masked frame from server")
    n = b1 & 0x7F
    hl = 2
    if n == 126:
        if avail < 4:
            return None
        n = (buf[2] << 8) | buf[3]
        hl = 4
    elif n == 127:
        if avail < 10:
            return None
        if buf[2] or buf[3] or buf[4] or buf[5]:
            raise FrameError(1009, "frame too large")
        n = (buf[6] << 24) | (buf[7] << 16) | (buf[8] << 8) | buf[9]
        hl = 10
    if from_client:
        hl += 4
        if avail < hl:
            return None
    fin = bool(b0 & 0x80)
    if op >= OP_CLOSE and (n > 125 or not fin):
        raise FrameError(1002, "bad control frame")
    if n > max_payload:
        raise FrameError(1009, "frame of %d bytes over the %d limit" % (n, max_payload))
    return hl, fin, op, n


def take(buf, n, h, key=None):
    # The payload of the complete frame h (parse_header's tuple) at buf[0:n], unmasked in place with
    # key when given, moved out of buf -> (payload bytes, bytes left in buf).
    hl = h[0]
    ln = h[3]
    if key is not None:
        mask(buf, hl, ln, key)
    payload = bytes(buf[hl:hl + ln])
    rest = n - hl - ln
    buf[:rest] = buf[hl + ln:n]
    return payload, rest
