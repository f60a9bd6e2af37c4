"""Polling helpers for tests that watch a real peer (CSMS, station process) over wall-clock time."""
from __future__ import annotations

import time


def poll(pred, timeout=15.0):
    """Return pred()'s first truthy value, polling every 50 ms; None after timeout seconds."""
    t_end = time.time() + timeout
    while time.time() < t_end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def wait_for(pred, timeout=15.0):
    """As poll(), but fail after timeout seconds."""
    v = poll(pred, timeout)
    if not v:
        raise AssertionError("condition not met in time")
    return v
