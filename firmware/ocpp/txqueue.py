# Persistent, ordered queue of CALLs that must not be lost (TransactionEvent
# and the MeterValues of a transaction). Write-ahead: an event is appended to
# the log before any attempt to send it, and sending always takes the head,
# so the CSMS sees events in the order they happened, across outages and
# reboots.
#
# Files under the board filesystem (all I/O through jezgro.persist, which never raises):
#   ocpp_txq.log   one record per line: "<crc32 8 hex> <json [action, payload]>\n"
#   ocpp_txq.head  the delivery mark [lines at the front of the log already delivered, CRC of the
#                  last of them] (atomically replaced); the CRC finds the place again when damage
#                  has moved the lines
# Load: a line whose CRC, JSON or shape is wrong is skipped and counted; the
# records before and after it are kept in order. A damaged log is kept as
# ocpp_txq.log.bad-1 and the intact undelivered records are rewritten into a
# fresh one (a torn last line, from a power loss mid-append, is simply dropped:
# that event was never acknowledged as queued). Once every record is delivered
# the log is truncated.
#
# Bound (docs/persistence.md): at most MAX_ITEMS records. When full, a new
# Updated TransactionEvent or MeterValues is dropped and counted (its seqNo
# shows the gap to the CSMS); Started and Ended events are always queued.
# A failing write (full filesystem) first frees the set-aside copies, then the
# queue lives in RAM (still delivered in order) and is rewritten whole on the
# next push or pop that finds room.
import binascii
import json
from micropython import const
from jezgro import persist

LOG = "ocpp_txq.log"
HEAD = "ocpp_txq.head"
MAX_ITEMS = const(200)
MAX_LINE = const(32800)  # a record is one OCPP message: max_message (ocpp.json) <= 32768 bytes


def _line(action, payload):
    body = json.dumps([action, payload])
    return "%08x %s\n" % (binascii.crc32(body.encode()) & 0xFFFFFFFF, body)


def _record(ln):
    # a log line -> [action, payload], or None when damaged
    if ln is None or len(ln) < 11 or ln[8] != " " or not ln.endswith("\n"):
        return None
    body = ln[9:-1]
    try:
        if int(ln[:8], 16) != binascii.crc32(body.encode()) & 0xFFFFFFFF:
            return None
        r = json.loads(body)
    except ValueError:
        return None
    if not isinstance(r, list) or len(r) != 2 or not isinstance(r[0], str) or not isinstance(r[1], dict):
        return None
    return r


def essential(action, payload):
    # Started and Ended carry the transaction's identity and totals: never dropped for space
    return action == "TransactionEvent" and payload.get("eventType") in ("Started", "Ended")


def _head_check(v):
    # [lines delivered, CRC of the last delivered line]; a bare count (older firmware) has no CRC
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return [v, ""], 0
    if (isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and not isinstance(v[0], bool)
            and v[0] >= 0 and isinstance(v[1], str)):
        return v, 0
    return None, "not a delivery mark"


class TxQueue:
    def __init__(self, fs_root):
        self.log = fs_root + "/" + LOG
        self.headf = fs_root + "/" + HEAD
        self.items = []  # [action, payload] not yet delivered, oldest first
        self.crcs = []  # the CRC text of each item's line: the delivery mark names the last one
        self.torn = 0  # damaged lines skipped at load
        self.dropped = 0  # records not queued because the queue was full
        self.write_errors = 0
        self.unsaved = False  # the file is behind self.items (a write failed): rewrite when possible
        self.delivered = 0  # the delivery mark (ocpp_txq.head): lines delivered ...
        self.mark = ""  # ... and the CRC of the last of them
        self._load()

    def _start(self, recs):
        # The position of the first undelivered line. The mark's CRC must be the line before it;
        # if damage moved the lines, the line with that CRC is searched for; not found, everything
        # is sent again (OCPP delivery is at-least-once) and that is reported.
        n = self.delivered
        crc = self.mark
        if not crc:
            return n
        at = -1
        for pos, c, _ in recs:
            if c == crc:
                at = pos
                if pos == n - 1:  # where the mark says: nothing moved
                    break
        if at < 0:
            if n:
                persist.problem(self.headf, persist.REJECTED, "last delivered event not in the log: %d resent"
                                % len(recs))
            return 0
        return at + 1

    def _load(self):
        head = persist.load_json(self.headf, [0, ""], _head_check)
        self.delivered = head[0]
        self.mark = head[1]
        why = persist.unreadable(self.log)
        if why:  # kept aside whole (its events cannot be read now); the queue starts afresh
            persist.problem(self.log, persist.REJECTED, why)
            persist.set_aside(self.log)
            self._rewrite()
            return
        recs = []  # (line position, crc, [action, payload]) of every intact line
        i = 0
        damaged = 0
        torn = False
        for ln in persist.lines(self.log, MAX_LINE):
            rec = _record(ln)
            torn = rec is None and ln is not None and not ln.endswith("\n")
            if rec is not None:
                recs.append((i, ln[:8], rec))
            elif not torn and ln != "\n":  # an empty line is a newline that isolated a torn tail
                damaged += 1
            i += 1
        start = self._start(recs)
        for pos, crc, rec in recs:
            if pos < start:
                continue
            if len(self.items) < MAX_ITEMS or essential(rec[0], rec[1]):
                self.items.append(rec)
                self.crcs.append(crc)
            else:
                self.dropped += 1
        self.torn = damaged + torn
        if damaged:
            persist.problem(self.log, persist.BAD_LINES,
                            "%d damaged lines skipped, %d records kept" % (damaged, len(recs)), damaged)
            persist.set_aside(self.log)
        elif torn:
            persist.problem(self.log, persist.BAD_LINES, "torn last record dropped (power loss)")
        if start > i:
            persist.problem(self.headf, persist.REJECTED, "mark %d beyond the %d lines in the log" % (start, i))
        if self.dropped:
            persist.problem(self.log, persist.DROPPED, "over %d records: %d Updated/MeterValues dropped" % (
                MAX_ITEMS, self.dropped), self.dropped)
        if damaged or torn or self.dropped or start > i or (i and not self.items):
            # a clean log of exactly the undelivered records, so appends start on a fresh line
            self._rewrite()

    def _rewrite(self):
        ok = persist.write_lines(self.log, (_line(a, p) for a, p in self.items))
        self.delivered = 0
        self.mark = ""
        ok = ok and persist.save_json(self.headf, [0, ""])
        if not ok:
            self.write_errors += 1
        self.unsaved = not ok
        return ok

    def push(self, action, payload):
        # -> True when queued; False when dropped because the queue is full (counted, reported)
        if len(self.items) >= MAX_ITEMS and not essential(action, payload):
            self.dropped += 1
            persist.problem(self.log, persist.DROPPED, "queue full (%d): %s %s dropped" % (
                MAX_ITEMS, action, payload.get("eventType", "")))
            return False
        line = _line(action, payload)
        self.items.append([action, payload])
        self.crcs.append(line[:8])
        if self.unsaved:
            self._rewrite()
        elif not persist.append(self.log, ("" if persist.ends_clean(self.log) else "\n") + line):
            self.write_errors += 1
            persist.free_bad(self.log)
            self._rewrite()  # also replaces a partial line the failed append may have left
        return True

    def records(self):
        # the undelivered records, oldest first: [action, payload] each
        for r in self.items:
            yield r

    def peek(self):
        return self.items[0] if self.items else None

    def pop(self):
        # The head was delivered (CALLRESULT received, or given up after MessageAttempts).
        self.items.pop(0)
        crc = self.crcs.pop(0)
        if not self.items or self.unsaved:
            self._rewrite()
            return
        self.delivered += 1
        self.mark = crc
        if not persist.save_json(self.headf, [self.delivered, crc]):
            self.write_errors += 1
            self.unsaved = True

    def status(self):
        return {"queued": len(self.items), "torn": self.torn, "dropped": self.dropped,
                "write_errors": self.write_errors, "unsaved": self.unsaved}

    def __len__(self):
        return len(self.items)
