# The protocol bridge's hand-off queues between PROTOCOL_A, TRANSLATOR and PROTOCOL_B.
# An OCPP message (up to 16 KB of JSON) does not fit an IPC slot (54 bytes), so the
# messages wait here and IPC carries only the wake-up (msgs.BRIDGE_*). Like
# jezgro/shared.py this is module state shared by services of one interpreter; each
# queue has one writer and one reader, named below, and is bounded.
#
# It survives a restart of any of the three services (a module is imported once), which is
# what makes a TRANSLATOR crash lose nothing: TRANSLATOR takes an inbox entry away only
# after its answer and its upstream messages are out here, and the upstream queue refuses a
# key it has already seen (idempotent replay by message id). A reboot loses the RAM: the
# upstream transaction events are then safe in PROTOCOL_B's persistent queue, and a 1.6
# charger resends a CALL it got no answer to.
from micropython import const

# Bounds by count: a 1.6 charger has one CALL outstanding and PROTOCOL_B drains the upstream queue
# into its own (persistent) one every tick, so a few entries suffice. But a MeterValues of 6 values
# (context, measurand, unit, phase each) holds ~2.7 KB of heap on the unix port, one of 24 values
# ~9.5 KB: 20 of those would be far beyond any budget, hence the bounds by bytes below.
MAX_INBOX = const(20)  # source messages waiting for TRANSLATOR
MAX_UP = const(20)  # 2.0.1 messages waiting for PROTOCOL_B
# Bounds by bytes (held_bytes(), an estimate never below the heap a message parsed from JSON holds
# on the unix port, ~1.4x above it for large MeterValues): the queues are TRANSLATOR's memory, 32 KB
# (spec 2.2) of which TRANSLATOR's own tables take ~18 KB (make bench), so 10 + 10 KB estimated
# (~14 KB of heap at most) keep it inside. One entry always fits an empty queue, or a large message could
# never pass: its size is bounded by PROTOCOL_A's 8 KB receive buffer.
MAX_INBOX_BYTES = const(10240)
MAX_UP_BYTES = const(10240)
MIN_ENTRY_BYTES = const(512)  # the floor of an entry: key, list, small dicts (measured ~420 B for a status)
MAX_SEEN = const(128)  # upstream keys remembered for the duplicate check
MAX_AUDIT = const(32)  # bridge events waiting for AUDIT_LOGGER


def held_bytes(o):
    # heap an OCPP payload (parsed JSON) holds, estimated from its structure without allocating.
    # Dict keys cost nothing of their own: OCPP field names are interned (qstrs of the firmware), so
    # json.loads returns the existing string. Constants from gc.mem_alloc() of json.loads on the
    # unix port (tests_host/test_bridge_handoff.py checks the estimate is never below it).
    t = type(o)
    if t is str:
        return 40 + len(o)
    if t is dict:
        n = 64 + 40 * len(o)
        for k in o:
            n += held_bytes(o[k])
        return n
    if t is list:
        n = 32 + 8 * len(o)
        for v in o:
            n += held_bytes(v)
        return n
    if t is int or t is float:
        return 16
    return 0


def entry_bytes(payload):
    n = held_bytes(payload)
    return n if n > MIN_ENTRY_BYTES else MIN_ENTRY_BYTES


class Handoff:
    def __init__(self):
        # PROTOCOL_A -> TRANSLATOR: [key, charger index, action, payload, arrival ms, entry bytes], oldest first.
        # TRANSLATOR removes an entry only once it is fully handled.
        self.inbox = []
        # TRANSLATOR -> PROTOCOL_A: key -> [message type (rpc.CALLRESULT/CALLERROR), payload or
        # (code, text)] for the CALL of that key
        self.answers = {}
        # TRANSLATOR -> PROTOCOL_B: [key, action, payload, kind, entry bytes], kind UP_* below
        self.up = []
        self.seen = []  # keys of self.up entries ever pushed (bounded, oldest first)
        # PROTOCOL_B -> TRANSLATOR: key -> [payload or None, error or None] (a CALL's result)
        self.replies = {}
        # PROTOCOL_B -> TRANSLATOR: [key "c/<msg id>", action, payload, arrival ms] CSMS requests for a charger
        self.csms_in = []
        # TRANSLATOR -> PROTOCOL_B: [msg id, payload or None, (code, text) or None] answers to them
        self.csms_out = []
        # TRANSLATOR -> PROTOCOL_A: [key, charger index, 1.6 action, payload] CALLs for the chargers
        self.down = []
        self.down_seen = []  # keys of self.down entries ever pushed (bounded)
        # PROTOCOL_A -> TRANSLATOR: key -> [payload or None, error code or None] the charger's answer
        self.down_res = {}
        # any bridge service -> AUDIT_LOGGER: [service, charger id, what] (link events, rejections)
        self.audit = []
        self.audit_dropped = 0
        self.online = False  # PROTOCOL_B: registered at the CSMS and connected
        self.inbox_bytes = 0  # entry_bytes() of what self.inbox / self.up hold
        self.up_bytes = 0
        # entries refused because a queue was full, by queue and bound: never dropped, the sender
        # is told (the charger gets a CALLERROR and resends; TRANSLATOR keeps the entry and waits)
        self.refused = {"inbox_count": 0, "inbox_bytes": 0, "up_count": 0, "up_bytes": 0}
        self.duplicates = 0  # upstream pushes refused as already seen (replays)

    def put_in(self, key, charger, action, payload, t_ms):
        # -> False when the inbox is full (the charger gets a CALLERROR and retries)
        for e in self.inbox:
            if e[0] == key:
                return True  # the charger resent a CALL still being handled
        size = entry_bytes(payload)
        if len(self.inbox) >= MAX_INBOX:
            self.refused["inbox_count"] += 1
            return False
        if self.inbox and self.inbox_bytes + size > MAX_INBOX_BYTES:
            self.refused["inbox_bytes"] += 1
            return False
        self.inbox.append([key, charger, action, payload, t_ms, size])
        self.inbox_bytes += size
        return True

    def done_in(self, key):
        for i, e in enumerate(self.inbox):
            if e[0] == key:
                self.inbox.pop(i)
                self.inbox_bytes -= e[5]
                return

    def up_fits(self, ups):
        # True when the 2.0.1 messages ups [(suffix, action, payload, kind)] all fit the upstream
        # queue now (TRANSLATOR asks before pushing any, so one source message goes up whole or waits)
        n = len(self.up) + len(ups)
        size = self.up_bytes
        for u in ups:
            size += entry_bytes(u[2])
        if n > MAX_UP:
            self.refused["up_count"] += 1
            return False
        if self.up and size > MAX_UP_BYTES:
            self.refused["up_bytes"] += 1
            return False
        return True

    def push_up(self, key, action, payload, kind):
        # -> True when queued or already queued once (a replay); False when full (counted)
        if key in self.seen:
            self.duplicates += 1
            return True
        size = entry_bytes(payload)
        if len(self.up) >= MAX_UP:
            self.refused["up_count"] += 1
            return False
        if self.up and self.up_bytes + size > MAX_UP_BYTES:
            self.refused["up_bytes"] += 1
            return False
        self.up.append([key, action, payload, kind, size])
        self.up_bytes += size
        self.seen.append(key)
        if len(self.seen) > MAX_SEEN:
            self.seen.pop(0)
        return True

    def pop_up(self):
        # PROTOCOL_B: the oldest upstream entry is out
        e = self.up.pop(0)
        self.up_bytes -= e[4]
        return e

    def note(self, service, charger, text):
        # an event for the audit log (AUDIT_LOGGER takes them); bounded, the overflow counted
        if len(self.audit) >= MAX_AUDIT:
            self.audit_dropped += 1
            return
        self.audit.append([service, charger, text[:120]])

    def push_down(self, key, charger, action, payload):
        if key in self.down_seen:
            self.duplicates += 1
            return
        self.down.append([key, charger, action, payload])
        self.down_seen.append(key)
        if len(self.down_seen) > MAX_SEEN:
            self.down_seen.pop(0)

    def done_csms(self, key):
        for i, e in enumerate(self.csms_in):
            if e[0] == key:
                self.csms_in.pop(i)
                return


UP_QUEUED = const(0)  # a transaction event: PROTOCOL_B's persistent queue, offline flag when offline
UP_CALL = const(1)  # an ordinary CALL (status): sent when online, kept in RAM meanwhile
UP_REPLY = const(2)  # a CALL whose result TRANSLATOR waits for (Authorize): answered "offline" at once when offline

BUS = Handoff()
