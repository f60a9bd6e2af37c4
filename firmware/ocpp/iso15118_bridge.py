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


SILENT_MS = 10000  # a live session without EV_STATUS (1 Hz) this long: ISO15118 is gone (quarantined)
PLUGGED_CP = (msgs.CP_B, msgs.CP_C, msgs.CP_D)


class Bridge:
    def __init__(self, cl):
        self.cl = cl
        self.iso = cl.ctx.sid_of("ISO15118")
        # The plug-in: the control pilot once the SLAC service reports it (CP_STATE); until the first
        # CP_STATE, the first and last sign of an ISO 15118 session stand for it. Both end in the one
        # cl.tx.plug() event, so the transaction logic does not know which one it was.
        self.cp_seen = False
        self.cp_level = 0
        self.serial = 0  # the ISO 15118 session of the last SESSION_STATE
        self.iso_gen = 0  # ISO15118's incarnation (ctx.incarnation) that runs the live session
        self.lost_serial = -1  # a session ended for OCPP by its ISO15118's loss: its later reports are moot
        self.last_status_ms = cl.now()  # when ISO15118 last reported (kernel time, as it counts its 1 Hz)
        self.evse = 1  # this gateway is one EVSE (the SECC's "evse" in iso15118.json)
        self.required_told = False  # ISO15118 took ISO_AUTH_RESULT AUTH_REQUIRED
        self.sched = None  # [evse, total, unit, timeBase, periods{index: (start, limit)}]
        self.last_status = None  # the CSMS's answer to the last Notify call
        self.cert_from = -1
        self.bad = 0

    def on_ipc(self, cl, msg):
        try:
            t = msg.type
            if t == msgs.SESSION_STATE or t == msgs.SESSION_END or t == msgs.EV_STATUS:
                self._check_incarnation(cl)  # a restarted ISO15118's first words come after its loss
            if t == msgs.SESSION_STATE:
                self._session_state(msg.i32(msgs.SESS_LEVEL), msg.i32(msgs.SESS_SERIAL))
            elif t == msgs.SESSION_END:
                self._session_end(msg.i32(msgs.END_REASON), msg.i32(msgs.END_SERIAL))
            elif t == msgs.EV_STATUS:
                soc = msg.i32(msgs.EV_SOC)
                cl.tx.meter.soc = soc if 0 <= soc <= 100 else None
                self.last_status_ms = cl.now()
            elif t == msgs.EV_ID:
                self._ev_detected(msg.buf[0], bytes(msg.buf[1:msg.len]).decode())
            elif t == msgs.CP_STATE:
                self._cp(msg.i32(msgs.CP_LEVEL))
            elif t == msgs.SLAC_LINK:
                pass  # the link itself is the SLAC service's business; the CP is the plug
            elif msg.type == msgs.EV_CHARGING_NEEDS:
                need = needs_payload(msg.buf)
                self._ev_minimum(need)
                cl.call("NotifyEVChargingNeeds", need, self._answered)
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
        except (ValueError, IndexError, OSError, UnicodeError) as e:
            self.bad += 1
            cl.last_error = "ISO15118 IPC: %s" % (e,)

    # --- the EV's session -> the transaction (ocpp/transaction.py) -----------------------------------
    def _cp(self, level):
        self.cp_seen = True
        self.cp_level = level
        if level in PLUGGED_CP:
            self.cl.tx.plug(self.evse, True)
        elif level == msgs.CP_A or level == msgs.CP_E:
            self.cl.tx.plug(self.evse, False)  # F (EVSE fault) says nothing about the cable

    def _session_state(self, level, serial):
        txm = self.cl.tx
        if level == msgs.SESSION_NONE or serial == self.lost_serial:
            return  # SESSION_END follows with the reason / the resumed session only winds down
        if serial != self.serial:
            self.serial = serial
            self.iso_gen = self.cl.ctx.incarnation(self.iso)
            self.last_status_ms = self.cl.now()
            if not self.cp_seen:
                txm.plug(self.evse, True)  # the first sign of the EV
        txm.charging(self.evse, level == msgs.SESSION_AUTHORIZED)

    def _ev_detected(self, evse, evccid):
        cl = self.cl
        if evse != self.evse:
            raise ValueError("EV_ID for EVSE %d" % evse)
        txm = cl.tx
        if not self.cp_seen:
            txm.plug(evse, True)
        ev = txm.ev(evse)
        ev.evccid = evccid
        self.iso_gen = cl.ctx.incarnation(self.iso)
        txm.ev_detected(evse, self.serial)
        # EIM: what authorizes this session (its AuthorizationReq waits, EVSEProcessing=Ongoing)
        from ocpp.ops import authorize
        if ev.token is not None:  # RequestStartTransaction before plug-in: bound to this session
            self.auth_result(evse, True)
        elif evccid and cl.dm.get("AuthCtrlr", "AutochargeEnabled") == "true":
            authorize.request(cl, evse, {"idToken": evccid, "type": "MacAddress"})
        # else: it waits for a RequestStartTransaction (or the EV gives up)

    def _ev_minimum(self, need):
        # the least power the EV takes (below it the EVSE withholds power: SuspendedEVSE): AC
        # evMinCurrent at 230 V per phase; DC ChargingNeeds carry no minimum (any power > 0 will do)
        n = need["chargingNeeds"]
        ac = n.get("acChargingParameters")
        phases = 3 if n["requestedEnergyTransfer"] == "AC_three_phase" else 1
        self.cl.tx.ev(need["evseId"]).min_w = ac["evMinCurrent"] * 230 * phases if ac else 0

    def _session_end(self, reason, serial):
        from ocpp.transaction import SESSION_ENDS
        txm = self.cl.tx
        how = SESSION_ENDS.get(reason)
        if how is None:
            raise ValueError("bad SESSION_END reason %d" % reason)
        if serial == self.lost_serial:
            return  # ended for OCPP when its ISO15118 was lost (_check_incarnation)
        txm.session_end(self.evse, how)
        if not self.cp_seen:
            txm.plug(self.evse, False)  # the last sign of the EV

    def tick(self, cl):
        self.require_auth()
        from ocpp.ops import authorize
        authorize.tick(cl)
        if self._check_incarnation(cl):
            return
        if cl.tx.ev(self.evse).live and cl.since(self.last_status_ms) > SILENT_MS:
            # ISO15118 runs but stopped reporting mid-session: the session is gone
            from ocpp import transaction
            self._lost(transaction.QUARANTINED)

    def _check_incarnation(self, cl):
        # The supervisor restarted ISO15118 (a crash, a watchdog) or holds it (quarantine) during the
        # live session: the transaction ends now with the energy metered so far, not when EV_STATUS
        # stops. A restarted ISO15118 may resume the EV's connection, but only to stop it
        # (StopCharging, SessionStop): what it reports of that session afterwards ends nothing more.
        if not cl.tx.ev(self.evse).live or not self.iso_gen or cl.ctx.incarnation(self.iso) == self.iso_gen:
            return False
        self.iso_gen = 0
        self.lost_serial = self.serial
        from ocpp import transaction
        self._lost(transaction.SERVICE_LOST)
        return True

    def _lost(self, how):
        cl = self.cl
        cl.tx.session_end(self.evse, how)
        if not self.cp_seen:
            cl.tx.plug(self.evse, False)

    # --- gateway -> ISO15118 -------------------------------------------------------------------------
    def require_auth(self):
        # OCPP_CLIENT decides every EIM authorization from now on: told once ISO15118 takes it (a send to
        # a service that is not up yet is refused, so tick() repeats it until it went through)
        if self.iso >= 0 and not self.required_told:
            self.required_told = msgs.send_auth_result(self.cl.ctx, self.iso, msgs.AUTH_REQUIRED, 0) == 0

    def auth_result(self, evse, ok):
        ev = self.cl.tx.ev(evse)
        if self.iso >= 0 and ev.waiting:
            ev.waiting = False
            msgs.send_auth_result(self.cl.ctx, self.iso, msgs.AUTH_ACCEPTED if ok else msgs.AUTH_REJECTED,
                                  ev.serial)

    def stop_session(self, serial):
        if self.iso >= 0:
            msgs.send_iso_stop(self.cl.ctx, self.iso, serial)

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
    cl.ticks.append(b.tick)
    b.require_auth()
