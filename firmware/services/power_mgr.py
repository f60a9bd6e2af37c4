# POWER_MGR (HIGH, 50 ms watchdog): owns the gateway state (spec §8.3) and
# the safe state. It turns power requests from ISO 15118, the station
# controller and OCPP into the one setpoint DROOP_CTRL follows, and holds it
# at zero whenever the state does not allow power flow: grid not locked, no
# authorised session, or a power-path service quarantined by the kernel.
#
# Its state lives in ctx.store, so a POWER_MGR restart changes nothing the
# rest of the gateway can see; grid lock is re-read from the PLL's shared state.
import array
from jezgro.const import (MSG_GRID_LOCKED, MSG_GRID_UNLOCKED, MSG_GRID_EMERGENCY,
                          MSG_POWER_SCHEDULE, MSG_POWER_LIMITS, MSG_SESSION_STATE,
                          MSG_SERVICE_QUARANTINED, MSG_SERVICE_RESTARTED, MSG_SAFE_STATE)
from jezgro import shared
from power import gateway_fsm as fsm
from power.arbiter import Arbiter
from power.messages import (SRC_LOCAL, SRC_OCPP, SRC_ISO15118, SRC_STATION, N_SOURCES, LIM_IMPORT,
                            SESSION_NONE, SESSION_CONNECTED, SESSION_AUTHORIZED)

POLL_MS = 10
REFRESH_MS = 1000  # resend the setpoint this often: a restarted DROOP_CTRL gets it back soon
POWER_PATH = ("PLL_SYNC", "CURRENT_CTRL", "DROOP_CTRL")
SOURCE_OF = {"OCPP_CLIENT": SRC_OCPP, "ISO15118": SRC_ISO15118, "CAN_HANDLER": SRC_STATION}
NOTIFY = ("DROOP_CTRL", "CURRENT_CTRL", "CAN_HANDLER")


class PowerManager:
    def __init__(self, ctx):
        self.ctx = ctx
        k = ctx.kernel
        self.names = [s.name for s in k.services]
        self.droop = self._sid("DROOP_CTRL")
        st = ctx.store
        self.state = st.get("state", fsm.INIT)
        self.held = st.get("held") or []
        self.arb = Arbiter()
        snap = st.get("arbiter")
        if snap is not None:
            self.arb.restore(snap)
        self.session = st.get("session", SESSION_NONE)
        self.sent = (None, None)
        self.last_sent_ms = 0
        self.emergencies = 0
        self.transitions = 0
        self.pll = array.array("i", bytes(4 * shared.FIELDS))
        self.iso = self._sid("ISO15118")
        self.cap_sent = None  # tell ISO15118 once at start (after our own restart too)
        self.target_sent = None

    def _sid(self, name):
        return self.names.index(name) if name in self.names else -1

    def _save(self):
        st = self.ctx.store
        st.set("state", self.state)
        st.set("held", self.held)
        st.set("arbiter", self.arb.snapshot())
        st.set("session", self.session)

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
        # MSG_SAFE_STATE: i32[0] 1 entering safe state (power to zero now), 0 leaving it.
        for name in NOTIFY:
            sid = self._sid(name)
            if sid >= 0:
                self.ctx.send_i32(sid, MSG_SAFE_STATE, entering, self.state, priority=True)

    def _authorized(self):
        # Direction follows the sign of the setpoint that applies.
        p, _, _ = self.arb.effective()
        return fsm.AUTHORIZED_EXPORT if p < 0 else fsm.AUTHORIZED_IMPORT

    def handle(self, msg, now):
        t = msg.type
        if t == MSG_GRID_UNLOCKED:
            self.event(fsm.GRID_LOST)
        elif t == MSG_GRID_LOCKED:
            self.event(fsm.PLL_LOCKED)
        elif t == MSG_GRID_EMERGENCY:
            self.emergencies += 1  # DROOP_CTRL acts on it; we keep count for the status
        elif t == MSG_POWER_SCHEDULE:
            src = msg.i32(2)
            if 0 <= src < N_SOURCES:
                valid = msg.i32(3)
                self.arb.setpoint(src, msg.i32(0), msg.i32(1),
                                  self.ctx.kernel.ticks_add(now, valid) if valid > 0 else 0)
                self._follow_direction()
                self._save()
        elif t == MSG_POWER_LIMITS:
            src = msg.i32(2)
            if 0 <= src < N_SOURCES:
                self.arb.limits(src, msg.i32(0), msg.i32(1), msg.i32(3))
                self._follow_direction()
                self._save()
        elif t == MSG_SESSION_STATE:
            self.session = msg.i32(0)
            if self.session == SESSION_NONE:
                self.arb.drop(SRC_ISO15118, True)
                self.event(fsm.SESSION_STOP)
            elif self.session == SESSION_CONNECTED:
                self.event(fsm.VEHICLE_CONNECTED)
            elif self.session == SESSION_AUTHORIZED:
                self.event(fsm.VEHICLE_CONNECTED)
                self.event(self._authorized())
            self._save()
        elif t == MSG_SERVICE_QUARANTINED:
            self._held(msg.i32(0))
        elif t == MSG_SERVICE_RESTARTED:
            self._released(msg.i32(0))
            if msg.i32(0) == self.iso:
                self.cap_sent = None  # released from quarantine: tell it again
                self.target_sent = None

    def _follow_direction(self):
        if self.state == fsm.CHARGING or self.state == fsm.DISCHARGING:
            self.event(self._authorized())

    def _held(self, sid):
        name = self.names[sid] if 0 <= sid < len(self.names) else ""
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
        name = self.names[sid] if 0 <= sid < len(self.names) else ""
        if name in self.held:
            self.held.remove(name)
        if self.state == fsm.SAFE and not [n for n in self.held if n in POWER_PATH]:
            self.event(fsm.FAULT_CLEARED)
        self._save()

    def poll(self, now):
        k = self.ctx.kernel
        if self.state == fsm.INIT:
            self.event(fsm.HW_OK)
        if shared.PLL.read(self.pll):
            locked = self.pll[shared.LOCKED]
            if locked and self.state == fsm.GRID_SEARCH:
                self.event(fsm.PLL_LOCKED)
            elif not locked:
                self.event(fsm.GRID_LOST)  # a no-op where the table has no such transition
        if self.arb.expire(now, k.ticks_diff):
            self._follow_direction()
        self._send_cap()
        self._send_target()
        p, q, _ = self.arb.effective()
        if not fsm.power_allowed(self.state):
            p = q = 0
        if (p, q) != self.sent or k.ticks_diff(now, self.last_sent_ms) >= REFRESH_MS:
            if self.droop >= 0:
                r = self.ctx.send_i32(self.droop, MSG_POWER_SCHEDULE, p, q, 0, 0)
                if r == 0:
                    self.sent = (p, q)
                    self.last_sent_ms = now


    def _send_cap(self):
        # The EV's import cap to ISO15118 (MSG_POWER_LIMITS, power/messages.py; LIM_IMPORT absent when
        # nothing caps it), on change only: ISO15118 keeps it across its restarts (its store), and
        # a session waiting up to 60 s for the EV's next request must not find its mailbox full.
        if self.iso < 0:
            return
        cap = self.arb.import_cap()
        if cap != self.cap_sent:
            flags = LIM_IMPORT if cap >= 0 else 0
            if self.ctx.send_i32(self.iso, MSG_POWER_LIMITS, cap if cap >= 0 else 0, 0, SRC_LOCAL, flags) == 0:
                self.cap_sent = cap


    def _send_target(self):
        # The station controller's power command as the target of the EV (ISO 15118-20 Dynamic
        # control: the EVSE sets the power, discharge included): MSG_POWER_SCHEDULE to ISO15118 with
        # src SRC_STATION; src SRC_LOCAL when there is none (the EV follows its own schedule). On change.
        if self.iso < 0:
            return
        a = self.arb
        t = (a.p[SRC_STATION], SRC_STATION) if a.has[SRC_STATION] else (0, SRC_LOCAL)
        if t != self.target_sent:
            if self.ctx.send_i32(self.iso, MSG_POWER_SCHEDULE, t[0], 0, t[1], 0) == 0:
                self.target_sent = t


async def main(ctx):
    pm = PowerManager(ctx)
    ctx.power = pm  # status for the simulation and tests
    while True:
        ctx.feed()
        msg = await ctx.receive(POLL_MS)
        now = ctx.ticks_ms()
        while msg is not None:
            pm.handle(msg, now)
            msg = ctx.try_receive()
        pm.poll(now)
