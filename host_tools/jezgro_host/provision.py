"""`jezgro provision FILE --sim DIR | --board`: everything a gateway needs before it runs, in one file,
validated by the firmware's own parsers before anything is written.

The provisioning file is JSON with one section per firmware configuration file (SECTIONS below):

    {"ocpp": {"url": "wss://csms.example.com/ocpp", "station_id": "GW-0001", "security_profile": 2,
              "password": "0123456789abcdef", "ca": "certs/csms_ca.pem"},
     "iso15118": {"iface": "eth0", "tls": true, "tls_cert": "secc.pem", "tls_key": "secc.key"},
     "grid": {"grid_code": "VDE-AR-N-4105"}}

Each section's fields are those of its firmware file (firmware/ocpp/config.py, iso15118/secc/service_config.py,
grid/grid_config.py). Certificate and key fields name files on THIS machine (relative to the provisioning
file): their content (PEM or DER) is copied to the gateway as certs/<section>-<field>-<hash>.<pem|der> and the
field rewritten to that name, so host paths just work and a configuration never points at a file that another
provisioning half-replaced (the name changes with the content).

Steps: stage (build every file in memory) -> validate (the staged files in a scratch filesystem, checked by
the firmware's own loaders under the unix port: ocpp.config.load + tls_context, service_config.load +
tls_config, grid_config.load) -> show what changes against what the gateway has (secrets shown as changed,
never their values) -> write: certificates first, then each configuration file as a temporary file renamed
over the old one (atomic on littlefs and POSIX: a power loss leaves the old or the new file, never half of
one). Targets: a simulation's filesystem (LocalFs) or a board over USB (BoardFs: the same file operations
as MicroPython code run by `mpremote exec`; the tests run that code on the unix port instead).
"""
from __future__ import annotations

import binascii
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import mp
from .errors import ToolError, UserError

MARKER = "provisioned.json"  # what `jezgro provision` wrote last (sections, time): `jezgro sim` uses it
CERT_DIR = "certs"
MAX_CERT = 16384  # the firmware refuses larger certificate/key files unread (ocpp/config.py MAX_CERT)


class Section:
    def __init__(self, name: str, file: str, file_fields: tuple[str, ...], secrets: tuple[str, ...], check: str):
        self.name = name
        self.file = file  # the firmware's configuration file in the gateway's filesystem root
        self.file_fields = file_fields  # fields naming a certificate or key file
        self.secrets = secrets  # never shown
        self.check = check  # MicroPython: validates FS's copy with the firmware's own loader


SECTIONS = {s.name: s for s in (
    Section("ocpp", "ocpp.json", ("ca", "cert", "key"), ("password",),
            "from ocpp import config as c\ncfg = c.load(FS)\nc.tls_context(cfg, FS)"),
    Section("iso15118", "iso15118.json", ("tls_cert", "tls_key"), (),
            "from iso15118.secc import service_config as c\ncfg = c.load(FS)\nc.tls_config(cfg, FS)"),
    Section("grid", "grid.json", (), (), "from grid import grid_config as c\nc.load(FS)"),
)}

# Runs under MicroPython with FS set: each section's check; prints OK or the loader's error, one per line.
_VALIDATE = """
import sys
FS = sys.argv[1]
for name, code in %r:
    try:
        exec(code, {"FS": FS})
        print("OK " + name)
    except Exception as e:
        print("ERR " + name + " " + str(e).replace("\\n", " "))
"""


def load(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{p}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a text file") from None
    if not isinstance(d, dict):
        raise UserError(f"{p}: must be a JSON object with sections {', '.join(SECTIONS)}")
    for k, v in d.items():
        if k not in SECTIONS:
            raise UserError(f"{p}: unknown section {k!r} (one of: {', '.join(SECTIONS)})")
        if not isinstance(v, dict):
            raise UserError(f"{p}: section {k!r} must be a JSON object")
    return d


def _cert(section: str, field: str, src: Path) -> tuple[str, bytes]:
    """(name in the gateway's filesystem, content) of a certificate or key given as a host path."""
    if not src.is_file():
        raise UserError(f"{section}.{field}: {src}: no such file")
    data = src.read_bytes()
    if len(data) > MAX_CERT:
        raise UserError(f"{section}.{field}: {src}: {len(data)} bytes, more than the firmware reads ({MAX_CERT})")
    if data.lstrip().startswith(b"-----BEGIN"):
        ext = "pem"
    elif data[:1] == b"\x30":  # DER: an ASN.1 SEQUENCE
        ext = "der"
    else:
        raise UserError(f"{section}.{field}: {src}: neither PEM nor DER")
    digest = hashlib.sha256(data).hexdigest()[:10]
    return f"{CERT_DIR}/{section}-{field}-{digest}.{ext}", data


def stage(prov: dict, base: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """-> (files to write: name -> content, secrets: value -> its field). Certificate fields are host paths
    (relative to base), rewritten to their name in the gateway's filesystem."""
    files: dict[str, bytes] = {}
    secrets: dict[str, str] = {}
    for name, fields in prov.items():
        sec = SECTIONS[name]
        out = dict(fields)
        for f in sec.file_fields:
            v = fields.get(f)
            if isinstance(v, str) and v:
                src = Path(v) if os.path.isabs(v) else base / v
                fs_name, data = _cert(name, f, src)
                files[fs_name] = data
                out[f] = fs_name
        for f in sec.secrets:
            if isinstance(fields.get(f), str) and fields[f]:
                secrets[fields[f]] = f"{name}.{f}"
        files[sec.file] = (json.dumps(out, indent=1) + "\n").encode()
    return files, secrets


def hide(text: str, secrets: dict[str, str]) -> str:
    for value, field in secrets.items():
        text = text.replace(value, f"<{field}>")
    return text


def validate(files: dict[str, bytes], secrets: dict[str, str], sections: list[str], origin: str) -> None:
    """The staged files in a scratch filesystem, checked by the firmware's own loaders; UserError naming the
    section and the firmware's reason (the file and the key) for the first that fails."""
    with tempfile.TemporaryDirectory(prefix="jezgro-provision-") as d:
        for name, data in files.items():
            (Path(d) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(d) / name).write_bytes(data)
        checks = [(s, SECTIONS[s].check) for s in sections]
        r = mp.run(["-c", _VALIDATE % (checks,), d], capture_output=True, timeout=120, cwd=mp.ROOT)
    results = {}
    for line in r.stdout.splitlines():
        tag, _, rest = line.partition(" ")
        if tag in ("OK", "ERR"):
            sec, _, why = rest.partition(" ")
            results[sec] = why if tag == "ERR" else None
    for s in sections:
        if s not in results:
            raise ToolError(f"validating section {s!r} under MicroPython failed: {(r.stderr or r.stdout).strip()[-300:]}")
        if results[s] is not None:
            raise UserError(hide(f"{origin}: section {s!r} refused by the firmware: {results[s]}", secrets))


# --- targets --------------------------------------------------------------------------------------------
class LocalFs:
    """A simulation's filesystem (jezgro sim --out DIR: DIR/fs)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.where = str(self.root)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except OSError:
            return None

    def write(self, name: str, data: bytes) -> None:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)


# MicroPython code for the board's filesystem (run by `mpremote exec` on a board, by the unix port in tests):
# the same tmp + rename as firmware/jezgro/persist.py write_lines, in binary, the data hex-encoded in chunks.
_READ = """
import binascii
try:
    with open(%r, "rb") as f:
        print("DATA " + binascii.hexlify(f.read()).decode())
except OSError:
    print("NONE")
"""
_WRITE = """
import os, binascii
p = %r
parts = p.split("/")
for i in range(2, len(parts)):
    try:
        os.mkdir("/".join(parts[:i]))
    except OSError:
        pass
with open(p + ".tmp", "wb") as f:
    for h in %r:
        f.write(binascii.unhexlify(h))
os.rename(p + ".tmp", p)
print("WROTE")
"""
CHUNK = 1024  # bytes per hex chunk: lines the raw REPL takes comfortably


class BoardFs:
    """A gateway's filesystem reached by running MicroPython code on it: `run(code) -> stdout`. On a board
    that is `mpremote connect DEV resume exec CODE` (root /flash); the tests pass the unix port instead."""

    def __init__(self, run: Callable[[str], str], root: str, where: str):
        self.run = run
        self.root = root.rstrip("/")
        self.where = where

    def read(self, name: str) -> bytes | None:
        out = self.run(_READ % f"{self.root}/{name}")
        for line in out.splitlines():
            if line.startswith("DATA "):
                return binascii.unhexlify(line[5:])
            if line.strip() == "NONE":
                return None
        raise ToolError(f"reading {name} on {self.where} failed: {out.strip()[-300:]}")

    def write(self, name: str, data: bytes) -> None:
        chunks = [binascii.hexlify(data[i:i + CHUNK]).decode() for i in range(0, len(data), CHUNK)] or [""]
        out = self.run(_WRITE % (f"{self.root}/{name}", chunks))
        if "WROTE" not in out:
            raise ToolError(f"writing {name} on {self.where} failed: {out.strip()[-300:]}")


def mpremote_runner(device: str) -> Callable[[str], str]:
    def run(code: str) -> str:
        # `resume`: no soft reset; a running kernel is stopped by mpremote's Ctrl-C and main.py puts
        # the board in service mode (watchdog fed), as for `jezgro deploy`
        r = subprocess.run([mp.tool("mpremote"), "connect", device, "resume", "exec", code], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            if "no device found" in (r.stdout + r.stderr).lower():
                raise ToolError("no board found (connect the NUCLEO-H743ZI's USB)")
            raise ToolError(f"mpremote failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-300:]}")
        return r.stdout
    return run


# --- what changes ---------------------------------------------------------------------------------------
def changes(target: Any, files: dict[str, bytes], secrets: dict[str, str]) -> list[str]:
    """One line per change against what the target has: per key for configuration files, per file for
    certificates; secret values are never shown."""
    out = []
    secret_keys = {f for s in SECTIONS.values() for f in s.secrets}
    for name, data in sorted(files.items()):
        old = target.read(name)
        if old == data:
            continue
        if not name.endswith(".json"):
            out.append(f"  + {name} ({len(data)} bytes)")
            continue
        new_d = json.loads(data)
        try:
            old_d = json.loads(old) if old is not None else {}
        except ValueError:
            old_d = {}
            out.append(f"  {name}: the old file is not JSON (replaced)")
        if not isinstance(old_d, dict):
            old_d = {}
        for k in sorted(set(old_d) | set(new_d)):
            a, b = old_d.get(k), new_d.get(k)
            if a == b:
                continue
            if k in secret_keys:
                out.append(f"  {name} {k}: " + ("set" if a is None else "removed" if b is None else "changed")
                           + " (not shown)")
            else:
                out.append(f"  {name} {k}: {json.dumps(a)} -> {json.dumps(b)}")
    return [hide(x, secrets) for x in out]


def apply(prov: dict, target: Any, base: Path, origin: str, dry_run: bool = False, marker: bool = True) -> list[str]:
    """Stage, validate, compare, write. -> the change lines. Nothing is written when validation fails."""
    files, secrets = stage(prov, base)
    validate(files, secrets, list(prov), origin)
    lines = changes(target, files, secrets)
    if dry_run:
        return lines
    # certificates first (new names: nothing refers to them yet), then the configuration files
    for name in sorted(files, key=lambda n: n.endswith(".json")):
        if target.read(name) != files[name]:
            target.write(name, files[name])
    if marker:
        target.write(MARKER, (json.dumps({"sections": sorted(prov), "from": origin,
                                          "ocpp_url": prov.get("ocpp", {}).get("url")}) + "\n").encode())
    return lines


def sim_fs(out: str | Path) -> Path:
    return Path(out) / "fs"


def add_parser(sub) -> None:
    s = sub.add_parser("provision", help="validate a provisioning file and write it to a simulation or a board")
    s.add_argument("file", help="provisioning JSON (sections: " + ", ".join(SECTIONS) + ")")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--sim", metavar="OUT", help="a simulation's output directory (jezgro sim --out OUT)")
    where.add_argument("--board", action="store_true", help="the board on USB (mpremote)")
    s.add_argument("--device", default="auto", help="mpremote device (default auto)")
    s.add_argument("--dry-run", action="store_true", help="validate and show the changes, write nothing")
    s.set_defaults(func=main)


def main(a) -> int:
    prov = load(a.file)
    if a.sim:
        target: Any = LocalFs(sim_fs(a.sim))
    else:
        target = BoardFs(mpremote_runner(a.device), "/flash", f"board {a.device}")
    lines = apply(prov, target, Path(a.file).resolve().parent, a.file, dry_run=a.dry_run)
    verb = "would change" if a.dry_run else "changed"
    print(f"{a.file}: valid ({', '.join(prov)}); {target.where}: " + (f"{verb}:" if lines else "already up to date"))
    for ln in lines:
        print(ln)
    return 0
