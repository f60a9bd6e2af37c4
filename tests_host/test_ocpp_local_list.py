"""The local authorization list (OCPP 2.0.1 D01/D02, C13/C14) against the `ocpp` package CSMS (schema
validation on both ways): SendLocalList Full and Differential with versionNumber, GetLocalListVersion,
LocalAuthListCtrlr variables, the list persisted across a restart, and authorization from it: before
Authorize (LocalPreAuthorize, DisablePostAuthorize) with the station online, and instead of Authorize
for an EV that arrives while the CSMS is unreachable (LocalAuthorizeOffline; unknown tokens refused)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from station import StationProcess
from test_ocpp_tx import csms  # noqa: F401 - the fixture: the ocpp package CSMS of this test
import waiting

SID = "GW-LIST"
wait_for = partial(waiting.wait_for, timeout=20.0)
DM = {"OCPPCommCtrlr.MessageTimeout": "5", "TxCtrlr.TxStartPoint": "Authorized",
      "TxCtrlr.EVConnectionTimeOut": "3600", "AuthCtrlr.AuthorizeRemoteStart": "true",
      "AuthCtrlr.LocalPreAuthorize": "true", "LocalAuthListCtrlr.DisablePostAuthorize": "true"}


def _entry(tag, status=None):
    e = {"idToken": {"idToken": tag, "type": "ISO14443"}}
    if status:
        e["idTokenInfo"] = {"status": status}
    return e


def _list_vars(c):
    r = c.send(SID, "GetVariables", {"getVariableData": [
        {"component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": n}} for n in ("Entries", "Enabled")]})
    return [x["attribute_value"] for x in r.get_variable_result]


def _start(c, tag, rid):
    return c.send(SID, "RequestStartTransaction", {"evseId": 1, "remoteStartId": rid,
                                                   "idToken": {"idToken": tag, "type": "ISO14443"}}).status


def test_send_local_list_versions_persistence_and_pre_authorization(csms, tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "ocpp_dm.json").write_text(json.dumps(DM))
    cfg = {"url": csms.url, "station_id": SID, "security_profile": 0}
    st = StationProcess(fs, cfg).start()
    try:
        wait_for(lambda: csms.calls("StatusNotification"))
        assert csms.send(SID, "GetLocalListVersion", {}).version_number == 0
        assert csms.send(SID, "SendLocalList", {"versionNumber": 1, "updateType": "Full", "localAuthorizationList": [
            _entry("TAG-A", "Accepted"), _entry("TAG-B", "Blocked"), _entry("TAG-Q")]}).status == "Accepted"
        assert _list_vars(csms) == ["2", "true"]  # a Full entry without idTokenInfo is not in the list
        # Differential: versionNumber must grow; no idTokenInfo = remove
        assert csms.send(SID, "SendLocalList", {"versionNumber": 1, "updateType": "Differential",
                                                "localAuthorizationList": [_entry("TAG-C", "Accepted")]}
                         ).status == "VersionMismatch"
        assert csms.send(SID, "SendLocalList", {"versionNumber": 3, "updateType": "Differential",
                                                "localAuthorizationList": [_entry("TAG-C", "Accepted"),
                                                                           _entry("TAG-A")]}).status == "Accepted"
        assert csms.send(SID, "GetLocalListVersion", {}).version_number == 3
        assert _list_vars(csms) == ["2", "true"]  # TAG-B, TAG-C
        # LocalPreAuthorize: a listed Accepted token starts at once, no Authorize
        assert _start(csms, "TAG-C", 1) == "Accepted"
        started = wait_for(lambda: csms.calls("TransactionEvent"))[0]
        assert started["idToken"] == {"idToken": "TAG-C", "type": "ISO14443"}
        assert csms.calls("Authorize") == []
        tx_id = started["transactionInfo"]["transactionId"]
        assert csms.send(SID, "RequestStopTransaction", {"transactionId": tx_id}).status == "Accepted"
        wait_for(lambda: [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Ended"])
        # DisablePostAuthorize: a listed Blocked token is refused by the list (the CSMS would accept it)
        assert _start(csms, "TAG-B", 2) == "Accepted"  # the answer precedes the authorization
        time.sleep(1.5)
        assert len(csms.calls("TransactionEvent")) == 2 and csms.calls("Authorize") == []
        # a token not in the list is asked (and the CSMS accepts it)
        assert _start(csms, "TAG-X", 3) == "Accepted"
        wait_for(lambda: len(csms.calls("TransactionEvent")) == 3)
        assert csms.calls("Authorize") == [{"idToken": {"idToken": "TAG-X", "type": "ISO14443"}}]
        out = st.stop()
        assert out["svc"]["faults"] == 0
        # persisted: the restarted station has version 3 and its two entries
        st = StationProcess(fs, cfg).start()
        n = len(csms.calls("BootNotification"))
        wait_for(lambda: len(csms.calls("BootNotification")) > n and csms.calls("StatusNotification"))
        wait_for(lambda: csms.send(SID, "GetLocalListVersion", {}).version_number == 3)
        assert _list_vars(csms) == ["2", "true"]
        # Full replaces; a disabled list answers version 0 and refuses updates
        assert csms.send(SID, "SendLocalList", {"versionNumber": 4, "updateType": "Full"}).status == "Accepted"
        assert _list_vars(csms) == ["0", "true"]
        r = csms.send(SID, "SetVariables", {"setVariableData": [{
            "component": {"name": "LocalAuthListCtrlr"}, "variable": {"name": "Enabled"}, "attributeValue": "false"}]})
        assert r.set_variable_result[0]["attribute_status"] == "Accepted"
        assert csms.send(SID, "GetLocalListVersion", {}).version_number == 0
        assert csms.send(SID, "SendLocalList", {"versionNumber": 5, "updateType": "Full"}).status == "Failed"
        out = st.stop()
    finally:
        st.kill()
    assert out["svc"]["faults"] == 0
    assert csms.errors_sent() == []


JEZGRO = str(Path(sys.executable).parent / "jezgro")


def test_ev_authorized_offline_from_the_local_list(csms, tmp_path):
    """The CSMS sends the list (the EV's EVCCID as a MacAddress token) and then becomes unreachable; the
    EV arrives (Autocharge) offline: LocalAuthorizeOffline accepts it from the list although unknown
    tokens are refused offline (OfflineTxForUnknownIdEnabled false), the ISO 15118 session charges,
    and the transaction's events wait in the queue, offline, with the listed idToken."""
    out = tmp_path / "out"
    fs = out / "fs"
    fs.mkdir(parents=True)
    (fs / "ocpp_dm.json").write_text(json.dumps({
        "AuthCtrlr.AutochargeEnabled": "true", "OCPPCommCtrlr.OfflineThreshold": "1",
        "AuthCtrlr.OfflineTxForUnknownIdEnabled": "false", "SampledDataCtrlr.TxUpdatedInterval": "2"}))
    sid = "GW-OFFLIST"
    p = subprocess.Popen([JEZGRO, "sim", "--seconds", "34", "--out", str(out), "--quiet", "--paced", "--no-plot",
                          "--csms", csms.url, "--station-id", sid, "--ev-at", "10", "--ev-loops", "40"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        waiting.wait_for(lambda: csms.calls("StatusNotification", sid), 40)
        r = csms.send(sid, "SendLocalList", {"versionNumber": 7, "updateType": "Full", "localAuthorizationList": [
            {"idToken": {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"}, "idTokenInfo": {"status": "Accepted"}}]})
        assert r.status == "Accepted"
        csms.refuse = True
        csms.disconnect(sid)
        o, e = p.communicate(timeout=180)
        assert p.returncode == 0, e + o
    finally:
        if p.poll() is None:
            p.kill()
    s = json.loads((out / "summary.json").read_text())
    h = s["iso15118"]["history"][0]  # the EV's session (a loaded host may let the EV start another)
    assert h["end"] == "SessionStop" and "PowerDeliveryReq" in h["requests"], h
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]
    assert ocpp["auth_last"] == "Accepted" and ocpp["meter"]["import_wh"] > 0.05, ocpp
    assert csms.calls("Authorize", sid) == [] and csms.calls("TransactionEvent", sid) == []
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    txe = [pl for a, pl in q if a == "TransactionEvent"]
    assert all(e.get("offline") for e in txe) and txe[-1]["eventType"] == "Ended"
    auth = [e for e in txe if e["triggerReason"] == "Authorized"]
    assert auth and auth[0]["idToken"] == {"idToken": "0A0B0C0D0E0F", "type": "MacAddress"}
    assert csms.errors_sent() == []
