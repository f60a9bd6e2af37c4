"""The protocol bridge with a Modbus TCP wallbox (issue 15 step 4): the wallbox is a `pymodbus` server with
the registers of the Alfen NG9xx map (firmware/bridge/maps/alfen_ng9xx.json) beside a 1.6J charger; its
register changes become the same 2.0.1 events (StatusNotification, TransactionEvent Started/Updated/Ended
with the energy register), a charging profile from the CSMS becomes a write of its current-limit register
(W -> A with its phases and voltage), and bad Modbus responses are counted with a clear error while the
transaction goes on."""
from __future__ import annotations

import pytest

from jezgro_host.bridge_run import SIM_CHARGERS, running
from jezgro_host.wallbox_sim import SimWallbox
from test_bridge_ocpp16 import validate_log
import waiting

GW = "GW-BRIDGE"


@pytest.fixture
def wallbox():
    w = SimWallbox("alfen_ng9xx.json").start()
    yield w
    w.stop()


def wb_events(csms):
    return [e for e in csms.calls("TransactionEvent") if e["transactionInfo"]["transactionId"].startswith("WB-1-")]


def test_wallbox_registers_to_events_and_limit_write_back(tmp_path, wallbox):
    chargers = [SIM_CHARGERS[0], {"id": "WB-1", "phases": 3, "voltage": 230, "modbus": {
        "host": "127.0.0.1", "port": wallbox.port, "map": "alfen_ng9xx.json", "poll_ms": 200, "meter_s": 1}}]
    with running(tmp_path, chargers) as (csms, fleet, stop):
        waiting.wait_for(lambda: [s for s in csms.calls("StatusNotification") if s["evseId"] == 2])
        wallbox.set("energy_wh", 1000.0)
        wallbox.set_state("B2")
        started = waiting.wait_for(lambda: wb_events(csms))[0]
        assert started["eventType"] == "Started" and started["evse"] == {"id": 2, "connectorId": 1}
        assert started["triggerReason"] == "CablePluggedIn" and started["idToken"]["type"] == "NoAuthorization"
        assert started["meterValue"][0]["sampledValue"][0]["value"] == 1000
        wallbox.set_state("C2")
        wallbox.set("energy_wh", 1500.0)
        waiting.wait_for(lambda: [e for e in wb_events(csms) if e["eventType"] == "Updated"
                                  and e["transactionInfo"]["chargingState"] == "Charging"
                                  and e.get("meterValue", [{}])[0].get("sampledValue", [{}])[0].get("value") == 1500])
        # the CSMS limits the wallbox's EVSE to 6900 W: 10 A on its three phases at 230 V, in register 1210
        prof = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": 5, "chargingRateUnit": "W",
                                      "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900}]}]}
        assert csms.send(GW, "SetChargingProfile", {"evseId": 2, "chargingProfile": prof}).status == "Accepted"
        assert wallbox.get("current_limit_a") == 10.0
        r = csms.send(GW, "GetCompositeSchedule", {"evseId": 2, "duration": 600, "chargingRateUnit": "W"})
        assert r.status == "Accepted" and float(r.schedule["charging_schedule_period"][0]["limit"]) == 6900
        # bad responses: exception answers to three polls of the state (the wallbox is Faulted meanwhile),
        # then one response with a wrong transaction id; counted, and the link recovers
        wallbox.exceptions = 3
        waiting.wait_for(lambda: [s for s in csms.calls("StatusNotification")
                                  if s["evseId"] == 2 and s["connectorStatus"] == "Faulted"])
        sn = [x["connectorStatus"] for x in csms.calls("StatusNotification") if x["evseId"] == 2]
        waiting.wait_for(lambda: [x["connectorStatus"] for x in csms.calls("StatusNotification")
                                  if x["evseId"] == 2][len(sn):] == ["Occupied"])  # back once the polls succeed
        wallbox.garble = 1
        waiting.wait_for(lambda: wallbox.garble == 0)
        wallbox.set("energy_wh", 2000.0)
        wallbox.set_state("A")
        ended = waiting.wait_for(lambda: [e for e in wb_events(csms) if e["eventType"] == "Ended"])[0]
        assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected" and ended["triggerReason"] == "EVDeparted"
        assert ended["meterValue"][-1]["sampledValue"][0]["value"] == 2000
        seqs = [e["seqNo"] for e in wb_events(csms)]
        assert seqs == sorted(set(seqs)) == list(range(len(seqs)))
        assert csms.errors_sent() == []
        s = stop()
    validate_log([r for r in csms.records if "msg" in r], "2.0.1", "station")
    wb = s["bridge"]["chargers"]["WB-1"]["link"]
    assert wb["errors"]["exception"] >= 3 and wb["errors"]["mismatch"] >= 1, wb
    assert wb["last_error"].startswith("mismatch: transaction id"), wb["last_error"]
    assert wb["stats"]["writes"] == 1 and wb["stats"]["connects"] >= 2


CODEC = r"""
from bridge import modbus, regmap
import struct
ok = struct.pack(">HHHBBB5H", 7, 0, 13, 1, 3, 10, 0x4332, 0, 0, 0, 0)
print(modbus.parse_response(ok, 7, 1, 3, 5))
for name, frame, n in (("short data", ok[:-2], 5), ("tid", ok, 5), ("exception", bytes(ok[:7]) + bytes([0x83, 2]), 5),
                       ("count", ok, 4)):
    try:
        modbus.parse_response(frame, 7 if name != "tid" else 8, 1, 3, n)
        print(name, "accepted")
    except modbus.ModbusError as e:
        print(name, e.kind, e)
for hdr in (b"\x00\x01\x00\x05\x00\x06", b"\x00\x01\x00\x00\x01\x06", b"\x00\x01\x00\x00\x00"):
    try:
        print(modbus.frame_length(hdr, len(hdr)))
    except modbus.ModbusError as e:
        print("header", e.kind, e)
p = {"type": "f32", "scale": 1, "count": 2}
print(regmap.decode(regmap.encode(10.5, p, "little"), p, "little"), regmap.encode(10.5, p, "big"))
try:
    regmap.parse('{"name": "x", "source": "y", "points": {"state": {"addr": 1}, "current_limit_a": {"addr": 2}}}', "m.json")
except regmap.RegMapError as e:
    print("map", e)
"""


def test_codec_and_map_reject_malformed():
    # unit test of the MicroPython codec: every malformed response is a ModbusError of a named kind
    from jezgro_host.mp import run_code
    r = run_code(CODEC)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "[17202, 0, 0, 0, 0]"
    assert out[1].startswith("short data frame") and out[2].startswith("tid mismatch transaction id 7, expected 8")
    assert out[3] == "exception exception exception 2 (illegal data address) to function 3"
    assert out[4].startswith("count frame")
    assert out[5].startswith("header frame protocol id 5") and out[6].startswith("header frame MBAP length 262")
    assert out[7] == "0"
    assert out[8] == "10.5 [16680, 0]"
    assert out[9].startswith("map m.json: state.states must map raw values")
