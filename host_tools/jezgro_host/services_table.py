"""`jezgro services v2g|bridge`: the static service table as the firmware declares it."""
from __future__ import annotations

import json

from .mp import run_code

DUMP = """
import json
from jezgro.const import PRIO_NAMES, POLICY_NAMES
cfg = __import__('config.{name}').__dict__['{name}']
rows = []
for s in cfg.TABLE:
    rows.append([s.sid, s.name, PRIO_NAMES[s.priority] if s.priority >= 0 else '-', s.stack_kb,
                 s.memory_kb, s.watchdog_us, s.module or '', s.purpose,
                 POLICY_NAMES[s.policy] if s.module else '-', s.max_restarts, s.period_s, s.mailbox])
print(json.dumps({{'name': cfg.NAME, 'total_kb': cfg.TOTAL_KB, 'rows': rows}}))
"""


def load(name: str) -> dict:
    if name not in ("v2g", "bridge"):
        raise SystemExit(f"jezgro services: unknown configuration {name!r} (v2g or bridge)")
    r = run_code(DUMP.format(name=name))
    if r.returncode != 0:
        raise SystemExit(f"jezgro services: firmware table failed to load:\n{r.stderr}{r.stdout}")
    return json.loads(r.stdout)


def fmt_watchdog(us: int) -> str:
    if us == 0:
        return "-"
    return f"{us} µs" if us < 1000 else f"{us // 1000} ms"


def render(t: dict) -> str:
    head = ["ID", "Service", "Priority", "Stack", "Memory", "Watchdog", "Restart", "R/T", "Purpose"]
    rows = []
    for sid, name, prio, stack, mem, wdt, module, purpose, policy, r, per, _mb in t["rows"]:
        rt = f"{r}/{per}s" if module else "-"
        rows.append([str(sid), name, prio, f"{stack} KB", f"{mem} KB", fmt_watchdog(wdt), policy, rt, purpose])
    stack_total = sum(r[3] for r in t["rows"])
    mem_total = sum(r[4] for r in t["rows"])
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [f"Service table: {t['name']}", line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out.append(line(["-" * w for w in widths]))
    out.append(f"Total: stack {stack_total} KB, memory {mem_total} KB "
               f"(spec: ~{t['total_kb']} KB) -> {'matches' if mem_total == t['total_kb'] else 'MISMATCH'}")
    return "\n".join(out)


def add_parser(sub) -> None:
    s = sub.add_parser("services", help="print a service table with its totals")
    s.add_argument("config", choices=["v2g", "bridge"])
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=lambda a: main(a.config, a.json))


def main(name: str, as_json: bool) -> int:
    t = load(name)
    print(json.dumps(t, indent=1) if as_json else render(t))
    return 0 if sum(r[4] for r in t["rows"]) == t["total_kb"] else 1
