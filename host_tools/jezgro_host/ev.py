"""`jezgro ev`: our EVCC (firmware/iso15118/evcc) as an EV simulator on a network interface, under the
MicroPython unix port in the real kernel: SDP, TCP or TLS, supportedAppProtocol, the chosen protocol's
session to SessionStop. Prints one line per message as it goes and a JSON summary at the end
(exit status 0 only for a clean SessionStop)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from . import mp
from .errors import ToolError, UserError, firmware_message

PROTOCOLS = ("din", "iso2-dc", "iso2-ac", "iso20-dc-bpt", "iso20-ac-bpt")
ISO15118_2_SUITES = ["TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"]

# Runs the EV simulator service (iso15118.evcc.ev_sim) alone under the kernel in wall-clock time.
RUNNER = r"""
import json, board
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec
from jezgro.const import PRIO_MEDIUM
from iso15118.evcc import ev_sim
cfg = json.loads(%(cfg)r)
if cfg["tls"] is not None:
    cfg["tls"] = [bytes.fromhex(x) if x else None for x in cfg["tls"][:3]] + cfg["tls"][3:]
ev_sim.CFG.update(cfg)
board.configure(False, "power_on")
k = Kernel((ServiceSpec(0, "KERNEL", -1, 4, 16, 0, None),
            ServiceSpec(1, "EVCC", PRIO_MEDIUM, 16, 128, 1000000, "iso15118.evcc.ev_sim")),
           board, audit_sid=-1, safe_state_sid=-1, hwwdt_ms=2000)
k.boot()
k.run(%(run_ms)d)
svc = k.services[1]
ev_sim.OUT["faults"] = svc.faults
ev_sim.OUT["fault_text"] = svc.last_fault_text
board.stop_hang_watch()
print("RESULT " + json.dumps(ev_sim.OUT))
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("ev", help="run our EVCC as an EV simulator against a charger on an interface")
    s.add_argument("--iface", required=True, help="network interface facing the charger (IPv6 link-local)")
    s.add_argument("--protocol", action="append", choices=PROTOCOLS, default=None,
                   help="protocol offered (repeat for more; the first has the highest priority; default din)")
    s.add_argument("--tls", action="store_true", help="ask for TLS in SDP (TCP otherwise)")
    s.add_argument("--ca", default=None, help="PEM root to verify the SECC certificate (TLS; default: no check)")
    s.add_argument("--server-name", default=None, help="CN the SECC certificate must carry (with --ca)")
    s.add_argument("--pcap", default=None, help="write the session to this pcapng file")
    s.add_argument("--soc", type=float, default=30, help="battery state of charge at plug-in, %% (default 30)")
    s.add_argument("--target-soc", type=int, default=80, help="charge until this SoC, %% (default 80)")
    s.add_argument("--capacity-wh", type=int, default=60000, help="battery capacity, Wh (default 60000)")
    s.add_argument("--loops", type=int, default=0, help="stop after N charge-loop requests (default: at target SoC)")
    s.add_argument("--loop-ms", type=int, default=100, help="pause between charge-loop requests, ms (default 100)")
    s.add_argument("--bpt-mode", choices=["Scheduled", "Dynamic"], default="Scheduled",
                   help="ISO 15118-20 BPT control mode (iso20-*-bpt; default Scheduled)")
    s.add_argument("--msg-timeout", action="append", default=[], metavar="REQ=MS",
                   help="replace a standard message timeout, e.g. CurrentDemandReq=1000 (slow chargers)")
    s.add_argument("--max-seconds", type=float, default=600, help="give up after this long (default 600)")
    s.add_argument("--quiet", action="store_true", help="only the JSON summary")
    s.add_argument("--no-slac", action="store_true",
                   help="plain Ethernet peer: skip SLAC (default: match with the charger's SLAC over raw "
                        "HomePlug frames first, which needs root; the pilot is the EV's hardware, not simulated here)")
    s.set_defaults(func=main)


def link_local(iface: str) -> str | None:
    """The interface's IPv6 link-local address once duplicate address detection is done, else None."""
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return None
    for ln in lines:
        f = ln.split()
        # address, index, prefix length, scope (0x20 = link), flags (0x40 = tentative), name
        if len(f) == 6 and f[5] == iface and f[3] == "20" and not int(f[4], 16) & 0x40:
            return ":".join(f[0][i:i + 4] for i in range(0, 32, 4))
    return None


def check_iface(iface: str) -> str | None:
    """None when usable, else why not."""
    if not Path("/sys/class/net", iface).exists():
        return f"interface {iface!r} does not exist (see `ip link`)"
    if link_local(iface) is None:
        return (f"interface {iface!r} has no usable IPv6 link-local address (down, IPv6 disabled, or duplicate "
                f"address detection not finished): `ip link set {iface} up` and check `ip -6 addr show dev {iface}`")
    return None


def config(a: argparse.Namespace) -> dict:
    msg_ms = {}
    for item in a.msg_timeout:
        name, _, ms = item.partition("=")
        if not name.endswith("Req") or not ms.isdigit():
            raise SystemExit(f"jezgro ev: --msg-timeout wants REQ=MS like CurrentDemandReq=1000, got {item!r}")
        msg_ms[name] = int(ms)
    tls = None
    if a.tls:
        ca = Path(a.ca).read_bytes().hex() if a.ca else None
        iso2 = any(p in ("din", "iso2-dc", "iso2-ac") for p in (a.protocol or ["din"]))
        tls = [None, None, ca, a.server_name, ISO15118_2_SUITES if iso2 else None]
    return {"iface": a.iface, "protocols": a.protocol or ["din"], "tls": tls,
            "pcap": os.path.abspath(a.pcap) if a.pcap else None, "progress": not a.quiet, "msg_ms": msg_ms,
            "slac": not a.no_slac,
            "ev": {"soc": a.soc, "target_soc": a.target_soc, "capacity_wh": a.capacity_wh, "loops": a.loops,
                   "loop_ms": a.loop_ms, "bpt_mode": a.bpt_mode}}


def main(a: argparse.Namespace) -> int:
    why = check_iface(a.iface)
    if why:
        raise UserError(why)
    cfg = config(a)
    code = RUNNER % {"cfg": json.dumps(cfg), "run_ms": int(a.max_seconds * 1000)}
    proc = mp.start(["-c", code], heap="2M", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            out = json.loads(line[7:])
        elif not a.quiet:
            print(line, end="", flush=True)
    err = proc.stderr.read() if proc.stderr else ""
    proc.wait()
    if out is None:
        raise ToolError(f"the MicroPython run ended without a result (exit {proc.returncode}): "
                        f"{firmware_message(err) or 'no output'}")
    # a run that went wrong may leave any of these missing or null
    summary = out.get("result") if isinstance(out.get("result"), dict) else None
    summary = summary or {"end": None, "detail": "no session within --max-seconds"}
    summary["errors"] = out.get("errors") or []
    summary["slac"] = out.get("slac")
    summary["faults"] = out.get("faults") or 0
    if summary["faults"]:
        summary["fault_text"] = out.get("fault_text")
    print(json.dumps(summary))
    return 0 if summary.get("end") == "SessionStop" else 1
