# WebSocket server side (RFC 6455) for cooperative services: a non-blocking
# listening socket and one ServerConn per accepted client. A connection is
# polled (pump()) when its socket is readable: the opening handshake (path,
# subprotocol, Authorization given to the caller's check), then whole text
# messages from masked client frames, ping -> pong, close. Bounded memory: one
# receive buffer of max_message per connection. Sends wait for room in bounded
# slices through ctx.wait_io, so a stuck client cannot block the service.
import select
import socket
from micropython import const
from net import wsframe
from net.wsframe import FrameError, OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG
from net.ws import accept_key
from net.stream import close_socket

EAGAIN = const(11)
MAX_HTTP = const(2048)
HANDSHAKE_MS = const(5000)  # a client that connects and does not finish the upgrade is dropped
SEND_MS = const(2000)
ST_HANDSHAKE = const(0)
ST_OPEN = const(1)
ST_CLOSED = const(2)


class WsRefused(Exception):
    # the upgrade refused: the HTTP status line to answer with
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status


def _errno(e):
    return e.args[0] if e.args else 0


class Listener:
    def __init__(self, host, port, backlog=4):
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(ai[-1])
            s.listen(backlog)
            s.setblocking(False)
        except BaseException:
            s.close()
            raise
        self.sock = s

    def accept(self):
        # -> a non-blocking client socket, or None (never blocks)
        try:
            c, _ = self.sock.accept()
        except OSError as e:
            if _errno(e) == EAGAIN:
                return None
            raise
        c.setblocking(False)
        return c

    def close(self, ctx):
        close_socket(ctx, self.sock)


async def upgrades(ctx, lst, pending, limit, max_message, check, refused):
    # Accepts new clients on lst (at most `limit` in their upgrade at once, in `pending`) and advances
    # every pending upgrade: -> the connections that opened now. A refused or failed upgrade is dropped
    # and refused(exception) called; one that did not finish within HANDSHAKE_MS, refused(None).
    while len(pending) < limit:
        s = lst.accept()
        if s is None:
            break
        pending.append(ServerConn(ctx, s, max_message))
    opened = []
    for pc in list(pending):
        try:
            done = await pc.accept_upgrade(check)
        except (WsRefused, OSError) as e:
            pc.drop()
            pending.remove(pc)
            refused(e)
            continue
        if done:
            pending.remove(pc)
            opened.append(pc)
        elif pc.handshake_expired():
            pc.drop()
            pending.remove(pc)
            refused(None)
    return opened


def parse_upgrade(head):
    # (path, {header lower-case: value}) of an HTTP upgrade request, or raises WsRefused
    lines = head.split("\r\n")
    req = lines[0].split(" ")
    if len(req) != 3 or req[0] != "GET" or not req[2].startswith("HTTP/1.1"):
        raise WsRefused("400 Bad Request", "not an HTTP/1.1 GET")
    hdr = {}
    for ln in lines[1:]:
        i = ln.find(":")
        if i > 0:
            hdr[ln[:i].strip().lower()] = ln[i + 1:].strip()
    if hdr.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in hdr:
        raise WsRefused("400 Bad Request", "not a WebSocket upgrade")
    if hdr.get("sec-websocket-version") != "13":
        raise WsRefused("426 Upgrade Required", "WebSocket version not 13")
    return req[1], hdr


class ServerConn:
    def __init__(self, ctx, sock, max_message):
        self.ctx = ctx
        self.sock = sock
        self.max_message = max_message
        self.buf = bytearray(max_message + 14)
        self.n = 0
        self.state = ST_HANDSHAKE
        self.since_ms = ctx.ticks_ms()
        self.frag = None
        self.frag_op = 0
        self.path = ""
        self.headers = {}
        self.close_code = 0
        self.rx = 0
        self.tx = 0

    def _read(self):
        # bytes added (0: none available), -1 on EOF; raises FrameError when the buffer is full
        if self.n >= len(self.buf):
            raise FrameError(1009, "receive buffer full")
        try:
            got = self.sock.readinto(memoryview(self.buf)[self.n:])
        except OSError as e:
            if _errno(e) == EAGAIN:
                return 0
            return -1
        if got is None:
            return 0
        if got == 0:
            return -1
        self.n += got
        self.rx += got
        return got

    def handshake_expired(self):
        return self.state == ST_HANDSHAKE and self.ctx.ticks_diff(self.ctx.ticks_ms(), self.since_ms) > HANDSHAKE_MS

    async def accept_upgrade(self, check):
        # Reads the upgrade request; check(path, headers) -> the subprotocol to answer with, or raises
        # WsRefused. -> True once open, False while the request is incomplete. Raises WsRefused
        # (answered and closed) or OSError.
        got = self._read()
        if got < 0:
            raise WsRefused("", "closed during handshake")
        end = bytes(self.buf[:self.n]).find(b"\r\n\r\n")
        if end < 0:
            if self.n >= MAX_HTTP:
                await self._refuse(WsRefused("431 Request Header Fields Too Large", "request too long"))
            return False
        try:
            path, hdr = parse_upgrade(bytes(self.buf[:end]).decode())
            proto = check(path, hdr)
        except WsRefused as e:
            await self._refuse(e)
        except UnicodeError:
            await self._refuse(WsRefused("400 Bad Request", "request not text"))
        rest = self.n - end - 4
        self.buf[:rest] = self.buf[end + 4:self.n]
        self.n = rest
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
                % (accept_key(hdr["sec-websocket-key"].encode()).decode(), proto))
        await self._write(resp.encode())
        self.path = path
        self.headers = hdr
        self.state = ST_OPEN
        return True

    async def _refuse(self, e):
        extra = "WWW-Authenticate: Basic realm=\"OCPP\"\r\n" if e.status.startswith("401") else ""
        try:
            if e.status:
                await self._write(("HTTP/1.1 %s\r\n%sContent-Length: 0\r\nConnection: close\r\n\r\n"
                                   % (e.status, extra)).encode())
        except OSError:
            pass
        self.drop()
        raise e

    async def _write(self, data):
        k = self.ctx
        deadline = k.ticks_add(k.ticks_ms(), SEND_MS)
        mv = memoryview(data)
        off = 0
        while off < len(data):
            try:
                w = self.sock.write(mv[off:])
            except OSError as e:
                if _errno(e) != EAGAIN:
                    raise
                w = None
            if w:
                off += w
                continue
            left = k.ticks_diff(deadline, k.ticks_ms())
            if left <= 0:
                raise OSError(110)  # ETIMEDOUT: the client reads nothing
            self.ctx.feed()
            await self.ctx.wait_io(self.sock, select.POLLOUT, left if left < 200 else 200)
        self.tx += len(data)

    async def send_text(self, text):
        if self.state != ST_OPEN:
            raise OSError(32)  # EPIPE
        await self._write(wsframe.encode(OP_TEXT, text.encode(), True, False))

    async def messages(self):
        # -> the whole text messages now readable (possibly none). Raises FrameError (after sending
        # the matching close) on violations, OSError when the connection ended.
        got = self._read()
        out = []
        while True:
            h = wsframe.parse_header(self.buf, self.n, self.max_message, True)
            if h is None or self.n < h[0] + h[3]:
                break
            payload, self.n = wsframe.take(self.buf, self.n, h, bytes(self.buf[h[0] - 4:h[0]]))
            msg = await self._frame(h[1], h[2], payload)
            if msg is not None:
                out.append(msg)
        if got < 0 and not out:
            self.drop()
            raise OSError(104)  # ECONNRESET: the client went away
        return out

    async def _frame(self, fin, op, payload):
        if op == OP_PING:
            await self._write(wsframe.encode(OP_PONG, payload, True, False))
            return None
        if op == OP_PONG:
            return None
        if op == OP_CLOSE:
            self.close_code = (payload[0] << 8 | payload[1]) if len(payload) >= 2 else 1005
            await self.close(self.close_code)
            raise OSError(104)
        if op == OP_CONT:
            if self.frag is None:
                raise FrameError(1002, "continuation without start")
            if len(self.frag) + len(payload) > self.max_message:
                raise FrameError(1009, "message too large")
            self.frag.extend(payload)
            if not fin:
                return None
            payload = bytes(self.frag)
            op = self.frag_op
            self.frag = None
        elif not fin:
            if self.frag is not None:
                raise FrameError(1002, "new message inside a fragmented one")
            self.frag = bytearray(payload)
            self.frag_op = op
            return None
        if op != OP_TEXT:
            raise FrameError(1003, "binary message")
        try:
            return payload.decode()
        except UnicodeError:
            raise FrameError(1007, "invalid UTF-8")

    async def close(self, code=1000):
        if self.state == ST_OPEN:
            try:
                await self._write(wsframe.encode(OP_CLOSE, bytes([code >> 8, code & 0xFF]), True, False))
            except OSError:
                pass
        self.drop()

    def drop(self):
        self.state = ST_CLOSED
        close_socket(self.ctx, self.sock)
        self.sock = None
