"""The IPC message catalogue (firmware/msgs): declared once, checked on every send, documented."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JEZGRO = str(Path(sys.executable).parent / "jezgro")

SENDS = """
import harness, t_sender, t_safe
import msgs
from jezgro.service import ServiceSpec as S
from jezgro.const import PRIO_HIGH
t_sender.PLAN = {plan!r}
k = harness.kernel([S(1, "{sender}", PRIO_HIGH, 4, 16, 1000000, "t_sender", max_restarts=50),
                    S(2, "{receiver}", PRIO_HIGH, 4, 16, 1000000, "t_safe")])
k.boot()
k.run(200)
svc = k.services[1]
harness.result({{"sent": t_sender.sent, "got": t_safe.got, "faults": svc.faults,
                 "text": svc.last_fault_text, "layout_errors": k.summary()["ipc"]["layout_errors"]}})
"""


def _send(mp, sender, receiver, plan):
    return mp(SENDS.format(plan=plan, sender=sender, receiver=receiver)).data


def test_declared_sends_pass_the_check(mp):
    # ISO15118 -> POWER_MGR: its session state and setpoint, as the catalogue declares them
    d = _send(mp, "ISO15118", "POWER_MGR", [[2, 0x0303, "i32"], [2, 0x0201, "i32"]])
    assert d["sent"] == [0, 0] and d["faults"] == 0 and d["layout_errors"] == 0
    assert [g[0] for g in d["got"]] == [0x0303, 0x0201]


def test_a_send_with_another_layout_fails_in_its_sender(mp):
    # POWER_SETPOINT as 8 bytes instead of four int32: the sender faults, nothing is delivered
    d = _send(mp, "ISO15118", "POWER_MGR", [[2, 0x0201, 8]])
    assert d["faults"] == 1 and d["layout_errors"] == 1 and d["got"] == []
    assert "POWER_SETPOINT is four int32" in d["text"]
    # a byte message of a length the catalogue does not allow
    d = _send(mp, "ISO15118", "OCPP_CLIENT", [[2, 0x0301, 20]])
    assert d["faults"] == 1 and "EV_CHARGING_NEEDS is 44..44 bytes, sent as 20 bytes" in d["text"]
    # a byte message sent as four int32
    d = _send(mp, "ISO15118", "OCPP_CLIENT", [[2, 0x0307, "i32"]])
    assert d["faults"] == 1 and "sent as four int32" in d["text"]


def test_a_send_in_another_direction_or_unknown_fails(mp):
    d = _send(mp, "DROOP_CTRL", "POWER_MGR", [[2, 0x0201, "i32"]])  # DROOP_CTRL sends no setpoints
    assert d["faults"] == 1 and "POWER_SETPOINT from DROOP_CTRL: declared senders" in d["text"]
    d = _send(mp, "POWER_MGR", "OCPP_CLIENT", [[2, 0x0204, "i32"]])  # the EV's cap goes to ISO15118
    assert d["faults"] == 1 and "EV_POWER_CAP to OCPP_CLIENT: declared receivers ISO15118" in d["text"]
    d = _send(mp, "ISO15118", "POWER_MGR", [[2, 0x0999, "i32"]])
    assert d["faults"] == 1 and "0x0999 is not in the catalogue" in d["text"]


def _ids() -> dict[str, int]:
    # the message ids: the const() assignments of msgs/__init__.py's "ids" section
    text = (ROOT / "firmware" / "msgs" / "__init__.py").read_text()
    section = text.split("# --- ids", 1)[1].split("\n", 1)[1].split("# --- field indexes", 1)[0]
    out = {}
    for node in ast.parse(section).body:
        if isinstance(node, ast.Assign):
            out[node.targets[0].id] = ast.literal_eval(node.value.args[0])
    return out


def test_every_id_is_declared_once_and_every_declaration_has_an_id():
    ids = _ids()
    assert len(set(ids.values())) == len(ids)  # no two messages share an id
    text = (ROOT / "firmware" / "msgs" / "catalogue.py").read_text()
    declared = re.findall(r"\(m\.([A-Z_]+), \"([A-Z_]+)\"", text)
    assert all(a == b for a, b in declared)  # the name column is the id's name
    names = [a for a, _ in declared]
    assert sorted(names) == sorted(ids)  # each id declared exactly once, nothing declared without an id


def test_no_firmware_module_sends_an_undeclared_literal_id():
    # Every send in the firmware names its message through msgs (no bare numbers, no old MSG_* names).
    bad = []
    for p in (ROOT / "firmware").rglob("*.py"):
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if re.search(r"\bMSG_(?!MS\b)[A-Z_]+\b", line) or re.search(r"send(_i32)?\([^)]*,\s*0x0[0-3][0-9a-fA-F]{2}\b", line):
                bad.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()}")
    assert bad == []


def test_docs_message_table_matches_the_catalogue():
    p = subprocess.run([JEZGRO, "msgs"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    from jezgro_host.msgs_cmd import DOC, doc_table
    assert doc_table(DOC.read_text()) == p.stdout.strip(), \
        "docs/architecture.md's message table is stale: run `jezgro msgs --update-docs`"
