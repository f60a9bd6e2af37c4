"""`jezgro soak --hours H`: the chaos soak (issue 16, docs/reliability.md).

The V2G configuration runs in virtual time for H simulated hours (boards/unix/simmain.py): the simulated
EV charges with every protocol in turn, back to back (DIN 70121, -2 DC, -2 AC, -20 DC BPT, -20 AC BPT,
SLAC first), the grid scenario changes every --grid-every s, and a fault (crash, hang, oom, stall) lands
in a random gateway service every --fault-every s on average (seeded, boards/unix/chaos.py), mid-session
too. The report (OUT/soak.txt, OUT/soak.json) says whether the gateway came through:

- CRITICAL ticks missed: must be 0, over every boot of the run;
- no leak: the live heap's floor (the least live heap, after a collection, in each stretch of the run)
  must not grow from the first third to the last by more than --leak-kb;
- audit: every kernel event the kernel handed to AUDIT_LOGGER is on the filesystem (none lost);
- sessions: how each protocol's sessions ended; at least one of each protocol completed;
- restarts and quarantines per service, reboots, injected faults per service and kind.
Exit 0 when the run passes, 1 when it fails (the reasons are printed).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import sim
from .errors import UserError

PROTOCOLS = ("din", "iso2-dc", "iso2-ac", "iso20-dc-bpt", "iso20-ac-bpt")
GRIDS = ("clean_grid", "distorted_rated", "phase_jumps", "unbalanced_rated", "freq_step_clean", "droop_entsoe",
         "sag_005_balanced", "qv_undervoltage")
# A session the EV completed: the SECC answered to the end (ev_sim's end names, iso15118/evcc/session.py).
COMPLETE = "SessionStop"
WARMUP = 0.1  # of the run: boot and the first sessions load grammars and fill caches, not a leak


def heap_floor_growth(samples: list[list[int]]) -> tuple[int, int, int]:
    """(floor of the first third, floor of the last third, growth), bytes, of (t_ms, live bytes) samples
    after the warm-up. The floor (the least live heap in a stretch) is what a leak raises: the peaks
    are sessions in progress."""
    if len(samples) < 6:
        return 0, 0, 0
    t_end = samples[-1][0]
    body = [s for s in samples if s[0] >= WARMUP * t_end]
    third = max(1, len(body) // 3)
    first = min(s[1] for s in body[:third])
    last = min(s[1] for s in body[-third:])
    return first, last, last - first


def verdict(report: dict, leak_bytes: int) -> list[str]:
    """Why the run fails ([] when it passes)."""
    why = []
    if report["critical"]["ticks_missed"]:
        why.append(f"{report['critical']['ticks_missed']} CRITICAL ticks missed (must be 0)")
    h = report["heap"]
    if h["floor_growth"] > leak_bytes:
        why.append(f"the live heap's floor grew by {h['floor_growth']} B from the first third of the run to the "
                   f"last ({h['floor_first']} -> {h['floor_last']} B; limit {leak_bytes} B): a leak")
    a = report["audit"]
    if a["lost"] or a["written"] != a["sent"]:
        why.append(f"audit: {a['sent']} kernel events sent, {a['written']} written, {a['lost']} lost")
    for p in PROTOCOLS:
        if report["sessions"]["per_protocol"].get(p, {}).get(COMPLETE, 0) == 0 and report["sessions"]["total"] >= \
                2 * len(PROTOCOLS):
            why.append(f"no {p} session completed")
    if report["held_now"]:
        why.append(f"held (quarantined) at the end: {', '.join(report['held_now'])}: the station lost that function "
                   f"for good under faults it should survive")
    if not report["sessions"]["total"]:
        why.append("no EV session at all")
    if report.get("interrupted"):
        why.append("interrupted before the end")
    return why


def build_report(summary: dict, samples: list[list[int]], hours: float, wall_s: float, leak_bytes: int) -> dict:
    reboots = summary.get("reboots") or []
    services = summary.get("services") or []
    restarts: dict[str, int] = {s["name"]: s["restarts"] for s in services[1:]}
    for r in reboots:  # earlier boots of the run (a quarantined CRITICAL service resets the board)
        for name, n in (r.get("restarts") or {}).items():
            restarts[name] = restarts.get(name, 0) + n
    crit = summary.get("critical") or {}
    audit_logger = next((s for s in services if s["name"] == "AUDIT_LOGGER"), {})
    written = ((audit_logger.get("status") or {}).get("kernel_events", 0)
               + sum((r.get("audit") or {}).get("written", 0) for r in reboots))
    sent = (summary.get("audit") or {}).get("sent", 0) + sum((r.get("audit") or {}).get("sent", 0) for r in reboots)
    lost = (summary.get("audit") or {}).get("lost", 0) + sum((r.get("audit") or {}).get("lost", 0) for r in reboots)
    per_proto = (summary.get("ev") or {}).get("sessions") or {}
    total = sum(sum(v.values()) for v in per_proto.values())
    complete = sum(v.get(COMPLETE, 0) for v in per_proto.values())
    first, last, growth = heap_floor_growth(samples)
    ocpp = next((s for s in services if s["name"] == "OCPP_CLIENT"), {})
    report = {
        "hours": hours, "sim_ms": summary.get("sim_ms"), "wall_s": round(wall_s, 1),
        "speed_x": round((summary.get("sim_ms") or 0) / 1000 / wall_s, 2) if wall_s else None,
        "boots": summary.get("boots"), "reboots": [{"t_ms": r["t_ms"], "reason": r["reason"]} for r in reboots],
        "sessions": {"total": total, "completed": complete, "other_ends": total - complete, "per_protocol": per_proto,
                     # the latest that did not complete: [board ms, protocol, end, detail, messages]
                     "latest_other": (summary.get("ev") or {}).get("odd") or []},
        "restarts": restarts,
        "quarantined": (summary.get("quarantined") or 0) + sum(r.get("quarantined", 0) for r in reboots),
        "held_now": [s["name"] for s in services[1:] if s.get("state") == "held"],
        "faults": summary.get("chaos"), "grid": summary.get("grids"),
        "critical": {"ticks_run": crit.get("ticks_run"),
                     "ticks_missed": (crit.get("ticks_missed") or 0) + sum(r.get("ticks_missed", 0) for r in reboots),
                     "max_cost_us": crit.get("max_cost_us"), "overruns": crit.get("overruns")},
        "heap": {"samples": len(samples), "floor_first": first, "floor_last": last, "floor_growth": growth,
                 "high_water": max((s[1] for s in samples), default=0),
                 "per_hour": _per_hour(samples), "leak_limit": leak_bytes},
        "audit": {"sent": sent, "written": written, "lost": lost},
        "ocpp": {"state": (ocpp.get("status") or {}).get("link"), "config_error": ocpp.get("config_error"),
                 "queue": (ocpp.get("status") or {}).get("txq")},
        "oom": {s["name"]: s["oom"] for s in services[1:] if s.get("oom")},
        "interrupted": summary.get("interrupted", False),
    }
    report["failures"] = verdict(report, leak_bytes)
    report["passed"] = not report["failures"]
    return report


def _per_hour(samples: list[list[int]]) -> list[list[int]]:
    """[hour, floor, high-water] of the live heap per simulated hour (per 1/8 of the run when shorter)."""
    if not samples:
        return []
    span = max(3_600_000 if samples[-1][0] >= 2 * 3_600_000 else samples[-1][0] // 8, 1)
    out: dict[int, list[int]] = {}
    for t, b in samples:
        w = out.setdefault(t // span, [b, b])
        w[0] = min(w[0], b)
        w[1] = max(w[1], b)
    return [[k, v[0], v[1]] for k, v in sorted(out.items())]


def text(r: dict) -> str:
    out = [f"JEZGRO-GW chaos soak: {r['sim_ms'] / 3_600_000:.2f} simulated h in {r['wall_s'] / 60:.1f} min wall "
           f"({r['speed_x']}x real time), {r['boots']} boot(s): {'PASSED' if r['passed'] else 'FAILED'}"]
    s = r["sessions"]
    out.append(f"EV sessions: {s['total']} ({s['completed']} completed, {s['other_ends']} ended otherwise)")
    for p, ends in sorted(s["per_protocol"].items()):
        out.append(f"  {p:<13} " + ", ".join(f"{k} {v}" for k, v in sorted(ends.items())))
    for t, p, end, detail, n in s["latest_other"]:
        out.append(f"  not completed at {t / 1000:.0f} s: {p} {end} after {n} messages ({detail})")
    f = r["faults"] or {}
    out.append(f"Faults injected: {f.get('total', 0)} (every {f.get('mean_s', '?')} s on average; "
               f"{f.get('mid_session', 0)} mid-session, {f.get('skipped', 0)} into a service not running)")
    out.append(f"{'service':<13} {'crash':>5} {'hang':>5} {'oom':>5} {'stall':>5} {'restarts':>8}")
    for name, n in r["restarts"].items():
        k = (f.get("per_service") or {}).get(name, {})
        out.append(f"{name:<13} {k.get('crash', '-'):>5} {k.get('hang', '-'):>5} {k.get('oom', '-'):>5} "
                   f"{k.get('stall', '-'):>5} {n:>8}")
    out.append(f"Quarantines: {r['quarantined']}; held at the end: {', '.join(r['held_now']) or 'none'}; "
               f"reboots: {len(r['reboots'])}")
    g = r["grid"] or {}
    out.append(f"Grid scenario changes: {g.get('changes', 0)} (every {g.get('period_s', '?')} s)")
    c = r["critical"]
    out.append(f"CRITICAL ticks: {c['ticks_run']} run (last boot), {c['ticks_missed']} missed (all boots)")
    h = r["heap"]
    out.append(f"Live heap (after collection, {h['samples']} samples): high-water {h['high_water']} B; floor "
               f"{h['floor_first']} B in the first third, {h['floor_last']} B in the last (growth "
               f"{h['floor_growth']} B, limit {h['leak_limit']} B)")
    out.append("  window  floor B  high-water B")
    for w, lo, hi in h["per_hour"]:
        out.append(f"  {w:>6}  {lo:>7}  {hi:>12}")
    a = r["audit"]
    out.append(f"Audit: {a['sent']} kernel events sent to AUDIT_LOGGER, {a['written']} written, {a['lost']} lost")
    o = r["ocpp"]
    out.append(f"OCPP: {o['config_error'] or (o['state'] or {}).get('state') or '-'}")
    for name, oom in r["oom"].items():
        out.append(f"Last out-of-memory of {name}: while {oom.get('doing')} ({oom.get('at')})")
    for why in r["failures"]:
        out.append(f"FAIL: {why}")
    return "\n".join(out)


class Progress:
    """One line per status on a terminal (rewritten in place) or every 10 % elsewhere."""

    def __init__(self, total_ms: int, stream=sys.stdout):
        self.total_ms = total_ms
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self.samples: list[list[int]] = []
        self.injected = 0
        self.sessions = 0
        self.missed = 0
        self.restarts = 0
        self._next_pct = 0

    def __call__(self, tag: str, rest: str) -> None:
        if tag == "INJECT":
            self.injected += 1
            return
        if tag == "EV" and rest.startswith("session "):
            self.sessions += 1
            return
        if tag != "STATUS":
            return
        st = json.loads(rest)
        t = st.get("t_ms", 0)
        heap = st.get("heap") or [0, 0]
        self.samples.append([t, heap[0]])
        self.missed = st.get("missed", 0)
        self.restarts = sum(s[2] for s in st.get("services", []) if isinstance(s, list) and len(s) > 2)
        pct = 100 * t // max(self.total_ms, 1)
        wall = time.monotonic() - self.t0
        line = (f"{t / 3_600_000:6.2f}/{self.total_ms / 3_600_000:.2f} h simulated ({pct:3d} %), {wall / 60:5.1f} min "
                f"wall, {t / 1000 / max(wall, 1e-3):5.1f}x; sessions {self.sessions}, faults {self.injected}, "
                f"restarts {self.restarts}, missed ticks {self.missed}, live heap {heap[0] // 1024} KB")
        if self.tty:
            self.stream.write("\r" + line[:200])
            self.stream.flush()
        elif pct >= self._next_pct:
            self._next_pct = pct + 10
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def add_parser(sub) -> None:
    s = sub.add_parser("soak", help="chaos soak: many simulated hours of sessions, grid changes and random faults")
    s.add_argument("--hours", type=float, default=1.0, help="simulated hours (default 1)")
    s.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (default 1)")
    s.add_argument("--fault-every", type=float, default=60.0, metavar="S",
                   help="mean simulated seconds between injected faults (default 60)")
    s.add_argument("--grid-every", type=float, default=600.0, metavar="S",
                   help="simulated seconds between grid scenario changes (default 600)")
    s.add_argument("--ev-gap", type=float, default=5.0, metavar="S", help="seconds between EV sessions (default 5)")
    s.add_argument("--leak-kb", type=int, default=48, metavar="KB",
                   help="the live heap's floor may grow this much from the first third to the last (default 48)")
    s.add_argument("--heap", default="1536K", help="MicroPython heap (the simulated EV shares it; default 1536K)")
    s.add_argument("--status-s", type=float, default=10.0, metavar="S",
                   help="simulated seconds between heap samples and progress lines (default 10)")
    s.add_argument("--out", default="soak_out", help="output directory (soak.txt, soak.json, summary.json, fs)")
    s.set_defaults(func=main)


def check_args(a) -> None:
    for opt, v in (("--hours", a.hours), ("--fault-every", a.fault_every), ("--grid-every", a.grid_every),
                   ("--status-s", a.status_s)):
        if not v > 0:
            raise UserError(f"{opt} {v:g}: must be more than 0")
    if a.ev_gap < 0:
        raise UserError(f"--ev-gap {a.ev_gap:g}: must be 0 or more")
    if a.leak_kb < 0:
        raise UserError(f"--leak-kb {a.leak_kb}: must be 0 or more")
    import re
    if not re.fullmatch(r"\d+[KkMm]?", a.heap):
        raise UserError(f"--heap {a.heap!r}: want a size like 1536K or 2M")


def main(a) -> int:
    check_args(a)
    out = Path(a.out)
    fs = out / "fs"
    fs.mkdir(parents=True, exist_ok=True)
    total_ms = int(a.hours * 3_600_000)
    args = ["--config", "v2g", "--seconds", str(a.hours * 3600), "--status-ms", str(int(a.status_s * 1000)),
            "--ev", "soak", "--ev-gap", str(a.ev_gap), "--chaos", f"{a.seed}:{a.fault_every:g}",
            "--scenarios", ",".join(GRIDS) + f":{a.grid_every:g}"]
    print(f"chaos soak: {a.hours:g} simulated h, a fault every {a.fault_every:g} s on average (seed {a.seed}), "
          f"grid change every {a.grid_every:g} s, EV sessions of {', '.join(PROTOCOLS)} back to back; out {out}")
    progress = Progress(total_ms)
    t0 = time.monotonic()
    try:
        # a STATUS every --status-s simulated: minutes without one is a run that stopped making progress
        summary = sim.run(args, str(fs), a.heap, progress, stall_s=max(300.0, 20 * a.status_s))
    finally:
        progress.close()
    wall = time.monotonic() - t0
    summary.pop("stderr", None)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    report = build_report(summary, progress.samples, a.hours, wall, a.leak_kb * 1024)
    report["command"] = "jezgro soak " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "jezgro soak"
    (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    t = text(report)
    (out / "soak.txt").write_text(t + "\n")
    print(t)
    print(f"\nReport: {out / 'soak.txt'}, {out / 'soak.json'}   summary: {out / 'summary.json'}   audit log: "
          f"jezgro logs --dir {fs}")
    return 0 if report["passed"] else 1
