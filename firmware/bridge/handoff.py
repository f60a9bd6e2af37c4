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
# into its own (persistent) one every tick, so a few entries suffice; a MeterValues of 6 values held
# here is ~1.7 KB of heap on the unix port (make bench: bridge_bench).
MAX_INBOX = const(20)  # source messages waiting for TRANSLATOR
MAX_UP = const(20)  # 2.0.1 messages waiting for PROTOCOL_B
MAX_SEEN = const(128)  # upstream keys remembered for the duplicate check
MAX_AUDIT = const(32)  # bridge events waiting for AUDIT_LOGGER


class Handoff:
    def __init__(self):
        # PROTOCOL_A -> TRANSLATOR: [key, charger index, action, payload, arrival ms], oldest first.
        # TRANSLATOR removes an entry only once it is fully handled.
        self.inbox = []
        # TRANSLATOR -> PROTOCOL_A: key -> [message type (rpc.CALLRESULT/CALLERROR), payload or
        # (code, text)] for the CALL of that key
        self.answers = {}
        # TRANSLATOR -> PROTOCOL_B: [key, action, payload, kind], kind UP_* below
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
        self.dropped = 0  # entries refused because a queue was full (counted, the sender told)
        self.duplicates = 0  # upstream pushes refused as already seen (replays)

    def put_in(self, key, charger, action, payload, t_ms):
        # -> False when the inbox is full (the charger gets a CALLERROR and retries)
        for e in self.inbox:
            if e[0] == key:
                return True  # the charger resent a CALL still being handled
        if len(self.inbox) >= MAX_INBOX:
            self.dropped += 1
            return False
        self.inbox.append([key, charger, action, payload, t_ms])
        return True

    def done_in(self, key):
        for i, e in enumerate(self.inbox):
            if e[0] == key:
                self.inbox.pop(i)
                return

    def push_up(self, key, action, payload, kind):
        # -> True when queued or already queued once (a replay); False when full
        if key in self.seen:
            self.duplicates += 1
            return True
        if len(self.up) >= MAX_UP:
            self.dropped += 1
            return False
        self.up.append([key, action, payload, kind])
        self.seen.append(key)
        if len(self.seen) > MAX_SEEN:
            self.seen.pop(0)
        return True


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
