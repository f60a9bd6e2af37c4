"""ISO 15118-20 SECC logic without a link, under MicroPython: the state tables of DC_BPT/AC_BPT in both
control modes, the failure responses (sequence, service, parameter set, charge parameters, schedule,
power profile, control mode, Pause/renegotiation), the Ongoing/WARNING cases that keep the state, the
power decisions (discharge only with BPT, within the schedule entry and the EV's and EVSE's limits,
V2X blocked by the EV, Dynamic setpoint), and the session loop (unknown SessionID, a payload type of
the other energy, grammars released). Every request and response goes through our EXI codec, so each
response, failures included, carries all mandatory elements. The real peer is in
test_iso15118_secc_20.py."""
from __future__ import annotations

_RESULT: dict = {}

SNIPPET = r"""
import json, sys
from exi import codec, schemas
from iso15118 import v20
from iso15118.values import rn
from iso15118.secc import iso20, sap
from iso15118.secc.evse_limits import EvseLimits
from iso15118.secc.session import SeccSession
from iso15118.transport.stream import StreamClosed, StreamTimeout
G = {n: schemas.grammar(n) for n in ("iso20-common", "iso20-dc", "iso20-ac")}
out = {}

def wire(name, body):
    g = G[v20.schema_of(name)]
    return codec.decode(g, codec.encode(g, {name: body}))[name]

def run(seq, ns=v20.NS_DC, evse=None, limits=None, full=None, clock=None):
    d = iso20.Data20(limits or EvseLimits(), evse or iso20.Evse20(), ns, clock)
    st = iso20.SessionSetup()
    got = []
    for name, body in seq:
        body = wire(name, dict(body, Header={"SessionID": d.session_id, "TimeStamp": 1}))
        res_name, res, st = st.process(d, name, body)
        res["Header"] = v20.header(d.session_id)
        res = wire(res_name, res)
        got.append([res_name, res["ResponseCode"], type(st).__name__ if st else None])
        if full is not None:
            full.append(res)
        if st is None:
            break
    return got, d

def setup(sid=6, pset=2, vas=False):
    sel = {"SelectedEnergyTransferService": {"ServiceID": sid, "ParameterSetID": pset}}
    if vas:
        sel["SelectedVASList"] = {"SelectedService": [{"ServiceID": 65, "ParameterSetID": 1}]}
    return [("SessionSetupReq", {"EVCCID": "WMIV1234567890ABCDEX"}), ("AuthorizationSetupReq", {}),
            ("AuthorizationReq", {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}}),
            ("ServiceDiscoveryReq", {}), ("ServiceDetailReq", {"ServiceID": sid}), ("ServiceSelectionReq", sel)]

DC_CP = {"EVMaximumChargePower": rn(300000), "EVMinimumChargePower": rn(100), "EVMaximumChargeCurrent": rn(300),
         "EVMinimumChargeCurrent": rn(10), "EVMaximumVoltage": rn(1000), "EVMinimumVoltage": rn(10)}
DC_BPT_CP = dict(DC_CP, EVMaximumDischargePower=rn(11000), EVMinimumDischargePower=rn(1000),
                 EVMaximumDischargeCurrent=rn(20), EVMinimumDischargeCurrent=rn(0))
SE_DYN = ("ScheduleExchangeReq", {"MaximumSupportingPoints": 1024, "Dynamic_SEReqControlMode": {
    "DepartureTime": 7200, "MinimumSOC": 30, "TargetSOC": 80, "EVTargetEnergyRequest": rn(40000),
    "EVMaximumEnergyRequest": rn(60000), "EVMinimumEnergyRequest": rn(-20000)}})
SE_SCH = ("ScheduleExchangeReq", {"MaximumSupportingPoints": 1024, "Scheduled_SEReqControlMode": {}})
PRE = [("DC_CableCheckReq", {}),
       ("DC_PreChargeReq", {"EVProcessing": "Ongoing", "EVPresentVoltage": rn(400), "EVTargetVoltage": rn(400)})]

def pd_start(sched=None, power=11000, channel="Charge"):
    prof = {"TimeAnchor": 0, "EVPowerProfileEntries": {"EVPowerProfileEntry": [{"Duration": 3600, "Power": rn(power)}]}}
    if sched is None:
        prof["Dynamic_EVPPTControlMode"] = {}
    else:
        prof["Scheduled_EVPPTControlMode"] = {"SelectedScheduleTupleID": sched}
    return ("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Start", "BPT_ChannelSelection": channel,
                                 "EVPowerProfile": prof})

def dc_dyn_loop(v2x_min=None, meter=False):
    m = {"EVTargetEnergyRequest": rn(20), "EVMaximumEnergyRequest": rn(200), "EVMinimumEnergyRequest": rn(20),
         "EVMaximumChargePower": rn(4000), "EVMinimumChargePower": rn(400), "EVMaximumChargeCurrent": rn(40),
         "EVMaximumVoltage": rn(400), "EVMinimumVoltage": rn(40),
         "EVMaximumDischargePower": rn(3000), "EVMinimumDischargePower": rn(300), "EVMaximumDischargeCurrent": rn(300)}
    if v2x_min is not None:
        m["EVMinimumV2XEnergyRequest"] = rn(v2x_min)
    return ("DC_ChargeLoopReq", {"MeterInfoRequested": meter, "EVPresentVoltage": rn(400), "BPT_Dynamic_DC_CLReqControlMode": m})

def dc_sch_loop(v, i, bpt=True):
    return ("DC_ChargeLoopReq", {"MeterInfoRequested": False, "EVPresentVoltage": rn(v),
            ("BPT_Scheduled_DC_CLReqControlMode" if bpt else "Scheduled_DC_CLReqControlMode"):
                {"EVTargetCurrent": rn(i), "EVTargetVoltage": rn(v)}})

STOP = ("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Stop"})
END = [STOP, ("DC_WeldingDetectionReq", {"EVProcessing": "Ongoing"}), ("SessionStopReq", {"ChargingSession": "Terminate"})]
DC_DYN = setup() + [("DC_ChargeParameterDiscoveryReq", {"BPT_DC_CPDReqEnergyTransferMode": DC_BPT_CP}), SE_DYN] + PRE

# full DC_BPT Dynamic session: charge at the EV's maximum, then the setpoint turns to discharge
ev = iso20.Evse20()
full = []
got, d = run(DC_DYN + [pd_start(), dc_dyn_loop()], evse=ev, full=full)
ev.setpoint_w = -5000
got2, d2 = run(DC_DYN + [pd_start(), dc_dyn_loop(meter=True)] + END, evse=ev, full=full)
out["dc_dyn"] = [got2, d.notes(), d2.notes(), full[-1 - len(END)], full[11]]
ev.setpoint_w = -5000
out["v2x_blocked"] = run(DC_DYN + [pd_start(), dc_dyn_loop(v2x_min=500)], evse=ev)[1].notes()
ev.stop_requested = True
full = []
run(DC_DYN + [pd_start(), dc_dyn_loop()], evse=ev, full=full)
out["terminate"] = full[-1].get("EVSEStatus")

# DC_BPT Scheduled: the plan charges 1 h then discharges; the EV's target is capped by the entry
sch = setup(pset=1) + [("DC_ChargeParameterDiscoveryReq", {"BPT_DC_CPDReqEnergyTransferMode": DC_BPT_CP}), SE_SCH] + PRE
full = []
ev = iso20.Evse20(plan=[(3600, 20000), (3600, -8000)])
got, d = run(sch + [pd_start(1, channel="Discharge"), dc_sch_loop(400, 300), dc_sch_loop(400, -30)] + END, evse=ev, full=full)
out["dc_sch"] = [got, d.notes(), full[7], full[11]["EVSEPresentCurrent"], full[12]["EVSEPresentCurrent"],
                 full[11]["EVSEPowerLimitAchieved"]]
ev = iso20.Evse20(plan=[(3600, -8000)])
full = []
run(sch + [pd_start(1, power=-8000, channel="Discharge"), dc_sch_loop(400, 300), dc_sch_loop(400, -30)], evse=ev, full=full)
out["dc_sch_discharge_entry"] = [full[-2]["EVSEPresentCurrent"], full[-1]["EVSEPresentCurrent"], full[-1]["EVSECurrentLimitAchieved"]]
# the plan in time (the kernel's clock, here 6 s further at each reading): charge 10 s, discharge 10 s
class Clock:
    t = -6000
    def ticks_ms(self):
        self.t += 6000
        return self.t
    def ticks_diff(self, a, b):
        return a - b
full = []
run(sch + [pd_start(1), dc_sch_loop(400, 300), dc_sch_loop(400, 300), dc_sch_loop(400, -30), dc_sch_loop(400, 300)],
    evse=iso20.Evse20(plan=[(10, 20000), (10, -8000)]), full=full, clock=Clock())
out["dc_sch_time"] = [r["EVSEPresentCurrent"]["Value"] for r in full[-4:]]
# plain DC (no BPT): a negative target current gives no discharge, the schedule has no discharge part
dc = setup(sid=2, pset=1) + [("DC_ChargeParameterDiscoveryReq", {"DC_CPDReqEnergyTransferMode": DC_CP}), SE_SCH] + PRE
full = []
run(dc + [pd_start(1, power=10000), dc_sch_loop(400, -30, bpt=False)], evse=ev, full=full)
out["dc_no_bpt"] = [full[-1]["EVSEPresentCurrent"], full[7]]

# AC_BPT Dynamic and Scheduled
AC_CP = {"EVMaximumChargePower": rn(11000), "EVMinimumChargePower": rn(100),
         "EVMaximumDischargePower": rn(7000), "EVMinimumDischargePower": rn(100)}
def ac_loop(mode, p=200000):
    if mode == "Dynamic":
        m = {"EVTargetEnergyRequest": rn(40000), "EVMaximumEnergyRequest": rn(60000), "EVMinimumEnergyRequest": rn(-20000),
             "EVMaximumChargePower": rn(11000), "EVMinimumChargePower": rn(100), "EVPresentActivePower": rn(p),
             "EVPresentReactivePower": rn(0), "EVMaximumDischargePower": rn(7000), "EVMinimumDischargePower": rn(100)}
        return ("AC_ChargeLoopReq", {"MeterInfoRequested": False, "BPT_Dynamic_AC_CLReqControlMode": m})
    return ("AC_ChargeLoopReq", {"MeterInfoRequested": False, "BPT_Scheduled_AC_CLReqControlMode": {"EVPresentActivePower": rn(p)}})
ac_end = [STOP, ("SessionStopReq", {"ChargingSession": "Terminate"})]
for mode, pset, se in (("Dynamic", 2, SE_DYN), ("Scheduled", 1, SE_SCH)):
    ev = iso20.Evse20(setpoint_w=-9000, plan=[(3600, 30000)])
    full = []
    seq = setup(5, pset) + [("AC_ChargeParameterDiscoveryReq", {"BPT_AC_CPDReqEnergyTransferMode": AC_CP}), se,
                            pd_start(1 if mode == "Scheduled" else None), ac_loop(mode)] + ac_end
    got, d = run(seq, ns=v20.NS_AC, evse=ev, full=full)
    out["ac_" + mode] = [got, d.notes(), full[6], full[-3]]

# failures: each ends the session with the request's response and the code
def last(seq, ns=v20.NS_DC, evse=None):
    return run(seq, ns, evse)[0][-1]
out["fail"] = {
    "sequence": last(setup()[:1] + [("ServiceDiscoveryReq", {})]),
    "stop_in_loop": last(DC_DYN + [pd_start(), dc_dyn_loop(), ("SessionStopReq", {"ChargingSession": "Terminate"})]),
    "start_twice": last(DC_DYN + [pd_start(), dc_dyn_loop(), pd_start()]),
    "service_id": last(setup()[:4] + [("ServiceDetailReq", {"ServiceID": 1})]),
    "parameter_set": last(setup(pset=7)),
    "vas": last(setup(vas=True)),
    "ac_service_in_dc": last(setup(sid=5)[:5]),
    "cpd_not_bpt": last(setup() + [("DC_ChargeParameterDiscoveryReq", {"DC_CPDReqEnergyTransferMode": DC_CP})]),
    "cpd_voltage": last(setup() + [("DC_ChargeParameterDiscoveryReq", {"BPT_DC_CPDReqEnergyTransferMode":
                                    dict(DC_BPT_CP, EVMinimumVoltage=rn(900))})]),
    "se_mode": last(setup() + [("DC_ChargeParameterDiscoveryReq", {"BPT_DC_CPDReqEnergyTransferMode": DC_BPT_CP}), SE_SCH]),
    "schedule_id": last(sch + [pd_start(3)]),
    "profile": last(DC_DYN + [pd_start(power=-90000)]),
    "loop_mode": last(DC_DYN + [pd_start(), dc_sch_loop(400, 10)]),
    "pause": last(setup()[:3] + [("SessionStopReq", {"ChargingSession": "Pause"})]),
    "renegotiation": last(setup()[:3] + [("SessionStopReq", {"ChargingSession": "ServiceRenegotiation"})]),
}
lim = EvseLimits()
lim.isolation_ok = False
out["fail"]["isolation"] = run(sch[:-1], limits=lim)[0][-1]
# states kept: Ongoing/WARNING answers
ev = iso20.Evse20()
ev.authorized = False
out["keep"] = {
    "not_authorized": run(setup()[:3], evse=ev)[0][-1],
    "pnc": run(setup()[:2] + [("AuthorizationReq", {"SelectedAuthorizationService": "PnC", "EIM_AReqAuthorizationMode": {}})])[0][-1],
    "ev_ongoing": run(DC_DYN + [("PowerDeliveryReq", {"EVProcessing": "Ongoing", "ChargeProgress": "Start"}), pd_start()])[0][-2:],
    "standby": run(DC_DYN + [("PowerDeliveryReq", {"EVProcessing": "Finished", "ChargeProgress": "Standby"})])[0][-1],
    "stop_before_loop": run(DC_DYN + [STOP, ("SessionStopReq", {"ChargingSession": "Terminate"})])[0][-2:],
}
# ServiceDiscovery filtered by the EV's SupportedServiceIDs; parameter sets in our order
full = []
run(setup()[:3] + [("ServiceDiscoveryReq", {"SupportedServiceIDs": {"ServiceID": [6, 9]}}), ("ServiceDetailReq", {"ServiceID": 6})],
    evse=iso20.Evse20(control_modes=("Dynamic", "Scheduled")), full=full)
out["offer"] = [full[-2]["EnergyTransferServiceList"], full[-1]["ServiceParameterList"]]

# SAP: -20 DC/AC with major version 1 are ours now
def ap(ns, prio, major, sid):
    return {"ProtocolNamespace": ns, "VersionNumberMajor": major, "VersionNumberMinor": 0, "SchemaID": sid, "Priority": prio}
out["sap"] = [sap.negotiate({"AppProtocol": [ap(sap.ISO20_AC, 2, 1, 3), ap(sap.ISO2, 1, 2, 4)]})[0],
              sap.negotiate({"AppProtocol": [ap(sap.ISO20_AC, 1, 1, 3), ap(sap.ISO2, 2, 2, 4)]})[1],
              sap.negotiate({"AppProtocol": [ap(sap.ISO20_DC, 1, 2, 3)]})[0]]

# the session loop with a scripted EV: unknown SessionID, the other energy's payload type
class Kernel:
    def ticks_ms(self): return 0
    def ticks_diff(self, a, b): return a - b
    def ticks_add(self, a, b): return a + b
class Ctx(Kernel):  # the service API's clock
    kernel = Kernel()
    def ticks_ms(self): return self.kernel.ticks_ms()
    def ticks_diff(self, a, b): return a - b
    def ticks_add(self, a, b): return a + b
class Stream:
    def __init__(self, frames, silent=False):
        self.frames = frames
        self.sent = []
        self.silent = silent
        self.timeout_ms = None
    async def recv(self, ctx, timeout_ms):
        if not self.frames:
            if self.silent:
                self.timeout_ms = timeout_ms
                raise StreamTimeout("no data")
            raise StreamClosed("EV closed")
        return self.frames.pop(0)
    async def send(self, ctx, pt, payload):
        self.sent.append(pt)
    def close(self):
        pass
def drive(coro):
    try:
        while True:
            coro.send(None)
    except StopIteration as e:
        return e.value
def frame(name, sid="0000000000000000", pt=None):
    g = G[v20.schema_of(name)]
    body = dict(setup()[0][1]) if name == "SessionSetupReq" else {}
    body["Header"] = {"SessionID": sid, "TimeStamp": 1}
    return (pt or v20.payload_type(name), codec.encode(g, {name: body}))
hs = schemas.grammar("handshake")
sapreq = (0x8001, codec.encode(hs, {"supportedAppProtocolReq": {"AppProtocol": [ap(sap.ISO20_DC, 1, 1, 1)]}}))
loops = {}
for case, frames in (("unknown_session", [frame("SessionSetupReq"), frame("AuthorizationSetupReq", "0102030405060708")]),
                     ("ac_pt_in_dc", [frame("SessionSetupReq"), (v20.PT_AC, b"\x80\x00")])):
    st = Stream([sapreq] + frames)
    r = drive(SeccSession(EvseLimits()).run(Ctx(), st)).as_dict()
    loops[case] = [r["end"], r["responses"], st.sent, r["detail"]]
st = Stream([sapreq, frame("SessionSetupReq")], silent=True)
r = drive(SeccSession(EvseLimits(), sequence_timeout_ms=1500).run(Ctx(), st)).as_dict()
loops["silent"] = [r["end"], st.timeout_ms, r["responses"][-1]]
st = Stream([sapreq], silent=True)
r = drive(SeccSession(EvseLimits(), setup_timeout_ms=1000).run(Ctx(), st)).as_dict()
loops["no_setup"] = [r["end"], st.timeout_ms, r["detail"]]
loops["released"] = [m for m in ("exi.grammars.iso20_dc", "exi.grammars.iso20_common") if m in sys.modules]
out["loop"] = loops
print("RESULT " + json.dumps(out))
"""


def result(mp) -> dict:
    if not _RESULT:
        _RESULT.update(mp(SNIPPET, heap="4M").data)
    return _RESULT


def test_dc_bpt_dynamic_charges_then_discharges_at_the_setpoint(mp):
    got, charged, discharged, loop_res, cpd_res = result(mp)["dc_dyn"]
    assert [n for n, _, _ in got] == [
        "SessionSetupRes", "AuthorizationSetupRes", "AuthorizationRes", "ServiceDiscoveryRes", "ServiceDetailRes",
        "ServiceSelectionRes", "DC_ChargeParameterDiscoveryRes", "ScheduleExchangeRes", "DC_CableCheckRes",
        "DC_PreChargeRes", "PowerDeliveryRes", "DC_ChargeLoopRes", "PowerDeliveryRes", "DC_WeldingDetectionRes",
        "SessionStopRes"]
    assert all(c.startswith("OK") for _, c, _ in got) and got[-1][2] is None
    assert [s for _, _, s in got][-4:-1] == ["ChargeLoop", "AfterCharging", "WeldingDetection"]
    # no setpoint: the EV's maximum 4 kW at 400 V = 10 A; setpoint -5 kW: the EV's 3 kW discharge maximum
    assert charged["p_max_w"] == 4000 and charged["discharge_loops"] == 0
    assert discharged == {"service": "DC_BPT", "control": "Dynamic", "channel": "Charge", "p_min_w": -2800,
                          "p_max_w": 0, "discharge_loops": 1}
    assert loop_res["EVSEPresentCurrent"] == {"Exponent": 0, "Value": -7}
    assert loop_res["EVSEPowerLimitAchieved"] is True
    assert set(loop_res["BPT_Dynamic_DC_CLResControlMode"]) >= {"EVSEMaximumDischargePower", "EVSEMinimumVoltage"}
    assert loop_res["MeterInfo"]["ChargedEnergyReadingWh"] == 0 and "BPT_DischargedEnergyReadingWh" in loop_res["MeterInfo"]
    assert "BPT_DC_CPDResEnergyTransferMode" in cpd_res or "EVSEMaximumChargePower" in str(cpd_res)


def test_v2x_minimum_blocks_discharge_and_evse_can_terminate(mp):
    r = result(mp)
    assert r["v2x_blocked"]["p_min_w"] == 0 and r["v2x_blocked"]["discharge_loops"] == 0
    assert r["terminate"] == {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}


def test_dc_bpt_scheduled_follows_the_schedule_entry(mp):
    got, notes, se_res, i_charge, i_dis, p_lim = result(mp)["dc_sch"]
    assert all(c.startswith("OK") for _, c, _ in got) and got[-1][0] == "SessionStopRes"
    tup = se_res["Scheduled_SEResControlMode"]["ScheduleTuple"][0]
    assert [e["Power"] for e in tup["ChargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"]] == [
        {"Exponent": 0, "Value": 20000}, {"Exponent": 0, "Value": -8000}]
    assert tup["DischargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"] == [
        {"Duration": 7200, "Power": {"Exponent": 1, "Value": -5000}}]
    assert "PriceLevelSchedule" in tup["ChargingSchedule"]
    # charging entry: 300 A at 400 V capped to 20 kW = 50 A; a discharge request there stays within the
    # DischargingSchedule and the EV's 20 A discharge maximum
    assert i_charge == {"Exponent": 0, "Value": 50} and p_lim is True
    assert i_dis == {"Exponent": 0, "Value": -20}
    assert notes["channel"] == "Discharge" and notes["p_max_w"] == 20000 and notes["p_min_w"] == -8000
    # discharging entry: no charge; -30 A within the EV's 20 A discharge maximum -> -20 A, current limited
    assert result(mp)["dc_sch_discharge_entry"] == [{"Exponent": 0, "Value": 0}, {"Exponent": 0, "Value": -20}, True]


def test_schedule_entries_follow_the_kernel_clock(mp):
    # 6 s: charging entry (20 kW / 400 V = 50 A); 12 s: discharging entry, no charge; 18 s: discharge
    # within the entry (8 kW) and the EV's 20 A; 24 s: past the plan, only the EVSE's/EV's limits (200 A)
    assert result(mp)["dc_sch_time"] == [50, 0, -20, 200]


def test_plain_dc_never_discharges(mp):
    i, se_res = result(mp)["dc_no_bpt"]
    assert i == {"Exponent": 0, "Value": 0}
    tup = se_res["Scheduled_SEResControlMode"]["ScheduleTuple"][0]
    assert "DischargingSchedule" not in tup
    assert tup["ChargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"][0]["Power"]["Value"] == 0


def test_ac_bpt_both_modes(mp):
    r = result(mp)
    got, notes, cpd, loop = r["ac_Dynamic"]
    assert [n for n, _, _ in got][6:] == ["AC_ChargeParameterDiscoveryRes", "ScheduleExchangeRes", "PowerDeliveryRes",
                                          "AC_ChargeLoopRes", "PowerDeliveryRes", "SessionStopRes"]
    assert all(c.startswith("OK") for _, c, _ in got)
    assert set(cpd["BPT_AC_CPDResEnergyTransferMode"]) >= {"EVSEMaximumDischargePower", "EVSENominalFrequency"}
    # setpoint -9 kW, the EV discharges at most 7 kW
    assert loop["BPT_Dynamic_AC_CLResControlMode"]["EVSETargetActivePower"] == {"Exponent": 0, "Value": -7000}
    assert notes["p_min_w"] == -7000 and notes["discharge_loops"] == 1
    got, notes, cpd, loop = r["ac_Scheduled"]
    assert all(c.startswith("OK") for _, c, _ in got) and got[-1][0] == "SessionStopRes"
    # schedule entry 30 kW, the EVSE's AC maximum 22 kW, the EV's 11 kW: target 11 kW
    assert loop["BPT_Scheduled_AC_CLResControlMode"]["EVSETargetActivePower"] == {"Exponent": 0, "Value": 11000}


def test_failure_responses_end_the_session(mp):
    f = result(mp)["fail"]
    assert f["sequence"] == ["ServiceDiscoveryRes", "FAILED_SequenceError", None]
    assert f["stop_in_loop"] == ["SessionStopRes", "FAILED_SequenceError", None]
    assert f["start_twice"] == ["PowerDeliveryRes", "FAILED_SequenceError", None]
    assert f["service_id"] == ["ServiceDetailRes", "FAILED_ServiceIDInvalid", None]
    assert f["parameter_set"] == ["ServiceSelectionRes", "FAILED_NoEnergyTransferServiceSelected", None]
    assert f["vas"] == ["ServiceSelectionRes", "FAILED_ServiceSelectionInvalid", None]
    assert f["ac_service_in_dc"] == ["ServiceDetailRes", "FAILED_ServiceIDInvalid", None]
    assert f["cpd_not_bpt"] == ["DC_ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter", None]
    assert f["cpd_voltage"] == ["DC_ChargeParameterDiscoveryRes", "FAILED_WrongChargeParameter", None]
    assert f["se_mode"] == ["ScheduleExchangeRes", "FAILED", None]
    assert f["schedule_id"] == ["PowerDeliveryRes", "FAILED_ScheduleSelectionInvalid", None]
    assert f["profile"] == ["PowerDeliveryRes", "FAILED_EVPowerProfileInvalid", None]
    assert f["loop_mode"] == ["DC_ChargeLoopRes", "FAILED_ServiceSelectionInvalid", None]
    assert f["pause"] == ["SessionStopRes", "FAILED_PauseNotAllowed", None]
    assert f["renegotiation"] == ["SessionStopRes", "FAILED_NoServiceRenegotiationSupported", None]
    assert f["isolation"] == ["DC_CableCheckRes", "FAILED", None]


def test_ongoing_and_warnings_keep_the_state(mp):
    k = result(mp)["keep"]
    assert k["not_authorized"] == ["AuthorizationRes", "OK", "Authorization"]
    assert k["pnc"] == ["AuthorizationRes", "WARNING_AuthorizationSelectionInvalid", "Authorization"]
    assert k["ev_ongoing"] == [["PowerDeliveryRes", "OK", "PowerDelivery"], ["PowerDeliveryRes", "OK", "ChargeLoop"]]
    assert k["standby"] == ["PowerDeliveryRes", "WARNING_StandbyNotAllowed", "PowerDelivery"]
    assert k["stop_before_loop"] == [["PowerDeliveryRes", "OK", "AfterCharging"], ["SessionStopRes", "OK", None]]


def test_offer_and_sap(mp):
    r = result(mp)
    services, params = r["offer"]
    assert services == {"Service": [{"ServiceID": 6, "FreeService": False}]}
    sets = params["ParameterSet"]
    assert [s["ParameterSetID"] for s in sets] == [2, 1]   # Dynamic first, as configured
    names = {p["Name"]: p["intValue"] for p in sets[0]["Parameter"]}
    assert names == {"Connector": 2, "ControlMode": 2, "MobilityNeedsMode": 1, "Pricing": 2, "BPTChannel": 1,
                     "GeneratorMode": 1}
    assert r["sap"] == [{"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": 4},
                        "urn:iso:std:iso:15118:-20:AC", {"ResponseCode": "Failed_NoNegotiation"}]


def test_session_loop_unknown_session_wrong_payload_type_and_timeouts(mp):
    lp = result(mp)["loop"]
    end, responses, sent, _ = lp["unknown_session"]
    assert end == "Failed"
    assert responses == [["supportedAppProtocolRes", "OK_SuccessfulNegotiation"],
                         ["SessionSetupRes", "OK_NewSessionEstablished"],
                         ["AuthorizationSetupRes", "FAILED_UnknownSession"]]
    assert sent == [0x8001, 0x8002, 0x8002]
    end, responses, sent, detail = lp["ac_pt_in_dc"]
    assert end == "Malformed" and "0x8003" in detail and len(responses) == 2
    # no request within V2G_SECC_Sequence_Timeout (configured 1.5 s here) after SessionSetupRes
    assert lp["silent"] == ["SequenceTimeout", 1500, ["SessionSetupRes", "OK_NewSessionEstablished"]]
    # no SessionSetupReq within V2G_SECC_CommunicationSetup_Timeout (1 s here, 20 s by default)
    assert lp["no_setup"] == ["CommunicationSetupTimeout", 1000, "no SessionSetupReq within 1000 ms"]
    assert lp["released"] == []


# Our own EVCC (firmware/iso15118/evcc, EvModel) against this SECC in one process: two coroutines over
# an in-memory stream pair in virtual time. The EVCC discharges by itself in its last loops
# (Scheduled: negative EVTargetCurrent / EVPresentActivePower); in Dynamic the SECC's setpoint turns
# negative after 3 loops.
PAIR = r"""
import json
from iso15118 import v20
from iso15118.evcc.ev_model import EvModel
from iso15118.evcc.session import EvccSession
from iso15118.secc.session import SeccSession
from iso15118.secc.iso20 import Evse20
from iso15118.secc.evse_limits import EvseLimits
from iso15118.transport.stream import StreamClosed, StreamTimeout

class Kernel:
    def __init__(self): self.now = 0
    def ticks_ms(self): return self.now
    def ticks_diff(self, a, b): return a - b
    def ticks_add(self, a, b): return a + b
class Pass:
    def __iter__(self):
        yield
class Ctx:
    def __init__(self, k): self.kernel = k
    def ticks_ms(self): return self.kernel.now
    def ticks_diff(self, a, b): return a - b
    def ticks_add(self, a, b): return a + b
    def feed(self): pass
    async def sleep_ms(self, ms):
        t = self.kernel.now + ms
        while self.kernel.now < t:
            await Pass()
class End:
    def __init__(self, k):
        self.k, self.rx, self.peer, self.closed = k, [], None, False
    async def send(self, ctx, pt, payload, timeout_ms=2000):
        if self.closed or self.peer.closed:
            raise StreamClosed("closed")
        self.peer.rx.append((pt, bytes(payload)))
    async def recv(self, ctx, timeout_ms):
        t = self.k.now + timeout_ms
        while not self.rx:
            if self.peer.closed:
                raise StreamClosed("peer closed")
            if self.k.now >= t:
                raise StreamTimeout("no data")
            await Pass()
        return self.rx.pop(0)
    def close(self):
        self.closed = True
    def cipher(self):
        return None

def pair_run(service, mode):
    k = Kernel()
    a, b = End(k), End(k)
    a.peer, b.peer = b, a
    evse = Evse20(control_modes=(mode, "Dynamic" if mode == "Scheduled" else "Scheduled"))
    n = [0]
    def power_mgr(name):
        if name.endswith("ChargeLoopReq"):
            n[0] += 1
            if mode == "Dynamic" and n[0] == 3:
                evse.setpoint_w = -4000
    ev = EvModel(loops=6, loop_ms=100, soc=50, energy_service=service, bpt_mode=mode)
    cs = [SeccSession(EvseLimits(), on_state=power_mgr, evse20=evse).run(Ctx(k), a),
          EvccSession(ev, [v20.NS_DC if service.startswith("DC") else v20.NS_AC]).run(Ctx(k), b)]
    res = [None, None]
    live = [0, 1]
    while live and k.now < 600000:
        for i in list(live):
            try:
                cs[i].send(None)
            except StopIteration as e:
                res[i] = e.value.as_dict()
                live.remove(i)
        k.now += 1
    s, e = res
    return {"secc": [s["end"], s["detail"]], "evcc": [e["end"], e["detail"]], "notes": s["notes"],
            "same": s["requests"][1:] == e["requests"][1:],
            "codes": sorted(set(c for _, c in s["responses"] + e["responses"]))}

print("RESULT " + json.dumps({svc + "/" + m: pair_run(svc, m) for svc in ("DC_BPT", "AC_BPT", "DC", "AC")
                              for m in ("Scheduled", "Dynamic")}))
"""


def test_our_evcc_against_this_secc_all_services_and_modes(mp):
    r = mp(PAIR, heap="4M").data
    for case, x in r.items():
        assert x["secc"] == ["SessionStop", ""] and x["evcc"][0] == "SessionStop", (case, x)
        assert x["same"], case
        assert all(c.startswith("OK") for c in x["codes"]), (case, x["codes"])
        service, mode = case.split("/")
        assert x["notes"]["service"] == service and x["notes"]["control"] == mode
        if service.endswith("BPT"):
            assert x["notes"]["p_max_w"] > 0 and x["notes"]["p_min_w"] < 0 and x["notes"]["discharge_loops"] >= 2, \
                (case, x["notes"])
        else:
            assert x["notes"]["p_min_w"] == 0 and x["notes"]["discharge_loops"] == 0, (case, x["notes"])
