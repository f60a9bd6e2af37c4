"""Firmware runs for the ISO 15118 link tests: a runner script from tests_host/mp (s_run, e_run,
v_run: the real kernel with one service, wall-clock time) under unix MicroPython, optionally
inside the peer's network namespace, and its `RESULT <json>` line."""
from __future__ import annotations

import json
import subprocess

from jezgro_host import mp
from jezgro_host.mp import MP_TESTS


def firmware_run(runner: str, *args: object, netns: str | None = None) -> subprocess.Popen[str]:
    """`runner.run(*args)` under MicroPython (args as Python literals; dicts go as JSON text)."""
    lits = ", ".join(repr(json.dumps(a)) if isinstance(a, dict) else repr(a) for a in args)
    return mp.start(["-c", f"import {runner}; {runner}.run({lits})"], heap="2M", extra=[MP_TESTS], netns=netns,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def firmware_result(proc: subprocess.Popen[str], timeout: float = 40) -> dict:
    """The run's RESULT; it must have ended cleanly with no fault of its service."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # never leave a MicroPython process holding the link behind
        out, err = proc.communicate()
        raise AssertionError(f"MicroPython run did not end in {timeout} s: {out[-2000:]} {err[-2000:]}")
    assert proc.returncode == 0, out + err
    for line in out.splitlines():
        if line.startswith("RESULT "):
            data = json.loads(line[7:])
            assert data["faults"] == 0, data["fault_text"]
            return data
    raise AssertionError(out + err)
