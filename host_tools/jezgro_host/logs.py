"""`jezgro logs`: read the audit log with the firmware's own reader (CRC-checked, torn records skipped)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import ToolError
from .mp import run_code, tool

READ = """
import json
from jezgro.audit import AuditLog
log = AuditLog({root!r})
stats = {{}}
for rec in log.records(stats):
    print(json.dumps(rec))
print('STATS ' + json.dumps(stats))
"""


def read(root: str) -> tuple[list[dict], dict]:
    r = run_code(READ.format(root=root))
    if r.returncode != 0:
        raise SystemExit(f"jezgro logs: reading {root} failed:\n{r.stderr}")
    recs, stats = [], {}
    for line in r.stdout.splitlines():
        if line.startswith("STATS "):
            stats = json.loads(line[6:])
        elif line:
            recs.append(json.loads(line))
    return recs, stats


def fetch_from_board(dest: Path) -> None:
    for name in ("audit.1.log", "audit.log"):
        # `resume`: no soft reset, which would stop the tick IRQ that feeds the watchdog in service mode.
        r = subprocess.run([tool("mpremote"), "resume", "fs", "cp", f":/flash/{name}", str(dest / name)],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0 and "no device found" in (r.stderr + r.stdout).lower():
            raise SystemExit("jezgro logs: no board found (connect the NUCLEO-H743ZI over USB)")


def add_parser(sub) -> None:
    s = sub.add_parser("logs", help="read the audit log (simulation directory or a board)")
    s.add_argument("--dir", default="sim_out/fs", help="filesystem root holding audit.log")
    s.add_argument("--board", action="store_true", help="fetch the log from an attached board via mpremote")
    s.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    s.set_defaults(func=main)


def main(a) -> int:
    if a.board:
        tmp = Path(tempfile.mkdtemp(prefix="jezgro-logs-"))
        fetch_from_board(tmp)
        root = str(tmp)
    else:
        root = a.dir
        if not (Path(root) / "audit.log").exists() and not (Path(root) / "audit.1.log").exists():
            raise ToolError(f"no audit log in {root} (run 'jezgro sim' first or pass --dir)")
    recs, stats = read(root)
    for rec in recs:
        if a.json:
            print(json.dumps(rec))
            continue
        text = rec.get("text", "")
        first = text.strip().splitlines()[-1] if text.strip() else ""
        print(f"boot {rec.get('boot', '?'):>3}  t={rec.get('t_ms', 0) / 1000:9.3f}s  {rec.get('ev', ''):<12} "
              f"{rec.get('svc', ''):<13} gen {rec.get('gen', ''):<4} {rec.get('cause', ''):<10} {first}")
    if stats.get("torn"):
        # includes damaged lines: AUDIT_LOGGER salvages those at boot ("storage" records say so)
        print(f"({stats['torn']} torn record(s) skipped)", file=sys.stderr)
    return 0
