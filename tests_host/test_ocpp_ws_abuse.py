"""Issue 20, OCPP's WebSocket client against a misbehaving CSMS (a raw CPython TCP server): one that
accepts TCP and never answers the upgrade (it hung the client in a loop without a yield before: the
connect deadline is now an error, the client backs off and reconnects), one that answers the upgrade
and its frames byte by byte (accepted: slow but complete), and one that stops mid-frame (the frame
must complete within ws.FRAME_MS, else close 1008 and reconnect)."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time

from station import StationProcess

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawCsms:
    """Each connection n (0, 1, ...) is handled by behave(n, conn, request headers)."""

    def __init__(self, behave):
        self.behave = behave
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.srv.settimeout(0.1)
        self.port = self.srv.getsockname()[1]
        self.events: list = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while self.running:
            try:
                c, _ = self.srv.accept()
            except (TimeoutError, OSError):
                continue
            self.events.append(("connect", n, time.monotonic()))
            threading.Thread(target=self._one, args=(n, c), daemon=True).start()
            n += 1

    def _one(self, n: int, c: socket.socket) -> None:
        c.settimeout(10)
        req = b""
        try:
            while b"\r\n\r\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            self.behave(self, n, c, req)
        except OSError as e:
            self.events.append(("error", n, repr(e)))
        finally:
            c.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.srv.close()


def upgrade(req: bytes) -> bytes:
    key = next(ln.split(b":", 1)[1].strip() for ln in req.split(b"\r\n") if ln.lower().startswith(b"sec-websocket-key"))
    acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + acc + b"\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n")


def text_frame(s: str) -> bytes:
    b = s.encode()
    return (bytes([0x81, len(b)]) if len(b) < 126 else bytes([0x81, 126]) + struct.pack(">H", len(b))) + b


def read_frame(c: socket.socket) -> str:
    """one masked client frame -> its text"""
    def need(n: int) -> bytes:
        b = b""
        while len(b) < n:
            d = c.recv(n - len(b))
            if not d:
                raise OSError("closed")
            b += d
        return b
    h = need(2)
    ln = h[1] & 0x7F
    if ln == 126:
        ln = struct.unpack(">H", need(2))[0]
    mask = need(4)
    return bytes(x ^ mask[i % 4] for i, x in enumerate(need(ln))).decode(errors="replace")


def boot_answer(msg: str) -> str:
    m = json.loads(msg)
    return json.dumps([3, m[1], {"currentTime": "2026-01-01T00:00:00Z", "interval": 300, "status": "Accepted"}])


def behave(csms: RawCsms, n: int, c: socket.socket, req: bytes) -> None:
    if n == 0:  # accepts TCP, never answers the upgrade
        time.sleep(6)
        return
    if n == 1:  # the upgrade and the BootNotification answer byte by byte (20 ms per byte)
        for b in upgrade(req):
            c.sendall(bytes([b]))
            time.sleep(0.005)
        boot = read_frame(c)
        csms.events.append(("boot", n, boot))
        for b in text_frame(boot_answer(boot)):
            c.sendall(bytes([b]))
            time.sleep(0.02)
        csms.events.append(("answered", n, time.monotonic()))
        # then a frame cut off after its header and three bytes: never completed
        c.sendall(text_frame(json.dumps([2, "cut", "GetVariables", {}]))[:5])
        t0 = time.monotonic()
        c.settimeout(20)
        try:
            for d in iter(lambda: c.recv(4096), b""):
                if d[:1] == b"\x88":  # the client's close frame
                    code = struct.unpack(">H", bytes(x ^ d[2 + i % 4] for i, x in enumerate(d[6:8])))[0]
                    csms.events.append(("close_frame", n, code, time.monotonic() - t0))
        except OSError:
            pass
        csms.events.append(("closed", n, time.monotonic() - t0))
        return
    c.sendall(upgrade(req))  # later connections: a plain working CSMS (registered: no new BootNotification)
    csms.events.append(("answered", n, time.monotonic()))
    time.sleep(3)


# quick reconnects, and the handshake deadline (MessageTimeout) at 2 s
DM = {"OCPPCommCtrlr.RetryBackOffWaitMinimum": "1", "OCPPCommCtrlr.RetryBackOffRandomRange": "0",
      "OCPPCommCtrlr.MessageTimeout": "2"}


def test_ws_client_survives_a_mute_a_trickling_and_a_stalling_csms(tmp_path):
    csms = RawCsms(behave)
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "ocpp_dm.json").write_text(json.dumps(DM))
    cfg = {"url": f"ws://127.0.0.1:{csms.port}/ocpp", "station_id": "GW-ABUSE", "security_profile": 0}
    st = StationProcess(tmp_path / "fs", cfg).start()
    try:
        t_end = time.time() + 45
        while time.time() < t_end and not any(e[0] == "answered" and e[1] >= 2 for e in csms.events):
            time.sleep(0.1)
    finally:
        out = st.stop()
        csms.close()
    ev = csms.events
    connects = [e for e in ev if e[0] == "connect"]
    print("\nevents:", [e[:3] if e[0] != "boot" else e[:2] for e in ev])
    print("client:", out.get("last_error"), out.get("stats"))
    assert out["svc"]["faults"] == 0, out  # before: a loop without a yield, killed by the hang watchdog
    assert len(connects) >= 3, ev
    # the mute CSMS: the connect failed after MessageTimeout (2 s) and the client came back
    assert 1.5 < connects[1][2] - connects[0][2] < 8, connects
    # the trickle: upgrade and answer accepted byte by byte
    assert any(e[0] == "boot" and e[1] == 1 for e in ev) and any(e[0] == "answered" and e[1] == 1 for e in ev)
    # the cut frame: the client closed with 1008 after FRAME_MS (10 s) and reconnected
    (close,) = [e for e in ev if e[0] == "close_frame"]
    assert close[2] == 1008 and 9 < close[3] < 15, close
    assert any(e[0] == "answered" and e[1] >= 2 for e in ev), ev
    assert out["stats"]["connect_failures"] >= 1 and out["stats"]["connects"] >= 2, out["stats"]
