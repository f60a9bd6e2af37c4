# The unix port's CAN-FD bus: python-can's `udp_multicast` interface (IPv6 multicast, one datagram per
# frame), so any python-can tool (`jezgro can monitor`, a test's station controller, `can.logger`)
# shares the bus with the firmware without a vcan kernel module. The wire format is python-can's own
# (can/interfaces/udp_multicast/utils.py): a msgpack map of the can.Message fields
#   timestamp, arbitration_id, is_extended_id, is_remote_frame, is_error_frame, channel, dlc, data,
#   is_fd, bitrate_switch, error_state_indicator
# We send exactly that map, built in a preallocated buffer (the receiver replaces timestamp with its
# arrival time; dlc is the data length, as python-can's FD messages have it), and read any map with
# those keys: msgpack's nil, bool, ints, floats, str and bin, so a frame from another encoder decodes
# too. Anything else is a malformed datagram, counted by the caller, never an exception.
import socket
import struct
from micropython import const

AF_INET6 = const(10)
IPPROTO_IPV6 = const(41)
IPV6_MULTICAST_HOPS = const(18)
IPV6_MULTICAST_LOOP = const(19)
IPV6_JOIN_GROUP = const(20)
SOL_SOCKET = const(1)
SO_REUSEADDR = const(2)
SO_REUSEPORT = const(15)
GROUP = bytes((0xff, 0x15, 0x70, 0x79, 0x74, 0x68, 0x6f, 0x6e, 0x64, 0x65, 0x6d, 0x6f, 0x6d, 0x63, 0x61, 0x73))
PORT = const(43113)  # python-can's default
RX_MAX = const(512)  # a frame's datagram is < 300 bytes
LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)  # the CAN-FD payload lengths

# decoded fields (out array of decode()): id, data length, data offset in the datagram, FD, extended
# id, remote, error frame; NF fields, then three scratch slots for the msgpack reader
F_ID = const(0); F_LEN = const(1); F_DATA = const(2); F_FD = const(3); F_EXT = const(4); F_RTR = const(5)  # noqa: E702
F_ERR = const(6); NF = const(7)  # noqa: E702


def _s(k):
    return bytes((0xA0 | len(k),)) + k  # msgpack fixstr


# The map as pack_message() builds it; ID_AT, DLC_AT and DATA_AT mark the variable parts.
_HEAD = (b"\x8b" + _s(b"timestamp") + b"\xcb" + bytes(8) + _s(b"arbitration_id") + b"\xcd\x00\x00"
         + _s(b"is_extended_id") + b"\xc2" + _s(b"is_remote_frame") + b"\xc2" + _s(b"is_error_frame") + b"\xc2"
         + _s(b"channel") + b"\xc0" + _s(b"is_fd") + b"\xc2" + _s(b"bitrate_switch") + b"\xc2"
         + _s(b"error_state_indicator") + b"\xc2" + _s(b"dlc") + b"\xcc\x00" + _s(b"data") + b"\xc4\x00")
ID_AT = _HEAD.index(b"\xcd\x00\x00") + 1
FD_AT = _HEAD.index(_s(b"is_fd")) + 6
BRS_AT = _HEAD.index(_s(b"bitrate_switch")) + 15
DLC_AT = _HEAD.index(_s(b"dlc")) + 5
DATA_AT = len(_HEAD)

K_ID = b"arbitration_id"
K_DATA = b"data"
K_FD = b"is_fd"
K_EXT = b"is_extended_id"
K_RTR = b"is_remote_frame"
K_ERR = b"is_error_frame"


class Bus:
    def __init__(self, port=PORT, group=GROUP):
        self.addr = struct.pack("@H", AF_INET6) + struct.pack(">HI", port, 0) + group + struct.pack("@I", 0)
        s = socket.socket(AF_INET6, socket.SOCK_DGRAM)
        try:
            s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
            s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)  # python-can's peers bind the same port
            s.bind(struct.pack("@H", AF_INET6) + struct.pack(">HI", port, 0) + bytes(16) + struct.pack("@I", 0))
            s.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP, group + struct.pack("@I", 0))
            s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1)
            s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1)  # the other processes on this host
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.tx = bytearray(DATA_AT + 64)
        self.tx[0:DATA_AT] = _HEAD
        mv = memoryview(self.tx)
        self.views = [mv[:DATA_AT + n] for n in range(65)]  # one view per length: sending allocates none

    def close(self):
        self.sock.close()

    def send(self, can_id, data, n, fd):
        encode(self.tx, can_id, data, n, fd)
        self.sock.sendto(self.views[n], self.addr)

    def recv(self, out):
        # -> the datagram with out[] filled, None when nothing waits, or False when it is
        # not a python-can frame (malformed)
        # recv(), not readinto(): the stream readinto of the unix port keeps reading datagrams into
        # the buffer until it is full, gluing frames together. recv() allocates the datagram: the
        # simulation's transport only (the board's pyb.CAN.recv fills a preallocated buffer).
        try:
            d = self.sock.recv(RX_MAX)
        except OSError:
            return None
        if not d:
            return None
        return d if decode(d, len(d), out) else False


def encode(t, can_id, data, n, fd):
    # the datagram of one frame into t (a copy of _HEAD's layout) -> its length
    t[ID_AT] = (can_id >> 8) & 0xFF
    t[ID_AT + 1] = can_id & 0xFF
    t[FD_AT] = 0xC3 if fd else 0xC2
    t[BRS_AT] = 0xC3 if fd else 0xC2  # FD frames switch to the data bit rate
    t[DLC_AT] = n
    t[DATA_AT - 1] = n
    i = 0
    while i < n:
        t[DATA_AT + i] = data[i]
        i += 1
    return DATA_AT + n


def _eq(buf, at, n, key):
    if n != len(key):
        return False
    i = 0
    while i < n:
        if buf[at + i] != key[i]:
            return False
        i += 1
    return True


def _value(b, i, end, out):
    # one msgpack value at i -> (next index) with its int value in out[NF] and, for bin/str, its
    # offset in out[NF + 1] and length in out[NF + 2]; -1 when not understood
    if i >= end:
        return -1
    c = b[i]
    out[NF + 1] = -1
    if c <= 0x7F:
        out[NF] = c
        return i + 1
    if c >= 0xE0:
        out[NF] = c - 256
        return i + 1
    if c == 0xC0 or c == 0xC2:
        out[NF] = 0
        return i + 1
    if c == 0xC3:
        out[NF] = 1
        return i + 1
    if 0xA0 <= c <= 0xBF:
        out[NF + 1] = i + 1
        out[NF + 2] = c & 31
        return i + 1 + (c & 31)
    if c == 0xC4 or c == 0xD9:  # bin8, str8
        if i + 1 >= end:
            return -1
        out[NF + 1] = i + 2
        out[NF + 2] = b[i + 1]
        return i + 2 + b[i + 1]
    if c == 0xCC or c == 0xD0:
        if i + 1 >= end:
            return -1
        out[NF] = b[i + 1] if c == 0xCC else (b[i + 1] ^ 0x80) - 0x80
        return i + 2
    if c == 0xCD:
        if i + 2 >= end:
            return -1
        out[NF] = (b[i + 1] << 8) | b[i + 2]
        return i + 3
    if c == 0xCE:  # uint32: CAN ids are < 2^29
        if i + 4 >= end or b[i + 1] > 0x1F:
            return -1
        out[NF] = (b[i + 1] << 24) | (b[i + 2] << 16) | (b[i + 3] << 8) | b[i + 4]
        return i + 5
    if c == 0xCA:
        return i + 5  # float32, float64: a timestamp, not needed
    if c == 0xCB:
        return i + 9
    return -1


def decode(b, end, out):
    # python-can's msgpack map in b[0:end] -> True with out[F_*] filled, or False
    if end < 1:
        return False
    c = b[0]
    if 0x80 <= c <= 0x8F:
        n = c & 15
        i = 1
    elif c == 0xDE and end >= 3:
        n = (b[1] << 8) | b[2]
        i = 3
    else:
        return False
    out[F_ID] = -1
    out[F_LEN] = -1
    out[F_FD] = 0
    out[F_EXT] = 0
    out[F_RTR] = 0
    out[F_ERR] = 0
    while n > 0:
        i = _value(b, i, end, out)
        ko = out[NF + 1]
        kn = out[NF + 2]
        if i < 0 or ko < 0:
            return False
        i = _value(b, i, end, out)
        if i < 0 or i > end:
            return False
        v = out[NF]
        if _eq(b, ko, kn, K_ID):
            out[F_ID] = v
        elif _eq(b, ko, kn, K_DATA):
            if out[NF + 1] < 0:
                return False
            out[F_DATA] = out[NF + 1]
            out[F_LEN] = out[NF + 2]
        elif _eq(b, ko, kn, K_FD):
            out[F_FD] = v
        elif _eq(b, ko, kn, K_EXT):
            out[F_EXT] = v
        elif _eq(b, ko, kn, K_RTR):
            out[F_RTR] = v
        elif _eq(b, ko, kn, K_ERR):
            out[F_ERR] = v
        n -= 1
    return out[F_ID] >= 0 and out[F_LEN] >= 0
