# ISO 15118-20 EV side, DC and AC with or without BPT (bidirectional power transfer), external
# identification (EIM), Scheduled or Dynamic control mode: the §6.2 sequence
#   SessionSetup, AuthorizationSetup, Authorization, ServiceDiscovery, ServiceDetail, ServiceSelection,
#   DC_/AC_ChargeParameterDiscovery, ScheduleExchange, (DC: DC_CableCheck, DC_PreCharge),
#   PowerDelivery(Start), DC_/AC_ChargeLoop, PowerDelivery(Stop), (DC: DC_WeldingDetection),
#   SessionStop(Terminate)
# on the EVCC state scheme of machine.py (one class per state: the request it sends, how the response
# is classified, a transition table at the end). -20 differences from DIN/-2: messages are top-level
# documents with a Header (SessionID, TimeStamp), common messages use schema "iso20-common" and V2GTP
# payload type 0x8002, DC ones "iso20-dc"/0x8004, AC ones "iso20-ac"/0x8003; values are
# RationalNumbers (Value * 10^Exponent, Value a short).
# This module: the session data (Data20), the common-message states, the transition tables and
# drive(); the DC and AC states are in iso20_dc.py / iso20_ac.py, as on the SECC side.
# Its state classes and transition tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
# BPT: the EV charges first and then discharges (EvModel.loops > 0: the last loops // 2 charge-loop
# requests discharge). Scheduled: the EV sets the direction (DC: negative EVTargetCurrent, AC:
# negative EVPresentActivePower); Dynamic: the EVSE controls the power, the EV asks for discharge
# with a negative EVTargetEnergyRequest and follows the EVSE (AC: EVSETargetActivePower).
from exi import schemas
from iso15118 import v20
from iso15118.values import rn, rn_value
from iso15118.evcc import exchange, timeouts
from iso15118.evcc.exchange import EvccEnd, END_FAILED, END_MALFORMED
from iso15118.evcc.machine import SessionData, State, pause
from iso15118.evcc.iso20_dc import (DcChargeParameterDiscovery, DcCableCheck, DcPreCharge, DcPreChargeDone,
                                    DcChargeLoop, DcWeldingDetection, DcWeldingDone)
from iso15118.evcc.iso20_ac import AcChargeParameterDiscovery, AcChargeLoop

ISO20_DC = v20.NS_DC
ISO20_AC = v20.NS_AC
SERVICE_IDS = v20.SERVICE_IDS

# Message and sequence timeouts (ISO 15118-20 Tables 216-219) are timeouts.ISO20_*, shared with the
# DC and AC state modules.
T_ONGOING = timeouts.ISO20_ONGOING      # EVSEProcessing=Ongoing repeats

PRICE_ALGORITHM = "urn:iso:std:iso:15118:-20:PriceAlgorithm:1-Power"


class Data20(SessionData):
    # One -20 session: the EV, the exchange, what the SECC offered, the BPT plan.
    def __init__(self, ctx, x, ev):
        SessionData.__init__(self, ctx, x, ev)
        self.session_id = v20.SESSION_ID_NEW
        self.dc = ev.energy_service.startswith("DC")
        self.bpt = ev.energy_service.endswith("BPT")
        self.control = ev.bpt_mode      # "Scheduled" | "Dynamic"
        self.parameter_set_id = None
        self.schedule_id = None         # Scheduled: the ScheduleTupleID taken
        self.schedule_p = None          # Scheduled: the charging schedule's first power entry, W
        self.evse_max_dis_p = None
        self.evse_max_dis_i = None
        self.evse_min_v = None
        self.ac_p = 0                   # AC: the power the EV draws now, W (negative: feeds back)
        self.grammars = {}

    def grammar(self, name):
        g = self.grammars.get(name)
        if g is None:
            g = self.grammars[name] = schemas.grammar(name)
        return g

    def release(self):
        for name in self.grammars:
            schemas.release(name)
        self.grammars = {}

    # -- the EV's plan ---------------------------------------------------------------------------

    def discharge_loops(self):
        ev = self.ev
        return ev.loops // 2 if self.bpt and ev.loops > 0 else 0

    def discharging(self):
        # the coming charge-loop request belongs to the discharge phase
        return self.ev.loop_count >= self.ev.loops - self.discharge_loops() if self.discharge_loops() else False

    def loop_over(self):
        ev = self.ev
        if ev.loops > 0:
            return ev.loop_count >= ev.loops
        return ev.charging_complete()

    def charge_p(self):
        # the most the EV takes now: its own limit, the EVSE's, the schedule's
        ev = self.ev
        p = ev.max_p if self.dc else ev.ac_max_i * ev.ac_v * ev.ac_phases
        for cap in (self.evse_max_p, self.schedule_p):
            if cap is not None and 0 <= cap < p:
                p = cap
        return p

    def discharge_p(self):
        ev = self.ev
        p = ev.max_discharge_p
        if not self.dc and ev.max_discharge_i * ev.ac_v * ev.ac_phases < p:
            p = ev.max_discharge_i * ev.ac_v * ev.ac_phases
        if self.evse_max_dis_p is not None and self.evse_max_dis_p < p:
            p = self.evse_max_dis_p
        return p

    def charge_i(self):
        # DC target current while charging: SessionData.target_i (EV, EVSE current and power caps)
        i = self.target_i()
        v = self.ev.target_v()
        if self.schedule_p is not None and v > 0 and v * i > self.schedule_p:
            i = self.schedule_p // v
        return i

    def discharge_i(self):
        ev = self.ev
        i = ev.max_discharge_i
        if self.evse_max_dis_i is not None and self.evse_max_dis_i < i:
            i = self.evse_max_dis_i
        v = ev.target_v()
        p = self.discharge_p()
        if v > 0 and v * i > p:
            i = p // v
        return i

    def energy_request(self):
        # EVTargetEnergyRequest, Wh: to the target SoC; in the discharge phase what the EV offers,
        # negative (ISO 15118-20: a negative request means the EV may be discharged)
        ev = self.ev
        if self.discharging():
            return -int(self.discharge_p() * ev.loop_ms * self.discharge_loops() / 3600000) - 1
        return ev.energy_request_wh()

    def v2x_energy(self):
        # EVMinimumV2XEnergyRequest: how far the EV may be discharged (down to 20 % SoC), Wh, negative
        ev = self.ev
        return -int(max(0, ev.soc - 20) * ev.capacity_wh / 100)

    def profile_entries(self):
        # EVPowerProfile for PowerDelivery(Start): charge, then (BPT) discharge; durations in s
        ev = self.ev
        n = ev.loops if ev.loops > 0 else 3600000 // max(ev.loop_ms, 1)
        dn = self.discharge_loops()
        cs = max(1, (n - dn) * ev.loop_ms // 1000)
        out = [{"Duration": cs, "Power": rn(self.charge_p())}]
        if dn:
            out.append({"Duration": max(1, dn * ev.loop_ms // 1000), "Power": rn(-self.discharge_p())})
        return out

    # -- what DC and AC states share ---------------------------------------------------------------

    def cpd_params(self, res, kind):
        # ChargeParameterDiscoveryRes (kind "DC" / "AC") -> its (BPT_)<kind>_CPDResEnergyTransferMode
        name = kind + "_CPDResEnergyTransferMode"
        p = res.get("BPT_" + name if self.bpt else name)
        if p is None:
            raise EvccEnd(END_MALFORMED, "%s_ChargeParameterDiscoveryRes without the %s parameters" %
                          (kind, "BPT" if self.bpt else kind))
        return p

    def loop_outcome(self, res):
        # DC_/AC_ChargeLoopRes: the EVSE ends the loop with EVSENotification Terminate or Pause.
        st = res.get("EVSEStatus")
        n = st.get("EVSENotification") if st is not None else None
        return self.loop_end(n in ("Terminate", "Pause"), n)

    def display(self):
        ev = self.ev
        return {"PresentSOC": ev.soc_int(), "TargetSOC": ev.target_soc, "ChargingComplete": self.loop_over()}


# -- common states --------------------------------------------------------------------------------

class State20(State):
    """a common-messages state (schema set and payload type follow the request name, v20.schema_of)"""


class SessionSetup(State20):
    """sends SessionSetupReq with SessionID 0; the SECC's SessionID is ours from here on"""
    request = "SessionSetupReq"

    def body(self, d):
        return {"EVCCID": d.ev.evcc_id}

    def outcome(self, d, res, hdr):
        d.session_id = hdr["SessionID"]
        d.x.session_id = d.session_id
        d.x.setup = None   # communication setup complete
        return "ok"


class AuthorizationSetup(State20):
    """asks which identification the SECC offers; we need EIM"""
    request = "AuthorizationSetupReq"

    def outcome(self, d, res, hdr):
        if "EIM" not in res.get("AuthorizationServices", []):
            raise EvccEnd(END_FAILED, "the SECC offers %s, no EIM" % res.get("AuthorizationServices"))
        return "ok"


class Authorization(State20):
    """EIM; repeated while the SECC answers Ongoing (the driver identifies at the charger)"""
    request = "AuthorizationReq"
    timers = T_ONGOING
    loop = True

    def body(self, d):
        return {"SelectedAuthorizationService": "EIM", "EIM_AReqAuthorizationMode": {}}

    def outcome(self, d, res, hdr):
        if res["ResponseCode"].startswith("WARN"):
            raise EvccEnd(END_FAILED, "AuthorizationRes %s" % res["ResponseCode"])
        if res["EVSEProcessing"] == "Finished":
            d.stop_timer(T_ONGOING[0][0])
            return "Finished"
        return "Ongoing"


class ServiceDiscovery(State20):
    """the SECC's energy services; the EV's (DC/AC, with or without BPT) must be among them"""
    request = "ServiceDiscoveryReq"

    def outcome(self, d, res, hdr):
        want = SERVICE_IDS[d.ev.energy_service]
        offered = [s["ServiceID"] for s in res["EnergyTransferServiceList"]["Service"]]
        if want not in offered:
            raise EvccEnd(END_FAILED, "the SECC offers services %s, not %s (%d)" % (offered, d.ev.energy_service, want))
        d.service_id = want
        return "ok"


class ServiceDetail(State20):
    """the parameter sets of our service; takes the first with the EV's control mode (Dynamic:
    preferably with MobilityNeedsMode 1, the EV's own energy requests)"""
    request = "ServiceDetailReq"

    def body(self, d):
        return {"ServiceID": d.service_id}

    def outcome(self, d, res, hdr):
        want = v20.CONTROL_MODES[d.control]
        best = None
        for ps in res["ServiceParameterList"]["ParameterSet"]:
            params = {}
            for p in ps["Parameter"]:
                params[p["Name"]] = p.get("intValue")
            if params.get(v20.P_CONTROL_MODE) != want:
                continue
            if best is None or (params.get(v20.P_MOBILITY_NEEDS) == v20.MOBILITY_NEEDS["EVCC"] and best[1] != v20.MOBILITY_NEEDS["EVCC"]):
                best = (ps["ParameterSetID"], params.get(v20.P_MOBILITY_NEEDS))
        if best is None:
            raise EvccEnd(END_FAILED, "the SECC offers no parameter set with ControlMode %s" % d.control)
        d.parameter_set_id = best[0]
        return "ok"


class ServiceSelection(State20):
    """selects the energy service and parameter set"""
    request = "ServiceSelectionReq"

    def body(self, d):
        return {"SelectedEnergyTransferService": {"ServiceID": d.service_id, "ParameterSetID": d.parameter_set_id}}

    def outcome(self, d, res, hdr):
        return "dc" if d.dc else "ac"


class ScheduleExchange(State20):
    """the EV's energy needs (and BPT discharge offer); repeated while Ongoing; Scheduled: takes the
    first ScheduleTuple and its first charging power as a cap"""
    request = "ScheduleExchangeReq"
    timers = T_ONGOING
    loop = True

    def body(self, d):
        ev = d.ev
        e = ev.energy_request_wh()
        b: dict = {"MaximumSupportingPoints": 1024}
        if d.control == "Dynamic":
            m = {"DepartureTime": 7200, "TargetSOC": ev.target_soc, "EVTargetEnergyRequest": rn(e),
                 "EVMaximumEnergyRequest": rn(e), "EVMinimumEnergyRequest": rn(0)}
            if d.bpt:
                m["EVMaximumV2XEnergyRequest"] = rn(e)
                m["EVMinimumV2XEnergyRequest"] = rn(d.v2x_energy())
            b["Dynamic_SEReqControlMode"] = m
            return b
        m = {"DepartureTime": 7200, "EVTargetEnergyRequest": rn(e), "EVMaximumEnergyRequest": rn(e),
             "EVMinimumEnergyRequest": rn(0)}
        if d.discharge_loops():
            # the EV's discharge offer: what it can feed back, at no price of its own
            m["EVEnergyOffer"] = {
                "EVPowerSchedule": {"TimeAnchor": 0, "EVPowerScheduleEntries": {"EVPowerScheduleEntry": [
                    {"Duration": 3600, "Power": rn(-d.discharge_p())}]}},
                "EVAbsolutePriceSchedule": {"TimeAnchor": 0, "Currency": "EUR", "PriceAlgorithm": PRICE_ALGORITHM,
                                            "EVPriceRuleStacks": {"EVPriceRuleStack": [{"Duration": 0, "EVPriceRule": [
                                                {"EnergyFee": rn(0), "PowerRangeStart": rn(0)}]}]}}}
        b["Scheduled_SEReqControlMode"] = m
        return b

    def outcome(self, d, res, hdr):
        if res["EVSEProcessing"] != "Finished":
            return "Ongoing"
        d.stop_timer(T_ONGOING[0][0])
        if d.control == "Scheduled":
            m = res.get("Scheduled_SEResControlMode")
            if m is None or not m.get("ScheduleTuple"):
                raise EvccEnd(END_FAILED, "ScheduleExchangeRes Finished without a ScheduleTuple")
            st = m["ScheduleTuple"][0]
            d.schedule_id = st["ScheduleTupleID"]
            entries = st["ChargingSchedule"]["PowerSchedule"]["PowerScheduleEntries"]["PowerScheduleEntry"]
            d.schedule_p = rn_value(entries[0]["Power"])
        elif "Dynamic_SEResControlMode" not in res:
            raise EvccEnd(END_FAILED, "ScheduleExchangeRes without Dynamic_SEResControlMode")
        return "dc" if d.dc else "ac"


class PowerDeliveryStart(State20):
    """ChargeProgress=Start with the EV's power profile (charge, then BPT discharge)"""
    request = "PowerDeliveryReq"

    def body(self, d):
        prof = {"TimeAnchor": 0, "EVPowerProfileEntries": {"EVPowerProfileEntry": d.profile_entries()}}
        if d.control == "Scheduled":
            prof["Scheduled_EVPPTControlMode"] = {"SelectedScheduleTupleID": d.schedule_id,
                                                  "PowerToleranceAcceptance": "PowerToleranceConfirmed"}
        else:
            prof["Dynamic_EVPPTControlMode"] = {}
        b = {"EVProcessing": "Finished", "ChargeProgress": "Start", "EVPowerProfile": prof}
        if d.bpt:
            b["BPT_ChannelSelection"] = "Charge"
        return b

    def outcome(self, d, res, hdr):
        return "dc" if d.dc else "ac"


class PowerDeliveryStop(State20):
    """ChargeProgress=Stop: the EVSE ramps down and opens its contactors"""
    request = "PowerDeliveryReq"

    def body(self, d):
        return {"EVProcessing": "Finished", "ChargeProgress": "Stop"}

    def outcome(self, d, res, hdr):
        return "dc" if d.dc else "ac"


class SessionStop(State20):
    """ends the session for good"""
    request = "SessionStopReq"

    def body(self, d):
        return {"ChargingSession": "Terminate"}


# Transition tables: outcome of the state's response -> following state (None: the session is over).
SessionSetup.next = {"ok": AuthorizationSetup}
AuthorizationSetup.next = {"ok": Authorization}
Authorization.next = {"Ongoing": Authorization, "Finished": ServiceDiscovery}
ServiceDiscovery.next = {"ok": ServiceDetail}
ServiceDetail.next = {"ok": ServiceSelection}
ServiceSelection.next = {"dc": DcChargeParameterDiscovery, "ac": AcChargeParameterDiscovery}
DcChargeParameterDiscovery.next = {"ok": ScheduleExchange}
AcChargeParameterDiscovery.next = {"ok": ScheduleExchange}
ScheduleExchange.next = {"Ongoing": ScheduleExchange, "dc": DcCableCheck, "ac": PowerDeliveryStart}
DcCableCheck.next = {"Ongoing": DcCableCheck, "Finished": DcPreCharge}
DcPreCharge.next = {"again": DcPreCharge, "done": DcPreChargeDone}
DcPreChargeDone.next = {"ok": PowerDeliveryStart}
PowerDeliveryStart.next = {"dc": DcChargeLoop, "ac": AcChargeLoop}
DcChargeLoop.next = {"again": DcChargeLoop, "stop": PowerDeliveryStop}
AcChargeLoop.next = {"again": AcChargeLoop, "stop": PowerDeliveryStop}
PowerDeliveryStop.next = {"dc": DcWeldingDetection, "ac": SessionStop}
DcWeldingDetection.next = {"again": DcWeldingDetection, "done": DcWeldingDone}
DcWeldingDone.next = {"ok": SessionStop}
SessionStop.next = {"ok": None}


async def drive(d, first, msg_ms=timeouts.ISO20_MSG_MS):
    # Runs states from `first` until one's table says None; EvccEnd ends the session early.
    state = first
    prev = None
    k = d.ctx
    t_res = 0
    while state is not None:
        s = state()
        if state is prev and s.loop:
            ms = d.ev.loop_ms
            if s.pace_max_ms is not None and ms > s.pace_max_ms:
                ms = s.pace_max_ms
            ms -= k.ticks_diff(k.ticks_ms(), t_res)   # counted from the response's arrival
            if ms > 0:
                await pause(d.ctx, ms)
        body = s.body(d)
        body["Header"] = v20.header(d.session_id)
        res_name = s.request[:-3] + "Res"
        doc = await d.x.request(d.grammar(v20.schema_of(s.request)), s.request, {s.request: body}, res_name,
                                msg_ms[s.request], v20.payload_type(s.request), d.running(s.timers))
        t_res = k.ticks_ms()
        res = doc[res_name]
        hdr = res["Header"]
        if state is not SessionSetup and hdr["SessionID"] != d.session_id:
            raise EvccEnd(END_FAILED, "%s with SessionID %s, ours is %s" % (res_name, hdr["SessionID"], d.session_id))
        prev = state
        try:
            out = s.outcome(d, res, hdr)
        except (KeyError, TypeError, IndexError) as e:
            # decodable, but without what the response must carry here (e.g. no ScheduleTuple)
            raise EvccEnd(END_MALFORMED, "%s lacks %s: %r" % (res_name, type(e).__name__, e))
        state = state.next[out]


async def run(ctx, stream, ev, result):
    # The machine for both -20 namespaces: DC or AC follows the EV's energy service, which must
    # match the namespace the SECC chose.
    ns = result.protocol
    dc = ev.energy_service.startswith("DC")
    if ns is not None and ns != (ISO20_DC if dc else ISO20_AC):
        raise EvccEnd(END_FAILED, "the EV wants %s, the SECC chose %s" % (ev.energy_service, ns))
    if ev.energy_service not in SERVICE_IDS:
        raise EvccEnd(END_FAILED, "ISO 15118-20 has no %s here" % ev.energy_service)
    d = Data20(ctx, exchange.of(ctx, stream, result), ev)
    try:
        await drive(d, SessionSetup)
    finally:
        d.release()
    result.detail = d.stop_reason
