"""`jezgro check | build | deploy`: the target gate and getting the firmware onto a NUCLEO-H743ZI.

check   compiles every .py under firmware/ and boards/stm32h743/ with `mpy-cross -march=armv7emdp`
        (Cortex-M7 with double-precision FPU: viper/native code is compiled for real here), then
        type-checks firmware/ and the stm32 board code with mypy against micropython-stm32-stubs +
        micropython-stdlib-stubs instead of CPython's typeshed (mypy.ini at the repo root), and
        lints the host tools, tests, benches, firmware and boards with ruff (ruff.toml).
build   the same compilation into the tree the board needs at /flash: every firmware package
        as .mpy, board.mpy, and main.py as source (the stm32 port runs main.py, not main.mpy).
deploy  copies that tree to an attached board with mpremote and resets it.

mypy and the MicroPython stubs: the stub packages put their modules (machine, pyb, time, ...)
at the top of site-packages and a reduced typeshed (stdlib/, stubs/) beside them. mypy finds
neither through site-packages (no PEP 561 markers) and refuses site-packages on MYPYPATH, so
check() assembles them into one custom typeshed, <venv>/typeshed-stm32: the stdlib stubs, with
the board modules added to stdlib/ and to stdlib/VERSIONS (mypy only looks up modules listed
there), and the viper emitter's types (ptr8 & co., which the stubs lack) added to builtins.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import ToolError, firmware_message
from .mp import FIRMWARE, ROOT, STM32_BOARD, tool

ARCH = "armv7emdp"
# MP_NATIVE_ARCH_* numbering (py/persistentcode.h): the arch sits in bits 2..7 of header byte 2.
MPY_ARCHES = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
              "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
MYPY_CONFIG = ROOT / "mypy.ini"
RUFF_CONFIG = ROOT / "ruff.toml"
LINT_PATHS = ("host_tools", "tests_host", "tests_target", "bench", "firmware", "boards")
BOARD_ONLY = ("manifest.py",)  # host-side files in boards/stm32h743: compiled by check, never deployed
BUILD_MARKER = ".jezgro-build"
SERVICE_MODE_FILE = "SERVICE_MODE"
NO_BOARD = "jezgro deploy: no board found (connect the NUCLEO-H743ZI's USB)"
BOARD_FS = "/flash"

# Viper code-emitter types: compile-time casts inside @micropython.viper functions, not runtime
# builtins, so micropython-stubs do not declare them. Appended to the staged builtins.pyi.
VIPER_BUILTINS = '''

# --- added by jezgro check (jezgro_host/target.py): MicroPython viper emitter types ----------
# Inside @micropython.viper functions these are casts/types the compiler knows; they are not
# runtime builtins, which is why micropython-stubs do not declare them.
class ptr:
    def __init__(self, obj: object, /) -> None: ...
    def __getitem__(self, index: int, /) -> int: ...
    def __setitem__(self, index: int, value: int, /) -> None: ...

class ptr8(ptr): ...
class ptr16(ptr): ...
class ptr32(ptr): ...

class uint(int):
    def __new__(cls, x: object = ..., /) -> uint: ...
'''


# --- sources ----------------------------------------------------------------------------
def _py_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def sources() -> list[Path]:
    """Every .py file the target gate compiles."""
    return _py_files(FIRMWARE) + _py_files(STM32_BOARD)


def board_layout() -> list[tuple[Path, str]]:
    """(source, path on the board's filesystem) for everything that is deployed."""
    out: list[tuple[Path, str]] = []
    for src in _py_files(FIRMWARE):
        out.append((src, src.relative_to(FIRMWARE).with_suffix(".mpy").as_posix()))
    for src in _py_files(STM32_BOARD):
        if src.name in BOARD_ONLY:
            continue
        name = src.name if src.name == "main.py" else src.with_suffix(".mpy").name
        out.append((src, name))
    return out


def mypy_targets() -> list[Path]:
    return [FIRMWARE] + [p for p in _py_files(STM32_BOARD) if p.name not in BOARD_ONLY]


def _rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


# --- mpy-cross ----------------------------------------------------------------------------
def mpy_cross(src: Path, out: Path, source_name: str) -> str | None:
    """Compile src to out for the board; returns the compiler's message on failure."""
    out.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([tool("mpy-cross"), f"-march={ARCH}", "-s", source_name, "-o", str(out), str(src)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        return (r.stderr + r.stdout).strip() or f"mpy-cross exited with {r.returncode}"
    return None


def mpy_header(path: Path) -> tuple[int, int, str | None, int]:
    """(version, sub-version, native arch or None, small-int bits) from a .mpy file's header.

    Header: b'M', version, (arch << 2 | sub-version) -- written only when the file holds native
    code (viper/native functions), else 0 -- and the small-int bit count."""
    b = path.read_bytes()[:4]
    if len(b) < 4 or b[0] != ord("M"):
        raise ValueError(f"{path}: not a .mpy file")
    arch: str | None = None
    if b[2]:
        n = b[2] >> 2
        arch = MPY_ARCHES[n] if n < len(MPY_ARCHES) else str(n)
    return b[1], b[2] & 3, arch, b[3]


# --- mypy against the stm32 stubs -----------------------------------------------------------
def _dist(name: str):
    from importlib import metadata
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise SystemExit(f"jezgro check: {name} is not installed in {sys.prefix}; run `make check`")


def stm32_typeshed() -> Path:
    """Assemble (once per stub version) the custom typeshed mypy uses for the board code."""
    std = _dist("micropython-stdlib-stubs")
    stm = _dist("micropython-stm32-stubs")
    stamp = f"{std.version} {stm.version} {hashlib.sha256(VIPER_BUILTINS.encode()).hexdigest()[:16]}\n"
    dest = Path(sys.prefix) / "typeshed-stm32"
    if (dest / "STAMP").is_file() and (dest / "STAMP").read_text() == stamp:
        return dest
    tmp = Path(tempfile.mkdtemp(prefix="typeshed-stm32.", dir=sys.prefix))
    added: set[str] = set()

    def copy(dist, rel: Path, to: Path) -> None:
        src = Path(str(dist.locate_file(rel)))
        if src.is_file():
            to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, to)

    for f in std.files or []:
        rel = Path(str(f))
        if rel.parts[0] in ("stdlib", "stubs") and "__pycache__" not in rel.parts:
            copy(std, rel, tmp / rel)
        elif rel.parts[0] == "_mpy_shed" and "__pycache__" not in rel.parts:
            copy(std, rel, tmp / "stdlib" / rel)
            added.add("_mpy_shed")
    for f in stm.files or []:
        rel = Path(str(f))
        if rel.parts[0].endswith(".dist-info") or rel.parts[0] == ".." or "__pycache__" in rel.parts:
            continue
        if rel.suffix == ".pyi" or rel.parts[0] == "_mpy_shed":
            copy(stm, rel, tmp / "stdlib" / rel)
            added.add(rel.parts[0].removesuffix(".pyi"))
    versions = tmp / "stdlib" / "VERSIONS"
    if not versions.is_file() or not (tmp / "stdlib" / "builtins.pyi").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit("jezgro check: micropython-stdlib-stubs has no stdlib/VERSIONS or builtins.pyi; "
                         "reinstall the toolchain (make check)")
    with versions.open("a") as v:
        v.write("\n# MicroPython modules (micropython-stm32-stubs), added by jezgro check\n")
        for name in sorted(added - {"__builtins__"}):
            v.write(f"{name}: 3.0-\n")
    with (tmp / "stdlib" / "builtins.pyi").open("a") as b:
        b.write(VIPER_BUILTINS)
    (tmp / "STAMP").write_text(stamp)
    try:
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except OSError:
        # Another check staged it at the same moment: use theirs if it is complete.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest / "STAMP").is_file():
            raise
    return dest


def add_parser(sub) -> None:
    sub.add_parser("check", help="target gate: mpy-cross armv7emdp + mypy against the stm32 stubs, ruff"
                   ).set_defaults(func=check)
    s = sub.add_parser("build", help="compile firmware/ and boards/stm32h743/ to .mpy under build/stm32h743")
    s.add_argument("--out", default="build/stm32h743")
    s.set_defaults(func=build)
    s = sub.add_parser("deploy", help="copy the build to an attached board with mpremote")
    s.add_argument("--device", default=None, help="mpremote device (default: auto)")
    s.add_argument("--build-dir", default="build/stm32h743")
    s.set_defaults(func=deploy)


def run_mypy() -> tuple[int, list[str]]:
    """-> (error count, mypy's output lines). Uses mypy.ini; the staged typeshed is passed explicitly."""
    typeshed = stm32_typeshed()
    cmd = [tool("mypy"), "--config-file", str(MYPY_CONFIG), "--custom-typeshed-dir", str(typeshed),
           *[_rel(p) for p in mypy_targets()]]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    errors = sum(1 for ln in lines if ": error:" in ln)
    if r.returncode != 0 and errors == 0:
        errors = 1  # mypy itself failed (bad config, crash): count it
    return errors, lines


def run_ruff(paths: list[str] | None = None) -> tuple[int, list[str]]:
    """-> (finding count, ruff's output lines) for LINT_PATHS (or `paths`), with ruff.toml."""
    cmd = [tool("ruff"), "check", "--no-cache", "--output-format", "concise", "--config", str(RUFF_CONFIG),
           *(paths or LINT_PATHS)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    findings = sum(1 for ln in lines if ln.split(":", 1)[0].endswith(".py") and ln.count(":") >= 3)
    if r.returncode != 0 and findings == 0:
        findings = 1  # ruff itself failed (bad config): count it
    return findings, lines


# --- commands ---------------------------------------------------------------------------------
def check(args=None) -> int:
    files = sources()
    failures: list[tuple[Path, str]] = []
    with tempfile.TemporaryDirectory(prefix="jezgro-check-") as tmp:
        for src in files:
            msg = mpy_cross(src, Path(tmp) / (_rel(src).replace("/", "__") + ".mpy"), _rel(src))
            if msg is not None:
                failures.append((src, msg))
    for src, msg in failures:
        print(f"mpy-cross FAILED {_rel(src)}:")
        for ln in msg.splitlines():
            print(f"    {ln}")
    errors, lines = run_mypy()
    if errors:
        print(f"mypy (stm32 stubs, {_rel(MYPY_CONFIG)}):")
        for ln in lines:
            print(f"    {ln}")
    findings, lint = run_ruff()
    if findings:
        print(f"ruff ({_rel(RUFF_CONFIG)}):")
        for ln in lint:
            print(f"    {ln}")
    ok = not failures and not errors and not findings
    compiled = f"{len(files) - len(failures)}/{len(files)} files compiled (mpy-cross -march={ARCH})"
    typed = "mypy vs stm32 stubs: no errors" if not errors else f"mypy vs stm32 stubs: {errors} error(s)"
    linted = "ruff: no findings" if not findings else f"ruff: {findings} finding(s)"
    print(f"jezgro check: {'OK' if ok else 'FAILED'}: {compiled}; {typed}; {linted}")
    return 0 if ok else 1


def _prepare_out(out: Path) -> None:
    # Refuse to wipe a directory we did not create (a mistyped --out must not cost anyone files).
    if out.exists():
        if not out.is_dir():
            raise SystemExit(f"jezgro build: {out} exists and is not a directory")
        if any(out.iterdir()) and not (out / BUILD_MARKER).exists():
            raise SystemExit(f"jezgro build: {out} is not empty and not a jezgro build; choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def build(args) -> int:
    out = Path(args.out)
    _prepare_out(out)
    failures: list[tuple[Path, str]] = []
    for src, dest in board_layout():
        target = out / dest
        if dest.endswith(".py"):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
            continue
        msg = mpy_cross(src, target, dest[:-4] + ".py")
        if msg is not None:
            failures.append((src, msg))
    (out / BUILD_MARKER).write_text(f"mpy-cross -march={ARCH}\n")
    for src, msg in failures:
        print(f"mpy-cross FAILED {_rel(src)}:\n    " + "\n    ".join(msg.splitlines()))
    produced = sorted(p for p in out.rglob("*") if p.is_file() and p.name != BUILD_MARKER)
    total = sum(p.stat().st_size for p in produced)
    groups: dict[str, list[int]] = {}
    for p in produced:
        top = p.relative_to(out).parts[0]
        key = top + "/" if len(p.relative_to(out).parts) > 1 else top
        g = groups.setdefault(key, [0, 0])
        g[0] += 1
        g[1] += p.stat().st_size
    for key, (n, size) in sorted(groups.items()):
        print(f"  {key:<14} {n:>3} file(s) {size:>8} bytes")
    print(f"jezgro build: {len(produced)} files, {total} bytes in {out} "
          f"(.mpy for {ARCH}; main.py as source)")
    if failures:
        print(f"jezgro build: FAILED: {len(failures)} file(s) did not compile")
        return 1
    return 0


# --- boards ---------------------------------------------------------------------------------
def attached_boards() -> list[str]:
    """Serial ports with a USB VID:PID, as `mpremote connect list` shows them (what `connect auto` tries)."""
    try:
        r = subprocess.run([tool("mpremote"), "connect", "list"], capture_output=True, text=True, timeout=30)
    except (subprocess.TimeoutExpired, OSError):
        return []
    ports = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and ":" in parts[2] and parts[2] != "0000:0000":
            ports.append(parts[0])
    return ports


# Runs on the board before copying: removes the previous deployment (a stale jezgro/*.py would
# shadow the new .mpy: .py wins on import) and the service-mode flag. Keeps the audit log.
_CLEAN = """
import os
def _rm(p):
    try:
        if os.stat(p)[0] & 0x4000:
            for n in os.listdir(p):
                _rm(p + '/' + n)
            os.rmdir(p)
        else:
            os.remove(p)
    except OSError:
        pass
for _n in %r:
    _rm(%r + '/' + _n)
"""


def deploy(args) -> int:
    build_dir = Path(args.build_dir)
    if not (build_dir / "main.py").is_file() or not (build_dir / "board.mpy").is_file():
        raise ToolError(f"no build in {build_dir}; run `make build` (or `jezgro build`) first")
    device = args.device
    if device is None:
        if not attached_boards():
            raise ToolError(NO_BOARD)
        device = "auto"
    entries = sorted(p for p in build_dir.iterdir() if p.name != BUILD_MARKER)
    stale = [p.name for p in entries if p.is_dir()] + ["board.py", "board.mpy", SERVICE_MODE_FILE]
    # `resume`: no soft reset. If a kernel is running, mpremote's Ctrl-C stops it and main.py puts
    # the board in service mode (IWDG fed from the tick interrupt); a soft reset would stop that
    # timer and the watchdog would reset the board in the middle of the copy.
    cmd = [tool("mpremote"), "connect", device, "resume",
           "exec", _CLEAN % (tuple(stale), BOARD_FS), "+",
           "fs", "cp", "-r", *[str(p) for p in entries], f":{BOARD_FS}", "+",
           "reset"]
    print(f"jezgro deploy: {len(entries)} entries from {build_dir} -> {device}:{BOARD_FS}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0:
        if "no device found" in out.lower():
            raise ToolError(NO_BOARD)
        raise ToolError(f"mpremote failed (exit {r.returncode}): {firmware_message(out) or 'no output'}")
    if out:
        print(out)
    print("jezgro deploy: done; the board was reset and boots the new build")
    return 0
