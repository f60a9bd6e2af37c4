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
- OCPP: OCPP_CLIENT talks to a CSMS inside the simulation (boards/unix/csms_sim.py) that goes away every
  --csms-outage-every s for --csms-outage-s; every TransactionEvent the client queued must reach it, per
  transaction with seqNo continuous, and those queued while it was away must say offline
  (boards/unix/txledger.py): any loss fails the run;
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
# The station's OCPP settings for the soak (<fs>/ocpp_dm.json): Autocharge (the simulated EV's EVCCID is its
# idToken), a TransactionEvent every 5 s during a transaction (so that every outage has events to queue), a
# reconnect back-off of a few seconds (the outages are what is tested, not the back-off's length), and EVs
# charge during an outage too (OfflineTxForUnknownIdEnabled: without it, a session that starts while the CSMS is
# away is refused AuthorizationRes FAILED, correctly, and whole rounds of protocols never complete; with it those
# transactions run offline from start to end, which is what the queue has to carry).
SOAK_DM = {"AuthCtrlr.AutochargeEnabled": "true", "AuthCtrlr.OfflineTxForUnknownIdEnabled": "true",
           "SampledDataCtrlr.TxUpdatedInterval": "5",
           "OCPPCommCtrlr.RetryBackOffWaitMinimum": "2", "OCPPCommCtrlr.RetryBackOffRandomRange": "2",
           "OCPPCommCtrlr.RetryBackOffRepeatTimes": "2", "OCPPCommCtrlr.OfflineThreshold": "30"}
# what the ledger's counts must be for the run to pass: a loss of any kind is a failure
OCPP_LOSSES = {"lost": "queued TransactionEvents never reached the CSMS",
               "dropped_full": "TransactionEvents dropped by the full queue",
               "source_gaps": "seqNo gaps at the source (a seqNo used without its event being queued)",
               "out_of_order": "TransactionEvents reached the CSMS out of order",
               "unknown": "TransactionEvents reached the CSMS that were never queued",
               "offline_missing": "TransactionEvents queued while the CSMS was away without offline: true"}


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
    why += ocpp_verdict(report["ocpp"], report["sessions"]["total"])
    return why


def ocpp_verdict(o: dict, sessions: int) -> list[str]:
    """Why the OCPP part fails: any TransactionEvent lost, out of order or without its offline flag,
    a request the CSMS found malformed, or no TransactionEvent at all although EVs charged."""
    led = o.get("ledger")
    if led is None:
        return []  # no CSMS in this run (an older summary): nothing to judge
    c = led["counts"]
    why = [f"OCPP: {c[k]} {text}" for k, text in OCPP_LOSSES.items() if c.get(k)]
    if why and led.get("problems"):
        why.append("OCPP: first problems: " + "; ".join(led["problems"][:5]))
    bad = (o.get("csms") or {}).get("stats", {}).get("bad_requests", 0)
    if bad:
        why.append(f"OCPP: the CSMS answered {bad} malformed request(s) with CALLERROR: "
                   f"{(o.get('csms') or {}).get('bad', [])[:3]}")
    if sessions >= 2 and not c.get("received"):
        why.append("OCPP: no TransactionEvent reached the CSMS although EVs charged")
    return why


FAULT_WINDOW_MS = 30_000  # a session that did not complete is shown with the faults injected this long before its end


def faults_before(t_ms: int, faults: list[list]) -> list[str]:
    """The injections in the FAULT_WINDOW_MS before a session's end, as "service:kind@s"."""
    return [f"{name}@{tf / 1000:.1f}s" for tf, name in faults if t_ms - FAULT_WINDOW_MS <= tf <= t_ms]


def build_report(summary: dict, samples: list[list[int]], hours: float, wall_s: float, leak_bytes: int,
                 faults: list[list] | None = None) -> dict:
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
                     "latest_other": (summary.get("ev") or {}).get("odd") or [],
                     # per latest_other: the faults injected in the FAULT_WINDOW_MS before it ended
                     "latest_other_faults": [faults_before(o[0], faults or [])
                                             for o in (summary.get("ev") or {}).get("odd") or []]},
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
                 "queue": (ocpp.get("status") or {}).get("txq"), "csms": summary.get("csms_sim"),
                 "ledger": summary.get("txledger"), "client": (ocpp.get("status") or {}).get("stats")},
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
    near = s.get("latest_other_faults") or [None] * len(s["latest_other"])
    for (t, p, end, detail, n), before in zip(s["latest_other"], near):
        out.append(f"  not completed at {t / 1000:.0f} s: {p} {end} after {n} messages ({detail})")
        if before is not None:
            out.append(f"    faults in the {FAULT_WINDOW_MS // 1000} s before: {', '.join(before) or 'none'}")
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
    out.append(f"OCPP: {o['config_error'] or (o['state'] or {}).get('state') or '-'} at the end")
    cs = o.get("csms")
    if cs:
        st = cs["stats"]
        out.append(f"  CSMS (in-process): {st['outages']} outages (every {cs['outage_every_ms'] / 1000:g} s for "
                   f"{cs['outage_ms'] / 1000:g} s), {st['connections']} connections, {st['calls']} requests "
                   f"({', '.join(f'{k} {v}' for k, v in sorted(cs['per_action'].items()))}), "
                   f"{st['bad_requests']} malformed")
    led = o.get("ledger")
    if led:
        c = led["counts"]
        out.append(f"  TransactionEvents: {c['queued']} queued, {c['received']} received (+{c['copies']} resent copies), "
                   f"{c['still_queued']} still queued at the end, {c['lost']} lost, {c['dropped_full']} dropped (queue "
                   f"full); {c['transactions']} transactions, {c['complete']} complete")
        out.append(f"  offline flag: {c['offline_ok']} queued during an outage with it, {c['offline_missing']} without; "
                   f"{c['offline_while_up']} with it while the CSMS still held the connection, "
                   f"{c['offline_unjudged']} within {led['grace_ms']} ms of a connect/disconnect (not judged)")
        for p in led["problems"][:10]:
            out.append(f"  problem: {p}")
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
        self.faults: list[list] = []  # [board ms, "service:kind"] of every applied injection
        self.sessions = 0
        self.missed = 0
        self.restarts = 0
        self._next_pct = 0

    def __call__(self, tag: str, rest: str) -> None:
        if tag == "INJECT":
            self.injected += 1
            try:
                d = json.loads(rest)
            except ValueError:
                return
            if d.get("applied"):
                self.faults.append([d.get("t_ms", 0), d.get("inject", "?")])
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
    s.add_argument("--heap", default="2M", help="MicroPython heap (the simulated EV and CSMS share it; default 2M)")
    s.add_argument("--status-s", type=float, default=10.0, metavar="S",
                   help="simulated seconds between heap samples and progress lines (default 10)")
    s.add_argument("--csms-outage-every", type=float, default=600.0, metavar="S",
                   help="the in-process CSMS goes away every S simulated seconds (0: never; default 600)")
    s.add_argument("--csms-outage-s", type=float, default=90.0, metavar="S",
                   help="... for S seconds each time (default 90)")
    s.add_argument("--out", default="soak_out", help="output directory (soak.txt, soak.json, summary.json, fs)")
    s.set_defaults(func=main)


def check_args(a) -> None:
    for opt, v in (("--hours", a.hours), ("--fault-every", a.fault_every), ("--grid-every", a.grid_every),
                   ("--status-s", a.status_s)):
        if not v > 0:
            raise UserError(f"{opt} {v:g}: must be more than 0")
    if a.csms_outage_every < 0 or a.csms_outage_s < 0:
        raise UserError("--csms-outage-every and --csms-outage-s must be 0 or more")
    if a.csms_outage_every and a.csms_outage_s >= a.csms_outage_every:
        raise UserError(f"--csms-outage-s {a.csms_outage_s:g} must be shorter than --csms-outage-every "
                        f"{a.csms_outage_every:g}: the CSMS must come back in between")
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
    if fs.exists():  # a soak starts from a fresh filesystem: the ledger counts this run's events only
        import shutil
        shutil.rmtree(fs)
    fs.mkdir(parents=True)
    (fs / "ocpp_dm.json").write_text(json.dumps(SOAK_DM))
    total_ms = int(a.hours * 3_600_000)
    args = ["--config", "v2g", "--seconds", str(a.hours * 3600), "--status-ms", str(int(a.status_s * 1000)),
            "--ev", "soak", "--ev-gap", str(a.ev_gap), "--chaos", f"{a.seed}:{a.fault_every:g}",
            "--scenarios", ",".join(GRIDS) + f":{a.grid_every:g}",
            "--csms-sim", f"{a.csms_outage_every:g}:{a.csms_outage_s:g}"]
    print(f"chaos soak: {a.hours:g} simulated h, a fault every {a.fault_every:g} s on average (seed {a.seed}), "
          f"grid change every {a.grid_every:g} s, EV sessions of {', '.join(PROTOCOLS)} back to back, CSMS outage "
          f"every {a.csms_outage_every:g} s for {a.csms_outage_s:g} s; out {out}")
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
    report = build_report(summary, progress.samples, a.hours, wall, a.leak_kb * 1024, progress.faults)
    report["command"] = "jezgro soak " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "jezgro soak"
    (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    t = text(report)
    (out / "soak.txt").write_text(t + "\n")
    print(t)
    print(f"\nReport: {out / 'soak.txt'}, {out / 'soak.json'}   summary: {out / 'summary.json'}   audit log: "
          f"jezgro logs --dir {fs}")
    return 0 if report["passed"] else 1
