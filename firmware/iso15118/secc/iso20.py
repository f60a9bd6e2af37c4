# ISO 15118-20 SECC, DC and AC, each with or without BPT (bidirectional power transfer), external
# identification (EIM), Scheduled or Dynamic control mode: the §6.2 sequence as one class per state
# with a transition table (`<State>.next`: request accepted -> following state), one response builder
# per message type (BUILD) and one effect function per request (DO); DC and AC specifics in
# iso20_dc.py / iso20_ac.py. A request the state does not accept is answered with its response and
# FAILED_SequenceError; any FAILED response ends the session (the connection closes); a WARNING
# response or EVSEProcessing/EVProcessing=Ongoing keeps the state. Responses always carry every
# mandatory element, failures too. See docs/iso15118_20.md.
# Its state classes and transition and DO tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
import random
import time
from iso15118 import v20
from iso15118.v20 import OK, FAILED, FAILED_SEQUENCE_ERROR, FAILED_UNKNOWN_SESSION  # noqa: F401
from iso15118.values import rn, rn_value
from iso15118.secc import iso20_dc, iso20_ac
from iso15118.secc.evse_limits import AUTH_NO, AUTH_WAIT
UNKNOWN_SESSION = FAILED_UNKNOWN_SESSION  # the name secc/session.py looks up in each protocol module

SCHEDULE_TUPLE_ID = 1
PRICE_SCHEDULE_ID = 1
DAY_S = 86400


class Evse20:
    # What -20 needs beyond EvseLimits (DC V/A/W limits and present output): the offer (services,
    # control modes in order of preference: the EV takes the first parameter set it can use), BPT
    # discharge limits, AC limits, the Scheduled power plan and the Dynamic setpoint. The service
    # (POWER_MGR, OCPP) may change `setpoint_w`, `authorized`, `stop_requested` during a session.
    def __init__(self, dc_services=("DC_BPT", "DC"), ac_services=("AC_BPT", "AC"),
                 control_modes=("Scheduled", "Dynamic"), min_p=0,
                 max_dis_p=50000, min_dis_p=0, max_dis_i=100, min_dis_i=0,
                 ac_max_p=22000, ac_min_p=1400, ac_max_dis_p=11000, ac_min_dis_p=0,
                 ac_nominal_v=230, ac_frequency=50, ac_three_phase=True, plan=None, setpoint_w=None):
        self.dc_services = dc_services
        self.ac_services = ac_services
        self.control_modes = control_modes
        self.min_p = min_p                  # DC minimum charge power, W
        self.max_dis_p = max_dis_p          # DC_BPT discharge limits, W and A (magnitudes)
        self.min_dis_p = min_dis_p
        self.max_dis_i = max_dis_i
        self.min_dis_i = min_dis_i
        self.ac_max_p = ac_max_p            # AC total active power limits, W
        self.ac_min_p = ac_min_p
        self.ac_max_dis_p = ac_max_dis_p
        self.ac_min_dis_p = ac_min_dis_p
        self.ac_nominal_v = ac_nominal_v
        self.ac_frequency = ac_frequency
        self.ac_three_phase = ac_three_phase
        # Scheduled: the ChargingSchedule as [(duration s, power W)], negative power = discharge
        # (BPT only); None: the maximum power for 24 h.
        self.plan = plan
        # Dynamic: the EVSE's target power (+ charge, - discharge); None: as much as the limits allow.
        self.setpoint_w = setpoint_w
        self.authorized = True              # EIM done (else AuthorizationRes Ongoing)
        self.stop_requested = False         # EVSENotification=Terminate in the charge loop
        self.discharged_wh = 0              # meter reading for MeterInfo (BPT)


class Data20:
    # What one -20 session knows: its energy (DC/AC), the selected service and control mode, the
    # EV's limits of its last request, the output and the powers seen (notes()).
    def __init__(self, limits, evse, namespace, clock=None):
        self.limits = limits
        self.evse = evse
        # the kernel's ms clock (virtual in simulations; wraps like the board's), else the time module
        self.clock = clock.ticks_ms if clock is not None else time.ticks_ms
        self.clock_diff = clock.ticks_diff if clock is not None else time.ticks_diff
        self.dc = namespace == v20.NS_DC
        self.offered = list(evse.dc_services if self.dc else evse.ac_services)
        self.session_id = v20.SESSION_ID_NEW
        self.service = None
        self.bpt = False
        self.control = None
        self.detail_id = 0
        self.supporting_points = 1
        self.ev_se = {}             # Dynamic: the EV's DepartureTime/MinimumSOC/TargetSOC to echo
        self.channel = None         # BPT_ChannelSelection of PowerDeliveryReq(Start)
        self.charging = False
        self.t_start = 0            # ticks_ms of PowerDelivery(Start): the schedule's time origin
        self.ev_max_p = 0
        self.ev_max_i = 0
        self.ev_max_dis_p = 0
        self.ev_max_dis_i = 0
        self.v2x_blocked = False
        self.limited = (False, False, False)
        self.present_i = 0
        self.target_w = None        # AC: EVSETargetActivePower
        self.meter_requested = False
        self.stay = False           # set by an effect: answer OK but keep the state (Ongoing)
        self.p_min = 0
        self.p_max = 0
        self.discharge_loops = 0

    @property
    def terminate(self):
        return self.evse.stop_requested

    def max_p(self):
        return self.limits.max_p if self.dc else self.evse.ac_max_p

    def plan(self):
        p = self.evse.plan
        return p if p else [(DAY_S, self.max_p())]

    def schedule_power(self):
        # The selected schedule's entry now (W), None past its end.
        t = self.clock_diff(self.clock(), self.t_start) // 1000
        for duration, power in self.plan()[:self.supporting_points]:
            if t < duration:
                return power if self.bpt or power > 0 else 0
            t -= duration
        return None

    def dynamic_power(self, default):
        p = self.evse.setpoint_w
        if p is None:
            p = default
        if p < 0 and (not self.bpt or self.v2x_blocked):
            p = 0
        return p

    def note_power(self, p):
        if p < self.p_min:
            self.p_min = p
        if p > self.p_max:
            self.p_max = p
        if p < 0:
            self.discharge_loops += 1

    def meter_info(self):
        m = {"MeterID": self.limits.evse_id[:32], "ChargedEnergyReadingWh": max(self.limits.energy_wh, 0)}
        if self.bpt:
            m["BPT_DischargedEnergyReadingWh"] = self.evse.discharged_wh
        return m

    def loop_status(self, res):
        # What DC and AC charge-loop responses both carry: the stop request and the meter reading.
        if self.terminate:
            res["EVSEStatus"] = {"NotificationMaxDelay": 0, "EVSENotification": "Terminate"}
        if self.meter_requested:
            res["MeterInfo"] = self.meter_info()
        return res

    def notes(self):
        return {"service": self.service, "control": self.control, "channel": self.channel,
                "p_min_w": self.p_min, "p_max_w": self.p_max, "discharge_loops": self.discharge_loops}


# -- response builders: (session data, response code) -> body without Header --------------------

def _session_setup(d, code):
    return {"ResponseCode": code, "EVSEID": d.limits.evse_id}


def _authorization_setup(d, code):
    return {"ResponseCode": code, "AuthorizationServices": ["EIM"], "CertificateInstallationService": False,
            "EIM_ASResAuthorizationMode": {}}


def _authorization(d, code):
    return {"ResponseCode": code, "EVSEProcessing": "Finished" if d.evse.authorized else "Ongoing"}


def _service_discovery(d, code):
    return {"ResponseCode": code, "ServiceRenegotiationSupported": False,
            "EnergyTransferServiceList": {"Service": [
                {"ServiceID": v20.SERVICE_IDS[s], "FreeService": False} for s in d.offered]}}


def _parameters(d, service, mode):
    ps = [(v20.P_CONNECTOR, 2 if service.startswith("DC") or d.evse.ac_three_phase else 1),
          (v20.P_CONTROL_MODE, v20.CONTROL_MODES[mode])]
    if service.startswith("AC"):
        ps.append((v20.P_NOMINAL_V, d.evse.ac_nominal_v))
    ps.append((v20.P_MOBILITY_NEEDS, v20.MOBILITY_NEEDS["EVCC"]))
    ps.append((v20.P_PRICING, 2))   # price levels (ScheduleExchangeRes carries a PriceLevelSchedule)
    if service.endswith("BPT"):
        ps.append((v20.P_BPT_CHANNEL, 1))       # unified
        ps.append((v20.P_GENERATOR_MODE, 1))    # grid following
        if service.startswith("AC"):
            ps.append((v20.P_GRID_CODE_DETECTION, 1))   # active
    return [{"Name": n, "intValue": v} for n, v in ps]


def _service_detail(d, code):
    sid = d.detail_id
    service = v20.SERVICE_NAMES.get(sid, d.offered[0])
    return {"ResponseCode": code, "ServiceID": sid, "ServiceParameterList": {"ParameterSet": [
        {"ParameterSetID": v20.CONTROL_MODES[m], "Parameter": _parameters(d, service, m)}
        for m in d.evse.control_modes]}}


def _code_only(d, code):
    return {"ResponseCode": code}


def _price_levels(start, duration):
    return {"TimeAnchor": start, "PriceScheduleID": PRICE_SCHEDULE_ID, "NumberOfPriceLevels": 1,
            "PriceLevelScheduleEntries": {"PriceLevelScheduleEntry": [{"Duration": duration, "PriceLevel": 0}]}}


def _schedule(entries, start):
    total = 0
    for duration, _ in entries:
        total += duration
    return {"PowerSchedule": {"TimeAnchor": start, "PowerScheduleEntries": {"PowerScheduleEntry": [
        {"Duration": duration, "Power": rn(power)} for duration, power in entries]}},
        "PriceLevelSchedule": _price_levels(start, total)}


def _schedule_exchange(d, code):
    res = {"ResponseCode": code, "EVSEProcessing": "Finished"}
    now = int(time.time())
    if d.control == "Dynamic":
        res["Dynamic_SEResControlMode"] = dict(d.ev_se)
        return res
    entries = d.plan()[:d.supporting_points]
    if not d.bpt:
        entries = [(t, max(p, 0)) for t, p in entries]
    tup = {"ScheduleTupleID": SCHEDULE_TUPLE_ID, "ChargingSchedule": _schedule(entries, now)}
    if d.bpt:
        # the limit while discharging: the EVSE's discharge maximum over the whole plan, negative
        total = 0
        for t, _ in entries:
            total += t
        dis = d.evse.max_dis_p if d.dc else d.evse.ac_max_dis_p
        tup["DischargingSchedule"] = _schedule([(total, -dis)], now)
    res["Scheduled_SEResControlMode"] = {"ScheduleTuple": [tup]}
    return res


BUILD = {
    "SessionSetupReq": ("SessionSetupRes", _session_setup),
    "AuthorizationSetupReq": ("AuthorizationSetupRes", _authorization_setup),
    "AuthorizationReq": ("AuthorizationRes", _authorization),
    "ServiceDiscoveryReq": ("ServiceDiscoveryRes", _service_discovery),
    "ServiceDetailReq": ("ServiceDetailRes", _service_detail),
    "ServiceSelectionReq": ("ServiceSelectionRes", _code_only),
    "ScheduleExchangeReq": ("ScheduleExchangeRes", _schedule_exchange),
    "PowerDeliveryReq": ("PowerDeliveryRes", _code_only),
    "SessionStopReq": ("SessionStopRes", _code_only),
}
BUILD.update(iso20_dc.BUILD)
BUILD.update(iso20_ac.BUILD)

# Charge-loop requests: their responses carry the 25 ms performance time (measured per response).
LOOP_REQUESTS = ("DC_ChargeLoopReq", "AC_ChargeLoopReq")


# -- request effects: (session data, request body) -> response code --------------------------------

def _do_session_setup(d, req):
    d.limits.evccid = str(req.get("EVCCID") or "")
    # A SessionID of ours from a paused session would be resumed here; none are kept (Pause is
    # refused), so every EV gets a new session.
    d.session_id = "".join("%08X" % random.getrandbits(32) for _ in range(2))
    return v20.OK_NEW_SESSION


def _do_authorization(d, req):
    if req.get("SelectedAuthorizationService") != "EIM" or "EIM_AReqAuthorizationMode" not in req:
        return "WARNING_AuthorizationSelectionInvalid"   # only EIM offered; the EV may choose again
    auth = d.limits.auth
    if auth == AUTH_NO:
        return FAILED   # the gateway's authority refused: the session ends without power
    d.stay = not d.evse.authorized or auth == AUTH_WAIT
    return OK


def _do_service_discovery(d, req):
    ids = req.get("SupportedServiceIDs", {}).get("ServiceID")
    if ids:
        wanted = [s for s in d.offered if v20.SERVICE_IDS[s] in ids]
        if wanted:
            d.offered = wanted
    return OK


def _do_service_detail(d, req):
    d.detail_id = req["ServiceID"]
    return OK if v20.SERVICE_NAMES.get(d.detail_id) in d.offered else v20.FAILED_SERVICE_ID_INVALID


def _do_service_selection(d, req):
    if "SelectedVASList" in req:
        return v20.FAILED_SERVICE_SELECTION_INVALID   # no value-added services offered
    sel = req["SelectedEnergyTransferService"]
    service = v20.SERVICE_NAMES.get(sel["ServiceID"])
    mode = v20.CONTROL_MODE_NAMES.get(sel["ParameterSetID"])
    if service is None or service not in d.offered or mode not in d.evse.control_modes:
        return v20.FAILED_NO_ENERGY_SERVICE
    d.service = service
    d.bpt = service.endswith("BPT")
    d.control = mode
    return OK


def _do_schedule_exchange(d, req):
    d.supporting_points = max(1, req["MaximumSupportingPoints"])
    mode = req.get(d.control + "_SEReqControlMode")
    if mode is None:
        return FAILED   # the other control mode's parameters than selected
    if d.control == "Dynamic":
        d.ev_se = {k: mode[k] for k in ("DepartureTime", "MinimumSOC", "TargetSOC") if k in mode}
    return OK


def _profile_ok(d, profile):
    lo = -(d.evse.max_dis_p if d.dc else d.evse.ac_max_dis_p) if d.bpt else 0
    hi = d.max_p()
    for e in profile["EVPowerProfileEntries"]["EVPowerProfileEntry"]:
        p = rn_value(e["Power"])
        if p < lo or p > hi:
            return False
    return True


def _do_power_delivery(d, req):
    if req["EVProcessing"] == "Ongoing":
        d.stay = True   # the EV is still preparing its power profile and asks again
        return OK
    progress = req["ChargeProgress"]
    if progress == "Stop":
        d.charging = False
        d.limits.follow_target(d.limits.present_v, 0)
        d.present_i = 0
        d.target_w = 0 if d.target_w is not None else None
        return OK
    if progress == "Standby":
        d.stay = True
        return "WARNING_StandbyNotAllowed"
    if progress != "Start" or d.charging:
        return "FAILED_ScheduleRenegotiation" if progress == "ScheduleRenegotiation" else FAILED_SEQUENCE_ERROR
    profile = req.get("EVPowerProfile")
    if profile is not None:
        if d.control == "Scheduled":
            sel = profile.get("Scheduled_EVPPTControlMode")
            if sel is None or sel["SelectedScheduleTupleID"] != SCHEDULE_TUPLE_ID:
                return v20.FAILED_SCHEDULE_SELECTION_INVALID
        if not _profile_ok(d, profile):
            return v20.FAILED_POWER_PROFILE_INVALID
    elif d.control == "Scheduled":
        return v20.FAILED_SCHEDULE_SELECTION_INVALID   # Start without saying which schedule
    d.channel = req.get("BPT_ChannelSelection") if d.bpt else None
    d.charging = True
    d.t_start = d.clock()
    return OK


def _do_session_stop(d, req):
    cs = req["ChargingSession"]
    if cs == "Terminate":
        return OK
    # Pause needs a resumable session, ServiceRenegotiation was not offered: both refused.
    return "FAILED_NoServiceRenegotiationSupported" if cs == "ServiceRenegotiation" else "FAILED_PauseNotAllowed"


DO = {
    "SessionSetupReq": _do_session_setup,
    "AuthorizationReq": _do_authorization,
    "ServiceDiscoveryReq": _do_service_discovery,
    "ServiceDetailReq": _do_service_detail,
    "ServiceSelectionReq": _do_service_selection,
    "ScheduleExchangeReq": _do_schedule_exchange,
    "PowerDeliveryReq": _do_power_delivery,
    "SessionStopReq": _do_session_stop,
}
DO.update(iso20_dc.DO)
DO.update(iso20_ac.DO)


# -- states ---------------------------------------------------------------------------------------

class State:
    next: dict = {}

    def process(self, d, name, req):
        # -> (response name, response body without Header, next state or None when the session ends)
        res_name, build = BUILD[name]
        nxt = self.next.get(name)
        if nxt is None:
            return res_name, build(d, FAILED_SEQUENCE_ERROR), None
        d.stay = False
        do = DO.get(name)
        code = do(d, req) if do is not None else OK   # a request without an effect: OK
        res = build(d, code)
        if code.startswith("FAILED") or name == "SessionStopReq":
            return res_name, res, None
        if d.stay or code.startswith("WARNING"):
            return res_name, res, self
        return res_name, res, self.route(d, name, nxt)()

    def route(self, d, name, nxt):
        # The EV may stop from PowerDelivery as well as from the charge loop.
        if name == "PowerDeliveryReq" and not d.charging:
            return AfterCharging
        return nxt


class SessionSetup(State):
    """waits for SessionSetupReq"""


class AuthorizationSetup(State):
    """session set up; waits for AuthorizationSetupReq"""


class Authorization(State):
    """EIM offered; waits for AuthorizationReq (repeated while EVSEProcessing=Ongoing)"""


class ServiceDiscovery(State):
    """authorised; waits for ServiceDiscoveryReq"""


class ServiceDetail(State):
    """services offered; ServiceDetailReq per service, then ServiceSelectionReq"""


class ChargeParameterDiscovery(State):
    """service and control mode selected; waits for DC_/AC_ChargeParameterDiscoveryReq"""


class ScheduleExchange(State):
    """limits exchanged; waits for ScheduleExchangeReq (DC: then cable check, AC: power delivery)"""

    def route(self, d, name, nxt):
        return nxt if d.dc else PowerDelivery


class CableCheck(State):
    """DC: waits for DC_CableCheckReq"""


class PreCharge(State):
    """DC: insulation checked; waits for DC_PreChargeReq"""


class PowerDelivery(State):
    """waits for PowerDeliveryReq(Start) (DC: pre-charge repeats until then)"""


class ChargeLoop(State):
    """energy flows: DC_/AC_ChargeLoopReq until PowerDeliveryReq(Stop)"""


class AfterCharging(State):
    """power off; DC: DC_WeldingDetectionReq or SessionStopReq, AC: SessionStopReq"""


class WeldingDetection(State):
    """DC: welding detection repeats until SessionStopReq"""


class Stopped(State):
    """SessionStopReq's entry in the tables: the session ends with SessionStopRes"""


_STOP = {"SessionStopReq": Stopped}
SessionSetup.next = {"SessionSetupReq": AuthorizationSetup}
AuthorizationSetup.next = dict(_STOP, AuthorizationSetupReq=Authorization)
Authorization.next = dict(_STOP, AuthorizationReq=ServiceDiscovery)
ServiceDiscovery.next = dict(_STOP, ServiceDiscoveryReq=ServiceDetail)
ServiceDetail.next = dict(_STOP, ServiceDetailReq=ServiceDetail, ServiceSelectionReq=ChargeParameterDiscovery)
ChargeParameterDiscovery.next = dict(_STOP, DC_ChargeParameterDiscoveryReq=ScheduleExchange,
                                     AC_ChargeParameterDiscoveryReq=ScheduleExchange)
ScheduleExchange.next = dict(_STOP, ScheduleExchangeReq=CableCheck)
CableCheck.next = dict(_STOP, DC_CableCheckReq=PreCharge)
PreCharge.next = dict(_STOP, DC_CableCheckReq=PreCharge, DC_PreChargeReq=PowerDelivery)
PowerDelivery.next = dict(_STOP, DC_PreChargeReq=PowerDelivery, PowerDeliveryReq=ChargeLoop)
ChargeLoop.next = {"DC_ChargeLoopReq": ChargeLoop, "AC_ChargeLoopReq": ChargeLoop, "PowerDeliveryReq": AfterCharging}
AfterCharging.next = dict(_STOP, DC_WeldingDetectionReq=WeldingDetection)
WeldingDetection.next = dict(_STOP, DC_WeldingDetectionReq=WeldingDetection)
