"""Audit log: append-only, torn last record skipped after power loss, rotation within budget."""
from __future__ import annotations

import json

WRITE = """
import harness
from jezgro.audit import AuditLog
log = AuditLog({root!r}, {budget})
for i in range({n}):
    log.append({{"boot": 1, "ev": "crash", "i": i, "text": "x" * {pad}}})
harness.result({{"rotations": log.rotations}})
"""

READ = """
import harness
from jezgro.audit import AuditLog
log = AuditLog({root!r}, {budget})
stats = {{}}
recs = list(log.records(stats))
harness.result({{"ids": [r.get("i") for r in recs], "stats": stats}})
"""


def test_torn_last_record_is_skipped_and_nothing_before_it_is_lost(mp, tmp_path):
    mp(WRITE.format(root=str(tmp_path), budget=65536, n=20, pad=40))
    path = tmp_path / "audit.log"
    data = path.read_bytes()
    # Power lost in the middle of appending record 20: only part of it reached the flash.
    torn = data[: len(data) - 30]
    path.write_bytes(torn)
    r = mp(READ.format(root=str(tmp_path), budget=65536))
    assert r.data["ids"] == list(range(19))
    assert r.data["stats"] == {"torn": 1}
    # After "reboot" the logger appends again: the new record must not merge with the torn tail.
    mp("""
import harness
from jezgro.audit import AuditLog
log = AuditLog({root!r})
log.append({{"boot": 2, "ev": "boot", "i": 100}})
log.append({{"boot": 2, "ev": "start", "i": 101}})
harness.result(1)
""".format(root=str(tmp_path)))
    r = mp(READ.format(root=str(tmp_path), budget=65536))
    assert r.data["ids"] == list(range(19)) + [100, 101]
    assert r.data["stats"] == {"torn": 1}


def test_corrupted_record_is_detected_by_crc(mp, tmp_path):
    mp(WRITE.format(root=str(tmp_path), budget=65536, n=5, pad=10))
    path = tmp_path / "audit.log"
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"i": 2', '"i": 7')  # bit rot inside a record
    path.write_text("".join(lines))
    r = mp(READ.format(root=str(tmp_path), budget=65536))
    assert r.data["ids"] == [0, 1, 3, 4]
    assert r.data["stats"] == {"torn": 1}


def test_rotation_keeps_log_within_budget_and_keeps_newest(mp, tmp_path):
    budget = 8192
    r = mp(WRITE.format(root=str(tmp_path), budget=budget, n=300, pad=60))
    assert r.data["rotations"] >= 3
    sizes = sum(p.stat().st_size for p in tmp_path.glob("audit*.log"))
    assert sizes <= budget
    r = mp(READ.format(root=str(tmp_path), budget=budget))
    ids = r.data["ids"]
    assert ids[-1] == 299 and ids == list(range(ids[0], 300))  # contiguous newest records
    assert r.data["stats"] == {}


def test_log_lines_are_json_with_crc(tmp_path, mp):
    mp(WRITE.format(root=str(tmp_path), budget=65536, n=2, pad=1))
    for line in (tmp_path / "audit.log").read_text().splitlines():
        body, crc = line.rsplit(" #", 1)
        assert json.loads(body)["ev"] == "crash" and len(crc) == 8
