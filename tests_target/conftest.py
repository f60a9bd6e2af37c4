"""On-target tests: on an attached NUCLEO-H743ZI through mpremote (fixture `board`), and on the
emulated Cortex-M7 (qemu, fixture `guest` in test_emulated.py; runs without a board).

The tests that need the board are skipped when none is attached (`mpremote connect list` shows no
USB serial device, which is what `mpremote connect auto` would use). JEZGRO_DEVICE=/dev/ttyACM0
(or any mpremote device name) picks a board explicitly.

Session setup builds the firmware into a temporary directory (`jezgro build`) and mounts it with
`mpremote mount`, so the tests run the current sources without touching the board's flash
(apart from a scratch directory /flash/jezgro_test). The board is first put into service mode
(/flash/SERVICE_MODE + hard reset): a deployed kernel would otherwise run with the hardware
watchdog started, which nothing can stop and which would reset the board under the tests.
Teardown restores the previous state.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from jezgro_host import target
from jezgro_host.mp import tool

HERE = Path(__file__).resolve().parent
SCRATCH = "/flash/jezgro_test"


def _device() -> str | None:
    env = os.environ.get("JEZGRO_DEVICE")
    if env:
        return env
    ports = target.attached_boards()
    return ports[0] if ports else None


DEVICE = _device()
SKIP_REASON = ("no board attached: `mpremote connect list` shows no USB serial device "
               "(connect the NUCLEO-H743ZI's USB, or set JEZGRO_DEVICE)")


def pytest_collection_modifyitems(config, items):
    # Only the tests that need the board skip without one; the emulated target's tests
    # (test_emulated.py, fixture `guest`) run wherever the qemu build is.
    if DEVICE is not None:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents and "board" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


def mpremote(*args: str, timeout: float = 120, resume: bool = False) -> subprocess.CompletedProcess[str]:
    assert DEVICE is not None
    cmd = [tool("mpremote"), "connect", DEVICE] + (["resume"] if resume else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def wait_for_board(timeout: float = 30) -> None:
    """After a hard reset: wait until the USB serial port is back and the REPL answers."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        time.sleep(1.0)
        try:
            # `resume`: a soft reset would overwrite the reset cause the caller may want to read.
            r = mpremote("exec", "print('jezgro-ready')", timeout=15, resume=True)
        except subprocess.TimeoutExpired:
            continue
        if "jezgro-ready" in r.stdout:
            return
        last = r.stdout + r.stderr
    raise RuntimeError(f"board did not come back after reset:\n{last}")


class Board:
    """Runs snippets on the board with the test build mounted at /remote (the working directory)."""

    scratch = SCRATCH

    def __init__(self, build_dir: Path):
        self.build_dir = build_dir

    @staticmethod
    def mpremote(*args: str, timeout: float = 120, resume: bool = False) -> subprocess.CompletedProcess[str]:
        return mpremote(*args, timeout=timeout, resume=resume)

    @staticmethod
    def wait_for_board(timeout: float = 30) -> None:
        wait_for_board(timeout)

    def run(self, code: str, timeout: float = 120) -> dict:
        """Run code on the board (after a soft reset); it prints `RESULT <json>`. Returns the dict."""
        script = self.build_dir.parent / "snippet.py"
        script.write_text(code)
        r = mpremote("mount", str(self.build_dir), "run", str(script), timeout=timeout)
        out = r.stdout + r.stderr
        assert r.returncode == 0, f"mpremote exit {r.returncode}:\n{out}"
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        assert lines, f"no RESULT line:\n{out}"
        return json.loads(lines[-1][7:])

    def reset_and_wait(self) -> None:
        mpremote("reset", timeout=30)
        wait_for_board()


@pytest.fixture(scope="session")
def board(tmp_path_factory) -> Iterator[Board]:
    if DEVICE is None:
        pytest.skip(SKIP_REASON)
    out = tmp_path_factory.mktemp("target") / "build"
    assert target.build(argparse.Namespace(out=str(out))) == 0
    # `resume`: no soft reset, which would stop the tick timer that feeds a running watchdog.
    r = mpremote("exec", "import os\ntry:\n os.stat('/flash/SERVICE_MODE')\n print('FLAG 1')\n"
                 "except OSError:\n print('FLAG 0')\n open('/flash/SERVICE_MODE', 'w').close()\n"
                 "try:\n os.mkdir('%s')\nexcept OSError:\n pass\n" % SCRATCH, resume=True)
    assert "FLAG" in r.stdout, r.stdout + r.stderr
    had_flag = "FLAG 1" in r.stdout
    b = Board(out)
    b.reset_and_wait()  # now no kernel, no hardware watchdog
    yield b
    if not had_flag:
        mpremote("exec", "import os\nos.remove('/flash/SERVICE_MODE')", timeout=30)
    mpremote("reset", timeout=30)
