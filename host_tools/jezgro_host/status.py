"""`jezgro status --sim OUT`: what a running gateway is doing — each service's state, configuration and
upstream link (OCPP: connecting / connected / backing off with the next attempt, TLS cipher and the verified
peer, the last error; ISO15118: interface, offers, the session now) — as a table or --json.

A simulation writes OUT/fs/status.json once per wall second while it runs (boards/unix/simmain.py); a status
older than STALE_S means the simulation is not running any more: the last state is still shown, marked so.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .errors import ToolError

STALE_S = 5.0


def read(out: str | Path) -> dict:
    p = Path(out) / "fs" / "status.json"
    if not p.is_file():
        raise ToolError(f"no status in {p.parent} (is `jezgro sim --out {out}` running?)")
    try:
        return json.loads(p.read_text())
    except ValueError:  # written atomically, so this is damage, not a half-written file
        raise ToolError(f"{p}: not JSON") from None


def _fallback(fb: dict | None) -> str:
    """The offline fallback limit in force (firmware ocpp/fallback.py), or ''."""
    if not isinstance(fb, dict) or not fb.get("active"):
        return ""
    return (f"; OFFLINE FALLBACK {fb.get('limit_w')} W import / {fb.get('export_w')} W export for "
            f"{(fb.get('active_for_ms') or 0) / 1000:.0f} s (CSMS away more than {fb.get('after_s')} s)")


def _link(name: str, link: dict | None) -> str:
    if not link:
        return ""
    if name == "OCPP_CLIENT":
        s = f"{link.get('state')} {link.get('url')} as {link.get('station_id')} (profile {link.get('security_profile')})"
        if link.get("retry_in_ms") is not None:
            s += f", next attempt in {link['retry_in_ms'] / 1000:.1f} s"
        tls = link.get("tls")
        if tls:
            s += f", {tls.get('version')} {tls.get('cipher')} verified {tls.get('verified_peer')}"
        if link.get("last_error"):
            s += f"; last error: {link['last_error']}"
        s += _fallback(link.get("fallback"))
        return s
    if name == "ISO15118":
        s = f"listening on {link.get('iface')}, {link.get('sessions')} session(s)"
        if link.get("live"):
            s += f", now {link['live']}"
        elif link.get("last_end"):
            s += f", last ended {link['last_end']}"
        if link.get("last_cipher"):
            s += f" (TLS {link['last_cipher'][0]})"
        return s
    return json.dumps(link)


def human(st: dict, now: float | None = None) -> str:
    age = (now or time.time()) - st.get("wall_s", 0)
    head = f"gateway {st.get('gateway') or '-'} at t={st.get('t_ms', 0) / 1000:.1f} s"
    head += f" (NOT RUNNING: last status {age:.0f} s ago)" if age > STALE_S else " (running)"
    out = [head, f"{'service':<13} {'state':<8} {'restarts':>8}  configuration / link"]
    for s in st.get("services", []):
        conf = f"CONFIG ERROR: {s['config_error']}" if s.get("config_error") else ""
        link = _link(s.get("name", ""), s.get("link"))
        if s.get("link_error") and not (s.get("link") or {}).get("last_error"):
            link += f" LINK ERROR: {s['link_error']}"
        oom = s.get("oom") or {}
        mem = (f"OUT OF MEMORY while {oom.get('doing', '?')} ({(oom.get('heap') or {}).get('free', '?')} B free, "
               f"largest block {(oom.get('heap') or {}).get('largest_free', '?')} B)") if oom else ""
        detail = "; ".join(x for x in (mem, conf, link) if x) or ("-" if s.get("state") == "absent" else "ok")
        out.append(f"{s.get('name', '?'):<13} {s.get('state', '?'):<8} {s.get('restarts', 0):>8}  {detail}")
    return "\n".join(out)


def add_parser(sub) -> None:
    s = sub.add_parser("status", help="the live state of a running simulation (services, configuration, links)")
    s.add_argument("--sim", metavar="OUT", default="sim_out", help="the simulation's --out directory (default sim_out)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=main)


def main(a) -> int:
    st = read(a.sim)
    if a.json:
        st["running"] = time.time() - st.get("wall_s", 0) <= STALE_S
        print(json.dumps(st, indent=1))
    else:
        print(human(st))
    return 0
