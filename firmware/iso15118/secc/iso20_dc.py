# ISO 15118-20 DC and DC_BPT messages of the SECC: response builders (session data, code -> body)
# and request effects (session data, body -> code) for DC_ChargeParameterDiscovery, DC_CableCheck,
# DC_PreCharge, DC_ChargeLoop and DC_WeldingDetection. The state machine is in iso20.py.
# Sign convention (BPT): positive current/power charges the EV, negative discharges it.
from iso15118 import v20
from iso15118.v20 import OK, FAILED
from iso15118.values import rn, rn_value

CPD = "DC_CPDReqEnergyTransferMode"
CPD_BPT = "BPT_DC_CPDReqEnergyTransferMode"
# charge-loop control mode element per (BPT, control mode); the response uses the ...Res... name
CL_REQ = {(False, "Scheduled"): "Scheduled_DC_CLReqControlMode", (True, "Scheduled"): "BPT_Scheduled_DC_CLReqControlMode",
          (False, "Dynamic"): "Dynamic_DC_CLReqControlMode", (True, "Dynamic"): "BPT_Dynamic_DC_CLReqControlMode"}


def _charge_limits(d):
    lim = d.limits
    return {"EVSEMaximumChargePower": rn(lim.max_p), "EVSEMinimumChargePower": rn(d.evse.min_p),
            "EVSEMaximumChargeCurrent": rn(lim.max_i), "EVSEMaximumVoltage": rn(lim.max_v)}


def _discharge_limits(d):
    e = d.evse
    return {"EVSEMaximumDischargePower": rn(e.max_dis_p), "EVSEMinimumDischargePower": rn(e.min_dis_p),
            "EVSEMaximumDischargeCurrent": rn(e.max_dis_i), "EVSEMinimumVoltage": rn(d.limits.min_v)}


def charge_parameter(d, code):
    lim = d.limits
    e = d.evse
    p = {"EVSEMaximumChargePower": rn(lim.max_p), "EVSEMinimumChargePower": rn(e.min_p),
         "EVSEMaximumChargeCurrent": rn(lim.max_i), "EVSEMinimumChargeCurrent": rn(lim.min_i),
         "EVSEMaximumVoltage": rn(lim.max_v), "EVSEMinimumVoltage": rn(lim.min_v)}
    if d.bpt:
        p["EVSEMaximumDischargePower"] = rn(e.max_dis_p)
        p["EVSEMinimumDischargePower"] = rn(e.min_dis_p)
        p["EVSEMaximumDischargeCurrent"] = rn(e.max_dis_i)
        p["EVSEMinimumDischargeCurrent"] = rn(e.min_dis_i)
        return {"ResponseCode": code, "BPT_DC_CPDResEnergyTransferMode": p}
    return {"ResponseCode": code, "DC_CPDResEnergyTransferMode": p}


def cable_check(d, code):
    return {"ResponseCode": code, "EVSEProcessing": "Finished"}


def present_voltage(d, code):
    # DC_PreChargeRes and DC_WeldingDetectionRes
    return {"ResponseCode": code, "EVSEPresentVoltage": rn(d.limits.present_v)}


def charge_loop(d, code):
    lim = d.limits
    vl, il, pl = d.limited
    res = {"ResponseCode": code, "EVSEPresentCurrent": rn(d.present_i), "EVSEPresentVoltage": rn(lim.present_v),
           "EVSEPowerLimitAchieved": pl, "EVSECurrentLimitAchieved": il, "EVSEVoltageLimitAchieved": vl}
    mode = _charge_limits(d)
    if d.bpt:
        mode.update(_discharge_limits(d))
    res[CL_REQ[(d.bpt, d.control)].replace("CLReq", "CLRes")] = mode
    return d.loop_status(res)


BUILD = {
    "DC_ChargeParameterDiscoveryReq": ("DC_ChargeParameterDiscoveryRes", charge_parameter),
    "DC_CableCheckReq": ("DC_CableCheckRes", cable_check),
    "DC_PreChargeReq": ("DC_PreChargeRes", present_voltage),
    "DC_ChargeLoopReq": ("DC_ChargeLoopRes", charge_loop),
    "DC_WeldingDetectionReq": ("DC_WeldingDetectionRes", present_voltage),
}


# -- request effects -------------------------------------------------------------------------

def _do_charge_parameter(d, req):
    p = req.get(CPD_BPT if d.bpt else CPD)
    if not d.dc or p is None:
        return v20.FAILED_WRONG_CHARGE_PARAMETER   # the element of another service than selected
    d.ev_max_p = rn_value(p["EVMaximumChargePower"])
    d.ev_max_i = rn_value(p["EVMaximumChargeCurrent"])
    if rn_value(p["EVMinimumVoltage"]) > d.limits.max_v or rn_value(p["EVMaximumVoltage"]) < d.limits.min_v:
        return v20.FAILED_WRONG_CHARGE_PARAMETER   # no common voltage range
    if d.bpt:
        d.ev_max_dis_p = rn_value(p["EVMaximumDischargePower"])
        d.ev_max_dis_i = rn_value(p["EVMaximumDischargeCurrent"])
    return OK


def _do_cable_check(d, req):
    return OK if d.limits.isolation_ok else FAILED


def _do_pre_charge(d, req):
    d.limits.follow_target(rn_value(req["EVTargetVoltage"]), 0)
    return OK


def clamp(d, v, i, entry=None):
    # EV target (V, A; A < 0 discharges) -> (v, i, voltage_limited, current_limited, power_limited)
    # within the EVSE's and the EV's limits; discharge only in a BPT session. entry: the schedule's
    # ChargingSchedule power now (W): a charging entry caps the charge power (discharge stays within
    # the DischargingSchedule, the EVSE's discharge maximum), a discharging entry caps the discharge
    # power and allows no charge.
    lim = d.limits
    e = d.evse
    v1 = min(max(v, 0), lim.max_v)
    if i >= 0:
        i_max = min(lim.max_i, d.ev_max_i) if d.ev_max_i else lim.max_i
        p_max = min(lim.max_p, d.ev_max_p) if d.ev_max_p else lim.max_p
        if entry is not None:
            p_max = min(p_max, max(entry, 0))
    else:
        i_max = min(e.max_dis_i, d.ev_max_dis_i) if d.bpt else 0
        p_max = min(e.max_dis_p, d.ev_max_dis_p) if d.bpt else 0
        if entry is not None and entry < 0:
            p_max = min(p_max, -entry)
    a = min(abs(i), i_max)
    p_lim = False
    if v1 > 0 and v1 * a > p_max:
        a = p_max // v1
        p_lim = True
    i1 = a if i >= 0 else -a
    return v1, i1, v1 < v, abs(i1) < abs(i) and not p_lim, p_lim


def _deliver(d, v, i, entry=None):
    # Present output: the converter's measurement once there is one, else the ideal converter
    # (EvseLimits.follow_target; it only knows charging, so a discharge current is kept here).
    r = clamp(d, v, i, entry)
    d.limited = (r[2], r[3], r[4])
    d.limits.follow_target(r[0], max(r[1], 0))
    d.present_i = d.limits.present_i if d.limits.measured or r[1] >= 0 else r[1]
    d.note_power(d.limits.present_v * d.present_i)


def _do_charge_loop(d, req):
    mode = req.get(CL_REQ[(d.bpt, d.control)])
    if mode is None:
        return v20.FAILED_SERVICE_SELECTION_INVALID   # another service's or control mode's parameters
    d.meter_requested = bool(req.get("MeterInfoRequested"))
    ev_v = rn_value(req["EVPresentVoltage"])
    if d.control == "Scheduled":
        # The EV sets the targets (a negative current asks for discharge), within the active entry of
        # the schedule it selected (see clamp).
        _deliver(d, rn_value(mode["EVTargetVoltage"]), rn_value(mode["EVTargetCurrent"]), d.schedule_power())
    else:
        # Dynamic: the EVSE decides the power (Evse20.setpoint_w, + charge / - discharge) within the
        # EV's limits of this request; the EV's battery sets the voltage.
        d.ev_max_p = rn_value(mode["EVMaximumChargePower"])
        d.ev_max_i = rn_value(mode["EVMaximumChargeCurrent"])
        if d.bpt:
            d.ev_max_dis_p = rn_value(mode["EVMaximumDischargePower"])
            d.ev_max_dis_i = rn_value(mode["EVMaximumDischargeCurrent"])
            v2x_min = mode.get("EVMinimumV2XEnergyRequest")
            d.v2x_blocked = v2x_min is not None and rn_value(v2x_min) > 0
        v = min(max(ev_v, 0), d.limits.max_v)
        p = d.dynamic_power(d.limits.max_p)
        _deliver(d, v, (p // v) if v > 0 else 0)
    return OK


def _do_welding(d, req):
    d.limits.follow_target(0, 0)
    d.present_i = 0
    return OK


DO = {
    "DC_ChargeParameterDiscoveryReq": _do_charge_parameter,
    "DC_CableCheckReq": _do_cable_check,
    "DC_PreChargeReq": _do_pre_charge,
    "DC_ChargeLoopReq": _do_charge_loop,
    "DC_WeldingDetectionReq": _do_welding,
}
