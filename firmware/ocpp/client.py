# OCPP 2.0.1 charging-station session over OCPP-J: connection with back-off,
# registration (BootNotification), one outstanding CALL per direction with
# MessageTimeout, heartbeat, the persistent transaction queue, and dispatch of
# CSMS requests to one module per operation (ocpp.ops.*). Transport errors
# end the session and start the back-off; a bad message from the CSMS gets its
# CALLERROR and a counter, nothing more.
import gc
import json
from micropython import const
from net.ws import WebSocket, WsError
from net.stream import StreamError
from net.backoff import BackOff
from ocpp import rpc
from ocpp.rpc import RpcError, CALL, CALLRESULT
from ocpp.device_model import DeviceModel
from ocpp.txqueue import TxQueue
from jezgro import persist
from ocpp.later import Later
from ocpp.ops import INCOMING

SLICE_MS = const(100)
RESET_FLUSH_MS = const(5000)  # how long a Reset waits for the Ended events to go out
# What the CSMS may ask while our BootNotification is Pending (B02): configuration, not operation.
WHILE_PENDING = ("GetVariables", "SetVariables", "GetBaseReport", "TriggerMessage")
C = "OCPPCommCtrlr"
# the files OCPP_CLIENT keeps (ocpp/txqueue, device_model, transaction, smart_charging, reservations,
# config, iso15118_bridge): their storage problems are reported to the CSMS
STORAGE_FILES = ("ocpp_txq.log", "ocpp_txq.head", "ocpp_dm.json", "ocpp_tx.json", "ocpp_profiles.json",
                 "ocpp_resv.json", "ocpp.json", "iso15118_cert.req", "iso15118_cert.res", "ocpp_meter.json",
                 "ocpp_auth.json", "ocpp_locallist.json")


class Client:
    def __init__(self, ctx, cfg, fs_root, tls=None):
        self.ctx = ctx
        self.cfg = cfg
        self.fs = fs_root
        self.tls = tls
        self.dm = DeviceModel(fs_root)
        self.txq = TxQueue(fs_root)
        self.ws = WebSocket(ctx, cfg.get("max_message", 16384))
        self.connected = False
        # Registered survives a service restart (the store) but a BootNotification goes out
        # again when what it says changed (OCPP-J: not resent on reconnect unless changed).
        from ocpp.ops import boot_notification
        self.boot_key = json.dumps(boot_notification.station(cfg))
        self.registered = (ctx.store.get("ocpp_registered", False) and
                           ctx.store.get("ocpp_boot_key") == self.boot_key)
        self.boot_status = None
        self.boot_retry_ms = 0
        self.pending = _nothing()  # [id, action, payload, sent_ms, on_result, from_queue]
        self.outbox = []  # [action, payload, on_result]: not persisted (non-transaction CALLs)
        self.next_id = 0
        self.q_attempts = 0
        self.q_retry_ms = 0
        self.last_tx_ms = 0
        self.offline_since_ms = ctx.ticks_ms()
        self.ever_connected = False
        self.handlers = {}  # action -> module, imported on first use
        self.connectors = cfg.get("connectors", 1)
        self.conn_status = {}
        self.stats = {"connects": 0, "connect_failures": 0, "calls_sent": 0, "results": 0,
                      "errors_in": 0, "errors_sent": 0, "timeouts": 0, "bad_messages": 0,
                      "calls_in": 0, "queue_dropped": 0, "pings_sent": 0}
        self.backoff_log = []  # the last waits before reconnecting, ms
        self.last_error = ""
        self.last_callerror = ""
        self.conn_heap = 0  # error code of the last CALLERROR received (normalized spelling)
        self.bo = BackOff(self.dm.int(C, "RetryBackOffWaitMinimum"), self.dm.int(C, "RetryBackOffRandomRange"),
                          self.dm.int(C, "RetryBackOffRepeatTimes"))
        self.ticks = []  # periodic functions of the operation modules, fn(client)
        # The parts ocpp/features.py installs (None: not in this build) and their shared state.
        self.tx = None  # transaction.Transactions
        self.sc = None  # smart_charging.SmartCharging
        self.resv = None  # reservations.Reservations
        self.iso = None  # iso15118_bridge.Bridge
        self.ipc_hook = None  # fn(client, msg) for IPC from other services
        self.power_mgr = -1  # POWER_MGR's sid: the composite-schedule limit goes there
        self.later = Later()  # operations answered now, carried out afterwards
        self.auth_last = None  # the last Authorize answer (status or error)
        # the link as `jezgro status`, the live view and the summary show it: connecting, connected or
        # backoff (with the time of the next attempt), the TLS cipher in use, the last failure's reason
        self.link_state = "connecting"
        self.retry_at_ms = 0
        self.tls_cipher = None
        self.auth_pending = {}  # evse -> (idToken, deadline ms) of a queued Authorize (ops/authorize.py)
        self.auth_cache = None  # ops/authorize.Cache, loaded on first use
        self.local_list = None  # ocpp/local_list.LocalList, loaded on first use
        self.storage_gen = -1  # persist.gen last looked at
        self.storage_sent = {}  # file -> problem count last reported to the CSMS
        # The protocol bridge (bridge/upstream.py): forward(client, msg id, action, payload) -> True when it
        # takes a CSMS request to answer later; its answers wait in `late` ([msg id, payload, None] or
        # [msg id, None, (code, text)]) until the session sends them.
        self.forward = None
        self.late = []

    def status(self):
        # what the simulation summary and `jezgro` show of the client
        return {"registered": self.registered, "boot_status": self.boot_status, "queue": len(self.txq),
                "last_error": self.last_error, "last_callerror": self.last_callerror,
                "stats": self.stats, "active_limit_w": self.sc.active_limit_w if self.sc else None,
                "offline_fallback": self.sc.fallback.status() if self.sc else None,
                "iso_bad": self.iso.bad if self.iso else 0, "auth_last": self.auth_last,
                "meter": self.tx.status_meter() if self.tx else None,
                "transactions": {e: [t["id"], t["seq"]] for e, t in self.tx.tx.items()} if self.tx else {},
                "txq": self.txq.status(), "storage": persist.report(STORAGE_FILES), "link": self.link()}

    def link(self):
        cfg = self.cfg
        out = {"state": self.link_state, "url": cfg.get("url"), "station_id": cfg.get("station_id"),
               "security_profile": cfg.get("security_profile"), "last_error": self.last_error}
        if self.link_state == "backoff":
            out["retry_in_ms"] = max(0, self.ctx.ticks_diff(self.retry_at_ms, self.now()))
        fb = self.sc.fallback.status() if self.sc else None
        if fb is not None and fb["active"]:
            out["fallback"] = fb  # the offline fallback limit in force (ocpp/fallback.py)
        if self.tls_cipher:
            # mbedTLS verified the chain against the provisioned CA and the name against the URL's host
            c = self.tls_cipher  # mbedTLS: (suite, protocol version)
            out["tls"] = {"cipher": c[0], "version": c[1] if len(c) > 1 else None,
                          "verified_peer": _host(cfg.get("url", ""))}
        return out

    def report_storage(self):
        # A problem with one of the OCPP files (damaged, set aside, dropped records, failing writes)
        # reaches the CSMS as a SecurityEventNotification, once per change of that file's counts.
        if self.storage_gen == persist.gen:
            return
        self.storage_gen = persist.gen
        from ocpp.ops import security_event_notification
        for name, c in persist.report(STORAGE_FILES).items():
            n = sum(v for k, v in c.items() if k != "last")
            if self.storage_sent.get(name, 0) != n:
                self.storage_sent[name] = n
                security_event_notification.send(self, "PersistentStorageProblem", "%s: %s" % (name, c["last"]))

    # --- time ---------------------------------------------------------------
    def now(self):
        return self.ctx.ticks_ms()

    def since(self, t):
        return self.ctx.ticks_diff(self.now(), t)

    # --- outgoing -----------------------------------------------------------
    def call(self, action, payload, on_result=None):
        # Queue a CALL that need not survive a reboot (Heartbeat, StatusNotification, reports).
        self.outbox.append([action, payload, on_result])

    def call_persistent(self, action, payload):
        # TransactionEvent / MeterValues of a transaction: on the filesystem first.
        self.txq.push(action, payload)

    async def _send_call(self, action, payload, on_result, from_queue):
        self.next_id += 1
        mid = "%x-%d" % (self.ctx.ticks_ms() & 0xFFFFFF, self.next_id)
        self.pending = [mid, action, payload, self.now(), on_result, from_queue]
        await self.ws.send_text(rpc.call(mid, action, payload))
        self.stats["calls_sent"] += 1
        self.last_tx_ms = self.now()

    async def pump(self):
        # Start the next CALL if none is outstanding; handle the outstanding one's timeout.
        if self.pending is not None:
            if self.since(self.pending[3]) < self.dm.int(C, "MessageTimeout") * 1000:
                return
            self.stats["timeouts"] += 1
            self._finish(None, "timeout")
        kind = self.later.reset_kind
        if kind is not None and (not self.txq.peek() or self.since(self.later.reset_at_ms) > RESET_FLUSH_MS):
            # Reset accepted: the Ended events went out (or are safe in the persistent
            # queue after RESET_FLUSH_MS); close cleanly and have the board reset.
            self.later.reset_kind = None
            self.ws.close()
            self.ctx.request_reset("OCPP Reset " + kind)
        if not self.registered:
            if self.boot_status is None or self.since(self.boot_retry_ms) >= 0:
                from ocpp.ops import boot_notification
                await self._send_call("BootNotification", boot_notification.request(self),
                                      boot_notification.confirm, False)
            return
        self.report_storage()
        if self.outbox:
            a, p, cb = self.outbox.pop(0)
            await self._send_call(a, p, cb, False)
            return
        head = self.txq.peek()
        if head is not None and self.since(self.q_retry_ms) >= 0:
            await self._send_call(head[0], head[1], None, True)
            return
        hb = self.dm.int(C, "HeartbeatInterval")
        if hb > 0 and self.since(self.last_tx_ms) >= hb * 1000:
            from ocpp.ops import heartbeat
            await self._send_call("Heartbeat", {}, heartbeat.confirm, False)

    def _finish(self, payload, err):
        # The outstanding CALL ended: payload on CALLRESULT, err on CALLERROR/timeout.
        mid, action, req, _, cb, from_queue = self.pending
        self.pending = None
        if from_queue:
            if err is None:
                self.txq.pop()
                self.q_attempts = 0
            else:
                self.q_attempts += 1
                if self.q_attempts >= self.dm.int(C, "MessageAttempts"):
                    self.txq.pop()  # OCPP: discarded after MessageAttempts failures
                    self.stats["queue_dropped"] += 1
                    self.q_attempts = 0
                else:
                    self.q_retry_ms = self.ctx.ticks_add(
                        self.now(), self.dm.int(C, "MessageAttemptInterval") * 1000 * self.q_attempts)
        if cb is not None:
            try:
                cb(self, req, payload, err)
            except (KeyError, TypeError, ValueError) as e:
                self.stats["bad_messages"] += 1
                self.last_error = "%s result: %s" % (action, e)

    # --- incoming -----------------------------------------------------------
    async def on_text(self, text):
        try:
            t, mid, name, payload, desc = rpc.parse(text)
        except RpcError as e:
            self.stats["bad_messages"] += 1
            self.last_error = str(e)
            # Only a CALL (or something unreadable) is answered; a broken answer is just counted.
            await self._reply_error(e.msg_id, e.code, str(e))
            return
        if t == CALL:
            self.stats["calls_in"] += 1
            await self._dispatch(mid, name, payload)
        elif self.pending is not None and self.pending[0] == mid:
            if t == CALLRESULT:
                self.stats["results"] += 1
                self._finish(payload, None)
            else:
                self.stats["errors_in"] += 1
                self.last_callerror = name
                self.last_error = "%s: %s %s" % (self.pending[1], name, desc)
                self._finish(None, name)
        else:
            self.stats["bad_messages"] += 1  # answer to nothing we asked: ignored

    async def _dispatch(self, mid, action, payload):
        if self.forward is not None and self.registered and self.forward(self, mid, action, payload):
            return
        modname = INCOMING.get(action)
        if modname is None:
            await self._reply_error(mid, "NotImplemented", "action " + action[:40])
            return
        if not self.registered and not (self.boot_status == "Pending" and action in WHILE_PENDING):
            await self._reply_error(mid, "SecurityError", "not registered")
            return
        mod = self.handlers.get(action)
        if mod is None:
            mod = __import__("ocpp.ops." + modname, None, None, [modname])
            self.handlers[action] = mod
        try:
            res = mod.handle(self, payload, mid)
        except RpcError as e:
            self.stats["bad_messages"] += 1
            await self._reply_error(mid, e.code, str(e))
            return
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            self.stats["bad_messages"] += 1
            await self._reply_error(mid, "FormatViolation", "%s: %s" % (action, e))
            return
        await self.ws.send_text(rpc.result(mid, res))
        after = getattr(mod, "after", None)
        if after is not None:
            after(self, payload, res)

    async def _send_late(self):
        while self.late:
            mid, res, err = self.late.pop(0)
            if err is None:
                await self.ws.send_text(rpc.result(mid, res))
            else:
                await self._reply_error(mid, err[0], err[1])

    async def _reply_error(self, mid, code, text):
        self.stats["errors_sent"] += 1
        await self.ws.send_text(rpc.error(mid, code, text))

    # --- connection -----------------------------------------------------------
    def url(self):
        u = self.cfg["url"]
        return (u if u.endswith("/") else u + "/") + pct(self.cfg["station_id"])

    async def connect(self):
        # GC heap held by one connection (socket, WebSocket state, TLS objects), measured once per
        # connection (reconnects are rare). mbedTLS's record buffers live outside the GC heap on
        # the unix port, so there this does not include them.
        gc.collect()
        m0 = gc.mem_alloc()
        await self.ws.connect(self.url(), "ocpp2.0.1", self.dm.int(C, "MessageTimeout") * 1000,
                              self.tls, self.cfg.get("headers"))
        gc.collect()
        self.conn_heap = gc.mem_alloc() - m0

    async def idle(self, ms):
        t0 = self.now()
        while self.since(t0) < ms:
            self.ctx.feed()
            self.housekeeping()
            left = ms - self.since(t0)
            await self.ctx.sleep_ms(left if left < 200 else 200)

    def housekeeping(self):
        # IPC and periodic work (meter values, schedules): also while offline.
        self.poll_ipc()
        for tick in self.ticks:
            tick(self)

    def poll_ipc(self):
        hook = self.ipc_hook
        msg = self.ctx.try_receive()
        while msg is not None:
            if hook is not None:
                hook(self, msg)
            msg = self.ctx.try_receive()

    async def run(self):
        while True:
            self.ctx.feed()
            try:
                await self.connect()
            except (WsError, StreamError, OSError, ValueError) as e:
                self.stats["connect_failures"] += 1
                self.last_error = "connect: %s" % (reason(e, self.cfg),)
                self.ctx.link_failed(self.last_error)
                await self._back_off()
                continue
            self.bo.reset()
            self.stats["connects"] += 1
            self.link_state = "connected"
            self.tls_cipher = self.ws.st.cipher()
            self.ctx.link_ok()
            self._on_connected()
            try:
                await self.session()
            except (WsError, StreamError, OSError) as e:
                self.last_error = "session: %s" % (reason(e, self.cfg),)
            self.connected = False
            self.tls_cipher = None
            self.offline_since_ms = self.now()
            if self.pending is not None:
                # A CALL cut off by the outage: queued ones are resent from the queue head.
                p = self.pending
                self.pending = None
                if not p[5] and p[1] != "BootNotification" and p[1] != "Heartbeat":
                    self.outbox.insert(0, [p[1], p[2], p[4]])
            self.ws.close()
            await self._back_off()

    async def _back_off(self):
        wait = self.bo.next_ms()
        self._note_backoff(wait)
        self.link_state = "backoff"
        self.retry_at_ms = self.ctx.ticks_add(self.now(), wait)
        await self.idle(wait)
        self.link_state = "connecting"

    def _note_backoff(self, wait):
        b = self.backoff_log
        b.append(wait)
        if len(b) > 16:
            b.pop(0)

    def _on_connected(self):
        offline_ms = self.since(self.offline_since_ms)
        self.connected = True
        self.q_attempts = 0
        self.q_retry_ms = self.now()
        if self.ever_connected and offline_ms > self.dm.int(C, "OfflineThreshold") * 1000:
            from ocpp.ops import status_notification
            status_notification.all_connectors(self)
        self.ever_connected = True
        self.last_tx_ms = self.now()
        self.late = []  # answers to requests of the previous connection: their ids mean nothing now

    async def session(self):
        last_ping = self.now()
        while True:
            self.ctx.feed()
            self.housekeeping()
            await self._send_late()
            await self.pump()
            pi = self.dm.int(C, "WebSocketPingInterval")
            if pi > 0 and self.since(last_ping) >= pi * 1000:
                last_ping = self.now()
                await self.ws.ping()
                self.stats["pings_sent"] += 1
            msg = await self.ws.recv(SLICE_MS)
            if msg is not None:
                if isinstance(msg, str):
                    await self.on_text(msg)
                else:
                    self.stats["bad_messages"] += 1
                    await self._reply_error("-1", "RpcFrameworkError", "binary frame")


def _host(url):
    # the host part of ws[s]://host[:port]/path (what the TLS name check compared the certificate with)
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def reason(e, cfg):
    # one line a user can act on: mbedTLS's verification text (multi-line, one flag per line) joined
    # and named as the server certificate's problem against the provisioned CA; HTTP 401 as the
    # password the CSMS refused
    text = " ".join(str(p).strip() for p in ("%s" % (e,)).split("\n") if p.strip())
    if "certificate" in text or "CN" in text:
        return "TLS: the CSMS certificate was rejected: %s (ca %s, host %s)" % (
            text, cfg.get("ca"), _host(cfg.get("url", "")))
    if " 401" in text:
        return "the CSMS refused station %s's credentials (%s): check station_id and password" % (
            cfg.get("station_id"), text)
    return text


def _nothing():
    # None typed as "anything" for mypy (an attribute that is None only while idle).
    return None


def pct(s):
    # Percent-encode the identity for the URL path (unreserved characters kept).
    out = ""
    for b in s.encode():
        c = chr(b)
        if c.isalpha() and b < 128 or c.isdigit() or c in "-._~":
            out += c
        else:
            out += "%%%02X" % b
    return out
