"""What a user sees while `jezgro sim` runs (issue 18): the live view redrawn in place on a terminal (read
back through a pseudo-terminal and a VT100 emulator, pyte), plain event lines through a pipe, the
timeline picture, and the events derived from the STATUS records."""
from __future__ import annotations

import json
import os
import re
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from jezgro_host import live

JEZGRO = str(Path(sys.executable).parent / "jezgro")
HEADER = "JEZGRO-GW  t="


def _run_in_pty(argv: list[str], cols: int = 140, rows: int = 60, timeout: float = 240) -> tuple[str, int]:
    """Run argv on a pseudo-terminal of cols x rows; returns everything it wrote and its exit code."""
    import fcntl
    import struct
    import termios
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of the given size, then the command
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.environ["TERM"] = "xterm-256color"
        os.environ["COLUMNS"], os.environ["LINES"] = str(cols), str(rows)
        os.execv(argv[0], argv)
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def test_live_view_redraws_one_screen_on_a_terminal(tmp_path):
    import pyte
    raw, rc = _run_in_pty([JEZGRO, "sim", "--seconds", "6", "--no-csms", "--no-plot", "--out", str(tmp_path / "o")])
    assert rc == 0, raw[-3000:]
    screen = pyte.HistoryScreen(140, 60, history=2000)
    pyte.ByteStream(screen).feed(raw.encode())
    lines = [("".join(c.data for c in row.values())).rstrip() for row in screen.history.top] + \
        [ln.rstrip() for ln in screen.display]
    # drawn in place: one header on the whole terminal (history included), not one per update
    headers = [ln for ln in lines if ln.startswith(HEADER)]
    assert len(headers) == 1, "\n".join(lines)
    text = "\n".join(lines)
    # the last frame: simulated time near the end, the grid, power, the session, the events
    assert float(headers[0][len(HEADER):].split()[0]) >= 5.5, headers[0]
    assert re.search(r"gateway [A-Z_]+   CRITICAL ticks \d+", headers[0]), headers[0]
    for want in ("grid      50.000 Hz", "V rms   locked", "power    P ", "limits   ",
                 "session  ", "services all running", "events", "ISO15118 session 1: ISO 15118-2 AC"):
        assert want in text, (want, text)
    # the screen keeps the latest events; all of them are in the summary
    events = [e["text"] for e in json.loads((tmp_path / "o" / "summary.json").read_text())["events"]]
    assert "EV session started (ChargingStatus)" in events and [e for e in events if e.endswith("-> CHARGING")]
    # normal service states are not listed one by one any more
    assert "PLL_SYNC" not in text.split("JEZGRO-GW simulation summary")[0]
    # the summary follows the live view
    assert "JEZGRO-GW simulation summary" in text


def test_events_through_a_pipe(tmp_path):
    p = subprocess.run(f"{JEZGRO} sim --seconds 6 --no-csms --no-plot --out {tmp_path / 'o'} "
                       f"--inject iso15118:crash@4s | cat", shell=True, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    live_part = p.stdout.split("JEZGRO-GW simulation summary")[0]
    assert "\x1b[" not in p.stdout  # no terminal control codes in a pipe
    events = [ln for ln in live_part.splitlines() if ln.startswith("t=")]
    texts = [e.split("s  ", 1)[1] for e in events]
    assert "grid locked at 50.000 Hz" in texts
    assert [t for t in texts if t.startswith("gateway ") and t.endswith("-> CHARGING")], texts
    assert "fault injected: iso15118:crash@4s" in texts and "ISO15118 restarted (1 restart)" in texts
    # only events: no per-second service lines
    assert not [ln for ln in live_part.splitlines() if "restarts 0" in ln]
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert [e["text"] for e in s["events"]] == texts


def test_plot_writes_the_timeline_picture(tmp_path):
    out = tmp_path / "o"
    p = subprocess.run([JEZGRO, "sim", "--seconds", "3", "--no-csms", "--quiet", "--plot", "--out", str(out),
                        "--inject", "iso15118:crash@2s"], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    png = out / "timeline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    recs = [json.loads(x) for x in (out / "timeline.jsonl").read_text().splitlines()]
    # one record per 250 ms of simulated time, each with what the picture draws
    assert len(recs) >= 11
    assert {"grid", "limits", "power", "gateway", "services"} <= set(recs[-1])
    assert f"picture: {png}" in p.stdout


def _rec(t, gateway="STANDBY", locked=1, services=(("ISO15118", 2, 0),), iso="Idle", ocpp=None):
    return {"t_ms": t, "gateway": gateway, "grid": {"f_mhz": 50000, "v_peak": 325, "locked": locked},
            "services": [list(s) for s in services], "power": {"iso_state": iso}, "ocpp": ocpp}


def test_events_are_what_changed():
    held = live.HELD
    assert live.events(None, _rec(0)) == ["gateway - -> STANDBY", "grid locked at 50.000 Hz"]
    assert live.events(_rec(0), _rec(1)) == []
    assert live.events(_rec(0), _rec(1, locked=0)) == ["grid LOST LOCK at 50.000 Hz"]
    assert live.events(_rec(0), _rec(1, services=(("ISO15118", held, 3),))) == [
        "ISO15118 restarted (3 restarts)", "ISO15118 waiting -> HELD"]
    assert live.events(_rec(0), _rec(1, iso="SessionSetup")) == ["EV session started (SessionSetup)"]
    assert live.events(_rec(0, iso="ChargeLoop"), _rec(1)) == ["EV session ended (was in ChargeLoop)"]
    assert live.events(_rec(0, ocpp={"connected": False}), _rec(1, ocpp={"connected": True})) == [
        "OCPP connected to the CSMS"]
    assert live.events(_rec(0, ocpp={"connected": True}), _rec(1, ocpp={"connected": False})) == [
        "OCPP DISCONNECTED from the CSMS"]
