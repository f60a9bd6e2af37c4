"""ISO 15118 transport codecs under MicroPython: V2GTP framing and its errors, SDP messages
(including malformed datagrams), IPv6 text/sockaddr helpers, and the pcapng writer read back by a
strict parser (and tshark when installed)."""
from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path


from pcapng_check import check_with_tshark, read, v2gtp_messages

ROOT = Path(__file__).resolve().parents[1]
ALL_TYPES = [0x8001, 0x8002, 0x8003, 0x8004, 0x8005, 0x8006, 0x9000, 0x9001, 0x9002, 0x9003]


def test_v2gtp_every_payload_type_round_trips_in_any_split(mp):
    r = mp("""
from iso15118.transport import v2gtp as v
import harness
types = %s
msgs = [(pt, bytes((i * 7 + j) & 255 for j in range(i * 37))) for i, pt in enumerate(types)]
stream = b"".join(v.frame(pt, p) for pt, p in msgs)
out = {}
for step in (1, 3, 8, 9, 1000, len(stream)):
    d = v.Deframer()
    got = []
    for i in range(0, len(stream), step):
        got += d.feed(stream[i:i + step])
    out[str(step)] = [got == msgs, d.frames, d.errors]
h = v.header(0x8004, 5)
out["header"] = h.hex()
out["parsed"] = list(v.parse_header(h))
harness.result(out)
""" % ALL_TYPES)
    for step, v in r.data.items():
        if step in ("header", "parsed"):
            continue
        same, frames, errors = v
        assert same and frames == len(ALL_TYPES) and errors == [0] * 5, step
    assert r.data["header"] == "01fe800400000005" and r.data["parsed"] == [0x8004, 5]


def test_v2gtp_bad_headers_give_clear_errors_and_counters_never_a_crash(mp):
    r = mp("""
from iso15118.transport import v2gtp as v
import harness
good = v.frame(0x8001, b"\\x80\\x00")
cases = {
  "version": b"\\x02\\xfd\\x80\\x01\\x00\\x00\\x00\\x00",
  "inverse": b"\\x01\\xff\\x80\\x01\\x00\\x00\\x00\\x00",
  "oversize": v.header(0x8001, v.MAX_PAYLOAD + 1),
  "oversize_huge": b"\\x01\\xfe\\x80\\x01\\xff\\xff\\xff\\xff",
}
out = {}
for name, hdr in cases.items():
    d = v.Deframer()
    first = d.feed(good)
    try:
        d.feed(hdr + good)
        res = "no error"
    except v.V2GTPError as e:
        res = [e.code, str(e)]
    try:
        d.feed(good)
        after = "accepted"
    except v.V2GTPError:
        after = "refused"
    out[name] = [len(first), res, d.errors, after]
# unknown payload type: skipped with its payload, the next message still arrives
d = v.Deframer()
got = d.feed(v.frame(0x1234, b"abcdef") + good + v.frame(0x0000, b"") + good)
out["unknown"] = [got == [(0x8001, b"\\x80\\x00")] * 2, d.errors]
# datagrams (SDP): length must match the header exactly
dg = {}
for name, data in (("short", b"\\x01\\xfe\\x90"), ("longer", v.frame(0x9000, b"\\x10\\x00") + b"x"),
                   ("shorter", v.header(0x9000, 4) + b"\\x10\\x00"), ("empty", b"")):
    try:
        v.parse_datagram(data)
        dg[name] = "accepted"
    except v.V2GTPError as e:
        dg[name] = [e.code, str(e)]
out["datagram"] = dg
harness.result(out)
""")
    d = r.data
    assert d["version"][1][0] == 0 and "version: 0x02" in d["version"][1][1]
    assert d["inverse"][1][0] == 1 and "inverse" in d["inverse"][1][1]
    assert d["oversize"][1][0] == 3 and "8193 > 8192" in d["oversize"][1][1]
    assert d["oversize_huge"][1][0] == 3
    for name, idx in (("version", 0), ("inverse", 1), ("oversize", 3), ("oversize_huge", 3)):
        assert d[name][0] == 1, name            # the message before the error was delivered
        assert d[name][2][idx] == 1, name        # counted
        assert d[name][3] == "refused", name     # the stream stays closed: no resync on garbage
    assert d["unknown"] == [True, [0, 0, 2, 0, 0]]
    for name, res in d["datagram"].items():
        assert res != "accepted" and res[0] == 4, name


def test_sdp_messages_encode_decode_and_reject_malformed(mp):
    r = mp("""
from iso15118.transport import sdp, v2gtp
import harness
out = {}
out["req"] = [sdp.encode_req(sdp.SEC_TLS).hex(), sdp.encode_req(sdp.SEC_NONE).hex()]
out["req_dec"] = list(sdp.decode_req(sdp.encode_req(sdp.SEC_NONE)))
out["consts"] = [sdp.SDP_PORT, sdp.MULTICAST.hex(), sdp.RETRY_MS, sdp.MAX_REQUESTS]
addr = bytes(range(0xf0, 0x100))
res = sdp.encode_res(addr, 61234, sdp.SEC_TLS)
out["res"] = res.hex()
a, p, s, t = sdp.decode_res(res)
out["res_dec"] = [a.hex(), p, s, t]
bad = {
  "req_sec": v2gtp.frame(0x9000, b"\\x20\\x00"),
  "req_transport": v2gtp.frame(0x9000, b"\\x10\\x05"),
  "req_len": v2gtp.frame(0x9000, b"\\x10\\x00\\x00"),
  "req_type": v2gtp.frame(0x9001, b"\\x10\\x00"),
  "req_trunc": sdp.encode_req(sdp.SEC_NONE)[:9],
  "req_garbage": b"GET / HTTP/1.1\\r\\n",
  "res_port0": v2gtp.frame(0x9001, addr + b"\\x00\\x00\\x10\\x00"),
  "res_sec": v2gtp.frame(0x9001, addr + b"\\xef\\x32\\x42\\x00"),
  "res_len": v2gtp.frame(0x9001, addr + b"\\xef\\x32\\x10"),
  "res_type": v2gtp.frame(0x9000, addr + b"\\xef\\x32\\x10\\x00"),
}
errs = {}
for name, data in bad.items():
    f = sdp.decode_req if name.startswith("req") else sdp.decode_res
    try:
        f(data)
        errs[name] = "accepted"
    except (sdp.SdpError, v2gtp.V2GTPError) as e:
        errs[name] = type(e).__name__ + ": " + str(e)
out["errors"] = errs
harness.result(out)
""")
    d = r.data
    assert d["req"] == ["01fe9000000000020000", "01fe9000000000021000"]
    assert d["req_dec"] == [0x10, 0]
    assert d["consts"] == [15118, "ff020000000000000000000000000001", 250, 50]
    assert d["res"] == "01fe900100000014" + bytes(range(0xF0, 0x100)).hex() + "ef320000"
    assert d["res_dec"] == [bytes(range(0xF0, 0x100)).hex(), 61234, 0, 0]
    for name, e in d["errors"].items():
        assert e != "accepted", name
    assert "security 0x20" in d["errors"]["req_sec"]
    assert "port 0" in d["errors"]["res_port0"]


def test_ipv6_text_and_sockaddr_helpers_match_cpython(mp):
    addrs = ["fe80::f8b5:3ff:feae:2079", "::", "::1", "ff02::1", "1:0:0:2:0:0:0:3", "1:2:3:4:5:6:7:8",
             "fe80:0:0:0:1:0:0:0", "2001:db8::", "0:0:1::"]
    r = mp("""
from iso15118.transport import netif as n
import harness
out = []
for a in %s:
    b = n.pton(a)
    out.append([b.hex(), n.ntop(b)])
sa = n.sockaddr(n.pton("fe80::1"), 15118, 7)
out.append([len(sa), [x.hex() if isinstance(x, bytes) else x for x in n.parse_sockaddr(sa)]])
bad = []
for t in ("1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "12345::"):
    try:
        n.pton(t)
        bad.append("accepted")
    except ValueError:
        bad.append("refused")
out.append(bad)
harness.result(out)
""" % json.dumps(addrs))
    for a, (hexed, text) in zip(addrs, r.data):
        ip = ipaddress.IPv6Address(a)
        assert hexed == ip.packed.hex() and text == ip.compressed, a
    assert r.data[len(addrs)] == [28, [ipaddress.IPv6Address("fe80::1").packed.hex(), 15118, 7]]
    assert r.data[-1] == ["refused"] * 4


def test_pcapng_capture_reads_back_strictly(mp, tmp_path):
    path = tmp_path / "cap.pcapng"
    r = mp("""
from iso15118.capture import Capture
from iso15118.transport import sdp, v2gtp, netif as n
import harness
t = [1700000000000000]
def clock():
    t[0] += 1000
    return t[0]
c = Capture(%r, "v2g0", clock)
ev, se = n.pton("fe80::2"), n.pton("fe80::1")
tap = c.tap()
tap.udp(ev, 50000, sdp.MULTICAST, 15118, sdp.encode_req(sdp.SEC_NONE))
tap.udp(se, 15118, ev, 50000, sdp.encode_res(se, 61000, sdp.SEC_NONE))
tap.tcp_open(se, 61000, ev, 50001, False)
tap.tcp_data(False, v2gtp.frame(0x8001, b"\\x80\\x00\\xeb"))
tap.tcp_data(True, v2gtp.frame(0x8001, b"\\x80\\x40\\x00\\x40"))
big = bytes(range(256)) * 20 + b"x"
tap.tcp_data(False, v2gtp.frame(0x8004, big)[:8])
tap.tcp_data(False, v2gtp.frame(0x8004, big)[8:])
tap.tcp_close()
c.close()
harness.result([c.packets, c.bytes])
""" % str(path))
    pc = read(str(path))
    assert pc.linktype == 101 and pc.if_name == "v2g0"
    assert len(pc.packets) == r.data[0] == 2 + 3 + 4 + 3
    assert [p.ts_us for p in pc.packets] == [1700000000000000 + 1000 * (i + 1) for i in range(len(pc.packets))]
    req, res = pc.udp()
    assert req.dst == ipaddress.IPv6Address("ff02::1").packed and req.dport == 15118
    assert res.payload[8:24] == ipaddress.IPv6Address("fe80::1").packed
    streams = pc.tcp_streams()
    assert v2gtp_messages(streams[(50001, 61000)]) == [
        (0x8001, b"\x80\x00\xeb"), (0x8004, bytes(range(256)) * 20 + b"x")]
    assert v2gtp_messages(streams[(61000, 50001)]) == [(0x8001, b"\x80\x40\x00\x40")]
    if shutil.which("tshark"):
        check_with_tshark(path, expect_types=["0x9000", "0x9001", "0x8001", "0x8001", "0x8004"])


