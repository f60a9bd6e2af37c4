# ISO 15118-2:2013 DC with external identification (EIM): the DIN state classes and transition
# scheme (din.State) with -2's message names and contents. Differences from DIN that matter here:
# PaymentServiceSelection/Authorization instead of ServicePaymentSelection/ContractAuthentication,
# PowerDeliveryReq.ChargeProgress instead of ReadyToChargeState, mandatory units and EVSEMaximumPowerLimit,
# CurrentDemandRes carrying EVSEID and SAScheduleTupleID, PMax as a PhysicalValue.
from iso15118.secc import din
from iso15118.secc.din import OK, FAILED, SEQUENCE_ERROR, UNKNOWN_SESSION, pv, pv_value  # noqa: F401

SA_SCHEDULE_TUPLE_ID = 1


class Iso2Data(din.DinData):
    def __init__(self, limits):
        din.DinData.__init__(self, limits)
        self.transfer_mode = None


def _session_setup(d, code):
    return {"ResponseCode": code, "EVSEID": d.limits.evse_id}


def _service_discovery(d, code):
    return {"ResponseCode": code, "PaymentOptionList": {"PaymentOption": ["ExternalPayment"]},
            "ChargeService": {"ServiceID": 1, "ServiceCategory": "EVCharging", "FreeService": False,
                              "SupportedEnergyTransferMode": {"EnergyTransferMode": ["DC_extended"]}}}


def _charge_param(d, code):
    lim = d.limits
    return {"ResponseCode": code, "EVSEProcessing": "Finished",
            "SAScheduleList": {"SAScheduleTuple": [{
                "SAScheduleTupleID": SA_SCHEDULE_TUPLE_ID,
                "PMaxSchedule": {"PMaxScheduleEntry": [{
                    "RelativeTimeInterval": {"start": 0, "duration": 86400},
                    "PMax": pv(lim.max_p, "W")}]}}]},
            "DC_EVSEChargeParameter": {
                "DC_EVSEStatus": d.evse_status(),
                "EVSEMaximumCurrentLimit": pv(lim.max_i, "A"),
                "EVSEMaximumPowerLimit": pv(lim.max_p, "W"),
                "EVSEMaximumVoltageLimit": pv(lim.max_v, "V"),
                "EVSEMinimumCurrentLimit": pv(lim.min_i, "A"),
                "EVSEMinimumVoltageLimit": pv(lim.min_v, "V"),
                "EVSECurrentRegulationTolerance": pv(lim.tolerance_i, "A"),
                "EVSEPeakCurrentRipple": pv(lim.ripple_i, "A")}}


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
    "PowerDeliveryReq": ("PowerDeliveryRes", din._power_delivery),
    "CurrentDemandReq": ("CurrentDemandRes", _current_demand),
    "WeldingDetectionReq": ("WeldingDetectionRes", din._welding),
    "SessionStopReq": ("SessionStopRes", din._code_only),
}

LOOP_REQUESTS = din.LOOP_REQUESTS


def _do_charge_param(d, req):
    ev = req.get("DC_EVChargeParameter")
    d.transfer_mode = req.get("RequestedEnergyTransferMode")
    if d.transfer_mode != "DC_extended":  # the only mode ServiceDiscoveryRes offered
        return "FAILED_WrongEnergyTransferMode"
    if ev is None:
        return "FAILED_WrongChargeParameter"
    d.soc = ev["DC_EVStatus"].get("EVRESSSOC", d.soc)
    d.ev_max_v = pv_value(ev["EVMaximumVoltageLimit"])
    d.ev_max_i = pv_value(ev["EVMaximumCurrentLimit"])
    return OK


def _do_power_delivery(d, req):
    # Renegotiate is not offered (no schedule changes yet): it ends the charge like Stop.
    return din._do_power_delivery(d, {"ReadyToChargeState": req["ChargeProgress"] == "Start"})


def _do_session_stop(d, req):
    # Pause would need the session resumable after a wake-up: not offered, answered as FAILED.
    return OK if req.get("ChargingSession") == "Terminate" else FAILED


DO = {
    "SessionSetupReq": din._do_session_setup,
    "PaymentServiceSelectionReq": din._do_payment,
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

    def after_charging(self):
        return AfterCharging


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
CableCheck.next = {"ChargeParameterDiscoveryReq": CableCheck, "CableCheckReq": PreCharge}
PreCharge.next = {"CableCheckReq": PreCharge, "PreChargeReq": PowerDelivery}
PowerDelivery.next = {"PreChargeReq": PowerDelivery, "PowerDeliveryReq": CurrentDemand}
CurrentDemand.next = {"CurrentDemandReq": CurrentDemand, "PowerDeliveryReq": AfterCharging}
AfterCharging.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": AfterCharging}
WeldingDetection.next = {"WeldingDetectionReq": WeldingDetection, "SessionStopReq": WeldingDetection}
