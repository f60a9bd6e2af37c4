"""The SECC connection gate's policy, step by step with a fake clock (firmware/iso15118/transport/
gate.py, docs/iso15118_connections.md): a newer SAP-valid connection supersedes a live one before
SessionSetup; while a session is established and talking, a second one from its address is refused
and SDP answers nobody; once the session is stale (STALE_MS), its EV's new connection supersedes it and
SDP answers that EV only; garbage, idle and surplus connections are dropped and counted. Runs under
MicroPython on the loopback interface (sockets real, time fake), no kernel."""
from __future__ import annotations

POLICY = r"""
import socket, time, harness
from iso15118.transport import netif as nif, v2gtp
from iso15118.transport.gate import Gate, STALE_MS, FIRST_BYTE_MS
from iso15118.transport.stream import Listener
from g_gate_fakes import Ctx, Sdp

ni = nif.Netif("lo")
lt = Listener(ni, 0, None, None, 8)
ctx, sdp = Ctx(), Sdp()
g = Gate(sdp, [lt], lambda p: p == b"SAP")
held = []

def client(payload=None):
    c = socket.socket(nif.AF_INET6, socket.SOCK_STREAM)
    c.connect(ni.peer(ni.ll, lt.port))
    if payload is not None:
        c.write(v2gtp.frame(0x8001, payload))
    held.append(c)

def settle():
    for _ in range(20):
        time.sleep_ms(5)
        g.housekeep(ctx)

out = {}
client(b"SAP"); settle()
a = g.take()
out["a_admitted"] = a is not None and a.held == (0x8001, b"SAP")
client(b"SAP"); settle()
out["a_superseded"] = a.superseded
b = g.take()
b.established = True          # SessionSetup done
b.rx_ms = ctx.now             # and its EV just talked
client(b"SAP"); settle()
out["talking"] = [g.take() is None, b.superseded, sdp.only]
ctx.now += STALE_MS           # the EV's connection went silent
settle()
out["stale_sdp_only_b"] = sdp.only == b.remote[0]
client(b"SAP"); settle()
out["stale"] = [b.superseded, g.take() is not None]
g.live.closed = True          # that session ended: back to no session
client(b"XX")                 # not a supportedAppProtocolReq
client()                      # idle
settle()
ctx.now += FIRST_BYTE_MS
settle()
for _ in range(6):            # more than MAX_PENDING idle ones at once
    client()
settle()
out["counts"] = g.stats()
harness.result(out)
"""


def test_gate_policy_step_by_step(mp):
    r = mp(POLICY).data
    assert r["a_admitted"] and r["a_superseded"], r
    assert r["talking"] == [True, False, ""], r  # refused, live untouched, SDP answers nobody
    assert r["stale_sdp_only_b"] and r["stale"] == [True, True], r
    c = r["counts"]
    assert c["superseded"] == 2 and c["refused"] == 1 and c["admitted"] == 3, c
    assert c["bad"] == 1 and c["no_first_byte"] == 1 and c["evicted"] == 2 and c["pending"] == 4, c
