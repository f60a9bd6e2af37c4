# SDP client of the EVCC: multicasts the request every 250 ms, at most 50 times, and returns the
# first valid response.
from micropython import const
import select
import socket
import struct
from iso15118.transport import netif as nif, sdp, v2gtp

MAX_DATAGRAM = const(64)


class SdpTimeout(OSError):
    pass


class SdpResult:
    def __init__(self, addr16, port, security, transport, requests, elapsed_ms, ignored):
        self.addr = addr16
        self.port = port
        self.security = security
        self.transport = transport
        self.requests = requests      # requests sent until this response
        self.elapsed_ms = elapsed_ms  # first request -> response
        self.ignored = ignored        # malformed datagrams ignored on the way

    def __repr__(self):
        return "SDP([%s]:%d sec=0x%02x after %d req, %d ms)" % (
            nif.ntop(self.addr), self.port, self.security, self.requests, self.elapsed_ms)


class SdpClient:
    def __init__(self, netif, security, tap=None, server_port=sdp.SDP_PORT):
        self.netif = netif
        self.security = security
        self.tap = tap
        self.server_port = server_port
        self.bad = 0           # malformed or unexpected datagrams ignored
        self.last_error = ""
        self.sock = socket.socket(nif.AF_INET6, socket.SOCK_DGRAM)
        try:
            self.port = nif.bind_ephemeral(self.sock, netif)
            self.sock.setsockopt(nif.IPPROTO_IPV6, nif.IPV6_MULTICAST_IF, struct.pack("@I", netif.index))
            self.sock.setsockopt(nif.IPPROTO_IPV6, nif.IPV6_MULTICAST_HOPS, 1)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.dest = nif.sockaddr(sdp.MULTICAST, server_port, netif.index)

    def close(self):
        self.sock.close()

    def _receive(self):
        # -> (addr, port, security, transport) of the first valid response waiting, or None.
        while True:
            try:
                data, sa = self.sock.recvfrom(MAX_DATAGRAM)
            except OSError as e:
                if e.errno == 11:
                    return None
                raise
            peer = nif.parse_sockaddr(sa)
            if self.tap is not None:
                self.tap.udp(peer[0], peer[1], self.netif.ll, self.port, data)
            try:
                return sdp.decode_res(data)
            except (v2gtp.V2GTPError, sdp.SdpError) as e:
                self.bad += 1
                self.last_error = str(e)

    async def discover(self, ctx, retry_ms=sdp.RETRY_MS, max_requests=sdp.MAX_REQUESTS):
        # -> SdpResult; SdpTimeout after max_requests unanswered requests.
        req = sdp.encode_req(self.security, sdp.TRANSPORT_TCP)
        k = ctx
        t0 = k.ticks_ms()
        for n in range(1, max_requests + 1):
            ctx.feed()
            try:
                self.sock.sendto(req, self.dest)
            except OSError as e:
                self.last_error = "sendto: " + str(e)
            else:
                if self.tap is not None:
                    self.tap.udp(self.netif.ll, self.port, sdp.MULTICAST, self.server_port, req)
            due = k.ticks_add(t0, n * retry_ms)
            while True:
                r = self._receive()
                if r is not None:
                    return SdpResult(r[0], r[1], r[2], r[3], n, k.ticks_diff(k.ticks_ms(), t0),
                                     self.bad)
                left = k.ticks_diff(due, k.ticks_ms())
                if left <= 0:
                    break
                await ctx.wait_io(self.sock, select.POLLIN, left)
        raise SdpTimeout("no SDP response to %d requests" % max_requests)
