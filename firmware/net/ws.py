# WebSocket client (RFC 6455) over net.stream: opening handshake with
# subprotocol and Sec-WebSocket-Accept check, message reassembly from
# fragments, ping -> pong, close handshake, message size limit. recv() returns
# whole text/binary messages; control frames are handled inside.
import binascii
import hashlib
import os
from micropython import const
from net.stream import Stream, StreamError
from net import wsframe
from net.wsframe import FrameError, OP_CONT, OP_TEXT, OP_CLOSE, OP_PING, OP_PONG

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HTTP = const(2048)
# A frame that started must be complete this long after its first byte: a CSMS's TCP stack sends a
# message in one burst; a trickle or a frame cut off mid-way would otherwise hold the buffer forever
# while recv() keeps returning None (docs/ocpp.md). The connection closes with 1008, OCPP reconnects.
FRAME_MS = const(10000)


class WsError(Exception):
    pass


class WsClosed(WsError):
    pass


def parse_url(url):
    # (tls, host, port, path) of ws://host[:port]/path or wss://...
    if url.startswith("wss://"):
        tls = True
        rest = url[6:]
    elif url.startswith("ws://"):
        tls = False
        rest = url[5:]
    else:
        raise ValueError("URL must start with ws:// or wss://")
    i = rest.find("/")
    hp, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    if hp.startswith("["):
        j = hp.find("]")
        host = hp[1:j]
        port_s = hp[j + 2:] if hp[j + 1:j + 2] == ":" else ""
    elif ":" in hp:
        host, port_s = hp.rsplit(":", 1)
    else:
        host, port_s = hp, ""
    if not host:
        raise ValueError("URL without host")
    port = int(port_s) if port_s else (443 if tls else 80)
    if not 0 < port < 65536:
        raise ValueError("bad port")
    return tls, host, port, path


def accept_key(key):
    h = hashlib.sha1(key + GUID)
    return binascii.b2a_base64(h.digest()).strip()  # type: ignore[attr-defined]  # stubs lack sha1.digest


class WebSocket:
    def __init__(self, ctx, max_message=16384):
        self.ctx = ctx
        self.st = Stream(ctx)
        self.max_message = max_message
        self.buf = bytearray(max_message + 14)  # one whole frame fits: bounded memory
        self.n = 0  # bytes in buf
        self.frag = None  # bytearray of a fragmented message being assembled
        self.frag_op = 0
        self.open = False
        self.close_code = 0
        self.pings = 0
        self.part_ms = None  # ticks_ms when the buffered, incomplete frame began

    async def connect(self, url, subprotocol, timeout_ms, tls=None, headers=None):
        # The object (and its receive buffer) is reused across reconnections.
        self.n = 0
        self.frag = None
        self.close_code = 0
        self.part_ms = None
        use_tls, host, port, path = parse_url(url)
        if use_tls and tls is None:
            raise WsError("wss:// needs a TLS context")
        await self.st.open(host, port, timeout_ms, tls if use_tls else None, host)
        key = binascii.b2a_base64(os.urandom(16)).strip()
        hostport = host if port in (80, 443) else "%s:%d" % (host, port)
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
               % (path, hostport, key.decode(), subprotocol))
        if headers:
            for h in headers:
                req += "%s: %s\r\n" % h
        await self.st.write((req + "\r\n").encode(), timeout_ms)
        k = self.ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        while True:
            end = bytes(self.buf[:self.n]).find(b"\r\n\r\n")
            if end >= 0:
                break
            if self.n >= MAX_HTTP:
                raise WsError("handshake response too long")
            got = await self._fill(deadline)
            if got < 0:
                raise WsError("closed during handshake")
            if got == 0:  # a server that accepts TCP and never answers the upgrade
                self._drop()
                raise WsError("no handshake response within %d ms" % timeout_ms)
        head = bytes(self.buf[:end]).decode()
        rest = self.n - end - 4
        self.buf[:rest] = self.buf[end + 4:self.n]
        self.n = rest
        lines = head.split("\r\n")
        status = lines[0].split(" ")
        if len(status) < 2 or status[1] != "101":
            raise WsError("handshake refused: " + lines[0])
        hdr = {}
        for ln in lines[1:]:
            i = ln.find(":")
            if i > 0:
                hdr[ln[:i].strip().lower()] = ln[i + 1:].strip()
        if hdr.get("sec-websocket-accept", "").encode() != accept_key(key):
            raise WsError("bad Sec-WebSocket-Accept")
        if hdr.get("sec-websocket-protocol") != subprotocol:
            raise WsError("server did not accept subprotocol " + subprotocol)
        self.open = True

    async def _fill(self, deadline):
        # Read what is available (waiting in slices up to deadline): bytes added, 0 on timeout, -1 on EOF.
        k = self.ctx
        mv = memoryview(self.buf)
        while True:
            if self.n >= len(self.buf):
                raise WsError("receive buffer full")
            got = self.st.read_now(mv[self.n:])
            if got > 0:
                self.n += got
                return got
            if got < 0:
                return -1
            left = k.ticks_diff(deadline, k.ticks_ms())
            if left <= 0:
                return 0
            self.ctx.feed()
            await self.st.readable(left if left < 200 else 200)

    async def send_text(self, text, timeout_ms=5000):
        if not self.open:
            raise WsClosed("not open")
        await self.st.write(wsframe.encode(OP_TEXT, text.encode() if isinstance(text, str) else text),
                            timeout_ms)

    async def ping(self, data=b""):
        # Keep-alive from our side (OCPPCommCtrlr.WebSocketPingInterval); the pong is swallowed by recv.
        await self.st.write(wsframe.encode(OP_PING, data), 2000)

    async def recv(self, timeout_ms):
        # Next whole data message (str for text, bytes for binary), None on timeout.
        # Raises WsClosed when the connection ends, WsError on protocol violations
        # (after sending the matching close frame).
        k = self.ctx
        deadline = k.ticks_add(k.ticks_ms(), timeout_ms)
        while True:
            try:
                h = wsframe.parse_header(self.buf, self.n, self.max_message)
            except FrameError as e:
                await self._fail(e.code, str(e))
                raise WsError(str(e))
            if h is not None and self.n >= h[0] + h[3]:
                self.part_ms = None
                payload, self.n = wsframe.take(self.buf, self.n, h)
                msg = await self._frame(h[1], h[2], payload)
                if msg is not None:
                    return msg
                continue
            if self.n:
                if self.part_ms is None:
                    self.part_ms = k.ticks_ms()
                elif k.ticks_diff(k.ticks_ms(), self.part_ms) >= FRAME_MS:
                    await self._fail(1008, "frame incomplete")
                    raise WsError("frame incomplete %d ms after its first byte" % FRAME_MS)
                left = FRAME_MS - k.ticks_diff(k.ticks_ms(), self.part_ms)
                if k.ticks_diff(deadline, k.ticks_ms()) > left:
                    deadline = k.ticks_add(k.ticks_ms(), max(left, 1))
            got = await self._fill(deadline)
            if got < 0:
                self._drop()
                raise WsClosed("connection closed by peer")
            if got == 0:
                if self.n and self.part_ms is not None and k.ticks_diff(k.ticks_ms(), self.part_ms) >= FRAME_MS:
                    continue  # the frame's time is up: fail it above
                return None

    async def _frame(self, fin, op, payload):
        if op == OP_PING:
            self.pings += 1
            await self.st.write(wsframe.encode(OP_PONG, payload), 2000)
            return None
        if op == OP_PONG:
            return None
        if op == OP_CLOSE:
            self.close_code = (payload[0] << 8 | payload[1]) if len(payload) >= 2 else 1005
            try:
                await self.st.write(wsframe.encode(OP_CLOSE, payload[:2]), 1000)
            except StreamError:
                pass
            self._drop()
            raise WsClosed("closed by peer, code %d" % self.close_code)
        if op == OP_CONT:
            if self.frag is None:
                await self._fail(1002, "continuation without start")
                raise WsError("continuation without start")
            if len(self.frag) + len(payload) > self.max_message:
                await self._fail(1009, "message too large")
                raise WsError("message too large")
            self.frag.extend(payload)
            if not fin:
                return None
            data = bytes(self.frag)
            op = self.frag_op
            self.frag = None
        else:
            if self.frag is not None:
                await self._fail(1002, "new message inside a fragmented one")
                raise WsError("interleaved message")
            if not fin:
                self.frag = bytearray(payload)
                self.frag_op = op
                return None
            data = payload
        if op == OP_TEXT:
            try:
                return data.decode()
            except UnicodeError:
                await self._fail(1007, "invalid UTF-8")
                raise WsError("invalid UTF-8 in text message")
        return data

    async def _fail(self, code, reason):
        try:
            await self.st.write(wsframe.encode(OP_CLOSE, bytes([code >> 8, code & 0xFF]) +
                                               reason[:100].encode()), 1000)
        except StreamError:
            pass
        self._drop()

    async def close(self, code=1000):
        if self.open:
            try:
                await self.st.write(wsframe.encode(OP_CLOSE, bytes([code >> 8, code & 0xFF])), 1000)
            except StreamError:
                pass
        self._drop()

    def _drop(self):
        self.open = False
        self.n = 0
        self.frag = None
        self.st.close()
