"""The live view of a long run (`jezgro sim`): what a user follows while the gateway runs.

The simulation prints a STATUS line (JSON) every --status-ms and INJECT lines; this module turns them into
- on a terminal: one screen redrawn in place (rich's Live: it clips to the terminal's width and height,
  follows resizes, hides the cursor and restores the terminal on Ctrl-C, which hand-written escape codes
  had to do by hand and did not), with the gateway state, grid f/V/lock, P/Q with the setpoint and the
  limit in force and their sources, the session's phase, OCPP, only the services that are not in their
  normal state, and the latest events;
- elsewhere (CI, pipes, `make sim | cat`): one plain line per event, nothing else.
Events are what changed between two STATUS lines (events()) plus the lines the firmware prints itself
(a finished ISO 15118 session). Every STATUS is also kept (`timeline`) for the run's plot (plot.py).
"""
from __future__ import annotations

import json
import math
import sys
from typing import Any, TextIO

from . import mp

_ST = mp.firmware_constants("jezgro/const.py", "ST_NAMES", "ST_HELD")
STATE_NAMES = list(_ST["ST_NAMES"])
HELD = _ST["ST_HELD"]
NORMAL = ("absent", "ready", "waiting")  # service states the view does not mention (waiting: for its next wake-up)
MAX_EVENTS = 8  # on the screen; all of them go to the summary's event list


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _state(n: int) -> str:
    name = STATE_NAMES[n] if 0 <= n < len(STATE_NAMES) else str(n)
    return name.upper() if n == HELD else name


def events(prev: dict | None, cur: dict) -> list[str]:
    """What changed between two STATUS records, as event texts (without the time)."""
    out: list[str] = []
    p = prev or {}
    if cur.get("gateway") and cur.get("gateway") != p.get("gateway"):
        out.append(f"gateway {p.get('gateway') or '-'} -> {cur['gateway']}")
    g, pg = _d(cur.get("grid")), _d(p.get("grid"))
    if g and bool(g.get("locked")) != bool(pg.get("locked")) and (pg or g.get("locked")):
        out.append(f"grid {'locked' if g.get('locked') else 'LOST LOCK'} at {g.get('f_mhz', 0) / 1000:.3f} Hz")
    before = {n: (st, r) for n, st, r in p.get("services", [])}
    for name, st, restarts in cur.get("services", []):
        ost, orr = before.get(name, (None, 0))
        if restarts > orr:
            out.append(f"{name} restarted ({restarts} restart{'s' if restarts > 1 else ''})")
        if ost is not None and st != ost and (st == HELD or ost == HELD or STATE_NAMES[st] not in NORMAL):
            out.append(f"{name} {_state(ost)} -> {_state(st)}")
    s, ps = _d(cur.get("power")).get("iso_state"), _d(p.get("power")).get("iso_state")
    if s != ps and s is not None:
        if s != "Idle" and ps in (None, "Idle"):
            out.append(f"EV session started ({s})")
        elif s == "Idle" and ps not in (None, "Idle"):
            out.append(f"EV session ended (was in {ps})")
    o, po = _d(cur.get("ocpp")), _d(p.get("ocpp"))
    if o and bool(o.get("connected")) != bool(po.get("connected")) and (po or o.get("connected")):
        out.append("OCPP connected to the CSMS" if o.get("connected") else "OCPP DISCONNECTED from the CSMS")
    err, perr = _d(o.get("link")).get("last_error"), _d(po.get("link")).get("last_error")
    if err and err != perr and not o.get("connected"):
        out.append(f"OCPP: {err}")
    return out


def _w(v: Any) -> str:
    return f"{v:.0f} W" if isinstance(v, (int, float)) else "-"


def screen(cur: dict, recent: list[str]) -> list[str]:
    """The terminal screen for one STATUS record."""
    g, lim, pw, o = _d(cur.get("grid")), _d(cur.get("limits")), _d(cur.get("power")), cur.get("ocpp")
    lines = [f"JEZGRO-GW  t={cur.get('t_ms', 0) / 1000:8.3f} s   gateway {cur.get('gateway') or '-'}   "
             f"CRITICAL ticks {cur.get('ticks', '?')}"]
    if g:
        lines.append(f"grid     {g.get('f_mhz', 0) / 1000:7.3f} Hz   {g.get('v_peak', 0) / math.sqrt(2):6.1f} V rms   "
                     f"{'locked' if g.get('locked') else 'NOT LOCKED'}")
    q = pw.get("meas_q_var")
    lines.append(f"power    P {_w(pw.get('meas_p_w'))} measured, {_w(lim.get('p_set_w'))} set"
                 + (f" by {lim['set_src']}" if lim.get("set_src") else "")
                 + (f"   Q {q:.0f} var" if isinstance(q, (int, float)) else ""))
    caps = []
    if lim.get("import_src"):
        caps.append(f"import <= {_w(lim.get('import_w'))} ({lim['import_src']})")
    if lim.get("export_src"):
        caps.append(f"export <= {_w(lim.get('export_w'))} ({lim['export_src']})")
    lines.append("limits   " + ("; ".join(caps) if caps else "none"))
    if pw.get("iso_state") is not None:
        lines.append(f"session  {pw['iso_state']}" + (f"   EV power {_w(pw.get('iso_p_w'))}"
                                                       if pw.get("iso_state") != "Idle" else ""))
    if o is not None:
        link = _d(_d(o).get("link"))
        tls = _d(link.get("tls"))
        text = link.get("state") or ("connected" if _d(o).get("connected") else "not connected")
        if link.get("url"):
            text += f" {link['url']}"
        if tls:
            text += f" ({tls.get('version')}, verified {tls.get('verified_peer')})"
        if link.get("state") == "backoff" and link.get("retry_in_ms") is not None:
            text += f", next attempt in {link['retry_in_ms'] / 1000:.0f} s"
        if link.get("state") != "connected" and link.get("last_error"):
            text += f"; {link['last_error']}"
        lines.append(f"OCPP     {text}")
    odd = [f"{n} {_state(st)}" + (f" ({r} restarts)" if r else "") for n, st, r in cur.get("services", [])
           if STATE_NAMES[st] not in NORMAL or r]
    lines.append("services " + (", ".join(odd) if odd else "all running"))
    lines.append("events")
    lines.extend("  " + e for e in recent[-MAX_EVENTS:])
    return lines


class LiveView:
    """on_line callback of sim.run(): draws the screen (terminal) or prints the events (otherwise)."""

    def __init__(self, stream: TextIO = sys.stdout, tty: bool | None = None):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.timeline: list[dict] = []
        self.events: list[dict] = []  # {"t_ms", "text"}
        self.prev: dict | None = None
        self.live: Any = None
        if self.tty:
            from rich.console import Console
            from rich.live import Live
            self.live = Live(console=Console(file=stream), auto_refresh=False, transient=False,
                             vertical_overflow="visible")
            self.live.start()

    def _event(self, t_ms: int, text: str) -> None:
        self.events.append({"t_ms": t_ms, "text": text})
        if not self.tty:
            self.stream.write(f"t={t_ms / 1000:8.3f}s  {text}\n")
            self.stream.flush()

    def __call__(self, tag: str, rest: str) -> None:
        t = self.prev.get("t_ms", 0) if self.prev else 0
        if tag == "STATUS":
            cur = json.loads(rest)
            self.timeline.append(cur)
            for e in events(self.prev, cur):
                self._event(cur.get("t_ms", 0), e)
            self.prev = cur
            self._draw()
        elif tag == "INJECT":
            d = json.loads(rest)
            self._event(d["t_ms"], f"fault injected: {d['inject']}"
                        + ("" if d["applied"] else " (service not running: ignored)"))
            self._draw()
        else:  # a line the firmware printed itself (a finished ISO 15118 session)
            self._event(t, (tag + " " + rest).strip())
            self._draw()

    def _draw(self) -> None:
        if self.live is None or self.prev is None:
            return
        from rich.text import Text
        recent = [f"t={e['t_ms'] / 1000:7.3f}s  {e['text']}" for e in self.events]
        self.live.update(Text("\n".join(screen(self.prev, recent)), no_wrap=True, overflow="ellipsis"),
                         refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
