"""`jezgro sim`: run boards/unix/simmain.py under MicroPython, show live status, write the summary."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import grid, mp, plot, provision
from .errors import ToolError, UserError, choices, firmware_message
from .live import LiveView
from .mp import ROOT, UNIX_BOARD

EV_PROTOCOLS = ("din", "iso2-dc", "iso2-ac", "iso20-dc-bpt", "iso20-ac-bpt", "none")
FAULT_KINDS = ("crash", "hang", "oom", "stall")


def run(args: list[str], fs_root: str, heap: str = "1M", on_line=None, timeout: float | None = None,
        env: dict | None = None, stall_s: float | None = None) -> dict:
    """Run the simulation; returns the SUMMARY dict. Raises ToolError with the firmware's own words for
    why it stopped (its exception, or its SystemExit message) when it fails. stall_s: the run is killed
    (ToolError) when it prints nothing for that many wall seconds (a long soak must end, not hang)."""
    fs_root = os.path.abspath(fs_root)  # the firmware runs in the repository (cwd=ROOT), not where we were started
    proc = mp.start([str(UNIX_BOARD / "simmain.py"), "--fs", fs_root, *args], heap=heap, fs_root=fs_root,
                    cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    stalled = _stall_guard(proc, stall_s) if stall_s else None
    summary = None
    tail: list[str] = []  # the firmware's own lines (a traceback goes to stdout on the unix port)
    assert proc.stdout is not None
    while True:
        try:
            # Ctrl-C reaches the MicroPython child too: it stops and still prints its
            # summary, so keep reading until it is done.
            line = proc.stdout.readline()
        except KeyboardInterrupt:
            continue
        if not line:
            break
        if stalled is not None:
            stalled["last"] = time.monotonic()
        tag, _, rest = line.partition(" ")
        if tag == "SUMMARY":
            summary = json.loads(rest)
            continue
        if tag not in ("STATUS", "INJECT"):
            tail = (tail + [line])[-40:]
        if on_line is not None and not (tag in ("Traceback", "File") or line.startswith(" ")):
            on_line(tag, rest)
    err = proc.stderr.read() if proc.stderr else ""
    rc = proc.wait(timeout=timeout)
    if stalled is not None:
        stalled["done"] = True
        if stalled["killed"]:
            raise ToolError(f"the simulation made no progress for {stall_s:g} s (wall) and was stopped; its last "
                            f"lines: {firmware_message(''.join(tail)) or 'none'}")
    if rc != 0 or summary is None:
        why = firmware_message("".join(tail) + err) or "no output"
        raise ToolError(f"the simulation stopped (MicroPython exit {rc}): {why}")
    summary["stderr"] = err
    return summary


def _stall_guard(proc, stall_s: float) -> dict:
    """A thread that kills proc when it has printed nothing for stall_s wall seconds."""
    import threading
    st = {"last": time.monotonic(), "done": False, "killed": False}

    def watch() -> None:
        while not st["done"] and proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - st["last"] > stall_s:
                st["killed"] = True
                proc.kill()
                return

    threading.Thread(target=watch, daemon=True).start()
    return st


def _d(x) -> dict:
    """x when it is a dict, else {}: a run that went wrong leaves fields missing or null."""
    return x if isinstance(x, dict) else {}


def _l(x) -> list:
    return x if isinstance(x, list) else []


def _slac(summary: dict) -> list[str]:
    """The control pilot's path and the SLAC match (firmware/services/slac.py); fields may be missing."""
    st = _d(summary.get("slac"))
    if not st:
        return []
    cp = " -> ".join(str(h[1]) for h in _l(st.get("cp_history")) if isinstance(h, list) and len(h) > 1)
    out = [f"Control pilot: {cp or st.get('cp')} (now {st.get('cp')}, duty {st.get('duty_permille')} permille, "
           f"{st.get('plug_serial')} plug-ins)"]
    for mt in map(_d, _l(st.get("matches"))):
        out.append(f"SLAC: plug-in {mt.get('serial')} matched EV {mt.get('ev_mac')} in {mt.get('ms')} ms "
                   f"(TT_EVSE_SLAC_init 50 s) at {mt.get('atten_db')} dB")
    if not st.get("matches"):
        slac = _d(st.get("slac"))
        out.append(f"SLAC: no match ({st.get('plc_error') or slac.get('state') or 'pilot only: no slac.json'})")
    plc = _d(st.get("plc"))
    if plc.get("fallback"):
        out.append(f"SLAC link: in-process instead of {plc.get('iface')} ({plc['fallback']})")
    ev = _d(_d(summary.get("ev")).get("slac"))
    if ev:
        out.append(f"EV SLAC: {ev.get('state')} in {ev.get('match_ms')} ms, {ev.get('attempts')} attempt(s), "
                   f"counters {ev.get('counts')}")
    return out


def _sessions(summary: dict) -> list[str]:
    """ISO 15118 sessions of the SECC (and the simulated EV's view), with the charge-loop response
    time against the 25 ms budget. Every field may be missing or null (an EV that never got a
    session has "ev": null)."""
    iso = _d(summary.get("iso15118"))
    out = _slac(summary)
    for h in map(_d, _l(iso.get("history"))):
        loop = [x for x in _l(h.get("loop_us")) if isinstance(x, (int, float))]
        resp = (f", charge-loop response mean {sum(loop) / len(loop) / 1000:.2f} ms max {max(loop) / 1000:.2f} ms"
                f" (budget 25 ms)" if loop else "")
        detail = f" ({h['detail']})" if h.get("detail") else ""
        out.append(f"ISO 15118 session {h.get('serial', '?')}: {h.get('protocol_name') or h.get('protocol')}, "
                   f"{h.get('messages', len(_l(h.get('requests'))))} messages, {h.get('energy_wh', 0)} Wh, "
                   f"{h.get('end')}{detail}{resp}")
    if iso.get("resumed"):
        out.append(f"ISO 15118 sessions resumed after a service restart: {iso['resumed']}")
    link = _d(iso.get("link"))
    dropped = {k: v for k, v in link.items() if k in LINK_DROPS and v}
    if dropped:
        out.append("ISO 15118 connections dropped by the SECC's limits: "
                   + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())))
    ev = _d(_d(summary.get("ev")).get("result"))
    if ev:
        e = _d(ev.get("ev"))
        if e:
            out.append(f"EV simulator: {e.get('energy_service')} session ended {ev.get('end')}, "
                       f"SoC {e.get('soc')} % (target {e.get('target_soc')} %), {e.get('energy_wh')} Wh, "
                       f"{e.get('loops')} charge loops")
        else:
            out.append(f"EV simulator: no session, ended {ev.get('end')}"
                       + (f" ({ev['detail']})" if ev.get("detail") else ""))
    elif summary.get("ev") is not None and not iso.get("history"):
        out.append("ISO 15118: no session (no EV connected in this run)")
    return out


def _faults(summary: dict) -> list[str]:
    """One line per service that faulted: out-of-memory with what it was doing and the heap then (the
    kernel's out_of_memory), else the fault's last line."""
    out = []
    for s in map(_d, _l(summary.get("services"))[1:]):
        oom = _d(s.get("oom"))
        if oom:
            h = _d(oom.get("heap"))
            out.append(f"OUT OF MEMORY: {s.get('name', '?')} while {oom.get('doing', '?')} at "
                       f"{oom.get('t_ms', '?')} ms ({oom.get('at') or '?'}), {oom.get('count', 1)} time(s); heap "
                       f"then: {h.get('used', '?')} B used, {h.get('free', '?')} B free, largest free block "
                       f"{h.get('largest_free', '?')} B")
        elif s.get("fault_text"):
            out.append(f"Fault: {s.get('name', '?')} ({s.get('last_fault', '?')}): {s['fault_text']}")
    return out


# the gate's counters (firmware/iso15118/transport/gate.py) worth a line when not zero
LINK_DROPS = ("refused", "evicted", "no_first_byte", "no_sap", "slow", "bad", "closed", "superseded")


def _can(summary: dict) -> list[str]:
    """CAN_HANDLER: frames sent, station commands, expiry (communication loss), bus errors."""
    c = _d(summary.get("can"))
    if not c:
        return []
    tx = _d(c.get("tx"))
    cmd = _d(c.get("cmd"))
    out = [f"CAN: {tx.get('GW_STATUS', '?')} GW_STATUS, {tx.get('GW_PLL', '?')} GW_PLL, {tx.get('GW_POWER', '?')} "
           f"GW_POWER, {tx.get('GW_V2G', '?')} GW_V2G, {tx.get('GW_FAULT', '?')} GW_FAULT sent; 10 Hz slots "
           f"{c.get('slots', '?')} ({c.get('slots_missed', '?')} missed, latest {c.get('slot_late_max_ms', '?')} ms "
           f"late); bus-off {c.get('bus_off', '?')}, error-passive {c.get('error_passive', '?')}",
           f"CAN station commands: {cmd.get('accepted', '?')} accepted, dropped: {cmd.get('bad_length', '?')} length, "
           f"{cmd.get('bad_crc', '?')} CRC, {cmd.get('stale', '?')} stale, {cmd.get('bad_counter', '?')} counter, "
           f"{cmd.get('bad_value', '?')} value, {c.get('rx_malformed', '?')} malformed; expired "
           f"{cmd.get('expired', '?')} time(s)" + (f", last at {c.get('last_expiry_ms', '?')} ms (local control)"
                                                  if cmd.get("expired") else "")]
    return out


def _bridge(summary: dict) -> list[str]:
    """The protocol bridge per charger: link, what TRANSLATOR translated/rejected/queued, the charger's view."""
    b = _d(summary.get("bridge"))
    if not b:
        return []
    out = []
    sims = _d(summary.get("chargers16"))
    for cid, c in sorted(_d(b.get("chargers")).items()):
        c = _d(c)
        link = _d(c.get("link"))
        ls = _d(link.get("stats"))
        if "map" in link:  # a Modbus wallbox
            t = _d(c.get("translator"))
            errs = ", ".join(f"{k} {v}" for k, v in _d(link.get("errors")).items() if v) or "none"
            out.append(f"Wallbox {cid} ({link.get('map')}): {'connected' if link.get('connected') else 'not connected'}"
                       f", state {link.get('state')}, {link.get('energy_wh')} Wh, limit {link.get('limit_a')} A; "
                       f"{ls.get('polls', '?')} polls, {ls.get('writes', '?')} writes, Modbus errors: {errs}; "
                       f"translated {t.get('translated', '?')}, queued offline {t.get('queued', '?')}"
                       + (f" (last error: {link['last_error']})" if link.get("last_error") else ""))
            continue
        t = _d(c.get("translator"))
        sim = _d(sims.get(cid))
        out.append(f"Charger {cid}: {'connected' if link.get('connected') else 'not connected'} "
                   f"({ls.get('connects', '?')} connects, {ls.get('auth_failures', '?')} auth failures), "
                   f"{t.get('calls', '?')} CALLs: translated {t.get('translated', '?')}, rejected "
                   f"{t.get('rejected', '?')}, queued offline {t.get('queued', '?')}, values dropped "
                   f"{t.get('values_dropped', '?')}, replayed {t.get('replayed', '?')}"
                   + (f"; charger side: {sim.get('transactions', '?')} transactions, {sim.get('errors', '?')} "
                      f"CALLERRORs" if sim else "")
                   + (f" (scenario: {sim['scenario_error']})" if sim.get("scenario_error") else ""))
    up = _d(b.get("upstream"))
    if up:
        q = _d(up.get("txq"))
        out.append(f"Upstream OCPP 2.0.1 station: registered {up.get('registered', '?')}, queue {q.get('queued', '?')} "
                   f"(dropped {q.get('dropped', '?')}), last error {up.get('last_error') or '-'}")
    h = _d(b.get("handoff"))
    if h:
        refused = ", ".join(f"{k} {v}" for k, v in _d(h.get("refused")).items() if v) or "none"
        out.append(f"Hand-off queues: inbox {h.get('inbox', '?')} ({h.get('inbox_bytes', '?')} B), up "
                   f"{h.get('up', '?')} ({h.get('up_bytes', '?')} B); refused when full (kept, not dropped): {refused}")
    return out


def _storage(summary: dict) -> list[str]:
    """One line per file a service found damaged or could not write (firmware jezgro/persist.py)."""
    files = _d(_d(summary.get("storage")).get("files"))
    out = []
    for name, c in sorted(files.items()):
        c = _d(c)
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items() if k != "last")
        out.append(f"Storage: {name}: {counts} (last: {c.get('last', '')})")
    for s in map(_d, _l(summary.get("services"))[1:]):
        link = _d(_d(s.get("status")).get("link"))
        if s.get("name") == "OCPP_CLIENT" and link:
            out.append(_ocpp_line(link, _d(_d(s.get("status")).get("stats"))))
            fb = _d(_d(s.get("status")).get("offline_fallback"))
            if fb.get("engaged"):
                out.append(f"OCPP offline fallback ({fb.get('limit_w')} W import / {fb.get('export_w')} W export "
                           f"after {fb.get('after_s')} s without the CSMS): engaged {fb['engaged']} time(s), "
                           + ("in force at the end" if fb.get("active") else "lifted by the CSMS's return"))
        elif s.get("link_error"):
            out.append(f"Link: {s.get('name', '?')}: {s['link_error']}")
        if s.get("config_error"):
            out.append(f"Config: {s.get('name', '?')}: {s['config_error']} ({s.get('config_errors', '?')} failed load(s))")
    return out


def _ocpp_line(link: dict, stats: dict) -> str:
    tls = _d(link.get("tls"))
    where = f"{link.get('url')} as {link.get('station_id')} (security profile {link.get('security_profile')})"
    if link.get("state") == "connected":
        return f"OCPP: connected to {where}" + (f", {tls.get('version')} {tls.get('cipher')}, verified "
                                                f"{tls.get('verified_peer')}" if tls else "")
    return (f"OCPP: NOT CONNECTED to {where} after {stats.get('connect_failures', '?')} attempt(s): "
            f"{link.get('last_error') or 'no answer yet'}")


def human(summary: dict) -> str:
    """The summary as text. Never raises on a summary of a run that went wrong: missing or null fields
    show as '?'."""
    c = _d(summary.get("critical"))
    i = _d(summary.get("ipc"))
    sim_ms = summary.get("sim_ms")
    sim_s = f"{sim_ms / 1000:.1f}" if isinstance(sim_ms, (int, float)) else "?"
    out = [f"JEZGRO-GW simulation summary ({summary.get('config', '?')}, {summary.get('mode', '?')} time, "
           f"{sim_s} s simulated, {summary.get('boots', '?')} boot(s))",
           f"{'service':<13} {'state':<8} {'starts':>6} {'restarts':>8} {'last fault':<10} "
           f"{'restart latency max/mean µs':>27}"]
    for s in map(_d, _l(summary.get("services"))[1:]):
        lat = _d(s.get("restart_latency_us"))
        lat_s = f"{lat.get('max')}/{lat.get('mean')}" if lat.get("count") else "-"
        out.append(f"{s.get('name', '?')!s:<13} {s.get('state', '?')!s:<8} {s.get('starts', '?')!s:>6} "
                   f"{s.get('restarts', '?')!s:>8} {s.get('last_fault', '?')!s:<10} {lat_s:>27}")
    host = f" ({c['ticks_missed_off_cpu']} of them while the process was off the CPU)" if c.get("ticks_missed_off_cpu") else ""
    out.append(f"CRITICAL ticks: {c.get('ticks_run', '?')} run, {c.get('ticks_missed', '?')} missed{host}, "
               f"{c.get('overruns', '?')} overruns, max jitter {c.get('max_jitter_us', '?')} µs, "
               f"tick cost max {c.get('max_cost_us', '?')} µs")
    out.append(f"IPC pool: high-water {i.get('high_water', '?')}/{i.get('slots', '?')} slots, "
               f"sent {i.get('sent', '?')}, exhausted {i.get('pool_exhausted', '?')}, "
               f"stale rejected {i.get('stale_rejected', '?')}")
    out.extend(_faults(summary))
    ev_note = " (the simulated EV's EVCC and grammars included: not on the board)" if summary.get("ev") else ""
    out.append(f"Heap peak (live, sampled): {_d(summary.get('heap')).get('peak_bytes', '?')} bytes{ev_note}")
    out.extend(_sessions(summary))
    out.extend(_can(summary))
    out.extend(_bridge(summary))
    out.extend(_storage(summary))
    if summary.get("reboots"):
        out.append(f"Reboots: {summary['reboots']}")
    r = _d(summary.get("reset"))
    if r.get("cause"):
        out.append(f"Last reset cause: {r.get('cause')} {r.get('service') or ''} {r.get('reason') or ''}".rstrip())
    return "\n".join(out)


def service_names(config: str) -> list[str]:
    """The service names of a configuration table (firmware/config/NAME.py), read without running it."""
    import ast
    tree = ast.parse((mp.FIRMWARE / "config" / f"{config}.py").read_text())
    return [n.args[1].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "S" and len(n.args) > 1
            and isinstance(n.args[1], ast.Constant)]


def check_args(a) -> None:
    """Everything the user gave that the host can check before MicroPython starts: one UserError each."""
    if a.seconds <= 0:
        raise UserError(f"--seconds {a.seconds:g}: must be more than 0")
    import re
    if not re.fullmatch(r"\d+[KkMm]?", a.heap):
        raise UserError(f"--heap {a.heap!r}: want a size like 1M or 512K")
    if a.scenario and a.scenario != "none" and a.scenario not in grid.names():
        raise choices("scenario", a.scenario, [*grid.names(), "none"])
    if a.ev is not None and a.ev not in EV_PROTOCOLS:
        raise choices("EV protocol", a.ev, EV_PROTOCOLS)
    for opt, val in (("--ev-at", a.ev_at), ("--ev-loops", a.ev_loops)):
        if val is not None:
            try:
                ok = float(val) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise UserError(f"{opt} {val!r}: want a number >= 0")
    names = [*service_names(a.config), "EV_SIM"]
    for spec in a.inject:
        who, _, rest = spec.partition(":")
        kind, _, at = rest.partition("@")
        try:
            float(at.rstrip("s"))
        except ValueError:
            raise UserError(f"--inject {spec!r}: want SERVICE:KIND@SECONDS, e.g. iso15118:crash@5s") from None
        if kind not in FAULT_KINDS:
            raise choices("fault kind", kind, FAULT_KINDS)
        if who.upper() not in names:
            raise choices(f"service in the {a.config} configuration:", who, names)
    if a.station and not Path(a.station).is_file():
        raise UserError(f"--station {a.station}: no such file")
    for opt in ("ca", "cert", "key"):
        v = getattr(a, opt)
        if v is not None and not Path(v).is_file():
            raise UserError(f"--{opt} {v}: no such file")
    if a.csms:
        check_csms(a.csms)


def check_csms(url: str) -> None:
    """A CSMS URL the firmware can use (ws:// or wss://, a host) and a host that accepts a TCP connection:
    without this a run with a typo in the URL ran to its end with OCPP silently offline."""
    import socket
    from urllib.parse import urlsplit
    u = urlsplit(url)
    if u.scheme not in ("ws", "wss") or not u.hostname:
        raise UserError(f"--csms {url!r}: want ws://HOST[:PORT]/PATH or wss://... (security profile 2/3)")
    try:
        port = u.port or (443 if u.scheme == "wss" else 80)
    except ValueError:
        raise UserError(f"--csms {url!r}: the port is not a number") from None
    try:
        socket.create_connection((u.hostname, port), timeout=3).close()
    except OSError as e:
        raise ToolError(f"cannot reach the CSMS at {u.hostname}:{port} ({e.strerror or e}); start it, "
                        f"or run with --no-csms") from None


def csms_clock(a, args: list[str]) -> None:
    # a real CSMS needs real time: wall-clock, unless --paced (virtual time never ahead of the wall clock)
    if not a.paced and "--wall" not in args:
        args.append("--wall")


def ocpp_section(a, url: str) -> dict:
    """The `ocpp` provisioning section of jezgro sim's --csms/--station-id/--security-profile/... options.
    Without --security-profile: wss:// is 3 with a client certificate, else 2; ws:// is 1 with a password,
    else 0."""
    if a.security_profile is not None:
        prof = int(a.security_profile)
    elif url.startswith("wss://"):
        prof = 3 if a.cert else 2
    else:
        prof = 1 if a.password else 0
    d: dict = {"url": url, "station_id": a.station_id, "security_profile": prof}
    for k in ("password", "ca", "cert", "key"):
        if getattr(a, k) is not None:
            d[k] = getattr(a, k)
    return d


def add_parser(sub) -> None:
    s = sub.add_parser("sim", help="run the gateway simulation on the unix port")
    s.add_argument("--config", default="v2g", choices=["v2g", "bridge"])
    s.add_argument("--seconds", type=float, default=10.0, help="simulated seconds (default 10)")
    s.add_argument("--wall", action="store_true", help="wall-clock time instead of virtual time")
    s.add_argument("--inject", action="append", default=[], metavar="SERVICE:KIND@T",
                   help="fault injection, KIND one of crash|hang|oom|stall, T in seconds (e.g. iso15118:crash@5s)")
    s.add_argument("--out", default="sim_out", help="output directory (summary.json, timeline, filesystem)")
    s.add_argument("--heap", default="1536K",
                   help="MicroPython heap size (unix objects are ~1.5-2x the board's; the simulated EV, its EVCC and "
                        "its SLAC share it: 1 MB fragmented with SLAC on)")
    s.add_argument("--quiet", action="store_true", help="no live view")
    s.add_argument("--status-ms", type=int, default=250, metavar="MS",
                   help="live view and timeline resolution, simulated ms (default 250)")
    s.add_argument("--plot", dest="plot", action="store_true", default=None,
                   help="write OUT/timeline.png (the default when matplotlib is installed)")
    s.add_argument("--no-plot", dest="plot", action="store_false", help="no timeline picture")
    s.add_argument("--scenario", default=None, help="grid scenario (boards/unix/scenarios/NAME.json) or none")
    s.add_argument("--ev", default=None, metavar="PROTOCOL",
                   help="the simulated EV (our EVCC) against the SECC over loopback: din, iso2-dc, iso2-ac, "
                        "iso20-dc-bpt, iso20-ac-bpt, or none (default iso2-ac)")
    s.add_argument("--ev-at", default=None, metavar="S", help="plug-in time of the simulated EV, s (default 1)")
    s.add_argument("--ev-loops", default=None, metavar="N", help="its charge-loop requests (default 30)")
    s.add_argument("--pcap", default=None, metavar="NAME",
                   help="the SECC captures SDP and its sessions to OUT/fs/NAME (pcapng, for Wireshark)")
    s.add_argument("--csms", default=None, metavar="URL",
                   help="OCPP_CLIENT connects to this CSMS (default: a local `jezgro csms` started for the run)")
    s.add_argument("--no-csms", action="store_true",
                   help="no CSMS: OCPP_CLIENT stays offline and the run can use virtual time")
    s.add_argument("--station-id", default="JEZGRO-SIM")
    s.add_argument("--security-profile", default=None, choices=["0", "1", "2", "3"])
    s.add_argument("--password", default=None, help="Basic auth password (profiles 1 and 2)")
    s.add_argument("--ca", default=None, help="CA certificate for the CSMS's TLS certificate (profiles 2, 3)")
    s.add_argument("--cert", default=None, help="client certificate (profile 3)")
    s.add_argument("--key", default=None, help="client key (profile 3)")
    s.add_argument("--no-slac", action="store_true",
                   help="no SLAC: the SECC listens at once (plain Ethernet link); the pilot still runs")
    s.add_argument("--paced", action="store_true",
                   help="virtual time, never ahead of the wall clock: real rates for `jezgro can` peers and a CSMS")
    s.add_argument("--station", default=None, metavar="SCRIPT",
                   help="a scripted station controller on the CAN bus (JSON steps: docs/can.md)")
    s.add_argument("--can-port", type=int, default=None, metavar="PORT",
                   help="the CAN bus's udp_multicast port (default 43113; `jezgro can monitor --port`)")
    s.set_defaults(func=main)


def _want_plot(flag: bool | None) -> bool:
    if flag is False:
        return False
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if flag:
            raise UserError("--plot needs matplotlib (make .venv/.installed installs it)") from None
        return False
    return True


def main(a) -> int:
    check_args(a)
    want_plot = _want_plot(a.plot)
    out = Path(a.out).resolve()
    fs = out / "fs"
    fs.mkdir(parents=True, exist_ok=True)
    args = ["--config", a.config, "--seconds", str(a.seconds), "--status-ms", str(max(10, a.status_ms))]
    if a.wall:
        args.append("--wall")
    if a.paced:
        args.append("--paced")
    if a.no_slac:
        args.append("--no-slac")
    for inj in a.inject:
        args += ["--inject", inj]
    if a.scenario:
        args += ["--scenario", a.scenario]
    for opt, val in (("--ev", a.ev), ("--ev-at", a.ev_at), ("--ev-loops", a.ev_loops), ("--pcap", a.pcap)):
        if val is not None:
            args += [opt, str(val)]
    if a.station:
        args += ["--station", str(Path(a.station).resolve())]
    local_csms = None
    fs_target = provision.LocalFs(fs)
    marker = fs_target.read(provision.MARKER)
    if a.csms is None and not a.no_csms and marker is not None and b'"ocpp"' in marker:
        # `jezgro provision FILE --sim OUT` set this gateway up: its OCPP configuration is used as it is
        print(f"provisioned CSMS {json.loads(marker).get('ocpp_url')} (jezgro provision); "
              f"real sockets: wall-clock time")
        csms_clock(a, args)
    elif a.csms is not None or not a.no_csms:
        csms_url = a.csms
        if csms_url is None:
            # The default: OCPP_CLIENT talks to a local CSMS on the `ocpp` package, logged as JSON Lines.
            from .csms import Csms
            local_csms = Csms(log_path=out / "csms.jsonl").start()
            csms_url = local_csms.url
            print(f"local CSMS {csms_url} (log {out / 'csms.jsonl'}); real sockets: wall-clock time")
        try:
            # the same code as `jezgro provision`: host paths of --ca/--cert/--key are copied in
            provision.apply({"ocpp": ocpp_section(a, csms_url)}, fs_target, Path.cwd(), "jezgro sim", marker=False)
        except BaseException:
            if local_csms is not None:
                local_csms.stop()
            raise
        csms_clock(a, args)
    fleet = None
    if a.config == "bridge":
        # the bridge's downstream: simulated OCPP 1.6J chargers (the `ocpp` package) at the gateway's
        # Central System, driven through sessions while the simulation runs (real sockets: wall-clock time)
        import threading
        from .bridge_run import SIM_CHARGERS, provision as provision_bridge
        from .chargers16 import Fleet, drive
        from . import wallbox_sim
        wallbox = wallbox_sim.SimWallbox("alfen_ng9xx.json").start()  # and a Modbus TCP wallbox (pymodbus)
        bcfg = provision_bridge(fs, SIM_CHARGERS + [{"id": "WB-1", "phases": 3, "voltage": 230, "modbus": {
            "host": "127.0.0.1", "port": wallbox.port, "map": "alfen_ng9xx.json", "poll_ms": 500, "meter_s": 2}}])
        fleet = Fleet(f"ws://127.0.0.1:{bcfg['port']}", [c for c in bcfg["chargers"] if "modbus" not in c],
                      out / "chargers16.jsonl").start()
        fleet_stop = threading.Event()
        drive(fleet, fleet_stop)
        wallbox_sim.drive(wallbox, fleet_stop)
        if "--wall" not in args:
            args.append("--wall")
        print(f"simulated OCPP 1.6J chargers {', '.join(fleet.cfg)} -> ws://127.0.0.1:{bcfg['port']} (log "
              f"{out / 'chargers16.jsonl'}); Modbus TCP wallbox WB-1 (pymodbus, Alfen NG9xx map) on port {wallbox.port}")
    # --quiet: no live output, but the events and the timeline are still recorded
    view = LiveView(open(os.devnull, "w") if a.quiet else sys.stdout, tty=False if a.quiet else None)
    env = None
    if a.can_port is not None:
        env = dict(os.environ, JEZGRO_CAN_PORT=str(a.can_port))
    try:
        summary = run(args, str(fs), a.heap, view, env=env)
    finally:
        view.close()
        if a.quiet:
            view.stream.close()
        if fleet is not None:
            fleet_stop.set()
            fleet.stop()
            wallbox.stop()
        if local_csms is not None:
            local_csms.stop()
    if fleet is not None:
        summary["chargers16"] = fleet.summary()
    summary.pop("stderr", None)
    summary["events"] = view.events
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with open(out / "timeline.jsonl", "w") as f:
        for rec in view.timeline:
            f.write(json.dumps(rec) + "\n")
    print()
    print(human(summary))
    extra = ""
    if want_plot and view.timeline:
        png = plot.write(view.timeline, view.events, out / "timeline.png",
                         f"jezgro sim --config {a.config}: {summary.get('sim_ms', 0) / 1000:.1f} s "
                         f"({summary.get('mode', '?')} time)")
        extra = f"   picture: {png}"
    print(f"\nSummary JSON: {out / 'summary.json'}   timeline: {out / 'timeline.jsonl'}{extra}"
          f"   audit log: jezgro logs --dir {fs}")
    return 0
