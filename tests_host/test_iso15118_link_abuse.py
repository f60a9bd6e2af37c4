"""Issue 20: the SECC survives a buggy or hostile link (docs/iso15118_connections.md).

One gateway simulation (wall-clock time, ISO15118 on loopback with TCP and TLS offered, no simulated
EV) takes every kind of abuse from a raw CPython peer - an idle connection, a half-sent header, slow
senders, 50 simultaneous connections, 10 000 fuzzed V2GTP/EXI payloads, TLS handshakes that stall -
and after each case our EVCC (the `jezgro ev` runner) runs a real ISO 15118-2 DC session that must end
with SessionStop: it enforces the standard's SDP and message timeouts itself. The ISO15118 service
must never fault, and no step of it may be long enough to drop a CRITICAL tick by itself."""
from __future__ import annotations

import ctypes
import json
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest

from jezgro_host import mp
from jezgro_host.ev import RUNNER
from jezgro_host.mp import ROOT, UNIX_BOARD
from netns import skip_reason, v2g_link  # noqa: F401  (v2g_link: fixture)

SDP_TCP = bytes.fromhex("01fe900000000002" "1000")  # security 0x10 no TLS, transport TCP
SDP_TLS = bytes.fromhex("01fe900000000002" "0000")
FUZZ_SEED = 20
FUZZ_COUNT = 10000
TICK_STEP_US = 50000  # boards/unix/board.py: a step longer than 500 ticks (50 ms) drops ticks by itself

# the firmware's own encodings of an EV's first two requests (ISO 15118-2)
GEN = """
import ubinascii
from exi import codec, schemas
from iso15118.evcc import sap
hs = schemas.grammar("handshake")
print("SAP", ubinascii.hexlify(codec.encode(hs, {"supportedAppProtocolReq": sap.build_req([sap.ISO2])})).decode())
doc = {"V2G_Message": {"Header": {"SessionID": "00"}, "Body": {"SessionSetupReq": {"EVCCID": "020000000001"}}}}
print("SSR", ubinascii.hexlify(codec.encode(schemas.grammar("iso2"), doc)).decode())
res = {"supportedAppProtocolRes": {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 1}}
print("SAR", ubinascii.hexlify(codec.encode(hs, res)).decode())
"""


def frame(pt: int, payload: bytes) -> bytes:
    return struct.pack(">BBHI", 1, 0xFE, pt, len(payload)) + payload


class Sim:
    """simmain in wall-clock time in the background; stop() (its --stop-file) returns its summary."""

    def __init__(self, fs, seconds: int):
        self.fs = fs
        self.proc = mp.start([str(UNIX_BOARD / "simmain.py"), "--fs", str(fs), "--wall", "--ev", "none",
                              "--seconds", str(seconds), "--stop-file", "stop"], heap="1M", fs_root=str(fs),
                             cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.summary = None
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("SUMMARY "):
                self.summary = json.loads(line[8:])
            else:
                self.lines.append(line)

    def stop(self) -> dict:
        (self.fs / "stop").write_text("")
        self.reader.join(60)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.proc.wait(30)
        assert self.summary is not None, (self.proc.returncode, err[-3000:], "".join(self.lines[-30:]))
        return self.summary


def sdp(req: bytes = SDP_TCP, timeout: float = 0.25, tries: int = 50) -> int:
    """-> the V2G port the SECC names (its address is ::1 on loopback)."""
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.settimeout(timeout)
    try:
        for _ in range(tries):
            u.sendto(req, ("::1", 15118))
            try:
                d, _ = u.recvfrom(100)
            except TimeoutError:
                continue
            assert d[:4] == b"\x01\xfe\x90\x01" and len(d) == 28, d.hex()
            return struct.unpack(">H", d[24:26])[0]
    finally:
        u.close()
    raise AssertionError("no SDP answer")


def ev_session(tls=None, loops: int = 3) -> dict:
    """Our EVCC (ISO 15118-2 DC) from SDP to the end of its session -> its result (+ wall seconds)."""
    cfg = {"iface": "lo", "protocols": ["iso2-dc"], "tls": tls, "pcap": None, "progress": False, "msg_ms": {},
           "ev": {"soc": 30, "target_soc": 80, "capacity_wh": 60000, "loops": loops, "loop_ms": 50,
                  "bpt_mode": "Scheduled"}}
    t0 = time.monotonic()
    r = mp.run(["-c", RUNNER % {"cfg": json.dumps(cfg), "run_ms": 60000}], heap="2M", capture_output=True,
               timeout=120)
    out = [json.loads(x[7:]) for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    assert out, (r.returncode, r.stderr[-3000:])
    res = out[0]["result"] or {}
    res["wall_s"] = round(time.monotonic() - t0, 2)
    res["faults"] = out[0]["faults"]
    return res


def connect(port: int) -> socket.socket:
    return socket.create_connection(("::1", port), timeout=10)


def closed_by_peer(s: socket.socket, within: float) -> float | None:
    """-> seconds until the SECC closed s (EOF or reset), None if it did not within `within`."""
    t0 = time.monotonic()
    s.settimeout(0.05)
    while time.monotonic() - t0 < within:
        try:
            if s.recv(4096) == b"":
                return time.monotonic() - t0
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def mutate(rng: random.Random, b: bytes) -> bytes:
    """one random mutation of b: bit flips, byte values, cut, duplicated or inserted runs"""
    x = bytearray(b)
    k = rng.randrange(6)
    if k == 0 and x:
        for _ in range(rng.randint(1, 4)):
            x[rng.randrange(len(x))] ^= 1 << rng.randrange(8)
    elif k == 1 and x:
        for _ in range(rng.randint(1, 4)):
            x[rng.randrange(len(x))] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    elif k == 2:
        x = x[:rng.randrange(len(x) + 1)]
    elif k == 3 and x:
        i = rng.randrange(len(x))
        x[i:i] = x[i:i + rng.randint(1, 16)] * rng.randint(1, 8)
    elif k == 4:
        i = rng.randrange(len(x) + 1)
        x[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    else:
        x = bytearray(rng.randrange(256) for _ in range(rng.randint(0, 96)))
    return bytes(x)


def fuzz_cases(sap: bytes, ssr: bytes, n: int):
    """n deterministic (kind, bytes) cases: "hdr" a fuzzed V2GTP header (any version, type, length) with
    a random body, "sap" a mutated supportedAppProtocolReq in a valid header, "ses" a valid SAP
    request followed by a mutated SessionSetupReq (the session's own decoder)."""
    rng = random.Random(FUZZ_SEED)
    for i in range(n):
        r = i % 20
        if r < 5:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 48)))
            hdr = struct.pack(">BBHI", rng.choice((1, 1, 1, 2, 0, rng.randrange(256))),
                              rng.choice((0xFE, 0xFE, 0xFE, 0xFF, rng.randrange(256))),
                              rng.choice((0x8001, 0x8002, 0x9000, 0x0000, 0xFFFF, rng.randrange(65536))),
                              rng.choice((len(body), len(body) + 1, 0, 2560, 2561, 8193, 0xFFFFFFFF,
                                          rng.randrange(1 << 32))))
            yield "hdr", hdr + body
        elif r < 19:
            yield "sap", frame(0x8001, mutate(rng, sap))
        else:
            yield "ses", frame(0x8001, mutate(rng, ssr))


def read_frame(s: socket.socket) -> bytes | None:
    buf = b""
    while len(buf) < 8 or len(buf) < 8 + struct.unpack(">I", buf[4:8])[0]:
        try:
            d = s.recv(4096)
        except OSError:
            return None
        if not d:
            return None
        buf += d
    return buf


def fuzz(port: int, cases: list, workers: int = 4) -> dict:
    sap_frame = cases[0]
    stats = {"sent": 0, "sap_answered": 0, "errors": 0, "reset": 0}
    lock = threading.Lock()
    it = iter(cases[1])

    def worker() -> None:
        while True:
            with lock:
                c = next(it, None)
            if c is None:
                return
            kind, data = c
            try:
                s = connect(port)
            except OSError:
                with lock:
                    stats["errors"] += 1  # not even connected: the payload never reached the SECC
                continue
            try:
                if kind == "ses":
                    s.sendall(sap_frame)
                    if read_frame(s) is not None:
                        with lock:
                            stats["sap_answered"] += 1
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                closed_by_peer(s, 10)
            except OSError:
                with lock:
                    stats["reset"] += 1  # the SECC closed on a bad header before we finished sending
            s.close()
            with lock:
                stats["sent"] += 1

    ts = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return stats


def client_hello() -> bytes:
    """the first flight of a real TLS 1.2 client (CPython/OpenSSL), never continued"""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.maximum_version = ssl.TLSVersion.TLSv1_2
    o = c.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO())
    with pytest.raises(ssl.SSLWantReadError):
        o.do_handshake()
    return out.read()


@pytest.fixture()
def private_loopback():
    """This test's own network namespace with only `lo`: other simulations on the host (other test runs)
    also serve SDP on ::1 port 15118 and would answer our EV. The test thread enters it (setns), so the
    simulation, the EVCC runs (subprocesses) and the peer's sockets and threads all live there."""
    why = skip_reason()
    if why:
        pytest.skip(why)
    name = f"jz-abuse-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            assert libc.setns(fd, 0x40000000) == 0, os.strerror(ctypes.get_errno())  # CLONE_NEWNET
        finally:
            os.close(fd)
        yield name
    finally:
        libc.setns(home, 0x40000000)
        os.close(home)
        subprocess.run(["ip", "netns", "del", name], check=False)


def link_stats(summary: dict) -> dict:
    return summary["iso15118"]["link"]


def iso_service(summary: dict) -> dict:
    return next(s for s in summary["services"] if s["name"] == "ISO15118")


@pytest.fixture(scope="module")
def codec_samples():
    r = mp.run_code(GEN)
    got = dict(ln.split() for ln in r.stdout.splitlines() if ln[:3] in ("SAP", "SSR", "SAR"))
    assert set(got) == {"SAP", "SSR", "SAR"}, r.stderr
    return bytes.fromhex(got["SAP"]), bytes.fromhex(got["SSR"]), bytes.fromhex(got["SAR"])


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
    print("ISO15118 max step us:", iso["max_step_us"], "critical:", json.dumps(summary["critical"]))
    assert iso["faults"] == 0 and iso["restarts"] == 0, iso
    assert len(retries) <= 2, retries
    # No missed tick caused by the SECC: none of its steps may be long enough to drop ticks by itself
    # (50 ms). On a shared host the process is descheduled for longer than that now and then; a tick
    # costing that long (a few µs of work) measures it, and a step may be as long without being at fault.
    crit = summary["critical"]
    assert iso["max_step_us"] < TICK_STEP_US + crit["max_cost_us"], (iso, crit)
    if crit["max_cost_us"] < 5000:  # the host never descheduled us: then not one tick may be missed
        assert crit["ticks_missed"] == 0, crit
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


def test_package_evcc_charges_over_veth_while_idle_connections_are_open(v2g_link, tmp_path):
    """The issue's case with the independent peer: the iso15118 package's EVCC (-2 AC, EIM) on the far
    end of a veth pair finds and charges at the gateway while another host on the link keeps idle TCP
    connections open to the SECC (a new one every second, each held 6 s)."""
    from test_v2g_transport_link import PEER_VENV, _need_peer, stop

    _need_peer()
    link = v2g_link
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "iso15118.json").write_text(json.dumps({"iface": link.local, "protocols": ["ISO_15118_2"]}))
    sim = Sim(fs, 120)
    idle = ev = None
    log = ""
    try:
        idle = subprocess.Popen(link.in_ns([sys.executable, "-c", IDLE_PEER, link.peer, "30"]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert idle.stdout is not None and idle.stdout.readline().startswith("IDLE"), stop(idle)
        cfg = tmp_path / "evcc.json"
        cfg.write_text(json.dumps({"supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["AC"],
                                   "energyTransferMode": "AC_three_phase_core", "isCertInstallNeeded": False,
                                   "useTls": False, "chargeLoopCycle": 5}))
        penv = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/")
        t0 = time.monotonic()
        ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                              cwd=tmp_path, env=penv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert ev.stdout is not None
        while time.monotonic() - t0 < 60:
            line = ev.stdout.readline()
            log += line
            if "SessionStopRes received" in line or (not line and ev.poll() is not None):
                break
        took = time.monotonic() - t0
    finally:
        log += stop(ev) if ev is not None else ""
        idle_out = stop(idle) if idle is not None else ""
        summary = sim.stop()
    assert "SessionStopRes received" in log, log[-3000:]
    hist = summary["iso15118"]["history"]
    link_st = summary["iso15118"]["link"]
    print(f"\npackage EVCC with idle connections open: SessionStopRes {took:.1f} s after its start "
          f"(JVM included); idle connections {idle_out.count('IDLE')}; link {json.dumps(link_st)}")
    assert [h["end"] for h in hist] == ["SessionStop"], hist
    assert link_st["no_first_byte"] >= 2 and link_st["admitted"] == 1, link_st
    assert iso_service(summary)["faults"] == 0
