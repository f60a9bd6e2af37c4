"""The remaining Core operations against the `ocpp` package CSMS (its schema validation checks every
request and response): BootNotification Pending -> Accepted, TriggerMessage, ChangeAvailability,
UnlockConnector, DataTransfer, GetTransactionStatus, Reset, MeterValues."""
from __future__ import annotations


import pytest
from ocpp.exceptions import SecurityError

from jezgro_host.csms import Csms
from station import StationProcess
from waiting import wait_for

SID = "GW-OPS"


def _try(fn):
    try:
        return fn()
    except SecurityError:
        return None


def test_core_operations(tmp_path):
    # interval 6 s: the station stays Pending long enough for the checks below on a loaded host
    c = Csms(log_path=tmp_path / "csms.jsonl", heartbeat_s=6, boot_status="Pending").start()
    st = StationProcess(tmp_path / "fs", {"url": c.url, "station_id": SID, "security_profile": 0}).start()
    try:
        # Pending: the CSMS may query the device model; other requests are refused until Accepted
        wait_for(lambda: c.calls("BootNotification"))
        c.boot_status = "Accepted"
        # the station reads Pending right after the CSMS answered: retry until it has
        r = wait_for(lambda: _try(lambda: c.send(SID, "GetVariables", {"getVariableData": [
            {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "SecurityProfile"}}]})), 5)
        assert r.get_variable_result[0]["attribute_value"] == "0"
        with pytest.raises(SecurityError):
            c.send(SID, "UnlockConnector", {"evseId": 1, "connectorId": 1})
        wait_for(lambda: c.calls("StatusNotification"), 20)  # retried after `interval`, then Accepted
        assert len(c.calls("BootNotification")) >= 2
        assert c.send(SID, "TriggerMessage", {"requestedMessage": "BootNotification"}).status == "Rejected"
        assert c.send(SID, "TriggerMessage", {"requestedMessage": "MeterValues",
                                              "evse": {"id": 1}}).status == "Accepted"
        mv = wait_for(lambda: c.calls("MeterValues"))
        assert mv[0]["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
        # clock-aligned meter values outside a transaction: MeterValues every AlignedDataCtrlr.Interval
        r = c.send(SID, "SetVariables", {"setVariableData": [{"component": {"name": "AlignedDataCtrlr"},
                                                              "variable": {"name": "Interval"},
                                                              "attributeValue": "1"}]})
        assert r.set_variable_result[0]["attribute_status"] == "Accepted"
        wait_for(lambda: any(m["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Clock"
                             for m in c.calls("MeterValues")))
        c.send(SID, "SetVariables", {"setVariableData": [{"component": {"name": "AlignedDataCtrlr"},
                                                          "variable": {"name": "Interval"}, "attributeValue": "0"}]})
        assert c.send(SID, "TriggerMessage", {"requestedMessage": "LogStatusNotification"}).status == \
            "NotImplemented"
        assert c.send(SID, "ChangeAvailability", {"operationalStatus": "Inoperative",
                                                  "evse": {"id": 1}}).status == "Accepted"
        wait_for(lambda: c.calls("StatusNotification")[-1]["connectorStatus"] == "Unavailable")
        r = c.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 3,
                                                    "idToken": {"idToken": "A", "type": "Central"}})
        assert r.status == "Rejected"  # unavailable
        c.send(SID, "ChangeAvailability", {"operationalStatus": "Operative"})
        wait_for(lambda: c.calls("StatusNotification")[-1]["connectorStatus"] == "Available")
        assert c.send(SID, "UnlockConnector", {"evseId": 1, "connectorId": 1}).status == "UnlockFailed"
        assert c.send(SID, "DataTransfer", {"vendorId": "com.example"}).status == "UnknownVendorId"
        assert c.send(SID, "GetTransactionStatus", {}).messages_in_queue is False
        r = c.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 4,
                                                    "idToken": {"idToken": "B", "type": "Central"}})
        assert r.status == "Accepted"
        assert c.send(SID, "ChangeAvailability", {"operationalStatus": "Inoperative",
                                                  "evse": {"id": 1}}).status == "Scheduled"
        assert c.send(SID, "Reset", {"type": "OnIdle"}).status == "Scheduled"
        tx_id = wait_for(lambda: c.calls("TransactionEvent"))[0]["transactionInfo"]["transactionId"]
        assert c.send(SID, "RequestStopTransaction", {"transactionId": tx_id}).status == "Accepted"
        # both Scheduled requests are carried out once the transaction is over
        wait_for(lambda: c.calls("StatusNotification")[-1]["connectorStatus"] == "Unavailable")
        n_status = len(c.calls("StatusNotification"))
        wait_for(lambda: any(b["reason"] == "RemoteReset" for b in c.calls("BootNotification")))
        # The rebooted station is registered once it reports its connectors again.
        wait_for(lambda: len(c.calls("StatusNotification")) > n_status)
        c.send(SID, "ChangeAvailability", {"operationalStatus": "Operative"})
        r = c.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 5,
                                                    "idToken": {"idToken": "C", "type": "Central"}})
        assert r.status == "Accepted"
        assert c.send(SID, "Reset", {"type": "Immediate"}).status == "Accepted"
        wait_for(lambda: sum(b["reason"] == "RemoteReset" for b in c.calls("BootNotification")) == 2)
        wait_for(lambda: any(e["type"] == "ResetOrReboot" for e in c.calls("SecurityEventNotification")))
    finally:
        out = st.stop()
        c.stop()
    ended = [e for e in c.calls("TransactionEvent") if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["stoppedReason"] for e in ended] == ["Remote", "ImmediateReset"]
    assert c.errors_sent() == []
    assert out["svc"]["faults"] == 0
    # Both Resets really rebooted the station; the boot after knows who asked and why.
    assert out["resets"] == 2
    assert out["reset_report"] == ["soft", "OCPP_CLIENT", "OCPP Reset Immediate"]
