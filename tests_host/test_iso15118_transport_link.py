"""ISO 15118 transport over a real IPv6 link (veth pair, peer end in its own network namespace):
our SDP server/V2G listener and SDP client/connector under MicroPython against the `iso15118`
package's EVCC and SECC, raw CPython peers, a CPython TLS peer, and each other, with pcapng capture."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from jezgro_host.mp import pinned_build
from iso15118_peer import PEER_VENV, mp_start, need_peer, package_secc_pki, stop, wait_line
from pcapng_check import check_with_tshark, read, v2gtp_messages
from v2g_runs import firmware_result as mp_result

# supportedAppProtocolReq (ISO 15118-2 only) as the iso15118 package's EVCC encodes it
# (EXICodec.jar), recorded from test_iso15118_evcc_finds_our_secc: our EVCC replays it to its SECC.
SAP_REQ_2 = "8000ebab9371d34b9b79d189a98989c1d191d191818999d26b9b3a232b30020000040040"



def test_our_evcc_and_secc_over_tcp_and_tls_with_capture(v2g_link, certs, tmp_path):
    link = v2g_link
    pcap = tmp_path / "secc.pcapng"
    secc = mp_start("secc", {"iface": link.local, "tcp": True, "sessions": 2, "timeout_ms": 15000,
                             "tls": [certs["cert"].hex(), certs["key"].hex(), None],
                             "pcapng": str(pcap)}, 20000)
    wait_line(secc, "READY")
    frames = [[pt, bytes((pt + i) & 255 for i in range(n)).hex()]
              for pt, n in ((0x8001, 40), (0x8002, 1), (0x8003, 300), (0x8004, 5000), (0x8005, 0), (0x8006, 7))]
    results = {}
    tls = [None, None, certs["ca"].hex(), "secc.test", ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"]]
    for name, cfg in (("tls", tls), ("tcp", None)):
        ev = mp_start("evcc", {"iface": link.peer, "tls": cfg, "frames": frames}, 15000, link.netns)
        results[name] = mp_result(ev)
    s = mp_result(secc)
    for name, sec in (("tls", 0), ("tcp", 0x10)):
        r = results[name]
        assert r["errors"] == [], r
        assert r["sdp"]["addr"] == link.local_ll() and r["sdp"]["security"] == sec
        assert r["sdp"]["requests"] == 1 and r["sdp"]["bad"] == 0
        assert [[a[0], a[1]] for a in r["answers"]] == \
            [[pt, bytes(reversed(bytes.fromhex(h))).hex()] for pt, h in frames]
    # the ISO 15118-2 suite the EVCC asked for, TLS 1.2
    assert results["tls"]["cipher"] == ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256", "TLSv1.2"]
    assert s["ciphers"] == [results["tls"]["cipher"]]
    assert s["frames"] == frames * 2
    assert s["peers"] == [link.peer_ll()] * 2
    assert s["sdp"]["requests"] == s["sdp"]["answered"] == 2 and s["sdp"]["bad_frame"] == 0
    # The SECC's capture: both SDP exchanges and both sessions, readable and reassemblable.
    pc = read(str(pcap))
    assert pc.linktype == 101 and pc.if_name == link.local
    assert [p.payload[2:4].hex() for p in pc.udp()] == ["9000", "9001"] * 2
    streams = pc.tcp_streams()
    to_secc = [v for (sp, dp), v in streams.items() if dp in s["offers"].values()]
    assert len(streams) == 4 and len(to_secc) == 2
    for st in to_secc:
        assert [[pt, p.hex()] for pt, p in v2gtp_messages(st)] == frames
    if shutil.which("tshark"):
        check_with_tshark(pcap, (["0x9000", "0x9001"] + ["0x%04x" % f[0] for f in frames for _ in (0, 1)]) * 2)
    # One connection's live MicroPython heap (stream, 8.5 KB deframer buffer, TLS socket object) must
    # leave the ISO15118 service's 128 KB to the EXI codec and the session.
    assert all(0 < h < 64 * 1024 for h in s["heap"]), s["heap"]
    print(f"heap per connection (tls, tcp): {s['heap']} B")
    print(f"DAD {link.dad_s:.2f} s; answer times tls {[a[2] for a in results['tls']['answers']]} ms, "  # type: ignore[attr-defined]
          f"tcp {[a[2] for a in results['tcp']['answers']]} ms")



@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tls"])
def test_iso15118_evcc_finds_our_secc_and_sends_its_sap_request(v2g_link, tmp_path, certs, use_tls):
    """The iso15118 package's EVCC (SDP, then TCP or TLS 1.2, then its supportedAppProtocolReq)
    against our SDP server and V2G listener: we hand it our address/port, it connects from its
    link-local address, and the V2GTP frame it sends arrives whole with payload type 0x8001. With
    TLS it verifies our certificate against its V2G root (our test CA) with the -2 cipher suite."""
    need_peer()
    link = v2g_link
    cfg_secc = {"iface": link.local, "sessions": 1, "timeout_ms": 25000, "echo": False, "max_frames": 1}
    if use_tls:
        cfg_secc.update(tcp=False, tls=[certs["cert"].hex(), certs["key"].hex(), None])
    secc = mp_start("secc", cfg_secc, 30000)
    wait_line(secc, "READY")
    cfg = tmp_path / "evcc.json"
    cfg.write_text(json.dumps({"supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["AC"],
                               "isCertInstallNeeded": False, "useTls": use_tls}))
    pki = tmp_path / "pki"
    (pki / "iso15118_2" / "certs").mkdir(parents=True)
    (pki / "iso15118_2" / "certs" / "v2gRootCACert.pem").write_bytes(certs["ca"])
    env = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(pki) + "/")
    ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        s = mp_result(secc, 40)
    finally:
        log = stop(ev)
    assert s["errors"] == [], (s, log[-3000:])
    assert s["sdp"] == {"requests": 1, "answered": 1, "bad_frame": 0, "bad_content": 0,
                        "other_security": 0, "send_fail": 0, "other_interface": 0, "busy": 0}, log
    port = s["offers"]["0" if use_tls else "16"]
    sec = "TLS" if use_tls else "NO_TLS"
    assert f"SDPResponse received: [ IP address: {link.local_ll()}, Port: {port} , Security: {sec} " in log
    assert "TCP client connected" in log
    assert s["peers"] == [link.peer_ll()]
    (pt, payload), = s["frames"]
    assert pt == 0x8001 and payload == SAP_REQ_2  # the whole frame, byte for byte
    assert s["deframer_errors"] == [0, 0, 0, 0, 0]
    if use_tls:
        assert s["ciphers"] == [["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256", "TLSv1.2"]]


@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tls"])
def test_our_evcc_finds_iso15118_secc_and_gets_its_sap_response(v2g_link, tmp_path, certs, use_tls):
    """Our SDP client and TCP/TLS connector against the iso15118 package's SECC: discovery, connect
    to the address/port it announces, its supportedAppProtocolRes framed as V2GTP 0x8001. With TLS
    we verify its certificate (chain from our test CA) and ask for the -2 cipher suite."""
    need_peer()
    link = v2g_link
    package_secc_pki(tmp_path / "pki", certs)
    env = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/")
    sc = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.secc.main"]),
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tls = [None, None, certs["ca"].hex(), "secc.test", ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"]]
    try:
        # No readiness signal needed: our client repeats its request for up to 50 x 250 ms.
        ev = mp_start("evcc", {"iface": link.local, "tls": tls if use_tls else None, "enforce_tls": use_tls,
                               "frames": [[0x8001, SAP_REQ_2]]}, 20000)
        r = mp_result(ev, 40)
    finally:
        log = stop(sc)
    assert r["errors"] == [], (r, log[-3000:])
    assert r["sdp"]["addr"] == link.peer_ll() and r["sdp"]["security"] == (0 if use_tls else 0x10)
    (pt, payload, ms), = r["answers"]
    assert pt == 0x8001 and payload.startswith("80")
    assert "supportedAppProtocolReq received" in log and "Sent supportedAppProtocolRes" in log
    if use_tls:
        assert r["cipher"] == ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256", "TLSv1.2"]
    print(f"SDP: {r['sdp']['requests']} request(s), {r['sdp']['elapsed_ms']} ms; SAP answer {ms} ms")


RAW_SDP_PEER = """
import json, socket, struct, sys, time
iface, port_hint = sys.argv[1], None
idx = socket.if_nametoindex(iface)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.settimeout(0.3)
hdr = lambda pt, n: struct.pack(">BBHI", 1, 0xFE, pt, n)
sends = [
    ("garbage", b"hello world"),
    ("truncated", hdr(0x9000, 2)[:6]),
    ("bad_version", bytes([2, 0xFD]) + hdr(0x9000, 2)[2:] + b"\\x10\\x00"),
    ("bad_length", hdr(0x9000, 3) + b"\\x10\\x00"),
    ("bad_security", hdr(0x9000, 2) + b"\\x20\\x00"),
    ("udp_transport", hdr(0x9000, 2) + b"\\x10\\x10"),
    ("tls_asked", hdr(0x9000, 2) + b"\\x00\\x00"),
    ("tcp_asked", hdr(0x9000, 2) + b"\\x10\\x00"),
]
out = {}
for name, data in sends:
    s.sendto(data, ("ff02::1", 15118, 0, idx))
    try:
        res, addr = s.recvfrom(100)
        out[name] = [res.hex(), addr[0]]
    except socket.timeout:
        out[name] = None
port = int(out["tcp_asked"][0][48:52], 16)
# A V2G connection carrying an unknown payload type, then a valid frame, then a bad version header.
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.connect((sys.argv[2], port, 0, idx))
t.sendall(hdr(0x1234, 3) + b"abc" + hdr(0x8001, 2) + b"\\x80\\x00")
out["echo"] = t.recv(100).hex()
t.sendall(bytes([2, 0xFD]) + hdr(0x8001, 0)[2:])
out["closed"] = t.recv(100) == b""
print("RESULT " + json.dumps(out))
"""


def test_sdp_server_and_listener_survive_malformed_input_from_a_raw_peer(v2g_link):
    link = v2g_link
    secc = mp_start("secc", {"iface": link.local, "sessions": 1, "timeout_ms": 8000}, 10000)
    wait_line(secc, "READY")
    peer = subprocess.run(link.in_ns([sys.executable, "-c", RAW_SDP_PEER, link.peer, link.local_ll()]),
                          capture_output=True, text=True, timeout=30)
    s = mp_result(secc)
    line = [x for x in peer.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, peer.stderr
    out = json.loads(line[0][7:])
    for name in ("garbage", "truncated", "bad_version", "bad_length", "bad_security", "udp_transport"):
        assert out[name] is None, name  # malformed: no answer at all
    tcp_port = s["offers"]["16"]
    ll = bytes.fromhex("".join(f"{int(g, 16):04x}" for g in _expand(link.local_ll())))
    expect = "01fe900100000014" + ll.hex() + f"{tcp_port:04x}" + "1000"
    assert out["tcp_asked"] == [expect, link.local_ll()]
    assert out["tls_asked"][0] == expect  # TLS not offered: answered with what we have (NO_TLS)
    assert s["sdp"] == {"requests": 8, "answered": 2, "bad_frame": 4, "bad_content": 2,
                        "other_security": 1, "send_fail": 0, "other_interface": 0, "busy": 0}
    assert out["echo"] == "01fe800100000002" + "0080" and out["closed"]
    assert s["frames"] == [[0x8001, "8000"]]
    assert s["errors"][0][0] == "V2GTPError" and "version: 0x02" in s["errors"][0][1]
    assert s["deframer_errors"] == [1, 0, 1, 0, 0]


def _expand(addr: str) -> list[str]:
    import ipaddress
    return ipaddress.IPv6Address(addr).exploded.split(":")


RAW_SDP_SERVER = """
import json, socket, struct, sys, time
iface, ll = sys.argv[1], sys.argv[2]
idx = socket.if_nametoindex(iface)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("::", 15118))
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, socket.inet_pton(socket.AF_INET6, "ff02::1") + struct.pack("@I", idx))
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.bind((ll, 0, 0, idx)); t.listen(1)
port = t.getsockname()[1]
hdr = lambda pt, n: struct.pack(">BBHI", 1, 0xFE, pt, n)
print("READY", flush=True)
times, reqs = [], []
u.settimeout(int(sys.argv[3]) / 1000)
try:
    while True:
        data, addr = u.recvfrom(100)
        times.append(time.monotonic()); reqs.append(data.hex())
        if len(reqs) == 1:  # a malformed response first: the client must ignore it and go on
            u.sendto(hdr(0x9001, 3) + b"abc", addr)
        elif len(reqs) == int(sys.argv[4]):
            u.sendto(hdr(0x9001, 20) + socket.inet_pton(socket.AF_INET6, ll) + struct.pack(">HBB", port, 0x10, 0), addr)
            break
except socket.timeout:
    pass
out = {"reqs": reqs, "gaps_ms": [round((b - a) * 1000) for a, b in zip(times, times[1:])]}
if len(reqs) == int(sys.argv[4]):
    c, _ = t.accept()
    buf = c.recv(100)
    c.sendall(buf[:8] + buf[8:][::-1])
    out["got"] = buf.hex()
    c.recv(100)
print("RESULT " + json.dumps(out), flush=True)
"""


def test_sdp_client_retries_every_250_ms_ignores_bad_responses_and_gives_up(v2g_link):
    link = v2g_link
    # 1) answered on the 4th request (the 1st gets a malformed response)
    srv = subprocess.Popen(link.in_ns([sys.executable, "-c", RAW_SDP_SERVER, link.peer, link.peer_ll(), "5000", "4"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_line(srv, "READY")
    ev = mp_start("evcc", {"iface": link.local, "frames": [[0x8001, "80aa"]]}, 10000)
    r = mp_result(ev)
    out = json.loads(wait_line(srv, "RESULT")[7:])
    srv.communicate(timeout=10)
    assert r["errors"] == [] and r["sdp"]["requests"] == 4 and r["sdp"]["bad"] == 1
    assert 700 <= r["sdp"]["elapsed_ms"] <= 900, r["sdp"]
    assert out["reqs"] == ["01fe9000000000021000"] * 4
    assert all(200 <= g <= 320 for g in out["gaps_ms"]), out["gaps_ms"]
    assert out["got"] == "01fe80010000000280aa" and r["answers"][0][:2] == [0x8001, "aa80"]
    # 2) nobody answers: the client stops after max_requests
    srv = subprocess.Popen(link.in_ns([sys.executable, "-c", RAW_SDP_SERVER, link.peer, link.peer_ll(), "1500", "99"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_line(srv, "READY")
    ev = mp_start("evcc", {"iface": link.local, "tls": [None, None, None, None], "max_requests": 4}, 5000)
    r = mp_result(ev)
    out = json.loads(wait_line(srv, "RESULT")[7:])
    srv.communicate(timeout=10)
    assert r["errors"] == [["SdpTimeout", "no SDP response to 4 requests"]]
    assert out["reqs"] == ["01fe9000000000020000"] * 4
    print(f"retry gaps {out['gaps_ms']} ms")


TLS_CLIENT = """
import json, socket, ssl, struct, sys
iface, ll, port, ca = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
idx = socket.if_nametoindex(iface)
out = []
for maxv in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(ca)
    c.maximum_version = maxv
    s = c.wrap_socket(socket.create_connection((ll + "%" + iface, port)), server_hostname="secc.test")
    s.sendall(struct.pack(">BBHI", 1, 0xFE, 0x8002, 3) + b"abc")
    ans = s.recv(100)
    out.append([s.version(), s.cipher()[0], ans.hex()])
    s.close()
print("RESULT " + json.dumps(out))
"""


def test_tls_server_negotiates_as_the_cpython_peer_asks(v2g_link, certs):
    """A TLS-only SECC (SDP would answer TLS) against CPython's OpenSSL client: once capped at TLS
    1.2, once allowed anything. Both sides must agree on the version, and -2's TLS 1.2 must work."""
    link = v2g_link
    secc = mp_start("secc", {"iface": link.local, "tcp": False, "sessions": 2, "timeout_ms": 10000,
                             "tls": [certs["cert"].hex(), certs["key"].hex(), None]}, 12000)
    ready = wait_line(secc, "READY")
    port = int(ready.split("0:")[1].strip(" }\n"))
    peer = subprocess.run(link.in_ns([sys.executable, "-c", TLS_CLIENT, link.peer, link.local_ll(), str(port),
                                      str(certs["dir"] / "ca.pem")]), capture_output=True, text=True, timeout=30)
    s = mp_result(secc)
    line = [x for x in peer.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, peer.stderr
    out = json.loads(line[0][7:])
    assert out[0][0] == "TLSv1.2" and out[0][2] == "01fe800200000003636261"
    assert [c[1] for c in s["ciphers"]] == [o[0] for o in out]  # both ends report the same version
    assert out[1][2] == "01fe800200000003636261"
    if pinned_build():  # the unix port built from the pinned source has TLS 1.3 (docs/platform.md)
        assert out[1][0] == "TLSv1.3" and out[1][1].startswith("TLS_AES_"), out
    print(f"TLS negotiated: capped {out[0][:2]}, open {out[1][:2]}")


def test_evcc_security_decision_against_what_the_secc_grants(v2g_link, certs):
    """TLS enforced but the SECC offers TCP only, and TLS-only SECC for an EVCC without TLS: both
    end with SecurityRefused after discovery, before any connection."""
    link = v2g_link
    tls_srv = [certs["cert"].hex(), certs["key"].hex(), None]
    for secc_cfg, evcc_cfg, text in (
            ({"tcp": True}, {"tls": [None, None, None, None], "enforce_tls": True}, "TLS is enforced"),
            ({"tcp": False, "tls": tls_srv}, {"tls": None}, "no TLS is configured")):
        secc = mp_start("secc", {"iface": link.local, "sessions": 1, "timeout_ms": 1500, **secc_cfg}, 3000)
        wait_line(secc, "READY")
        r = mp_result(mp_start("evcc", {"iface": link.peer, **evcc_cfg}, 3000, link.netns))
        s = mp_result(secc)
        assert r["errors"][0][0] == "SecurityRefused" and text in r["errors"][0][1], r
        assert s["sdp"]["answered"] == 1 and s["peers"] == []


def test_link_fixture_explains_why_it_skips(monkeypatch):
    import netns
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "need root" in (netns.skip_reason() or "")
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert "iproute2" in (netns.skip_reason() or "")
