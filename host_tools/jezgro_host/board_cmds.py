"""`jezgro flash` and `jezgro repl`: the board image onto an attached NUCLEO-H743ZI, and its REPL.

flash  writes build/micropython/out/jezgro-h743.hex (`make firmware-all`) through the NUCLEO's
       on-board ST-LINK with pyOCD (docs/platform.md says why pyOCD): no jumpers, no DFU mode, the
       same USB cable. pyOCD is pinned in requirements-board.txt (`make board-tools`), not in the
       CI venv: nothing without a board needs it. Then `jezgro deploy`/provision as before.
repl   opens the MicroPython REPL on the board's USB serial port with mpremote.
Both say in one line what is missing when there is no board, image or tool.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import firmware, target
from .errors import ToolError
from .mp import tool

IMAGE = "jezgro-h743.hex"
# pyOCD's name for the chip (CMSIS pack Keil.STM32H7xx_DFP; `pyocd pack install stm32h743zitx` once)
PYOCD_TARGET = "stm32h743zitx"
PYOCD_PIN = "pyocd==0.46.0"


def _pyocd() -> str | None:
    here = Path(sys.executable).parent / "pyocd"
    return str(here) if here.exists() else shutil.which("pyocd")


def _probes(pyocd: str) -> list[str]:
    r = subprocess.run([pyocd, "list", "--probes"], capture_output=True, text=True, timeout=60)
    return [ln for ln in r.stdout.splitlines() if "STLINK" in ln.upper() or "ST-LINK" in ln.upper()]


def flash(a) -> int:
    image = Path(a.image) if a.image else firmware.OUT / IMAGE
    if not image.exists():
        raise ToolError(f"{image} not built: run `make firmware-all` (jezgro firmware build --target stm32)")
    pyocd = _pyocd()
    if pyocd is None:
        raise ToolError(f"pyocd not installed: `make board-tools` ({PYOCD_PIN}, requirements-board.txt)")
    if not _probes(pyocd):
        raise ToolError("no ST-LINK found (connect the NUCLEO-H743ZI's ST-LINK USB, CN1)")
    r = subprocess.run([pyocd, "flash", "-t", a.pyocd_target, "--format", "hex", str(image)])
    if r.returncode != 0:
        raise ToolError(f"pyocd failed (exit {r.returncode}); if it names the target unknown: "
                        f"pyocd pack install {a.pyocd_target}")
    print(f"flashed {image.name}; next: jezgro deploy (or mpremote cp boards/stm32h743/main.py :/flash/)")
    return 0


def repl(a) -> int:
    device = a.device
    if device is None:
        ports = target.attached_boards()
        if not ports:
            raise ToolError("no board found (connect the NUCLEO-H743ZI's user USB, CN13)")
        device = ports[0]
    mpremote = tool("mpremote")
    os.execv(mpremote, [mpremote, "connect", device, "repl"])
    return 0  # not reached


def add_parser(sub) -> None:
    s = sub.add_parser("flash", help="write the board image (make firmware-all) to an attached NUCLEO via ST-LINK")
    s.add_argument("--image", default=None, help=f"the .hex to write (default: build/micropython/out/{IMAGE})")
    s.add_argument("--pyocd-target", default=PYOCD_TARGET)
    s.set_defaults(func=flash)
    s = sub.add_parser("repl", help="open the board's USB REPL (mpremote)")
    s.add_argument("--device", default=None, help="mpremote device (default: the first attached board)")
    s.set_defaults(func=repl)
