# Simulation only: a CSMS inside the simulation's own MicroPython process, so that OCPP_CLIENT has a
# peer in virtual time (`jezgro soak`, `simmain --csms-sim`). An external CSMS needs real sockets in
# wall-clock time; this one is a service of the same kernel (CSMS_SIM, LOW) on net/wsserver.py over the
# loopback, so its sockets are polled by the same kernel and virtual time waits for them like for the
# SECC and the simulated EV.
#
# It answers what the gateway's OCPP 2.0.1 client sends (BootNotification, Heartbeat, StatusNotification,
# TransactionEvent, MeterValues, Authorize, ... as the `ocpp` package's CSMS does, jezgro_host/csms.py),
# checks that each request has the fields its schema requires (a CALLERROR FormatViolation otherwise,
# counted), records every message (<fs>/csms_sim.jsonl, rotated at LOG_MAX: the test checks the whole
# exchange against the ocpp package's JSON schemas) and hands every TransactionEvent to the ledger
# (txledger.py) that compares it with what OCPP_CLIENT queued.
#
# Outages: every CFG["outage_every_ms"] (0: never) the CSMS goes away for CFG["outage_ms"]: its
# listener and every connection are closed (the station sees its connection reset and then connection
# refused) and reopened afterwards. The schedule is on the simulation's clock, so the same run has the
# same outages.
import select
from micropython import const
from jezgro.const import PRIO_LOW
from jezgro.service import ServiceSpec
from net.wsserver import Listener, WsRefused, upgrades
from net.wsframe import FrameError
from ocpp import rpc, clock
from ocpp.rpc import RpcError, CALL
import txledger

NAME = "CSMS_SIM"
SLICE_MS = const(100)
MAX_MESSAGE = const(16384)  # the client's default max_message (ocpp.json): the largest it sends
LOG_MAX = const(4000000)  # bytes of csms_sim.jsonl before it is rotated to csms_sim.1.jsonl
HEARTBEAT_S = 60
CFG = {"host": "127.0.0.1", "port": 0, "outage_every_ms": 0, "outage_ms": 0, "log": ""}

# what each request must carry (the required properties of its OCPP 2.0.1 schema, top level and the
# nested ones the CSMS reads); a request without them is answered FormatViolation and counted
REQUIRED = {
    "BootNotification": ("chargingStation", "reason"),
    "Heartbeat": (),
    "StatusNotification": ("timestamp", "connectorStatus", "evseId", "connectorId"),
    "TransactionEvent": ("eventType", "timestamp", "triggerReason", "seqNo", "transactionInfo"),
    "MeterValues": ("evseId", "meterValue"),
    "Authorize": ("idToken",),
    "SecurityEventNotification": ("type", "timestamp"),
    "NotifyReport": ("requestId", "generatedAt", "seqNo"),
    "NotifyEVChargingNeeds": ("evseId", "chargingNeeds"),
    "NotifyEVChargingSchedule": ("timeBase", "evseId", "chargingSchedule"),
    "Get15118EVCertificate": ("iso15118SchemaVersion", "action", "exiRequest"),
    "GetCertificateStatus": ("ocspRequestData",),
    "ReportChargingProfiles": ("requestId", "chargingLimitSource", "evseId", "chargingProfile"),
    "DataTransfer": ("vendorId",),
    "ReservationStatusUpdate": ("reservationId", "reservationUpdateStatus"),
    "NotifyChargingLimit": ("chargingLimit",),
    "FirmwareStatusNotification": ("status",),
}


def spec(sid):
    # the row after the configuration's table (and the simulated EV); never a chaos target
    return ServiceSpec(sid, NAME, PRIO_LOW, 8, 96, 5000000, "csms_sim", "Simulated CSMS (in-process)",
                       max_restarts=5, period_s=60)


def answer(action, p):
    # the CALLRESULT payload for a request (the answers of jezgro_host/csms.py, camelCase)
    if action == "BootNotification":
        return {"currentTime": clock.iso(), "interval": HEARTBEAT_S, "status": "Accepted"}
    if action == "Heartbeat":
        return {"currentTime": clock.iso()}
    if action == "Authorize":
        return {"idTokenInfo": {"status": "Accepted"}}
    if action == "TransactionEvent":
        return {"idTokenInfo": {"status": "Accepted"}} if "idToken" in p else {}
    if action == "DataTransfer":
        return {"status": "UnknownVendorId"}
    if action == "Get15118EVCertificate":
        return {"status": "Accepted", "exiResponse": p["exiRequest"]}
    if action == "GetCertificateStatus":
        return {"status": "Accepted", "ocspResult": "MIIB"}
    if action in ("NotifyEVChargingNeeds", "NotifyEVChargingSchedule"):
        return {"status": "Accepted"}
    return {}


def missing(action, p):
    # -> the first required field the request lacks, or None
    for k in REQUIRED[action]:
        if k not in p:
            return k
    if action == "TransactionEvent" and "transactionId" not in p["transactionInfo"]:
        return "transactionInfo.transactionId"
    return None


class Csms:
    # The CSMS's state: kept across the kernel's reboots (module level, like ev_sim.OUT), so the counts
    # and the station's connection history cover the whole run.
    def __init__(self):
        self.ctx = None
        self.lst = None
        self.pending = []  # ServerConn in their upgrade
        self.conn = None  # the station's open connection
        self.down = False  # in an outage now
        self.changed_ms = 0  # when the station's connection last opened or closed (virtual ms)
        self.stats = {"connections": 0, "disconnects": 0, "outages": 0, "calls": 0, "results_sent": 0,
                      "errors_sent": 0, "bad_requests": 0, "refused": 0}
        self.per_action = {}  # action -> requests received
        self.bad = []  # the first bad requests: [t_ms, action, why]
        self.log_bytes = 0
        self.last_error = ""

    def status(self):
        return {"stats": self.stats, "per_action": self.per_action, "bad": self.bad, "down": self.down,
                "connected": self.conn is not None, "last_error": self.last_error,
                "outage_every_ms": CFG["outage_every_ms"], "outage_ms": CFG["outage_ms"]}

    def station_state(self, now_ms, grace_ms):
        # -> "up" (the station's connection has been open for grace_ms), "down" (none for grace_ms) or
        # "changing" (it opened or closed less than grace_ms ago): what the ledger judges `offline` by
        if self.ctx is None:
            return "down"
        if self.ctx.ticks_diff(now_ms, self.changed_ms) < grace_ms:
            return "changing"
        return "up" if self.conn is not None else "down"

    # --- the record ------------------------------------------------------------------------------
    def log(self, t_ms, direction, text):
        path = CFG["log"]
        if not path:
            return
        line = '{"t": %d, "dir": "%s", "msg": %s}\n' % (t_ms, direction, text)
        from jezgro import persist
        if self.log_bytes + len(line) > LOG_MAX:
            persist.rename(path, path[:-6] + ".1.jsonl")
            self.log_bytes = 0
        if persist.append(path, line):
            self.log_bytes += len(line)

    # --- outages ---------------------------------------------------------------------------------
    def in_outage(self, now_ms):
        every = CFG["outage_every_ms"]
        if every <= 0 or CFG["outage_ms"] <= 0:
            return False
        return now_ms >= every and now_ms % every < CFG["outage_ms"]

    def open(self):
        self.lst = Listener(CFG["host"], CFG["port"])

    def close_all(self, why):
        ctx = self.ctx
        for pc in self.pending:
            pc.drop()
        self.pending = []
        if self.conn is not None:
            self._lost(why)
        if self.lst is not None:
            self.lst.close(ctx)
            self.lst = None

    def _lost(self, why):
        if self.conn.sock is not None:
            self.conn.drop()
        self.conn = None
        self.stats["disconnects"] += 1
        self.changed_ms = self.ctx.ticks_ms()
        self.last_error = why

    # --- serving ---------------------------------------------------------------------------------
    async def run(self, ctx):
        self.ctx = ctx
        self.close_all("restarted")  # sockets of a previous boot or incarnation
        self.open()
        while True:
            ctx.feed()
            now = ctx.ticks_ms()
            if self.in_outage(now) != self.down:
                self.down = not self.down
                if self.down:
                    self.stats["outages"] += 1
                    self.close_all("outage")
                else:
                    self.open()
            objs = [] if self.lst is None else [self.lst.sock]
            objs += [pc.sock for pc in self.pending]
            if self.conn is not None:
                objs.append(self.conn.sock)
            if objs:
                await ctx.wait_io_any(objs, select.POLLIN, SLICE_MS)
            else:
                await ctx.sleep_ms(SLICE_MS)
            if self.lst is not None:
                await self._accept()
            if self.conn is not None:
                await self._read()

    def check(self, path, hdr):
        if "ocpp2.0.1" not in hdr.get("sec-websocket-protocol", ""):
            raise WsRefused("400 Bad Request", "ocpp2.0.1 required")
        return "ocpp2.0.1"

    async def _accept(self):
        for pc in await upgrades(self.ctx, self.lst, self.pending, 2, MAX_MESSAGE, self.check, self._refused):
            if self.conn is not None:
                await self.conn.close(1000)  # replaced: the station reconnected
                self._lost("replaced by a new connection")
            self.conn = pc
            self.changed_ms = self.ctx.ticks_ms()
            self.stats["connections"] += 1

    def _refused(self, e):
        self.stats["refused"] += 1
        self.last_error = "upgrade: %s" % (e or "not finished in time",)

    async def _read(self):
        try:
            texts = await self.conn.messages()
        except FrameError as e:
            await self.conn.close(e.code)
            self._lost("frame: %s" % (e,))
            return
        except OSError as e:
            self._lost("closed: %s" % (e,))
            return
        for t in texts:
            try:
                await self._on_text(t)
            except OSError as e:
                self._lost("send: %s" % (e,))
                return

    async def _on_text(self, text):
        now = self.ctx.ticks_ms()
        self.log(now, "rx", text)
        try:
            typ, mid, action, p, _ = rpc.parse(text)
        except RpcError as e:
            await self._error(now, e.msg_id, e.code, str(e), "?")
            return
        if typ != CALL:
            return  # this CSMS sends no requests: an answer is to nothing
        self.stats["calls"] += 1
        self.per_action[action] = self.per_action.get(action, 0) + 1
        if action not in REQUIRED:
            await self._error(now, mid, "NotImplemented", "action " + action[:40], action)
            return
        m = missing(action, p)
        if m is not None:
            await self._error(now, mid, "FormatViolation", "%s: %s missing" % (action, m), action)
            return
        if action == "TransactionEvent":
            txledger.LEDGER.received(p, now)
        out = rpc.result(mid, answer(action, p))
        self.log(now, "tx", out)
        await self.conn.send_text(out)
        self.stats["results_sent"] += 1

    async def _error(self, now, mid, code, text, action):
        self.stats["errors_sent"] += 1
        self.stats["bad_requests"] += 1
        if len(self.bad) < 10:
            self.bad.append([now, action, "%s: %s" % (code, text)])
        out = rpc.error(mid, code, text)
        self.log(now, "tx", out)
        await self.conn.send_text(out)


CSMS = Csms()


async def main(ctx):
    ctx.publish(CSMS)
    await CSMS.run(ctx)
