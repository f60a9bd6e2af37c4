"""The network-abuse suites' shared plumbing (SECC and EVCC): V2GTP framing, SDP probing, a real EV
session, the fuzz generator and runner, the private loopback namespace and the codec samples.
Helpers and fixtures only; the tests are test_iso15118_link_abuse.py and test_iso15118_evcc_abuse.py."""
from __future__ import annotations

import ctypes
import json
import os
import random
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from jezgro_host import mp
from jezgro_host.ev import RUNNER
from jezgro_host.mp import ROOT, UNIX_BOARD
from netns import skip_reason

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
