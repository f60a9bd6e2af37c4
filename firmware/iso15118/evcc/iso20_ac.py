# ISO 15118-20 EV side, AC and AC_BPT states: AC_ChargeParameterDiscovery and AC_ChargeLoop, one
# class per state. Powers are total active power in W; negative power feeds back (BPT). The common
# states, the session data (Data20), the transition tables and drive() are in iso20.py, as on the
# SECC side (secc/iso20.py, secc/iso20_ac.py).
from iso15118.values import rn, rn_value
from iso15118.evcc import timeouts
from iso15118.evcc.exchange import EvccEnd, END_MALFORMED
from iso15118.evcc.machine import State


class AcState(State):
    """an AC state (schema set iso20-ac, payload type 0x8003: v20.schema_of)"""


class AcChargeParameterDiscovery(AcState):
    """the EV's AC (BPT) power limits; keeps the EVSE's"""
    request = "AC_ChargeParameterDiscoveryReq"

    def body(self, d):
        ev = d.ev
        n = ev.ac_v * ev.ac_phases
        p = {"EVMaximumChargePower": rn(ev.ac_max_i * n), "EVMinimumChargePower": rn(ev.ac_min_i * n)}
        if not d.bpt:
            return {"AC_CPDReqEnergyTransferMode": p}
        p["EVMaximumDischargePower"] = rn(d.discharge_p())
        p["EVMinimumDischargePower"] = rn(ev.ac_min_i * n)
        return {"BPT_AC_CPDReqEnergyTransferMode": p}

    def outcome(self, d, res, hdr):
        p = d.cpd_params(res, "AC")
        d.evse_max_p = rn_value(p["EVSEMaximumChargePower"])
        if d.bpt:
            d.evse_max_dis_p = rn_value(p["EVSEMaximumDischargePower"])
        return "ok"


class AcChargeLoop(AcState):
    """paced by the EV; reports the power it draws (negative: feeds back). Scheduled: the EV sets it
    (charge at min(EV, EVSE, schedule), then BPT discharge); Dynamic: follows EVSETargetActivePower
    within its own limits"""
    request = "AC_ChargeLoopReq"
    loop = True
    pace_max_ms = timeouts.ISO20_CL_PACE_MAX_MS

    def body(self, d):
        ev = d.ev
        n = ev.ac_v * ev.ac_phases
        if d.control == "Scheduled":
            d.ac_p = -d.discharge_p() if d.discharging() else d.charge_p()
        m = {"EVPresentActivePower": rn(d.ac_p), "EVMaximumChargePower": rn(ev.ac_max_i * n),
             "EVMinimumChargePower": rn(ev.ac_min_i * n)}
        if d.bpt:
            m["EVMaximumDischargePower"] = rn(d.discharge_p())
            m["EVMinimumDischargePower"] = rn(ev.ac_min_i * n)
        e = d.energy_request()
        m["EVTargetEnergyRequest"] = rn(e)
        if d.control == "Scheduled":
            name = "BPT_Scheduled_AC_CLReqControlMode" if d.bpt else "Scheduled_AC_CLReqControlMode"
        else:
            m["EVMaximumEnergyRequest"] = rn(e if e > 0 else 0)
            m["EVMinimumEnergyRequest"] = rn(e if e < 0 else 0)
            m["EVPresentReactivePower"] = rn(0)
            if d.bpt:
                m["EVMinimumV2XEnergyRequest"] = rn(d.v2x_energy())
            name = "BPT_Dynamic_AC_CLReqControlMode" if d.bpt else "Dynamic_AC_CLReqControlMode"
        return {"DisplayParameters": d.display(), "MeterInfoRequested": False, name: m}

    def outcome(self, d, res, hdr):
        ev = d.ev
        n = ev.ac_v * ev.ac_phases
        d.loop_step(n, d.ac_p / n)   # the power drawn since the previous response
        if d.control == "Dynamic":
            m = res.get("BPT_Dynamic_AC_CLResControlMode" if d.bpt else "Dynamic_AC_CLResControlMode")
            if m is None:
                raise EvccEnd(END_MALFORMED, "AC_ChargeLoopRes without the Dynamic control mode")
            p = rn_value(m["EVSETargetActivePower"])
            lo = -d.discharge_p() if d.bpt else 0
            d.ac_p = lo if p < lo else (d.charge_p() if p > d.charge_p() else p)
        return d.loop_outcome(res)
