"""The protocol bridge, source OCPP 1.6J (issue 15 step 1): two 1.6J chargers (the `ocpp` package's v16
ChargePoint, schema validation on) behind the gateway's Central System, the gateway's OCPP 2.0.1 station
(PROTOCOL_B) at the `ocpp` package CSMS (v201, schema validation on). Boot, authorize, a transaction with
meter values on each charger; every upstream message must pass the 2.0.1 schemas and every downstream one
the 1.6 schemas (checked again here from both logs, requests and answers)."""
from __future__ import annotations

import decimal
import json
import time

import pytest
import websockets
from ocpp.exceptions import NotSupportedError
from ocpp.messages import get_validator
from ocpp.v16 import call

from jezgro_host.bridge_run import running
import waiting
from conftest import jezgro


def validate_log(records: list[dict], version: str, key: str) -> int:
    """Every CALL and CALLRESULT of a JSONL-style log against the `ocpp` package's schemas of `version`;
    answers are matched to their CALL by message id (per peer). -> messages checked."""
    actions: dict[tuple[str, str], str] = {}
    n = 0

    def check(typ: int, action: str, payload: dict) -> None:
        # as the ocpp package validates: decimals for the 0.1-step limits of 1.6 charging schedules
        v = get_validator(typ, action, version, parse_float=decimal.Decimal)
        v.validate(json.loads(json.dumps(payload), parse_float=decimal.Decimal))
    for r in records:
        m = r["msg"]
        if m[0] == 2:
            actions[(r[key], m[1])] = m[2]
            check(2, m[2], m[3])
            n += 1
        elif m[0] == 3:
            check(3, actions[(r[key], m[1])], m[2])
            n += 1
    return n


def schemas_and_faults(csms, fleet, stop, at_least: int) -> dict:
    """Both logs against the schemas, no CALLERROR from the CSMS, the bridge services without faults;
    -> TRANSLATOR's csms_requests counters of the SUMMARY (the gateway is stopped)."""
    assert validate_log(fleet.messages(), "1.6", "charger") > at_least
    assert validate_log([r for r in csms.records if "msg" in r], "2.0.1", "station") > at_least
    assert csms.errors_sent() == []
    s = stop()
    svc = {x["name"]: x for x in s["services"]}
    assert all(svc[n]["faults"] == 0 for n in ("PROTOCOL_A", "PROTOCOL_B", "TRANSLATOR"))
    return s["bridge"]["handoff"]["csms_requests"]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    with running(tmp_path_factory.mktemp("bridge")) as b:
        yield b


def tmp_fs(csms):
    # the gateway's filesystem: beside the CSMS's log (bridge_run.running)
    return csms.log_path.parent / "fs"


def tx_events(csms, evse):
    evs = csms.calls("TransactionEvent")
    ids = {e["transactionInfo"]["transactionId"] for e in evs if e.get("evse", {}).get("id") == evse}
    return [e for e in evs if e["transactionInfo"]["transactionId"] in ids]


def test_two_chargers_boot_authorize_transaction(bridge):
    csms, fleet, _ = bridge
    for cid in ("CP-A", "CP-B"):
        fleet.connect(cid)
        r = fleet.boot(cid)
        assert r.status == "Accepted" and r.interval == 60
    res = {cid: fleet.session(cid, f"TAG-{cid}", samples=3) for cid in ("CP-A", "CP-B")}
    assert res["CP-A"]["auth"] == "Accepted" and res["CP-A"]["start"]["status"] == "Accepted"
    assert res["CP-A"]["tx_id"] != res["CP-B"]["tx_id"]
    # the Authorize went to the CSMS as a 2.0.1 idToken of the configured type
    auths = csms.calls("Authorize")
    assert {a["idToken"]["idToken"] for a in auths} >= {"TAG-CP-A", "TAG-CP-B"}
    assert all(a["idToken"]["type"] == "ISO14443" for a in auths)
    for evse, cid in ((1, "CP-A"), (2, "CP-B")):
        evs = waiting.wait_for(lambda: [e for e in tx_events(csms, evse)] if any(
            e["eventType"] == "Ended" for e in tx_events(csms, evse)) else None)
        assert [e["seqNo"] for e in evs] == list(range(5))
        assert [e["eventType"] for e in evs] == ["Started", "Updated", "Updated", "Updated", "Ended"]
        start, upd, end = evs[0], evs[1], evs[-1]
        assert start["transactionInfo"]["transactionId"] == f"{cid}-{res[cid]['tx_id']}"
        assert start["evse"] == {"id": evse, "connectorId": 1} and start["idToken"]["idToken"] == f"TAG-{cid}"
        assert start["triggerReason"] == "Authorized" and not start.get("offline")
        begin = start["meterValue"][0]["sampledValue"][0]
        assert begin["context"] == "Transaction.Begin" and begin["unitOfMeasure"] == {"unit": "Wh"}
        svs = upd["meterValue"][0]["sampledValue"]
        # kWh becomes Wh with multiplier 3; three phases of current; Temperature has no 2.0.1 measurand
        assert svs[1]["unitOfMeasure"] == {"unit": "Wh", "multiplier": 3} and svs[1]["location"] == "Outlet"
        assert [s.get("phase") for s in svs if s["measurand"] == "Current.Import"] == ["L1", "L2", "L3"]
        assert all(s["measurand"] != "Temperature" for s in svs)
        assert upd["triggerReason"] == "MeterValuePeriodic"
        assert end["transactionInfo"]["stoppedReason"] == "Local" and end["triggerReason"] == "StopAuthorized"
        assert end["meterValue"][-1]["sampledValue"][0]["context"] == "Transaction.End"
    st = csms.calls("StatusNotification")
    assert {(s["evseId"], s["connectorStatus"]) for s in st} >= {(1, "Occupied"), (2, "Occupied"), (2, "Available")}
    assert csms.errors_sent() == []


def test_untranslatable_answered_not_supported(bridge):
    _, fleet, _ = bridge
    with pytest.raises(NotSupportedError):
        fleet.call("CP-A", call.LogStatusNotification(status="Idle", request_id=1), timeout=10)
    # the charger's link is still fine
    assert fleet.call("CP-A", call.Heartbeat()).current_time


def test_unknown_charger_and_bad_password_refused(bridge):
    _, fleet, _ = bridge
    with pytest.raises(websockets.InvalidStatus) as e:
        fleet.connect("CP-B", timeout=0, password="not-the-password-123")
    assert e.value.response.status_code == 401


def test_schemas_and_summary_per_charger(bridge):
    # runs last in this module: stops the gateway and reads its summary
    csms, fleet, stop = bridge
    n_down = validate_log(fleet.messages(), "1.6", "charger")
    n_up = validate_log([r for r in csms.records if "msg" in r], "2.0.1", "station")
    assert n_down > 40 and n_up > 30
    time.sleep(1)  # AUDIT_LOGGER takes the bridge's events when it wakes (at least every 500 ms)
    s = stop()
    svc = {x["name"]: x for x in s["services"]}
    for name in ("PROTOCOL_A", "PROTOCOL_B", "TRANSLATOR"):
        assert svc[name]["faults"] == 0 and svc[name]["config_error"] == "", svc[name]
    b = s["bridge"]["chargers"]
    for cid in ("CP-A", "CP-B"):
        st = b[cid]["translator"]
        assert st["translated"] >= 10 and st["values_dropped"] == 3 and st["queued"] == 0
        assert b[cid]["link"]["stats"]["connects"] >= 1
    assert b["CP-A"]["translator"]["rejected"] == 1  # LogStatusNotification
    assert b["CP-A"]["boot"]["model"] == "Sim16"
    assert s["bridge"]["upstream"]["queue"] == 0
    # the audit log has the bridge's link events and rejections
    from jezgro_host.logs import read
    recs = [r for r in read(str(tmp_fs(csms)))[0] if r.get("ev") == "bridge"]
    texts = [(r["svc"], r["charger"], r["text"]) for r in recs]
    assert ("PROTOCOL_A", "CP-A", "connected") in texts and ("PROTOCOL_A", "CP-B", "connected") in texts
    assert ("TRANSLATOR", "CP-A", "LogStatusNotification: LogStatusNotification is not translated "
            "(docs/bridge.md)") in texts
    assert [t for t in texts if t[2].startswith("refused 401 Unauthorized: bad credentials for CP-B")]
    # ETHERNET: the host's loopback on unix (net.json absent), and PROTOCOL_B resolved the CSMS through it
    net = svc["ETHERNET"]["status"]
    assert net["up"] and net["ip"] == "127.0.0.1" and net["counters"]["dns_lookups"] >= 1, net


def _schemas(version: str) -> list:
    import ocpp
    from pathlib import Path
    return list((Path(ocpp.__file__).parent / version / "schemas").glob("*.json"))


def _enum(version: str, schema: str, definition: str, prop: str | None = None) -> set[str]:
    import ocpp
    from pathlib import Path
    d = json.loads((Path(ocpp.__file__).parent / version / "schemas" / schema).read_text())
    if prop is None:
        return set(d["definitions"][definition]["enum"])
    return set(d["properties"][prop]["enum"])


def test_map_tables_use_only_schema_values():
    # every value of the translation tables exists in the enumeration of the schema it ends up in
    from jezgro_host.bridge_cmd import tables
    t = tables()
    assert set(t.STATUS) == _enum("v16", "StatusNotification.json", "", "status")
    assert {v[0] for v in t.STATUS.values()} <= _enum("v201", "StatusNotificationRequest.json", "ConnectorStatusEnumType")
    assert {v[1] for v in t.STATUS.values()} - {None} <= _enum("v201", "TransactionEventRequest.json",
                                                               "ChargingStateEnumType")
    assert set(t.STOP_REASON) == _enum("v16", "StopTransaction.json", "", "reason")
    assert {v[0] for v in t.STOP_REASON.values()} <= _enum("v201", "TransactionEventRequest.json", "ReasonEnumType")
    assert {v[1] for v in t.STOP_REASON.values()} <= _enum("v201", "TransactionEventRequest.json",
                                                           "TriggerReasonEnumType")
    assert set(t.AUTH_STATUS) == _enum("v201", "AuthorizeResponse.json", "AuthorizationStatusEnumType")
    assert set(t.MEASURANDS) <= _enum("v201", "TransactionEventRequest.json", "MeasurandEnumType")
    t2 = tables("tables201")
    import ocpp
    from pathlib import Path
    sp16 = json.loads((Path(ocpp.__file__).parent / "v16" / "schemas" / "SetChargingProfile.json").read_text())
    assert {v for v in t2.PURPOSE.values() if v} == set(
        sp16["properties"]["csChargingProfiles"]["properties"]["chargingProfilePurpose"]["enum"])
    assert set(t2.PURPOSE) == _enum("v201", "SetChargingProfileRequest.json", "ChargingProfilePurposeEnumType")
    assert set(t2.UNLOCK.values()) <= _enum("v201", "UnlockConnectorResponse.json", "UnlockStatusEnumType")
    assert set(t2.CONFIG_STATUS.values()) <= _enum("v201", "SetVariablesResponse.json", "SetVariableStatusEnumType")
    assert set(t2.TO_CHARGER) <= {p.name[:-len("Request.json")] for p in _schemas("v201")}
    assert {v[0] for v in t2.TO_CHARGER.values()} <= {p.name[:-len(".json")] for p in _schemas("v16")}
    assert set(t2.RESERVE_STATUS) == _enum("v16", "ReserveNowResponse.json", "", "status")
    assert set(t2.RESERVE_STATUS.values()) <= _enum("v201", "ReserveNowResponse.json", "ReserveNowStatusEnumType")
    assert set(t2.CANCEL_STATUS) == _enum("v16", "CancelReservationResponse.json", "", "status")
    assert set(t2.CANCEL_STATUS.values()) <= _enum("v201", "CancelReservationResponse.json",
                                                   "CancelReservationStatusEnumType")
    assert set(t2.LOCAL_LIST_STATUS) == _enum("v16", "SendLocalListResponse.json", "", "status")
    assert set(t2.LOCAL_LIST_STATUS.values()) <= _enum("v201", "SendLocalListResponse.json",
                                                       "SendLocalListStatusEnumType")
    assert set(t2.TO_ALL) <= set(t2.TO_CHARGER)
    r = jezgro("bridge", "map")
    assert r.returncode == 0 and "| SuspendedEVSE | Occupied | SuspendedEVSE |" in r.stdout, r.stderr
    assert "| SampledDataCtrlr | TxUpdatedInterval | MeterValueSampleInterval |" in r.stdout
    assert "| VersionMismatch | VersionMismatch |" in r.stdout and "| Occupied | Occupied |" in r.stdout
