# PROTOCOL_A, a Modbus TCP wallbox as one more charger of the bridge: polls the registers of its map
# (bridge/regmap.py) and turns what changes into the very CALLs a 1.6J charger would send
# (StatusNotification, StartTransaction when a vehicle is connected, MeterValues of the energy
# register, StopTransaction when it leaves), so TRANSLATOR makes the same 2.0.1 events through the
# same tables. The other way, a charging profile becomes a write of the current-limit register.
# Non-blocking: one Modbus request at a time, answered within TIMEOUT_MS or counted as a timeout;
# every bad response is a ModbusError counted by kind, never more than that one poll lost.
import struct
from micropython import const
from bridge import modbus, regmap
from bridge.modbus import ModbusError
from bridge.handoff import BUS
from net.stream import Stream, StreamError
from ocpp import clock

TIMEOUT_MS = const(1000)
CONNECT_MS = const(500)
RETRY_MS = const(2000)
FAULT_AFTER = const(3)  # consecutive failed polls before the wallbox is reported Faulted
# wallbox state (regmap.STATES) -> 1.6 status, without and with a transaction
STATUS = {"A": ("Available", "Available"), "B": ("Preparing", "SuspendedEV"), "X": ("Preparing", "SuspendedEVSE"),
          "C": ("Charging", "Charging"), "F": ("Faulted", "Faulted")}


def _nothing():
    # None typed as "anything" for mypy (a list while a request is in flight)
    return None


class Wallbox:
    def __init__(self, ctx, idx, ch, rmap, translator):
        self.ctx = ctx
        self.idx = idx
        self.ch = ch
        self.m = rmap
        self.pts = rmap["points"]
        self.cfg = ch["modbus"]
        self.translator = translator
        self.st = Stream(ctx)
        self.up = False
        self.retry_at = ctx.ticks_ms()
        self.buf = bytearray(modbus.MAX_ADU)
        self.n = 0
        self.tid = 0
        self.req = _nothing()  # [tid, fn, count, on_done(regs or None, error kind or None)] in flight
        self.req_ms = 0
        self.writes = []  # [regs, on_done] waiting
        self.poll_at = ctx.ticks_ms()
        self.todo = []  # point names still to read in this poll round
        self.fails = 0
        self.raw = None  # the last raw state value read
        self.state = None  # regmap.STATES letter
        self.seen = None  # a new state read once, waiting for the next poll to confirm it
        self.energy = None  # Wh
        self.limit_a = None  # last current limit written, A
        self.error_word = None
        self.tx = None  # 1.6 transactionId of the running transaction (from TRANSLATOR's answer)
        self.in_tx = False
        self.meter_at = 0
        self.booted = False
        self.calls = []  # [action, payload] the virtual charger still has to send, in order
        self.out = None  # [key, action, sent ms]: the CALL TRANSLATOR has not answered yet
        self.next_id = 0
        self.stats = {"polls": 0, "writes": 0, "connects": 0, "calls": 0}
        self.errors = dict((k, 0) for k in modbus.KINDS)
        self.last_error = ""

    def status(self):
        return {"connected": self.up, "state": self.raw, "energy_wh": self.energy, "limit_a": self.limit_a,
                "error_word": self.error_word, "stats": self.stats, "errors": self.errors,
                "last_error": self.last_error, "map": self.m["name"]}

    def sock(self):
        return self.st.sock if self.up and self.req is not None else None

    # --- Modbus link ---------------------------------------------------------------------------
    def _fail(self, e, drop):
        self.errors[e.kind] += 1
        self.last_error = "%s: %s" % (e.kind, e)
        if drop:
            self._drop()

    def _drop(self):
        self.st.close()
        self.up = False
        self.req = None
        self.n = 0
        self.retry_at = self.ctx.ticks_add(self.ctx.ticks_ms(), RETRY_MS)

    async def _send(self, frame, fn, count, on_done):
        self.tid = (self.tid + 1) & 0xFFFF
        self.req = [self.tid, fn, count, on_done]
        self.req_ms = self.ctx.ticks_ms()
        self.n = 0
        try:
            await self.st.write(struct.pack(">H", self.tid) + frame[2:], TIMEOUT_MS)
        except (StreamError, OSError) as e:
            self._fail(ModbusError("link", "write: %s" % (e,)), True)
            on_done(None, "link")

    async def _link(self):
        k = self.ctx
        if not self.up:
            if k.ticks_diff(k.ticks_ms(), self.retry_at) < 0:
                return
            try:
                await self.st.open(self.cfg["host"], self.cfg["port"], CONNECT_MS)
            except (StreamError, OSError) as e:
                self._fail(ModbusError("link", "connect: %s" % (e,)), True)
                self._polled(False)
                return
            self.up = True
            self.stats["connects"] += 1
        if self.req is not None:
            self._receive()
            return
        u = self.m["unit_id"]
        if self.writes:
            regs, cb = self.writes.pop(0)
            p = self.pts["current_limit_a"]
            await self._send(modbus.write_request(0, u, p["addr"], regs), modbus.FN_WRITE_MULTIPLE, 0, cb)
            return
        if not self.todo and k.ticks_diff(k.ticks_ms(), self.poll_at) >= 0:
            self.poll_at = k.ticks_add(k.ticks_ms(), self.cfg["poll_ms"])
            # energy before state: a confirmed transition (start, stop) carries a reading taken after it
            self.todo = [n for n in ("energy_wh", "error", "state") if n in self.pts]
        if self.todo:
            name = self.todo[0]
            p = self.pts[name]
            await self._send(modbus.read_request(0, u, p["fn"], p["addr"], p["count"]), p["fn"], p["count"],
                             lambda regs, err, name=name: self._read_done(name, regs, err))

    def _receive(self):
        tid, fn, count, cb = self.req
        k = self.ctx
        try:
            got = self.st.read_now(memoryview(self.buf)[self.n:])
        except StreamError as e:
            got = -1
            self.last_error = "link: %s" % (e,)
        if got < 0:
            self._fail(ModbusError("link", "connection closed"), True)
            cb(None, "link")
            return
        self.n += got
        try:
            ln = modbus.frame_length(self.buf, self.n)
            if ln and self.n >= ln:
                regs = modbus.parse_response(bytes(self.buf[:ln]), tid, self.m["unit_id"], fn, count)
                self.req = None
                cb(regs, None)
                return
        except ModbusError as e:
            # an exception response leaves the stream in step; anything else may not: reconnect
            self._fail(e, e.kind != "exception")
            self.req = None
            cb(None, e.kind)
            return
        if k.ticks_diff(k.ticks_ms(), self.req_ms) > TIMEOUT_MS:
            self._fail(ModbusError("timeout", "no response in %d ms" % TIMEOUT_MS), True)
            cb(None, "timeout")

    def _read_done(self, name, regs, err):
        if self.todo and self.todo[0] == name:
            self.todo.pop(0)
        if regs is None:
            self._round_failed()
            return
        p = self.pts[name]
        try:
            v = regmap.decode(regs, p, self.m["word_order"])
        except (ValueError, UnicodeError) as e:
            self._fail(ModbusError("frame", "%s: undecodable %s" % (name, e)), False)
            self._round_failed()
            return
        if name == "state":
            st = p["states"].get(v)
            if st is None:
                self._fail(ModbusError("frame", "state %r not in the map" % (v,)), False)
                self._round_failed()
                return
            self.raw = v
            self._new_state(st)
        elif name == "energy_wh":
            self.energy = int(v)
        else:
            self.error_word = int(v)
        if not self.todo:
            self._polled(True)

    def _round_failed(self):
        # a failed read ends this poll round: the points not read yet wait for the next one
        self.todo = []
        self._polled(False)

    def _polled(self, ok):
        if ok:
            self.stats["polls"] += 1
            self.fails = 0
            return
        self.fails += 1
        if self.fails == FAULT_AFTER and self.booted:
            self._status("Faulted", "OtherError", "Modbus: " + self.last_error[:40])
            BUS.note("PROTOCOL_A", self.ch["id"], "Faulted after %d failed polls: %s" % (FAULT_AFTER, self.last_error))

    # --- the virtual 1.6 charger ----------------------------------------------------------------
    def _status(self, status, code="NoError", info=None):
        p = {"connectorId": 1, "errorCode": code, "status": status, "timestamp": clock.iso()}
        if info:
            p["info"] = info[:50]
        self.calls.append(["StatusNotification", p])

    def _new_state(self, st):
        if not self.booted:
            self.booted = True
            self.calls.append(["BootNotification", {"chargePointVendor": self.m["name"][:20],
                                                    "chargePointModel": "Modbus TCP wallbox"}])
        if st == self.state and self.fails < FAULT_AFTER:
            self.seen = None
            return
        elif st != self.state and self.seen != st:
            # A new state counts once a second poll confirms it: the registers are not read at one
            # instant, and that next poll's energy reading is taken after the change (docs/bridge.md).
            self.seen = st
            self.poll_at = self.ctx.ticks_ms()
            return
        self.seen = None
        was = self.state
        self.state = st
        if st in ("B", "X", "C") and not self.in_tx:
            self.in_tx = True
            self.calls.append(["StartTransaction", {"connectorId": 1, "idTag": self.ch.get("id_tag", ""),
                                                    "meterStart": self.energy or 0, "timestamp": clock.iso()}])
            self.meter_at = self.ctx.ticks_add(self.ctx.ticks_ms(), self.cfg["meter_s"] * 1000)
        self._status(STATUS[st][1 if self.in_tx else 0])
        if st == "A" and self.in_tx and was is not None:
            self.in_tx = False
            self.calls.append(["StopTransaction", {"transactionId": None, "meterStop": self.energy or 0,
                                                   "timestamp": clock.iso(), "reason": "EVDisconnected"}])

    def _meter(self):
        k = self.ctx
        if self.in_tx and self.energy is not None and k.ticks_diff(k.ticks_ms(), self.meter_at) >= 0:
            self.meter_at = k.ticks_add(k.ticks_ms(), self.cfg["meter_s"] * 1000)
            self.calls.append(["MeterValues", {"connectorId": 1, "transactionId": None, "meterValue": [
                {"timestamp": clock.iso(), "sampledValue": [
                    {"value": str(self.energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                     "context": "Sample.Periodic"}]}]}])

    def _calls(self):
        if self.out is not None:
            a = BUS.answers.pop(self.out[0], None)
            if a is None:
                return
            if self.out[1] == "StartTransaction" and a[1]:
                self.tx = a[1].get("transactionId")
            self.out = None
        if not self.calls:
            return
        action, p = self.calls[0]
        if "transactionId" in p and p["transactionId"] is None:
            if self.tx is None:
                self.calls.pop(0)  # no transaction id: its start was never answered
                return
            p["transactionId"] = self.tx
        self.next_id += 1
        key = "%d/mb-%d" % (self.idx, self.next_id)
        if not BUS.put_in(key, self.idx, action, p, self.ctx.ticks_ms()):
            return  # the inbox is full: tried again next time
        self.calls.pop(0)
        self.out = [key, action, self.ctx.ticks_ms()]
        self.stats["calls"] += 1
        from msgs import send_bridge, BRIDGE_IN
        if self.translator >= 0:
            send_bridge(self.ctx, self.translator, BRIDGE_IN, self.idx, len(BUS.inbox))

    # --- CSMS -> wallbox ----------------------------------------------------------------------------
    def _down(self):
        for e in BUS.down:
            if e[1] == self.idx:
                BUS.down.remove(e)
                self._handle_down(e[0], e[2], e[3])
                return

    def _write_limit(self, key, amps):
        p = self.pts["current_limit_a"]
        if amps < p["min"] and p["min"] > 0:
            BUS.down_res[key] = [{"status": "Rejected"}, None]  # the wallbox cannot go that low (docs/bridge.md)
            self.last_error = "limit %.1f A below the wallbox's minimum %.1f A" % (amps, p["min"])
            return
        amps = min(amps, p["max"])

        def done(regs, err):
            if err is None:
                self.limit_a = amps
                self.stats["writes"] += 1
            BUS.down_res[key] = [{"status": "Accepted" if err is None else "Rejected"}, None]
        self.writes.append([regmap.encode(amps, p, self.m["word_order"]), done])

    def _handle_down(self, key, action, p):
        if action == "SetChargingProfile":
            s = p["csChargingProfiles"]["chargingSchedule"]
            self._write_limit(key, s["chargingSchedulePeriod"][0]["limit"])  # in A: the wallbox's rate_unit
        elif action == "ClearChargingProfile":
            self._write_limit(key, self.pts["current_limit_a"]["default"])
        elif action == "GetCompositeSchedule":
            lim = self.limit_a if self.limit_a is not None else self.pts["current_limit_a"]["default"]
            BUS.down_res[key] = [{"status": "Accepted", "connectorId": 1, "scheduleStart": clock.iso(),
                                  "chargingSchedule": {"duration": p["duration"], "chargingRateUnit": "A",
                                                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": lim}]}},
                                 None]
        else:
            BUS.down_res[key] = [None, "NotSupported"]  # a wallbox on Modbus has no such function

    async def step(self):
        await self._link()
        self._meter()
        self._calls()
        self._down()
