# ISO 15118-2:2013 with external identification (EIM), EV side, DC and AC: the DIN state scheme
# (machine.State, din's DC states) with -2's names and contents: PaymentServiceSelection and
# Authorization, RequestedEnergyTransferMode, PowerDeliveryReq ChargeProgress + SAScheduleTupleID,
# SessionStopReq ChargingSession=Terminate. AC: ChargeParameterDiscovery -> PowerDelivery(Start) ->
# ChargingStatus loop -> PowerDelivery(Stop) -> SessionStop (no cable check, pre-charge, welding).
# Timers: timeouts.ISO2_MSG_MS; Authorization/ChargeParameterDiscovery under V2G_EVCC_Ongoing_Timeout,
# CableCheck and PreCharge under theirs.
# Its state classes and transition tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
from exi import schemas
from iso15118.evcc import din, exchange, timeouts
from iso15118.evcc.exchange import EvccEnd, END_FAILED
from iso15118.evcc.machine import SessionData, State, drive, evse_wants_stop, processing
from iso15118.values import pv, pv_value

SCHEMA = "iso2"
T_ONGOING = din.T_ONGOING
T_CABLE = (("V2G_EVCC_CableCheck_Timeout", timeouts.CABLE_CHECK_MS),)
T_PRE = (("V2G_EVCC_PreCharge_Timeout", timeouts.PRE_CHARGE_MS),)


dc_status = din.dc_status   # DC_EVStatus has the same elements in DIN and -2


def wanted_mode(ev):
    if ev.energy_service.startswith("DC"):
        return "DC_extended"
    return "AC_three_phase_core" if ev.ac_phases == 3 else "AC_single_phase_core"


class SessionSetup(din.SessionSetup):
    """sends SessionSetupReq; the SECC's SessionID is ours from here on"""


class ServiceDiscovery(State):
    """asks for the services; needs ExternalPayment and the EV's energy transfer mode"""
    request = "ServiceDiscoveryReq"

    def outcome(self, d, res, hdr):
        if "ExternalPayment" not in res["PaymentOptionList"]["PaymentOption"]:
            raise EvccEnd(END_FAILED, "the SECC offers no ExternalPayment (EIM)")
        cs = res["ChargeService"]
        mode = wanted_mode(d.ev)
        offered = cs["SupportedEnergyTransferMode"]["EnergyTransferMode"]
        if mode not in offered:
            raise EvccEnd(END_FAILED, "the SECC offers %s, not %s" % (offered, mode))
        d.transfer = mode
        d.service_id = cs["ServiceID"]
        return "ok"


class PaymentServiceSelection(din.ServicePaymentSelection):
    """selects EIM and the charge service"""
    request = "PaymentServiceSelectionReq"


class Authorization(din.ContractAuthentication):
    """repeated while the SECC answers Ongoing / Ongoing_WaitingForCustomerInteraction"""
    request = "AuthorizationReq"


class ChargeParameterDiscovery(State):
    """the EV's DC or AC parameters; repeated while Ongoing; picks the first SAScheduleTuple"""
    request = "ChargeParameterDiscoveryReq"
    timers = T_ONGOING

    def body(self, d):
        ev = d.ev
        b = {"RequestedEnergyTransferMode": d.transfer}
        if d.transfer.startswith("DC"):
            p = {"DC_EVStatus": dc_status(d)}
            p.update(din.dc_limits(d))
            p["EVEnergyCapacity"] = pv(ev.capacity_wh, "Wh")
            p["EVEnergyRequest"] = pv(ev.energy_request_wh(), "Wh")
            p["FullSOC"] = 100
            p["BulkSOC"] = ev.target_soc
            b["DC_EVChargeParameter"] = p
        else:
            b["AC_EVChargeParameter"] = {"EAmount": pv(ev.energy_request_wh(), "Wh"), "EVMaxVoltage": pv(ev.ac_v, "V"),
                                         "EVMaxCurrent": pv(ev.ac_max_i, "A"), "EVMinCurrent": pv(ev.ac_min_i, "A")}
        return b

    def outcome(self, d, res, hdr):
        p = processing(res)
        if p != "Finished":
            return p
        d.stop_timer(T_ONGOING[0][0])
        tuples = res.get("SAScheduleList", {}).get("SAScheduleTuple", [])
        if not tuples:
            raise EvccEnd(END_FAILED, "ChargeParameterDiscoveryRes Finished without an SAScheduleTuple")
        d.sa_id = tuples[0]["SAScheduleTupleID"]
        if d.transfer.startswith("DC"):
            d.evse_limits(res["DC_EVSEChargeParameter"])
            return "dc"
        ac = res["AC_EVSEChargeParameter"]
        d.ev.evse_max_i = pv_value(ac["EVSEMaxCurrent"])
        return "ac"


class CableCheck(din.CableCheck):
    """isolation test; repeated while Ongoing"""
    timers = T_CABLE


class PreCharge(din.PreCharge):
    """output raised to the battery voltage; repeated until within tolerance"""
    timers = T_PRE


class PowerDeliveryStart(State):
    """ChargeProgress=Start with the chosen schedule"""
    request = "PowerDeliveryReq"
    start = True   # PowerDeliveryStop: the same request with ChargeProgress=Stop, charging complete

    def body(self, d):
        b = {"ChargeProgress": "Start" if self.start else "Stop", "SAScheduleTupleID": d.sa_id}
        if d.transfer.startswith("DC"):
            done = not self.start
            b["DC_EVPowerDeliveryParameter"] = {"DC_EVStatus": dc_status(d, self.start), "BulkChargingComplete": done,
                                                "ChargingComplete": done}
        return b

    def outcome(self, d, res, hdr):
        return "dc" if d.transfer.startswith("DC") else "ac"


class CurrentDemand(din.CurrentDemand):
    """DC charge loop"""


class ChargingStatus(State):
    """AC charge loop, paced by the EV: it draws min(its maximum, EVSEMaxCurrent) per phase"""
    request = "ChargingStatusReq"
    loop = True

    def outcome(self, d, res, hdr):
        ev = d.ev
        if "EVSEMaxCurrent" in res:
            ev.evse_max_i = pv_value(res["EVSEMaxCurrent"])
        d.loop_step(ev.ac_v * ev.ac_phases, ev.ac_current())
        st = res["AC_EVSEStatus"]
        return d.loop_end(evse_wants_stop(st), st.get("EVSENotification"))


class PowerDeliveryStop(PowerDeliveryStart):
    """ChargeProgress=Stop; DC goes on to welding detection, AC to SessionStop"""
    start = False


class WeldingDetection(din.WeldingDetection):
    """repeated until the EVSE output is low, at most welding_max times"""


class SessionStop(State):
    """ends the session for good (Pause is not used: no wake-up resumption)"""
    request = "SessionStopReq"

    def body(self, d):
        return {"ChargingSession": "Terminate"}


SessionSetup.next = {"ok": ServiceDiscovery}
ServiceDiscovery.next = {"ok": PaymentServiceSelection}
PaymentServiceSelection.next = {"ok": Authorization}
Authorization.next = {"Ongoing": Authorization, "Finished": ChargeParameterDiscovery}
ChargeParameterDiscovery.next = {"Ongoing": ChargeParameterDiscovery, "dc": CableCheck, "ac": PowerDeliveryStart}
CableCheck.next = {"Ongoing": CableCheck, "Finished": PreCharge}
PreCharge.next = {"again": PreCharge, "done": PowerDeliveryStart}
PowerDeliveryStart.next = {"dc": CurrentDemand, "ac": ChargingStatus}
CurrentDemand.next = {"again": CurrentDemand, "stop": PowerDeliveryStop}
ChargingStatus.next = {"again": ChargingStatus, "stop": PowerDeliveryStop}
PowerDeliveryStop.next = {"dc": WeldingDetection, "ac": SessionStop}
WeldingDetection.next = {"again": WeldingDetection, "done": SessionStop}
SessionStop.next = {"ok": None}


async def run(ctx, stream, ev, result):
    if ev.energy_service not in ("DC", "AC"):
        raise EvccEnd(END_FAILED, "ISO 15118-2 has no %s" % ev.energy_service)
    d = SessionData(ctx, exchange.of(ctx, stream, result), ev)
    await drive(ctx, d, schemas.grammar(SCHEMA), SessionSetup, timeouts.ISO2_MSG_MS)
    result.detail = d.stop_reason
