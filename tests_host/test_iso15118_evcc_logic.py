"""EVCC logic without a link, under MicroPython: the request sequence of each protocol against our own
SECC state machines in the same process (tests_host/mp/e_fake.py, virtual clock), Ongoing repeats,
every message and sequence timer ending the session with its name, FAILED responses and an SECC that
closes ending it cleanly, SAP priorities, the EV model's arithmetic. The real peer is in
test_iso15118_evcc.py."""
from __future__ import annotations

SNIPPET = r"""
import json
from e_fake import Ctx, SeccStream, run
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc.session import EvccSession
from iso15118.evcc import sap, exchange
from iso15118.secc import sap as ssap, session as ssession
out = {}

def session(ns=(sap.DIN,), ev=None, setup_back_ms=None, msg_ms=None, **knobs):
    ctx = Ctx()
    st = SeccStream(ctx, **knobs)
    ev = ev or EvModel(loops=5, loop_ms=100)
    t0 = None if setup_back_ms is None else ctx.kernel.now - setup_back_ms
    r = run(EvccSession(ev, list(ns), setup_t0=t0, msg_ms=msg_ms).run(ctx, st))
    d = r.as_dict()
    d["slept"] = ctx.slept
    d["closed"] = st.closed
    d["secc_saw"] = st.seen
    return d

# sequences (CableCheck answered Ongoing twice, Authorization/ContractAuthentication three times)
out["din"] = session(ongoing={"CableCheckRes": 2, "ContractAuthenticationRes": 3})
out["iso2_dc"] = session((sap.ISO2,), ongoing={"AuthorizationRes": 3})
# SAP: the EV's first protocol wins when the SECC has both; a SECC with only the second gets that one
out["prio_iso2"] = session((sap.ISO2, sap.DIN))["protocol"]
out["prio_din"] = session((sap.DIN, sap.ISO2))["protocol"]
out["only_din"] = session((sap.ISO2, sap.DIN), supported={ssap.DIN: (2, 0, "din")})["protocol"]
out["no_common"] = session((sap.ISO2,), supported={ssap.DIN: (2, 0, "din")})
out["sap_req"] = sap.build_req([sap.ISO2, sap.DIN])
out["sap_minor"] = sap.chosen(out["sap_req"], {"ResponseCode": "OK_SuccessfulNegotiationWithMinorDeviation", "SchemaID": 2})
for name, res in (("sap_bad_id", {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 9}),
                  ("sap_failed", {"ResponseCode": "Failed_NoNegotiation"})):
    try:
        sap.chosen(out["sap_req"], res)
    except sap.SapError as e:
        out[name] = str(e)
# message timeouts: CurrentDemandRes never comes (250 ms), or with a replaced timeout
out["cd_timeout"] = session(silent="CurrentDemandReq")
out["cd_timeout_1s"] = session(silent="CurrentDemandReq", msg_ms={"CurrentDemandReq": 1000})
out["sap_timeout"] = session(silent="supportedAppProtocolReq")
# sequence timers
out["cable_check"] = session(ongoing={"CableCheckRes": 10000}, latency_ms=900)
out["ongoing"] = session((sap.ISO2,), ongoing={"ChargeParameterDiscoveryRes": 10000}, latency_ms=900)
def no_voltage(res):
    res["EVSEPresentVoltage"] = {"Multiplier": 0, "Unit": "V", "Value": 0}
out["pre_charge"] = session(rewrite={"PreChargeRes": no_voltage}, latency_ms=150)
out["comm_setup"] = session(setup_back_ms=19500, silent="SessionSetupReq")
# FAILED answers, the SECC closing, the EVSE stopping the charge
def failed(res):
    res["ResponseCode"] = "FAILED_WrongChargeParameter"
out["failed"] = session(rewrite={"ChargeParameterDiscoveryRes": failed})
out["closed"] = session(close_on="PreChargeReq")
def shutdown(res):
    res["DC_EVSEStatus"]["EVSEStatusCode"] = "EVSE_Shutdown"
out["evse_stop"] = session(rewrite={"CurrentDemandRes": shutdown})
out["wrong_pt"] = session(answer_pt=("CableCheckReq", 0x8004))
def ac_params(res):
    res.pop("DC_EVSEChargeParameter")
    res["AC_EVSEChargeParameter"] = {"AC_EVSEStatus": {"NotificationMaxDelay": 0, "EVSENotification": "None",
                                                       "RCD": False},
                                     "EVSENominalVoltage": {"Multiplier": 0, "Unit": "V", "Value": 230},
                                     "EVSEMaxCurrent": {"Multiplier": 0, "Unit": "A", "Value": 32}}
out["odd_content"] = session((sap.ISO2,), rewrite={"ChargeParameterDiscoveryRes": ac_params})
out["bad_value"] = session(ev=EvModel(evcc_id="XYZ"))
def dc_only(res):
    res["ChargeService"]["SupportedEnergyTransferMode"]["EnergyTransferMode"] = ["DC_extended"]
out["ac_not_offered"] = session((sap.ISO2,), ev=EvModel(energy_service="AC"), rewrite={"ServiceDiscoveryRes": dc_only})
# the EV model
m = EvModel(capacity_wh=40000, soc=50, max_v=450, max_i=200, max_p=50000, min_v=300, full_v=400)
v = m.target_v()
i = m.target_i()
m.update(36000, 400, 100)
out["model"] = [v, i, round(m.soc, 3), m.energy_wh, m.precharged(v + 20), m.precharged(v - 21),
                m.energy_request_wh()]
try:
    EvModel(energy_service="DC_AC")
except ValueError as e:
    out["model_bad"] = str(e)
out["from_dict"] = EvModel.from_dict({"soc": 12, "energy_service": "AC_BPT", "bpt_mode": "Dynamic"}).as_dict()
from iso15118.evcc import ev_sim
out["names"] = [ev_sim.protocols(["iso2-ac"]), ev_sim.protocols(["iso2-dc", "din"])]
for bad in (["iso2-ac", "din"], ["iso3"]):
    try:
        ev_sim.protocols(bad)
    except ValueError as e:
        out["names"].append(str(e))
out["ends"] = [[exchange.END_STOP, ssession.END_STOP], [exchange.END_FAILED, ssession.END_FAILED],
               [exchange.END_TIMEOUT, ssession.END_TIMEOUT], [exchange.END_CLOSED, ssession.END_CLOSED],
               [exchange.END_MALFORMED, ssession.END_MALFORMED]]
print("RESULT " + json.dumps(out))
"""

DIN = "urn:din:70121:2012:MsgDef"
ISO2 = "urn:iso:15118:2:2013:MsgDef"
HEAD_DIN = ["supportedAppProtocolReq", "SessionSetupReq", "ServiceDiscoveryReq", "ServicePaymentSelectionReq"]
HEAD_ISO2 = ["supportedAppProtocolReq", "SessionSetupReq", "ServiceDiscoveryReq", "PaymentServiceSelectionReq"]


def test_evcc_sequences_timers_and_failures(mp):
    r = mp(SNIPPET, heap="8M").data
    din = r["din"]
    assert din["end"] == "SessionStop" and din["detail"] == "complete" and din["closed"]
    assert din["requests"] == HEAD_DIN + ["ContractAuthenticationReq"] * 4 + [
        "ChargeParameterDiscoveryReq"] + ["CableCheckReq"] * 3 + ["PreChargeReq", "PowerDeliveryReq"] + [
        "CurrentDemandReq"] * 5 + ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    assert din["secc_saw"] == din["requests"]
    assert [n for n, _ in din["responses"]] == [q[:-3] + "Res" for q in din["requests"]]
    assert all(c.startswith("OK") for _, c in din["responses"])
    # charge-loop pacing between the 5 CurrentDemandReq, and the same pace before asking again after an
    # Ongoing answer (3 ContractAuthentication, 2 CableCheck repeats): no tight loop while the SECC waits
    assert din["slept"] == (4 + 3 + 2) * 100
    assert din["ev"]["loops"] == 5 and din["ev"]["energy_wh"] > 0
    iso2 = r["iso2_dc"]
    assert iso2["end"] == "SessionStop" and iso2["protocol"] == ISO2
    assert iso2["requests"] == HEAD_ISO2 + ["AuthorizationReq"] * 4 + [
        "ChargeParameterDiscoveryReq", "CableCheckReq", "PreChargeReq", "PowerDeliveryReq"] + [
        "CurrentDemandReq"] * 5 + ["PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    # SAP
    assert (r["prio_iso2"], r["prio_din"], r["only_din"]) == (ISO2, DIN, DIN)
    nc = r["no_common"]
    assert nc["end"] == "Failed" and "Failed_NoNegotiation" in nc["detail"] and nc["requests"] == [
        "supportedAppProtocolReq"] and nc["closed"]
    assert r["sap_req"] == {"AppProtocol": [
        {"ProtocolNamespace": ISO2, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1},
        {"ProtocolNamespace": DIN, "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 2, "Priority": 2}]}
    assert r["sap_minor"] == DIN
    assert "SchemaID 9" in r["sap_bad_id"] and "Failed_NoNegotiation" in r["sap_failed"]
    # message timeouts: the session ends at once with the timer named, the connection closed
    cd = r["cd_timeout"]
    assert cd["end"] == "SequenceTimeout" and cd["closed"]
    assert cd["detail"] == "no CurrentDemandRes within 250 ms after CurrentDemandReq (V2G_EVCC_Msg_Timeout)"
    assert cd["requests"][-1] == "CurrentDemandReq" and cd["requests"].count("CurrentDemandReq") == 1
    assert "within 1000 ms" in r["cd_timeout_1s"]["detail"]
    assert r["sap_timeout"]["detail"] == ("no supportedAppProtocolRes within 2000 ms after supportedAppProtocolReq "
                                          "(V2G_EVCC_Msg_Timeout)")
    # sequence timers
    cc = r["cable_check"]
    assert cc["end"] == "SequenceTimeout" and "V2G_EVCC_CableCheck_Timeout (40000 ms)" in cc["detail"], cc["detail"]
    assert 40 <= cc["requests"].count("CableCheckReq") <= 46 and cc["requests"][-1] == "CableCheckReq"
    og = r["ongoing"]
    assert og["end"] == "SequenceTimeout" and "V2G_EVCC_Ongoing_Timeout (60000 ms)" in og["detail"], og["detail"]
    assert og["requests"][-1] == "ChargeParameterDiscoveryReq"
    pc = r["pre_charge"]
    assert pc["end"] == "SequenceTimeout" and "V2G_EVCC_PreCharge_Timeout (7000 ms)" in pc["detail"], pc["detail"]
    assert pc["requests"].count("PreChargeReq") >= 20 and "PowerDeliveryReq" not in pc["requests"]
    cs = r["comm_setup"]
    assert cs["end"] == "SequenceTimeout" and cs["requests"][-1] == "SessionSetupReq"
    assert "V2G_EVCC_CommunicationSetup_Timeout" in cs["detail"] and "within 499 ms" in cs["detail"], cs["detail"]
    # a FAILED answer ends the session: nothing more is sent, the connection is closed
    f = r["failed"]
    assert f["end"] == "Failed" and f["detail"] == "ChargeParameterDiscoveryRes: FAILED_WrongChargeParameter"
    assert f["requests"][-1] == "ChargeParameterDiscoveryReq" and f["closed"]
    assert f["responses"][-1] == ["ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter"]
    assert r["closed"]["end"] == "PeerClosed" and r["closed"]["requests"][-1] == "PreChargeReq"
    es = r["evse_stop"]
    assert es["end"] == "SessionStop" and es["detail"] == "EVSE: EVSE_Shutdown"
    assert es["requests"].count("CurrentDemandReq") == 1 and es["requests"][-3:] == [
        "PowerDeliveryReq", "WeldingDetectionReq", "SessionStopReq"]
    wp = r["wrong_pt"]
    assert wp["end"] == "Malformed" and wp["detail"] == "payload type 0x8004 in answer to CableCheckReq" and wp["closed"]
    oc = r["odd_content"]
    assert oc["end"] == "Malformed" and "ChargeParameterDiscoveryRes lacks KeyError" in oc["detail"], oc["detail"]
    bv = r["bad_value"]
    assert bv["end"] == "Failed" and bv["detail"].startswith("cannot encode SessionSetupReq") and bv["closed"]
    assert bv["requests"] == ["supportedAppProtocolReq"]
    ac = r["ac_not_offered"]
    assert ac["end"] == "Failed" and "not AC_three_phase_core" in ac["detail"]
    # EV model: 400 V x 100 A for 36 s = 400 Wh = 1 % of 40 kWh; 350 V at 50 %, 200 A capped to 50 kW / 350 V
    v, i, soc, wh, pre_ok, pre_far, req = r["model"]
    assert (v, i, soc, wh, pre_ok, pre_far) == (350, 142, 51.0, 400.0, True, False)
    assert req == 11600  # (80 - 51) % of 40 kWh
    assert "DC_AC" in r["model_bad"]
    assert r["from_dict"]["energy_service"] == "AC_BPT" and r["from_dict"]["soc"] == 12
    assert all(a == b for a, b in r["ends"])
    assert r["names"] == [[[ISO2], "AC"], [[ISO2, DIN], "DC"], "din wants DC, the other protocols AC",
                          "unknown protocol iso3 (one of " + r["names"][3].split("(one of ")[1]]
    assert "iso20-dc-bpt" in r["names"][3]
