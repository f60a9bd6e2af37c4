"""End to end: the simulation runner, virtual-time determinism, hardware watchdog reset, audit log."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


JEZGRO = str(Path(sys.executable).parent / "jezgro")


def test_jezgro_sim_runs_to_summary_with_injection(tmp_path):
    out = tmp_path / "out"
    # --out relative to where jezgro runs (the firmware itself runs in the repository: it once looked there)
    p = subprocess.run([JEZGRO, "sim", "--seconds", "4", "--out", "out", "--quiet", "--no-csms",
                        "--inject", "audit_logger:crash@1s", "--inject", "audit_logger:hang@2s",
                        "--inject", "iso15118:crash@1s"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout
    s = json.loads((out / "summary.json").read_text())
    by = {x["name"]: x for x in s["services"]}
    # every service of the V2G table is built (SLAC was the last one absent)
    assert by["SLAC"]["state"] != "absent" and by["SLAC"]["starts"] == 1 and by["SLAC"]["restarts"] == 0
    applied = {i["inject"]: i["applied"] for i in s["injections"]}
    assert applied == {"audit_logger:crash@1s": True, "audit_logger:hang@2s": True,
                       "iso15118:crash@1s": True}
    iso = by["ISO15118"]
    assert iso["restarts"] == 1 and iso["last_fault"] == "exception" and iso["restart_latency_us"]["max"] < 100_000
    assert s["iso15118"]["iface"] == "lo" and s["ev"]["plugged_ms"] is not None  # the EV is on by default
    a = by["AUDIT_LOGGER"]
    assert a["restarts"] == 2 and a["last_fault"] == "hang"
    assert a["restart_latency_us"]["max"] < 100_000
    # One tick per 100 µs of simulated time (plus the one at t=0), none missed.
    assert s["critical"]["ticks_run"] == s["sim_ms"] * 10 + 1 and s["critical"]["ticks_missed"] == 0
    assert s["ipc"]["high_water"] >= 1 and s["heap"]["peak_bytes"] > 0
    assert s["ipc"]["layout_errors"] == 0  # every send matched the message catalogue
    assert "JEZGRO-GW simulation summary" in p.stdout
    logs = subprocess.run([JEZGRO, "logs", "--dir", str(out / "fs"), "--json"], capture_output=True,
                          text=True, timeout=60)
    recs = [json.loads(x) for x in logs.stdout.splitlines()]
    evs = [(r["ev"], r["svc"]) for r in recs]
    assert ("crash", "AUDIT_LOGGER") in evs and ("watchdog", "AUDIT_LOGGER") in evs
    assert evs.count(("restart", "AUDIT_LOGGER")) == 2
    crash = next(r for r in recs if r["ev"] == "crash")
    assert "InjectedFault" in crash["text"] and "Traceback" in crash["text"]


def test_virtual_time_is_deterministic(mp, tmp_path):
    code = """
import simmain, harness
s = simmain.main(["--seconds", "3", "--fs", "{fs}", "--status-ms", "100000",
                  "--inject", "audit_logger:crash@0.5", "--inject", "audit_logger:stall@1"])
harness.result(s)
"""
    runs = []
    for i in range(2):
        fs = tmp_path / f"fs{i}"
        fs.mkdir()
        r = mp(code.format(fs=fs))
        recs = [json.loads(line[:line.rindex(" #")]) for line in (fs / "audit.log").read_text().splitlines()]
        runs.append((r.data, [(x["t_ms"], x["ev"], x["svc"]) for x in recs]))
    (a, la), (b, lb) = runs
    assert la == lb  # same events at the same virtual instants
    assert a["critical"]["ticks_run"] == b["critical"]["ticks_run"] == 30001
    assert a["events"] == b["events"]
    assert [x[1] for x in la].count("watchdog") == 1


def test_wall_clock_mode_runs_in_real_time(mp, tmp_path):
    r = mp("""
import simmain, harness, time
t0 = time.ticks_ms()
s = simmain.main(["--seconds", "1", "--wall", "--fs", "{fs}", "--status-ms", "100000"])
s["wall_ms"] = time.ticks_diff(time.ticks_ms(), t0)
harness.result(s)
""".format(fs=tmp_path), timeout=60)
    d = r.data
    assert d["mode"] == "wall" and 950 <= d["wall_ms"] <= 2500
    # Every tick instant of that real second either ran or is counted as missed.
    assert 9500 <= d["critical"]["ticks_run"] + d["critical"]["ticks_missed"] <= 10100


def test_quarantined_critical_service_starves_hw_watchdog_and_reset_is_reported(mp, tmp_path):
    r = mp("""
import simmain, harness
s = simmain.main(["--config-module", "tconfig_critloop", "--seconds", "5", "--fs", "{fs}",
                  "--status-ms", "100000", "--hwwdt-ms", "1000"])
harness.result(s)
""".format(fs=tmp_path), timeout=60)
    d = r.data
    assert d["boots"] >= 2
    assert d["reboots"][0]["reason"] == "hardware watchdog expired"
    # The boot after the reset knows why it happened and which service caused it.
    assert d["reset"] == {"cause": "watchdog", "service": "PLL_SYNC", "reason": "quarantined"}
    lines = (tmp_path / "audit.log").read_text().splitlines()
    recs = [json.loads(x[:x.rindex(" #")]) for x in lines]
    rc = [x for x in recs if x["ev"] == "reset_cause" and x["boot"] == 2]
    assert rc and "watchdog PLL_SYNC quarantined" in rc[0]["text"]
    assert any(x["ev"] == "quarantine" and x["svc"] == "PLL_SYNC" and x["boot"] == 1 for x in recs)


def test_services_tables_match_spec_totals():
    for name, total in (("v2g", 368), ("bridge", 256)):
        p = subprocess.run([JEZGRO, "services", name, "--json"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        t = json.loads(p.stdout)
        assert sum(r[4] for r in t["rows"]) == total == t["total_kb"]
        assert t["rows"][0][1] == "KERNEL"
    human = subprocess.run([JEZGRO, "services", "v2g"], capture_output=True, text=True, timeout=60).stdout
    assert "memory 368 KB (spec: ~368 KB) -> matches" in human
    assert "100 µs" in human and "CURRENT_CTRL" in human


def test_default_sim_talks_to_a_local_csms(tmp_path):
    out = tmp_path / "out"
    # 8 s: the EV's ChargeParameterDiscovery comes after its authorization (Autocharge: Authorize with the CSMS)
    p = subprocess.run([JEZGRO, "sim", "--seconds", "8", "--out", str(out), "--quiet"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["mode"] == "wall"
    by = {x["name"]: x for x in s["services"]}
    assert by["OCPP_CLIENT"]["starts"] == 1 and by["OCPP_CLIENT"]["restarts"] == 0
    log = [json.loads(x) for x in (out / "csms.jsonl").read_text().splitlines()]
    actions = [r["msg"][2] for r in log if r["dir"] == "rx" and r["msg"][0] == 2]
    assert actions[0] == "BootNotification" and "StatusNotification" in actions
    assert "Authorize" in actions and "TransactionEvent" in actions  # the session is a transaction
    # The simulated EV's charging needs, from our SECC's ChargeParameterDiscovery through OCPP_CLIENT.
    needs = [r["msg"][3] for r in log if r["dir"] == "rx" and r["msg"][0] == 2 and r["msg"][2] == "NotifyEVChargingNeeds"]
    assert needs == [{"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase", "acChargingParameters": {
        "evMaxCurrent": 16, "evMinCurrent": 6, "evMaxVoltage": 230, "energyAmount": 30000}}}], (actions, s.get("ev"))


def test_sim_ev_session_captured_to_pcapng(tmp_path):
    """`jezgro sim --ev iso20-dc-bpt --pcap`: our EVCC and the gateway's SECC run a -20 DC BPT session
    over loopback in virtual time, the printed summary shows it, and the SECC's capture holds the SDP
    exchange and every V2GTP message of the session in order, readable by our strict pcapng reader."""
    from pcapng_check import read, v2gtp_messages
    out = tmp_path / "out"
    p = subprocess.run([JEZGRO, "sim", "--seconds", "6", "--out", str(out), "--quiet", "--no-csms",
                        "--ev", "iso20-dc-bpt", "--ev-loops", "10", "--pcap", "s.pcapng"],
                       capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert p.returncode == 0, p.stderr + p.stdout
    s = json.loads((out / "summary.json").read_text())
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and h["protocol"] == "urn:iso:std:iso:15118:-20:DC", h
    assert "ISO 15118 session 1: ISO 15118-20" in p.stdout and "SessionStop" in p.stdout
    pc = read(str(out / "fs" / "s.pcapng"))
    assert [x.payload[2:4].hex() for x in pc.udp()] == ["9000", "9001"]
    streams = list(pc.tcp_streams().values())
    assert len(streams) == 2
    msgs = sorted((v2gtp_messages(st) for st in streams), key=len)
    # requests to the SECC and its responses: one each per message of the session record
    assert len(msgs[0]) == len(msgs[1]) == len(h["requests"]) == h["messages"], (h["messages"], len(msgs[0]))
    assert {pt for m in msgs for pt, _ in m[1:]} == {0x8002, 0x8004}  # -20 common and DC schema sets


def test_live_status_state_names_come_from_the_firmware():
    """jezgro sim's live view names states as the kernel does (firmware/jezgro/const.py ST_NAMES, read
    from the source, not typed again), a held (quarantined) service in capitals."""
    from jezgro_host import live, mp
    p = mp.run_code("from jezgro.const import ST_NAMES, ST_HELD\nprint(list(ST_NAMES), ST_HELD)")
    assert p.returncode == 0, p.stderr
    names, held = p.stdout.rsplit(" ", 1)
    assert live.STATE_NAMES == json.loads(names.replace("'", '"'))
    assert live._state(int(held)) == "HELD"
