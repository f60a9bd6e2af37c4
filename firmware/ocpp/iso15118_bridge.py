# ISO 15118 integration: the ISO15118 service hands the EV's data to
# OCPP_CLIENT over IPC (54-byte payloads), OCPP_CLIENT makes the OCPP calls.
#
# MSG_EV_CHARGING_NEEDS (ISO15118 -> OCPP_CLIENT) -> NotifyEVChargingNeeds
#   u8[0] evseId   u8[1] mode: 0 AC_single_phase, 1 AC_three_phase, 2 DC
#   u16 LE [2..3] presence flags, bit i = field i present (absent fields are absent)
#   i32 LE [4 + 4*i], i = 0 departureTime (unix s)  1 energyAmount Wh  2 evMinCurrent A
#   3 evMaxCurrent A  4 evMaxVoltage V  5 evMaxPower W  6 evEnergyCapacity Wh  7 stateOfCharge %
#   8 fullSoC %  9 bulkSoC %
# MSG_EV_CHARGING_SCHEDULE (ISO15118 -> OCPP_CLIENT) -> NotifyEVChargingSchedule, in chunks:
#   u8[0] evseId  u8[1] index of the first period in this chunk  u8[2] total periods
#   u8[3] unit: 0 W, 1 A (limit in 0.1 A)   i32[4] timeBase (unix s)
#   then up to 5 x (i32 startPeriod s, i32 limit; negative = discharge)
#   The call goes out when all periods have arrived.
# MSG_ISO_CERT_REQUEST (0x0305, ISO15118 -> OCPP_CLIENT): the EXI request is in
#   <fs>/iso15118_cert.req (base64 text, too large for IPC);
#   u8[0] 0 = Get15118EVCertificate Install, 1 = Update, 2 = GetCertificateStatus (the file
#   then holds the OCSPRequestData JSON)   bytes [1..] iso15118SchemaVersion (ASCII)
# MSG_ISO_AUTHORIZE (0x0307, ISO15118 -> OCPP_CLIENT): u8[0] evseId, bytes [1..] the EV's
#   contract id (eMAID, ASCII): Authorize, and on Accepted the transaction starts.
# MSG_ISO_CERT_RESPONSE (0x0306, OCPP_CLIENT -> ISO15118): i32[0] 1 = Accepted, 0 = Failed,
#   -1 = no answer from the CSMS; the response body (exiResponse / ocspResult) in
#   <fs>/iso15118_cert.res.
import json
import struct
from jezgro.const import (MSG_EV_CHARGING_NEEDS, MSG_EV_CHARGING_SCHEDULE, MSG_ISO_CERT_REQUEST,
                          MSG_ISO_CERT_RESPONSE, MSG_ISO_AUTHORIZE)
from ocpp import clock

MODES = ("AC_single_phase", "AC_three_phase", "DC")
REQ_FILE = "iso15118_cert.req"
RES_FILE = "iso15118_cert.res"


def needs_payload(b):
    evse = b[0]
    mode = b[1]
    if mode > 2:
        raise ValueError("bad energy transfer mode")
    flags = b[2] | (b[3] << 8)
    v = {}
    for i in range(10):
        if flags & (1 << i):
            v[i] = struct.unpack_from("<i", b, 4 + 4 * i)[0]
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
        self.cert_from = -1
        self.bad = 0

    def on_ipc(self, cl, msg):
        try:
            if msg.type == MSG_EV_CHARGING_NEEDS:
                cl.call("NotifyEVChargingNeeds", needs_payload(msg.buf), self._answered)
            elif msg.type == MSG_EV_CHARGING_SCHEDULE:
                self._schedule_chunk(msg.buf)
            elif msg.type == MSG_ISO_CERT_REQUEST:
                self._cert(msg)
            elif msg.type == MSG_ISO_AUTHORIZE:
                emaid = bytes(msg.buf[1:msg.len]).decode()
                if not 0 < len(emaid) <= 36 or not 1 <= msg.buf[0] <= cl.connectors:
                    raise ValueError("bad authorize request")
                from ocpp.ops import authorize
                authorize.request(cl, msg.buf[0], {"idToken": emaid, "type": "eMAID"})
        except (ValueError, IndexError, OSError) as e:
            self.bad += 1
            cl.ext["iso_bad"] = self.bad
            cl.last_error = "ISO15118 IPC: %s" % (e,)

    def _answered(self, cl, req, res, err):
        cl.ext["iso_last_status"] = res.get("status") if res else err

    def _schedule_chunk(self, b):
        evse, first, total, unit = b[0], b[1], b[2], b[3]
        if total == 0 or total > 24 or unit > 1:
            raise ValueError("bad schedule chunk")
        tb = struct.unpack_from("<i", b, 4)[0]
        if first == 0 or self.sched is None:
            self.sched = [evse, total, unit, tb, {}]
        s = self.sched
        for k in range(5):
            i = first + k
            if i >= total:
                break
            sp, lim = struct.unpack_from("<ii", b, 8 + 8 * k)
            s[4][i] = (sp, lim)
        if len(s[4]) == s[1]:
            per = []
            for i in range(s[1]):
                sp, lim = s[4][i]
                per.append({"startPeriod": sp, "limit": lim if s[2] == 0 else lim / 10})
            self.cl.call("NotifyEVChargingSchedule", {
                "timeBase": clock.iso(s[3]), "evseId": s[0],
                "chargingSchedule": {"id": 1, "chargingRateUnit": "W" if s[2] == 0 else "A",
                                     "chargingSchedulePeriod": per}}, self._answered)
            self.sched = None

    def _cert(self, msg):
        kind = msg.buf[0]
        ver = bytes(msg.buf[1:msg.len]).rstrip(b"\0").decode()
        with open(self.cl.fs + "/" + REQ_FILE) as f:
            body = f.read()
        self.cert_from = msg.src_handle()
        if kind == 2:
            self.cl.call("GetCertificateStatus", {"ocspRequestData": json.loads(body)}, self._cert_done)
        elif kind in (0, 1):
            self.cl.call("Get15118EVCertificate", {"iso15118SchemaVersion": ver or "urn:iso:15118:2:2013:MsgDef",
                                                   "action": "Install" if kind == 0 else "Update",
                                                   "exiRequest": body}, self._cert_done)
        else:
            raise ValueError("bad certificate request kind")

    def _cert_done(self, cl, req, res, err):
        ok = -1
        if res is not None:
            ok = 1 if res.get("status") == "Accepted" else 0
            body = res.get("exiResponse", res.get("ocspResult", ""))
            with open(cl.fs + "/" + RES_FILE, "w") as f:
                f.write(body)
        cl.ctx.send_i32(self.cert_from, MSG_ISO_CERT_RESPONSE, ok)


def install(cl):
    b = Bridge(cl)
    cl.ext["iso"] = b
    cl.ext["ipc"] = b.on_ipc
