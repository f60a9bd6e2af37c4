"""ISO 15118-20 EVCC logic without a link, under MicroPython: the request sequence of -20 DC BPT and AC BPT
in both control modes against a minimal in-process -20 SECC (tests_host/mp/e20_fake.py, virtual clock,
every document through our EXI codec both ways), Ongoing repeats, charge then discharge with the
negative values where the standard puts them, every message and sequence timer ending the session
with its name, the charge-loop pacing, the EVSE terminating the charge, and the EV's refusals (no EIM,
service or control mode not offered, FAILED/WARNING answers, no ScheduleTuple, a wrong payload type,
foreign SessionID). The real peer is in test_iso15118_evcc_20.py."""
from __future__ import annotations

SNIPPET = r"""
import json
from e_fake import Ctx, run
from e20_fake import Secc20Stream, SESSION_ID
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc.session import EvccSession
from iso15118.evcc import iso20
from iso15118.values import rn, rn_value
out = {}

def session(service="DC_BPT", mode="Scheduled", ev=None, msg_ms=None, **knobs):
    ctx = Ctx()
    st = Secc20Stream(ctx, **knobs)
    ev = ev or EvModel(loops=6, loop_ms=100, soc=50, energy_service=service, bpt_mode=mode)
    ns = iso20.ISO20_DC if service.startswith("DC") else iso20.ISO20_AC
    r = run(EvccSession(ev, [ns], msg_ms=msg_ms).run(ctx, st))
    d = r.as_dict()
    d["closed"] = st.closed
    d["secc_saw"] = st.seen
    d["bad_pt"] = st.bad_pt
    d["mode"] = st.mode
    d["docs"] = st.docs
    d["now"] = ctx.kernel.now
    d["at"] = st.at
    return d

for svc in ("DC_BPT", "AC_BPT", "DC", "AC"):
    for mode in ("Scheduled", "Dynamic"):
        out[svc + "/" + mode] = session(svc, mode, ongoing={"AuthorizationRes": 2, "ScheduleExchangeRes": 2,
                                                            "DC_CableCheckRes": 2})
# message timeouts (V2G_EVCC_Msg_Timeout): the charge loops' 500 ms, ServiceDetail's 5 s, a replaced one
out["dc_loop_silent"] = session(silent="DC_ChargeLoopReq")
out["ac_loop_silent"] = session("AC_BPT", silent="AC_ChargeLoopReq")
out["detail_silent"] = session(silent="ServiceDetailReq")
out["loop_silent_1s"] = session(silent="DC_ChargeLoopReq", msg_ms={"DC_ChargeLoopReq": 1000})
# sequence timers
out["cable_check"] = session(ongoing={"DC_CableCheckRes": 100000}, latency_ms=900)
out["pre_charge"] = session(present_v=0, latency_ms=150)
out["schedule_ongoing"] = session(ongoing={"ScheduleExchangeRes": 100000}, latency_ms=900)
out["auth_ongoing"] = session("AC_BPT", ongoing={"AuthorizationRes": 100000}, latency_ms=900)
# refusals and failures
def no_eim(res):
    res["AuthorizationServices"] = ["PnC"]
    res.pop("EIM_ASResAuthorizationMode")
    res["PnC_ASResAuthorizationMode"] = {"GenChallenge": "AAAAAAAAAAAAAAAAAAAAAA=="}
def failed(res):
    res["ResponseCode"] = "FAILED_WrongChargeParameter"
def warn(res):
    res["ResponseCode"] = "WARNING_EIMAuthorizationFailure"
out["no_eim"] = session(rewrite={"AuthorizationSetupRes": no_eim})
out["no_bpt"] = session(services=(1, 2))
out["no_dynamic"] = session(mode="Dynamic", modes=(1,))
out["failed"] = session(rewrite={"DC_ChargeParameterDiscoveryRes": failed})
out["auth_warning"] = session(rewrite={"AuthorizationRes": warn})
out["closed"] = session(close_on="DC_PreChargeReq")
def foreign(res):
    res["Header"]["SessionID"] = "FFFFFFFFFFFFFFFF"
out["foreign_session"] = session(rewrite={"ServiceDiscoveryRes": foreign})
def evse_terminates(res):
    res["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
def dynamic_answer(res):
    res.pop("Scheduled_SEResControlMode")
    res["Dynamic_SEResControlMode"] = {"PriceLevelSchedule": {"TimeAnchor": 0, "PriceScheduleID": 1,
        "NumberOfPriceLevels": 1, "PriceLevelScheduleEntries": {"PriceLevelScheduleEntry": [{"Duration": 3600, "PriceLevel": 0}]}}}
out["evse_terminate"] = session("AC_BPT", rewrite={"AC_ChargeLoopRes": evse_terminates})
out["no_schedule"] = session(rewrite={"ScheduleExchangeRes": dynamic_answer})
out["wrong_pt"] = session(wrong_pt="DC_CableCheckRes")
out["battery_above_evse"] = session(ev=EvModel(loops=2, energy_service="DC_BPT", min_v=520, full_v=560, max_v=600))
# pacing: an EV configured for 1 s between requests repeats an Ongoing ScheduleExchange after 1 s, but
# the charge loop within V2G_EVCC_Sequence_Performance_Time
slow = session(ev=EvModel(loops=4, loop_ms=1000, energy_service="DC_BPT"), latency_ms=30,
               ongoing={"ScheduleExchangeRes": 2})
out["pacing"] = {n: [b - a for (x, a), (y, b) in zip(zip(slow["secc_saw"][1:], slow["at"]), zip(slow["secc_saw"][2:], slow["at"][1:]))
                     if x == y == n] for n in ("DC_ChargeLoopReq", "ScheduleExchangeReq")}
out["pacing_end"] = slow["end"]
# RationalNumber round trips, negative values included
out["rn"] = [[x, rn(x), rn_value(rn(x))] for x in (0, 1, -1, 32767, 32768, -32769, 100000, -11000, 7654321)]
print("RESULT " + json.dumps(out))
"""

COMMON = ["supportedAppProtocolReq", "SessionSetupReq", "AuthorizationSetupReq", "AuthorizationReq",
          "ServiceDiscoveryReq", "ServiceDetailReq", "ServiceSelectionReq"]


def collapse(names):
    out = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def loop_docs(r, name):
    return [b for n, b in r["docs"] if n == name]


def value(x):
    return x["Value"] * 10 ** x["Exponent"]


def test_evcc_20_sequences_discharge_timers_and_failures(mp):
    r = mp(SNIPPET, heap="8M").data
    for svc in ("DC_BPT", "AC_BPT", "DC", "AC"):
        for mode in ("Scheduled", "Dynamic"):
            s = r[f"{svc}/{mode}"]
            assert s["end"] == "SessionStop" and s["detail"] == "complete", (svc, mode, s["detail"], s["responses"])
            assert s["mode"] == mode and s["bad_pt"] == [] and s["closed"]
            assert all(c.startswith("OK") for _, c in s["responses"]), s["responses"]
            if svc.startswith("DC"):
                tail = ["DC_ChargeParameterDiscoveryReq", "ScheduleExchangeReq", "DC_CableCheckReq", "DC_PreChargeReq",
                        "PowerDeliveryReq", "DC_ChargeLoopReq", "PowerDeliveryReq", "DC_WeldingDetectionReq",
                        "SessionStopReq"]
                loop = "DC_ChargeLoopReq"
            else:
                tail = ["AC_ChargeParameterDiscoveryReq", "ScheduleExchangeReq", "PowerDeliveryReq", "AC_ChargeLoopReq",
                        "PowerDeliveryReq", "SessionStopReq"]
                loop = "AC_ChargeLoopReq"
            assert collapse(s["requests"]) == COMMON + tail, s["requests"]
            assert s["requests"] == s["secc_saw"]
            # Ongoing answered twice: the same request three times
            assert s["requests"].count("AuthorizationReq") == 3 and s["requests"].count("ScheduleExchangeReq") == 3
            if svc.startswith("DC"):
                assert s["requests"].count("DC_CableCheckReq") == 3
                pre = loop_docs(s, "DC_PreChargeReq")
                assert [p["EVProcessing"] for p in pre] == ["Ongoing", "Finished"]
                weld = loop_docs(s, "DC_WeldingDetectionReq")
                assert [w["EVProcessing"] for w in weld] == ["Ongoing", "Finished"]
            reqs = loop_docs(s, loop)
            assert len(reqs) == 6
            cm = [k for k in reqs[0] if k.endswith("CLReqControlMode")][0]
            bpt = svc.endswith("BPT")
            assert cm == ("BPT_" if bpt else "") + f"{mode}_{svc[:2]}_CLReqControlMode"
            energy = [value(q[cm]["EVTargetEnergyRequest"]) for q in reqs]
            pd = loop_docs(s, "PowerDeliveryReq")
            assert [p["ChargeProgress"] for p in pd] == ["Start", "Stop"]
            prof = [value(e["Power"]) for e in pd[0]["EVPowerProfile"]["EVPowerProfileEntries"]["EVPowerProfileEntry"]]
            if mode == "Scheduled":
                assert pd[0]["EVPowerProfile"]["Scheduled_EVPPTControlMode"]["SelectedScheduleTupleID"] == 7
            if not bpt:
                assert all(e > 0 for e in energy) and len(prof) == 1 and prof[0] > 0
                assert "BPT_ChannelSelection" not in pd[0]
                continue
            # BPT: three requests charging, three discharging, on both sides of the exchange
            assert pd[0]["BPT_ChannelSelection"] == "Charge"
            assert len(prof) == 2 and prof[0] > 0 > prof[1], prof
            assert all(e > 0 for e in energy[:3]) and all(e < 0 for e in energy[3:]), energy
            if svc == "DC_BPT" and mode == "Scheduled":
                target = [value(q[cm]["EVTargetCurrent"]) for q in reqs]
                assert all(t > 0 for t in target[:3]) and all(t < 0 for t in target[3:]), target
            if svc == "AC_BPT":
                present = [value(q[cm]["EVPresentActivePower"]) for q in reqs]
                if mode == "Scheduled":
                    assert all(p > 0 for p in present[:3]) and all(p < 0 for p in present[3:]), present
                else:   # follows EVSETargetActivePower of the previous answer
                    assert present[0] == 0 and present[1] > 0 and all(p < 0 for p in present[4:]), present
            se = loop_docs(s, "ScheduleExchangeReq")[0]
            if mode == "Dynamic":
                assert value(se["Dynamic_SEReqControlMode"]["EVMinimumV2XEnergyRequest"]) < 0
            else:
                offer = se["Scheduled_SEReqControlMode"]["EVEnergyOffer"]["EVPowerSchedule"]
                assert value(offer["EVPowerScheduleEntries"]["EVPowerScheduleEntry"][0]["Power"]) < 0
    # The scheduled DC charge is capped by the schedule's 50 kW: 50 kW at the battery voltage.
    dc = loop_docs(r["DC_BPT/Scheduled"], "DC_ChargeLoopReq")[0]["BPT_Scheduled_DC_CLReqControlMode"]
    assert value(dc["EVTargetCurrent"]) * value(dc["EVTargetVoltage"]) <= 50000
    # Message timeouts, each named, at the standard's values
    for key, req, ms in (("dc_loop_silent", "DC_ChargeLoopReq", 500), ("ac_loop_silent", "AC_ChargeLoopReq", 500),
                         ("detail_silent", "ServiceDetailReq", 5000), ("loop_silent_1s", "DC_ChargeLoopReq", 1000)):
        s = r[key]
        assert s["end"] == "SequenceTimeout" and s["requests"][-1] == req, (key, s)
        assert f"within {ms} ms after {req} (V2G_EVCC_Msg_Timeout)" in s["detail"], (key, s["detail"])
    for key, timer in (("cable_check", "V2G_EVCC_CableCheck_Timeout"), ("pre_charge", "V2G_EVCC_PreCharge_Timeout"),
                       ("schedule_ongoing", "V2G_EVCC_Ongoing_Timeout"), ("auth_ongoing", "V2G_EVCC_Ongoing_Timeout")):
        s = r[key]
        assert s["end"] == "SequenceTimeout" and timer in s["detail"], (key, s["detail"])
    # 40 s of 900 ms answers; 10 s of 150 ms answers plus the EV's 100 ms pacing
    assert 42 <= r["cable_check"]["requests"].count("DC_CableCheckReq") <= 46, r["cable_check"]["requests"].count("DC_CableCheckReq")
    assert 38 <= r["pre_charge"]["requests"].count("DC_PreChargeReq") <= 41, r["pre_charge"]["requests"].count("DC_PreChargeReq")
    assert r["schedule_ongoing"]["requests"][-1] == "ScheduleExchangeReq"
    assert r["auth_ongoing"]["requests"][-1] == "AuthorizationReq"
    # Refusals: no request after the one whose answer the EV cannot accept
    assert r["no_eim"]["end"] == "Failed" and "no EIM" in r["no_eim"]["detail"]
    assert r["no_eim"]["requests"][-1] == "AuthorizationSetupReq"
    assert r["no_bpt"]["end"] == "Failed" and "not DC_BPT (6)" in r["no_bpt"]["detail"]
    assert r["no_dynamic"]["end"] == "Failed" and "ControlMode Dynamic" in r["no_dynamic"]["detail"]
    assert r["failed"]["end"] == "Failed" and "FAILED_WrongChargeParameter" in r["failed"]["detail"]
    assert r["failed"]["requests"][-1] == "DC_ChargeParameterDiscoveryReq"
    assert r["auth_warning"]["end"] == "Failed" and "WARNING_EIMAuthorizationFailure" in r["auth_warning"]["detail"]
    assert r["closed"]["end"] == "PeerClosed" and r["closed"]["requests"][-1] == "DC_PreChargeReq"
    t = r["evse_terminate"]   # the EVSE ends the charge: PowerDelivery(Stop), SessionStop after one loop
    assert t["end"] == "SessionStop" and t["detail"] == "EVSE: Terminate", t["detail"]
    assert t["requests"][-3:] == ["AC_ChargeLoopReq", "PowerDeliveryReq", "SessionStopReq"], t["requests"]
    assert t["requests"].count("AC_ChargeLoopReq") == 1
    assert r["no_schedule"]["end"] == "Failed" and "without a ScheduleTuple" in r["no_schedule"]["detail"]
    assert r["wrong_pt"]["end"] == "Malformed" and "0x8002" in r["wrong_pt"]["detail"], r["wrong_pt"]["detail"]
    f = r["foreign_session"]
    assert f["end"] == "Failed" and "SessionID FFFFFFFFFFFFFFFF, ours is 0102030405060708" in f["detail"], f
    assert f["requests"][-1] == "ServiceDiscoveryReq"
    b = r["battery_above_evse"]
    assert b["end"] == "Failed" and "outside the EVSE's" in b["detail"], b
    # gap between two requests = the SECC's 30 ms + the EV's pause (Ongoing repeat: 1 s; charge loop: capped
    # so that response -> next request stays within 250 ms)
    assert r["pacing_end"] == "SessionStop"
    assert r["pacing"]["DC_ChargeLoopReq"] and all(g == 30 + 200 for g in r["pacing"]["DC_ChargeLoopReq"]), r["pacing"]
    assert r["pacing"]["ScheduleExchangeReq"] == [30 + 1000] * 2, r["pacing"]
    for x, rnum, back in r["rn"]:
        assert -32768 <= rnum["Value"] <= 32767
        assert abs(back - x) <= abs(x) // 3276 + 1, (x, rnum, back)   # a short mantissa truncates below 1/3277
