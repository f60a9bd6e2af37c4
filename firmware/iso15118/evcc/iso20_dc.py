# ISO 15118-20 EV side, DC and DC_BPT states: DC_ChargeParameterDiscovery, DC_CableCheck,
# DC_PreCharge, DC_ChargeLoop and DC_WeldingDetection, one class per state (the request it sends, how
# the response is classified). The common states, the session data (Data20), the transition tables
# and drive() are in iso20.py, as on the SECC side (secc/iso20.py, secc/iso20_dc.py).
# Sign convention (BPT): positive current/power charges the EV, negative discharges it.
from iso15118.values import rn, rn_value
from iso15118.evcc import timeouts
from iso15118.evcc.exchange import EvccEnd, END_FAILED
from iso15118.evcc.machine import State

T_ONGOING = timeouts.ISO20_ONGOING      # welding detection repeats under it, as Ongoing answers do
T_CABLE = timeouts.ISO20_CABLE_CHECK
T_PRE = timeouts.ISO20_PRE_CHARGE


class DcState(State):
    """a DC state (schema set iso20-dc, payload type 0x8004: v20.schema_of)"""


class DcChargeParameterDiscovery(DcState):
    """the EV's DC (BPT) limits; keeps the EVSE's"""
    request = "DC_ChargeParameterDiscoveryReq"

    def body(self, d):
        ev = d.ev
        p = {"EVMaximumChargePower": rn(ev.max_p), "EVMinimumChargePower": rn(0),
             "EVMaximumChargeCurrent": rn(ev.max_i), "EVMinimumChargeCurrent": rn(0),
             "EVMaximumVoltage": rn(ev.max_v), "EVMinimumVoltage": rn(ev.min_v), "TargetSOC": ev.target_soc}
        if not d.bpt:
            return {"DC_CPDReqEnergyTransferMode": p}
        p.update({"EVMaximumDischargePower": rn(ev.max_discharge_p), "EVMinimumDischargePower": rn(0),
                  "EVMaximumDischargeCurrent": rn(ev.max_discharge_i), "EVMinimumDischargeCurrent": rn(0)})
        return {"BPT_DC_CPDReqEnergyTransferMode": p}

    def outcome(self, d, res, hdr):
        p = d.cpd_params(res, "DC")
        d.evse_max_p = rn_value(p["EVSEMaximumChargePower"])
        d.evse_max_i = rn_value(p["EVSEMaximumChargeCurrent"])
        d.evse_max_v = rn_value(p["EVSEMaximumVoltage"])
        d.evse_min_v = rn_value(p["EVSEMinimumVoltage"])
        if d.bpt:
            d.evse_max_dis_p = rn_value(p["EVSEMaximumDischargePower"])
            d.evse_max_dis_i = rn_value(p["EVSEMaximumDischargeCurrent"])
        v = d.ev.target_v()
        if not d.evse_min_v <= v <= d.evse_max_v:
            raise EvccEnd(END_FAILED, "battery %d V outside the EVSE's %d..%d V" % (v, d.evse_min_v, d.evse_max_v))
        return "ok"


class DcCableCheck(DcState):
    """isolation test; repeated while Ongoing"""
    request = "DC_CableCheckReq"
    timers = T_CABLE

    def outcome(self, d, res, hdr):
        if res["EVSEProcessing"] == "Finished":
            d.stop_timer(T_CABLE[0][0])
            return "Finished"
        return "Ongoing"


class DcPreCharge(DcState):
    """the EVSE raises its output to the battery voltage; repeated (EVProcessing=Ongoing) until
    within EvModel.precharge_tolerance_v"""
    request = "DC_PreChargeReq"
    timers = T_PRE
    loop = True

    def body(self, d):
        v = rn(d.ev.target_v())
        return {"EVProcessing": "Ongoing", "EVPresentVoltage": v, "EVTargetVoltage": v}

    def outcome(self, d, res, hdr):
        return "done" if d.ev.precharged(rn_value(res["EVSEPresentVoltage"])) else "again"


class DcPreChargeDone(DcPreCharge):
    """the last DC_PreChargeReq, EVProcessing=Finished: the EV closes its contactors"""
    loop = False

    def body(self, d):
        b = DcPreCharge.body(self, d)
        b["EVProcessing"] = "Finished"
        return b

    def outcome(self, d, res, hdr):
        d.stop_timer(T_PRE[0][0])
        return "ok"


class DcChargeLoop(DcState):
    """paced by the EV; Scheduled: EVTargetCurrent (negative while discharging), Dynamic: the EV's
    limits and energy request, the EVSE sets the current; ends after EvModel.loops or at the target
    SoC, or when the EVSE asks to stop"""
    request = "DC_ChargeLoopReq"
    loop = True
    pace_max_ms = timeouts.ISO20_CL_PACE_MAX_MS

    def body(self, d):
        ev = d.ev
        m = {"EVMaximumChargePower": rn(ev.max_p), "EVMinimumChargePower": rn(0),
             "EVMaximumChargeCurrent": rn(ev.max_i), "EVMaximumVoltage": rn(ev.max_v),
             "EVMinimumVoltage": rn(ev.min_v)}
        if d.bpt:
            m.update({"EVMaximumDischargePower": rn(ev.max_discharge_p), "EVMinimumDischargePower": rn(0),
                      "EVMaximumDischargeCurrent": rn(ev.max_discharge_i)})
        e = d.energy_request()
        if d.control == "Scheduled":
            m["EVTargetCurrent"] = rn(-d.discharge_i() if d.discharging() else d.charge_i())
            m["EVTargetVoltage"] = rn(ev.target_v())
            m["EVTargetEnergyRequest"] = rn(e)
            name = "BPT_Scheduled_DC_CLReqControlMode" if d.bpt else "Scheduled_DC_CLReqControlMode"
        else:
            m["EVTargetEnergyRequest"] = rn(e)
            m["EVMaximumEnergyRequest"] = rn(e if e > 0 else 0)
            m["EVMinimumEnergyRequest"] = rn(e if e < 0 else 0)
            if d.bpt:
                m["EVMinimumV2XEnergyRequest"] = rn(d.v2x_energy())
            name = "BPT_Dynamic_DC_CLReqControlMode" if d.bpt else "Dynamic_DC_CLReqControlMode"
        return {"DisplayParameters": d.display(), "MeterInfoRequested": False,
                "EVPresentVoltage": rn(ev.battery_v()), name: m}

    def outcome(self, d, res, hdr):
        d.loop_step(rn_value(res["EVSEPresentVoltage"]), rn_value(res["EVSEPresentCurrent"]))
        return d.loop_outcome(res)


class DcWeldingDetection(DcState):
    """repeated (EVProcessing=Ongoing) until the EVSE output is below EvModel.welding_v, at most
    welding_max times"""
    request = "DC_WeldingDetectionReq"
    timers = T_ONGOING
    loop = True

    def body(self, d):
        return {"EVProcessing": "Ongoing"}

    def outcome(self, d, res, hdr):
        d.welding += 1
        low = rn_value(res["EVSEPresentVoltage"]) <= d.ev.welding_v
        return "done" if low or d.welding >= d.ev.welding_max else "again"


class DcWeldingDone(DcWeldingDetection):
    """the last DC_WeldingDetectionReq, EVProcessing=Finished"""
    loop = False

    def body(self, d):
        return {"EVProcessing": "Finished"}

    def outcome(self, d, res, hdr):
        d.stop_timer(T_ONGOING[0][0])
        return "ok"
