"""Running firmware code under the MicroPython unix port, the same code the board runs.

The one place that knows how to launch it: the executable (micropython_exe()), MICROPYPATH
(the port's frozen modules, firmware/, a board layer, extra directories such as tests_host/mp or
bench/), the heap size, JEZGRO_FS and the environment. The CLI, the benches and the tests all go
through run()/start() (or micropython_cmd()/micropython_env() where they need the pieces).

Which MicroPython: the unix port built from the pinned v1.28.0 source with TLS 1.3
(`jezgro firmware build`, build/micropython/out/micropython; `make sim`/`make test` build it first),
the same source as the board image. $JEZGRO_MICROPYTHON names another executable. Without either,
the PyPI unix wheel in .venv (reports 1.29.0-preview, TLS 1.2 only) is the fallback, so the tools
still run on a machine without a C toolchain; docs/platform.md says what that loses.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
UNIX_BOARD = ROOT / "boards" / "unix"
STM32_BOARD = ROOT / "boards" / "stm32h743"
BENCH = ROOT / "bench"
# Test services and runners (MicroPython side of the host tests; the EXI peer of the benches too).
MP_TESTS = ROOT / "tests_host" / "mp"
# The environment of runs that must not inherit the caller's (env=CLEAN_ENV).
CLEAN_ENV: Mapping[str, str] = {"PATH": "/usr/bin:/bin"}


def tool(name: str) -> str:
    """A console script from this interpreter's environment (the project .venv), else PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"jezgro: '{name}' not found; run 'make' targets so the toolchain is installed")
    return found


# The unix port `jezgro firmware build` makes (firmware.OUT; not imported from there: firmware imports us).
BUILT_MICROPYTHON = ROOT / "build" / "micropython" / "out" / "micropython"


def micropython_exe() -> str:
    """The MicroPython unix executable every launch uses: $JEZGRO_MICROPYTHON, else the one built
    from the pinned source, else the PyPI wheel's."""
    env = os.environ.get("JEZGRO_MICROPYTHON")
    if env:
        return env
    if BUILT_MICROPYTHON.exists():
        return str(BUILT_MICROPYTHON)
    return tool("micropython")


def pinned_build() -> bool:
    """True when launches run the unix port built from the pinned source (TLS 1.3, v1.28.0)."""
    return micropython_exe() == str(BUILT_MICROPYTHON)


def firmware_constants(module: str, *names: str) -> dict[str, Any]:
    """Module-level constants of a firmware source file (`module` relative to firmware/, e.g.
    "jezgro/const.py"), read with ast instead of typing them again: literals, tuples of them and
    const(literal)."""
    tree = ast.parse((FIRMWARE / module).read_text(), module)
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
            if name in names:
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "const":
                    value = value.args[0]
                found[name] = ast.literal_eval(value)
    missing = [n for n in names if n not in found]
    if missing:
        raise LookupError(f"firmware/{module} defines no {', '.join(missing)}")
    return found


def micropython_path(extra: Iterable[str | Path] = (), *, firmware: str | Path = FIRMWARE,
                     board: str | Path | None = UNIX_BOARD) -> str:
    """MICROPYPATH: ".frozen" first, as the unix port's default path has it (ssl/tls live there), then
    the firmware tree (sources or an .mpy build), the board layer (None: none) and `extra` directories."""
    parts: list[str | Path] = [".frozen", firmware]
    if board is not None:
        parts.append(board)
    parts.extend(extra)
    return ":".join(str(p) for p in parts)


def micropython_env(fs_root: str | Path | None = None, *, extra: Iterable[str | Path] = (),
                    firmware: str | Path = FIRMWARE, board: str | Path | None = UNIX_BOARD,
                    env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: `env` (default: this process's) with MICROPYPATH and JEZGRO_FS set."""
    out = dict(os.environ if env is None else env)
    out["MICROPYPATH"] = micropython_path(extra, firmware=firmware, board=board)
    if fs_root is not None:
        out["JEZGRO_FS"] = str(fs_root)
    return out


def micropython_cmd(script_or_c: list[str], heap: str | None = None, *, netns: str | None = None) -> list[str]:
    """argv: the .venv's micropython with -X heapsize=HEAP, optionally inside a network namespace."""
    cmd = [micropython_exe()]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    cmd += script_or_c
    return ["ip", "netns", "exec", netns, *cmd] if netns else cmd


def _launch(how: Any, args: list[str], *, heap: str | None = None, fs_root: str | Path | None = None,
            extra: Iterable[str | Path] = (), firmware: str | Path = FIRMWARE,
            board: str | Path | None = UNIX_BOARD, env: Mapping[str, str] | None = None,
            extra_env: Mapping[str, str] | None = None, netns: str | None = None, **kw: Any) -> Any:
    e = micropython_env(fs_root, extra=extra, firmware=firmware, board=board, env=env)
    e.update(extra_env or {})
    kw.setdefault("text", True)
    return how(micropython_cmd(args, heap, netns=netns), env=e, **kw)


def run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run MicroPython with `args` (a script and its arguments, or ["-c", code]) to its end.

    heap: -X heapsize; fs_root: JEZGRO_FS; firmware, board, extra: MICROPYPATH (micropython_path);
    env: the base environment (default this process's; CLEAN_ENV for none of it), extra_env: added
    to it; netns: inside that network namespace. Other keywords go to subprocess.run (text mode)."""
    return _launch(subprocess.run, args, **kw)


def start(args: list[str], **kw: Any) -> subprocess.Popen[str]:
    """As run(), but returns the running process (other keywords go to subprocess.Popen)."""
    return _launch(subprocess.Popen, args, **kw)


def run_code(code: str, *, fs_root: str | None = None, timeout: float = 120,
             heap: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a snippet under unix MicroPython with the firmware importable."""
    return run(["-c", code], heap=heap, fs_root=fs_root, capture_output=True, timeout=timeout, cwd=ROOT)
