"""Running firmware code under the MicroPython unix port, the same code the board runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
UNIX_BOARD = ROOT / "boards" / "unix"
STM32_BOARD = ROOT / "boards" / "stm32h743"


def tool(name: str) -> str:
    """A console script from this interpreter's environment (the project .venv), else PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"jezgro: '{name}' not found; run 'make' targets so the toolchain is installed")
    return found


def micropython_env(fs_root: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # .frozen first, as the unix port's default path has it: ssl/tls live there.
    env["MICROPYPATH"] = f".frozen:{FIRMWARE}:{UNIX_BOARD}"
    if fs_root is not None:
        env["JEZGRO_FS"] = fs_root
    return env


def micropython_cmd(script_or_c: list[str], heap: str | None = None) -> list[str]:
    cmd = [tool("micropython")]
    if heap:
        cmd += ["-X", f"heapsize={heap}"]
    return cmd + script_or_c


def run_code(code: str, *, fs_root: str | None = None, timeout: float = 120,
             heap: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a snippet under unix MicroPython with the firmware importable."""
    return subprocess.run(micropython_cmd(["-c", code], heap), env=micropython_env(fs_root),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
