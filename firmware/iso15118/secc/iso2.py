# ISO 15118-2:2013 with external identification (EIM), DC and AC: the DIN state classes and transition
# scheme (din.State) with -2's message names and contents. Differences from DIN that matter here:
# PaymentServiceSelection/Authorization instead of ServicePaymentSelection/ContractAuthentication,
# PowerDeliveryReq.ChargeProgress instead of ReadyToChargeState, mandatory units and EVSEMaximumPowerLimit,
# CurrentDemandRes carrying EVSEID and SAScheduleTupleID, PMax as a PhysicalValue.
# AC (AC_three_phase_core / AC_single_phase_core): after ChargeParameterDiscovery with AC_EVChargeParameter
# the session goes PowerDelivery(Start) -> ChargingStatus loop -> PowerDelivery(Stop) -> SessionStop; the
# EV draws the current itself (on-board charger), the SECC only tells it EVSEMaxCurrent per phase.
# Its state classes and transition tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
from iso15118.secc import din
from iso15118.secc.din import OK, FAILED, SEQUENCE_ERROR, UNKNOWN_SESSION  # noqa: F401
from iso15118.values import pv, pv_value

SA_SCHEDULE_TUPLE_ID = 1


class Iso2Data(din.DinData):
    def __init__(self, limits):
        din.DinData.__init__(self, limits)
        self.transfer_mode = None
        self.ac = False
        self.phases = 0
        self.ev_min_i = 0
        self.energy_request_wh = 0   # EAmount (AC) / EVEnergyRequest (DC), 0 when not given
        self.departure_s = None      # DepartureTime: seconds from now, None when not given
        self.ev_max_p = 0            # DC EVMaximumPowerLimit, W (0 when not given)
        self.ev_profile = []         # PowerDeliveryReq(Start) ChargingProfile: [(start s, max power W)]

    def ac_status(self):
        return {"NotificationMaxDelay": 0, "EVSENotification": din.notification(self.limits), "RCD": False}

    def ac_max_i(self):
        # EVSEMaxCurrent for this EV: per phase, within our limits and max_p.
        return self.limits.ac_current(self.limits.ac_max_i, self.phases or 3)

    def power_w(self):
        if not self.ac:
            return din.DinData.power_w(self)
        if not self.charging:
            return 0
        return self.limits.ac_nominal_v * self.phases * self.limits.ac_current(self.ev_max_i, self.phases)


def _session_setup(d, code):
    return {"ResponseCode": code, "EVSEID": d.limits.evse_id}


def _service_discovery(d, code):
    return {"ResponseCode": code, "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
            "ChargeService": {"ServiceID": 1, "ServiceCategory": "EVCharging", "FreeService": False,
                              "SupportedEnergyTransferMode": {"EnergyTransferMode": list(d.limits.modes)}}}


def _charge_param(d, code):
    lim = d.limits
    res = {"ResponseCode": code, "EVSEProcessing": "Finished",
           "SAScheduleList": {"SAScheduleTuple": [{
               "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
               "PMaxSchedule": {"PMaxScheduleEntry": [{
                   "RelativeTimeInterval": {"start": 0, "duration": 86400},
                   "PMax": pv(lim.max_p, "W")}]}}]}}
    if d.ac:
        res["AC_EVSEChargeParameter"] = {"AC_EVSEStatus": d.ac_status(),
                                         "EVSENominalVoltage": pv(lim.ac_nominal_v, "V"),
                                         "EVSEMaxCurrent": pv(d.ac_max_i(), "A")}
        return res
    res["DC_EVSEChargeParameter"] = _dc_charge_param(d)
    return res


def _dc_charge_param(d):
    lim = d.limits
    return {"DC_EVSEStatus": d.evse_status(),
            "EVSEMaximumCurrentLimit": pv(lim.max_i, "A"),
            "EVSEMaximumPowerLimit": pv(lim.max_p, "W"),
            "EVSEMaximumVoltageLimit": pv(lim.max_v, "V"),
            "EVSEMinimumCurrentLimit": pv(lim.min_i, "A"),
            "EVSEMinimumVoltageLimit": pv(lim.min_v, "V"),
            "EVSECurrentRegulationTolerance": pv(lim.tolerance_i, "A"),
            "EVSEPeakCurrentRipple": pv(lim.ripple_i, "A")}


def _power_delivery(d, code):
    if d.ac:
        return {"ResponseCode": code, "AC_EVSEStatus": d.ac_status()}
    return din._power_delivery(d, code)


def _charging_status(d, code):
    return {"ResponseCode": code, "EVSEID": d.limits.evse_id, "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
            "EVSEMaxCurrent": pv(d.ac_max_i(), "A"), "AC_EVSEStatus": d.ac_status()}


def _current_demand(d, code):
    res = din._current_demand(d, code)
    res["EVSEID"] = d.limits.evse_id
    res["SAScheduleTupleID"] = SA_SCHEDULE_TUPLE_ID
    return res


BUILD = {
    "SessionSetupReq": ("SessionSetupRes", _session_setup),
    "ServiceDiscoveryReq": ("ServiceDiscoveryRes", _service_discovery),
    "PaymentServiceSelectionReq": ("PaymentServiceSelectionRes", din._code_only),
    "AuthorizationReq": ("AuthorizationRes", din._contract_auth),
    "ChargeParameterDiscoveryReq": ("ChargeParameterDiscoveryRes", _charge_param),
    "CableCheckReq": ("CableCheckRes", din._cable_check),
    "PreChargeReq": ("PreChargeRes", din._pre_charge),
    "PowerDeliveryReq": ("PowerDeliveryRes", _power_delivery),
    "CurrentDemandReq": ("CurrentDemandRes", _current_demand),
    "ChargingStatusReq": ("ChargingStatusRes", _charging_status),
    "WeldingDetectionReq": ("WeldingDetectionRes", din._welding),
    "SessionStopReq": ("SessionStopRes", din._code_only),
}

LOOP_REQUESTS = din.LOOP_REQUESTS + ("ChargingStatusReq",)


def _do_charge_param(d, req):
    mode = req.get("RequestedEnergyTransferMode")
    if mode not in d.limits.modes:  # only what ServiceDiscoveryRes offered
        return "FAILED_WrongEnergyTransferMode"
    d.transfer_mode = mode
    d.ac = mode.startswith("AC")
    if d.ac:
        ev = req.get("AC_EVChargeParameter")
        if ev is None:
            return "FAILED_WrongChargeParameter"
        d.phases = 3 if mode == "AC_three_phase_core" else 1
        d.ev_max_v = pv_value(ev["EVMaxVoltage"])
        d.ev_max_i = pv_value(ev["EVMaxCurrent"])
        d.ev_min_i = pv_value(ev["EVMinCurrent"])
        d.energy_request_wh = pv_value(ev["EAmount"])
    else:
        ev = req.get("DC_EVChargeParameter")
        if ev is None:
            return "FAILED_WrongChargeParameter"
        d.soc = ev["DC_EVStatus"].get("EVRESSSOC", d.soc)
        d.ev_max_v = pv_value(ev["EVMaximumVoltageLimit"])
        d.ev_max_i = pv_value(ev["EVMaximumCurrentLimit"])
        if "EVMaximumPowerLimit" in ev:
            d.ev_max_p = pv_value(ev["EVMaximumPowerLimit"])
        if "EVEnergyRequest" in ev:
            d.energy_request_wh = pv_value(ev["EVEnergyRequest"])
    if "DepartureTime" in ev:
        d.departure_s = ev["DepartureTime"]
    return OK


def _do_power_delivery(d, req):
    # Renegotiate is not offered (no schedule changes yet): it ends the charge like Stop.
    start = req["ChargeProgress"] == "Start"
    if start and "ChargingProfile" in req:
        # the EV's planned charging profile, handed on to the back office (NotifyEVChargingSchedule)
        d.ev_profile = [(e["ChargingProfileEntryStart"], pv_value(e["ChargingProfileEntryMaxPower"]))
                        for e in req["ChargingProfile"]["ProfileEntry"]]
    return din._do_power_delivery(d, {"ReadyToChargeState": start})


def _do_session_stop(d, req):
    # Pause would need the session resumable after a wake-up: not offered, answered as FAILED.
    return OK if req.get("ChargingSession") == "Terminate" else FAILED


DO = {
    "SessionSetupReq": din._do_session_setup,
    "PaymentServiceSelectionReq": din._do_payment,
    "AuthorizationReq": din._do_authorize,
    "ChargeParameterDiscoveryReq": _do_charge_param,
    "CableCheckReq": din._do_cable_check,
    "PreChargeReq": din._do_pre_charge,
    "PowerDeliveryReq": _do_power_delivery,
    "CurrentDemandReq": din._do_current_demand,
    "WeldingDetectionReq": din._do_welding,
    "SessionStopReq": _do_session_stop,
}


class State(din.State):
    build = BUILD
    do = DO
    ac_next: dict = {}  # a branch point's transitions once the EV chose an AC mode (else `next`)

    def after_charging(self):
        return AfterCharging

    def route(self, d, name, nxt):
        return self.ac_next.get(name, nxt) if d.ac else nxt


class ACState(State):
    def after_charging(self):
        return ACSessionStop


class SessionSetup(State):
    """waits for SessionSetupReq"""


class ServiceDiscovery(State):
    """session set up; waits for ServiceDiscoveryReq"""


class PaymentServiceSelection(State):
    """waits for PaymentServiceSelectionReq"""


class Authorization(State):
    """EIM: waits for AuthorizationReq (Finished at once)"""


class ChargeParameterDiscovery(State):
    """authorised; waits for ChargeParameterDiscoveryReq"""


class CableCheck(State):
    """parameters agreed; waits for CableCheckReq"""


class PreCharge(State):
    """insulation checked; waits for PreChargeReq"""


class PowerDelivery(State):
    """pre-charging; waits for PowerDeliveryReq(Start)"""


class CurrentDemand(State):
    """energy flows: CurrentDemandReq loop until PowerDeliveryReq(Stop)"""


class ACPowerDelivery(ACState):
    """AC parameters agreed; waits for PowerDeliveryReq(Start)"""


class ChargingStatus(ACState):
    """AC energy flows (the EV's on-board charger draws up to EVSEMaxCurrent): ChargingStatusReq loop
    until PowerDeliveryReq(Stop)"""


class ACSessionStop(ACState):
    """AC power off; no welding detection on AC: waits for SessionStopReq"""


class AfterCharging(State):
    """power off; waits for WeldingDetectionReq or SessionStopReq"""


class WeldingDetection(State):
    """welding detection repeats until SessionStopReq"""


SessionSetup.next = {"SessionSetupReq": ServiceDiscovery}
ServiceDiscovery.next = {"ServiceDiscoveryReq": PaymentServiceSelection}
PaymentServiceSelection.next = {"PaymentServiceSelectionReq": Authorization}
Authorization.next = {"AuthorizationReq": ChargeParameterDiscovery}
ChargeParameterDiscovery.next = {"AuthorizationReq": ChargeParameterDiscovery,
                                 "ChargeParameterDiscoveryReq": CableCheck}
ChargeParameterDiscovery.ac_next = {"ChargeParameterDiscoveryReq": ACPowerDelivery}
CableCheck.next = {"ChargeParameterDiscoveryReq": CableCheck, "CableCheckReq": PreCharge}
PreCharge.next = {"CableCheckReq": PreCharge, "PreChargeReq": PowerDelivery}
PowerDelivery.next = {"PreChargeReq": PowerDelivery, "PowerDeliveryReq": CurrentDemand}
CurrentDemand.next = {"CurrentDemandReq": CurrentDemand, "PowerDeliveryReq": AfterCharging}
AfterCharging.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": AfterCharging}
WeldingDetection.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": WeldingDetection}
# AC
ACPowerDelivery.next = {"ChargeParameterDiscoveryReq": ACPowerDelivery, "PowerDeliveryReq": ChargingStatus}
ChargingStatus.next = {"ChargingStatusReq": ChargingStatus, "PowerDeliveryReq": ACSessionStop}
ACSessionStop.next = {"SessionStopReq": ACSessionStop}
