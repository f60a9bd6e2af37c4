"""`jezgro bench` / `make bench`: kernel benchmarks under unix MicroPython, ratios against same-run baselines."""
from __future__ import annotations

import subprocess
import sys

from . import mp
from .mp import BENCH, ROOT

BENCHES = ["kernel_bench.py", "grid_bench.py", "transport_bench.py", "ocpp_bench.py", "exi_bench.py", "v2g_loop_bench.py", "can_bench.py",
           "bridge_bench.py", "slac_bench.py", "tls_bench.py", "sim_bench.py", "growth_bench.py"]
# the simulated gateway with the EV (simmain) needs the heap `jezgro sim` gives it, and more for two runs
BIG_HEAP = ("can_bench.py", "sim_bench.py")


def add_parser(sub) -> None:
    s = sub.add_parser("bench", help="kernel benchmarks against same-run baselines")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=main)


def _tls_certs(d) -> None:
    """tls_bench's P-256 PKI: a CA, the SECC's certificate (CN secc.test) and an EV's (mutual TLS 1.3)."""
    from .errors import ToolError

    if (d / "ev.key").exists():
        return
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        r = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True)
        if r.returncode:
            raise ToolError(f"openssl {args[0]} failed: {r.stderr.strip()[:200]}")

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=bench root")
    for name in ("secc", "ev"):
        ossl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}.test")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "3650")


def run_one(b: str, fs, json_out: bool = False, **kw) -> subprocess.CompletedProcess:
    """One bench script under the unix port, with what it needs beside it; kw go to mp.run
    (capture_output for the tests)."""
    if b == "exi_bench.py":  # its baseline, the iso15118 package's codec, runs on CPython + Java first
        from .exigen import bench_prep
        bench_prep.prepare(ROOT / "build" / "exi_bench.json")
    peer = None
    if b == "tls_bench.py":  # its TLS client: OpenSSL on CPython, 2 x 5 connections per case
        _tls_certs(fs / "tls")
        peer = subprocess.Popen([sys.executable, str(BENCH / "tls_peer.py"), "47311", str(fs / "tls"),
                                 *["tls12"] * 10, *["tls13"] * 10])
    args = [str(BENCH / b)] + (["--json"] if json_out else [])
    try:
        p = mp.run(args, heap="4M" if b in BIG_HEAP else "2M", fs_root=fs, extra=[BENCH], cwd=ROOT,
                   timeout=600, extra_env={"JEZGRO_CAN_PORT": "43119"}, **kw)
    finally:
        if peer is not None:
            try:
                peer.wait(30)
            except subprocess.TimeoutExpired:
                peer.kill()
                peer.wait()
    if peer is not None and peer.returncode and not p.returncode:
        p.returncode = peer.returncode  # the server's table stands on a client that failed
    return p


def main(a) -> int:
    fs = ROOT / "build" / "bench_fs"
    fs.mkdir(parents=True, exist_ok=True)
    rc = 0
    for b in BENCHES:
        print(f"== {b} (MicroPython unix port; on the board expect roughly 10-20x the times)")
        rc |= run_one(b, fs, a.json).returncode
    # Instructions per CRITICAL tick on the emulated Cortex-M7 next to the C reference (m7bench.py)
    from . import m7bench
    rc |= m7bench.main()
    return rc
