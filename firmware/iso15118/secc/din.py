# DIN SPEC 70121 DC with external identification (EIM): one class per SECC state. A state accepts
# the requests listed in its `next` table (request name -> following state); anything else is
# answered with the same message's response carrying FAILED_SequenceError, and the session ends
# (DIN 70121 [V2G-DC-391]/[V2G-DC-669]). Responses always carry every mandatory element, failures too,
# built from the session's current values by one builder per message type.
# Its state classes and transition tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
import random
from iso15118.values import pv, pv_value
from iso15118.secc.evse_limits import AUTH_NO, AUTH_WAIT

OK = "OK"
SEQUENCE_ERROR = "FAILED_SequenceError"
UNKNOWN_SESSION = "FAILED_UnknownSession"
FAILED = "FAILED"


class DinData:
    # What one DIN session knows: the EV's last request values and the EVSE's limits object.
    def __init__(self, limits):
        self.limits = limits
        self.session_id = ""
        self.target_v = 0
        self.target_i = 0
        self.charging = False
        self.soc = 0
        self.ev_max_v = 0
        self.ev_max_i = 0
        self.limited = (False, False, False)
        self.payment = None

    def evse_status(self):
        lim = self.limits
        code = "EVSE_Ready" if lim.isolation_ok else "EVSE_IsolationMonitoringActive"
        if lim.stop_charging:
            code = "EVSE_Shutdown"
        return {"EVSEIsolationStatus": "Valid" if lim.isolation_ok else "Fault", "EVSEStatusCode": code,
                "NotificationMaxDelay": 0, "EVSENotification": notification(lim)}

    def power_w(self):
        # The power the session draws now (what DROOP_CTRL is told): the converter's present output.
        return self.limits.present_v * self.limits.present_i if self.charging else 0


def notification(lim):
    return "StopCharging" if lim.stop_charging else "None"


# -- response builders: (session data, response code) -> response body --------------------------

def _session_setup(d, code):
    return {"ResponseCode": code, "EVSEID": "".join("%02X" % ord(c) for c in d.limits.evse_id)}


def _service_discovery(d, code):
    return {"ResponseCode": code, "PaymentOptions": {"PaymentOption": ["ExternalPayment"]},
            "ChargeService": {"ServiceTag": {"ServiceID": 1, "ServiceCategory": "EVCharging"},
                              "FreeService": False, "EnergyTransferType": "DC_extended"}}


def _code_only(d, code):
    return {"ResponseCode": code}


def _contract_auth(d, code):
    return {"ResponseCode": code, "EVSEProcessing": "Ongoing" if d.limits.auth == AUTH_WAIT else "Finished"}


def _charge_param(d, code):
    lim = d.limits
    return {"ResponseCode": code, "EVSEProcessing": "Finished",
            "SAScheduleList": {"SAScheduleTuple": [{
                "SAScheduleTupleID": 1,
                "PMaxSchedule": {"PMaxScheduleID": 1, "PMaxScheduleEntry": [{
                    "RelativeTimeInterval": {"start": 0, "duration": 86400},
                    "PMax": min(lim.max_p // 10, 32767)}]}}]},  # DIN PMax: a short, unit 10 W
            "DC_EVSEChargeParameter": {
                "DC_EVSEStatus": d.evse_status(),
                "EVSEMaximumCurrentLimit": pv(lim.max_i, "A"),
                "EVSEMaximumPowerLimit": pv(lim.max_p, "W"),
                "EVSEMaximumVoltageLimit": pv(lim.max_v, "V"),
                "EVSEMinimumCurrentLimit": pv(lim.min_i, "A"),
                "EVSEMinimumVoltageLimit": pv(lim.min_v, "V"),
                "EVSECurrentRegulationTolerance": pv(lim.tolerance_i, "A"),
                "EVSEPeakCurrentRipple": pv(lim.ripple_i, "A")}}


def _cable_check(d, code):
    return {"ResponseCode": code, "DC_EVSEStatus": d.evse_status(), "EVSEProcessing": "Finished"}


def _pre_charge(d, code):
    return {"ResponseCode": code, "DC_EVSEStatus": d.evse_status(),
            "EVSEPresentVoltage": pv(d.limits.present_v, "V")}


def _power_delivery(d, code):
    return {"ResponseCode": code, "DC_EVSEStatus": d.evse_status()}


def _current_demand(d, code):
    lim = d.limits
    vl, il, pl = d.limited
    return {"ResponseCode": code, "DC_EVSEStatus": d.evse_status(),
            "EVSEPresentVoltage": pv(lim.present_v, "V"), "EVSEPresentCurrent": pv(lim.present_i, "A"),
            "EVSECurrentLimitAchieved": il, "EVSEVoltageLimitAchieved": vl, "EVSEPowerLimitAchieved": pl,
            "EVSEMaximumVoltageLimit": pv(lim.max_v, "V"), "EVSEMaximumCurrentLimit": pv(lim.max_i, "A"),
            "EVSEMaximumPowerLimit": pv(lim.max_p, "W")}


def _welding(d, code):
    return {"ResponseCode": code, "DC_EVSEStatus": d.evse_status(),
            "EVSEPresentVoltage": pv(d.limits.present_v, "V")}


BUILD = {
    "SessionSetupReq": ("SessionSetupRes", _session_setup),
    "ServiceDiscoveryReq": ("ServiceDiscoveryRes", _service_discovery),
    "ServicePaymentSelectionReq": ("ServicePaymentSelectionRes", _code_only),
    "ContractAuthenticationReq": ("ContractAuthenticationRes", _contract_auth),
    "ChargeParameterDiscoveryReq": ("ChargeParameterDiscoveryRes", _charge_param),
    "CableCheckReq": ("CableCheckRes", _cable_check),
    "PreChargeReq": ("PreChargeRes", _pre_charge),
    "PowerDeliveryReq": ("PowerDeliveryRes", _power_delivery),
    "CurrentDemandReq": ("CurrentDemandRes", _current_demand),
    "WeldingDetectionReq": ("WeldingDetectionRes", _welding),
    "SessionStopReq": ("SessionStopRes", _code_only),
}


# Charge-loop requests: their responses carry the 25 ms performance time (measured per response).
LOOP_REQUESTS = ("CurrentDemandReq",)


# -- request effects: (session data, request body) -> response code -------------------------------

def _ev_status(d, st):
    d.soc = st.get("EVRESSSOC", d.soc)


def _do_session_setup(d, req):
    ev = req.get("EVCCID")
    d.limits.evccid = ev.hex().upper() if isinstance(ev, (bytes, bytearray)) else str(ev or "")
    d.session_id = "".join("%08X" % random.getrandbits(32) for _ in range(2))  # 8 bytes
    return "OK_NewSessionEstablished"


def _do_authorize(d, req):
    # EIM: the gateway's decision (evse_limits.AUTH_*); while it is pending the state stays (Ongoing)
    return FAILED if d.limits.auth == AUTH_NO else OK


def _do_payment(d, req):
    d.payment = req.get("SelectedPaymentOption")
    return OK if d.payment == "ExternalPayment" else "FAILED_PaymentSelectionInvalid"


def _do_charge_param(d, req):
    ev = req.get("DC_EVChargeParameter")
    if ev is None or req.get("EVRequestedEnergyTransferType") not in ("DC_extended", "DC_core", "DC_combo_core",
                                                                      "DC_unique"):
        return "FAILED_WrongChargeParameter"
    _ev_status(d, ev["DC_EVStatus"])
    d.ev_max_v = pv_value(ev["EVMaximumVoltageLimit"])
    d.ev_max_i = pv_value(ev["EVMaximumCurrentLimit"])
    return OK


def _do_cable_check(d, req):
    _ev_status(d, req["DC_EVStatus"])
    return OK if d.limits.isolation_ok else FAILED


def _do_pre_charge(d, req):
    _ev_status(d, req["DC_EVStatus"])
    d.target_v = pv_value(req["EVTargetVoltage"])
    d.target_i = pv_value(req["EVTargetCurrent"])
    d.limits.follow_target(d.target_v, d.target_i)
    return OK


def _do_power_delivery(d, req):
    d.charging = bool(req["ReadyToChargeState"])
    if not d.charging:
        d.target_i = 0
        d.limits.follow_target(d.target_v, 0)
    return OK


def _do_current_demand(d, req):
    _ev_status(d, req["DC_EVStatus"])
    d.target_v = pv_value(req["EVTargetVoltage"])
    d.target_i = pv_value(req["EVTargetCurrent"])
    r = d.limits.clamp(d.target_v, d.target_i)
    d.limited = (r[2], r[3], r[4])
    d.limits.follow_target(d.target_v, d.target_i)
    return OK


def _do_welding(d, req):
    _ev_status(d, req["DC_EVStatus"])
    d.limits.follow_target(0, 0)
    return OK


AUTH_REQUESTS = ("ContractAuthenticationReq", "AuthorizationReq")
DO = {
    "SessionSetupReq": _do_session_setup,
    "ServicePaymentSelectionReq": _do_payment,
    "ContractAuthenticationReq": _do_authorize,
    "ChargeParameterDiscoveryReq": _do_charge_param,
    "CableCheckReq": _do_cable_check,
    "PreChargeReq": _do_pre_charge,
    "PowerDeliveryReq": _do_power_delivery,
    "CurrentDemandReq": _do_current_demand,
    "WeldingDetectionReq": _do_welding,
}


# -- states ---------------------------------------------------------------------------------------

class State:
    next: dict = {}
    build: dict = BUILD   # the protocol's tables: ISO 15118-2 (iso2.py) reuses this class
    do: dict = DO

    def process(self, d, name, req):
        # -> (response name, response body, next state or None when the session ends)
        res_name, build = self.build[name]
        nxt = self.next.get(name)
        if nxt is None:
            return res_name, build(d, SEQUENCE_ERROR), None
        do = self.do.get(name)
        code = do(d, req) if do is not None else OK   # a request without an effect: OK
        if code.startswith("FAILED"):
            return res_name, build(d, code), None
        if name == "SessionStopReq":
            return res_name, build(d, code), None
        if name in AUTH_REQUESTS and d.limits.auth == AUTH_WAIT:
            return res_name, build(d, code), self  # Ongoing: the EV asks again
        if name == "PowerDeliveryReq" and not d.charging:
            nxt = self.after_charging()
        return res_name, build(d, code), self.route(d, name, nxt)()

    def after_charging(self):
        # The EV may stop from pre-charge as well as from the charge loop.
        return AfterCharging

    def route(self, d, name, nxt):
        # Where a branch point (ISO 15118-2 AC or DC after ChargeParameterDiscovery) really goes, once
        # the request's effect is known. The sequence check above used `next`'s keys.
        return nxt


class SessionSetup(State):
    """waits for SessionSetupReq"""


class ServiceDiscovery(State):
    """session set up; waits for ServiceDiscoveryReq"""


class ServicePaymentSelection(State):
    """waits for ServicePaymentSelectionReq"""


class ContractAuthentication(State):
    """EIM: waits for ContractAuthenticationReq"""


class ChargeParameterDiscovery(State):
    """authorised; waits for ChargeParameterDiscoveryReq (authorisation may be asked again)"""


class CableCheck(State):
    """parameters agreed; waits for CableCheckReq (repeated until Finished)"""


class PreCharge(State):
    """insulation checked; waits for PreChargeReq"""


class PowerDelivery(State):
    """pre-charging; waits for PowerDeliveryReq(ReadyToChargeState=true)"""


class CurrentDemand(State):
    """energy flows: CurrentDemandReq loop until PowerDeliveryReq(false)"""


class AfterCharging(State):
    """power off; waits for WeldingDetectionReq or SessionStopReq"""


class WeldingDetection(State):
    """welding detection repeats until SessionStopReq"""


# Transition tables, filled after all classes exist: request accepted in a state -> state after it.
SessionSetup.next = {"SessionSetupReq": ServiceDiscovery}
ServiceDiscovery.next = {"ServiceDiscoveryReq": ServicePaymentSelection}
ServicePaymentSelection.next = {"ServicePaymentSelectionReq": ContractAuthentication}
ContractAuthentication.next = {"ContractAuthenticationReq": ChargeParameterDiscovery}
ChargeParameterDiscovery.next = {"ContractAuthenticationReq": ChargeParameterDiscovery,
                                 "ChargeParameterDiscoveryReq": CableCheck}
CableCheck.next = {"ChargeParameterDiscoveryReq": CableCheck, "CableCheckReq": PreCharge}
PreCharge.next = {"CableCheckReq": PreCharge, "PreChargeReq": PowerDelivery}
PowerDelivery.next = {"PreChargeReq": PowerDelivery, "PowerDeliveryReq": CurrentDemand}
CurrentDemand.next = {"CurrentDemandReq": CurrentDemand, "PowerDeliveryReq": AfterCharging}
AfterCharging.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": AfterCharging}
WeldingDetection.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": WeldingDetection}
