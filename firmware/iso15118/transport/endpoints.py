# The two ends of ISO 15118 connection setup, each one call for the session layer:
#   SeccEndpoint.accept(): answer SDP and accept the EVCC's TCP/TLS connection;
#   evcc_connect(): SDP discovery, the security decision, TCP/TLS connect.
# The SECC waits on every socket at once (ctx.wait_io_any): SDP, the listeners and the connections
# its gate (gate.py) holds; the same gate keeps serving them while a session waits for a request.
import select
from iso15118.transport import sdp, v2gtp
from iso15118.transport.bufpool import BufPool
from iso15118.transport.gate import Gate, BACKLOG, MAX_PENDING, SAP_MAX_PAYLOAD, WAIT_MS
from iso15118.transport.sdp_server import SdpServer
from iso15118.transport.sdp_client import SdpClient
from iso15118.transport.stream import Listener, StreamTimeout, connect

# The connections' receive buffers are allocated here, once (transport/bufpool.py): small ones for the
# gate's pending connections (their supportedAppProtocolReq: the MAX_PENDING pending, the one being
# accepted, and the admitted one), full-size ones for the session (the live one, and one spare for a
# session that starts before the previous stream is closed). 6 x 2 568 + 2 x 8 200 bytes = 31.8 KB.
POOL = ((v2gtp.HEADER_LEN + SAP_MAX_PAYLOAD, MAX_PENDING + 2), (v2gtp.HEADER_LEN + v2gtp.MAX_PAYLOAD, 2))


class SecurityRefused(OSError):
    pass


class SeccEndpoint:
    # tcp: offer plain TCP; tls: TlsConfig to offer TLS (one or both). Ports 0: random dynamic ones.
    # admit(payload) -> bool: a connection is handed out once its first message (0x8001) passes it
    # (the SECC session's supportedAppProtocolReq check); None: at once, unread (transport tests).
    def __init__(self, netif, tcp=True, tls=None, capture=None, tcp_port=0, tls_port=0, admit=None):
        self.netif = netif
        self.listeners = {}
        tapf = capture.tap if capture is not None else None
        self.pool = pool = BufPool(POOL)
        try:
            if tcp:
                self.listeners[sdp.SEC_NONE] = Listener(netif, tcp_port, None, tapf, BACKLOG, pool)
            if tls is not None:
                self.listeners[sdp.SEC_TLS] = Listener(netif, tls_port, tls, tapf, BACKLOG, pool)
            offers = {}
            for sec, lt in self.listeners.items():
                offers[sec] = lt.port
            self.offers = offers
            self.sdp = SdpServer(netif, offers, tap=tapf() if tapf is not None else None)
            self.gate = Gate(self.sdp, list(self.listeners.values()), admit)
        except BaseException:
            self.close()
            raise

    async def accept(self, ctx, timeout_ms):
        # -> V2gStream of the next EVCC; StreamTimeout when none connected within timeout_ms.
        k = ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        g = self.gate
        while True:
            ctx.feed()
            g.housekeep(ctx)
            st = g.take()
            if st is not None:
                return st
            left = k.ticks_diff(deadline, k.ticks_ms())
            if left <= 0:
                raise StreamTimeout("no EVCC connected within %d ms" % timeout_ms)
            await ctx.wait_io_any(g.objs(None), select.POLLIN, g.wait_ms(ctx, left if left < WAIT_MS else WAIT_MS))

    def close(self):
        g = getattr(self, "gate", None)
        if g is not None:
            g.close()
        for lt in self.listeners.values():
            lt.close()
        s = getattr(self, "sdp", None)
        if s is not None:
            s.close()


async def evcc_connect(ctx, netif, tls=None, enforce_tls=False, capture=None,
                       max_requests=sdp.MAX_REQUESTS, pool=None):
    # Asks for TLS when tls (TlsConfig) is given. The SECC may grant the other security: no TLS is
    # accepted unless enforce_tls; TLS granted without a TlsConfig cannot be followed. pool: the
    # receive buffer's BufPool (None: allocated for this connection).
    # -> (V2gStream, SdpResult). SdpTimeout, SecurityRefused, StreamClosed/StreamTimeout.
    want = sdp.SEC_TLS if tls is not None else sdp.SEC_NONE
    tapf = capture.tap if capture is not None else None
    cl = SdpClient(netif, want, tap=tapf() if tapf is not None else None)
    try:
        r = await cl.discover(ctx, max_requests=max_requests)
    finally:
        cl.close()
    if r.security == sdp.SEC_TLS and tls is None:
        raise SecurityRefused("SECC grants TLS only and no TLS is configured")
    if r.security == sdp.SEC_NONE and enforce_tls:
        raise SecurityRefused("SECC offers no TLS and TLS is enforced")
    st = await connect(ctx, netif, r.addr, r.port, tls if r.security == sdp.SEC_TLS else None,
                       tapf() if tapf is not None else None, pool=pool)
    return st, r
