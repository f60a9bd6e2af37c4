# A named network interface and its IPv6 link-local address, and the raw sockaddr_in6 the MicroPython
# unix port's socket module takes and returns (it passes struct sockaddr through as bytes; its own
# socket.sockaddr() byte-swaps sin6_scope_id, so we pack and unpack ourselves).
#
# Linux only (/sys, /proc). The stock NUCLEO-H743ZI firmware is built without IPv6 in lwIP: there
# the transport refuses to start with NetifError (docs/iso15118_transport.md, board gaps).
from micropython import const
import socket
import struct

AF_INET6 = const(10)  # Linux; checked against the socket module at import below
IPPROTO_IPV6 = const(41)
IPV6_MULTICAST_IF = const(17)
IPV6_MULTICAST_HOPS = const(18)
IPV6_MULTICAST_LOOP = const(19)
IPV6_JOIN_GROUP = const(20)
IPV6_V6ONLY = const(26)
SOL_SOCKET = const(1)
SO_REUSEADDR = const(2)
SO_BINDTODEVICE = const(25)
SOCKADDR_IN6_LEN = const(28)


class NetifError(OSError):
    pass


def _have_ipv6():
    return getattr(socket, "AF_INET6", -1) == AF_INET6


# The loopback interface (the simulation's "link"): Linux lo has no link-local address and no
# multicast route, and the only node on it is this host. Its index is set by the first Netif("lo")
# (it is 1 on Linux); a datagram to ff02::1 on it goes to ::1 instead: the same set of listeners.
LOOPBACK = b"\x00" * 15 + b"\x01"  # ::1
_ALL_NODES = b"\xff\x02" + bytes(13) + b"\x01"  # ff02::1, = sdp.MULTICAST
_lo_index = -1


def sockaddr(addr16, port, scope_id=0):
    # struct sockaddr_in6: family (host order), port (network), flowinfo, address, scope id (host).
    if scope_id == _lo_index and bytes(addr16) == _ALL_NODES:
        addr16, scope_id = LOOPBACK, 0
    return struct.pack("@H", AF_INET6) + struct.pack(">HI", port, 0) + bytes(addr16) + \
        struct.pack("@I", scope_id)


def parse_sockaddr(sa):
    # -> (addr16, port, scope_id)
    if len(sa) < SOCKADDR_IN6_LEN or struct.unpack_from("@H", sa, 0)[0] != AF_INET6:
        raise NetifError("not an IPv6 socket address")
    return bytes(sa[8:24]), struct.unpack_from(">H", sa, 2)[0], struct.unpack_from("@I", sa, 24)[0]


def ntop(addr16):
    # RFC 5952 text form (longest run of zero groups as ::). The board's socket has no inet_ntop.
    g = [(addr16[i] << 8) | addr16[i + 1] for i in range(0, 16, 2)]
    best, blen, i = -1, 1, 0
    while i < 8:
        j = i
        while j < 8 and g[j] == 0:
            j += 1
        if j - i > blen:
            best, blen = i, j - i
        i = j + 1 if j == i else j
    if best < 0:
        return ":".join(["%x" % x for x in g])
    return ":".join(["%x" % x for x in g[:best]]) + "::" + ":".join(["%x" % x for x in g[best + blen:]])


def pton(text):
    # Text IPv6 address (no scope suffix, no embedded IPv4) -> 16 bytes; ValueError when malformed.
    if text.count("::") > 1:
        raise ValueError("bad IPv6 address " + text)
    head, sep, tail = text.partition("::")
    h = [int(x, 16) for x in head.split(":")] if head else []
    t = [int(x, 16) for x in tail.split(":")] if tail else []
    fill = 8 - len(h) - len(t)
    if (sep and fill < 1) or (not sep and fill != 0) or any(x > 0xFFFF or x < 0 for x in h + t):
        raise ValueError("bad IPv6 address " + text)
    return struct.pack(">8H", *(h + [0] * fill + t))


def is_link_local(addr16):
    return addr16[0] == 0xFE and (addr16[1] & 0xC0) == 0x80


class Netif:
    # name, index (scope id) and link-local address of one interface, read once at start.
    def __init__(self, name):
        if not _have_ipv6():
            raise NetifError("this firmware has no IPv6 sockets")
        global _lo_index
        self.name = name
        self.index = _ifindex(name)
        self.loopback = _is_loopback(name)
        if self.loopback:
            self.ll = _host_address(name)
            _lo_index = self.index
        else:
            self.ll = _link_local(name)
        self.bound_device = False  # set when SO_BINDTODEVICE succeeded on the SDP socket

    def sockaddr(self, port):
        return sockaddr(self.ll, port, self.index)

    def peer(self, addr16, port):
        # A link-local peer needs our scope id; others route normally.
        return sockaddr(addr16, port, self.index if is_link_local(addr16) else 0)

    def hears(self, scope_id):
        # Did a datagram with this source scope id arrive on this interface? (::1 has scope 0)
        return scope_id == self.index or (self.loopback and scope_id == 0)

    def bind_device(self, sock):
        # Pins the socket to this interface (needs CAP_NET_RAW on Linux): without it a charger with
        # several links could accept a discovery request from the wrong one. Best effort: the
        # scope id of the bound link-local address already selects the interface for TCP.
        try:
            sock.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, self.name.encode() + b"\x00")
            self.bound_device = True
            return True
        except OSError:
            return False

    def __repr__(self):
        return "%s(#%d %s)" % (self.name, self.index, ntop(self.ll))


def _ifindex(name):
    try:
        with open("/sys/class/net/" + name + "/ifindex") as f:
            return int(f.read())
    except OSError:
        raise NetifError("no network interface " + name)


def _is_loopback(name):
    try:
        with open("/sys/class/net/" + name + "/flags") as f:
            return bool(int(f.read(), 16) & 0x8)  # IFF_LOOPBACK
    except (OSError, ValueError):
        return False


def _host_address(name):
    # The loopback's address ::1 (scope host, 0x10), if IPv6 is up on it.
    try:
        f = open("/proc/net/if_inet6")
    except OSError:
        raise NetifError("no IPv6 on this host")
    with f:
        for line in f:
            col = line.split()
            if len(col) >= 6 and col[5] == name and int(col[3], 16) == 0x10:
                return bytes(int(col[0][i:i + 2], 16) for i in range(0, 32, 2))
    raise NetifError(name + " has no IPv6 address ::1")


def _link_local(name):
    # /proc/net/if_inet6: "addr32hex ifindex prefixlen scope flags name"; scope 0x20 = link.
    # Tentative addresses (flag 0x40, DAD not finished) cannot be bound yet: skipped.
    try:
        f = open("/proc/net/if_inet6")
    except OSError:
        raise NetifError("no IPv6 on this host")
    with f:
        for line in f:
            col = line.split()
            if len(col) >= 6 and col[5] == name and int(col[3], 16) == 0x20 \
                    and not int(col[4], 16) & 0x40:
                return bytes(int(col[0][i:i + 2], 16) for i in range(0, 32, 2))
    raise NetifError(name + " has no usable IPv6 link-local address (down, or DAD not done)")


def udp_socket(netif, port, multicast=False):
    s = socket.socket(AF_INET6, socket.SOCK_DGRAM)
    try:
        s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        s.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1)
        if multicast:
            # A server must hear ff02::1: bound to the unspecified address (a socket bound to the
            # link-local unicast address does not receive multicast) and joined on this interface.
            netif.bind_device(s)
            s.bind(sockaddr(bytes(16), port, 0))
            s.setsockopt(IPPROTO_IPV6, IPV6_JOIN_GROUP,
                         b"\xff\x02" + bytes(13) + b"\x01" + struct.pack("@I", netif.index))
        else:
            s.bind(netif.sockaddr(port))
        s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_IF, struct.pack("@I", netif.index))
        s.setsockopt(IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1)
        s.setblocking(False)
    except BaseException:
        s.close()
        raise
    return s


def bind_ephemeral(sock, netif, tries=16):
    # Binds to a random port of the dynamic range and returns it: the unix port's socket has no
    # getsockname(), and the SDP response / capture need our own port.
    import random
    for _ in range(tries):
        port = 49152 + random.getrandbits(14)
        try:
            sock.bind(netif.sockaddr(port))
            return port
        except OSError as e:
            if e.errno != 98:  # EADDRINUSE
                raise
    raise NetifError("no free port")
