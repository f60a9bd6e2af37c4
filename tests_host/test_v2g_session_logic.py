"""SECC session logic without a link: supportedAppProtocol negotiation and the DIN state tables'
failure responses, run under MicroPython; every response is encoded with the DIN grammar, so a failure
response carries all mandatory elements."""
from __future__ import annotations

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"

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
def run2(seq):
    d = iso2.Iso2Data(EvseLimits())
    st = iso2.SessionSetup()
    got = []
    for name, body in seq:
        res_name, res, st = st.process(d, name, body)
        codec.encode(g2, {"V2G_Message": {"Header": {"SessionID": d.session_id}, "Body": {res_name: res}}})
        got.append([res_name, res["ResponseCode"], st is not None])
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
out["iso2_mode"] = run2(head2 + [cpd2("AC_three_phase_core")])[-1]
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
print("RESULT " + json.dumps(out))
"""


def test_sap_negotiation_and_din_failure_responses(mp):
    r = mp(SNIPPET % {"din": DIN, "iso2": ISO2}).data
    assert r["sap"] == [
        {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 20},  # DIN has priority 1
        {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 10},  # -2 has priority 1
        {"ResponseCode": "OK_SuccessfulNegotiationWithMinorDeviation", "SchemaID": 3},  # -20 not ours
        {"ResponseCode": "Failed_NoNegotiation"},                      # major version 1
        {"ResponseCode": "Failed_NoNegotiation"}]
    assert r["din_only"] == {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 20}
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
    assert r["iso2_contract"] == ["PaymentServiceSelectionRes", "FAILED_PaymentSelectionInvalid", False]
    assert r["iso2_din_message"] == ["CableCheckRes", "FAILED_SequenceError", False]
    # Pause (a session to resume after a wake-up) is not offered: FAILED, the session ends
    assert r["iso2_pause"] == [["PowerDeliveryRes", "OK", True], ["SessionStopRes", "FAILED", False]]
    assert r["iso2_terminate"] == ["SessionStopRes", "OK", False]
    assert r["iso2_stop"] == ["SessionStopRes", "FAILED_SequenceError", False]
