"""`jezgro bridge map`: the protocol bridge's translation tables as the firmware declares them
(firmware/bridge/tables16.py), for review against the OCPP 1.6 and 2.0.1 specifications."""
from __future__ import annotations

import importlib.util
import json
from typing import Any

from .mp import FIRMWARE


def tables() -> Any:
    """firmware/bridge/tables16.py loaded as data (it imports nothing)."""
    spec = importlib.util.spec_from_file_location("bridge_tables16", FIRMWARE / "bridge" / "tables16.py")
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def _table(title: str, head: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    out = [f"## {title}", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join("-" if v is None else str(v) for v in r) + " |" for r in rows]
    return out + [""]


def render(t: Any) -> str:
    out = ["# OCPP 1.6J -> 2.0.1 translation tables (firmware/bridge/tables16.py)", ""]
    out += _table("1.6 CALLs from chargers", ("1.6 action", "handling", "2.0.1 / answer"),
                  [(a, h, d) for a, (h, d) in t.FROM_CHARGER.items()])
    out += _table("StatusNotification.status", ("1.6 status", "2.0.1 connectorStatus", "chargingState in a transaction"),
                  [(k, v[0], v[1]) for k, v in t.STATUS.items()])
    out += _table("StopTransaction.reason", ("1.6 reason", "2.0.1 stoppedReason", "2.0.1 triggerReason"),
                  [(k, v[0], v[1]) for k, v in t.STOP_REASON.items()])
    out += _table("Authorize: idTokenInfo.status -> idTagInfo.status", ("2.0.1", "1.6"), list(t.AUTH_STATUS.items()))
    out += _table("Units of meter values", ("1.6 unit", "2.0.1 unit", "multiplier"),
                  [(k, v[0], v[1]) for k, v in t.UNITS.items()])
    out += ["## Measurands passed (others dropped and counted)", ", ".join(t.MEASURANDS), "",
            "## Contexts, phases, locations passed name for name",
            ", ".join(t.CONTEXTS), ", ".join(t.PHASES), ", ".join(t.LOCATIONS), ""]
    return "\n".join(out)


def add_parser(sub: Any) -> None:
    s = sub.add_parser("bridge", help="protocol bridge tools: `map` prints the translation tables")
    s.add_argument("what", choices=["map"])
    s.add_argument("--json", action="store_true", help="the tables as JSON")
    s.set_defaults(func=main)


def main(a: Any) -> int:
    t = tables()
    if a.json:
        names = [n for n in dir(t) if n.isupper()]
        print(json.dumps({n: getattr(t, n) for n in names}, indent=1))
    else:
        print(render(t))
    return 0
