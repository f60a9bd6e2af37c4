"""SECC session logic without a link: supportedAppProtocol negotiation and the DIN state tables'
failure responses, run under MicroPython; every response is encoded with the DIN grammar, so a failure
response carries all mandatory elements."""
from __future__ import annotations

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"

_RESULT: dict = {}


def snippet_result(mp) -> dict:
    """One MicroPython run for all cases of this file."""
    if not _RESULT:
        _RESULT.update(mp(SNIPPET % {"din": DIN, "iso2": ISO2}).data)
    return _RESULT


SNIPPET = r"""
import json
from exi import codec, schemas
from iso15118.secc import din, sap
from iso15118.secc.evse_limits import EvseLimits
out = {}
def ap(ns, prio, major=2, minor=0, sid=None):
    return {"ProtocolNamespace": ns, "VersionNumberMajor": major, "VersionNumberMinor": minor,
            "SchemaID": prio if sid is None else sid, "Priority": prio}
both = {"%(din)s": (2, 0, "din"), "%(iso2)s": (2, 0, "iso2")}
out["sap"] = [sap.negotiate({"AppProtocol": aps}, both)[0] for aps in (
    [ap("%(iso2)s", 2, sid=10), ap("%(din)s", 1, sid=20)],
    [ap("%(iso2)s", 1, sid=10), ap("%(din)s", 2, sid=20)],
    [ap("urn:iso:std:iso:15118:-20:DC", 1), ap("%(din)s", 3, minor=1)],
    [ap("%(din)s", 1, major=1)],
    [])]
out["din_only"] = sap.negotiate({"AppProtocol": [ap("urn:iso:std:iso:15118:-20:DC", 1, major=1, sid=10),
                                                  ap("%(din)s", 2, sid=20)]})[0]
g = schemas.grammar("din")
def run(seq, limits=None):
    d = din.DinData(limits or EvseLimits())
    st = din.SessionSetup()
    got = []
    for name, body in seq:
        res_name, res, st = st.process(d, name, body)
        codec.encode(g, {"V2G_Message": {"Header": {"SessionID": d.session_id or "00"}, "Body": {res_name: res}}})
        got.append([res_name, res["ResponseCode"], st is not None])
        if st is None:
            break
    return got, d
evst = {"EVReady": True, "EVErrorCode": "NO_ERROR", "EVRESSSOC": 40}
pv = lambda v, u: {"Multiplier": 0, "Unit": u, "Value": v}
head = [("SessionSetupReq", {"EVCCID": "0A0B0C0D0E0F"}), ("ServiceDiscoveryReq", {}),
        ("ServicePaymentSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                        "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}),
        ("ContractAuthenticationReq", {}),
        ("ChargeParameterDiscoveryReq", {"EVRequestedEnergyTransferType": "DC_extended",
            "DC_EVChargeParameter": {"DC_EVStatus": evst, "EVMaximumCurrentLimit": pv(300, "A"),
                                     "EVMaximumVoltageLimit": pv(800, "V")}}),
        ("CableCheckReq", {"DC_EVStatus": evst})]
out["early_cable_check"] = run([head[0], head[5]])[0]
out["bad_payment"] = run(head[:2] + [("ServicePaymentSelectionReq", {"SelectedPaymentOption": "Contract"})])[0]
out["bad_transfer"] = run(head[:4] + [("ChargeParameterDiscoveryReq", {"EVRequestedEnergyTransferType": "AC_single_phase_core"})])[0]
cd = ("CurrentDemandReq", {"DC_EVStatus": evst, "EVTargetVoltage": pv(400, "V"), "EVTargetCurrent": pv(300, "A"),
                           "ChargingComplete": False})
lim = EvseLimits(max_v=500, max_i=200, max_p=60000)
got, d = run(head + [("PreChargeReq", {"DC_EVStatus": evst, "EVTargetVoltage": pv(400, "V"), "EVTargetCurrent": pv(2, "A")}),
                    ("PowerDeliveryReq", {"ReadyToChargeState": True}), cd,
                    ("SessionSetupReq", {"EVCCID": "0A"})], lim)
out["limited"] = [got[-2], list(d.limited), lim.present_v, lim.present_i, got[-1]]
from iso15118.secc import iso2
g2 = schemas.grammar("iso2")
def run2(seq, limits=None, full=None):
    d = iso2.Iso2Data(limits or EvseLimits())
    st = iso2.SessionSetup()
    got = []
    for name, body in seq:
        res_name, res, st = st.process(d, name, body)
        codec.encode(g2, {"V2G_Message": {"Header": {"SessionID": d.session_id}, "Body": {res_name: res}}})
        got.append([res_name, res["ResponseCode"], st is not None])
        if full is not None:
            full.append([res_name, res, type(st).__name__, d.power_w()])
        if st is None:
            break
    return got
head2 = [("SessionSetupReq", {"EVCCID": "0A0B0C0D0E0F"}), ("ServiceDiscoveryReq", {}),
         ("PaymentServiceSelectionReq", {"SelectedPaymentOption": "ExternalPayment",
                                         "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}}),
         ("AuthorizationReq", {})]
cpd2 = lambda mode: ("ChargeParameterDiscoveryReq", {"RequestedEnergyTransferMode": mode,
    "DC_EVChargeParameter": {"DC_EVStatus": evst, "EVMaximumCurrentLimit": pv(300, "A"),
                             "EVMaximumVoltageLimit": pv(800, "V")}})
out["iso2_mode"] = run2(head2 + [cpd2("AC_three_phase_core")], EvseLimits(modes=["DC_extended"]))[-1]
out["iso2_ac_dc_params"] = run2(head2 + [cpd2("AC_three_phase_core")])[-1]
out["iso2_contract"] = run2(head2[:2] + [("PaymentServiceSelectionReq", {"SelectedPaymentOption": "Contract",
    "SelectedServiceList": {"SelectedService": [{"ServiceID": 1}]}})])[-1]
out["iso2_din_message"] = run2(head2[:1] + [("ServiceDiscoveryReq", {}), ("CableCheckReq", {"DC_EVStatus": evst})])[-1]
pd2 = lambda prog: ("PowerDeliveryReq", {"ChargeProgress": prog, "SAScheduleTupleID": 1})
to_stop = head2 + [cpd2("DC_extended"), ("CableCheckReq", {"DC_EVStatus": evst}),
                   ("PreChargeReq", {"DC_EVStatus": evst, "EVTargetVoltage": pv(400, "V"), "EVTargetCurrent": pv(2, "A")}),
                   pd2("Start"), pd2("Stop")]
out["iso2_pause"] = run2(to_stop + [("SessionStopReq", {"ChargingSession": "Pause"})])[-2:]
out["iso2_terminate"] = run2(to_stop + [("SessionStopReq", {"ChargingSession": "Terminate"})])[-1]
out["iso2_stop"] = run2(head2[:1] + [("SessionStopReq", {"ChargingSession": "Terminate"})])[-1]
acp = lambda mode: ("ChargeParameterDiscoveryReq", {"RequestedEnergyTransferMode": mode,
    "AC_EVChargeParameter": {"DepartureTime": 7200, "EAmount": pv(20000, "Wh"), "EVMaxVoltage": pv(400, "V"),
                             "EVMaxCurrent": pv(32, "A"), "EVMinCurrent": pv(6, "A")}})
cs = ("ChargingStatusReq", {})
ac_seq = head2 + [acp("AC_three_phase_core"), pd2("Start"), cs, cs, pd2("Stop"),
                  ("SessionStopReq", {"ChargingSession": "Terminate"})]
ac_lim = EvseLimits(max_p=11000, ac_max_i=32, ac_nominal_v=230)
ac_full = []
out["ac"] = run2(ac_seq, ac_lim, ac_full)
out["ac_full"] = ac_full
out["ac_single"] = run2(head2 + [acp("AC_single_phase_core"), pd2("Start"), cs], EvseLimits(max_p=11000), ac_full)
out["ac_discovery"] = ac_full[1][1]["ChargeService"]["SupportedEnergyTransferMode"]
out["ac_cable_check"] = run2(head2 + [acp("AC_three_phase_core"), ("CableCheckReq", {"DC_EVStatus": evst})])[-1]
out["ac_welding"] = run2(head2 + [acp("AC_three_phase_core"), pd2("Start"), cs, pd2("Stop"),
                                  ("WeldingDetectionReq", {"DC_EVStatus": evst})])[-1]
out["dc_charging_status"] = run2(head2 + [cpd2("DC_extended"), cs])[-1]
stop_lim = EvseLimits()
stop_full = []
run2(head2 + [acp("AC_three_phase_core"), pd2("Start"), cs], stop_lim, stop_full)
stop_lim.stop_charging = True
d_stop = iso2.Iso2Data(stop_lim)
d_stop.ac = True
out["ac_stop_status"] = [stop_full[-1][1]["AC_EVSEStatus"], iso2._charging_status(d_stop, "OK")["AC_EVSEStatus"],
                         d_stop.evse_status()]
print("RESULT " + json.dumps(out))
"""


def test_sap_negotiation_and_din_failure_responses(mp):
    r = snippet_result(mp)
    assert r["sap"] == [
        {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 20},  # DIN has priority 1
        {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 10},  # -2 has priority 1
        {"ResponseCode": "OK_SuccessfulNegotiationWithMinorDeviation", "SchemaID": 3},  # -20 not ours
        {"ResponseCode": "Failed_NoNegotiation"},                      # major version 1
        {"ResponseCode": "Failed_NoNegotiation"}]
    # the default table: -20 DC (priority 1, major 1) has a state machine since secc/iso20.py
    assert r["din_only"] == {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 10}
    assert r["early_cable_check"] == [["SessionSetupRes", "OK_NewSessionEstablished", True],
                                      ["CableCheckRes", "FAILED_SequenceError", False]]
    assert r["bad_payment"][-1] == ["ServicePaymentSelectionRes", "FAILED_PaymentSelectionInvalid", False]
    assert r["bad_transfer"][-1] == ["ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter", False]
    # 400 V x 300 A asked, 200 A / 60 kW available: power-limited to 150 A.
    cd, limited, v, i, again = r["limited"]
    assert cd == ["CurrentDemandRes", "OK", True]
    assert limited == [False, False, True] and (v, i) == (400, 150)
    assert again == ["SessionSetupRes", "FAILED_SequenceError", False]
    # ISO 15118-2
    assert r["iso2_mode"] == ["ChargeParameterDiscoveryRes", "FAILED_WrongEnergyTransferMode", False]
    assert r["iso2_ac_dc_params"] == ["ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter", False]
    assert r["iso2_contract"] == ["PaymentServiceSelectionRes", "FAILED_PaymentSelectionInvalid", False]
    assert r["iso2_din_message"] == ["CableCheckRes", "FAILED_SequenceError", False]
    # Pause (a session to resume after a wake-up) is not offered: FAILED, the session ends
    assert r["iso2_pause"] == [["PowerDeliveryRes", "OK", True], ["SessionStopRes", "FAILED", False]]
    assert r["iso2_terminate"] == ["SessionStopRes", "OK", False]
    assert r["iso2_stop"] == ["SessionStopRes", "FAILED_SequenceError", False]


def test_iso2_ac_path_and_its_failures(mp):
    r = snippet_result(mp)
    names = [x[0] for x in r["ac"]]
    assert names == ["SessionSetupRes", "ServiceDiscoveryRes", "PaymentServiceSelectionRes", "AuthorizationRes",
                     "ChargeParameterDiscoveryRes", "PowerDeliveryRes", "ChargingStatusRes", "ChargingStatusRes",
                     "PowerDeliveryRes", "SessionStopRes"]
    assert all(c.startswith("OK") for _, c, _ in r["ac"]) and r["ac"][-1][2] is False
    states = [x[2] for x in r["ac_full"][:10]]
    assert states[4:] == ["ACPowerDelivery", "ChargingStatus", "ChargingStatus", "ChargingStatus",
                          "ACSessionStop", "NoneType"]
    assert r["ac_discovery"] == {"EnergyTransferMode": ["AC_three_phase_core", "AC_single_phase_core",
                                                        "DC_extended"]}
    cpd = r["ac_full"][4][1]
    assert "DC_EVSEChargeParameter" not in cpd
    # 11 kW over three phases at 230 V: 15 A per phase (less than the 32 A of EV and charger)
    assert cpd["AC_EVSEChargeParameter"] == {
        "AC_EVSEStatus": {"NotificationMaxDelay": 0, "EVSENotification": "None", "RCD": False},
        "EVSENominalVoltage": {"Multiplier": 0, "Unit": "V", "Value": 230},
        "EVSEMaxCurrent": {"Multiplier": 0, "Unit": "A", "Value": 15}}
    status = r["ac_full"][6][1]
    assert status["EVSEMaxCurrent"]["Value"] == 15 and status["SAScheduleTupleID"] == 1
    assert "AC_EVSEStatus" in r["ac_full"][5][1] and "DC_EVSEStatus" not in r["ac_full"][5][1]
    # power target: 0 before Start, 3 x 230 V x 15 A while charging, 0 after Stop
    assert [x[3] for x in r["ac_full"][4:10]] == [0, 10350, 10350, 10350, 0, 0]
    # single phase: up to 32 A on one phase (11 kW / 230 V = 47 A does not limit)
    assert r["ac_single"][-1] == ["ChargingStatusRes", "OK", True]
    assert r["ac_full"][-1][1]["EVSEMaxCurrent"]["Value"] == 32 and r["ac_full"][-1][3] == 230 * 32
    # DC messages on the AC path and AC messages on the DC path are sequence errors
    assert r["ac_cable_check"] == ["CableCheckRes", "FAILED_SequenceError", False]
    assert r["ac_welding"] == ["WeldingDetectionRes", "FAILED_SequenceError", False]
    assert r["dc_charging_status"] == ["ChargingStatusRes", "FAILED_SequenceError", False]
    # the charger asking the EV to stop: StopCharging (AC), EVSE_Shutdown + StopCharging (DC)
    before, after, dc = r["ac_stop_status"]
    assert before["EVSENotification"] == "None" and after["EVSENotification"] == "StopCharging"
    assert dc["EVSEStatusCode"] == "EVSE_Shutdown" and dc["EVSENotification"] == "StopCharging"
