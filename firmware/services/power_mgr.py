# POWER_MGR (HIGH, 50 ms watchdog): owns the gateway state (spec §8.3) and
# the safe state. It turns power requests from ISO 15118, the station
# controller and OCPP into the one setpoint DROOP_CTRL follows, and holds it
# at zero whenever the state does not allow power flow: grid not locked, no
# authorised session, or a power-path service quarantined by the kernel.
#
# Its state lives in ctx.store, so a POWER_MGR restart changes nothing the
# rest of the gateway can see; grid lock is re-read from the PLL's shared state.
#
# Messages (msgs/catalogue.py): in GRID_LOCKED/UNLOCKED, GRID_EMERGENCY, POWER_SETPOINT, POWER_LIMITS,
# SESSION_STATE, SERVICE_QUARANTINED/RESTARTED; out GRID_SETPOINT (DROOP_CTRL), SAFE_STATE,
# EV_POWER_CAP and EVSE_POWER_TARGET (ISO15118).
import array
import msgs
from msgs import (SRC_OCPP, SRC_ISO15118, SRC_STATION, N_SOURCES, SESSION_NONE, SESSION_CONNECTED,
                  SESSION_AUTHORIZED)
from msgs import LIM_IMPORT, LIM_EXPORT
from jezgro import shared
from grid import curctl, energy
from power import gateway_fsm as fsm
from power import status as gw
from power.arbiter import Arbiter
from power.measure import Measure

POLL_MS = 10
REFRESH_MS = 1000  # resend the setpoint this often: a restarted DROOP_CTRL gets it back soon
POWER_PATH = ("PLL_SYNC", "CURRENT_CTRL", "DROOP_CTRL")
SOURCE_OF = {"OCPP_CLIENT": SRC_OCPP, "ISO15118": SRC_ISO15118, "CAN_HANDLER": SRC_STATION}
NOTIFY = ("DROOP_CTRL", "CURRENT_CTRL", "CAN_HANDLER")
_UNSENT = object()  # ISO15118 not told the station target yet (None is a value: "no target")


class PowerManager:
    def __init__(self, ctx):
        self.ctx = ctx
        self.droop = ctx.sid_of("DROOP_CTRL")
        st = ctx.store
        self.state = st.get("state", fsm.INIT)
        self.held = st.get("held") or []
        self.arb = Arbiter()
        snap = st.get("arbiter")
        if snap is not None:
            self.arb.restore(snap)
        self.session = st.get("session", SESSION_NONE)
        self.cp = 0               # last CP_STATE level (0: no pilot heard: plain-Ethernet setups)
        self.sent = (None, None)
        self.last_sent_ms = 0
        self.emergencies = 0
        self.transitions = 0
        self.pll = array.array("i", bytes(4 * shared.FIELDS))
        self.iso = ctx.sid_of("ISO15118")
        self.cap_sent = None  # tell ISO15118 once at start (after our own restart too)
        self.target_sent = _UNSENT
        self.notify = [sid for sid in (ctx.sid_of(n) for n in NOTIFY) if sid >= 0]
        self.ignored = 0  # messages not for POWER_MGR (counted, not fatal)
        self.meas = Measure()
        self.protocol = st.get("protocol", 0)
        self.serial = st.get("serial", 0)

    def _save(self):
        st = self.ctx.store
        st.set("state", self.state)
        st.set("held", self.held)
        st.set("arbiter", self.arb.snapshot())
        st.set("session", self.session)
        st.set("protocol", self.protocol)
        st.set("serial", self.serial)

    def event(self, ev):
        prev = self.state
        nxt = fsm.next_state(prev, ev)
        if nxt != prev:
            self.state = nxt
            self.transitions += 1
            if nxt == fsm.SAFE:
                self._notify_safe(1)
            elif prev == fsm.SAFE:
                self._notify_safe(0)
            self._save()
        return nxt

    def _notify_safe(self, entering):
        for sid in self.notify:
            msgs.send_safe_state(self.ctx, sid, entering, self.state)

    def _authorized(self):
        # Direction follows the sign of the setpoint that applies.
        p, _, _ = self.arb.effective()
        return fsm.AUTHORIZED_EXPORT if p < 0 else fsm.AUTHORIZED_IMPORT

    def handle(self, msg, now):
        t = msg.type
        if t == msgs.GRID_UNLOCKED:
            self.event(fsm.GRID_LOST)
        elif t == msgs.GRID_LOCKED:
            self.event(fsm.PLL_LOCKED)
        elif t == msgs.GRID_EMERGENCY:
            self.emergencies += 1  # DROOP_CTRL acts on it; we keep count for the status
        elif t == msgs.POWER_SETPOINT:
            src = msg.i32(msgs.SET_SRC)
            if 0 <= src < N_SOURCES:
                valid = msg.i32(msgs.SET_VALID_MS)
                self.arb.setpoint(src, msg.i32(msgs.P_W), msg.i32(msgs.Q_VAR),
                                  self.ctx.ticks_add(now, valid) if valid > 0 else 0)
                self._follow_direction()
                self._save()
        elif t == msgs.POWER_LIMITS:
            sf = msg.i32(msgs.LIM_SRC_FLAGS)
            src = msgs.lim_src(sf)
            if 0 <= src < N_SOURCES:
                valid = msg.i32(msgs.LIM_VALID_MS)
                self.arb.limits(src, msg.i32(msgs.LIM_MAX_IMPORT_W), msg.i32(msgs.LIM_MAX_EXPORT_W),
                                msgs.lim_flags(sf), self.ctx.ticks_add(now, valid) if valid > 0 else 0)
                self._follow_direction()
                self._save()
        elif t == msgs.SESSION_STATE:
            self.session = msg.i32(msgs.SESS_LEVEL)
            self.protocol = msg.i32(msgs.SESS_PROTOCOL)
            self.serial = msg.i32(msgs.SESS_SERIAL)
            if self.session == SESSION_NONE:
                self.arb.drop(SRC_ISO15118, True)
                self.event(fsm.SESSION_STOP)
            elif self.session == SESSION_CONNECTED:
                self.event(fsm.VEHICLE_CONNECTED)
            elif self.session == SESSION_AUTHORIZED:
                self.event(fsm.VEHICLE_CONNECTED)
                self.event(self._authorized())
            self._save()
        elif t == msgs.CP_STATE:
            # the control pilot is the truth about the car: unplugged (A) or a pilot fault (E, F) ends
            # whatever session there was and takes the EV's power to zero now, not when ISO15118 notices;
            # B/C/D is "vehicle connected" (spec §8.3) before any SDP
            lv = msg.i32(msgs.CP_LEVEL)
            self.cp = lv
            if lv == msgs.CP_A or lv >= msgs.CP_E:
                self.arb.drop(SRC_ISO15118, True)
                self.session = SESSION_NONE
                self.event(fsm.SESSION_STOP)
            else:
                self.event(fsm.VEHICLE_CONNECTED)
            self._save()
        elif t == msgs.SERVICE_QUARANTINED:
            self._held(msg.i32(msgs.SVC_SID))
        elif t == msgs.SERVICE_RESTARTED:
            sid = msg.i32(msgs.SVC_SID)
            self._released(sid)
            if sid == self.iso:
                self.cap_sent = None  # released from quarantine: tell it again
                self.target_sent = _UNSENT
        else:
            self.ignored += 1

    def _follow_direction(self):
        if self.state == fsm.CHARGING or self.state == fsm.DISCHARGING:
            self.event(self._authorized())

    def _held(self, sid):
        name = self.ctx.name_of(sid)
        if name and name not in self.held:
            self.held.append(name)
        if name in POWER_PATH:
            self.event(fsm.POWER_PATH_FAULT)
        elif name in SOURCE_OF:
            # Communication loss: that source's setpoint goes, local control continues.
            self.arb.drop(SOURCE_OF[name], True)
            if name == "ISO15118":
                self.event(fsm.SESSION_STOP)
        self._save()

    def _released(self, sid):
        name = self.ctx.name_of(sid)
        if name in self.held:
            self.held.remove(name)
        if self.state == fsm.SAFE and not [n for n in self.held if n in POWER_PATH]:
            self.event(fsm.FAULT_CLEARED)
        self._save()

    def poll(self, now):
        ctx = self.ctx
        if self.state == fsm.INIT:
            self.event(fsm.HW_OK)
        if shared.PLL.read(self.pll):
            cc = curctl.CC
            self.meas.update(self.pll[shared.VD], self.pll[shared.VQ], cc[curctl.ID], cc[curctl.IQ])
            self._meter(cc)
            locked = self.pll[shared.LOCKED]
            if locked and self.state == fsm.GRID_SEARCH:
                self.event(fsm.PLL_LOCKED)
            elif not locked:
                self.event(fsm.GRID_LOST)  # a no-op where the table has no such transition
        if self.arb.expire(now, ctx.ticks_diff):
            self._follow_direction()
        self._send_cap()
        self._send_target()
        p, q, src = self.arb.effective()
        if not fsm.power_allowed(self.state):
            p = q = 0
        self._publish(p, src)
        if (p, q) != self.sent or ctx.ticks_diff(now, self.last_sent_ms) >= REFRESH_MS:
            if self.droop >= 0:
                if msgs.send_grid_setpoint(ctx, self.droop, p, q) == 0:
                    self.sent = (p, q)
                    self.last_sent_ms = now

    def _meter(self, cc):
        # the energy counters and the snapshot behind them (power/status.py), for OCPP_CLIENT's meter
        g = gw.GW
        pll = self.pll
        en = energy.EN  # integrated at the control tick (grid/energy.py); copied whole words
        g[gw.E_IMP_J] = en[energy.IMP_J]
        g[gw.E_EXP_J] = en[energy.EXP_J]
        g[gw.VD_Q8] = pll[shared.VD]
        g[gw.VQ_Q8] = pll[shared.VQ]
        g[gw.ID_Q8] = cc[curctl.ID]
        g[gw.IQ_Q8] = cc[curctl.IQ]

    def _publish(self, p, src):
        # power/status.GW: what CAN_HANDLER reports (GW_STATUS, GW_POWER, GW_V2G)
        g = gw.GW
        arb = self.arb
        g[gw.STATE] = self.state
        g[gw.P_MEAS] = self.meas.p_w
        g[gw.Q_MEAS] = self.meas.q_var
        g[gw.P_SET] = p
        g[gw.SET_SRC] = src if src >= 0 else gw.NONE
        s = arb.limit_src(LIM_IMPORT)
        g[gw.IMP_SRC] = s if s >= 0 else gw.NONE
        g[gw.IMP_LIM] = arb.max_import[s] if s >= 0 else 0
        s = arb.limit_src(LIM_EXPORT)
        g[gw.EXP_SRC] = s if s >= 0 else gw.NONE
        g[gw.EXP_LIM] = arb.max_export[s] if s >= 0 else 0
        g[gw.SESSION] = self.session
        g[gw.PROTOCOL] = self.protocol
        g[gw.SERIAL] = self.serial
        g[gw.HELD] = len(self.held)
        g[gw.EMERG] = self.emergencies
        g[gw.UPDATES] = (g[gw.UPDATES] + 1) & 0x3FFFFFFF

    def _send_cap(self):
        # The EV's import cap to ISO15118 (EV_POWER_CAP, absent when nothing caps it), on change
        # only: ISO15118 keeps it across its restarts (its store), and a session waiting up to 60 s
        # for the EV's next request must not find its mailbox full.
        if self.iso < 0:
            return
        cap = self.arb.import_cap()
        if cap != self.cap_sent:
            if msgs.send_ev_power_cap(self.ctx, self.iso, cap) == 0:
                self.cap_sent = cap

    def _send_target(self):
        # The station controller's power command as the target of the EV (ISO 15118-20 Dynamic
        # control: the EVSE sets the power, discharge included): EVSE_POWER_TARGET, absent when there
        # is none (the EV follows its own schedule). On change.
        if self.iso < 0:
            return
        t = self.arb.station_target()
        if t is not self.target_sent and t != self.target_sent:
            if msgs.send_evse_power_target(self.ctx, self.iso, t) == 0:
                self.target_sent = t

    def status(self):
        p, q, src = self.arb.effective()
        return {"state": fsm.STATE_NAMES[self.state], "p_w": p, "q_var": q,
                "source": msgs.SOURCE_NAMES[src] if src >= 0 else None, "import_cap_w": self.arb.import_cap(),
                "ev_silent": self.arb.ev_silent,
                "held": list(self.held), "emergencies": self.emergencies, "transitions": self.transitions,
                "ignored": self.ignored, "p_meas_w": self.meas.p_w, "q_meas_var": self.meas.q_var,
                "cp": msgs.CP_NAMES[self.cp] if 0 < self.cp < len(msgs.CP_NAMES) else None,
                "energy_j": [gw.GW[gw.E_IMP_J], gw.GW[gw.E_EXP_J]]}


async def main(ctx):
    pm = PowerManager(ctx)
    ctx.publish(pm)
    while True:
        ctx.feed()
        msg = await ctx.receive(POLL_MS)
        now = ctx.ticks_ms()
        while msg is not None:
            pm.handle(msg, now)
            msg = ctx.try_receive()
        pm.poll(now)
