"""The protocol bridge, CSMS -> 1.6J charger: reservations (ReserveNow/CancelReservation to the charger of the
EVSE, ids, expiry, idToken <-> idTag, statuses both ways, the charger's Reserved status upstream) and the local
authorization list (SendLocalList/GetLocalListVersion to every charger, the answers combined). Real peers: the
`ocpp` package's v201 CSMS and v16 chargers, schema validation on at both ends and again over both logs."""
from __future__ import annotations

import json

import pytest

from jezgro_host.bridge_run import running_booted
from test_bridge_ocpp16 import schemas_and_faults
import waiting

GW = "GW-BRIDGE"
EXPIRY = "2030-01-01T12:00:00Z"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    with running_booted(tmp_path_factory.mktemp("bridge_auth")) as b:
        yield b


def reserve(csms, rid, evse, tag="RES-TAG", **extra):
    p = {"id": rid, "expiryDateTime": EXPIRY, "idToken": {"idToken": tag, "type": "ISO14443"}, **extra}
    if evse is not None:
        p["evseId"] = evse
    return csms.send(GW, "ReserveNow", p).status


def test_reserve_now_reaches_the_chargers_connector(bridge):
    csms, fleet, _ = bridge
    assert reserve(csms, 41, 2, groupIdToken={"idToken": "GROUP-1", "type": "Central"}) == "Accepted"
    assert fleet.received("CP-B", "ReserveNow") == [{"connector_id": 1, "expiry_date": EXPIRY, "id_tag": "RES-TAG",
                                                      "reservation_id": 41, "parent_id_tag": "GROUP-1"}]
    assert fleet.received("CP-A", "ReserveNow") == []
    # the charger reports the connector Reserved: the CSMS sees EVSE 2 Reserved
    fleet.status("CP-B", "Reserved")
    waiting.wait_for(lambda: [s for s in csms.calls("StatusNotification")
                              if s["evseId"] == 2 and s["connectorStatus"] == "Reserved"])
    # another reservation of the same connector: the charger's Occupied reaches the CSMS as Occupied
    assert reserve(csms, 42, 2) == "Occupied"
    # cancelled on the charger that took it; then it is unknown: Rejected without asking a charger
    assert csms.send(GW, "CancelReservation", {"reservationId": 41}).status == "Accepted"
    assert fleet.received("CP-B", "CancelReservation") == [{"reservation_id": 41}]
    fleet.status("CP-B", "Available")
    n = len(fleet.received("CP-B", "CancelReservation"))
    assert csms.send(GW, "CancelReservation", {"reservationId": 41}).status == "Rejected"
    assert csms.send(GW, "CancelReservation", {"reservationId": 999}).status == "Rejected"
    assert len(fleet.received("CP-B", "CancelReservation")) == n


def test_reservation_ending_on_the_charger(bridge):
    # 1.6 has no message for it: the connector going Available from Reserved is the charger's word
    csms, fleet, _ = bridge
    past = "2020-01-01T00:00:00Z"
    for rid, expiry, gone in ((44, past, "Expired"), (45, EXPIRY, "Removed")):
        assert csms.send(GW, "ReserveNow", {"id": rid, "expiryDateTime": expiry, "evseId": 1,
                                            "idToken": {"idToken": "T", "type": "ISO14443"}}).status == "Accepted"
        fleet.cps["CP-A"].reservations.clear()  # the charger expires / drops it
        fleet.status("CP-A", "Reserved")
        fleet.status("CP-A", "Available")
        waiting.wait_for(lambda rid=rid: [u for u in csms.calls("ReservationStatusUpdate")
                                          if u["reservationId"] == rid])
        assert [u["reservationUpdateStatus"] for u in csms.calls("ReservationStatusUpdate")
                if u["reservationId"] == rid] == [gone]
    n = len(csms.calls("StatusNotification"))
    fleet.status("CP-A", "Available")  # no reservation any more: nothing more (the status itself goes up)
    waiting.wait_for(lambda: len(csms.calls("StatusNotification")) > n)
    assert len(csms.calls("ReservationStatusUpdate")) == 2
    assert csms.send(GW, "CancelReservation", {"reservationId": 45}).status == "Rejected"


def test_reservation_used_by_a_transaction(bridge):
    csms, fleet, _ = bridge
    assert reserve(csms, 43, 1, tag="RES-A") == "Accepted"
    assert fleet.received("CP-A", "ReserveNow")[-1]["connector_id"] == 1
    from ocpp.v16 import call
    from jezgro_host.chargers16 import now_iso
    r = fleet.call("CP-A", call.StartTransaction(connector_id=1, id_tag="RES-A", meter_start=0, timestamp=now_iso(),
                                                 reservation_id=43))
    started = waiting.wait_for(lambda: [e for e in csms.calls("TransactionEvent")
                                        if e.get("reservationId") == 43 and e["eventType"] == "Started"])
    assert started[0]["evse"]["id"] == 1
    fleet.stop_tx("CP-A", r.transaction_id)
    # a used reservation cannot be cancelled any more: Rejected by the gateway, not sent
    assert csms.send(GW, "CancelReservation", {"reservationId": 43}).status == "Rejected"
    assert fleet.received("CP-A", "CancelReservation") == []


def test_reservations_the_gateway_refuses(bridge):
    csms, fleet, _ = bridge
    n = len(fleet.received("CP-A", "ReserveNow")) + len(fleet.received("CP-B", "ReserveNow"))
    assert reserve(csms, 50, None) == "Rejected"  # any EVSE: not spread over chargers (docs/bridge.md)
    assert reserve(csms, 51, 9) == "Rejected"  # no charger's EVSE
    assert len(fleet.received("CP-A", "ReserveNow")) + len(fleet.received("CP-B", "ReserveNow")) == n


def send_list(csms, version, kind, entries):
    return csms.send(GW, "SendLocalList", {"versionNumber": version, "updateType": kind,
                                           "localAuthorizationList": entries})


def entry(tag, status=None, **info):
    e = {"idToken": {"idToken": tag, "type": "ISO14443"}}
    if status is not None:
        e["idTokenInfo"] = {"status": status, **info}
    return e


def test_local_list_to_every_charger(bridge):
    csms, fleet, _ = bridge
    r = send_list(csms, 1, "Full", [entry("CARD-1", "Accepted", cacheExpiryDateTime=EXPIRY,
                                          groupIdToken={"idToken": "FLEET-7", "type": "Central"}, language1="en"),
                                    entry("CARD-2", "NotAtThisTime"), entry("CARD-3", "Blocked")])
    assert r.status == "Accepted" and r.status_info is None
    for cid in ("CP-A", "CP-B"):
        got = fleet.received(cid, "SendLocalList")[-1]
        assert got["list_version"] == 1 and got["update_type"] == "Full"
        assert fleet.cps[cid].local_list == {
            "CARD-1": {"status": "Accepted", "expiry_date": EXPIRY, "parent_id_tag": "FLEET-7"},
            "CARD-2": {"status": "Invalid"}, "CARD-3": {"status": "Blocked"}}
    assert csms.send(GW, "GetLocalListVersion", {}).version_number == 1
    # a Differential: an entry without idTokenInfo is removed
    assert send_list(csms, 2, "Differential", [entry("CARD-2"), entry("CARD-4", "Accepted")]).status == "Accepted"
    assert set(fleet.cps["CP-A"].local_list) == set(fleet.cps["CP-B"].local_list) == {"CARD-1", "CARD-3", "CARD-4"}


def test_local_list_answers_combined(bridge):
    csms, fleet, _ = bridge
    assert send_list(csms, 2, "Full", [entry("CARD-1", "Accepted")]).status == "Accepted"  # both at version 2
    # one charger fails: Failed, the charger named; the version the CSMS reads back is the lowest
    fleet.cps["CP-B"].local_list_status = "Failed"
    r = send_list(csms, 3, "Differential", [entry("CARD-5", "Accepted")])
    fleet.cps["CP-B"].local_list_status = "Accepted"
    assert r.status == "Failed" and r.status_info["reason_code"] == "ChargerFailed"
    assert "CP-B" in r.status_info["additional_info"] and "CP-A" not in r.status_info["additional_info"]
    assert (fleet.cps["CP-A"].local_list_version, fleet.cps["CP-B"].local_list_version) == (3, 2)
    assert csms.send(GW, "GetLocalListVersion", {}).version_number == 2
    # the same version again: CP-B takes it, CP-A has it already -> VersionMismatch (the CSMS sends a Full list)
    r = send_list(csms, 3, "Differential", [entry("CARD-5", "Accepted")])
    assert r.status == "VersionMismatch" and "CP-A" in r.status_info["additional_info"]
    assert csms.send(GW, "GetLocalListVersion", {}).version_number == 3
    # a charger away: Failed at once, and its version counts as 0
    fleet.disconnect("CP-B")
    waiting.wait_for(lambda: not fleet.connected("CP-B"))
    r = send_list(csms, 4, "Full", [entry("CARD-1", "Accepted")])
    assert r.status == "Failed" and "CP-B not connected" in r.status_info["additional_info"]
    assert fleet.cps["CP-A"].local_list == {"CARD-1": {"status": "Accepted"}}
    assert csms.send(GW, "GetLocalListVersion", {}).version_number == 0
    fleet.connect("CP-B")


def test_schemas_both_ends(bridge):
    tr = schemas_and_faults(*bridge, at_least=10)
    assert tr["forwarded"] >= 12 and tr["malformed"] == 0


COMBINE = r"""
import json
from bridge.translate201 import combine
cfg = {"chargers": [{"id": "CP-A"}, {"id": "CP-B"}, {"id": "CP-C"}]}
ok = {"status": "Accepted"}
for rs in ([(0, ok, None), (1, ok, None)], [(0, ok, None), (1, {"status": "NotSupported"}, None)],
           [(0, {"status": "VersionMismatch"}, None), (1, None, "no answer in 8000 ms"), (2, ok, None)], []):
    print(json.dumps(combine(cfg, "SendLocalList", rs)))
print(json.dumps(combine(cfg, "GetLocalListVersion", [(0, {"listVersion": 7}, None), (1, {"listVersion": -1}, None)])))
print(json.dumps(combine(cfg, "GetLocalListVersion", [(0, {"listVersion": 7}, None), (1, {"listVersion": 9}, None)])))
"""


def test_combine_rule():
    # unit test of the documented rule (docs/bridge.md) on the cases the chargers above cannot produce
    from jezgro_host.mp import run_code
    r = run_code(COMBINE)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert out[0] == {"status": "Accepted"}
    assert out[1] == {"status": "Failed", "statusInfo": {"reasonCode": "ChargerFailed",
                                                         "additionalInfo": "CP-B NotSupported"}}
    assert out[2] == {"status": "VersionMismatch", "statusInfo": {
        "reasonCode": "ChargerFailed", "additionalInfo": "CP-A VersionMismatch; CP-B no answer in 8000 ms"}}
    assert out[3]["status"] == "Failed" and out[3]["statusInfo"]["reasonCode"] == "NoCharger"
    assert out[4] == {"versionNumber": 0} and out[5] == {"versionNumber": 7}


FAN_OUT = r"""
import json
import board
from bridge import config
from bridge.handoff import BUS
from bridge.translator import Translator

class Ctx:
    fs_root = board.FS_ROOT
    now = 0
    def ticks_ms(self): return self.now
    def ticks_diff(self, a, b): return a - b

ctx = Ctx()
cfg = config.parse(json.dumps({"port": 9016, "chargers": [
    {"id": "CP-A", "password": "cp-a-secret-0123456789"}, {"id": "CP-B", "password": "cp-b-secret-0123456789"}]}))
t = Translator(ctx, cfg)
BUS.csms_in.append(["c/9", "GetLocalListVersion", {}, 0])
print(t.step_csms(), [(d[0], d[1], d[2]) for d in BUS.down])
BUS.down_res["c/9#0"] = [{"listVersion": 4}, None]
print(t.step_csms(), BUS.csms_out)
ctx.now = 9000  # CP-B never answered in time
print(t.step_csms(), BUS.csms_out, t.csms["no_answer"])
BUS.down_res["c/9#1"] = [{"listVersion": 4}, None]  # ... and then it does
t.step_csms()
print(list(BUS.down_res), t.csms["late_answers"])
"""


def test_fan_out_waits_for_every_charger_and_drops_late_answers(tmp_path):
    from jezgro_host.mp import run_code
    r = run_code(FAN_OUT, fs_root=str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "(2, 0) [('c/9#0', 0, 'GetLocalListVersion'), ('c/9#1', 1, 'GetLocalListVersion')]"
    assert out[1] == "(0, 0) []"
    assert out[2] == "(0, 1) [['9', {'versionNumber': 0}, None]] 1"
    assert out[3] == "[] 1"
