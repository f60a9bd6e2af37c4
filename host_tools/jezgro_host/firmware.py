"""`jezgro firmware build`: MicroPython itself, built from one pinned source for the three places the
firmware runs (docs/platform.md).

  unix   the unix port with TLS 1.3 (boards/micropython/jezgro_unix): the simulation and the host tests run it
  qemu   the qemu port, board MPS2_AN500 (Cortex-M7 + double FPU), the firmware frozen in
         (boards/micropython/qemu): the emulated target of tests_target and `make bench`
  stm32  the board image JEZGRO_H743 (boards/micropython/JEZGRO_H743, based on NUCLEO_H743ZI): all
         firmware frozen, lwIP with IPv6, TLS 1.3

Sources: boards/micropython/pins.json pins every repository by commit. `--src DIR` is a folder with
the pinned archives and a SHA256SUMS (CI: ../shared/vendor/micropython) or an already unpacked tree;
`--fetch` clones the pinned commits instead (needs internet). The source is unpacked (and patched
with boards/micropython/patches/*.patch) under build/micropython/src-<key> (or $JEZGRO_BUILD_CACHE),
key = hash of the pins and the patches; each port builds in ports/<port>/build-jezgro-<key of its
configuration files> (TARGET_CONF). Both are reused as long as their keys hold; make's own dependency
tracking then rebuilds only what changed (e.g. frozen firmware). Outputs are copied to
build/micropython/out/ (OUT_FILES).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from .mp import ROOT

CONF = ROOT / "boards" / "micropython"
PINS = CONF / "pins.json"
PATCHES = CONF / "patches"
# Source trees and port builds: build/micropython, or $JEZGRO_BUILD_CACHE (a folder outside the clone
# that survives it, e.g. CI's /var/cache/jezgro-gw: one build at a time per cache folder).
BUILD = Path(os.environ.get("JEZGRO_BUILD_CACHE") or ROOT / "build" / "micropython")
OUT = ROOT / "build" / "micropython" / "out"
TARGETS = ("unix", "qemu", "stm32")
# built only on request (--target unix32): the 32-bit unix port for memory measurements (gcc-multilib)
EXTRA_TARGETS = ("unix32",)
# the output files of each target in OUT
OUT_FILES = {
    "unix": ("micropython", "mpy-cross"),
    "unix32": ("micropython32",),
    "qemu": ("qemu-mps2-an500.elf", "pyboard.py"),
    "stm32": ("jezgro-h743.hex", "jezgro-h743.bin", "jezgro-h743.elf", "jezgro-h743.map"),
}
STAMP = ".jezgro-source"


class BuildError(Exception):
    """One line for the user: what is missing and what to pass or install."""


def pins() -> dict:
    return json.loads(PINS.read_text())


def _hash_files(files: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(files):
        h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]


def source_key() -> str:
    """The source tree's key: the pins and the patches applied to it."""
    return _hash_files([PINS, *PATCHES.glob("*.patch")])


# The configuration files of each port build: make does not track .mk files, so a changed one must
# not reuse stale objects; each port builds in build-jezgro-<key of its files>. The freeze
# manifests stay out: make rebuilds frozen code itself.
TARGET_CONF = {"unix": ("jezgro_unix", "mbedtls", "modules"),
               "unix32": ("jezgro_unix32", "jezgro_unix", "mbedtls", "modules"),
               "qemu": ("qemu", "modules"), "stm32": ("JEZGRO_H743", "mbedtls", "modules")}
# The user C modules of every build (jezgro_irq: breaking a hung service from the tick interrupt on the
# board and the emulated target, from the hang watcher thread on the unix ports: docs/reliability.md).
USER_C_MODULES = CONF / "modules"


def target_key(target: str, extra: str = "") -> str:
    files = [p for d in TARGET_CONF[target] for p in (CONF / d).rglob("*")
             if p.is_file() and p.name != "manifest.py" and "__pycache__" not in p.parts]
    return _hash_files(files, extra)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- getting the source -----------------------------------------------------------------------
def _unpack_archives(src: Path, dest: Path) -> None:
    sums_file = src / "SHA256SUMS"
    if not sums_file.exists():
        raise BuildError(f"{src}: no SHA256SUMS (pass a folder with the pinned archives, or an unpacked tree)")
    listed = dict(reversed(ln.split()) for ln in sums_file.read_text().splitlines() if ln.strip())
    for s in pins()["sources"]:
        archive = src / s["archive"]
        if not archive.exists():
            raise BuildError(f"{archive}: missing (boards/micropython/pins.json pins {s['name']} to it)")
        got = sha256(archive)
        if got != s["sha256"] or listed.get(s["archive"]) != s["sha256"]:
            raise BuildError(f"{archive}: checksum {got} does not match the pin {s['sha256']}")
    for s in pins()["sources"]:
        target = dest / s["dest"]
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(src / s["archive"]) as tar:
            members = []
            for m in tar.getmembers():
                parts = m.name.split("/", 1)
                if len(parts) < 2 or not parts[1]:
                    continue
                m.name = parts[1]  # --strip-components=1: every archive has one top folder
                members.append(m)
            tar.extractall(target, members=members, filter="tar")


def _copy_tree(src: Path, dest: Path) -> None:
    for s in pins()["sources"]:
        probe = src / s["dest"]
        if not probe.is_dir() or not any(probe.iterdir()):
            raise BuildError(f"{src}: {s['dest']} is empty (the unpacked tree needs the {s['name']} submodule)")
    shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".git", "build", "build-*"))


def _fetch(dest: Path) -> None:
    """The pinned commits from upstream with git (a fetch by commit id is its own checksum)."""
    if not shutil.which("git"):
        raise BuildError("--fetch needs git: apt-get install git")
    for s in pins()["sources"]:
        target = dest / s["dest"]
        target.mkdir(parents=True, exist_ok=True)
        for cmd in (["git", "init", "-q"], ["git", "fetch", "-q", "--depth", "1", s["repo"], s["commit"]],
                    ["git", "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"]):
            r = subprocess.run(cmd, cwd=target, capture_output=True, text=True)
            if r.returncode != 0:
                raise BuildError(f"{' '.join(cmd)} in {target}: {r.stderr.strip().splitlines()[-1:]}")


def prepare_source(src: str | None, fetch: bool, log=print) -> Path:
    """The patched source tree for the current key, unpacking it on first use."""
    tree = BUILD / f"src-{source_key()}"
    if (tree / STAMP).exists():
        return tree
    if not src and not fetch:
        raise BuildError("no MicroPython source: pass --src DIR (the pinned archives + SHA256SUMS, e.g. "
                         "../shared/vendor/micropython, or an unpacked v1.28.0 tree) or --fetch (needs internet)")
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    t0 = time.monotonic()
    if fetch:
        log("fetching the pinned commits ...")
        _fetch(tree)
    else:
        s = Path(src).expanduser().resolve()  # type: ignore[arg-type]
        if not s.is_dir():
            raise BuildError(f"--src {src}: no such folder")
        if (s / "py" / "mpconfig.h").exists():
            log(f"copying the unpacked tree {s} ...")
            _copy_tree(s, tree)
        else:
            log(f"verifying and unpacking the archives in {s} ...")
            _unpack_archives(s, tree)
    for patch in sorted(PATCHES.glob("*.patch")):
        r = subprocess.run(["patch", "-p1", "--batch", "--forward", "-i", str(patch)], cwd=tree,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"{patch.name} does not apply: {(r.stdout + r.stderr).strip().splitlines()[-1:]}")
    # The old trees of other keys: gone (a few hundred MB each).
    for old in BUILD.glob("src-*"):
        if old != tree:
            shutil.rmtree(old, ignore_errors=True)
    (tree / STAMP).write_text(json.dumps({"key": source_key(), "from": "fetch" if fetch else str(src)}) + "\n")
    log(f"source ready in {tree} ({time.monotonic() - t0:.0f} s)")
    return tree


# --- toolchain ---------------------------------------------------------------------------------
APT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


def check_toolchain(targets: list[str]) -> None:
    for prog in ("make", "gcc", "patch"):
        if not shutil.which(prog):
            raise BuildError(f"'{prog}' not found: apt-get install build-essential patch")
    if set(targets) & {"qemu", "stm32"}:
        if not shutil.which("arm-none-eabi-gcc"):
            raise BuildError(f"arm-none-eabi-gcc not found: {APT}")
        libc = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=libc.a"], capture_output=True, text=True)
        if not os.path.isabs(libc.stdout.strip()):
            raise BuildError(f"newlib for arm-none-eabi not found: {APT}")


# --- building ----------------------------------------------------------------------------------
def _jobs() -> str:
    return str(max(1, min(os.cpu_count() or 1, 4)))


def _make(tree: Path, subdir: str, args: list[str], log) -> None:
    cmd = ["nice", "-n", "10", "make", "-j", _jobs(), "-C", str(tree / subdir), *args]
    logfile = OUT / f"make-{subdir.replace('/', '-')}.log"
    with logfile.open("w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        tail = [ln[:300] for ln in logfile.read_text().splitlines()[-12:]]
        raise BuildError(f"make in {subdir} failed (log: {logfile}):\n" + "\n".join(tail))


def _install(src: Path, name: str) -> None:
    """Copy a build output into OUT atomically: a running test may be executing the old binary
    (writing over a running executable fails with ETXTBSY; a rename does not)."""
    tmp = OUT / f".{name}.tmp"
    shutil.copy2(src, tmp)
    os.replace(tmp, OUT / name)


def _port_build(tree: Path, port: str, target: str, extra: str = "", prefix: str = "build-jezgro-") -> str:
    """BUILD= for a port build keyed by its configuration; older keys' builds (same prefix) are removed."""
    name = f"{prefix}{target_key(target, extra)}"
    for old in (tree / "ports" / port).glob(f"{prefix}*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return name


def build_unix(tree: Path, log) -> None:
    _make(tree, "mpy-cross", [], log)
    b = _port_build(tree, "unix", "unix")
    _make(tree, "ports/unix", [f"VARIANT_DIR={CONF / 'jezgro_unix'}", f"BUILD={b}",
                               f"USER_C_MODULES={USER_C_MODULES}"], log)
    _install(tree / "ports/unix" / b / "micropython", "micropython")
    _install(tree / "mpy-cross/build/mpy-cross", "mpy-cross")


def build_unix32(tree: Path, log) -> None:
    _make(tree, "mpy-cross", [], log)
    b = _port_build(tree, "unix", "unix32", prefix="build-jezgro32-")  # beside the 64-bit build, not over it
    _make(tree, "ports/unix", [f"VARIANT_DIR={CONF / 'jezgro_unix32'}", f"BUILD={b}",
                               f"USER_C_MODULES={USER_C_MODULES}"], log)
    _install(tree / "ports/unix" / b / "micropython", "micropython32")


def build_qemu(tree: Path, log) -> None:
    _make(tree, "mpy-cross", [], log)
    args = qemu_make_args()
    b = _port_build(tree, "qemu", "qemu", " ".join(args))
    _make(tree, "ports/qemu", ["BOARD=MPS2_AN500", f"BUILD={b}", *args], log)
    _install(tree / "ports/qemu" / b / "firmware.elf", "qemu-mps2-an500.elf")
    # The raw-REPL client the tests and benches drive the guest with (execpty: qemu on a pty).
    _install(tree / "tools/pyboard.py", "pyboard.py")


def qemu_make_args() -> list[str]:
    from . import emulated
    return emulated.make_args()


def build_stm32(tree: Path, log) -> None:
    _make(tree, "mpy-cross", [], log)
    board = CONF / "JEZGRO_H743"
    b = _port_build(tree, "stm32", "stm32")
    _make(tree, "ports/stm32", [f"BOARD_DIR={board}", "BOARD=JEZGRO_H743", f"BUILD={b}",
                                f"USER_C_MODULES={USER_C_MODULES}"], log)
    built = tree / "ports/stm32" / b
    for ext in ("hex", "bin", "elf", "map"):
        _install(built / f"firmware.{ext}", f"jezgro-h743.{ext}")


BUILDERS = {"unix": build_unix, "unix32": build_unix32, "qemu": build_qemu, "stm32": build_stm32}


def build(src: str | None, targets: list[str], fetch: bool = False, log=print) -> dict[str, float]:
    """Build `targets`; -> seconds per step. Raises BuildError."""
    check_toolchain(targets)
    BUILD.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.monotonic()
    tree = prepare_source(src, fetch, log)
    times["source"] = time.monotonic() - t0
    for t in targets:
        t0 = time.monotonic()
        log(f"building {t} ...")
        BUILDERS[t](tree, log)
        times[t] = time.monotonic() - t0
        log(f"{t}: {', '.join(str((OUT / f).relative_to(ROOT)) for f in OUT_FILES[t])} ({times[t]:.0f} s)")
    return times


def built(name: str) -> Path | None:
    """An output file of the last build, or None."""
    p = OUT / name
    return p if p.exists() else None


def main_build(a) -> int:
    targets = list(TARGETS) if not a.target else a.target
    src = a.src or os.environ.get("MICROPY_SRC") or None
    try:
        build(src, targets, fetch=a.fetch)
    except BuildError as e:
        print(f"jezgro firmware build: {e}", file=sys.stderr)
        return 2
    if "stm32" in targets:
        from . import fwsize
        print(fwsize.table(OUT / "jezgro-h743.elf"))
    return 0


def add_parser(sub) -> None:
    s = sub.add_parser("firmware", help="build MicroPython (unix port, emulated M7, board image) from the pinned source")
    s.set_defaults(func=lambda a: s.print_help() or 2)
    fsub = s.add_subparsers(dest="firmware_cmd", required=True)
    b = fsub.add_parser("build", help="build the unix port, the qemu M7 target and the JEZGRO_H743 board image")
    b.add_argument("--src", default=None,
                   help="folder with the pinned archives + SHA256SUMS, or an unpacked tree (default: $MICROPY_SRC)")
    b.add_argument("--fetch", action="store_true", help="clone the pinned commits from upstream (needs internet)")
    b.add_argument("--target", action="append", choices=TARGETS + EXTRA_TARGETS,
                   help="build only this output (repeatable; default: unix, qemu, stm32; unix32: the 32-bit "
                        "unix port for memory measurements, needs gcc-multilib)")
    b.set_defaults(func=main_build)
