"""Issue 20, the EV side: our EVCC (the `jezgro ev` runner) against a misbehaving SECC - a raw CPython
SDP server and V2G listener on a private loopback - ends every session cleanly and in bounded time:
silence after SDP, garbage, an oversized header, a trickle, a reset mid-session, a closed port. Each
ends with its own `end`/`detail`, no fault of the EVCC service."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from link_abuse import codec_samples, ev_session, frame, private_loopback  # noqa: F401  (fixtures)


class FakeSecc:
    """SDP on [::1]:15118 pointing to a TCP listener whose connections `behave(conn)` handles."""

    def __init__(self, behave, listen: bool = True):
        self.behave = behave
        self.tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("::1", 0))
        self.port = self.tcp.getsockname()[1]
        if listen:
            self.tcp.listen(4)
        else:
            self.tcp.close()  # SDP names a port nobody listens on
        self.udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        self.udp.bind(("::1", 15118))
        self.udp.settimeout(0.1)
        self.running = True
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._sdp, daemon=True)]
        if listen:
            self.tcp.settimeout(0.1)
            self.threads.append(threading.Thread(target=self._accept, daemon=True))
        for t in self.threads:
            t.start()

    def _sdp(self) -> None:
        res = frame(0x9001, socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HBB", self.port, 0x10, 0))
        while self.running:
            try:
                _, peer = self.udp.recvfrom(64)
            except TimeoutError:
                continue
            self.udp.sendto(res, peer)

    def _accept(self) -> None:
        while self.running:
            try:
                c, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            try:
                self.behave(c)
            except OSError as e:
                self.errors.append(str(e))

    def close(self) -> None:
        self.running = False
        for t in self.threads:
            t.join(2)
        self.udp.close()
        self.tcp.close()


def recv_frame(c: socket.socket) -> bytes:
    c.settimeout(5)
    buf = b""
    while len(buf) < 8 or len(buf) < 8 + struct.unpack(">I", buf[4:8])[0]:
        d = c.recv(4096)
        if not d:
            break
        buf += d
    return buf


def reset(c: socket.socket) -> None:
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # RST


def behaviours(sar: bytes):
    def silent(c):
        recv_frame(c)
        time.sleep(4)
        c.close()

    def garbage(c):
        recv_frame(c)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        time.sleep(1)
        c.close()

    def garbage_exi(c):
        recv_frame(c)
        c.sendall(frame(0x8001, bytes(range(200, 240))))
        time.sleep(1)
        c.close()

    def oversized(c):
        recv_frame(c)
        c.sendall(struct.pack(">BBHI", 1, 0xFE, 0x8001, 0xFFFFFFF0) + b"\x00" * 64)
        time.sleep(1)
        c.close()

    def trickle(c):
        recv_frame(c)
        for b in frame(0x8001, sar):
            c.sendall(bytes([b]))
            time.sleep(0.25)
        c.close()

    def reset_mid_session(c):
        recv_frame(c)
        c.sendall(frame(0x8001, sar))
        recv_frame(c)  # SessionSetupReq
        reset(c)

    return {"silent": silent, "garbage": garbage, "garbage_exi": garbage_exi, "oversized": oversized,
            "trickle": trickle, "reset_mid_session": reset_mid_session}


# case -> (the EVCC's end, a piece of its detail, most seconds from the EVCC's start to its end)
EXPECT = {
    "silent": ("SequenceTimeout", "supportedAppProtocolRes", 8),
    "garbage": ("Malformed", "V2GTPError", 6),
    "garbage_exi": ("Malformed", "", 6),
    "oversized": ("Malformed", "oversize", 6),
    # a race of two 2 s deadlines: the answer's own (V2G_EVCC_Msg_Timeout) and stream.MSG_MS
    "trickle": (("PeerClosed", "SequenceTimeout"), "", 8),
    "reset_mid_session": ("PeerClosed", "", 6),
    "closed_port": ("PeerClosed", "connect", 6),
}


@pytest.mark.parametrize("case", list(EXPECT))
def test_our_evcc_ends_cleanly_against_a_misbehaving_secc(case, private_loopback, codec_samples):  # noqa: F811
    sar = codec_samples[2]
    secc = FakeSecc(behaviours(sar).get(case, lambda c: c.close()), listen=case != "closed_port")
    try:
        r = ev_session()
    finally:
        secc.close()
    end, detail, most_s = EXPECT[case]
    print(f"\n{case}: {r.get('end')} ({r.get('detail')}) after {r['wall_s']} s, EVCC {r.get('duration_ms')} ms")
    assert r["faults"] == 0, r
    assert r.get("end") in (end if isinstance(end, tuple) else (end,)) and detail in (r.get("detail") or ""), r
    assert r["wall_s"] < most_s, r
