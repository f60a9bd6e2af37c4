"""Kernel I/O waits on real sockets (wall-clock mode): one object, several objects, timeouts."""
from __future__ import annotations


def test_wait_io_and_wait_io_any(mp):
    r = mp("""
import harness, socket, select
from jezgro.service import ServiceSpec as S
from jezgro.const import PRIO_MEDIUM
import t_io
k = harness.kernel([S(1, "IO", PRIO_MEDIUM, 4, 16, 1000000, "t_io")], virtual=False)
k.boot()
k.run(300)
harness.result({"log": t_io.log, "waiters": len(k.io_waiters)})
""", timeout=60)
    log = r.data["log"]
    assert log[0] == ["single-timeout", False]
    assert log[1] == ["single-ready", True]
    assert log[2] == ["any-timeout", None]
    assert log[3] == ["any-ready", 1]  # index of the socket that had data
    assert r.data["waiters"] == 0  # nothing left registered after the waits
