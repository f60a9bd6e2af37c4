"""The SECC's receive buffers are allocated once and reused (firmware/iso15118/transport/bufpool.py,
docs/reliability.md "Memory that fits the board"): the pool's smallest-fit hand-out and its counters, a
deframer that grows from a small buffer to a full one and gives both back, and the real gate on loopback
(sockets real, time fake) taking sessions one after another and a flood of idle connections without
allocating a buffer outside the pool."""
from __future__ import annotations

POOL_UNIT = r"""
import harness
from iso15118.transport import v2gtp as v
from iso15118.transport.bufpool import BufPool
out = {}
p = BufPool(((100, 2), (1000, 1)))
a = p.take(50)
b = p.take(100)
c = p.take(101)             # the big one
d = p.take(10)              # none free: allocated outside, counted
out["sizes"] = [len(a), len(b), len(c), len(d)]
out["distinct"] = len(set(id(x) for x in (a, b, c, d)))
p.give(d)                   # not the pool's: ignored
p.give(a)
p.give(a)                   # twice: counted once
out["after_give"] = p.stats()
out["reused"] = p.take(1) is a
# a deframer on the pool: small buffer for the first message, the full one after limit()
q = BufPool(((v.HEADER_LEN + 16, 1), (v.HEADER_LEN + 64, 1)))
df = v.Deframer(16, q)
small = df.buf
got = df.feed(v.frame(0x8001, b"x" * 16))
df.limit(64)
big = df.buf
got += df.feed(v.frame(0x8001, b"y" * 64))
out["deframer"] = [len(small), len(big), [len(m[1]) for m in got], q.stats()["in_use"]]
df.release()
df.release()                # twice: harmless
df.limit(64)                # a closed stream's late limit(): no buffer taken
try:
    df.feed(v.frame(0x8001, b"z"))
    out["after_release"] = "accepted"
except v.V2GTPError as e:
    out["after_release"] = str(e)
out["released"] = q.stats()
df2 = v.Deframer(64, q)
out["next_gets_big"] = df2.buf is big
harness.result(out)
"""


def test_pool_hands_out_smallest_fit_and_counts_misses(mp):
    r = mp(POOL_UNIT).data
    assert r["sizes"] == [100, 100, 1000, 10] and r["distinct"] == 4, r
    assert r["after_give"] == {"buffers": 3, "bytes": 1200, "in_use": 2, "peak": 3, "misses": 1}, r
    assert r["reused"] is True
    # the first message in the small buffer, the negotiated protocol's in the big one; the small one
    # went back at limit(): one buffer in use
    assert r["deframer"] == [24, 72, [16, 64], 1], r
    assert "already failed" in r["after_release"], r
    assert r["released"]["in_use"] == 0 and r["released"]["misses"] == 0, r
    assert r["next_gets_big"] is True


GATE_SESSIONS = r"""
import socket, time, harness
from iso15118.transport import netif as nif, v2gtp
from iso15118.transport.bufpool import BufPool
from iso15118.transport.endpoints import POOL
from iso15118.transport.gate import Gate, FIRST_BYTE_MS, MAX_PENDING
from iso15118.transport.stream import Listener
from g_gate_fakes import Ctx, Sdp

pool = BufPool(POOL)
ni = nif.Netif("lo")
lt = Listener(ni, 0, None, None, 16, pool)
ctx = Ctx()
g = Gate(Sdp(), [lt], lambda p: p == b"SAP")

def client(payload=None):
    c = socket.socket(nif.AF_INET6, socket.SOCK_STREAM)
    c.connect(ni.peer(ni.ll, lt.port))
    if payload is not None:
        c.write(v2gtp.frame(0x8001, payload))
    return c

def settle():
    for _ in range(20):
        time.sleep_ms(5)
        g.housekeep(ctx)

out = {"sessions": [], "peer_msgs": []}
bufs = set()
for i in range(%(n)d):
    c = client(b"SAP")
    settle()
    st = g.take()
    first = len(st.dfr.buf)
    st.limit(v2gtp.MAX_PAYLOAD)           # the negotiated -2/-20 limit: the full-size buffer
    c.write(v2gtp.frame(0x8002, b"r" * 6000))
    m = None
    for _ in range(50):
        m = st.poll_msg(ctx)
        if m is not None:
            break
        time.sleep_ms(5)
    out["peer_msgs"].append(len(m[1]) if m else None)
    bufs.add(id(st.dfr.buf))
    out["sessions"].append([first, len(st.dfr.buf), pool.stats()["in_use"]])
    st.close()
    c.close()
    try:
        st.poll_msg(ctx)
        out["closed_read"] = "read"
    except OSError as e:
        out["closed_read"] = str(e)
out["distinct_full_buffers"] = len(bufs)
# a flood of idle connections: the gate evicts beyond MAX_PENDING, the pool covers the rest
idle = [client() for _ in range(3 * MAX_PENDING)]
settle()
out["flood"] = pool.stats()
ctx.now += FIRST_BYTE_MS
settle()
out["after_flood"] = pool.stats()
out["gate"] = g.stats()
for c in idle:
    c.close()
harness.result(out)
"""


def test_gate_sessions_and_idle_flood_reuse_the_pool(mp):
    n = 8
    r = mp(GATE_SESSIONS % {"n": n}).data
    # every session: its first message in a 2 568-byte buffer, the session's in an 8 200-byte one,
    # one buffer in use (the small one went back), and the same full-size buffer every time
    assert r["sessions"] == [[2568, 8200, 1]] * n, r
    assert r["peer_msgs"] == [6000] * n, r
    assert r["distinct_full_buffers"] == 1, r
    assert "closed" in r["closed_read"], r
    # 12 idle connections: 4 pending at most, the others evicted; no buffer outside the pool, and all
    # of them back once the idle ones were dropped
    assert r["gate"]["evicted"] >= 8 and r["gate"]["no_first_byte"] >= 4, r
    assert r["flood"]["misses"] == 0 and r["after_flood"]["misses"] == 0, r
    assert r["after_flood"]["in_use"] == 0, r
