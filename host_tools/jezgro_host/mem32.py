"""Memory that fits the board (issue 16, docs/reliability.md): the V2G configuration on the 32-bit unix port
(`jezgro firmware build --target unix32`: MICROPY_FORCE_32BIT, the firmware frozen as on the board, so every
object has the board's size and code/constants are outside the heap, and mbedTLS allocates from the GC heap
as on the board) with the board's 440 KB GC heap.

    .venv/bin/python -m jezgro_host.mem32 [--seconds 60] [--heap 440K] [--json OUT.json]

1. Import heap per V2G service (module-level objects only; the board layer imported first, as every
   service finds it) against the per-service budget of config/v2g.py (spec §2.1).
2. The whole configuration running: the simulated EV charges with every protocol in turn (DIN, -2 DC,
   -2 AC, -20 DC BPT, -20 AC BPT, SLAC first) while OCPP_CLIENT is connected to a CSMS (the `ocpp`
   package, `jezgro csms`) over TLS (security profile 2, wss://localhost, a CA made here with openssl):
   the live heap after collection, the free heap and the largest free block (fragmentation) every
   second, per phase of the run. The simulated EV (its EVCC, SLAC and session) shares the heap: the
   board has no EV, so the figures are an upper bound for the gateway.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import firmware, m7bench, mp, provision, sim
from .csms import Csms
from .errors import ToolError

EXE = firmware.OUT / "micropython32"
PW = "mem32-password-0123"


def imports(heap: str) -> dict:
    # the same measurement as on the emulated M7 (board layer first, then each service's module)
    r = mp.run(["-c", m7bench.GUEST_HEAP], heap=heap, capture_output=True, timeout=120, cwd=mp.ROOT)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise SystemExit(f"import measurement failed: {r.stdout[-1500:]} {r.stderr[-1500:]}")
    return json.loads(line[0][7:])


def _pki(d: Path) -> None:
    def ossl(*a: str) -> None:
        subprocess.run(["openssl", *a], cwd=d, check=True, capture_output=True)
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2", "-subj", "/CN=mem32-ca", "-out", "ca.pem")
    ossl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "srv.key")
    ossl("req", "-new", "-key", "srv.key", "-subj", "/CN=localhost", "-out", "srv.csr")
    (d / "srv.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
         "-sha256", "-extfile", "srv.ext", "-out", "srv.pem")


def running(seconds: float, heap: str, tls: bool) -> dict:
    """The whole configuration with sessions of every protocol (virtual time, OCPP offline), or in wall-clock
    time with OCPP connected over TLS (tls): heap samples."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _pki(d)
        csms = Csms(log_path=d / "csms.jsonl", passwords={"GW-MEM32": PW}, certfile=str(d / "srv.pem"),
                    keyfile=str(d / "srv.key")).start()
        samples: list[list[int]] = []

        def on_line(tag: str, rest: str) -> None:
            if tag == "STATUS":
                st = json.loads(rest)
                h = st.get("heap") or []
                if len(h) == 3:
                    samples.append([st["t_ms"], *h])
        try:
            url = csms.url.replace("127.0.0.1", "localhost")
            # provisioned as `jezgro provision` does it (the CA copied into the gateway's filesystem)
            (d / "fs").mkdir()
            provision.apply({"ocpp": {"url": url, "station_id": "GW-MEM32", "security_profile": 2, "password": PW,
                                      "ca": str(d / "ca.pem")}}, provision.LocalFs(d / "fs"), d, "mem32",
                            marker=False)
            args = ["--config", "v2g", "--seconds", str(seconds), "--status-ms", "1000", "--wall", "--heap-probe",
                    "--ev", "soak", "--ev-gap", "1"]
            if not tls:  # virtual time (no CSMS): the sessions as fast as the host runs them, none timed out
                (d / "fs" / "ocpp.json").unlink()
                args.remove("--wall")
            try:
                summary = sim.run(args, str(d / "fs"), heap, on_line)
            except ToolError as e:  # the samples so far still count; the crash is part of the result
                summary = {"crashed": str(e)}
        finally:
            csms.stop()
        tls = csms.tls_versions
    services = summary.get("services") or []
    ocpp = next((s for s in services if s["name"] == "OCPP_CLIENT"), {})
    return {"samples": samples, "tls": tls, "ocpp_link": (ocpp.get("status") or {}).get("link"),
            "ocpp_error": ocpp.get("link_error") or ocpp.get("config_error") or ocpp.get("fault_text"),
            "sessions": (summary.get("ev") or {}).get("sessions"),
            "faults": {s["name"]: s["fault_text"] for s in services[1:] if s.get("faults")},
            "oom": {s["name"]: s["oom"] for s in services[1:] if s.get("oom")}, "crashed": summary.get("crashed"),
            "rx_buffers": (summary.get("iso15118") or {}).get("rx_buffers")}


def table(imp: dict, runs: dict) -> str:
    out = [imports_table(imp)]
    for title, run in runs.items():
        out += ["", running_table(title, run)]
    return "\n".join(out)


def imports_table(imp: dict) -> str:
    kb = lambda b: f"{b / 1024:.1f} KB"  # noqa: E731
    out = [f"GC heap {kb(imp['total'])}; the board layer and the kernel's start {kb(imp['base'])}; after importing every V2G service "
           f"{kb(imp['after'])}", "", "| service | import heap (32-bit, frozen) | budget (spec §2.1) | fits |",
           "|---|---|---|---|"]
    for name, used, budget, err in imp["services"]:
        out.append(f"| {name} | {kb(used)} | {budget} KB | {'yes' if used <= budget * 1024 and not err else 'NO ' + err} |")
    return "\n".join(out)


def running_table(title: str, run: dict) -> str:
    kb = lambda b: f"{b / 1024:.1f} KB"  # noqa: E731
    out = []
    s = run["samples"]
    if s:
        worst = max(s, key=lambda x: x[1])
        frag = min(s, key=lambda x: x[3])
        out += [f"| {title} | live heap | free | largest free block |",
                "|---|---|---|---|",
                f"| after boot (first sample) | {kb(s[0][1])} | {kb(s[0][2])} | {kb(s[0][3])} |",
                f"| live heap high-water (t={worst[0] / 1000:.0f} s) | {kb(worst[1])} | {kb(worst[2])} | {kb(worst[3])} |",
                f"| most fragmented (t={frag[0] / 1000:.0f} s) | {kb(frag[1])} | {kb(frag[2])} | {kb(frag[3])} |",
                f"| end | {kb(s[-1][1])} | {kb(s[-1][2])} | {kb(s[-1][3])} |"]
    link = run.get("ocpp_link") or {}
    out += [f"OCPP: {link.get('state')} ({(link.get('tls') or {}).get('version')} "
                f"{(link.get('tls') or {}).get('cipher')}); CSMS saw TLS {run.get('tls')}; last error: "
                f"{run.get('ocpp_error') or '-'}",
            f"EV sessions: {run.get('sessions')}"]
    if run.get("rx_buffers"):  # the SECC's receive-buffer pool: misses are buffers allocated outside it
        out.append(f"SECC receive buffers: {run['rx_buffers']}")
    if run.get("crashed"):
        out.append(f"CRASHED: {run['crashed']}")
    if run.get("oom"):
        out.append(f"OUT OF MEMORY: {run['oom']}")
    if run.get("faults"):
        out.append(f"faults: {run['faults']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jezgro_host.mem32", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="simulated seconds of the sessions run")
    ap.add_argument("--tls-seconds", type=float, default=40.0, help="wall seconds of the OCPP-over-TLS run")
    ap.add_argument("--heap", default="440K", help="GC heap (default: the board's 440K)")
    ap.add_argument("--json", default=None, help="write the measurements here too")
    a = ap.parse_args(argv)
    if not EXE.exists():
        print(f"{EXE} not built: JEZGRO_BUILD_CACHE=... jezgro firmware build --target unix32 (needs gcc-multilib)",
              file=sys.stderr)
        return 2
    # every launch runs the 32-bit port; ".frozen" leads MICROPYPATH, so the frozen firmware is what runs
    os.environ["JEZGRO_MICROPYTHON"] = str(EXE)
    imp = imports(a.heap)
    runs = {f"{a.seconds:g} s simulated, EV sessions of every protocol back to back (virtual time, OCPP offline)":
            running(a.seconds, a.heap, False),
            f"{a.tls_seconds:g} s wall, OCPP_CLIENT connected over TLS (profile 2) + EV sessions (wall-clock time)":
            running(a.tls_seconds, a.heap, True)}
    print(table(imp, runs))
    if a.json:
        Path(a.json).write_text(json.dumps({"imports": imp, "running": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
