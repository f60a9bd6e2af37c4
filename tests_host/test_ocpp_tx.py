"""Transactions through a CSMS outage and a power loss: zero lost or reordered TransactionEvents, `offline`
flags, seqNo persisted, reconnect back-off per OCPP-J §5.3, no second BootNotification on reconnect."""
from __future__ import annotations

import json
import time
from functools import partial

import pytest

from jezgro_host.csms import Csms
from station import StationProcess
import waiting
from ocpp_events import check_sequence

SID = "GW-TX"
FAST = {"OCPPCommCtrlr.RetryBackOffWaitMinimum": "1", "OCPPCommCtrlr.RetryBackOffRandomRange": "0",
        "OCPPCommCtrlr.RetryBackOffRepeatTimes": "1", "OCPPCommCtrlr.OfflineThreshold": "1",
        "SampledDataCtrlr.TxUpdatedInterval": "1", "OCPPCommCtrlr.MessageTimeout": "5",
        # no EV here: RequestStartTransaction's authorization alone starts the transaction
        "TxCtrlr.TxStartPoint": "Authorized", "TxCtrlr.EVConnectionTimeOut": "3600"}


@pytest.fixture
def csms(tmp_path):
    c = Csms(log_path=tmp_path / "csms.jsonl", heartbeat_s=60).start()
    yield c
    c.stop()


# outages and reconnect back-off: longer than the others
wait_for = partial(waiting.wait_for, timeout=20.0)


def station(c, fs, **kw):
    fs.mkdir(parents=True, exist_ok=True)
    if not (fs / "ocpp_dm.json").exists():
        (fs / "ocpp_dm.json").write_text(json.dumps(FAST))
    return StationProcess(fs, {"url": c.url, "station_id": SID, "security_profile": 0}, **kw).start()


def tx_events(c):
    return c.calls("TransactionEvent")


def test_outage_mid_transaction_zero_loss_and_backoff(csms, tmp_path):
    fs = tmp_path / "fs"
    st = station(csms, fs)
    try:
        wait_for(lambda: csms.calls("StatusNotification"))
        r = csms.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 42,
                                                       "idToken": {"idToken": "TAG1", "type": "Central"}})
        assert r.status == "Accepted"
        started = wait_for(lambda: tx_events(csms))
        tx_id = started[0]["transactionInfo"]["transactionId"]
        wait_for(lambda: len(tx_events(csms)) >= 2)
        # outage: connection dropped, reconnects refused for ~6 s
        csms.refuse = True
        n_before = len(tx_events(csms))
        csms.disconnect(SID)
        time.sleep(6)
        csms.refuse = False
        wait_for(lambda: len(csms.stations) == 1)
        wait_for(lambda: any(e.get("offline") for e in tx_events(csms)))
        r = csms.send(SID, "GetTransactionStatus", {"transactionId": tx_id})
        assert r.ongoing_indicator is True
        r = csms.send(SID, "RequestStopTransaction", {"transactionId": tx_id})
        assert r.status == "Accepted"
        wait_for(lambda: any(e["eventType"] == "Ended" for e in tx_events(csms)))
    finally:
        out = st.stop()
    mine = check_sequence(tx_events(csms), tx_id)
    assert mine[-1]["eventType"] == "Ended" and mine[-1]["transactionInfo"]["stoppedReason"] == "Remote"
    offline = [e for e in mine if e.get("offline")]
    assert len(offline) >= 3  # ~1 per second of the 6 s outage were queued and replayed
    assert len(mine) > n_before + len(offline)
    assert mine[0]["transactionInfo"]["remoteStartId"] == 42
    assert out["queue"] == 0 and out["stats"]["queue_dropped"] == 0
    # back-off: 1 s, doubled once (RepeatTimes 1), then kept
    b = out["backoff_ms"]
    assert b[:3] == [1000, 2000, 2000], b
    assert len(csms.calls("BootNotification")) == 1  # not resent on reconnect
    # outage longer than OfflineThreshold: StatusNotification again after reconnecting
    assert len(csms.calls("StatusNotification")) >= 3
    assert csms.errors_sent() == []
    assert out["svc"]["faults"] == 0


def test_power_loss_with_queued_events_and_torn_write(csms, tmp_path):
    fs = tmp_path / "fs"
    st = station(csms, fs)
    wait_for(lambda: csms.calls("StatusNotification"))
    csms.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 7,
                                               "idToken": {"idToken": "TAG2", "type": "Central"}})
    tx_id = wait_for(lambda: tx_events(csms))[0]["transactionInfo"]["transactionId"]
    csms.refuse = True
    csms.disconnect(SID)
    log = fs / "ocpp_txq.log"
    wait_for(lambda: log.exists() and len(log.read_text().splitlines()) >= 2)
    st.kill()  # power loss while events sit in the queue
    queued = log.read_text().splitlines()
    assert len(queued) >= 2
    # and a power loss in the middle of the next append: a torn record at the end
    with open(fs / "ocpp_txq.log", "a") as f:
        f.write('0badc0de ["TransactionEvent", {"eventTy')
    csms.refuse = False
    st = station(csms, fs)
    try:
        wait_for(lambda: len(csms.calls("BootNotification")) == 2)  # after a reboot: registered again
        wait_for(lambda: len(tx_events(csms)) >= 1 + len(queued))
        wait_for(lambda: any(e["eventType"] == "Ended" for e in tx_events(csms)))
        # the transaction ended at boot (its session did not survive the power loss)
        assert csms.send(SID, "RequestStopTransaction", {"transactionId": tx_id}).status == "Rejected"
    finally:
        out = st.stop()
    mine = check_sequence(tx_events(csms), tx_id)
    assert sum(1 for e in mine if e.get("offline")) >= len(queued)
    end = mine[-1]
    assert (end["eventType"], end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == \
        ("Ended", "AbnormalCondition", "PowerLoss")
    assert end["offline"] is True  # queued at boot, before the CSMS was reached
    assert end["meterValue"][0]["sampledValue"][0]["measurand"] == "Energy.Active.Import.Register"
    assert out["queue"] == 0
    assert csms.errors_sent() == []


def test_message_attempts_and_timeout(csms, tmp_path):
    """A TransactionEvent answered with CALLERROR is retried after MessageAttemptInterval (x attempt);
    a CALL without answer ends after MessageTimeout; order is kept throughout."""
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp_dm.json").write_text(json.dumps(dict(FAST, **{
        "OCPPCommCtrlr.MessageAttemptInterval": "1", "OCPPCommCtrlr.MessageAttempts": "3",
        "OCPPCommCtrlr.MessageTimeout": "2", "SampledDataCtrlr.TxUpdatedInterval": "0"})))
    st = station(csms, fs)
    try:
        wait_for(lambda: csms.calls("StatusNotification"))
        csms.fail_next["TransactionEvent"] = 2
        csms.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 9,
                                                   "idToken": {"idToken": "T", "type": "Central"}})
        wait_for(lambda: len(tx_events(csms)) >= 3)  # 2 refused attempts, then accepted
        csms.delay["Heartbeat"] = 4
        csms.send(SID, "TriggerMessage", {"requestedMessage": "Heartbeat"})
        time.sleep(3)
        csms.delay.clear()
        tx_id = tx_events(csms)[0]["transactionInfo"]["transactionId"]
        csms.send(SID, "RequestStopTransaction", {"transactionId": tx_id})
        wait_for(lambda: any(e["eventType"] == "Ended" for e in tx_events(csms)))
    finally:
        out = st.stop()
    evs = tx_events(csms)
    assert [e["seqNo"] for e in evs[:3]] == [0, 0, 0]  # the same Started event, attempted 3 times
    t = [r["t"] for r in csms.records if r["dir"] == "rx" and r["msg"][0] == 2 and r["msg"][2] == "TransactionEvent"]
    assert t[1] - t[0] >= 0.9 and t[2] - t[1] >= 1.9  # MessageAttemptInterval x attempt
    assert [e["seqNo"] for e in evs[3:]] == [1]
    assert out["stats"]["timeouts"] == 1 and out["stats"]["queue_dropped"] == 0
    assert out["svc"]["faults"] == 0


def test_control_pilot_is_the_plug_in(csms, tmp_path):
    """CP_STATE from the SLAC service is the plug-in event (no ISO 15118 session needed): B starts the
    transaction (TxStartPoint EVConnected) with Occupied, A ends it EVDeparted / EVDisconnected with
    Available; F (EVSE fault) says nothing about the cable."""
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp_dm.json").write_text(json.dumps(dict(FAST, **{"TxCtrlr.TxStartPoint": "EVConnected,Authorized"})))
    code = "import o_station, harness\nk, out = o_station.run(60000, slac=True)\nharness.result(out)\n"
    st = station(csms, fs, code=code)
    try:
        wait_for(lambda: any(e["eventType"] == "Ended" for e in tx_events(csms)))
        time.sleep(1.5)  # CP F after A: no second transaction
    finally:
        out = st.stop()
    assert [x[0] for x in out["cp_peer"]] == ["B", "C", "A", "F"] and all(x[1] == 0 for x in out["cp_peer"])
    evs = [e for e in tx_events(csms) if e["triggerReason"] != "MeterValuePeriodic"]
    assert [(e["eventType"], e["triggerReason"]) for e in evs] == [("Started", "CablePluggedIn"),
                                                                    ("Ended", "EVDeparted")], evs
    assert evs[0]["transactionInfo"]["chargingState"] == "EVConnected"
    assert evs[1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert [s["connectorStatus"] for s in csms.calls("StatusNotification")] == ["Available", "Occupied", "Available"]
    assert csms.errors_sent() == []


def test_ended_event_carries_the_bounded_tx_ended_interval_series(csms, tmp_path):
    """SampledDataCtrlr.TxEndedInterval: the Ended TransactionEvent carries the TxEndedMeasurands
    sampled every interval during the transaction (context Sample.Periodic), then the end values
    (Transaction.End). The series is bounded (ENDED_VALUES = 48 sampled values): 5 measurands at 1 s
    for ~14 s fill it, so every second sample was dropped and the interval doubled; the event
    passes the CSMS's schema validation."""
    fs = tmp_path / "fs"
    fs.mkdir()
    ended = "Energy.Active.Import.Register,Energy.Active.Export.Register,Power.Active.Import,Power.Active.Export," \
            "Power.Reactive.Import"
    (fs / "ocpp_dm.json").write_text(json.dumps(dict(FAST, **{
        "SampledDataCtrlr.TxUpdatedInterval": "0", "SampledDataCtrlr.TxEndedInterval": "1",
        "SampledDataCtrlr.TxEndedMeasurands": ended})))
    st = station(csms, fs)
    try:
        wait_for(lambda: csms.calls("StatusNotification"))
        assert csms.send(SID, "RequestStartTransaction", {
            "evseId": 1, "remoteStartId": 5, "idToken": {"idToken": "TAG5", "type": "Central"}}).status == "Accepted"
        started = wait_for(lambda: tx_events(csms))[0]
        time.sleep(14)
        tx_id = started["transactionInfo"]["transactionId"]
        assert csms.send(SID, "RequestStopTransaction", {"transactionId": tx_id}).status == "Accepted"
        end = wait_for(lambda: [e for e in tx_events(csms) if e["eventType"] == "Ended"])[0]
        out = st.stop()
    finally:
        st.kill()
    assert out["svc"]["faults"] == 0
    assert csms.errors_sent() == []  # schema-valid for the ocpp package's CSMS
    mv = end["meterValue"]
    series = [m for m in mv if m["sampledValue"][0].get("context") == "Sample.Periodic"]
    assert mv[len(series):] == [mv[-1]] and mv[-1]["sampledValue"][0]["context"] == "Transaction.End"
    assert all(len(m["sampledValue"]) == 5 for m in mv)
    assert sum(len(m["sampledValue"]) for m in series) <= 48  # the cap
    assert 5 <= len(series) <= 9, [m["timestamp"] for m in series]
    stamps = [_epoch(m["timestamp"]) for m in series]
    assert stamps == sorted(stamps) and stamps[0] - _epoch(started["timestamp"]) <= 2.5
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) >= 1.5, gaps  # thinned: every second sample dropped, interval doubled
    assert _epoch(end["timestamp"]) - stamps[-1] <= 4.5, (stamps, end["timestamp"])


def _epoch(ts):
    from datetime import datetime
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
