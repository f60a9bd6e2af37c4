# SDP server of the SECC: answers every valid request on UDP 15118 of one interface with the address
# and port of the V2G server matching the security the EVCC asks for, when we offer it.
from micropython import const
import select
from iso15118.transport import netif as nif, sdp, v2gtp

MAX_DATAGRAM = const(64)  # a valid request is 10 bytes; longer ones are read whole and rejected

# Counters (index into SdpServer.counts)
C_REQUESTS = const(0)
C_ANSWERED = const(1)
C_BAD_FRAME = const(2)
C_BAD_CONTENT = const(3)
C_UNOFFERED = const(4)   # the asked security is not offered: answered with the one we have
C_SEND_FAIL = const(5)
C_OTHER_IFACE = const(6)  # arrived on another interface: every interface is in ff02::1
C_BUSY = const(7)         # another EV's request while a session owns the SECC: not answered
COUNTER_NAMES = ("requests", "answered", "bad_frame", "bad_content", "other_security", "send_fail",
                 "other_interface", "busy")


class SdpServer:
    # offers: {sdp.SEC_TLS: port, sdp.SEC_NONE: port}, one or both.
    def __init__(self, netif, offers, tap=None, port=sdp.SDP_PORT):
        if not offers:
            raise ValueError("SDP server needs at least one V2G server port")
        self.netif = netif
        self.offers = offers
        self.tap = tap
        self.port = port
        self.counts = [0] * len(COUNTER_NAMES)
        self.last_error = ""
        self.last_peer = None
        self.last_granted = -1  # security of the last answer: the connection to expect next
        self.only = None        # addr16: answer only this peer (the EV of an established session; b"": none)
        self.sock = nif.udp_socket(netif, port, multicast=True)
        self.bound = netif.bound_device

    def close(self):
        self.sock.close()

    def answer(self, data):
        # -> response datagram for one request, or None (error counted).
        self.counts[C_REQUESTS] += 1
        try:
            sec, transport = sdp.decode_req(data)
        except v2gtp.V2GTPError as e:
            self.counts[C_BAD_FRAME] += 1
            self.last_error = str(e)
            return None
        except sdp.SdpError as e:
            self.counts[C_BAD_CONTENT] += 1
            self.last_error = str(e)
            return None
        if transport != sdp.TRANSPORT_TCP:
            self.counts[C_BAD_CONTENT] += 1
            self.last_error = "transport 0x%02x not offered" % transport
            return None
        port = self.offers.get(sec)
        if port is None:
            # ISO 15118-2 lets the SECC answer with what it has; the EVCC decides whether to go on.
            self.counts[C_UNOFFERED] += 1
            sec = sdp.SEC_NONE if sec == sdp.SEC_TLS else sdp.SEC_TLS
            port = self.offers[sec]
        self.last_granted = sec
        return sdp.encode_res(self.netif.ll, port, sec, sdp.TRANSPORT_TCP)

    def poll(self):
        # Handles every datagram waiting now, never blocks. -> number of responses sent.
        sent = 0
        while True:
            try:
                data, sa = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError as e:
                if e.errno == 11:  # EAGAIN: nothing more
                    return sent
                raise
            peer = nif.parse_sockaddr(sa)
            if not self.netif.hears(peer[2]) and not self.bound:
                # SO_BINDTODEVICE needs CAP_NET_RAW; without it the source's scope id tells where
                # the request came from, and a charger answers only on its own link.
                self.counts[C_OTHER_IFACE] += 1
                continue
            self.last_peer = peer
            if self.tap is not None:
                self.tap.udp(peer[0], peer[1], sdp.MULTICAST, self.port, data)
            if self.only is not None and peer[0] != self.only:
                # one EV per charging point: while its session runs, only it may discover us again
                # (after it lost its connection); docs/iso15118_connections.md
                self.counts[C_BUSY] += 1
                continue
            res = self.answer(data)
            if res is None:
                continue
            try:
                self.sock.sendto(res, sa)
            except OSError as e:
                self.counts[C_SEND_FAIL] += 1
                self.last_error = "sendto: " + str(e)
                continue
            if self.tap is not None:
                self.tap.udp(self.netif.ll, self.port, peer[0], peer[1], res)
            self.counts[C_ANSWERED] += 1
            sent += 1

    async def serve(self, ctx, timeout_ms):
        # Waits for and answers requests for up to timeout_ms. -> responses sent.
        sent = self.poll()
        if await ctx.wait_io(self.sock, select.POLLIN, timeout_ms):
            sent += self.poll()
        return sent

    def stats(self):
        d = {}
        for i, n in enumerate(COUNTER_NAMES):
            d[n] = self.counts[i]
        return d
