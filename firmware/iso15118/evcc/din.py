# DIN SPEC 70121 DC with external identification (EIM), EV side: one class per EVCC state (the
# request it sends, how the response is classified, the transition table at the end). Timers:
# message timeouts timeouts.DIN_MSG_MS; ContractAuthentication/ChargeParameterDiscovery repeat
# under V2G_EVCC_Ongoing_Timeout, CableCheck under V2G_EVCC_CableCheck_Timeout, PreCharge under
# V2G_EVCC_PreCharge_Timeout, and CableCheck..PowerDelivery(ReadyToChargeState=true) under
# V2G_EVCC_ReadyToCharge_Timeout.
# Its state classes and transition tables look like the other protocols' on purpose: each is that
# protocol's own sequence (own classes, as a state's identity is its place in the table).
from exi import schemas
from iso15118.evcc import exchange, timeouts
from iso15118.evcc.exchange import EvccEnd, END_FAILED
from iso15118.evcc.machine import SessionData, State, drive, evse_wants_stop, processing
from iso15118.values import pv, pv_value

SCHEMA = "din"
DC_TYPES = ("DC_extended", "DC_core", "DC_combo_core", "DC_unique")
PRECHARGE_I = 2   # A: IEC 61851-23 CC.5.2 inrush limit while pre-charging

T_ONGOING = (("V2G_EVCC_Ongoing_Timeout", timeouts.ONGOING_MS),)
T_READY = ("V2G_EVCC_ReadyToCharge_Timeout", timeouts.READY_TO_CHARGE_MS)
T_CABLE = (("V2G_EVCC_CableCheck_Timeout", timeouts.CABLE_CHECK_MS), T_READY)
T_PRE = (("V2G_EVCC_PreCharge_Timeout", timeouts.PRE_CHARGE_MS), T_READY)


def dc_status(d, ready=True):
    return {"EVReady": ready, "EVErrorCode": "NO_ERROR", "EVRESSSOC": d.ev.soc_int()}


def dc_limits(d):
    ev = d.ev
    return {"EVMaximumCurrentLimit": pv(ev.max_i, "A"), "EVMaximumPowerLimit": pv(ev.max_p, "W"),
            "EVMaximumVoltageLimit": pv(ev.max_v, "V")}


class SessionSetup(State):
    """sends SessionSetupReq; the SECC's SessionID is ours from here on"""
    request = "SessionSetupReq"

    def body(self, d):
        return {"EVCCID": d.ev.evcc_id}

    def outcome(self, d, res, hdr):
        d.x.session_id = hdr["SessionID"]
        d.x.setup = None   # communication setup complete
        return "ok"


class ServiceDiscovery(State):
    """asks for the services; needs ExternalPayment and a DC energy transfer type"""
    request = "ServiceDiscoveryReq"

    def outcome(self, d, res, hdr):
        if "ExternalPayment" not in res["PaymentOptions"]["PaymentOption"]:
            raise EvccEnd(END_FAILED, "the SECC offers no ExternalPayment (EIM)")
        cs = res["ChargeService"]
        if cs["EnergyTransferType"] not in DC_TYPES:
            raise EvccEnd(END_FAILED, "the SECC offers %s, not DC" % cs["EnergyTransferType"])
        d.transfer = cs["EnergyTransferType"]
        d.service_id = cs["ServiceTag"]["ServiceID"]
        return "ok"


class ServicePaymentSelection(State):
    """selects EIM and the charge service"""
    request = "ServicePaymentSelectionReq"

    def body(self, d):
        return {"SelectedPaymentOption": "ExternalPayment",
                "SelectedServiceList": {"SelectedService": [{"ServiceID": d.service_id}]}}


class ContractAuthentication(State):
    """repeated while the SECC answers Ongoing (EIM: the driver identifies at the charger)"""
    request = "ContractAuthenticationReq"
    timers = T_ONGOING

    def outcome(self, d, res, hdr):
        p = processing(res)
        if p == "Finished":
            d.stop_timer(T_ONGOING[0][0])
        return p


class ChargeParameterDiscovery(State):
    """the EV's DC limits and energy request; repeated while Ongoing"""
    request = "ChargeParameterDiscoveryReq"
    timers = T_ONGOING

    def body(self, d):
        ev = d.ev
        p = {"DC_EVStatus": dc_status(d)}
        p.update(dc_limits(d))
        p["EVEnergyCapacity"] = pv(ev.capacity_wh, "Wh")
        p["EVEnergyRequest"] = pv(ev.energy_request_wh(), "Wh")
        p["FullSOC"] = 100
        p["BulkSOC"] = ev.target_soc
        return {"EVRequestedEnergyTransferType": d.transfer, "DC_EVChargeParameter": p}

    def outcome(self, d, res, hdr):
        p = processing(res)
        if p == "Finished":
            d.stop_timer(T_ONGOING[0][0])
            d.evse_limits(res["DC_EVSEChargeParameter"])
        return p


class CableCheck(State):
    """isolation test; repeated while Ongoing (the SECC closes its contactors, measures)"""
    request = "CableCheckReq"
    timers: tuple = T_CABLE

    def body(self, d):
        return {"DC_EVStatus": dc_status(d)}

    def outcome(self, d, res, hdr):
        p = processing(res)
        if p == "Finished":
            iso = res["DC_EVSEStatus"].get("EVSEIsolationStatus")
            if iso not in ("Valid", "Warning"):
                raise EvccEnd(END_FAILED, "cable check finished with isolation %s" % iso)
        return p


class PreCharge(State):
    """the EVSE raises its output to the battery voltage at <= 2 A; repeated until within tolerance"""
    request = "PreChargeReq"
    timers: tuple = T_PRE
    loop = True

    def body(self, d):
        return {"DC_EVStatus": dc_status(d), "EVTargetVoltage": pv(d.ev.target_v(), "V"),
                "EVTargetCurrent": pv(PRECHARGE_I, "A")}

    def outcome(self, d, res, hdr):
        return "done" if d.ev.precharged(pv_value(res["EVSEPresentVoltage"])) else "again"


class PowerDeliveryStart(State):
    """contactors closed: ready to charge"""
    request = "PowerDeliveryReq"
    timers = (T_READY,)

    def body(self, d):
        return {"ReadyToChargeState": True,
                "DC_EVPowerDeliveryParameter": {"DC_EVStatus": dc_status(d), "BulkChargingComplete": False,
                                                "ChargingComplete": False}}

    def outcome(self, d, res, hdr):
        d.stop_timer(T_READY[0])
        return "ok"


class CurrentDemand(State):
    """the charge loop, paced by the EV; ends at the target SoC, after EvModel.loops, or when the
    EVSE asks to stop"""
    request = "CurrentDemandReq"
    loop = True

    def body(self, d):
        ev = d.ev
        done = ev.charging_complete()
        b = {"DC_EVStatus": dc_status(d), "EVTargetCurrent": pv(d.target_i(), "A")}
        b.update(dc_limits(d))
        b["BulkChargingComplete"] = done
        b["ChargingComplete"] = done
        b["EVTargetVoltage"] = pv(ev.target_v(), "V")
        return b

    def outcome(self, d, res, hdr):
        d.loop_step(pv_value(res["EVSEPresentVoltage"]), pv_value(res["EVSEPresentCurrent"]))
        st = res["DC_EVSEStatus"]
        return d.loop_end(evse_wants_stop(st), st.get("EVSEStatusCode"))


class PowerDeliveryStop(State):
    """charge over: the EVSE ramps down and opens its contactors"""
    request = "PowerDeliveryReq"

    def body(self, d):
        return {"ReadyToChargeState": False,
                "DC_EVPowerDeliveryParameter": {"DC_EVStatus": dc_status(d, False), "BulkChargingComplete": True,
                                                "ChargingComplete": True}}


class WeldingDetection(State):
    """repeated until the EVSE output is below EvModel.welding_v, at most welding_max times"""
    request = "WeldingDetectionReq"
    loop = True

    def body(self, d):
        return {"DC_EVStatus": dc_status(d, False)}

    def outcome(self, d, res, hdr):
        d.welding += 1
        low = pv_value(res["EVSEPresentVoltage"]) <= d.ev.welding_v
        return "done" if low or d.welding >= d.ev.welding_max else "again"


class SessionStop(State):
    """ends the session"""
    request = "SessionStopReq"


# Transition tables: outcome of the state's response -> following state (None: the session is over).
SessionSetup.next = {"ok": ServiceDiscovery}
ServiceDiscovery.next = {"ok": ServicePaymentSelection}
ServicePaymentSelection.next = {"ok": ContractAuthentication}
ContractAuthentication.next = {"Ongoing": ContractAuthentication, "Finished": ChargeParameterDiscovery}
ChargeParameterDiscovery.next = {"Ongoing": ChargeParameterDiscovery, "Finished": CableCheck}
CableCheck.next = {"Ongoing": CableCheck, "Finished": PreCharge}
PreCharge.next = {"again": PreCharge, "done": PowerDeliveryStart}
PowerDeliveryStart.next = {"ok": CurrentDemand}
CurrentDemand.next = {"again": CurrentDemand, "stop": PowerDeliveryStop}
PowerDeliveryStop.next = {"ok": WeldingDetection}
WeldingDetection.next = {"again": WeldingDetection, "done": SessionStop}
SessionStop.next = {"ok": None}


async def run(ctx, stream, ev, result):
    if not ev.energy_service.startswith("DC"):
        raise EvccEnd(END_FAILED, "DIN SPEC 70121 is DC only, the EV wants %s" % ev.energy_service)
    d = SessionData(ctx, exchange.of(ctx, stream, result), ev)
    await drive(ctx, d, schemas.grammar(SCHEMA), SessionSetup, timeouts.DIN_MSG_MS)
    result.detail = d.stop_reason
