# The PLC link of the unix board: HomePlug frames over a raw AF_PACKET socket (EtherType 0x88E1) on a
# veth pair or the loopback device, and the parts of a Green PHY modem that a wire without a modem
# lacks (SimModem): it answers the host's CM_SET_KEY.REQ and vendor requests addressed to the modem
# MAC, and, for an EVSE, turns each CM_MNBC_SOUND.IND it hears into the CM_ATTEN_PROFILE.IND a real
# modem would measure, with the attenuation the simulated cable gives that EV (ATTEN by MAC; an EV
# not in the table is not heard, like a car out of reach). Without CAP_NET_RAW (not root) the socket
# cannot be opened: open() raises OSError with the reason, and the simulation uses MemLink instead.
from micropython import const
import socket
import struct
from iso15118.transport.netif import _ifindex

AF_PACKET = const(17)
SOCK_RAW = const(3)
ETH_P_HPAV = const(0x88E1)
MODEM_MAC = b"\x00\xb0\x52\x00\x00\x01"   # the QCA default address of a modem's host interface
QUEUE = const(24)


def _htons(x):
    return ((x & 0xFF) << 8) | (x >> 8)


def iface_mac(name):
    try:
        with open("/sys/class/net/" + name + "/address") as f:
            return bytes(int(x, 16) for x in f.read().strip().split(":"))
    except (OSError, ValueError):
        raise OSError("no MAC address for " + name)


def parse_mac(text):
    b = bytes(int(x, 16) for x in text.split(":"))
    if len(b) != 6:
        raise ValueError("bad MAC " + text)
    return b


class SimModem:
    # The modem side of the host interface, for wires without one. pending: frames "from the modem"
    # waiting to be received (preallocated ring of frame buffers).
    def __init__(self, host_mac, atten, profiles):
        from slac import mme
        self.m = mme
        self.host_mac = host_mac
        self.atten = atten            # {mac bytes: dB}
        self.profiles = profiles      # EVSE side: measure the sounds
        self.ring = [bytearray(mme.MAX_FRAME) for _ in range(4)]
        self.lens = [0] * 4
        self.head = 0
        self.count = 0
        self.nid = None
        self.keys_set = 0
        self.rx = mme.Rx()

    def nid_hex(self):
        return "".join(["%02x" % x for x in self.nid]) if self.nid is not None else None

    def _queue(self):
        if self.count == 4:
            return None
        i = (self.head + self.count) % 4
        self.count += 1
        return i

    def from_host(self, buf, n):
        # a frame the host sends to the modem's MAC: -> True when the modem consumed it
        m = self.m
        for i in range(6):
            if buf[i] != MODEM_MAC[i]:
                return False
        t = m.parse(self.rx, buf, n)
        i = self._queue()
        if i is None:
            return True
        if t == m.CM_SET_KEY | m.REQ:
            self.nid = bytes(buf[m.BODY1 + m.SK_NID:m.BODY1 + m.SK_NID + 7])
            self.keys_set += 1
            self.lens[i] = m.build_set_key_cnf(self.ring[i], MODEM_MAC, self.host_mac, 0,
                                               bytes(buf[m.BODY1 + 1:m.BODY1 + 5]))
        else:
            self.count -= 1
        return True

    def heard(self, buf, n):
        # a frame from the wire; an EVSE's modem reports the sound it measured after it
        if not self.profiles or n < 17 or buf[15] != 0x76 or buf[16] != 0x60:  # CM_MNBC_SOUND.IND
            return
        db = self.atten.get(bytes(buf[6:12]))
        if db is None:
            return
        i = self._queue()
        if i is None:
            return
        aag = bytes(db + (g % 3) - 1 for g in range(self.m.GROUPS))   # a little ripple over the groups
        self.lens[i] = self.m.build_atten_profile(self.ring[i], MODEM_MAC, self.host_mac, buf[6:12], aag)

    def pop(self, buf):
        if not self.count:
            return 0
        i = self.head
        n = self.lens[i]
        buf[:n] = self.ring[i][:n]
        self.head = (i + 1) % 4
        self.count -= 1
        return n


class RawLink:
    # One host interface of a PLC modem: raw HomePlug frames on a Linux interface.
    def __init__(self, iface, mac=None, atten=None, profiles=False, pcap=None):
        self.iface = iface
        idx = _ifindex(iface)
        try:
            s = socket.socket(AF_PACKET, SOCK_RAW, _htons(ETH_P_HPAV))
        except OSError as e:
            raise OSError("raw Ethernet socket refused (%s): SLAC on %s needs root or CAP_NET_RAW" % (e, iface))
        try:
            # struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]
            s.bind(struct.pack("<H", AF_PACKET) + struct.pack(">H", ETH_P_HPAV) + struct.pack("<i", idx)
                   + bytes(12))
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self.sock = s
        import select
        self.poller = select.poll()
        self.poller.register(s, select.POLLIN)
        self.mac = mac if mac is not None else iface_mac(iface)
        self.modem = SimModem(self.mac, atten or {}, profiles)
        self.pcap = pcap
        self.sent = 0
        self.received = 0
        self.send_errors = 0
        self._own = 0

    def send(self, buf, n):
        if self.pcap is not None:
            self.pcap.frame(buf, n)
        if self.modem.from_host(buf, n):
            return True
        try:
            self.sock.send(memoryview(buf)[:n])
            self.sent += 1
            return True
        except OSError:
            self.send_errors += 1
            return False

    def recv(self, buf):
        # one frame into buf: -> its length, 0 when none waits. Our own frames (the loopback device
        # returns them) are skipped.
        n = self.modem.pop(buf)
        if n:
            if self.pcap is not None:
                self.pcap.frame(buf, n)
            return n
        while True:
            # nothing waiting: no recv (its EAGAIN would allocate an exception every poll); ipoll
            # allocates nothing
            ready = False
            for _ in self.poller.ipoll(0):
                ready = True
            if not ready:
                return 0
            # recv, not readinto: the unix port's stream readinto keeps reading until the buffer is
            # full and would glue several frames into one. recv allocates the frame's bytes (this
            # port only; the codec after it allocates nothing).
            try:
                d = self.sock.recv(1518)
            except OSError:
                return 0
            if not d:
                return 0
            n = len(d)
            if n > len(buf):
                n = len(buf)
            buf[:n] = d[:n] if n < len(d) else d
            mine = True
            for i in range(6):
                if buf[6 + i] != self.mac[i]:
                    mine = False
                    break
            if mine:
                self._own += 1
                continue
            self.received += 1
            if self.pcap is not None:
                self.pcap.frame(buf, n)
            self.modem.heard(buf, n)
            return n

    def close(self):
        self.sock.close()

    def stats(self):
        return {"iface": self.iface, "sent": self.sent, "received": self.received,
                "send_errors": self.send_errors, "modem_keys": self.modem.keys_set, "modem_nid": self.modem.nid_hex()}


class Pcap:
    # classic pcap, Ethernet link type: every frame sent and received (tshark reads it)
    def __init__(self, path, clock_us):
        self.f = open(path, "wb")
        self.clock_us = clock_us
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def frame(self, buf, n):
        t = self.clock_us()
        self.f.write(struct.pack("<IIII", t // 1000000, t % 1000000, n, n))
        self.f.write(memoryview(buf)[:n])
        self.f.flush()

    def close(self):
        self.f.close()


class _Wire:
    # an in-process segment: every MemLink on it hears every other one's frames
    def __init__(self):
        self.links = []


_WIRES = {}   # type: dict
FALLBACK = {"reason": None}


class MemLink:
    # Same interface as RawLink without a socket (sock is None: the caller polls). Used where raw
    # sockets need root; the simulation says so in its summary (FALLBACK["reason"]).
    def __init__(self, wire_name, mac, atten=None, profiles=False, pcap=None):
        self.iface = "mem:" + wire_name
        self.sock = None
        self.mac = mac
        self.modem = SimModem(mac, atten or {}, profiles)
        self.pcap = pcap
        self.inbox = []
        self.sent = 0
        self.received = 0
        self.send_errors = 0
        w = _WIRES.get(wire_name)
        if w is None:
            w = _WIRES[wire_name] = _Wire()
        self.wire = w
        w.links.append(self)

    def send(self, buf, n):
        if self.pcap is not None:
            self.pcap.frame(buf, n)
        if self.modem.from_host(buf, n):
            return True
        f = bytes(buf[:n])
        for lk in self.wire.links:
            if lk is not self and len(lk.inbox) < QUEUE:
                lk.inbox.append(f)
        self.sent += 1
        return True

    def recv(self, buf):
        n = self.modem.pop(buf)
        if not n and self.inbox:
            f = self.inbox.pop(0)
            n = len(f)
            buf[:n] = f
            self.received += 1
            self.modem.heard(buf, n)
        if n and self.pcap is not None:
            self.pcap.frame(buf, n)
        return n

    def close(self):
        if self in self.wire.links:
            self.wire.links.remove(self)

    def stats(self):
        return {"iface": self.iface, "sent": self.sent, "received": self.received,
                "send_errors": self.send_errors, "modem_keys": self.modem.keys_set,
                "modem_nid": self.modem.nid_hex(), "fallback": FALLBACK["reason"]}


def open_link(iface, mac=None, atten=None, profiles=False, pcap=None):
    # A raw socket on iface; on the loopback device without the right to open one, the in-process
    # wire (the simulation goes on, and says why). Other interfaces: the OSError goes to the caller.
    # pcap: a file path for a capture of every frame sent and received (classic pcap, Ethernet)
    if isinstance(pcap, str):
        import board
        pcap = Pcap(pcap, board.ticks_us)
    if iface.startswith("mem:"):
        return MemLink(iface[4:], mac, atten, profiles, pcap)
    try:
        return RawLink(iface, mac, atten, profiles, pcap)
    except OSError as e:
        if iface != "lo" or mac is None:
            raise
        if FALLBACK["reason"] is None:
            FALLBACK["reason"] = str(e)
            print("SLAC: %s; using the in-process link instead of %s" % (e, iface))
        return MemLink(iface, mac, atten, profiles, pcap)
