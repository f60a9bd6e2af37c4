# CAN_HANDLER (HIGH, 100 ms watchdog): the station controller's CAN-FD link (spec §8.2,
# canbus/station.dbc, docs/can.md). Every 100 ms GW_STATUS, GW_PLL and GW_POWER from the shared PLL
# state and POWER_MGR's power/status.GW, every second GW_V2G; GW_FAULT for every kernel fault event
# (AUDIT_EVENT copies) and station-command expiry; the EV's SoC and energy from ISO15118 (EV_STATUS). A valid STATION_CMD becomes POWER_MGR's
# SRC_STATION setpoint with the command's timeout as its validity, so POWER_MGR drops it by itself
# if this service dies; when no valid frame arrives within the timeout the command expires here
# too: GW_STATUS CmdExpired, GW_FAULT, an audit record, and local control continues (§9.2).
#
# Nothing here touches the tick or the power path directly: a crash of this service only stops
# frames until its restart (tens of µs). The 10 Hz slots are kept on an absolute schedule and their
# lateness measured (status: slot_late_max_ms, slots_missed).
import array
import time
import board
import msgs
from micropython import const
from canbus import station, tables as T
from jezgro import shared
from jezgro.const import EV_STATION_TIMEOUT, EV_CAN_BUS_OFF
from power import status as gw

PERIOD_MS = const(100)  # GW_STATUS, GW_PLL, GW_POWER: 10 Hz
V2G_EVERY = const(10)  # GW_V2G: 1 Hz
POLL_MS = const(5)  # receive latency for STATION_CMD (pyb.CAN has no select(): polled)
RX_BURST = const(16)  # frames read per poll at most: a flooded bus cannot starve the slots
BUSOFF_PAUSE_MS = const(100)  # bus-off -> restart after this pause
REOPEN_MS = const(1000)
NOMINAL_BPS = 500000
DATA_BPS = 2000000


class Handler:
    def __init__(self, ctx, link):
        self.ctx = ctx
        self.link = link
        self.pm = ctx.sid_of("POWER_MGR")
        self.audit = ctx.sid_of("AUDIT_LOGGER")
        self.v2g_enabled = ctx.sid_of("ISO15118") >= 0
        self.pll = array.array("i", bytes(4 * shared.FIELDS))
        self.meta = array.array("i", bytes(12))
        self.rx = bytearray(64)
        self.open = False
        self.state = board.CAN_STOPPED
        # bus: open failures, bus-off and error-passive transitions, restarts, when bus-off began
        self.open_errors = self.bus_off = self.passive = self.restarts = self.busoff_ms = 0
        self.tx = [0, 0, 0, 0, 0]  # GW_STATUS, GW_PLL, GW_POWER, GW_V2G, GW_FAULT frames sent
        self.tx_fail = 0
        self.rx_frames = 0
        self.rx_malformed = 0  # not a frame at all (unix: not python-can's datagram)
        self.rx_foreign = 0  # extended/remote/error frames, ids that are not STATION_CMD
        self.setpoints = self.setpoint_fail = self.faults = self.safe = 0
        # the 10 Hz slots: how many, how many missed, the latest one's lateness, the cycle's cost
        self.slots = self.slots_missed = self.slot_late_max_ms = self.cycle_us_max = self.cycle_us_sum = 0
        self.last_expiry_ms = self.last_cmd_ms = -1
        self.ev_soc = -1  # from ISO15118's EV_STATUS: % or -1 (not reported), Wh this session
        self.ev_energy_wh = 0

    def _send(self, i, can_id, n, fd):
        if board.can_send(can_id, self.link.buf, n, fd):
            self.tx[i] += 1
        else:
            self.tx_fail += 1

    def slot(self, now):
        t0 = time.ticks_us()
        link = self.link
        shared.PLL.read(self.pll)
        g = gw.GW
        self._send(0, T.GW_STATUS, link.status(g, self.pll, self.state >= board.CAN_ERROR_PASSIVE, now,
                                               self.ctx.ticks_diff), T.GW_STATUS_FD)
        self._send(1, T.GW_PLL, link.pll(self.pll), T.GW_PLL_FD)
        self._send(2, T.GW_POWER, link.power(g), T.GW_POWER_FD)
        if self.slots % V2G_EVERY == 0:
            self._send(3, T.GW_V2G, link.v2g(g, self.v2g_enabled, self.ev_soc, self.ev_energy_wh), T.GW_V2G_FD)
        self.slots += 1
        dt = time.ticks_diff(time.ticks_us(), t0)
        self.cycle_us_sum += dt
        if dt > self.cycle_us_max:
            self.cycle_us_max = dt

    def fault(self, code, sid, cause, t_ms):
        self.faults += 1
        self._send(4, T.GW_FAULT, self.link.fault(code, sid, cause, t_ms), T.GW_FAULT_FD)

    def _audit(self, ev):
        if self.audit >= 0:
            self.ctx.send_i32(self.audit, msgs.AUDIT_EVENT, ev | (self.ctx.sid << 8), 0, self.ctx.ticks_ms(), 0)

    def receive(self, now):
        ctx = self.ctx
        link = self.link
        k = 0
        while k < RX_BURST:
            r = board.can_recv(self.meta, self.rx)
            if r == 0:
                return
            k += 1
            if r == -1:
                self.rx_malformed += 1
                continue
            if r != 1 or self.meta[0] != T.STATION_CMD:
                if r != 1 or not 0x600 <= self.meta[0] <= 0x6FF:  # our own frames echo on unix
                    self.rx_foreign += 1
                continue
            self.rx_frames += 1
            if link.command(self.rx, self.meta[1], now, ctx.ticks_add) == station.ACCEPTED and self.pm >= 0:
                self.last_cmd_ms = now
                if msgs.send_power_setpoint(ctx, self.pm, link.p_w, link.q_var, msgs.SRC_STATION,
                                            link.timeout_ms) == 0:
                    self.setpoints += 1
                else:
                    self.setpoint_fail += 1

    def bus(self, now):
        ctx = self.ctx
        if not self.open:
            if self.busoff_ms and ctx.ticks_diff(now, self.busoff_ms) < REOPEN_MS:
                return
            if board.can_open(NOMINAL_BPS, DATA_BPS) == 0:
                self.open = True
                self.busoff_ms = 0
            else:
                self.open_errors += 1
                self.busoff_ms = now or 1
            return
        st = board.can_state()
        if st != self.state:
            if st == board.CAN_BUS_OFF:
                self.bus_off += 1
                self.busoff_ms = now or 1
                self._audit(EV_CAN_BUS_OFF)
            elif st == board.CAN_ERROR_PASSIVE:
                self.passive += 1
            if self.state == board.CAN_BUS_OFF and st != board.CAN_BUS_OFF:
                self.fault(EV_CAN_BUS_OFF, ctx.sid, 0, ctx.ticks_ms())  # told once the bus is back
            self.state = st
        if st == board.CAN_BUS_OFF and ctx.ticks_diff(now, self.busoff_ms) >= BUSOFF_PAUSE_MS:
            board.can_restart()
            self.restarts += 1
            self.busoff_ms = now or 1

    def expire(self, now):
        if self.link.expire(now, self.ctx.ticks_diff):
            self.last_expiry_ms = now
            self.fault(EV_STATION_TIMEOUT, self.ctx.sid, 0, now)
            self._audit(EV_STATION_TIMEOUT)

    def handle(self, msg):
        if msg.type == msgs.AUDIT_EVENT:
            w = msg.i32(msgs.AUDIT_CODE)
            self.fault(w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF, msg.i32(msgs.AUDIT_T_MS))
        elif msg.type == msgs.EV_STATUS:
            self.ev_soc = msg.i32(msgs.EV_SOC)
            self.ev_energy_wh = msg.i32(msgs.EV_ENERGY_WH)
        elif msg.type == msgs.SAFE_STATE:
            self.safe = msg.i32(msgs.SAFE_ENTERING)  # reported through GW_STATUS's state already

    def status(self):
        link = self.link
        return {"open": self.open, "bus_state": self.state, "open_errors": self.open_errors,
                "bus_off": self.bus_off, "error_passive": self.passive, "restarts": self.restarts,
                "tx": {"GW_STATUS": self.tx[0], "GW_PLL": self.tx[1], "GW_POWER": self.tx[2],
                       "GW_V2G": self.tx[3], "GW_FAULT": self.tx[4]}, "tx_fail": self.tx_fail,
                "rx_frames": self.rx_frames, "rx_malformed": self.rx_malformed, "rx_foreign": self.rx_foreign,
                "cmd": link.counters(), "setpoints": self.setpoints, "setpoint_fail": self.setpoint_fail,
                "command": ({"p_w": link.p_w, "q_var": link.q_var, "mode": link.mode,
                             "timeout_ms": link.timeout_ms} if link.has_cmd else None),
                "cmd_expired": link.expired_flag, "last_cmd_ms": self.last_cmd_ms,
                "last_expiry_ms": self.last_expiry_ms,
                "faults": self.faults, "ev_soc": self.ev_soc, "ev_energy_wh": self.ev_energy_wh, "slots": self.slots, "slots_missed": self.slots_missed,
                "slot_late_max_ms": self.slot_late_max_ms, "cycle_us_max": self.cycle_us_max,
                "cycle_us_mean": self.cycle_us_sum // self.slots if self.slots else 0}


async def main(ctx):
    h = ctx.store.get("handler")
    if h is None:
        h = Handler(ctx, station.Link())
        ctx.store.set("handler", h)
    else:  # a restart: the command in force and every counter carry on; the bus is opened again
        h.ctx = ctx
        h.open = False
        h.busoff_ms = 0  # open again at once, whatever pause the previous incarnation was in
        h.state = board.CAN_STOPPED
    ctx.publish(h)
    now = ctx.ticks_ms()
    next_slot = now
    msg = None
    try:
        while True:
            ctx.feed()
            now = ctx.ticks_ms()
            while msg is not None:
                h.handle(msg)
                msg = ctx.try_receive()
            h.bus(now)
            if h.open:
                h.receive(now)
            h.expire(now)
            late = ctx.ticks_diff(now, next_slot)
            if late >= 0:
                if late > h.slot_late_max_ms:
                    h.slot_late_max_ms = late
                if h.open:
                    h.slot(now)
                next_slot = ctx.ticks_add(next_slot, PERIOD_MS)
                if ctx.ticks_diff(now, next_slot) >= 0:  # a whole period late: those slots are gone
                    h.slots_missed += ctx.ticks_diff(now, next_slot) // PERIOD_MS + 1
                    next_slot = ctx.ticks_add(now, PERIOD_MS)
            wait = ctx.ticks_diff(next_slot, ctx.ticks_ms())
            msg = await ctx.receive(wait if 0 < wait < POLL_MS else (POLL_MS if wait > 0 else 0))
    finally:
        board.can_close()
