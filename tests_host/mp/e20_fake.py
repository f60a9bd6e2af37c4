# Unit-test double for the ISO 15118-20 EVCC logic (tests_host/test_iso15118_evcc_20_logic.py): a stream whose
# far end is a minimal in-process -20 SECC answering every request with a schema-valid response
# (encoded and decoded with our EXI codec, so every document crosses the codec both ways), an ideal
# bidirectional supply behind it, and knobs to drop, repeat (Ongoing) or rewrite responses. Units
# only: the link test (test_iso15118_evcc_20.py) runs against the iso15118 package's SECC.
from exi import codec, schemas
from iso15118 import v20
from iso15118.values import rn, rn_value
from iso15118.transport.stream import StreamClosed, StreamTimeout

SESSION_ID = "0102030405060708"
PT_SAP = 0x8001
MAX_V, MAX_I, MAX_P = 500, 200, 100000


def _price():
    return {"TimeAnchor": 0, "PriceScheduleID": 1, "Currency": "EUR", "Language": "ENG",
            "PriceAlgorithm": "urn:iso:std:iso:15118:-20:PriceAlgorithm:1-Power",
            "PriceRuleStacks": {"PriceRuleStack": [{"Duration": 0, "PriceRule": [
                {"EnergyFee": rn(0), "ParkingFeePeriod": 0, "RenewableGenerationPercentage": 0,
                 "PowerRangeStart": rn(0)}]}]}}


class Secc20Stream:
    # services: ServiceIDs offered; modes: ControlModes offered (one parameter set each)
    # silent: request name never answered; close_on: request name at which the SECC closes
    # ongoing: {response name: how many times EVSEProcessing=Ongoing before Finished}
    # rewrite: {response name: fn(body)} applied before encoding; schedule_w: the schedule's power
    # present_v: fixed EVSE output voltage (None: the supply follows the EV's target)
    def __init__(self, ctx, services=(1, 2, 5, 6), modes=(1, 2), silent=None, close_on=None, ongoing=None,
                 rewrite=None, latency_ms=1, schedule_w=50000, present_v=None, wrong_pt=None):
        self.ctx = ctx
        self.services = services
        self.modes = modes
        self.silent = silent
        self.close_on = close_on
        self.ongoing = dict(ongoing or {})
        self.rewrite = rewrite or {}
        self.latency_ms = latency_ms
        self.schedule_w = schedule_w
        self.fixed_v = present_v
        self.wrong_pt = wrong_pt    # response name sent with the common payload type instead of its own
        self.queue = []
        self.sap = True
        self.closed = False
        self.seen = []          # request names in arrival order
        self.docs = []          # [name, body] of every request
        self.bad_pt = []        # requests that came with another payload type than their schema's
        self.at = []            # virtual ms at which each -20 request arrived
        self.v = 0
        self.i = 0
        self.mode = None        # "Scheduled" | "Dynamic" from ServiceSelectionReq
        self.bpt = False

    async def send(self, ctx, pt, payload):
        if self.closed:
            raise StreamClosed("closed")
        if self.sap:
            hs = schemas.grammar("handshake")
            req = codec.decode(hs, payload)["supportedAppProtocolReq"]
            self.seen.append("supportedAppProtocolReq")
            self.sap = False
            ap = [a for a in req["AppProtocol"] if a["ProtocolNamespace"] in (v20.NS_DC, v20.NS_AC)][0]
            res = {"ResponseCode": "OK_SuccessfulNegotiation", "SchemaID": ap["SchemaID"]}
            self.queue.append((PT_SAP, codec.encode(hs, {"supportedAppProtocolRes": res})))
            return
        schema = v20.PT_SCHEMA[pt]
        name, body = v20.message(codec.decode(schemas.grammar(schema), payload))
        if v20.schema_of(name) != schema:
            self.bad_pt.append(name)
        self.seen.append(name)
        self.docs.append([name, body])
        self.at.append(self.ctx.kernel.now)
        if name == self.close_on:
            self.closed = True
            return
        if name == self.silent:
            return
        res_name = name[:-3] + "Res"
        res = getattr(self, "_" + name)(body)
        left = self.ongoing.get(res_name, 0)
        if left and res.get("EVSEProcessing") == "Finished":
            self.ongoing[res_name] = left - 1
            res["EVSEProcessing"] = "Ongoing"
        res["Header"] = v20.header(SESSION_ID)
        if res_name in self.rewrite:
            self.rewrite[res_name](res)
        pt_out = v20.PT_COMMON if res_name == self.wrong_pt else v20.payload_type(res_name)
        self.queue.append((pt_out, codec.encode(schemas.grammar(v20.schema_of(res_name)),
                                                                    {res_name: res})))

    async def recv(self, ctx, timeout_ms):
        if self.closed and not self.queue:
            raise StreamClosed("the SECC closed the connection")
        if not self.queue:
            self.ctx.kernel.now += timeout_ms
            raise StreamTimeout("no V2GTP message within %d ms" % timeout_ms)
        self.ctx.kernel.now += self.latency_ms
        return self.queue.pop(0)

    def close(self):
        self.closed = True

    # -- responses ---------------------------------------------------------------------------------

    def _SessionSetupReq(self, b):
        return {"ResponseCode": "OK_NewSessionEstablished", "EVSEID": "DE*JZG*E0001"}

    def _AuthorizationSetupReq(self, b):
        return {"ResponseCode": "OK", "AuthorizationServices": ["EIM"], "CertificateInstallationService": False,
                "EIM_ASResAuthorizationMode": {}}

    def _AuthorizationReq(self, b):
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def _ServiceDiscoveryReq(self, b):
        return {"ResponseCode": "OK", "ServiceRenegotiationSupported": False,
                "EnergyTransferServiceList": {"Service": [{"ServiceID": s, "FreeService": False}
                                                          for s in self.services]}}

    def _ServiceDetailReq(self, b):
        sets = []
        for n, m in enumerate(self.modes):
            sets.append({"ParameterSetID": n + 1, "Parameter": [
                {"Name": "Connector", "intValue": 2}, {"Name": "ControlMode", "intValue": m},
                {"Name": "MobilityNeedsMode", "intValue": 1}, {"Name": "Pricing", "intValue": 0}]})
        return {"ResponseCode": "OK", "ServiceID": b["ServiceID"], "ServiceParameterList": {"ParameterSet": sets}}

    def _ServiceSelectionReq(self, b):
        sel = b["SelectedEnergyTransferService"]
        self.mode = v20.CONTROL_MODE_NAMES[self.modes[sel["ParameterSetID"] - 1]]
        self.bpt = sel["ServiceID"] in (5, 6)
        return {"ResponseCode": "OK"}

    def _DC_ChargeParameterDiscoveryReq(self, b):
        p = {"EVSEMaximumChargePower": rn(MAX_P), "EVSEMinimumChargePower": rn(0),
             "EVSEMaximumChargeCurrent": rn(MAX_I), "EVSEMinimumChargeCurrent": rn(0),
             "EVSEMaximumVoltage": rn(MAX_V), "EVSEMinimumVoltage": rn(150)}
        if "BPT_DC_CPDReqEnergyTransferMode" not in b:
            return {"ResponseCode": "OK", "DC_CPDResEnergyTransferMode": p}
        p.update({"EVSEMaximumDischargePower": rn(MAX_P), "EVSEMinimumDischargePower": rn(0),
                  "EVSEMaximumDischargeCurrent": rn(MAX_I), "EVSEMinimumDischargeCurrent": rn(0)})
        return {"ResponseCode": "OK", "BPT_DC_CPDResEnergyTransferMode": p}

    def _AC_ChargeParameterDiscoveryReq(self, b):
        p = {"EVSEMaximumChargePower": rn(22000), "EVSEMinimumChargePower": rn(1000), "EVSENominalFrequency": rn(50)}
        if "BPT_AC_CPDReqEnergyTransferMode" not in b:
            return {"ResponseCode": "OK", "AC_CPDResEnergyTransferMode": p}
        p.update({"EVSEMaximumDischargePower": rn(22000), "EVSEMinimumDischargePower": rn(1000)})
        return {"ResponseCode": "OK", "BPT_AC_CPDResEnergyTransferMode": p}

    def _ScheduleExchangeReq(self, b):
        r = {"ResponseCode": "OK", "EVSEProcessing": "Finished"}
        if "Scheduled_SEReqControlMode" in b:
            r["Scheduled_SEResControlMode"] = {"ScheduleTuple": [{"ScheduleTupleID": 7, "ChargingSchedule": {
                "PowerSchedule": {"TimeAnchor": 0, "PowerScheduleEntries": {"PowerScheduleEntry": [
                    {"Duration": 86400, "Power": rn(self.schedule_w)}]}}, "AbsolutePriceSchedule": _price()}}]}
        else:
            r["Dynamic_SEResControlMode"] = {"AbsolutePriceSchedule": _price()}
        return r

    def _DC_CableCheckReq(self, b):
        return {"ResponseCode": "OK", "EVSEProcessing": "Finished"}

    def _DC_PreChargeReq(self, b):
        self.v = rn_value(b["EVTargetVoltage"]) if self.fixed_v is None else self.fixed_v
        return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(self.v)}

    def _PowerDeliveryReq(self, b):
        if b["ChargeProgress"] == "Stop":
            self.i = 0
        return {"ResponseCode": "OK"}

    def _discharge_wanted(self, m):
        return rn_value(m["EVTargetEnergyRequest"]) < 0

    def _DC_ChargeLoopReq(self, b):
        cm = [k for k in b if k.endswith("CLReqControlMode")][0]
        m = b[cm]
        if "EVTargetCurrent" in m:
            self.i = rn_value(m["EVTargetCurrent"])
            self.v = rn_value(m["EVTargetVoltage"])
        else:   # Dynamic: the EVSE decides, at its power limit
            self.v = rn_value(b["EVPresentVoltage"])
            i = MAX_P // max(self.v, 1)
            self.i = -i if self._discharge_wanted(m) else i
        r = {"ResponseCode": "OK", "EVSEPresentCurrent": rn(self.i), "EVSEPresentVoltage": rn(self.v),
             "EVSEPowerLimitAchieved": False, "EVSECurrentLimitAchieved": False, "EVSEVoltageLimitAchieved": False}
        limits = {"EVSEMaximumChargePower": rn(MAX_P), "EVSEMinimumChargePower": rn(0),
                  "EVSEMaximumChargeCurrent": rn(MAX_I), "EVSEMaximumVoltage": rn(MAX_V)}
        if cm.startswith("BPT"):
            limits.update({"EVSEMaximumDischargePower": rn(MAX_P), "EVSEMinimumDischargePower": rn(0),
                           "EVSEMaximumDischargeCurrent": rn(MAX_I), "EVSEMinimumVoltage": rn(150)})
        r[cm.replace("CLReq", "CLRes")] = limits
        return r

    def _AC_ChargeLoopReq(self, b):
        cm = [k for k in b if k.endswith("CLReqControlMode")][0]
        m = b[cm]
        r = {"ResponseCode": "OK"}
        if "Dynamic" in cm:
            p = 11000
            r[cm.replace("CLReq", "CLRes")] = {"EVSETargetActivePower": rn(-p if self._discharge_wanted(m) else p)}
        else:
            r[cm.replace("CLReq", "CLRes")] = {}
        return r

    def _DC_WeldingDetectionReq(self, b):
        self.v = 0
        return {"ResponseCode": "OK", "EVSEPresentVoltage": rn(self.v)}

    def _SessionStopReq(self, b):
        return {"ResponseCode": "OK"}
