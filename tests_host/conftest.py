"""Host tests run firmware code under the real MicroPython unix port (from the pinned wheel)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MP_DIR = Path(__file__).resolve().parent / "mp"
BIN = Path(sys.executable).parent


def micropython() -> str:
    p = BIN / "micropython"
    if not p.exists():
        raise RuntimeError("micropython not in the test environment; run `make test`")
    return str(p)


class MPResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]):
        self.proc = proc
        self.out = proc.stdout
        self.err = proc.stderr
        self.data = None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                self.data = json.loads(line[7:])

    def __repr__(self) -> str:
        return f"<rc={self.proc.returncode}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-3000:]}>"


@pytest.fixture
def mp(tmp_path):
    """mp(code) runs code under unix MicroPython with firmware/, boards/unix and tests_host/mp importable.

    The snippet prints `RESULT <json>`; the fixture returns MPResult with .data parsed."""

    def run(code: str, timeout: float = 120, heap: str = "2M", fs: Path | None = None) -> MPResult:
        env = dict(os.environ)
        env["MICROPYPATH"] = f".frozen:{ROOT / 'firmware'}:{ROOT / 'boards' / 'unix'}:{MP_DIR}"
        env["JEZGRO_FS"] = str(fs or tmp_path)
        proc = subprocess.run([micropython(), "-X", f"heapsize={heap}", "-c", code], env=env,
                              capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
        r = MPResult(proc)
        assert proc.returncode == 0, r
        assert r.data is not None, r
        return r

    return run
