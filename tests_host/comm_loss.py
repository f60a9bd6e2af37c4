"""What the communication-loss tests read from a gateway simulation's output: the STATUS lines, the plant's
measured power trace (from the energy that really flowed at the PCC, boards/unix/simmain.py `plant`), and
the grid code's ramp limit it must keep to (firmware/grid/profiles.py ramp_pct_s of the rated power)."""
from __future__ import annotations

import json
import runpy

from jezgro_host import mp

P_RATED_W = mp.firmware_constants("grid/hw.py", "P_RATED_W")["P_RATED_W"]
WINDOW_MS = 1000  # the plant's power is averaged over this (its energy is booked in 20 ms windows)


def lines(text: str, tag: str) -> list[dict]:
    return [json.loads(x[len(tag) + 1:]) for x in text.splitlines() if x.startswith(tag + " ")]


def ramp_w_s(grid_code: str) -> float:
    """The grid code's ramp limit of scheduled power changes, W/s."""
    profiles = runpy.run_path(str(mp.FIRMWARE / "grid" / "profiles.py"))["PROFILES"]
    return profiles[grid_code]["ramp_pct_s"] / 100 * P_RATED_W


def _spans(pts: list[tuple[int, float]], span_ms: int):
    """(t0, v0, t, v) for each point and the first point at most span_ms (and at least 0.9 x span_ms) before it."""
    j = 0
    for t, v in pts:
        while pts[j][0] < t - span_ms:
            j += 1
        t0, v0 = pts[j]
        if t - t0 >= span_ms * 0.9:
            yield t0, v0, t, v


def plant_power(status: list[dict]) -> list[tuple[int, float]]:
    """[(t_ms, W)]: the plant's mean power (import positive) over the WINDOW_MS before each STATUS line."""
    pts = [(s["t_ms"], s["plant"][0] - s["plant"][1]) for s in status if s.get("plant")]
    return [(t, (e - e0) * 1000 / (t - t0)) for t0, e0, t, e in _spans(pts, WINDOW_MS)]


def at(trace: list[tuple[int, float]], t_ms: int) -> float:
    """The trace's value at the first point at or after t_ms."""
    return next(p for t, p in trace if t >= t_ms)


def fastest_change(trace: list[tuple[int, float]], t0: int, t1: int, span_ms: int = 2000) -> float:
    """The largest |dP/dt| (W/s) between points span_ms apart within [t0, t1]: a ramp-limited plant keeps
    it at the ramp (plus the 1 s window's own smoothing: it never makes it faster)."""
    pts = [(t, p) for t, p in trace if t0 <= t <= t1]
    return max((abs(p - pj) * 1000 / (t - tj) for tj, pj, t, p in _spans(pts, span_ms)), default=0.0)


def settled(trace: list[tuple[int, float]], t0: int, t1: int, target: float, tol: float) -> int | None:
    """The first time in [t0, t1] from which the trace stays within tol of target until t1 (None: never)."""
    since = None
    for t, p in trace:
        if t < t0 or t > t1:
            continue
        if abs(p - target) <= tol:
            since = t if since is None else since
        else:
            since = None
    return since
