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
# The queue streams from the log: in RAM are only the count of undelivered records, the byte
# offset of the first one and that one record once it is asked for (peek), whatever the queue's
# length (an event is ~730 B parsed: a long outage must not fill the heap). Delivering it moves
# the offset past its line and saves the mark; once every record is delivered the log is
# truncated, and when the delivered front grows past COMPACT_BYTES the undelivered rest is copied
# into a fresh log (streamed, line by line).
# Load (one streamed pass): a line whose CRC, JSON or shape is wrong is skipped and counted; the
# records before and after it are kept in order. A damaged log is kept as ocpp_txq.log.bad-1 and
# the intact undelivered records are copied into a fresh one (a torn last line, from a power loss
# mid-append, is simply dropped: that event was never acknowledged as queued). A record damaged
# after the load is skipped and counted when it comes up for sending.
#
# Bound (docs/persistence.md): at most MAX_ITEMS records (flash, not RAM, is what it bounds now).
# When full, a new Updated TransactionEvent or MeterValues is dropped and counted (its seqNo shows
# the gap to the CSMS); Started and Ended events are always queued.
# A failing write (full filesystem) first frees the set-aside copies and rewrites the log; what
# still cannot be written waits in RAM, at most RAM_ITEMS records (delivered in order after the
# log's), and is written with the next push or pop that finds room; beyond that, events are
# dropped (Started and Ended too: there is nowhere to keep them), counted and reported.
import binascii
import json
from micropython import const
from jezgro import persist

LOG = "ocpp_txq.log"
HEAD = "ocpp_txq.head"
MAX_ITEMS = const(200)
MAX_LINE = const(32800)  # a record is one OCPP message: max_message (ocpp.json) <= 32768 bytes
RAM_ITEMS = const(8)  # records kept in RAM while the filesystem refuses every write
COMPACT_BYTES = const(16384)  # delivered bytes at the front of the log that make it rewritten


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
        self.n = 0  # undelivered records: in the log from self.off on, then those in self.ram
        self.off = 0  # byte offset of the first undelivered line
        self.head = _nothing()  # [action, payload] at the head (None: not read yet), its line's bytes
        self.head_len = 0  # (-1: the head is in RAM) and CRC
        self.head_crc = ""
        self.ram = []  # lines no write took (filesystem full), after the log's records; <= RAM_ITEMS
        self.torn = 0  # damaged lines skipped (at load, or when they came up for sending)
        self.dropped = 0  # records not queued: the queue full, or the filesystem full and RAM_ITEMS in RAM
        self.write_errors = 0
        self.unsaved = False  # records wait in RAM (self.ram) for the filesystem
        self.delivered = 0  # the delivery mark (ocpp_txq.head): lines delivered ...
        self.mark = ""  # ... and the CRC of the last of them
        self._load()

    def _load(self):
        head = persist.load_json(self.headf, [0, ""], _head_check)
        self.delivered = head[0]
        self.mark = head[1]
        why = persist.unreadable(self.log)
        if why:  # kept aside whole (its events cannot be read now); the queue starts afresh
            persist.problem(self.log, persist.REJECTED, why)
            persist.set_aside(self.log)
            self._rewrite(None, 0)
            return
        # One pass: where delivery resumes (the line after the one the mark names: exactly where it
        # says, else the last line with that CRC; without a CRC, the mark's line count), what is damaged.
        i = 0  # lines
        pos = 0  # bytes (meaningful only while nothing is damaged: damage means a rewrite anyway)
        intact = 0
        damaged = 0
        torn = False
        at = -1  # the line the mark names
        at_pos = 0
        at_intact = 0
        want = self.delivered - 1
        for ln in persist.lines(self.log, MAX_LINE):
            if not self.mark and i == self.delivered:
                at, at_pos, at_intact = i - 1, pos, intact
            rec = _record(ln)
            torn = rec is None and ln is not None and not ln.endswith("\n")
            pos += len(ln.encode()) if ln is not None else 0
            if rec is not None:
                intact += 1
                if self.mark and at != want and ln[:8] == self.mark:
                    at, at_pos, at_intact = i, pos, intact
            elif not torn and ln != "\n":  # an empty line is a newline that isolated a torn tail
                damaged += 1
            i += 1
        if not self.mark and self.delivered == i:
            at, at_pos, at_intact = i - 1, pos, intact
        start = at + 1
        if self.mark and at < 0:
            if self.delivered:
                persist.problem(self.headf, persist.REJECTED, "last delivered event not in the log: %d resent"
                                % intact)
            start, at_pos, at_intact = 0, 0, 0
        beyond = not self.mark and self.delivered > i
        if beyond:
            persist.problem(self.headf, persist.REJECTED, "mark %d beyond the %d lines in the log" % (
                self.delivered, i))
            start, at_pos, at_intact = i, pos, intact
        self.torn = damaged + torn
        if damaged:
            persist.problem(self.log, persist.BAD_LINES,
                            "%d damaged lines skipped, %d records kept" % (damaged, intact), damaged)
        elif torn:
            persist.problem(self.log, persist.BAD_LINES, "torn last record dropped (power loss)")
        left = intact - at_intact
        if damaged or torn or beyond or left > MAX_ITEMS or (i and not left):
            # a clean log of exactly the undelivered records, so appends start on a fresh line
            src = (persist.set_aside(self.log) if damaged else None) or self.log
            if self._rewrite(src, start):
                if self.dropped:
                    persist.problem(self.log, persist.DROPPED, "over %d records: %d Updated/MeterValues dropped" % (
                        MAX_ITEMS, self.dropped), self.dropped)
                return
            if src != self.log:  # the intact records are in the set-aside copy only: said and counted
                self.dropped += left
                persist.problem(self.log, persist.DROPPED, "filesystem full: %d undelivered records not "
                                "rewritten (kept in %s)" % (left, persist.name_of(src)), left)
                return
        self.n = left  # as it is (the rewrite failed: the filesystem is full; the bound waits)
        self.off = at_pos

    def _rewrite(self, src, start, at=0):
        # A fresh log: the intact records of src from line `start` (or from byte `at`), bounded by
        # MAX_ITEMS (Started/Ended always kept), then the lines waiting in RAM; streamed, never all in
        # RAM. The mark starts again at 0. -> True, or False (the old log and mark stay as they were).
        kept = [0, 0]  # records written, records dropped for the bound

        def records():
            if src is not None:
                i = 0
                for ln in persist.lines(src, MAX_LINE, at):
                    rec = _record(ln)
                    if rec is not None and i >= start:
                        if kept[0] < MAX_ITEMS or essential(rec[0], rec[1]):
                            kept[0] += 1
                            yield ln
                        else:
                            kept[1] += 1
                    i += 1
            for ln in self.ram:
                yield ln
        if not persist.write_lines(self.log, records()):
            self.write_errors += 1
            return False
        self.dropped += kept[1]
        self.n = kept[0] + len(self.ram)
        self.off = 0
        self.ram = []
        self.unsaved = False
        self.head = None
        self.delivered = 0
        self.mark = ""
        if not persist.save_json(self.headf, [0, ""]):
            self.write_errors += 1  # the old mark's CRC is not in the new log: all resent after a reboot
        return True

    def _flush(self):
        # the records waiting in RAM go to the filesystem, with the log's undelivered ones (rewritten:
        # a failed append may have left a partial line)
        return self._rewrite(self.log, 0, self.off)

    def push(self, action, payload):
        # -> True when queued; False when dropped (counted, reported): the queue is full, or the
        # filesystem refuses the write and RAM_ITEMS records already wait in RAM
        if len(self) >= MAX_ITEMS and not essential(action, payload):
            self.dropped += 1
            persist.problem(self.log, persist.DROPPED, "queue full (%d): %s %s dropped" % (
                MAX_ITEMS, action, payload.get("eventType", "")))
            return False
        line = _line(action, payload)
        if self.ram:
            self._flush()
        retry = False
        if not self.ram:
            if persist.append(self.log, ("" if persist.ends_clean(self.log) else "\n") + line):
                self.n += 1
                return True
            self.write_errors += 1
            persist.free_bad(self.log)
            retry = True  # the rewrite also drops a partial line the append left
        if len(self.ram) >= RAM_ITEMS:
            self.dropped += 1
            persist.problem(self.log, persist.DROPPED, "filesystem full, %d records wait in RAM: %s %s dropped" % (
                RAM_ITEMS, action, payload.get("eventType", "")), 1)
            return False
        self.ram.append(line)
        self.n += 1
        self.unsaved = True
        if retry:
            self._flush()
        return True

    def peek(self):
        if self.head is None:
            self._read_head()
        return self.head

    def _read_head(self):
        while self.n > len(self.ram):
            ln, size = persist.line_at(self.log, self.off, MAX_LINE)
            if not size:  # the log ends before its records do: damaged since the load
                lost = self.n - len(self.ram)
                self.torn += lost
                self.n -= lost
                persist.problem(self.log, persist.BAD_LINES, "log ends %d records early" % lost, lost)
                break
            rec = _record(ln)
            if rec is None:
                # an empty line (the newline that isolated a torn tail) is no record; anything else is one
                # damaged since it was loaded: skipped, counted
                self.off += size
                self.delivered += 1
                if ln != "\n":
                    self.n -= 1
                    self.torn += 1
                    persist.problem(self.log, persist.BAD_LINES, "damaged record skipped before sending")
                continue
            self.head = rec
            self.head_len = size
            self.head_crc = ln[:8]
            return
        if self.ram:
            self.head = _record(self.ram[0])
            self.head_len = -1

    def pop(self):
        # The head was delivered (CALLRESULT received, or given up after MessageAttempts).
        if self.peek() is None:
            return
        self.head = None
        self.n -= 1
        if self.head_len < 0:
            self.ram.pop(0)
        else:
            self.off += self.head_len
            self.delivered += 1
            self.mark = self.head_crc
        if (self.ram or not self.n or self.off >= COMPACT_BYTES) and self._flush():
            return  # RAM waited for the filesystem; nothing left (truncated); or the delivered front was large
        if not persist.save_json(self.headf, [self.delivered, self.mark]):
            self.write_errors += 1  # a reboot resends from the previous mark (at least once)

    def records(self):
        # the undelivered records, oldest first: [action, payload] each (streamed from the log)
        n = self.n - len(self.ram)
        for ln in persist.lines(self.log, MAX_LINE, self.off):  # to the end: the reader closes the file there
            rec = _record(ln) if n > 0 else None
            if rec is not None:
                n -= 1
                yield rec
        for ln in self.ram:
            yield _record(ln)

    def status(self):
        return {"queued": len(self), "torn": self.torn, "dropped": self.dropped,
                "write_errors": self.write_errors, "unsaved": self.unsaved, "in_ram": len(self.ram)}

    def __len__(self):
        return self.n


def _nothing():
    # None typed as "anything" for mypy (the head record is None until read)
    return None
