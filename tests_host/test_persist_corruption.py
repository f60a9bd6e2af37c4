"""Corrupted or full storage never takes a service down (docs/persistence.md).

The matrix: every persisted file x {random bytes, garbage over the middle, truncation at a third / a
half / nine tenths, zero length, oversized, a directory, unreadable} x {at boot, while running}, all
in one MicroPython process (tests_host/mp/p_matrix.py). Unreadable uses jezgro.persist's fault hook
(FAIL["r:NAME"] = EACCES): the tests run as root, where chmod 000 does not stop a read. Then the
whole gateway: the simulation with its files damaged before boot and while it runs (a VANDAL service,
tests_host/mp/p_vandal.py), OCPP_CLIENT against the real CSMS with a damaged queue, and a full
filesystem (the fault hook's ENOSPC, and a real 64 KB tmpfs when mount works)."""
from __future__ import annotations

import json
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from jezgro_host import mp as _mp
from jezgro_host.csms import Csms
from jezgro_host.mp import MP_TESTS, UNIX_BOARD, ROOT
from station import StationProcess
import waiting

STATE = ("ocpp_dm.json", "ocpp_tx.json", "ocpp_profiles.json", "ocpp_resv.json")
DAMAGING = ("random", "middle", "oversized", "directory", "unreadable")  # never a clean outcome at boot


def counted(rec, name):
    c = rec["storage"].get(name, {})
    return sum(v for k, v in c.items() if k != "last")


def is_ordered_subset(seq, full):
    it = iter(full)
    return all(x in it for x in seq)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    code = ("import json, board, p_matrix\nboard.configure(True)\n"
            f"for r in p_matrix.run({str(root)!r}):\n    print('CASE ' + json.dumps(r))\nprint('RESULT 1')\n")
    p = _mp.run(["-c", code], heap="4M", fs_root=root, extra=[MP_TESTS], capture_output=True, timeout=300,
                cwd=root)
    assert p.returncode == 0, p.stderr[-3000:]
    cases = [json.loads(x[5:]) for x in p.stdout.splitlines() if x.startswith("CASE ")]
    assert len(cases) == 13 * 9 * 2, len(cases)  # files x kinds x phases
    return cases


def test_no_damage_escapes_the_reader(matrix):
    escaped = [(c["file"], c["kind"], c["phase"], c["exception"]) for c in matrix if "exception" in c]
    assert escaped == []


def test_logs_and_queue_keep_every_intact_record_in_order_and_count_the_rest(matrix):
    for c in matrix:
        name, kind, phase, r = c["file"], c["kind"], c["phase"], c.get("result")
        if name.startswith("audit"):
            assert r["appended"] and r["ids"][-1] == 200, c  # a record after the damage
            assert is_ordered_subset(r["ids"], [0, 1, 2, 3, 4, 5, 100, 200]), c
            if kind in ("middle", "oversized") and phase == "boot":
                assert 0 in r["ids"] and 5 in r["ids"], c  # before and after the damaged region
            if phase == "running" and name == "audit.log":
                # the running logger's next record survives whatever is in the file under it
                assert r["running_append"] is (kind != "directory") and (100 in r["ids"]) is r["running_append"], c
        elif name.startswith("ocpp_txq"):
            assert r["seqs"][-1] == 200 and r["seqs"] == sorted(r["seqs"]), c
            if name == "ocpp_txq.log" and kind in ("middle", "oversized") and phase == "boot":
                assert 1 in r["seqs"] and 5 in r["seqs"], c
            if phase == "running" and kind != "directory":
                # an event queued after the damage is not lost: still queued, or it was the head sent (and
                # delivered) because the records before it were destroyed under the running queue (it
                # streams from the log: they were nowhere else)
                assert 100 in r["seqs"] or r["sent"] == 100, c
        else:
            continue
        if kind in DAMAGING and phase == "boot":
            assert counted(c, name) > 0 and c["events"], c
        if kind in ("random", "middle", "directory") and phase == "boot" and name != "ocpp_txq.head":
            assert name + ".bad-1" in c["files_after"], c  # the damaged one kept for inspection


def test_state_files_are_rejected_set_aside_and_written_afresh(matrix):
    for c in matrix:
        if c["file"] not in STATE or c["phase"] != "boot":
            continue
        r = c["result"]
        assert counted(c, c["file"]) >= 1 and c["file"] + ".bad-1" in c["files_after"], c
        assert r["after"] in (["T2"], [2], "79"), c  # the next save works and reads back


def test_configs_and_certificates_are_config_errors_naming_the_file(matrix):
    for c in matrix:
        name, r = c["file"], c.get("result")
        if name in ("ocpp.json", "iso15118.json"):
            assert r["outcome"] == "rejected" and name in r["error"], c
        elif name == "grid.json":
            assert r["errors"] and r["errors"][0].startswith("grid.json: ") and r["cfg"]["sms"] is True, c
        elif name == "csms_ca.pem":
            assert r["ocpp"].startswith("ocpp.json: ") and name in r["ocpp"], c
            assert name in r["iso"] and r["iso"].startswith("iso15118.json: "), c
        elif name == "reset_cause.json":
            assert r["report"] == ["power_on", "", ""] and counted(c, name) == 1, c


FULL = """
import harness
from jezgro import persist
from jezgro.audit import AuditLog
from ocpp.txqueue import TxQueue, MAX_ITEMS
root = {root!r}
log = AuditLog(root, 4096)
for i in range(40):
    log.append({{"i": i, "pad": "x" * 60}})
open(root + "/audit.log.bad-1", "w").write("junk")
persist.FAIL["audit.log"] = persist.ENOSPC
r_full = [log.append({{"i": 100 + i}}) for i in range(3)]
bad_gone = persist.size(root + "/audit.log.bad-1") == -1
older_gone = persist.size(root + "/audit.1.log") == -1
persist.FAIL.clear()
ok = log.append({{"i": 200}})
ids = [r["i"] for r in AuditLog(root, 4096).records()]
audit = {{"full": r_full, "lost": log.lost, "bad_gone": bad_gone, "older_gone": older_gone, "ok": ok,
          "ids": ids, "status": log.status()}}

def ev(i, kind="Updated"):
    return {{"eventType": kind, "seqNo": i, "timestamp": "2026-01-01T00:00:00Z", "triggerReason": "Trigger",
             "transactionInfo": {{"transactionId": "T1"}}}}
q = TxQueue(root)
q.push("TransactionEvent", ev(0, "Started"))
persist.FAIL["ocpp_txq.log"] = persist.ENOSPC
for i in range(1, 5):
    q.push("TransactionEvent", ev(i))
in_ram = [p["seqNo"] for a, p in q.records()]  # the log's and those waiting in RAM, in order
unsaved = q.unsaved
persist.FAIL.clear()
q.push("TransactionEvent", ev(5))
on_disk = [p["seqNo"] for a, p in TxQueue(root).records()]
for i in range(6, MAX_ITEMS + 20):
    q.push("TransactionEvent", ev(i))
q.push("TransactionEvent", ev(999, "Ended"))
q2 = TxQueue(root)
kinds = [p["eventType"] for a, p in q2.records()]
harness.result({{"audit": audit, "in_ram": in_ram, "unsaved": unsaved, "on_disk": on_disk,
                 "n": len(q2), "max": MAX_ITEMS, "dropped": q.dropped, "first": kinds[0], "last": kinds[-1],
                 "storage": persist.report(), "events": [t for _, t in persist.EVENTS]}})
"""


def test_full_filesystem_audit_frees_by_policy_and_queue_keeps_order_and_bound(mp, tmp_path):
    r = mp(FULL.format(root=str(tmp_path))).data
    a = r["audit"]
    # full: set-aside copies, then the older segment go; what still cannot be written is counted lost
    assert a["full"] == [False, False, False] and a["lost"] == 3 and a["bad_gone"] and a["older_gone"]
    assert a["ok"] and a["ids"][-1] == 200 and a["ids"] == sorted(a["ids"])
    assert r["storage"]["audit.1.log"]["dropped"] == 1  # the freed segment is said, in the audit log too
    assert any("audit.1.log" not in t and "removed to free space" in t for t in r["events"])
    # the queue: in RAM while the filesystem is full, on the filesystem again as soon as it can be
    assert r["in_ram"] == [0, 1, 2, 3, 4] and r["unsaved"] and r["on_disk"] == [0, 1, 2, 3, 4, 5]
    # the bound: Updated events over MAX_ITEMS dropped and counted, Started and Ended never
    assert r["n"] == r["max"] + 1 and r["dropped"] == 20 - 1 + 1 and r["first"] == "Started" and r["last"] == "Ended"
    assert "queue full" in r["storage"]["ocpp_txq.log"]["last"] or r["storage"]["ocpp_txq.log"]["dropped"]


TMPFS = """
import harness
from jezgro import persist
from jezgro.audit import AuditLog
from ocpp.txqueue import TxQueue
root = {root!r}
log = AuditLog(root, 65536)
q = TxQueue(root)
from ocpp.txqueue import RAM_ITEMS
ok = 0
queued = 0
for i in range(400):
    ok += log.append({{"i": i, "pad": "y" * 100}})
    queued += q.push("TransactionEvent", {{"eventType": "Updated", "seqNo": i, "pad": "z" * 100}})
on_fs = len(TxQueue(root))
seqs = [p["seqNo"] for a, p in q.records()]
harness.result({{"ok": ok, "lost": log.lost, "freed": log.freed, "queue": len(q), "unsaved": q.unsaved,
                 "storage": persist.report(), "queued": queued, "status": q.status(), "on_fs": on_fs,
                 "seqs": seqs, "ram_items": RAM_ITEMS}})
"""


def test_real_full_filesystem_on_a_small_tmpfs(mp, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a 64 KB tmpfs here (needs root): {m.stderr.strip()}")
    try:
        (mnt / "filler").write_bytes(b"\0" * 40 * 1024)  # most of it taken by something else
        r = mp(TMPFS.format(root=str(mnt))).data
        assert r["lost"] > 0 and r["ok"] + r["lost"] == 400  # no exception; every loss counted
        # the queue streams from the file: what the filesystem cannot take waits in RAM, RAM_ITEMS at most;
        # every other event is dropped and counted, none unaccounted for, the rest in order
        st = r["status"]
        assert r["queued"] + st["dropped"] == 400 and st["dropped"] > 0 and st["write_errors"] > 0, st
        assert r["queue"] == r["queued"] == len(r["seqs"]) and r["seqs"] == sorted(r["seqs"]), r
        assert st["in_ram"] <= r["ram_items"] and r["on_fs"] == r["queue"] - st["in_ram"], (st, r["on_fs"])
        assert r["storage"]["ocpp_txq.log"]["dropped"] == st["dropped"]
        assert "filesystem full" in r["storage"]["ocpp_txq.log"]["last"]
        assert r["storage"]["audit.log"]["write_errors"] > 0
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def sim(fs: Path, *args: str) -> dict:
    p = _mp.run([str(UNIX_BOARD / "simmain.py"), "--fs", str(fs), *args], heap="2M", fs_root=fs,
                extra=[MP_TESTS], capture_output=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    line = [x for x in p.stdout.splitlines() if x.startswith("SUMMARY ")][-1]
    return json.loads(line[8:])


def audit_records(fs: Path) -> list[dict]:
    code = (f"import json\nfrom jezgro.audit import AuditLog\nfor r in AuditLog({str(fs)!r}).records():\n"
            "    print(json.dumps(r))\n")
    return [json.loads(x) for x in _mp.run_code(code).stdout.splitlines()]


def write_garbage(path: Path, kind: str) -> None:
    if path.is_dir():
        path.rmdir()
    data = path.read_bytes() if path.exists() else b""
    if kind == "directory":
        path.unlink(missing_ok=True)
        path.mkdir()
        return
    out = {"random": os.urandom(300), "trunc": data[: len(data) // 2], "zero": b"",
           "oversized": data + os.urandom(200_000)}[kind]
    path.write_bytes(out)


def check_healthy(s: dict, session: bool = True) -> dict:
    by = {x["name"]: x for x in s["services"]}
    held = [n for n, x in by.items() if x["state"] == "held"]
    assert held == [], held
    if session:
        assert s["ev"]["result"]["end"] == "SessionStop", s["ev"]
    return by


@pytest.mark.parametrize("kind", ["random", "trunc", "zero", "oversized", "directory"])
def test_gateway_boots_on_damaged_files_and_charges(tmp_path, kind):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "S",
                                              "security_profile": 0}))
    (fs / "grid.json").write_text(json.dumps({"sms": True}))
    sim(fs, "--seconds", "4")
    names = ["audit.log", "grid.json", "ocpp.json", "ocpp_dm.json", "ocpp_txq.log", "ocpp_tx.json"]
    for n in names:
        write_garbage(fs / n, kind)
    s = sim(fs, "--seconds", "6")
    by = check_healthy(s)
    assert "ocpp.json" in by["OCPP_CLIENT"]["config_error"] and by["OCPP_CLIENT"]["restarts"] == 0
    assert by["DROOP_CTRL"]["config_error"].startswith("grid.json: ")  # defaults used, reported
    recs = audit_records(fs)
    assert recs and recs[-1]["boot"] >= 1 and any(r["ev"] == "start" for r in recs)  # this boot's records
    if kind in ("random", "directory", "oversized"):
        assert s["storage"]["files"]["audit.log"], s["storage"]


def test_damaged_iso15118_config_is_reread_without_crash_loop_then_charges(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    sim(fs, "--seconds", "2", "--ev", "none")
    good = (fs / "iso15118.json").read_bytes()
    (fs / "iso15118.json").write_bytes(os.urandom(300))
    s = sim(fs, "--seconds", "11", "--ev", "none")
    iso = check_healthy(s, session=False)["ISO15118"]
    assert iso["restarts"] == 0 and iso["config_error"].startswith("iso15118.json: ") and iso["config_errors"] >= 2
    (fs / "iso15118.json").write_bytes(good)
    check_healthy(sim(fs, "--seconds", "6"))  # a little slack: loopback sockets on a loaded host


def test_gateway_survives_files_damaged_while_it_runs(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "S",
                                              "security_profile": 0}))
    s = sim(fs, "--config-module", "p_vandal_cfg", "--seconds", "6")
    # OCPP_CLIENT is configured but its CSMS unreachable: the EV's EIM session waits in Authorization
    # (EVSEProcessing=Ongoing: offline, no idToken source) and does not end within the run
    by = check_healthy(s, session=False)
    assert s["iso15118"]["live"] and s["iso15118"]["live"]["state"] == "Authorization", s["iso15118"]
    assert by["VANDAL"]["restarts"] == 1  # it did its damage mid-session (and crashed on purpose)
    recs = audit_records(fs)
    # the crash after the damage is in the log: records are appended after garbage
    assert any(r.get("svc") == "VANDAL" and r["ev"] in ("crash", "restart") for r in recs), recs
    s = sim(fs, "--seconds", "6")  # the next boot reads all of it
    check_healthy(s, session=False)
    assert s["storage"]["files"], s["storage"]


def crc_line(action: str, payload: dict) -> str:
    body = json.dumps([action, payload])
    return "%08x %s\n" % (zlib.crc32(body.encode()) & 0xFFFFFFFF, body)


def test_ocpp_queue_damage_delivers_intact_events_in_order_and_tells_the_csms(tmp_path):
    c = Csms(log_path=tmp_path / "csms.jsonl", heartbeat_s=60).start()
    fs = tmp_path / "fs"
    fs.mkdir()
    ev = [{"eventType": "Started" if i == 0 else "Updated", "timestamp": "2026-01-01T00:00:0%dZ" % i,
           "triggerReason": "Authorized" if i == 0 else "MeterValuePeriodic", "seqNo": i,
           "transactionInfo": {"transactionId": "TX-OLD"}} for i in range(5)]
    lines = [crc_line("TransactionEvent", e) for e in ev]
    lines[2] = lines[2][:20] + "\x07garbage" + lines[2][30:]  # bit rot inside the third event
    (fs / "ocpp_txq.log").write_bytes("".join(lines).encode() + os.urandom(40) + b"\n")
    (fs / "ocpp_dm.json").write_bytes(os.urandom(200))
    (fs / "ocpp_tx.json").write_text('{"tx": {"1": {"id": 5}}, "wh": "x"}')
    st = StationProcess(fs, {"url": c.url, "station_id": "GW-P", "security_profile": 0}).start()
    try:
        got = waiting.wait_for(lambda: len(c.calls("TransactionEvent")) >= 4 and c.calls("TransactionEvent"),
                               timeout=30)
        assert [e["seqNo"] for e in got[:4]] == [0, 1, 3, 4]  # the damaged one skipped, order kept
        sec = waiting.wait_for(lambda: [x for x in c.calls("SecurityEventNotification")
                                        if x["type"] == "PersistentStorageProblem"], timeout=30)
        info = " ".join(x.get("techInfo", "") for x in sec)
        assert "ocpp_txq.log" in info and "ocpp_dm.json" in info
        r = c.send("GW-P", "RequestStartTransaction", {"evseId": 1, "remoteStartId": 7,
                                                       "idToken": {"idToken": "TAG", "type": "Central"}})
        assert r.status == "Accepted"  # a new transaction after the damage
        waiting.wait_for(lambda: [e for e in c.calls("TransactionEvent") if e["eventType"] == "Started"
                                  and e["transactionInfo"]["transactionId"] != "TX-OLD"], timeout=30)
    finally:
        out = st.stop()
        c.stop()
    assert out["svc"]["state"] != "held" and out["svc"]["restarts"] == 0, out
    assert out["client"]["storage"]["ocpp_txq.log"]["bad_lines"] >= 2, out["client"]["storage"]  # + random tail lines
    assert (fs / "ocpp_txq.log.bad-1").exists() and (fs / "ocpp_dm.json.bad-1").exists()
