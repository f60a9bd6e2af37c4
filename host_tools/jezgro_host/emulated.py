"""The emulated target: MicroPython's qemu port on an MPS2-AN500 (Cortex-M7, double-precision FPU),
with the firmware frozen in, compiled for armv7emdp as for the board (docs/platform.md).

Guest starts qemu with the guest's UART on a pty and talks MicroPython's raw REPL over it through
tools/pyboard.py (copied next to the build outputs). With icount=True qemu runs with
`-icount shift=0`: one guest instruction per virtual nanosecond, so time.ticks_us() in the guest
counts thousands of executed instructions, deterministically (what `make bench` measures with).
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path
from types import ModuleType

from . import firmware

ELF = "qemu-mps2-an500.elf"
PYBOARD = "pyboard.py"
# The board's GC heap is ~440 KB (docs/platform.md size table): the emulated target gets the same.
HEAP_BYTES = 440 * 1024
MANIFEST = firmware.CONF / "qemu" / "manifest.py"
# asyncio's C core (the kernel's scheduler) is off in the qemu port's default configuration. littlefs
# stamps files with mp_hal_time_ns(), which the qemu port lacks (no RTC): files get mtime 0.
CFLAGS = "-DMICROPY_PY_ASYNCIO=1 '-Dmp_hal_time_ns()=0ULL'"


def make_args() -> list[str]:
    # littlefs: boards/qemu/board.py mounts a RAM filesystem (persist, audit log) as the board has /flash
    # jezgro_irq: the TIMER0 interrupt and break_main() of the hang watch (boards/qemu/board.py)
    return [f"FROZEN_MANIFEST={MANIFEST}", f"MICROPY_HEAP_SIZE={HEAP_BYTES}", f"CFLAGS_EXTRA={CFLAGS}",
            f"USER_C_MODULES={firmware.USER_C_MODULES}",
            "MICROPY_VFS_LFS2=1"]


def missing() -> str | None:
    """Why the emulated target cannot run here (one line), or None."""
    if not shutil.which("qemu-system-arm"):
        return f"qemu-system-arm not found: {firmware.APT}"
    for name in (ELF, PYBOARD):
        if firmware.built(name) is None:
            return f"{firmware.OUT / name} not built: run `make firmware` (jezgro firmware build --target qemu)"
    return None


def _pyboard() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jezgro_pyboard", firmware.OUT / PYBOARD)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def qemu_cmd(elf: Path, icount: bool = False) -> str:
    cmd = (f"qemu-system-arm -machine mps2-an500 -nographic -monitor null -semihosting -serial pty "
           f"-kernel {elf}")
    return cmd + (" -icount shift=0" if icount else "")


class GuestError(Exception):
    pass


def result(out: str) -> dict:
    """The JSON of the last `RESULT ...` line a guest script printed."""
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out[-2000:])
    return json.loads(line[-1][7:])


class Guest:
    """One qemu guest with its raw REPL; use as a context manager."""

    def __init__(self, icount: bool = False, elf: Path | None = None):
        why = missing()
        if why and elf is None:
            raise GuestError(why)
        self._mod = _pyboard()
        self.pyb = self._mod.Pyboard("execpty:" + qemu_cmd(elf or firmware.OUT / ELF, icount))
        self.pyb.enter_raw_repl(soft_reset=False)

    def exec(self, code: str, timeout: float = 120) -> str:
        """Run code in the guest; -> its output. Raises GuestError with the guest's traceback."""
        try:
            out = self.pyb.exec_(code, timeout=timeout)
        except self._mod.PyboardError as e:
            raise GuestError(str(e)) from None
        return out.decode(errors="replace")

    def exec_until_exit(self, code: str, timeout: float = 120) -> tuple[str, int | None]:
        """Run code that ends the emulator (qemu exits: semihosting exit, e.g. the emulated board's
        watchdog reset); -> (what qemu wrote to its own stdout by semihosting, its exit status, or
        None if it still ran after timeout)."""
        self.pyb.exec_raw_no_follow(code)
        proc = self.pyb.serial.subp
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if self.pyb.serial.inWaiting():
                    self.pyb.serial.read(self.pyb.serial.inWaiting())  # the UART: drained, not kept
            except OSError:
                pass  # the pty went away with qemu
            time.sleep(0.05)
        rc = proc.poll()
        out = proc.stdout.read().decode(errors="replace") if rc is not None else ""
        return out, rc

    def put_files(self, folder: str, files: dict[str, bytes]) -> None:
        """Write files into folder on the guest's filesystem (the qemu board layer mounts its RAM
        filesystem at /fs on import)."""
        self.exec(f"import board, os\ntry:\n    os.mkdir({folder!r})\nexcept OSError:\n    pass\n")
        for name, data in files.items():
            self.put("F", data)
            self.exec(f"with open('{folder}/{name}', 'wb') as f:\n    f.write(F)\nF = None\n")

    def put(self, name: str, data: bytes, chunk: int = 2048) -> None:
        """A global `name` = bytearray(data) in the guest (in hex chunks through the raw REPL)."""
        self.exec(f"{name} = bytearray({len(data)})")
        for o in range(0, len(data), chunk):
            part = data[o:o + chunk]
            self.exec(f"{name}[{o}:{o + len(part)}] = bytes.fromhex('{part.hex()}')")

    def close(self) -> None:
        try:
            self.pyb.exit_raw_repl()
        except Exception:  # noqa: BLE001 - the guest is going away either way
            pass
        try:
            self.pyb.close()
        except ProcessLookupError:
            pass  # qemu has already exited (exec_until_exit)

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
