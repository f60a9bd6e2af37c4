"""`jezgro bridge map`: the protocol bridge's translation tables as the firmware declares them
(firmware/bridge/tables16.py), for review against the OCPP 1.6 and 2.0.1 specifications."""
from __future__ import annotations

import importlib.util
import json
from typing import Any

from .mp import FIRMWARE


def tables(name: str = "tables16") -> Any:
    """firmware/bridge/<name>.py loaded as data (the table modules import nothing)."""
    spec = importlib.util.spec_from_file_location("bridge_" + name, FIRMWARE / "bridge" / f"{name}.py")
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
    t2 = tables("tables201")
    out += ["# OCPP 2.0.1 -> 1.6J: CSMS requests for a charger (firmware/bridge/tables201.py)", ""]
    out += _table("CSMS requests", ("2.0.1 request", "1.6 CALL", "how"),
                  [(a, v[0], v[1]) for a, v in t2.TO_CHARGER.items()])
    out += _table("chargingProfilePurpose", ("2.0.1", "1.6 (- : Rejected)"), list(t2.PURPOSE.items()))
    out += _table("Configuration keys", ("2.0.1 component", "variable", "1.6 key"), list(t2.KEYS))
    out += _table("Reset type", ("2.0.1", "1.6"), list(t2.RESET_TYPE.items()))
    out += _table("UnlockConnector status", ("1.6", "2.0.1"), list(t2.UNLOCK.items()))
    out += _table("ChangeConfiguration status", ("1.6", "2.0.1 SetVariables"), list(t2.CONFIG_STATUS.items()))
    out += ["## TriggerMessage requestedMessage passed (others: NotImplemented)", ", ".join(t2.TRIGGERS), ""]
    out += _table("ReserveNow status", ("1.6", "2.0.1"), list(t2.RESERVE_STATUS.items()))
    out += _table("CancelReservation status", ("1.6", "2.0.1"), list(t2.CANCEL_STATUS.items()))
    out += _table("idTokenInfo -> idTagInfo (SendLocalList)", ("2.0.1", "1.6"), list(t2.ID_TAG_INFO))
    out += _table("SendLocalList status of each charger (combined: docs/bridge.md)", ("1.6", "2.0.1"),
                  list(t2.LOCAL_LIST_STATUS.items()))
    out += ["## CSMS requests sent to every charger, answers combined", ", ".join(t2.TO_ALL), ""]
    return "\n".join(out)


def add_parser(sub: Any) -> None:
    s = sub.add_parser("bridge", help="protocol bridge tools: `map` prints the translation tables")
    s.add_argument("what", choices=["map"])
    s.add_argument("--json", action="store_true", help="the tables as JSON")
    s.set_defaults(func=main)


def main(a: Any) -> int:
    t = tables()
    if a.json:
        mods = {"tables16": t, "tables201": tables("tables201")}
        print(json.dumps({m: {n: getattr(x, n) for n in dir(x) if n.isupper()} for m, x in mods.items()}, indent=1))
    else:
        print(render(t))
    return 0
