# Session capture to pcapng (the format Wireshark/tshark open): one Section Header Block, one
# Interface Description Block with LINKTYPE_RAW (packets start with an IPv6 header: we see socket
# data, not Ethernet frames, and invent no MAC addresses), and one Enhanced Packet Block per datagram
# or TCP segment, with the IPv6/UDP/TCP headers synthesized from what the socket layer knows
# (addresses, ports, direction, bytes). TCP gets a synthesized handshake, consistent sequence numbers
# and a FIN exchange, so Wireshark follows and reassembles the stream; checksums are real.
# Blocks go to the file as they happen: a crash leaves a readable capture up to the last packet.
from micropython import const
import micropython
import struct
import time

LINKTYPE_RAW = const(101)
BT_SHB = const(0x0A0D0D0A)
BT_IDB = const(0x00000001)
BT_EPB = const(0x00000006)
BYTE_ORDER_MAGIC = const(0x1A2B3C4D)
NH_TCP = const(6)
NH_UDP = const(17)
HOP_LIMIT = const(255)  # link-local traffic as sent: ISO 15118 peers use hop limit 255 / 1 (SDP)
TCP_WINDOW = const(65535)
F_FIN = const(0x01)
F_SYN = const(0x02)
F_PSH = const(0x08)
F_ACK = const(0x10)


def _opt(code, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("<HH", code, len(value)) + value + bytes(pad)


def _block(btype, body):
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


@micropython.viper
def _sum16(buf, n: int, s: int) -> int:
    # Ones-complement sum of big-endian 16-bit words, folded every step so it stays in 17 bits
    # (a small int on every port). Viper: the pure-Python loop cost ~150 us per 128-byte segment.
    p = ptr8(buf)
    i = 0
    while i < n - 1:
        s += (p[i] << 8) | p[i + 1]
        s = (s & 0xFFFF) + (s >> 16)
        i += 2
    if n & 1:
        s += p[n - 1] << 8
        s = (s & 0xFFFF) + (s >> 16)
    return s


def checksum(pseudo, data):
    # Internet checksum (RFC 1071) over the IPv6 pseudo header and the upper-layer packet.
    s = _sum16(data, len(data), _sum16(pseudo, len(pseudo), 0))
    r = ~s & 0xFFFF
    return r if r else 0xFFFF


def ipv6_packet(src, dst, nh, upper):
    # upper: the UDP/TCP header + payload with a zero checksum field; it is filled in here.
    pseudo = bytes(src) + bytes(dst) + struct.pack(">IxxxB", len(upper), nh)
    off = 6 if nh == NH_UDP else 16
    c = checksum(pseudo, upper)
    upper[off] = c >> 8
    upper[off + 1] = c & 0xFF
    return struct.pack(">IHBB", 0x60000000, len(upper), nh, HOP_LIMIT) + bytes(src) + bytes(dst) + upper


def now_us():
    # Wall-clock microseconds since 1970 where the port has it (unix); else the uptime.
    f = getattr(time, "time_ns", None)
    if f is not None:
        return f() // 1000
    return time.ticks_us()


class Capture:
    # path: file to (over)write. iface: name recorded in the IDB (Wireshark shows it).
    def __init__(self, path, iface="", clock=now_us):
        self.f = open(path, "wb")
        self.clock = clock
        self.packets = 0
        self.bytes = 0
        shb = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + \
            _opt(4, b"JEZGRO-GW iso15118 transport") + _opt(0, b"")
        self.f.write(_block(BT_SHB, shb))
        opts = b""
        if iface:
            opts += _opt(2, iface.encode())
        opts += _opt(9, b"\x06") + _opt(0, b"")  # if_tsresol 10^-6
        self.f.write(_block(BT_IDB, struct.pack("<HHI", LINKTYPE_RAW, 0, 0) + opts))

    def packet(self, pkt):
        t = self.clock()
        pad = (4 - len(pkt) % 4) % 4
        body = struct.pack("<IIIII", 0, (t >> 32) & 0xFFFFFFFF, t & 0xFFFFFFFF, len(pkt), len(pkt)) + \
            pkt + bytes(pad)
        self.f.write(_block(BT_EPB, body))
        self.packets += 1
        self.bytes += len(pkt)

    def udp(self, src, sport, dst, dport, data):
        u = bytearray(struct.pack(">HHHH", sport, dport, 8 + len(data), 0))
        u.extend(data)
        self.packet(ipv6_packet(src, dst, NH_UDP, u))

    def tap(self):
        # One per connection (or per SDP endpoint): what V2gStream and the SDP endpoints call.
        return Tap(self)

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()


class Tap:
    def __init__(self, cap):
        self.cap = cap
        self.conn: list = []  # [local, lport, remote, rport, local_seq, remote_seq] while open

    def udp(self, src, sport, dst, dport, data):
        self.cap.udp(src, sport, dst, dport, data)

    def _seg(self, outgoing, flags, data=b""):
        c = self.conn
        if outgoing:
            src, sp, dst, dp, seq, ack = c[0], c[1], c[2], c[3], c[4], c[5]
        else:
            src, sp, dst, dp, seq, ack = c[2], c[3], c[0], c[1], c[5], c[4]
        t = bytearray(struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF,
                                  (ack & 0xFFFFFFFF) if flags & F_ACK else 0,
                                  5 << 4, flags, TCP_WINDOW, 0, 0))
        t.extend(data)
        self.cap.packet(ipv6_packet(src, dst, NH_TCP, t))
        n = len(data) + (1 if flags & (F_SYN | F_FIN) else 0)
        c[4 if outgoing else 5] += n

    def tcp_open(self, local, lport, remote, rport, client):
        self.conn = [bytes(local), lport, bytes(remote), rport, 0x1000, 0x8000]
        self._seg(client, F_SYN)
        self._seg(not client, F_SYN | F_ACK)
        self._seg(client, F_ACK)

    def tcp_data(self, outgoing, data):
        if self.conn and len(data):
            self._seg(outgoing, F_PSH | F_ACK, bytes(data))

    def tcp_close(self):
        if self.conn:
            self._seg(True, F_FIN | F_ACK)
            self._seg(False, F_FIN | F_ACK)
            self._seg(True, F_ACK)
            self.conn = []
            self.cap.flush()
