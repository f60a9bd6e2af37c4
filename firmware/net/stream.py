# Non-blocking TCP (optionally TLS) byte stream for cooperative services: every
# wait is `await ctx.wait_io(...)` with a bounded timeout, so the caller keeps
# feeding its watchdog between waits. Nothing here blocks the kernel except
# name resolution (getaddrinfo), which the unix port and lwIP do synchronously.
import socket
import select
from net.netstate import resolve
from micropython import const

EAGAIN = const(11)
EINPROGRESS = const(115)
ETIMEDOUT = const(110)
WAIT_SLICE_MS = const(200)  # longest single wait: the caller feeds between slices


class StreamError(Exception):
    pass


def _nothing():
    # None typed as "anything" for mypy: the socket attributes hold None only while closed.
    return None


def _errno(e):
    return e.args[0] if e.args else 0


def close_socket(ctx, s):
    # closes s (None: nothing) after taking it out of the kernel's I/O waits; never raises
    if s is not None:
        ctx.io_unregister(s)
        try:
            s.close()
        except OSError:
            pass


class Stream:
    def __init__(self, ctx):
        self.ctx = ctx
        self.sock = _nothing()
        self.raw = _nothing()
        self.rx = 0
        self.tx = 0

    async def _wait(self, ev, deadline_ms):
        # One bounded slice; feeds between slices so long waits never starve the watchdog.
        k = self.ctx
        left = k.ticks_diff(deadline_ms, k.ticks_ms())
        if left <= 0:
            return False
        self.ctx.feed()
        return await self.ctx.wait_io(self.sock, ev, left if left < WAIT_SLICE_MS else WAIT_SLICE_MS)

    async def open(self, host, port, timeout_ms, tls=None, server_hostname=None):
        k = self.ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        ai = resolve(host, port, self.ctx)  # through ETHERNET's name cache and counters (net/netstate.py)
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        self.raw = s
        self.sock = s
        s.setblocking(False)
        try:
            s.connect(ai[-1])
        except OSError as e:
            if _errno(e) != EINPROGRESS:
                self.close()
                raise StreamError("connect: errno %d" % _errno(e))
        while True:
            ok = await self._wait(select.POLLOUT, deadline)
            if ok:
                break
            if k.ticks_diff(deadline, k.ticks_ms()) <= 0:
                self.close()
                raise StreamError("connect timeout")
        if tls is not None:
            # Non-blocking TLS: the handshake runs inside the first writes/reads
            # (they return None until it is done; the SSL socket's poll asks the
            # underlying socket for what mbedTLS waits on). Certificate errors
            # surface there as OSError -> StreamError.
            self.sock = tls.wrap_socket(s, server_side=False, do_handshake_on_connect=False,
                                        server_hostname=server_hostname or host)

    async def write(self, data, timeout_ms):
        k = self.ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        mv = memoryview(data)
        off = 0
        n = len(data)
        while off < n:
            try:
                w = self.sock.write(mv[off:])
            except OSError as e:
                if _errno(e) != EAGAIN:
                    raise StreamError("write: %s" % (e,))
                w = None
            if w:
                off += w
                continue
            await self._wait(select.POLLOUT, deadline)
            if k.ticks_diff(deadline, k.ticks_ms()) <= 0:
                raise StreamError("write timeout")
        self.tx += n

    def read_now(self, buf):
        # Bytes read into buf without waiting: n > 0, 0 = nothing available, -1 = peer closed.
        try:
            n = self.sock.readinto(buf)
        except OSError as e:
            if _errno(e) == EAGAIN:
                return 0
            raise StreamError("read: %s" % (e,))
        if n is None:
            return 0
        if n == 0:
            return -1
        self.rx += n
        return n

    async def readable(self, timeout_ms):
        return await self.ctx.wait_io(self.sock, select.POLLIN, timeout_ms)

    def cipher(self):
        # the negotiated TLS cipher suite (after the handshake), None on plain TCP or when closed
        s = self.sock
        if s is None or s is self.raw:
            return None
        f = getattr(s, "cipher", None)
        if f is None:
            return None
        try:
            return f()
        except OSError:  # mbedTLS before the handshake completed
            return None

    def close(self):
        s = self.sock
        self.sock = None
        close_socket(self.ctx, s)
        if self.raw is not None and self.raw is not s:
            try:
                self.raw.close()
            except OSError:
                pass
        self.raw = None
