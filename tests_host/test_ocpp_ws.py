"""WebSocket client (firmware/net) details against the `websockets` server: fragmented messages, ping/pong,
size limit (close 1009, then reconnect), close handshake, CALLERROR spelling from peers, and the viper
masking (correct at every alignment, allocation-free)."""
from __future__ import annotations

import asyncio
import json
import threading
import time

from websockets.asyncio.server import serve

from station import StationProcess

SID = "GW-WS"


class RawPeer:
    """A hand-written OCPP-J peer: answers BootNotification/StatusNotification/Heartbeat, runs a script."""

    def __init__(self, script):
        self.script = script
        self.events: list = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        threading.Thread(target=self.loop.run_until_complete, args=(self._main(ready),), daemon=True).start()
        assert ready.wait(10)

    async def _main(self, ready):
        async with serve(self._handler, "127.0.0.1", 0, subprotocols=["ocpp2.0.1"], ping_interval=None,
                         max_size=None) as srv:
            self.port = srv.sockets[0].getsockname()[1]
            ready.set()
            await asyncio.Future()

    async def recv_json(self, ws):
        while True:
            m = json.loads(await ws.recv())
            self.events.append(("rx", m))
            if m[0] == 2:  # the station's own requests: answered, we wait for the answer to ours
                res = {"currentTime": "2026-01-01T00:00:00Z", "interval": 300, "status": "Accepted"} \
                    if m[2] == "BootNotification" else {}
                await ws.send(json.dumps([3, m[1], res]))
                continue
            return m

    async def registered(self, ws):
        # Requests before BootNotification is accepted get SecurityError: wait for the StatusNotification.
        while True:
            m = json.loads(await ws.recv())
            self.events.append(("rx", m))
            res = {"currentTime": "2026-01-01T00:00:00Z", "interval": 300, "status": "Accepted"} \
                if m[2] == "BootNotification" else {}
            await ws.send(json.dumps([3, m[1], res]))
            if m[0] == 2 and m[2] == "StatusNotification":
                return

    async def _handler(self, ws):
        self.events.append(("connect", ws.request.path))
        try:
            await self.script(self, ws)
        except Exception as e:  # recorded for the test to assert on
            self.events.append(("closed", repr(e), ws.close_code))


def gv(mid):
    return json.dumps([2, mid, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "MessageTimeout"}}]}])


async def script(peer, ws):
    if sum(1 for e in peer.events if e[0] == "connect") == 1:
        await peer.registered(ws)
        # 1: fragmented CALL, answered as a whole
        text = gv("frag1")
        await ws.send([text[:10], text[10:30], text[30:]])
        peer.events.append(("answer", await peer.recv_json(ws)))
        # 2: ping -> pong
        pong = await ws.ping(b"abc")
        await asyncio.wait_for(pong, 5)
        peer.events.append(("pong", True))
        # 3: a CALLERROR with the 1.6 spelling for the station's own CALL: accepted as FormatViolation
        await ws.send(json.dumps([2, "tr1", "TriggerMessage", {"requestedMessage": "Heartbeat"}]))
        peer.events.append(("answer", await peer.recv_json(ws)))
        while True:
            m = json.loads(await ws.recv())
            if m[0] == 2 and m[2] == "Heartbeat":
                await ws.send(json.dumps([4, m[1], "FormationViolation", "testing", {}]))
                break
        # 4: oversized message: the client closes with 1009
        await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 40000}]))
        await ws.wait_closed()
        peer.events.append(("closed", None, ws.close_code))
    else:
        # after reconnecting: still answers, then the server closes normally
        await ws.send(gv("after"))
        peer.events.append(("answer", await peer.recv_json(ws)))
        await asyncio.sleep(1.5)  # long enough for one client ping (WebSocketPingInterval 1 s)
        await ws.close(1000, "bye")
        peer.events.append(("closed", None, ws.close_code))


def test_fragments_ping_limits_close(tmp_path):
    peer = RawPeer(script)
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp_dm.json").write_text(json.dumps({"OCPPCommCtrlr.RetryBackOffWaitMinimum": "1",
                                                 "OCPPCommCtrlr.RetryBackOffRandomRange": "0",
                                                 "OCPPCommCtrlr.WebSocketPingInterval": "1"}))
    st = StationProcess(fs, {"url": f"ws://127.0.0.1:{peer.port}/ocpp", "station_id": SID,
                             "security_profile": 0, "max_message": 16384}).start()
    try:
        t_end = time.time() + 20
        while time.time() < t_end and sum(1 for e in peer.events if e[0] == "closed") < 2:
            time.sleep(0.05)
    finally:
        out = st.stop()
    answers = [e[1] for e in peer.events if e[0] == "answer"]
    assert answers[0][:2] == [3, "frag1"] and answers[0][2]["getVariableResult"][0]["attributeValue"] == "30"
    assert ("pong", True) in peer.events
    assert answers[1] == [3, "tr1", {"status": "Accepted"}]
    closes = [e for e in peer.events if e[0] == "closed"]
    assert closes[0][2] == 1009  # message too big
    assert answers[2][:2] == [3, "after"]
    assert [e[1] for e in peer.events if e[0] == "connect"] == ["/ocpp/" + SID] * 2
    assert out["stats"]["errors_in"] == 1 and out["last_callerror"] == "FormatViolation"
    assert out["stats"]["pings_sent"] >= 1  # WebSocketPingInterval: pinged the server, which answered
    assert out["svc"]["faults"] == 0


def test_mask_matches_reference_and_allocates_nothing(mp):
    r = mp("""
import micropython, harness, os
from net.wsframe import mask, encode, parse_header
key = bytes([0x12, 0x34, 0x56, 0x78])
bad = 0
for off in range(0, 8):
    for n in (0, 1, 3, 4, 5, 7, 8, 9, 31, 64, 127, 1000):
        buf = bytearray(os.urandom(off + n + 3))
        ref = bytearray(buf)
        for i in range(n):
            ref[off + i] ^= key[i & 3]
        mask(buf, off, n, key)
        bad += buf != ref
big = bytearray(4096)
micropython.heap_lock()
try:
    mask(big, 6, 4000, key)
    locked = "ok"
except MemoryError:
    locked = "ALLOCATED"
micropython.heap_unlock()
f = encode(1, b"hello" * 30)
h = parse_header(bytes([f[0], f[1] & 0x7F]) + f[2:4], 4, 1000)
harness.result({"bad": bad, "locked": locked, "hdr": list(h)})
""")
    assert r.data["bad"] == 0
    assert r.data["locked"] == "ok"
    assert r.data["hdr"] == [4, True, 1, 150]
