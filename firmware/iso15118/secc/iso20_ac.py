# ISO 15118-20 AC and AC_BPT messages of the SECC: response builders and request effects for
# AC_ChargeParameterDiscovery and AC_ChargeLoop (the state machine is in iso20.py). Powers are
# total active power in W (no per-phase values: the EVSE limits apply to the sum); negative
# power is discharge (BPT).
from iso15118 import v20
from iso15118.v20 import OK
from iso15118.values import rn, rn_value

CPD = "AC_CPDReqEnergyTransferMode"
CPD_BPT = "BPT_AC_CPDReqEnergyTransferMode"
CL_REQ = {(False, "Scheduled"): "Scheduled_AC_CLReqControlMode", (True, "Scheduled"): "BPT_Scheduled_AC_CLReqControlMode",
          (False, "Dynamic"): "Dynamic_AC_CLReqControlMode", (True, "Dynamic"): "BPT_Dynamic_AC_CLReqControlMode"}


def charge_parameter(d, code):
    e = d.evse
    p = {"EVSEMaximumChargePower": rn(e.ac_max_p), "EVSEMinimumChargePower": rn(e.ac_min_p),
         "EVSENominalFrequency": rn(e.ac_frequency)}
    if d.bpt:
        p["EVSEMaximumDischargePower"] = rn(e.ac_max_dis_p)
        p["EVSEMinimumDischargePower"] = rn(e.ac_min_dis_p)
        return {"ResponseCode": code, "BPT_AC_CPDResEnergyTransferMode": p}
    return {"ResponseCode": code, "AC_CPDResEnergyTransferMode": p}


def charge_loop(d, code):
    # Scheduled: the target is the selected schedule's active entry (optional element); Dynamic:
    # the EVSE's target, mandatory. Both may be negative in a BPT session (discharge).
    mode = {}
    if d.control == "Dynamic" or d.target_w is not None:
        mode["EVSETargetActivePower"] = rn(d.target_w or 0)
    res = {"ResponseCode": code, CL_REQ[(d.bpt, d.control)].replace("CLReq", "CLRes"): mode}
    return d.loop_status(res)


BUILD = {
    "AC_ChargeParameterDiscoveryReq": ("AC_ChargeParameterDiscoveryRes", charge_parameter),
    "AC_ChargeLoopReq": ("AC_ChargeLoopRes", charge_loop),
}


def _do_charge_parameter(d, req):
    p = req.get(CPD_BPT if d.bpt else CPD)
    if d.dc or p is None:
        return v20.FAILED_WRONG_CHARGE_PARAMETER
    d.ev_max_p = rn_value(p["EVMaximumChargePower"])
    if rn_value(p["EVMinimumChargePower"]) > d.evse.ac_max_p:
        return v20.FAILED_WRONG_CHARGE_PARAMETER   # the EV cannot charge at what we can give
    if d.bpt:
        d.ev_max_dis_p = rn_value(p["EVMaximumDischargePower"])
    return OK


def clamp(d, p):
    # target power (W, < 0 discharges) -> power within the EVSE's and the EV's limits
    e = d.evse
    if p >= 0:
        return min(p, e.ac_max_p, d.ev_max_p) if d.ev_max_p else min(p, e.ac_max_p)
    if not d.bpt:
        return 0
    m = min(e.ac_max_dis_p, d.ev_max_dis_p) if d.ev_max_dis_p else e.ac_max_dis_p
    return max(p, -m)


def _do_charge_loop(d, req):
    mode = req.get(CL_REQ[(d.bpt, d.control)])
    if mode is None:
        return v20.FAILED_SERVICE_SELECTION_INVALID
    d.meter_requested = bool(req.get("MeterInfoRequested"))
    ev_p = rn_value(mode["EVPresentActivePower"])
    if d.control == "Scheduled":
        entry = d.schedule_power()
        d.target_w = None if entry is None else clamp(d, entry)
        d.note_power(ev_p)
    else:
        d.ev_max_p = rn_value(mode["EVMaximumChargePower"])
        if d.bpt:
            d.ev_max_dis_p = rn_value(mode["EVMaximumDischargePower"])
            v2x_min = mode.get("EVMinimumV2XEnergyRequest")
            d.v2x_blocked = v2x_min is not None and rn_value(v2x_min) > 0
        d.target_w = clamp(d, d.dynamic_power(d.evse.ac_max_p))
        d.note_power(d.target_w)
    return OK


DO = {
    "AC_ChargeParameterDiscoveryReq": _do_charge_parameter,
    "AC_ChargeLoopReq": _do_charge_loop,
}
