"""The protocol bridge, CSMS -> 1.6J charger (issue 15 step 2): RequestStart/StopTransaction, charging
profiles in each charger's own units (W from the CSMS -> A with the charger's phases and voltage, and back),
GetVariables/SetVariables of 1.6 configuration keys, Reset/Unlock/ChangeAvailability/TriggerMessage; what
cannot be translated or reach a charger gets a defined answer quickly, never a hang. Real peers: the `ocpp`
package's v201 CSMS and v16 chargers, schema validation on at both ends and again over both logs."""
from __future__ import annotations

import time

import pytest

from jezgro_host.bridge_run import running_booted
from test_bridge_ocpp16 import schemas_and_faults
import waiting

GW = "GW-BRIDGE"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    with running_booted(tmp_path_factory.mktemp("bridge_remote")) as b:
        yield b


def profile(pid, watts, purpose="TxDefaultProfile"):
    return {"id": pid, "stackLevel": 1, "chargingProfilePurpose": purpose, "chargingProfileKind": "Absolute",
            "chargingSchedule": [{"id": pid, "startSchedule": "2026-01-01T00:00:00Z", "chargingRateUnit": "W",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": watts},
                                                             {"startPeriod": 3600, "limit": watts / 2}]}]}


def test_remote_start_and_stop(bridge):
    csms, fleet, _ = bridge
    r = csms.send(GW, "RequestStartTransaction", {"evseId": 1, "remoteStartId": 77,
                                                 "idToken": {"idToken": "REMOTE-1", "type": "Central"}})
    assert r.status == "Accepted"
    assert fleet.received("CP-A", "RemoteStartTransaction") == [{"connector_id": 1, "id_tag": "REMOTE-1"}]
    tid = fleet.start_tx("CP-A", "REMOTE-1")
    started = waiting.wait_for(lambda: [e for e in csms.calls("TransactionEvent")
                                        if e["transactionInfo"].get("remoteStartId") == 77])
    assert started[0]["triggerReason"] == "RemoteStart" and started[0]["eventType"] == "Started"
    tx_id = started[0]["transactionInfo"]["transactionId"]
    r = csms.send(GW, "RequestStopTransaction", {"transactionId": tx_id})
    assert r.status == "Accepted"
    assert fleet.received("CP-A", "RemoteStopTransaction") == [{"transaction_id": tid}]
    fleet.stop_tx("CP-A", tid, reason="Remote")
    ended = waiting.wait_for(lambda: [e for e in csms.calls("TransactionEvent")
                                      if e["transactionInfo"]["transactionId"] == tx_id and e["eventType"] == "Ended"])
    assert ended[0]["transactionInfo"]["stoppedReason"] == "Remote" and ended[0]["triggerReason"] == "RemoteStop"
    # a transaction the gateway does not know: Rejected at once
    assert csms.send(GW, "RequestStopTransaction", {"transactionId": "nope"}).status == "Rejected"


def test_charging_profile_in_each_chargers_units(bridge):
    csms, fleet, _ = bridge
    for evse in (1, 2):
        assert csms.send(GW, "SetChargingProfile", {"evseId": evse, "chargingProfile": profile(10 + evse, 7360)}
                         ).status == "Accepted"
    a = fleet.received("CP-A", "SetChargingProfile")[-1]["profile"]["charging_schedule"]
    b = fleet.received("CP-B", "SetChargingProfile")[-1]["profile"]["charging_schedule"]
    # CP-A: three phases at 230 V -> 7360 W is 10.6 A (rounded down to the 1.6 schema's 0.1 A); CP-B one phase: 32 A
    assert a["charging_rate_unit"] == "A" and [float(p["limit"]) for p in a["charging_schedule_period"]] == [10.6, 5.3]
    assert b["charging_rate_unit"] == "A" and [float(p["limit"]) for p in b["charging_schedule_period"]] == [32.0, 16.0]
    assert fleet.received("CP-A", "SetChargingProfile")[-1]["profile"]["charging_profile_purpose"] == "TxDefaultProfile"
    # and back: the composite schedule in the unit the CSMS asks for
    r = csms.send(GW, "GetCompositeSchedule", {"evseId": 2, "duration": 3600, "chargingRateUnit": "W"})
    assert r.status == "Accepted" and r.schedule["charging_rate_unit"] == "W"
    assert [float(p["limit"]) for p in r.schedule["charging_schedule_period"]] == [7360, 3680]
    assert r.schedule["evse_id"] == 2
    r = csms.send(GW, "ClearChargingProfile", {"chargingProfileId": 12})
    assert r.status == "Accepted" and fleet.received("CP-B", "ClearChargingProfile")[-1] == {"id": 12}
    # a profile for an EVSE that is no charger's, and a purpose chargers do not take: Rejected, not sent
    assert csms.send(GW, "SetChargingProfile", {"evseId": 7, "chargingProfile": profile(20, 1000)}).status == "Rejected"
    assert csms.send(GW, "SetChargingProfile", {"evseId": 1, "chargingProfile": profile(
        21, 1000, "ChargingStationExternalConstraints")}).status == "Rejected"


def test_variables_through_the_key_table(bridge):
    csms, fleet, _ = bridge
    r = csms.send(GW, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr", "evse": {"id": 2}}, "variable": {"name": "HeartbeatInterval"}},
        {"component": {"name": "SampledDataCtrlr", "evse": {"id": 2}}, "variable": {"name": "TxUpdatedInterval"}},
        {"component": {"name": "AuthCtrlr", "evse": {"id": 2}}, "variable": {"name": "AuthorizeRemoteStart"}},
        {"component": {"name": "FooCtrlr", "evse": {"id": 2}}, "variable": {"name": "Bar"}}]})
    res = [(x["variable"]["name"], x["attribute_status"], x.get("attribute_value")) for x in r.get_variable_result]
    assert res == [("HeartbeatInterval", "Accepted", "60"), ("TxUpdatedInterval", "Accepted", "30"),
                   ("AuthorizeRemoteStart", "UnknownVariable", None), ("Bar", "UnknownVariable", None)]
    assert fleet.received("CP-B", "GetConfiguration")[-1]["key"] == [
        "HeartbeatInterval", "MeterValueSampleInterval", "AuthorizeRemoteTxRequests"]
    r = csms.send(GW, "SetVariables", {"setVariableData": [
        {"attributeValue": "15", "component": {"name": "SampledDataCtrlr", "evse": {"id": 2}},
         "variable": {"name": "TxUpdatedInterval"}}]})
    assert r.set_variable_result[0]["attribute_status"] == "Accepted"
    assert fleet.cps["CP-B"].config["MeterValueSampleInterval"] == "15"
    # the gateway's own variables are still the gateway station's
    r = csms.send(GW, "GetVariables", {"getVariableData": [
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]})
    assert r.get_variable_result[0]["attribute_status"] == "Accepted"


def test_reset_unlock_availability_trigger(bridge):
    csms, fleet, _ = bridge
    assert csms.send(GW, "UnlockConnector", {"evseId": 1, "connectorId": 1}).status == "Unlocked"
    assert csms.send(GW, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 2}}
                     ).status == "Accepted"
    assert fleet.received("CP-B", "ChangeAvailability")[-1] == {"connector_id": 1, "type": "Inoperative"}
    assert csms.send(GW, "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}
                     ).status == "Accepted"
    assert csms.send(GW, "TriggerMessage", {"requestedMessage": "LogStatusNotification", "evse": {"id": 1}}
                     ).status == "NotImplemented"
    assert csms.send(GW, "Reset", {"type": "OnIdle", "evseId": 1}).status == "Accepted"
    assert fleet.received("CP-A", "Reset")[-1] == {"type": "Soft"}


def test_charger_away_answered_at_once(bridge):
    csms, fleet, _ = bridge
    fleet.disconnect("CP-B")
    time.sleep(0.5)
    t0 = time.time()
    assert csms.send(GW, "UnlockConnector", {"evseId": 2, "connectorId": 1}).status == "UnlockFailed"
    assert csms.send(GW, "RequestStartTransaction", {"evseId": 2, "remoteStartId": 5,
                                                    "idToken": {"idToken": "X", "type": "Central"}}).status == "Rejected"
    assert time.time() - t0 < 3
    fleet.connect("CP-B")


def test_schemas_both_ends(bridge):
    tr = schemas_and_faults(*bridge, at_least=20)
    assert tr["forwarded"] >= 14 and tr["malformed"] == 0
