"""Every charging session is a metered OCPP transaction: `jezgro sim` with the local CSMS (the `ocpp`
package, schema validation on), our EVCC as the EV, the grid plant behind the converter. The ISO 15118
session drives the TransactionEvent lifecycle (plug-in from the session's first sign while the SLAC
service is absent), the EV is authorized by Autocharge (its EVCCID as a MacAddress idToken, Authorize
with the CSMS while the SECC answers EVSEProcessing=Ongoing), and the energy registers count what the
control loop measured, compared with what the plant really delivered."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

JEZGRO = str(Path(sys.executable).parent / "jezgro")


def _run(argv, cwd, timeout):
    # As root: in a network namespace of its own, so that the simulated EV and SECC (loopback, SDP)
    # never meet another simulation running on the same host at the same time.
    if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip"):
        argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _sim(tmp_path, dm, seconds=24, extra=()):
    out = tmp_path / "out"
    fs = out / "fs"
    fs.mkdir(parents=True)
    (fs / "ocpp_dm.json").write_text(json.dumps(dm))
    (fs / "grid.json").write_text(json.dumps({"grid_code": "UK-G99"}))  # the fastest ramp of the profiles
    # paced: virtual time held back to the wall clock, so the CSMS's answers come in time and a loaded
    # host slows the simulation down instead of dropping control ticks
    p = _run([JEZGRO, "sim", "--seconds", str(seconds), "--out", str(out), "--quiet", "--paced", *extra],
             tmp_path, 300)
    assert p.returncode == 0, p.stderr + p.stdout
    s = json.loads((out / "summary.json").read_text())
    log = [json.loads(x) for x in (out / "csms.jsonl").read_text().splitlines()]
    calls = [(r["msg"][2], r["msg"][3]) for r in log if r["dir"] == "rx" and r["msg"][0] == 2]
    errors = [r for r in log if r.get("msg") and r["msg"][0] == 4]
    return s, calls, errors


def _register(ev, measurand):
    return [v["value"] for mv in ev.get("meterValue", []) for v in mv["sampledValue"] if v["measurand"] == measurand]


def test_default_session_is_a_metered_transaction(tmp_path):
    s, calls, errors = _sim(tmp_path, {"AuthCtrlr.AutochargeEnabled": "true",
                                       "SampledDataCtrlr.TxUpdatedInterval": "1"}, extra=("--ev-loops", "60"))
    assert errors == []  # no CALLERROR either way: every message passed the CSMS's schema validation
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop"
    txe = [p for a, p in calls if a == "TransactionEvent"]
    assert [e["seqNo"] for e in txe] == list(range(len(txe)))
    assert len({e["transactionInfo"]["transactionId"] for e in txe}) == 1
    kinds = [(e["eventType"], e["triggerReason"], e["transactionInfo"].get("chargingState")) for e in txe]
    # plug-in starts it (TxStartPoint EVConnected,Authorized), SessionSetup, Autocharge, PowerDelivery
    assert kinds[:4] == [("Started", "CablePluggedIn", "EVConnected"), ("Updated", "EVDetected", "EVConnected"),
                         ("Updated", "Authorized", "EVConnected"), ("Updated", "ChargingStateChanged", "Charging")]
    periodic = [e for e in txe if e["triggerReason"] == "MeterValuePeriodic"]
    assert len(periodic) >= 3 and all(e["transactionInfo"]["chargingState"] == "Charging" for e in periodic)
    assert kinds[-2:] == [("Updated", "ChargingStateChanged", "SuspendedEV"),
                          ("Ended", "StopAuthorized", "SuspendedEV")]
    assert txe[-1]["transactionInfo"]["stoppedReason"] == "StoppedByEV"
    assert txe[2]["idToken"] == {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"}
    auth = [p for a, p in calls if a == "Authorize"]
    assert auth == [{"idToken": {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"}}]
    status = [p["connectorStatus"] for a, p in calls if a == "StatusNotification"]
    assert status == ["Available", "Occupied", "Available"]
    # meter values: registers that only grow, the measured power in the charge loop
    imp = [_register(e, "Energy.Active.Import.Register") for e in txe]
    series = [v[0] for v in imp if v]
    assert series == sorted(series) and series[-1] > series[0]
    assert max(_register(periodic[-1], "Power.Active.Import")) > 100  # W, measured while ramping up
    assert _register(periodic[-1], "Voltage")[0] == __import__("pytest").approx(230, abs=3)
    # the registers against the plant's truth over the whole run (the grid-side ramp-down after the
    # session ends is counted on the register, outside the transaction)
    meter = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]["meter"]
    plant = s["plant"]
    assert plant["import_wh"] > 0.3
    # paced against a real CSMS the run is not deterministic, the tick-integrated energy still is exact
    print("energy: meter", meter, "plant", plant)  # the figures docs/ocpp.md reports (pytest -s)
    assert abs(meter["import_wh"] - plant["import_wh"]) <= METER_TOLERANCE * plant["import_wh"], (meter, plant)
    assert meter["export_wh"] <= 0.01 * plant["import_wh"], (meter, plant)
    assert meter["faults"] == 0
    # the transaction's own energy: what the register grew by between Started and Ended
    assert 0 < series[-1] - series[0] <= meter["import_wh"] + 0.01


# The registers against the plant's own energy count (issue 14: 1 %). The energy is integrated at the
# 10 kHz control tick from the ADC samples (grid/energy.py), so neither virtual nor wall-clock time nor
# a loaded host changes what is counted; what remains is the ADC's quantisation and the reading lag.
METER_TOLERANCE = 0.01


def _offline_sim(tmp_path, dm, *extra):
    # the gateway in virtual time with OCPP_CLIENT configured but its CSMS unreachable
    out = tmp_path / "out"
    fs = out / "fs"
    fs.mkdir(parents=True)
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "OFF",
                                              "security_profile": 0}))
    (fs / "ocpp_dm.json").write_text(json.dumps(dict({"AuthCtrlr.AutochargeEnabled": "true",
                                                      "OCPPCommCtrlr.OfflineThreshold": "1",
                                                      "SampledDataCtrlr.TxUpdatedInterval": "2"}, **dm)))
    (fs / "grid.json").write_text(json.dumps({"grid_code": "UK-G99"}))
    p = _run([JEZGRO, "sim", "--out", str(out), "--quiet", "--no-csms", *extra], tmp_path, 300)
    assert p.returncode == 0, p.stderr + p.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["mode"] == "virtual"
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    return s, [pl for a, pl in q if a == "TransactionEvent"]


def test_rejected_id_token_gets_no_power(tmp_path):
    """Offline, an unknown idToken (the EVCCID, not in the authorization cache) with
    OfflineTxForUnknownIdEnabled false is rejected: AuthorizationRes FAILED ends the ISO 15118 session
    before any power, the transaction started at plug-in ends DeAuthorized."""
    s, txe = _offline_sim(tmp_path, {"AuthCtrlr.OfflineTxForUnknownIdEnabled": "false"}, "--seconds", "10")
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "Failed" and h["responses"][-1] == ["AuthorizationRes", "FAILED"], h
    assert "PowerDeliveryReq" not in h["requests"] and h["energy_wh"] == 0
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]
    assert ocpp["auth_last"] == "Invalid"
    assert s["plant"]["import_wh"] < 0.01 and ocpp["meter"]["import_wh"] < 0.01, (s["plant"], ocpp["meter"])
    assert [(e["eventType"], e["triggerReason"]) for e in txe] == [
        ("Started", "CablePluggedIn"), ("Updated", "EVDetected"), ("Ended", "Deauthorized")]
    assert txe[-1]["transactionInfo"]["stoppedReason"] == "DeAuthorized" and "idToken" not in txe[0]
    assert [e["seqNo"] for e in txe] == [0, 1, 2] and all(e["offline"] for e in txe)


def test_offline_session_meters_within_one_percent_of_the_plant(tmp_path):
    """Virtual time (every control tick and POWER_MGR poll on schedule), the CSMS unreachable: the EV is
    authorized by the offline rules (Autocharge, OfflineTxForUnknownIdEnabled, offline longer than
    OfflineThreshold), its transaction is queued with offline flags, and the import register agrees with
    the energy the plant delivered within 1 %."""
    s, txe = _offline_sim(tmp_path, {"AuthCtrlr.OfflineTxForUnknownIdEnabled": "true"}, "--seconds", "24",
                          "--ev-loops", "100")
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and h["requests"].count("AuthorizationReq") >= 2  # Ongoing, then Finished
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]
    assert ocpp["auth_last"] == "Accepted" and ocpp["stats"]["connects"] == 0
    meter, plant = ocpp["meter"], s["plant"]
    assert plant["import_wh"] > 1.0
    print("energy: meter", meter, "plant", plant)  # the figures docs/ocpp.md reports (pytest -s)
    assert abs(meter["import_wh"] - plant["import_wh"]) <= METER_TOLERANCE * plant["import_wh"], (meter, plant)
    assert meter["export_wh"] <= 0.01 * plant["import_wh"] and meter["faults"] == 0, (meter, plant)
    # every TransactionEvent waits in the persistent queue, offline, numbered without gaps
    assert [e["seqNo"] for e in txe] == list(range(len(txe))) and all(e.get("offline") for e in txe)
    assert txe[0]["eventType"] == "Started" and txe[-1]["eventType"] == "Ended"
    assert txe[-1]["transactionInfo"]["stoppedReason"] == "StoppedByEV"
    assert any(e.get("idToken") == {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"} for e in txe)


def test_energy_registers_continue_across_a_power_cycle(tmp_path):
    """The registers are monotonic across a power cycle: a second boot of the same gateway (same
    filesystem, a new process) starts from what the first one saved (ocpp_meter.json, written before the
    Ended TransactionEvent reported it) and adds only what the plant delivered in its own session."""
    s1, txe = _offline_sim(tmp_path, {"AuthCtrlr.OfflineTxForUnknownIdEnabled": "true"}, "--seconds", "16",
                           "--ev-loops", "60")
    fs = tmp_path / "out" / "fs"
    m1 = next(x for x in s1["services"] if x["name"] == "OCPP_CLIENT")["status"]["meter"]
    saved = json.loads((fs / "ocpp_meter.json").read_text())
    ended = [sv["value"] for mv in txe[-1]["meterValue"] for sv in mv["sampledValue"]
             if sv["measurand"] == "Energy.Active.Import.Register"]
    assert txe[-1]["eventType"] == "Ended" and ended and ended[-1] > 0.5, txe[-1]
    # saved before the Ended event reported it; what the grid side's ramp-down added after it, within the
    # last SAVE_S (10 s) before the power was cut, is the documented loss (never counted twice)
    assert ended[-1] <= saved["import_wh"] + 0.005 and saved["import_wh"] <= m1["import_wh"] + 1e-6, (ended, saved, m1)
    p = _run([JEZGRO, "sim", "--out", str(tmp_path / "out"), "--quiet", "--no-csms", "--seconds", "16",
              "--ev-loops", "60"], tmp_path, 300)
    assert p.returncode == 0, p.stderr + p.stdout
    s2 = json.loads((tmp_path / "out" / "summary.json").read_text())
    m2 = next(x for x in s2["services"] if x["name"] == "OCPP_CLIENT")["status"]["meter"]
    delivered = s2["plant"]["import_wh"]
    assert delivered > 0.5 and m2["import_wh"] >= saved["import_wh"], (m2, saved)
    assert abs(m2["import_wh"] - saved["import_wh"] - delivered) <= METER_TOLERANCE * delivered, (m2, saved, delivered)
    assert m2["export_wh"] >= saved["export_wh"] and m2["faults"] == 0, (m2, saved)


def test_request_start_and_stop_drive_the_iso15118_session(tmp_path):
    """No Autocharge: the EV waits in Authorization (Ongoing) until the CSMS's RequestStartTransaction,
    whose idToken authorizes it; RequestStopTransaction makes the SECC answer StopCharging, the EV stops
    (PowerDelivery Stop, SessionStop) and the transaction ends Remote. The CSMS runs in this process,
    so the simulation shares the host's loopback here."""
    import time
    from jezgro_host.csms import Csms
    from waiting import wait_for
    c = Csms(log_path=tmp_path / "csms.jsonl", heartbeat_s=60).start()
    out = tmp_path / "out"
    fs = out / "fs"
    fs.mkdir(parents=True)
    (fs / "ocpp_dm.json").write_text(json.dumps({"SampledDataCtrlr.TxUpdatedInterval": "1"}))
    sid = "GW-REMOTE"
    p = subprocess.Popen([JEZGRO, "sim", "--seconds", "22", "--out", str(out), "--quiet", "--paced",
                          "--csms", c.url, "--station-id", sid, "--ev-loops", "400"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        def tx(trigger):
            return [e for e in c.calls("TransactionEvent") if e["triggerReason"] == trigger]
        wait_for(lambda: tx("EVDetected"), 40)
        time.sleep(1.0)  # the EV keeps asking: Ongoing
        assert not tx("Authorized") and not tx("ChargingStateChanged")
        r = c.send(sid, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 77,
                                                    "idToken": {"idToken": "APP-77", "type": "Central"}})
        assert r.status == "Accepted"
        wait_for(lambda: [e for e in tx("ChargingStateChanged") if e["transactionInfo"]["chargingState"] == "Charging"],
                 30)
        tx_id = tx("RemoteStart")[0]["transactionInfo"]["transactionId"]
        time.sleep(1.0)
        assert c.send(sid, "RequestStopTransaction", {"transactionId": tx_id}).status == "Accepted"
        wait_for(lambda: [e for e in c.calls("TransactionEvent") if e["eventType"] == "Ended"], 30)
        o, e = p.communicate(timeout=120)
        assert p.returncode == 0, e + o
    finally:
        if p.poll() is None:
            p.kill()
        c.stop()
    s = json.loads((out / "summary.json").read_text())
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and h["requests"].count("AuthorizationReq") >= 2, h
    assert s["ev"]["result"]["detail"] == "EVSE: StopCharging", s["ev"]["result"]
    assert h["requests"][-2:] == ["PowerDeliveryReq", "SessionStopReq"]
    txe = c.calls("TransactionEvent")
    assert [e["seqNo"] for e in txe] == list(range(len(txe)))
    started = txe[0]
    assert started["triggerReason"] == "CablePluggedIn"
    remote = tx("RemoteStart")
    assert remote[0]["idToken"] == {"idToken": "APP-77", "type": "Central"}
    assert remote[0]["transactionInfo"]["remoteStartId"] == 77 and remote[0]["transactionInfo"]["transactionId"] == \
        started["transactionInfo"]["transactionId"]
    end = txe[-1]
    assert (end["eventType"], end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == \
        ("Ended", "RemoteStop", "Remote")
    assert c.errors_sent() == []


def _offline_fs(tmp_path, tx_updated_interval):
    # the filesystem of an i_run gateway whose CSMS is unreachable: offline rules authorize Autocharge
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "OFF",
                                              "security_profile": 0}))
    (fs / "ocpp_dm.json").write_text(json.dumps({
        "AuthCtrlr.AutochargeEnabled": "true", "AuthCtrlr.OfflineTxForUnknownIdEnabled": "true",
        "OCPPCommCtrlr.OfflineThreshold": "1", "SampledDataCtrlr.TxUpdatedInterval": tx_updated_interval}))
    (fs / "grid.json").write_text(json.dumps({"grid_code": "UK-G99"}))
    return fs


def test_bpt_discharge_counts_on_the_export_register(mp, tmp_path):
    """An ISO 15118-20 DC BPT EV (Dynamic) discharges at the station controller's -5 kW command: the
    energy goes on Energy.Active.Export.Register, the import register never drops, and the export
    register agrees with what the plant exported (virtual time, the CSMS unreachable: offline rules)."""
    fs = _offline_fs(tmp_path, "1")
    r = mp(f"""
import i_run
i_run.run({["--fs", str(fs), "--seconds", "40", "--status-ms", "1000", "--ev", "iso20-dc-bpt",
            "--ev-loops", "150"]!r}, 0, "ChargeLoop", (1500, -5000, 3), {{"bpt_mode": "Dynamic"}}, 6000)
""", timeout=300, heap="4M")
    s = r.data
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and h["notes"]["control"] == "Dynamic" and h["notes"]["p_min_w"] <= -4500, h
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]
    meter, plant = ocpp["meter"], s["plant"]
    assert plant["export_wh"] > 0.5, plant
    # the run goes on 6 s after the session, so the grid-side ramp-down has ended and the register
    # (read once a second) has counted it; what power is left at the end may lack one reading
    lag_wh = abs(meter["p_w"]) * 1.1 / 3600
    print("energy: meter", meter, "plant", plant)
    assert abs(meter["export_wh"] - plant["export_wh"]) <= METER_TOLERANCE * plant["export_wh"] + lag_wh, (meter, plant)
    assert meter["import_wh"] <= 0.05 * plant["export_wh"] + 0.02, (meter, plant)
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    txe = [pl for a, pl in q if a == "TransactionEvent"]
    imp = [v[0] for v in (_register(e, "Energy.Active.Import.Register") for e in txe) if v]
    exp = [v[0] for v in (_register(e, "Energy.Active.Export.Register") for e in txe) if v]
    assert imp == sorted(imp) and exp == sorted(exp) and exp[-1] > exp[0] + 0.3, (imp, exp)
    assert any(_register(e, "Power.Active.Export") and _register(e, "Power.Active.Export")[0] > 500 for e in txe)


def test_import_limit_below_the_ev_minimum_is_suspended_evse(mp, tmp_path):
    """The EVSE side withholds power without any OCPP limit: mid-charge, POWER_MGR gets an import limit
    of 1 kW, below what the three-phase AC EV can take (its ChargingNeeds evMinCurrent x 230 V x 3):
    the transaction goes Charging -> SuspendedEVSE (ChargingStateChanged) and ends from there."""
    fs = _offline_fs(tmp_path, "0")
    r = mp(f"""
import i_run
i_run.run({["--fs", str(fs), "--seconds", "20", "--status-ms", "1000", "--ev-loops", "120"]!r}, 0, "ChargeLoop",
          (9000, 1000))
""", timeout=300, heap="4M")
    s = r.data
    assert s["trigger"]["cap_sent"] == 0, s["trigger"]
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    txe = [pl for a, pl in q if a == "TransactionEvent"]
    txe = [e for e in txe if e["transactionInfo"]["transactionId"] == txe[0]["transactionInfo"]["transactionId"]]
    states = [(e["triggerReason"], e["transactionInfo"]["chargingState"]) for e in txe]
    i = states.index(("ChargingStateChanged", "Charging"))
    assert ("ChargingStateChanged", "SuspendedEVSE") in states[i + 1:], states
    assert all(st != "Charging" for _, st in states[states.index(("ChargingStateChanged", "SuspendedEVSE")):]), states
    assert [e["seqNo"] for e in txe] == list(range(len(txe)))


def test_crashed_iso15118_ends_the_transaction_at_once_with_its_energy(mp, tmp_path):
    """ISO15118 crashes mid-charge (injected from inside the service after 40 ChargingStatus requests):
    the supervisor restarts it, and with the incarnation that ran it the EV's session is gone.
    OCPP_CLIENT sees the new incarnation (ctx.incarnation) and ends the transaction at once,
    triggerReason EVCommunicationLost (stoppedReason Other: 2.0.1 has no better one), not 10 s later
    when EV_STATUS would have gone missing; the Ended event carries the registers with the energy."""
    fs = _offline_fs(tmp_path, "1")
    r = mp(f"""
import i_run
i_run.run({["--fs", str(fs), "--seconds", "20", "--status-ms", "1000", "--ev-loops", "120"]!r}, 40, "ChargingStatus")
""", timeout=300, heap="4M")
    s = r.data
    assert s["trigger"]["crash_ms"] is not None, s["trigger"]
    iso = next(x for x in s["services"] if x["name"] == "ISO15118")
    assert iso["restarts"] == 1 and iso["faults"] == 1, iso
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    txe = [pl for a, pl in q if a == "TransactionEvent"]
    first = txe[0]["transactionInfo"]["transactionId"]
    mine = [e for e in txe if e["transactionInfo"]["transactionId"] == first]
    end = mine[-1]
    assert (end["eventType"], end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == \
        ("Ended", "EVCommunicationLost", "Other"), [(e["eventType"], e["triggerReason"]) for e in mine]
    # at once: the last periodic meter value (every second while charging) is at most 2 s older
    periodic = [e for e in mine if e["triggerReason"] == "MeterValuePeriodic"]
    assert periodic and _epoch(end["timestamp"]) - _epoch(periodic[-1]["timestamp"]) <= 2, \
        (periodic[-1]["timestamp"], end["timestamp"])
    # the energy is kept: the Ended registers are the transaction's, after the power that flowed
    imp = [v[0] for v in (_register(e, "Energy.Active.Import.Register") for e in mine) if v]
    assert _register(end, "Energy.Active.Import.Register") and imp == sorted(imp) and imp[-1] > imp[0], imp
    assert [e["seqNo"] for e in mine] == list(range(len(mine)))


def _epoch(ts):
    from datetime import datetime
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
