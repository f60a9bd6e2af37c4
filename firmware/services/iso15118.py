# ISO15118 (MEDIUM, 128 KB, 1 s watchdog): the SECC of the gateway. SDP server and V2G listener on the
# configured interface (iso15118/secc/service_config.py), one SECC session at a time (DIN 70121, ISO 15118-2
# DC/AC, ISO 15118-20 DC/AC with BPT), and the session's side of the gateway (msgs/catalogue.py):
#   out SESSION_STATE (POWER_MGR) on every SECC state change, POWER_SETPOINT (SRC_ISO15118) when the
#       session's power changes; POWER_MGR arbitrates and forwards to DROOP_CTRL.
#   in  EV_POWER_CAP: the import cap (OCPP composite schedule, station, limits) as EvseLimits.max_p
#       (-20 AC: Evse20.ac_max_p): the EV sees it in the next response.
#   in  EVSE_POWER_TARGET: the station's power command as Evse20.setpoint_w, the EVSE-controlled
#       power of an ISO 15118-20 Dynamic session.
#   out EV_CHARGING_NEEDS (OCPP_CLIENT) at ChargeParameterDiscovery (NotifyEVChargingNeeds),
#       EV_CHARGING_SCHEDULE at PowerDelivery(Start) with the EV's ChargingProfile (NotifyEVChargingSchedule).
# A bad config is reported (ctx.status.config_error, config_errors) and re-read every CONFIG_RETRY_MS.
#
# Restart: everything lives in one IsoService object in ctx.store, sockets included. A restarted
# incarnation keeps the endpoint (no re-bind) and finishes a session that was running: the next
# charge-loop response says EVSENotification=StopCharging (DC also EVSE_Shutdown; -20: Terminate), the
# EV stops (DC: welding detection) and ends with SessionStopReq -> SessionStopRes OK. Power is reported 0 at
# once, so the grid side ramps down through POWER_MGR as for any stop.
from micropython import const
import msgs
from msgs import SRC_ISO15118, SESSION_NONE, SESSION_CONNECTED, SESSION_AUTHORIZED
from iso15118.secc import service_config as conf
from iso15118.secc import session_msg as sm
from iso15118 import common
from iso15118.transport.stream import StreamTimeout
from iso15118.secc.session import SeccSession, sap_check
from iso15118.secc.iso20 import Evse20
from iso15118.secc.evse_limits import AUTH_OK, AUTH_NO, AUTH_WAIT

CONFIG_RETRY_MS = const(5000)
ACCEPT_SLICE_MS = const(200)  # accept() in slices: IPC is handled between them
KEEP_MSGS = const(24)         # request/response records kept per session (head and tail)
HISTORY = const(4)            # finished sessions kept for the status
EV_STATUS_MS = const(1000)    # EV_STATUS to CAN_HANDLER this often (GW_V2G is 1 Hz)
# The EV's power request lapses at POWER_MGR this long after the request that last renewed it: an EV
# link that goes silent mid-charge (cable cut, modem dead: no FIN, the session's sequence timeout is
# 60 s) takes the EV's power away within seconds instead of a minute (docs/iso15118_service.md).
# Every answered request renews it (at most once per SETPOINT_RENEW_MS); a charge loop asks every
# 0.25-1 s.
SETPOINT_VALID_MS = const(3000)
SETPOINT_RENEW_MS = const(1000)


class IsoService:
    def __init__(self, ctx, cfg):
        from iso15118.transport import netif as nif
        from iso15118.transport.endpoints import SeccEndpoint
        self.ctx = ctx
        self.cfg = cfg
        self.limits = conf.limits(cfg)
        self.rating_p = self.limits.max_p
        # the -20 offer (when configured)
        self.evse20 = Evse20(ac_nominal_v=self.limits.ac_nominal_v, control_modes=tuple(cfg["control_modes"]))
        self.rating_ac20 = self.evse20.ac_max_p
        self.protocols = conf.supported(cfg)
        fs = ctx.fs_root
        self.capture = conf.capture(cfg, fs)
        # connections pass the gate's limits and a supportedAppProtocolReq check before a session
        # starts (docs/iso15118_connections.md)
        self.ep = SeccEndpoint(nif.Netif(cfg["iface"]), True, conf.tls_config(cfg, fs), self.capture,
                               admit=sap_check)
        self.pm = ctx.sid_of("POWER_MGR")
        self.ocpp = ctx.sid_of("OCPP_CLIENT")
        self.can = ctx.sid_of("CAN_HANDLER")  # the station controller's GW_V2G: SoC and energy, 1 Hz
        self.ev_told_ms = None
        self.sess = None
        self.serial = 0
        self.reported = None      # last SESSION_STATE (session, state) sent
        self.power_w = 0          # last POWER_SETPOINT sent
        self.power_ms = 0
        self.setpoint_ms = 0      # when it was sent (renewed)
        self.energy_wh = 0.0      # of the running session, from the reported power over time
        self.needs_sent = False
        self.schedule_sent = False
        self.history = []
        self.resumed = 0
        self.send_errors = 0
        self.ipc_bad = 0
        # HomePlug link behind SLAC: nothing answered until an EV matched (SLAC_LINK up)
        self.gated = cfg["slac"]
        self.link_up = not self.gated
        self.link_serial = 0
        self.cp = 0                # last CP_STATE level (0: no pilot heard)
        self.sdp_no_link = 0       # SDP requests dropped while no EV was matched
        # what _hold drains them into: allocated once (a recvfrom(2048) per dropped request was the
        # allocation that failed in a fragmented 32-bit heap, docs/reliability.md); a longer datagram is
        # truncated, which is fine for one that is dropped
        self.drop_buf = bytearray(64)
        self.ended_by_cp = 0       # sessions ended by unplug or a pilot fault
        self.ended_by_link = 0     # sessions ended because the SLAC link went down
        # EIM authorization: once OCPP_CLIENT said it decides (ISO_AUTH_RESULT AUTH_REQUIRED), every
        # session waits in Authorization (EVSEProcessing=Ongoing) for its ISO_AUTH_RESULT
        self.auth_by_ocpp = False

    # -- gateway side ---------------------------------------------------------------------------
    def drain(self):
        ctx = self.ctx
        msg = ctx.try_receive()
        while msg is not None:
            if msg.type == msgs.EV_POWER_CAP:
                cap = msgs.value_or_none(msg)
                self.limits.set_limits(max_p=self.rating_p if cap is None else min(self.rating_p, cap))
                self.evse20.ac_max_p = self.rating_ac20 if cap is None else min(self.rating_ac20, cap)
            elif msg.type == msgs.EVSE_POWER_TARGET:
                # the station's power command: the target of a -20 Dynamic session (None: the EV's plan)
                self.evse20.setpoint_w = msgs.value_or_none(msg)
            elif msg.type == msgs.CP_STATE:
                lv = msg.i32(msgs.CP_LEVEL)
                self.cp = lv
                if lv == msgs.CP_A or lv >= msgs.CP_E:
                    if self._abort("unplugged (CP %s)" % msgs.CP_NAMES[lv]):
                        self.ended_by_cp += 1
            elif msg.type == msgs.SLAC_LINK:
                up = msg.i32(msgs.LINK_UP) == 1
                self.link_serial = msg.i32(msgs.LINK_PLUG_SERIAL)
                if self.gated:
                    self.link_up = up
                    if not up and self._abort("SLAC link lost"):
                        self.ended_by_link += 1
            elif msg.type == msgs.ISO_AUTH_RESULT:
                self._auth_result(msg.i32(msgs.AUTH_RESULT), msg.i32(msgs.AUTH_SERIAL))
            elif msg.type == msgs.ISO_STOP:
                self._stop(msg.i32(msgs.STOP_SERIAL))
            else:
                self.ipc_bad += 1
            msg = ctx.try_receive()

    def _abort(self, why):
        # ends a running session at its next wait (stream.recv checks every slice): -> True if one ran
        s = self.sess
        if s is None or s.done or s.stream is None or s.stream.aborted is not None:
            return False          # (the first reason stays: unplug is followed by the link going down)
        s.stream.aborted = why
        self.limits.stop_charging = True
        return True

    def _live(self, serial):
        # the running session, if it is the one `serial` names (0: whichever runs)
        s = self.sess
        return s is not None and not s.done and (serial == 0 or serial == self.serial)

    def _auth_result(self, result, serial):
        if result == msgs.AUTH_REQUIRED:
            self.auth_by_ocpp = True
        elif self._live(serial):
            ok = result == msgs.AUTH_ACCEPTED
            self.limits.auth = AUTH_OK if ok else AUTH_NO
            self.evse20.authorized = ok

    def _stop(self, serial):
        # OCPP RequestStopTransaction: the protocol's stop (StopCharging / -20 Terminate), after which
        # the EV sends PowerDelivery(Stop) and SessionStop; a session still waiting for its
        # authorization is refused instead
        if self._live(serial):
            self.limits.stop_charging = True
            self.evse20.stop_requested = True
            if self.limits.auth == AUTH_WAIT:
                self.limits.auth = AUTH_NO

    def _sent(self, r):
        if r != 0:
            self.send_errors += 1

    def report(self):
        s = self.sess
        if s is None or s.done:
            level, state, ac = SESSION_NONE, sm.STATE_ENDED if s is not None else sm.STATE_IDLE, False
        elif s.d is None:
            level, state, ac = SESSION_CONNECTED, sm.STATE_SAP, False
        else:
            d = s.d
            ac = sm.is_ac(d)
            level = SESSION_AUTHORIZED if d.charging else SESSION_CONNECTED
            state = sm.state_code(s.state)
        p = 0 if level == SESSION_NONE or s is None else sm.session_power(s.d)
        now = self.ctx.ticks_ms()
        if self.power_w:
            self.energy_wh += self.power_w * self.ctx.ticks_diff(now, self.power_ms) / 3600000
        self.power_ms = now
        if p != self.power_w or (p and self.ctx.ticks_diff(now, self.setpoint_ms) >= SETPOINT_RENEW_MS):
            # power first: POWER_MGR picks the direction from the setpoint when the session is authorised
            self.power_w = p
            self.setpoint_ms = now
            if self.pm >= 0:
                self._sent(msgs.send_power_setpoint(self.ctx, self.pm, p, 0, SRC_ISO15118,
                                                    SETPOINT_VALID_MS if p else 0))
        if self.ev_told_ms is None or self.ctx.ticks_diff(now, self.ev_told_ms) >= EV_STATUS_MS:
            # the EV's SoC and the session's energy at 1 Hz: the station controller's GW_V2G (CAN_HANDLER)
            # and the SoC of OCPP_CLIENT's meter values
            self.ev_told_ms = now
            d = s.d if s is not None else None
            soc = d.soc if d is not None and hasattr(d, "soc") else -1
            for dst in (self.can, self.ocpp):
                if dst >= 0:
                    self._sent(msgs.send_ev_status(self.ctx, dst, soc, int(self.energy_wh), self.serial))
        if (level, state) != self.reported:
            self.reported = (level, state)
            proto = sm.protocol_code(s.result.protocol if s is not None else None, ac)
            for dst in (self.pm, self.ocpp):
                if dst >= 0:
                    self._sent(msgs.send_session_state(self.ctx, dst, level, proto, state, self.serial))

    def _to_ocpp(self, t, b):
        self._sent(self.ctx.send(self.ocpp, t, b))

    def on_answer(self, sess, req, res_name, code):
        if self.ocpp >= 0 and code.startswith("OK"):
            if req == "SessionSetupReq":
                ev_id = self.limits.evccid.encode()[:40]
                self._to_ocpp(msgs.EV_ID, bytes((self.cfg["evse"],)) + ev_id)
            elif req == "ChargeParameterDiscoveryReq" and not self.needs_sent and hasattr(sess.d, "ev_max_v"):
                from ocpp import clock
                self._to_ocpp(msgs.EV_CHARGING_NEEDS, sm.needs_payload(sess.d, self.cfg["evse"], clock.now()))
                self.needs_sent = True
            elif req == "PowerDeliveryReq" and getattr(sess.d, "ev_profile", None) and not self.schedule_sent:
                from ocpp import clock
                for b in sm.schedule_chunks(sess.d.ev_profile, self.cfg["evse"], clock.now()):
                    self._to_ocpp(msgs.EV_CHARGING_SCHEDULE, b)
                self.schedule_sent = True
        r = sess.result
        for lst in (r.requests, r.responses, r.loop_us):
            if len(lst) > 2 * KEEP_MSGS:  # a charge loop runs for hours: keep the head and the tail
                del lst[KEEP_MSGS // 2:len(lst) - KEEP_MSGS]
        sess.messages = getattr(sess, "messages", 0) + 1
        self.drain()
        self.report()

    # -- sessions ---------------------------------------------------------------------------------
    async def serve(self):
        ctx = self.ctx
        if self.sess is not None and not self.sess.done:
            # restarted mid-session: tell the EV to stop and finish cleanly
            self.resumed += 1
            self.limits.stop_charging = True
            self.evse20.stop_requested = True
            if self.sess.d is not None:
                self.sess.d.charging = False  # power 0 now; the EV's PowerDelivery(Stop) follows
            self.report()
            await self._finish(await self.sess.resume(ctx))
        while True:
            ctx.feed()
            self.drain()
            if not self.link_up:
                await self._hold(ctx)
                continue
            try:
                stream = await self.ep.accept(ctx, ACCEPT_SLICE_MS)
            except StreamTimeout:
                continue
            stream.on_wait = self.drain     # unplug and link loss reach a session that waits for the EV
            self.serial += 1
            self.energy_wh = 0.0
            self.needs_sent = False
            self.schedule_sent = False
            self.limits.auth = AUTH_WAIT if self.auth_by_ocpp else AUTH_OK
            self.evse20.authorized = not self.auth_by_ocpp
            self.limits.evccid = ""
            self.sess = SeccSession(self.limits, self.protocols, self.cfg["sequence_timeout_ms"],
                                    evse20=self.evse20, on_answer=self.on_answer)
            self.report()
            await self._finish(await self.sess.run(ctx, stream))

    async def _hold(self, ctx):
        # no EV matched on the HomePlug link: a charger's SECC is not reachable; requests that arrive
        # anyway (another car's, a stale one) are dropped unanswered
        sock = self.ep.sdp.sock
        await ctx.wait_io(sock, 1, ACCEPT_SLICE_MS)   # select.POLLIN
        self.drain()
        if self.link_up:
            return    # matched meanwhile: the request that woke us is the matched EV's, answer it
        buf = self.drop_buf
        while True:
            try:
                n = sock.readinto(buf)
            except OSError:
                return
            if n is None:  # non-blocking, nothing more
                return
            self.sdp_no_link += 1

    async def _finish(self, r):
        self.limits.stop_charging = False
        self.evse20.stop_requested = False
        self.report()
        d = r.as_dict()
        d["serial"] = self.serial
        if self.ocpp >= 0:
            self._sent(msgs.send_session_end(self.ctx, self.ocpp, _end_reason(r.end, self.limits.auth), self.serial))
        # requests answered, supportedAppProtocolReq included (the lists themselves are trimmed)
        sap = 1 if r.requests and r.requests[0] == "supportedAppProtocolReq" else 0
        d["messages"] = getattr(self.sess, "messages", 0) + sap
        d["energy_wh"] = round(self.energy_wh, 1)
        st = self.sess.stream if self.sess is not None else None
        c = st.cipher() if st is not None else None
        d["cipher"] = list(c) if c is not None else None
        ac = self.sess is not None and sm.is_ac(self.sess.d)
        d["protocol_name"] = sm.PROTO_NAMES[sm.protocol_code(r.protocol, ac)]
        self.history.append(d)
        if len(self.history) > HISTORY:
            self.history.pop(0)

    def status(self):
        s = self.sess
        live = None
        if s is not None and not s.done:
            live = {"serial": self.serial, "state": sm.STATE_NAMES[sm.state_code(s.state) if s.d else sm.STATE_SAP],
                    "messages": getattr(s, "messages", 0), "power_w": self.power_w}
        return {"iface": self.cfg["iface"], "offers": self.ep.offers, "sessions": self.serial, "live": live,
                "history": self.history, "resumed": self.resumed, "max_p": self.limits.max_p,
                "send_errors": self.send_errors, "ipc_ignored": self.ipc_bad, "sdp": self.ep.sdp.stats(),
                "link": self.ep.gate.stats(), "rx_buffers": self.ep.pool.stats(), "slac_gated": self.gated, "slac_link_up": self.link_up,
                "cp": msgs.CP_NAMES[self.cp] if 0 < self.cp < len(msgs.CP_NAMES) else None,
                "sdp_no_link": self.sdp_no_link, "ended_by_cp": self.ended_by_cp,
                "ended_by_link": self.ended_by_link}


def _end_reason(end, auth):
    # how the session ended, for OCPP_CLIENT's transaction (msgs END_*)
    if auth == AUTH_NO:
        return msgs.END_REJECTED
    if end == common.END_STOP:
        return msgs.END_STOP
    if end in (common.END_TIMEOUT, common.END_CLOSED, common.END_SETUP_TIMEOUT):
        return msgs.END_LOST
    return msgs.END_FAILED


def _loader(ctx):
    # -> a function that builds the service from <fs>/iso15118.json, for ctx.configure: a port that
    # is taken or an interface that went away is a configuration problem here, reported the same way
    from iso15118.transport.netif import NetifError

    def load():
        try:
            return IsoService(ctx, conf.load(ctx.fs_root))
        except NetifError as e:
            raise conf.ConfigError(str(e))
        except conf.ConfigError:
            raise
        except Exception as e:  # a socket or TLS context that garbage in a certificate file breaks
            raise conf.ConfigError("%s: %s: %s" % (conf.FILE, type(e).__name__, e))
    return load


async def main(ctx):
    svc = ctx.store.get("svc")
    if svc is None:
        svc = await ctx.configure(_loader(ctx), conf.ConfigError, CONFIG_RETRY_MS)
        ctx.store.set("svc", svc)
    svc.ctx = ctx
    ctx.publish(svc)
    await svc.serve()
