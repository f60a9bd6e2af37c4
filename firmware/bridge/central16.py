# PROTOCOL_A, source "ocpp16": the gateway as OCPP 1.6J Central System for the chargers of
# bridge.json. One WebSocket server (subprotocol ocpp1.6), one connection per charger identity
# (the last path segment, Basic Auth id:password), a newer connection of a charger replacing
# its older one. Every CALL from a charger goes to TRANSLATOR through the hand-off inbox and is
# answered with what TRANSLATOR puts in the answers; a charger whose CALL cannot be queued gets
# a CALLERROR at once (it retries). No translation here: framing, identity, bookkeeping.
import binascii
import select
from micropython import const
from bridge.handoff import BUS
from net.wsserver import Listener, WsRefused, ST_OPEN, upgrades
from net.wsframe import FrameError
from ocpp import rpc
from ocpp.rpc import RpcError, CALL, CALLRESULT

SLICE_MS = const(20)
MAX_MESSAGE = const(8192)  # a 1.6 message from a charger; larger ones are refused (close 1009)
DOWN_MS = const(8000)  # a charger's answer to a CALL of ours; then "no answer" (TRANSLATOR answers the CSMS)
ANSWER_MS = const(25000)  # a key without an answer this long is given up (the charger's own timeout passed)


def charger_id(path):
    # the identity in a charger's URL path /.../<id> (percent-decoded; garbage stays as it is)
    s = path.rstrip("/").split("/")[-1]
    out = bytearray()
    i = 0
    try:
        while i < len(s):
            if s[i] == "%" and i + 2 < len(s):
                out.append(int(s[i + 1:i + 3], 16))
                i += 3
            else:
                out.extend(s[i].encode())
                i += 1
        return out.decode()
    except (ValueError, UnicodeError):
        return s


class Charger:
    # one configured charger's link state and counters (shown in the summary)
    def __init__(self, cfg):
        self.cfg = cfg
        self.conn = None  # ServerConn while connected
        self.waiting = []  # [key, message id, ms] of CALLs given to TRANSLATOR, not answered yet
        self.out = None  # [key, message id, ms] of our CALL to the charger awaiting its answer (one at a time)
        self.stats = {"connects": 0, "disconnects": 0, "auth_failures": 0, "calls": 0, "answers": 0,
                      "errors_sent": 0, "bad_messages": 0, "busy": 0, "expired": 0, "calls_out": 0,
                      "results_in": 0, "errors_in": 0, "timeouts": 0}

    def status(self):
        return {"connected": self.conn is not None, "waiting": len(self.waiting), "stats": self.stats}


def _nothing():
    # None typed as "anything" for mypy (set before first use)
    return None


class CentralSystem:
    def __init__(self, ctx, cfg, maps=None):
        self.ctx = ctx
        self.cfg = cfg
        self.chargers = [Charger(c) for c in cfg["chargers"]]
        self.pending = []  # ServerConn still in the handshake
        self.lst = _nothing()  # net.wsserver.Listener once run() started
        self.refused = {"unknown": 0, "auth": 0, "bad": 0}
        self.translator = ctx.sid_of("TRANSLATOR")
        self.last_error = ""
        self.next_id = 0
        from bridge.wallbox import Wallbox
        self.wallboxes = dict((i, Wallbox(ctx, i, cfg["chargers"][i], m, self.translator))
                              for i, m in (maps or {}).items())

    def status(self):
        ch = dict((c.cfg["id"], c.status()) for c in self.chargers)
        for i, wb in self.wallboxes.items():
            ch[self.chargers[i].cfg["id"]] = wb.status()
        return {"chargers": ch, "refused": self.refused,
                "inbox": len(BUS.inbox), "last_error": self.last_error}

    def _find(self, cid):
        for i, c in enumerate(self.chargers):
            if c.cfg["id"] == cid:
                return i
        return -1

    def check(self, path, hdr):
        # the upgrade of path /.../<id>: -> "ocpp1.6", or WsRefused
        cid = charger_id(path)
        i = self._find(cid)
        if i < 0 or i in self.wallboxes:
            self.refused["unknown"] += 1
            raise WsRefused("404 Not Found", "unknown charger " + cid[:20])
        protos = [x.strip() for x in hdr.get("sec-websocket-protocol", "").split(",")]
        if "ocpp1.6" not in protos:
            self.refused["bad"] += 1
            raise WsRefused("400 Bad Request", "subprotocol ocpp1.6 not offered")
        pw = self.chargers[i].cfg["password"]
        if pw is not None:
            want = "Basic " + binascii.b2a_base64(("%s:%s" % (cid, pw)).encode()).strip().decode()
            if hdr.get("authorization", "") != want:
                self.refused["auth"] += 1
                self.chargers[i].stats["auth_failures"] += 1
                raise WsRefused("401 Unauthorized", "bad credentials for " + cid)
        return "ocpp1.6"

    async def run(self):
        ctx = self.ctx
        self.lst = Listener(self.cfg["host"], self.cfg["port"])
        while True:
            ctx.feed()
            objs = [self.lst.sock]
            for c in self.chargers:
                if c.conn is not None:
                    objs.append(c.conn.sock)
            for pc in self.pending:
                objs.append(pc.sock)
            for wb in self.wallboxes.values():
                if wb.sock() is not None:
                    objs.append(wb.sock())
            await ctx.wait_io_any(objs, select.POLLIN, SLICE_MS)
            while ctx.try_receive() is not None:
                pass  # BRIDGE_ANSWER: a wake-up; the answers are looked at below in any case
            await self._accept()
            for wb in self.wallboxes.values():
                await wb.step()
            for i, c in enumerate(self.chargers):
                if i in self.wallboxes:
                    continue
                if c.conn is not None:
                    await self._read(i, c)
                await self._answer(c)
                await self._call_down(i, c)

    async def _accept(self):
        for pc in await upgrades(self.ctx, self.lst, self.pending, 4, MAX_MESSAGE, self.check, self._refused):
            i = self._find(charger_id(pc.path))
            c = self.chargers[i]
            if c.conn is not None:
                await c.conn.close(1000)  # replaced: the charger reconnected
                c.stats["disconnects"] += 1
            c.conn = pc
            c.stats["connects"] += 1
            BUS.note("PROTOCOL_A", c.cfg["id"], "connected")

    def _refused(self, e):
        if e is None:  # the upgrade did not finish in time
            self.refused["bad"] += 1
            return
        self.last_error = "upgrade: %s" % (e,)
        if isinstance(e, WsRefused) and e.status:
            BUS.note("PROTOCOL_A", "", "refused %s: %s" % (e.status, e))

    def _lost(self, c, why):
        c.conn.drop()
        c.conn = None
        c.stats["disconnects"] += 1
        self.last_error = "%s: %s" % (c.cfg["id"], why)
        BUS.note("PROTOCOL_A", c.cfg["id"], "disconnected: %s" % why)

    async def _read(self, i, c):
        conn = c.conn
        try:
            texts = await conn.messages()
        except FrameError as e:
            await conn.close(e.code)
            c.stats["bad_messages"] += 1
            self._lost(c, "frame: %s" % (e,))
            return
        except OSError as e:
            self._lost(c, "closed: %s" % (e,))
            return
        for t in texts:
            try:
                await self._on_text(i, c, t)
            except OSError as e:
                self._lost(c, "send: %s" % (e,))
                return

    async def _on_text(self, i, c, text):
        try:
            typ, mid, action, payload, _ = rpc.parse(text)
        except RpcError as e:
            c.stats["bad_messages"] += 1
            await self._error(c, e.msg_id, "FormationViolation" if e.code == "FormatViolation" else e.code, str(e))
            return
        if typ != CALL:
            o = c.out
            if o is None or o[1] != mid:
                c.stats["bad_messages"] += 1  # an answer to nothing we asked
                return
            c.out = None
            if typ == CALLRESULT:
                c.stats["results_in"] += 1
                self._down_result(o[0], payload, None)
            else:
                c.stats["errors_in"] += 1
                self._down_result(o[0], None, action)  # rpc.parse gives a CALLERROR's code there
            return
        c.stats["calls"] += 1
        key = "%d/%s" % (i, mid)
        if not BUS.put_in(key, i, action, payload, self.ctx.ticks_ms()):
            c.stats["busy"] += 1
            await self._error(c, mid, "InternalError", "gateway busy, retry")
            return
        c.waiting.append([key, mid, self.ctx.ticks_ms()])
        from msgs import send_bridge, BRIDGE_IN
        if self.translator >= 0:
            send_bridge(self.ctx, self.translator, BRIDGE_IN, i, len(BUS.inbox))

    def _down_result(self, key, payload, err):
        BUS.down_res[key] = [payload, err]
        from msgs import send_bridge, BRIDGE_IN
        if self.translator >= 0:
            send_bridge(self.ctx, self.translator, BRIDGE_IN, -1, len(BUS.down_res))

    async def _call_down(self, i, c):
        # TRANSLATOR's CALLs for this charger, one at a time; a charger away answers "not connected" at once
        k = self.ctx
        if c.out is not None:
            if k.ticks_diff(k.ticks_ms(), c.out[2]) < DOWN_MS:
                return
            c.stats["timeouts"] += 1
            self._down_result(c.out[0], None, "no answer in %d ms" % DOWN_MS)
            c.out = None
        for e in BUS.down:
            if e[1] != i:
                continue
            BUS.down.remove(e)
            key, _, action, payload = e
            if c.conn is None or c.conn.state != ST_OPEN:
                self._down_result(key, None, "not connected")
                return
            self.next_id += 1
            mid = "gw-%d" % self.next_id
            c.out = [key, mid, k.ticks_ms()]
            c.stats["calls_out"] += 1
            try:
                await c.conn.send_text(rpc.call(mid, action, payload))
            except OSError as x:
                self._lost(c, "send: %s" % (x,))
            return

    async def _answer(self, c):
        k = self.ctx
        for w in list(c.waiting):
            a = BUS.answers.pop(w[0], None)
            if a is None:
                if k.ticks_diff(k.ticks_ms(), w[2]) > ANSWER_MS:
                    c.waiting.remove(w)
                    c.stats["expired"] += 1
                continue
            c.waiting.remove(w)
            if c.conn is None or c.conn.state != ST_OPEN:
                continue  # the charger went away: it resends after reconnecting
            try:
                if a[0] == rpc.CALLRESULT:
                    await c.conn.send_text(rpc.result(w[1], a[1]))
                    c.stats["answers"] += 1
                else:
                    await self._error(c, w[1], a[1][0], a[1][1])
            except OSError as e:
                self._lost(c, "send: %s" % (e,))
                return

    async def _error(self, c, mid, code, text):
        c.stats["errors_sent"] += 1
        await c.conn.send_text(rpc.error(mid, code, text))

