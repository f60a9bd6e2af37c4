# V2G connections over TCP or TLS on the IPv6 link-local address of one interface: a listener for the
# SECC, connect() for the EVCC, and V2gStream moving whole V2GTP messages with non-blocking sockets
# awaited through ctx.wait_io(). Waits are cut into slices that feed the service watchdog (1 s) so a
# 2 s message timeout does not look like a stalled service.
from micropython import const
import select
import socket
from iso15118.transport import netif as nif, v2gtp

SLICE_MS = const(200)
# A V2GTP message whose first byte came must be complete this long after it (both roles, every
# message): a peer's TCP stack sends a message of a few KB in one burst, so a trickle is a broken or
# hostile sender holding the connection (docs/iso15118_connections.md).
MSG_MS = const(2000)
EAGAIN = const(11)
EINPROGRESS = const(115)
EALREADY = const(114)
EISCONN = const(106)

SEC_TCP = const(0x10)  # same values as the SDP security byte
SEC_TLS = const(0x00)


class StreamClosed(OSError):
    pass


class StreamTimeout(OSError):
    pass


class StreamSlow(StreamClosed):
    # a message started and did not complete within MSG_MS: the connection is closed
    pass


async def _wait(ctx, obj, event, deadline):
    # -> True when ready, False at the deadline; feeds the watchdog every slice.
    k = ctx
    while True:
        ctx.feed()
        left = k.ticks_diff(deadline, k.ticks_ms())
        if left <= 0:
            return False
        if await ctx.wait_io(obj, event, left if left < SLICE_MS else SLICE_MS):
            return True


class V2gStream:
    # One V2G connection. sock: plain socket or TLS socket (both non-blocking; read/write give None
    # when they would block, also while a TLS handshake is waiting for the peer). pool: the receive
    # buffer's BufPool (the SECC's), given back at close().
    def __init__(self, sock, security, local, remote, client, tap=None, max_payload=v2gtp.MAX_PAYLOAD, pool=None):
        self.sock = sock
        self.security = security
        self.local = local     # (addr16, port)
        self.remote = remote   # (addr16, port)
        self.tap = tap
        self.dfr = v2gtp.Deframer(max_payload, pool)
        self.rx_frames = 0
        self.tx_frames = 0
        self.closed = False
        self.up = False  # some data went through: a TLS handshake is complete
        # A TLS handshake still to run one state at a time (the tls-handshake-step patch of our MicroPython
        # build): a server handshake costs several ECC operations (key exchange, signature, the client's
        # chain and CertificateVerify), and run inside one read it held the SECC - and on the unix port the
        # CRITICAL tick - for 10-50 ms. A port without the method runs it inside the first read/write.
        self.hs = security == SEC_TLS and hasattr(sock, "handshake_step")
        self.stepping = False  # the handshake's next state can run now: poll again without waiting
        self._cipher = None
        self.rx_bytes = 0
        self.rx_ms = None       # ticks_ms of the last bytes received (the gate's staleness test)
        self.msg_t0 = None      # ticks_ms of the first byte of the message being received
        self.held = None        # a message read before the session took the stream (the SECC's gate)
        self.watch = None       # the SECC's gate: served while recv() waits (SDP, new connections)
        self.superseded = False  # set by the gate: the next recv() ends the session
        self.aborted = None      # a reason set by the owner (unplug, link lost): the next recv() ends it
        self.on_wait = None      # called between waits (every SLICE_MS): the owner's IPC, while it waits
        self.established = False  # set by the session at SessionSetup: the connection owns the SECC
        if tap is not None:
            tap.tcp_open(local[0], local[1], remote[0], remote[1], client)

    def cipher(self):
        # (suite, version) of a TLS connection once data moved, else None. The handshake runs inside
        # the first read/write (the tls module has no do_handshake(), and a zero-length write never
        # reaches mbedtls); its cipher() crashes the unix port when called before the handshake, and
        # after close() (freed context), so the answer is kept for the session record.
        if self.security != SEC_TLS or not self.up:
            return None
        if self._cipher is None and not self.closed:
            self._cipher = self.sock.cipher()
        return self._cipher

    def limit(self, max_payload):
        # the largest payload accepted from now on (the negotiated protocol's)
        self.dfr.limit(max_payload)

    def handshake_step(self):
        # One handshake state. -> True when the handshake is over. StreamClosed on a TLS failure
        # (alert, bad record, the peer gone), ValueError when the peer's certificate is refused.
        try:
            r = self.sock.handshake_step()
        except OSError as e:
            raise StreamClosed("TLS handshake: %s" % e)
        self.stepping = r is False
        if r is True:
            self.hs = False
            self.up = True
            return True
        return False

    def poll_msg(self, ctx, handshake=True):
        # Reads what is there without waiting. -> (payload_type, payload) or None. StreamClosed
        # (StreamSlow: a message older than MSG_MS is still incomplete), V2GTPError. A TLS handshake
        # advances by at most one state per call (handshake=False: none, the caller's budget is spent);
        # `stepping` then says whether to call again at once.
        if self.closed:  # its receive buffer may be another connection's by now
            raise StreamClosed("stream closed")
        if self.hs:
            if not handshake or not self.handshake_step():
                self.stepping = self.stepping or not handshake
                return None
        now_ms = ctx.ticks_ms()
        while True:
            w = self.dfr.space()
            try:
                n = self.sock.readinto(w)
            except OSError as e:
                if e.errno == EAGAIN:
                    n = None
                else:
                    raise StreamClosed("recv: %s" % e)
            if n is None:
                t0 = self.msg_t0
                if t0 is not None and ctx.ticks_diff(now_ms, t0) >= MSG_MS:
                    raise StreamSlow("V2GTP message incomplete %d ms after its first byte" % MSG_MS)
                return None
            if n == 0:
                raise StreamClosed("peer closed")
            self.up = True
            self.rx_bytes += n
            self.rx_ms = now_ms
            if self.msg_t0 is None:
                self.msg_t0 = now_ms
            try:
                m = self.dfr.commit(n)
            except v2gtp.V2GTPError:
                if self.tap is not None:  # the offending header, for the post-mortem
                    self.tap.tcp_data(False, self.dfr.mv[0:v2gtp.HEADER_LEN])
                raise
            if not self.dfr.started():
                self.msg_t0 = None
            if m is not None:
                self.rx_frames += 1
                if self.tap is not None:
                    # One capture packet per received message, not per read: the header and
                    # payload are still contiguous in the deframer's buffer.
                    self.tap.tcp_data(False, self.dfr.mv[0:v2gtp.HEADER_LEN + len(m[1])])
                return m

    async def recv(self, ctx, timeout_ms):
        # -> (payload_type, payload). StreamTimeout, StreamClosed (StreamSlow), or V2GTPError (fatal
        # header error: the caller closes). A timeout keeps the partial message for the next call;
        # a message that started must complete within MSG_MS whatever timeout_ms is.
        m = self.held
        if m is not None:
            self.held = None
            return m
        k = ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        while True:
            if self.superseded:
                raise StreamClosed("superseded by a new connection")
            if self.on_wait is not None:
                self.on_wait()
            if self.aborted is not None:
                raise StreamClosed(self.aborted)
            m = self.poll_msg(ctx)
            if m is not None:
                return m
            now = k.ticks_ms()
            left = k.ticks_diff(deadline, now)
            if left <= 0:
                raise StreamTimeout("no V2GTP message within %d ms" % timeout_ms)
            t0 = self.msg_t0
            if t0 is not None:
                # wake up when the message's time is up: poll_msg() then raises StreamSlow
                left = min(left, max(1, MSG_MS - k.ticks_diff(now, t0)))
            ctx.feed()
            if self.stepping:
                await ctx.yield_()  # the handshake's next state: after the other services' turn
                continue
            w = left if left < SLICE_MS else SLICE_MS
            g = self.watch
            if g is None:
                await ctx.wait_io(self.sock, select.POLLIN, w)
            else:
                # the SECC keeps answering SDP and taking connections while the session waits
                await ctx.wait_io_any(g.objs(self.sock), select.POLLIN, g.wait_ms(ctx, w))
                g.housekeep(ctx)

    async def send(self, ctx, payload_type, payload, timeout_ms=2000):
        data = v2gtp.frame(payload_type, payload)
        await self.send_raw(ctx, data, timeout_ms)
        self.tx_frames += 1

    async def send_raw(self, ctx, data, timeout_ms=2000):
        k = ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        while self.hs:  # the EVCC's handshake: its ClientHello goes out with the first message
            if self.handshake_step():
                break
            if self.stepping:
                ctx.feed()
                await ctx.yield_()
            elif not await _wait(ctx, self.sock, select.POLLIN | select.POLLOUT, deadline):
                raise StreamTimeout("TLS handshake not done in %d ms" % timeout_ms)
        mv = memoryview(data)
        i = 0
        while i < len(data):
            try:
                n = self.sock.write(mv[i:])
            except OSError as e:
                if e.errno != EAGAIN:
                    raise StreamClosed("send: %s" % e)
                n = None
            if n is None:
                if not await _wait(ctx, self.sock, select.POLLOUT | select.POLLIN, deadline):
                    raise StreamTimeout("send blocked for %d ms" % timeout_ms)
                continue
            self.up = True
            if self.tap is not None:
                self.tap.tcp_data(True, mv[i:i + n])
            i += n

    def close(self):
        if not self.closed:
            self.cipher()
            self.closed = True
            if self.tap is not None:
                self.tap.tcp_close()
            self.sock.close()
            self.dfr.release()


def der(data):
    # PEM -> DER (first block): this firmware's mbedtls is built without PEM parsing.
    if not data.startswith(b"-----BEGIN"):
        return data
    import binascii
    lines = data.split(b"\n")
    body: list = []
    for ln in lines[1:]:
        if ln.startswith(b"-----END"):
            return binascii.a2b_base64(b"".join(body))
        body.append(ln.strip())
    raise ValueError("PEM block without END line")


# ISO 15118-2 [V2G2-600]: TLS 1.2 with TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256 or
# TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256. MicroPython's mbedtls build has only the ECDHE one.
ISO15118_2_SUITES = ("TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256",)


class TlsConfig:
    # PEM or DER bytes. A server needs cert+key; a client verifies the server when ca is given and,
    # for mutual authentication (-20 and -2 PnC), presents cert+key. mbedtls insists on a host name
    # to verify against (the SECC certificate's CN); ISO 15118 itself checks the chain only.
    # ciphers: suite names to allow (None: mbedtls' defaults), e.g. ISO15118_2_SUITES.
    def __init__(self, cert=None, key=None, ca=None, server_hostname=None, ciphers=None):
        self.cert = cert
        self.key = key
        self.ca = ca
        self.server_hostname = server_hostname
        self.ciphers = ciphers

    def context(self, server):
        # The built-in tls module (ssl is a frozen Python wrapper around it, absent when
        # MICROPYPATH replaces the frozen path). mbedtls negotiates TLS 1.2 (and 1.3 where built in)
        # as the peer asks.
        import tls as t  # type: ignore[import-not-found]  # built in (mbedtls); the stm32 stubs lack it
        c = t.SSLContext(t.PROTOCOL_TLS_SERVER if server else t.PROTOCOL_TLS_CLIENT)
        if self.cert is not None:
            c.load_cert_chain(der(self.cert), der(self.key))
        if self.ca is not None:
            c.load_verify_locations(der(self.ca))
            c.verify_mode = t.CERT_REQUIRED
        else:
            c.verify_mode = t.CERT_NONE
        if self.ciphers is not None:
            c.set_ciphers(list(self.ciphers))
        return c


def _tcp_socket():
    s = socket.socket(nif.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(nif.SOL_SOCKET, nif.SO_REUSEADDR, 1)
    s.setsockopt(nif.IPPROTO_IPV6, nif.IPV6_V6ONLY, 1)
    return s


class Listener:
    # TCP (tls=None) or TLS server socket on [link-local%iface]:port. backlog: connections the OS
    # queues before accept() (the SECC's gate drains it on every wake-up). pool: BufPool the
    # accepted connections' receive buffers come from (None: each allocates its own).
    def __init__(self, netif, port=0, tls=None, tap_factory=None, backlog=2, pool=None):
        self.netif = netif
        self.tls = tls
        self.ctx = tls.context(True) if tls is not None else None
        self.tap_factory = tap_factory
        self.pool = pool
        self.accepted = 0
        self.sock = _tcp_socket()
        try:
            if port:
                self.sock.bind(netif.sockaddr(port))
                self.port = port
            else:
                self.port = nif.bind_ephemeral(self.sock, netif)
            self.sock.listen(backlog)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.security = SEC_TLS if tls is not None else SEC_TCP

    def accept_raw(self):
        # -> (plain socket, (addr16, port, scope)) or None; never blocks. Nothing is spent on the
        # connection yet (no TLS context, no buffer): the caller may still refuse it.
        try:
            s, sa = self.sock.accept()
        except OSError as e:
            if e.errno == EAGAIN:
                return None
            raise
        s.setblocking(False)
        self.accepted += 1
        return s, nif.parse_sockaddr(sa)

    def stream(self, s, peer, max_payload=v2gtp.MAX_PAYLOAD):
        # A V2gStream on an accepted socket (TLS: the handshake runs with the first read).
        if self.ctx is not None:
            s = self.ctx.wrap_socket(s, server_side=True, do_handshake_on_connect=False)
        tap = self.tap_factory() if self.tap_factory is not None else None
        return V2gStream(s, self.security, (self.netif.ll, self.port), (peer[0], peer[1]), False,
                         tap, max_payload, self.pool)

    def try_accept(self):
        # -> V2gStream or None; never blocks.
        a = self.accept_raw()
        return self.stream(a[0], a[1]) if a is not None else None

    async def accept(self, ctx, timeout_ms):
        k = ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        while True:
            st = self.try_accept()
            if st is not None:
                return st
            if not await _wait(ctx, self.sock, select.POLLIN, deadline):
                raise StreamTimeout("no connection within %d ms" % timeout_ms)

    def close(self):
        self.sock.close()


async def connect(ctx, netif, addr16, port, tls=None, tap=None, timeout_ms=2000, pool=None):
    # EVCC side: connects from our link-local address (bound, so the capture knows our port) to the
    # SECC found by SDP. -> V2gStream; with tls the handshake runs with the first message.
    s = _tcp_socket()
    try:
        lport = nif.bind_ephemeral(s, netif)
        s.setblocking(False)
        dest = netif.peer(addr16, port)
        k = ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        try:
            s.connect(dest)
        except OSError as e:
            if e.errno != EINPROGRESS:
                raise StreamClosed("connect: %s" % e)
            if not await _wait(ctx, s, select.POLLOUT, deadline):
                raise StreamTimeout("connect not done in %d ms" % timeout_ms)
            # No getsockopt(SO_ERROR) on this port: a second connect() reports the outcome.
            try:
                s.connect(dest)
            except OSError as e:
                if e.errno != EISCONN:
                    raise StreamClosed("connect: %s" % e)
        if tls is not None:
            c = tls.context(False)
            s = c.wrap_socket(s, server_side=False, do_handshake_on_connect=False,
                              server_hostname=tls.server_hostname)
        st = V2gStream(s, SEC_TLS if tls is not None else SEC_TCP, (netif.ll, lport), (addr16, port), True,
                       tap, pool=pool)
    except BaseException:
        s.close()
        raise
    return st
