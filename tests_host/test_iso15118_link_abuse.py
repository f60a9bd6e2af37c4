"""Issue 20: the SECC survives a buggy or hostile link (docs/iso15118_connections.md).

One gateway simulation (wall-clock time, ISO15118 on loopback with TCP and TLS offered, no simulated
EV) takes every kind of abuse from a raw CPython peer - an idle connection, a half-sent header, slow
senders, 50 simultaneous connections, 10 000 fuzzed V2GTP/EXI payloads, TLS handshakes that stall -
and after each case our EVCC (the `jezgro ev` runner) runs a real ISO 15118-2 DC session that must end
with SessionStop: it enforces the standard's SDP and message timeouts itself. The ISO15118 service
must never fault, and no step of it may be long enough to drop a CRITICAL tick by itself."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


from link_abuse import Sim, SDP_TLS, FUZZ_COUNT, TICK_STEP_US, frame, sdp, ev_session, connect, closed_by_peer, fuzz_cases, read_frame, fuzz, client_hello, private_loopback, link_stats, iso_service, codec_samples  # noqa: F401  (fixtures among them)

STEP_BOUND_US = TICK_STEP_US  # see the step check in the test: the unix tick-drop threshold


def test_secc_survives_a_hostile_link_and_still_charges(tmp_path, certs, codec_samples, private_loopback):
    sap_req, ssr, _ = codec_samples
    sap_frame = frame(0x8001, sap_req)
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "secc.crt").write_bytes(certs["cert"])
    (fs / "secc.key").write_bytes(certs["key"])
    (fs / "iso15118.json").write_text(json.dumps({
        "iface": "lo", "tls": True, "protocols": ["ISO_15118_2", "DIN_SPEC_70121"],
        "limits": {"max_p": 22000, "ac_max_i": 32, "ac_nominal_v": 230}}))
    t_suite = time.monotonic()
    sim = Sim(fs, 600)
    sessions: dict[str, dict] = {}
    notes: dict[str, object] = {}
    retries: list = []
    try:
        port = sdp()
        tls_port = sdp(SDP_TLS)
        assert tls_port != port

        def charge(case: str, tls=None) -> None:
            r = ev_session(tls)
            if r.get("end") == "SequenceTimeout" and "V2G_EVCC_Msg_Timeout" in (r.get("detail") or ""):
                # A 250 ms charge-loop timeout the host's scheduler can break on its own: on 2 shared
                # cores the simulation is descheduled for up to ~240 ms (its CRITICAL jitter shows it).
                # Once, with the abuse still in place where it lasts (idle, 50 connections); counted.
                retries.append([case, r.get("detail")])
                r = ev_session(tls)
            sessions[case] = r
            assert r.get("end") == "SessionStop" and r["faults"] == 0, (case, r)

        # 1. idle connection (the case) and a half-sent header, both kept open during the session
        idle = connect(port)
        half = connect(port)
        half.sendall(sap_frame[:3])
        charge("idle")
        notes["idle_closed_s"] = closed_by_peer(idle, 5)
        notes["half_closed_s"] = closed_by_peer(half, 1)
        assert notes["idle_closed_s"] is not None and notes["half_closed_s"] is not None, notes
        idle.close()
        half.close()

        # 2. slow senders: one byte every 10 ms completes its SAP request in time and is answered; one
        # byte every 300 ms is cut MSG_MS (2 s) after its first byte; the EV supersedes the first
        slow_ok = connect(port)
        for b in sap_frame:
            slow_ok.sendall(bytes([b]))
            time.sleep(0.01)
        res = read_frame(slow_ok)
        assert res is not None and res[2:4] == b"\x80\x01", res
        crawl = connect(port)
        t_first = time.monotonic()
        crawl_closed = []

        def crawler() -> None:
            for b in sap_frame:
                try:
                    crawl.sendall(bytes([b]))
                except OSError:
                    break
                time.sleep(0.3)
            crawl_closed.append(time.monotonic() - t_first)

        th = threading.Thread(target=crawler)
        th.start()
        charge("slow")
        notes["slow_ok_superseded_s"] = closed_by_peer(slow_ok, 5)
        th.join(20)
        notes["crawler_cut_s"] = crawl_closed[0] if crawl_closed else None
        assert notes["slow_ok_superseded_s"] is not None
        assert notes["crawler_cut_s"] is not None and 1.8 < notes["crawler_cut_s"] < 6, notes
        slow_ok.close()
        crawl.close()

        # 3. 50 simultaneous connections (half idle, half garbage), still open while the EV charges
        many = []
        for i in range(50):
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("::1", port))
            many.append(s)
        time.sleep(0.2)
        for i, s in enumerate(many):
            if i % 2:
                try:
                    s.send(b"\x01\xfe\x80\x01\x00\x00\x00\x04GET ")
                except OSError:
                    pass
        charge("many")
        for s in many:
            s.close()

        # 4. TLS handshakes that stall: nothing after connect, half a ClientHello, a whole ClientHello
        # and then silence; then sessions over TCP and over TLS (certificate checked against the CA)
        hello = client_hello()
        stalls = [connect(tls_port) for _ in range(3)]
        stalls[1].sendall(hello[:len(hello) // 2])
        stalls[2].sendall(hello)
        charge("tls_stall")
        notes["tls_stall_closed_s"] = [closed_by_peer(s, 6) for s in stalls]
        assert all(x is not None for x in notes["tls_stall_closed_s"]), notes
        for s in stalls:
            s.close()
        charge("tls_session", [None, None, certs["ca"].hex(), "secc.test",
                               ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"]])

        # 5. 10 000 fuzzed payloads from the network side, then a session
        cases = list(fuzz_cases(sap_req, ssr, FUZZ_COUNT))
        t0 = time.monotonic()
        fz = fuzz(port, (sap_frame, cases))
        notes["fuzz_s"] = round(time.monotonic() - t0, 1)
        notes["fuzz"] = fz
        assert fz["sent"] == FUZZ_COUNT and fz["errors"] == 0, fz
        charge("fuzz")
    finally:
        summary = sim.stop()
        print("\nSECC sessions:", json.dumps([[h.get("end"), h.get("detail"), h.get("messages"), h.get("loop_us")]
                                             for h in summary["iso15118"]["history"]]))
        print("link:", json.dumps(summary["iso15118"].get("link")))
    notes["suite_s"] = round(time.monotonic() - t_suite, 1)
    iso = iso_service(summary)
    link = link_stats(summary)
    print("\nsessions:", json.dumps({k: [v.get("end"), v.get("wall_s"), v.get("duration_ms"), v.get("messages")]
                                     for k, v in sessions.items()}))
    print("notes:", json.dumps(notes), "EV retries (host scheduling):", retries)
    print("link:", json.dumps(link), "sdp:", json.dumps(summary["iso15118"]["sdp"]))
    print("ISO15118 max step us:", iso["max_step_us"], "on a CPU:", iso["max_step_cpu_us"], "critical:", json.dumps(summary["critical"]))
    assert iso["faults"] == 0 and iso["restarts"] == 0, iso
    assert len(retries) <= 2, retries
    # Steps of the SECC and the CRITICAL tick. On the unix port the tick runs between service steps, so
    # a step longer than TICK_STEP_US (50 ms) drops ticks by itself; on the board the tick is a hard IRQ
    # and no service step delays it. TLS handshakes run one state per step (docs/iso15118_connections.md),
    # so no step of the SECC's own needs 50 ms of CPU (max_step_cpu_us: the step's time on a CPU from
    # /proc/self/schedstat; its wall time, max_step_us, also holds the time the host ran other programs).
    # With every step under that, not one tick may be missed by our doing: a drop that the process's own
    # CPU time does not explain (ticks_missed_off_cpu: the host ran other programs, or the GC waited for
    # the hang watcher thread to be scheduled) is the machine's, as a CI run on a loaded machine showed
    # (627 ticks dropped, longest step 31 ms).
    crit = summary["critical"]
    assert iso["max_step_cpu_us"] < STEP_BOUND_US, (iso, crit)
    if crit["max_cost_us"] < 5000:
        assert crit["ticks_missed"] - crit["ticks_missed_off_cpu"] == 0, crit
    hist = summary["iso15118"]["history"]  # the last four SECC sessions: the fuzz's, then the EV's
    assert hist[-1]["end"] == "SessionStop" and hist[-1]["responses"][-1] == ["SessionStopRes", "OK"], hist[-1]
    assert summary["iso15118"]["sessions"] > len(sessions) + 400  # every SAP-valid fuzz case got a session
    # every limit fired and was counted
    for k in ("no_first_byte", "slow", "bad", "superseded", "evicted", "closed"):
        assert link[k] > 0, (k, link)
    # every fuzz connection and the single ones; of the 50 at once, those whose SYN met a full backlog
    # and were closed by us before their retransmission never reach accept()
    assert link["accepted"] >= FUZZ_COUNT + 13, link  # 13 single connections (6 of them EVs)
    assert summary["iso15118"]["sdp"]["answered"] >= 8
    assert summary["ipc"]["layout_errors"] == 0


# A peer inside the veth namespace that keeps idle connections to the SECC: SDP, then one new
# connection every second that never sends a byte, each held 6 s (so two or three are open at any time).
IDLE_PEER = r"""
import socket, struct, sys, time
iface, seconds = sys.argv[1], float(sys.argv[2])
idx = socket.if_nametoindex(iface)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
u.settimeout(0.25)
for _ in range(50):
    u.sendto(bytes.fromhex("01fe9000000000021000"), ("ff02::1", 15118, 0, idx))
    try:
        d = u.recv(100)
        break
    except TimeoutError:
        pass
addr, port = socket.inet_ntop(socket.AF_INET6, d[8:24]), struct.unpack(">H", d[24:26])[0]
held, t0, n = [], time.monotonic(), 0
while time.monotonic() - t0 < seconds:
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.connect((addr, port, 0, idx))
    held.append((time.monotonic(), s))
    n += 1
    print("IDLE", n, flush=True)
    while held and time.monotonic() - held[0][0] > 6:
        held.pop(0)[1].close()
    time.sleep(1)
"""


# The same host's worse behaviour, for as long as the EV takes: every 0.5 s 10 new connections (half
# idle, half a garbage V2GTP frame, at most 50 open, each held 5 s), one crawler (a byte every 300 ms),
# 20 fuzzed supportedAppProtocolReq/header cases on their own connections, and where TLS is offered
# a ClientHello that is never continued.
HOSTILE_PEER = IDLE_PEER.split("held, t0, n")[0] + r"""
import random, ssl
sys.path.insert(0, sys.argv[3])
from link_abuse import fuzz_cases, frame, mutate
rng = random.Random(7)
sap = bytes.fromhex(sys.argv[4])
# fuzzed headers with random bodies only: a mutated SAP request that is still valid would be admitted and,
# from this host's address, supersede the EV before its SessionSetup - the policy's (documented) price
cases = (c for c in fuzz_cases(sap, sap, 1000000) if c[0] == "hdr")
tls_port = 0
for _ in range(20):  # SDP asking for TLS: the port of the TLS listener
    u.sendto(bytes.fromhex("01fe9000000000020000"), ("ff02::1", 15118, 0, idx))
    try:
        d = u.recv(100)
    except TimeoutError:
        continue
    if d[26] == 0x00:
        tls_port = struct.unpack(">H", d[24:26])[0]
    break
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
held, crawlers, t0, n = [], [], time.monotonic(), 0
def conn(p):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((addr, p, 0, idx))
    return s
while time.monotonic() - t0 < seconds:
    now = time.monotonic()
    for i in range(10):
        s = conn(port)
        held.append((now, s))
    time.sleep(0.05)
    for _, s in held[-5:]:
        try:
            s.send(b"\x01\xfe\x80\x01\x00\x00\x00\x10garbage")
        except OSError:
            pass
    while len(held) > 50 or (held and now - held[0][0] > 5):
        held.pop(0)[1].close()
    cr = conn(port)
    crawlers.append([cr, frame(0x8001, sap), 0])
    if tls_port:
        o = c.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO())
        try:
            o.do_handshake()
        except ssl.SSLWantReadError:
            pass
        t = conn(tls_port)
        time.sleep(0.01)
        try:
            t.send(out.read())
        except OSError:
            pass
        held.append((now, t))
    for _ in range(20):
        kind, data = next(cases)
        f = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        f.settimeout(0.5)
        try:
            f.connect((addr, port, 0, idx))
            f.sendall(data)
            f.recv(64)
        except OSError:
            pass
        f.close()
        n += 1
    for cw in crawlers:
        if cw[2] < len(cw[1]):
            try:
                cw[0].send(cw[1][cw[2]:cw[2] + 1])
            except OSError:
                cw[2] = len(cw[1])
            cw[2] += 1
    print("HOSTILE", n, flush=True)
    time.sleep(0.3)
"""


@pytest.mark.parametrize("peer", ["idle", "hostile"])
def test_package_evcc_charges_over_veth_under_abuse(v2g_link, tmp_path, certs, codec_samples, peer):
    """The issue's case with the independent peer: the iso15118 package's EVCC (-2 AC, EIM) on the far
    end of a veth pair finds and charges at the gateway while another host on the link keeps abusing
    the SECC: "idle" opens an idle TCP connection every second and holds each 6 s; "hostile" keeps up to
    50 connections open, trickles, fuzzes and stalls TLS handshakes all the while (HOSTILE_PEER)."""
    from iso15118_peer import PEER_VENV, need_peer, read_until, stop

    need_peer()
    link = v2g_link
    fs = tmp_path / "fs"
    fs.mkdir()
    cfg = {"iface": link.local, "protocols": ["ISO_15118_2"]}
    if peer == "hostile":  # TLS offered too, so that the stalled handshakes reach the SECC
        (fs / "secc.crt").write_bytes(certs["cert"])
        (fs / "secc.key").write_bytes(certs["key"])
        cfg["tls"] = True
    (fs / "iso15118.json").write_text(json.dumps(cfg))
    sim = Sim(fs, 120)
    idle = ev = None
    log = ""
    try:
        argv = ([sys.executable, "-c", IDLE_PEER, link.peer, "30"] if peer == "idle" else
                [sys.executable, "-c", HOSTILE_PEER, link.peer, "30", str(Path(__file__).parent),
                 codec_samples[0].hex()])
        idle = subprocess.Popen(link.in_ns(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert idle.stdout is not None and idle.stdout.readline().startswith(("IDLE", "HOSTILE")), stop(idle)
        t_peer = time.monotonic()
        cfg = tmp_path / "evcc.json"
        cfg.write_text(json.dumps({"supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["AC"],
                                   "energyTransferMode": "AC_three_phase_core", "isCertInstallNeeded": False,
                                   "useTls": False, "chargeLoopCycle": 5}))
        penv = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/")
        t0 = time.monotonic()
        ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                              cwd=tmp_path, env=penv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log = read_until(ev, "SessionStopRes received", 60)  # bounded: an EV that gave up stays silent
        took = time.monotonic() - t0
        if peer == "idle":
            # one idle connection a second, each dropped 3 s after it opened (FIRST_BYTE_MS): 6.5 s of the
            # peer make at least three such drops, however quickly the EV (a warm JVM) was done
            time.sleep(max(0.0, 6.5 - (time.monotonic() - t_peer)))
    finally:
        log += stop(ev) if ev is not None else ""
        idle_out = stop(idle) if idle is not None else ""
        summary = sim.stop()
    assert "SessionStopRes received" in log, log[-3000:]
    hist = summary["iso15118"]["history"]
    link_st = summary["iso15118"]["link"]
    print(f"\npackage EVCC with a {peer} peer: SessionStopRes {took:.1f} s after its start (JVM included); "
          f"peer {idle_out.strip().splitlines()[-1:]}; link {json.dumps(link_st)}; "
          f"critical {json.dumps(summary['critical'])}; ISO15118 max step {iso_service(summary)['max_step_us']} us")
    assert [h["end"] for h in hist] == ["SessionStop"], hist
    assert link_st["admitted"] == 1, link_st  # the EV's connection alone
    # idle connections time out one by one; the hostile peer's idle ones and its crawlers are evicted
    # first (4 pending, 10 new every 0.5 s), its garbage is refused as bad
    for k in (("no_first_byte",) if peer == "idle" else ("bad", "evicted")):
        assert link_st[k] >= 2, (k, link_st)
    assert iso_service(summary)["faults"] == 0
