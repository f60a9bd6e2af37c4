"""The MicroPython OCPP_CLIENT as a station process for the OCPP tests (a test helper: the CSMS side is
jezgro_host.csms)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from jezgro_host import mp
from jezgro_host.mp import MP_TESTS


class StationProcess:
    """The MicroPython OCPP_CLIENT (tests_host/mp/o_station.py) in a kernel on wall-clock time, as a
    subprocess with its own board filesystem; stop() ends it and returns its RESULT dict."""

    def __init__(self, fs: Path, config: dict[str, Any], code: str = "", heap: str = "2M", max_ms: int = 60000):
        self.fs = Path(fs)
        self.fs.mkdir(parents=True, exist_ok=True)
        (self.fs / "ocpp.json").write_text(json.dumps(config))
        self.code = code or f"import o_station, harness\nk, out = o_station.run({max_ms})\nharness.result(out)\n"
        self.heap = heap
        self.proc: Any = None

    def start(self) -> "StationProcess":
        try:
            (self.fs / "stop").unlink()
        except FileNotFoundError:
            pass
        # none of the caller's environment; ".frozen" (ssl) is on the path as everywhere
        self.proc = mp.start(["-c", self.code], heap=self.heap, fs_root=self.fs, extra=[MP_TESTS],
                             env=mp.CLEAN_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.fs)
        return self

    def kill(self) -> None:
        """Power loss: no clean shutdown."""
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 30) -> dict[str, Any]:
        (self.fs / "stop").write_text("")
        out, err = self.proc.communicate(timeout=timeout)
        for line in out.splitlines():
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise RuntimeError(f"station rc={self.proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}")
