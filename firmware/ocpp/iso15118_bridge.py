# ISO 15118 integration: the ISO15118 service hands the EV's data to OCPP_CLIENT over IPC,
# OCPP_CLIENT makes the OCPP calls. The messages (EV_CHARGING_NEEDS -> NotifyEVChargingNeeds,
# EV_CHARGING_SCHEDULE chunks -> NotifyEVChargingSchedule, ISO_CERT_REQUEST -> Get15118EVCertificate /
# GetCertificateStatus answered by ISO_CERT_RESPONSE, ISO_AUTHORIZE -> Authorize) are declared in
# msgs/catalogue.py, their byte layouts in msgs/ev.py. Certificate bodies are too large for IPC and
# travel in <fs>/iso15118_cert.req and .res.
import msgs
from jezgro import persist
from msgs import ev
from ocpp import clock

MODES = ("AC_single_phase", "AC_three_phase", "DC")
REQ_FILE = "iso15118_cert.req"
RES_FILE = "iso15118_cert.res"


def needs_payload(b):
    evse, mode, v = ev.unpack_needs(b)
    need = {"requestedEnergyTransfer": MODES[mode]}  # type: dict
    if 0 in v:
        need["departureTime"] = clock.iso(v[0])
    if mode < 2:
        for i in (1, 2, 3, 4):
            if i not in v:
                raise ValueError("AC needs energyAmount, evMinCurrent, evMaxCurrent, evMaxVoltage")
        need["acChargingParameters"] = {"energyAmount": v[1], "evMinCurrent": v[2], "evMaxCurrent": v[3],
                                        "evMaxVoltage": v[4]}
    else:
        if 3 not in v or 4 not in v:
            raise ValueError("DC needs evMaxCurrent and evMaxVoltage")
        dc = {"evMaxCurrent": v[3], "evMaxVoltage": v[4]}
        for i, name in ((1, "energyAmount"), (5, "evMaxPower"), (6, "evEnergyCapacity"), (7, "stateOfCharge"),
                        (8, "fullSoC"), (9, "bulkSoC")):
            if i in v:
                dc[name] = v[i]
        need["dcChargingParameters"] = dc
    return {"evseId": evse, "chargingNeeds": need}


class Bridge:
    def __init__(self, cl):
        self.cl = cl
        self.sched = None  # [evse, total, unit, timeBase, periods{index: (start, limit)}]
        self.last_status = None  # the CSMS's answer to the last Notify call
        self.cert_from = -1
        self.bad = 0

    def on_ipc(self, cl, msg):
        try:
            if msg.type == msgs.EV_CHARGING_NEEDS:
                cl.call("NotifyEVChargingNeeds", needs_payload(msg.buf), self._answered)
            elif msg.type == msgs.EV_CHARGING_SCHEDULE:
                self._schedule_chunk(msg.buf)
            elif msg.type == msgs.ISO_CERT_REQUEST:
                self._cert(msg)
            elif msg.type == msgs.ISO_AUTHORIZE:
                emaid = bytes(msg.buf[1:msg.len]).decode()
                if not 0 < len(emaid) <= ev.EMAID_MAX or not 1 <= msg.buf[0] <= cl.connectors:
                    raise ValueError("bad authorize request")
                from ocpp.ops import authorize
                authorize.request(cl, msg.buf[0], {"idToken": emaid, "type": "eMAID"})
        except (ValueError, IndexError, OSError) as e:
            self.bad += 1
            cl.last_error = "ISO15118 IPC: %s" % (e,)

    def _answered(self, cl, req, res, err):
        self.last_status = res.get("status") if res else err

    def _schedule_chunk(self, b):
        evse, first, total, unit, tb = ev.schedule_header(b)
        if first == 0 or self.sched is None:
            self.sched = [evse, total, unit, tb, {}]
        s = self.sched
        for k in range(ev.SCHED_CHUNK):
            i = first + k
            if i >= total:
                break
            s[4][i] = ev.schedule_period(b, k)
        if len(s[4]) == s[1]:
            per = []
            for i in range(s[1]):
                sp, lim = s[4][i]
                per.append({"startPeriod": sp, "limit": lim if s[2] == ev.UNIT_W else lim / 10})
            self.cl.call("NotifyEVChargingSchedule", {
                "timeBase": clock.iso(s[3]), "evseId": s[0],
                "chargingSchedule": {"id": 1, "chargingRateUnit": "W" if s[2] == ev.UNIT_W else "A",
                                     "chargingSchedulePeriod": per}}, self._answered)
            self.sched = None

    def _cert(self, msg):
        kind = msg.buf[0]
        ver = bytes(msg.buf[1:msg.len]).rstrip(b"\0").decode()
        self.cert_from = msg.src_handle()
        body, why = persist.read_text(self.cl.fs + "/" + REQ_FILE)
        ocsp = None
        if body is not None and kind == ev.CERT_STATUS:
            ocsp, why = persist.parse_json(body)
            body = body if isinstance(ocsp, dict) else None
        if body is None:  # unreadable or damaged request: the SECC gets a failure, not silence
            persist.problem(self.cl.fs + "/" + REQ_FILE, persist.REJECTED, why or "not a JSON object")
            msgs.send_cert_response(self.cl.ctx, self.cert_from, msgs.CERT_FAILED)
            raise ValueError("certificate request file: " + (why or "not a JSON object"))
        if kind == ev.CERT_STATUS:
            self.cl.call("GetCertificateStatus", {"ocspRequestData": ocsp}, self._cert_done)
        elif kind in (ev.CERT_INSTALL, ev.CERT_UPDATE):
            self.cl.call("Get15118EVCertificate", {"iso15118SchemaVersion": ver or "urn:iso:15118:2:2013:MsgDef",
                                                   "action": "Install" if kind == ev.CERT_INSTALL else "Update",
                                                   "exiRequest": body}, self._cert_done)
        else:
            raise ValueError("bad certificate request kind")

    def _cert_done(self, cl, req, res, err):
        ok = msgs.CERT_NO_ANSWER
        if res is not None:
            ok = msgs.CERT_ACCEPTED if res.get("status") == "Accepted" else msgs.CERT_FAILED
            body = res.get("exiResponse", res.get("ocspResult", ""))
            if not isinstance(body, str) or not persist.write_atomic(cl.fs + "/" + RES_FILE, body):
                ok = msgs.CERT_FAILED  # the SECC could not read an answer that is not there
        msgs.send_cert_response(cl.ctx, self.cert_from, ok)


def install(cl):
    b = Bridge(cl)
    cl.iso = b
    cl.ipc_hook = b.on_ipc
