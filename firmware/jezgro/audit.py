# Append-only, power-loss-safe audit log on the board filesystem.
#
# One record per line: a JSON object, a space, '#', the CRC32 of the JSON
# text as 8 hex digits, '\n'. A line without its newline or with a wrong
# CRC is a torn write (power lost mid-append): readers skip it and count it,
# and the writer starts its next record on a fresh line, so a torn tail never
# takes a good record with it. littlefs on the board commits on close, which
# makes tearing rarer still; the format does not rely on it.
#
# Rotation keeps the log within budget: the active file moves to NAME.1 when
# it would grow past half the budget (the previous NAME.1 is dropped).
#
# Damage beyond a torn tail (garbage, a directory, an unreadable or oversized
# segment: check(), at AUDIT_LOGGER's start) is salvaged: the intact records
# are copied, in order, into a fresh segment and the damaged one is kept as
# NAME.bad-1 (jezgro.persist). A full filesystem frees space in this order:
# the set-aside copies, then the older segment (its records are lost and
# that is counted); a record that still cannot be written is counted as lost
# and the logger carries on. All reading and writing goes through
# jezgro.persist, which never raises.
import json
import binascii
from jezgro import persist

ACTIVE = "audit.log"
OLDER = "audit.1.log"
MAX_LINE = 2048  # longer lines are damage: the writer never makes them (budget >= 4096)


def encode(rec):
    body = json.dumps(rec)
    return "%s #%08x\n" % (body, binascii.crc32(body.encode()) & 0xFFFFFFFF)


def decode(line):
    # -> record dict, or None if the line is torn or corrupt.
    if line is None or not line.endswith("\n"):
        return None
    cut = line.rfind(" #")
    if cut < 0 or len(line) - cut != 11:
        return None
    body = line[:cut]
    try:
        if int(line[cut + 2:cut + 10], 16) != binascii.crc32(body.encode()) & 0xFFFFFFFF:
            return None
        rec = json.loads(body)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


class AuditLog:
    def __init__(self, root, budget_bytes=65536):
        self.root = root
        self.active = root + "/" + ACTIVE
        self.older = root + "/" + OLDER
        self.budget = budget_bytes
        self.written = 0
        # kernel events (AUDIT_EVENT) on the filesystem since boot, across the logger's restarts (the
        # service keeps it in its store): what a soak compares with the kernel's count of events sent
        self.kernel_events = 0
        self.rotations = 0
        self.write_errors = 0
        self.lost = 0  # records that could not be written even after freeing space
        self.freed = 0  # space-freeing steps taken on a full filesystem
        self.salvaged = 0  # damaged segments replaced by their intact records
        self._size = -1

    def check(self):
        # Salvages each damaged segment (anything worse than a torn last record); -> the number of
        # damaged lines found. Run once at the logger's start: the reads cost a pass over the log.
        bad = 0
        for path in (self.older, self.active):
            why = persist.unreadable(path)
            if why:  # kept aside whole: what is in it cannot be read now
                persist.problem(path, persist.REJECTED, why)
                bad += 1
                persist.set_aside(path)
                continue
            good = 0
            damaged = 0
            for line in persist.lines(path, MAX_LINE):
                if decode(line) is not None:
                    good += 1
                elif line is not None and not line.endswith("\n") and line.startswith("{"):
                    # the last line, the start of a record without its end: a power loss. Counted;
                    # the next append starts on a fresh line, so nothing needs rewriting.
                    persist.problem(path, persist.BAD_LINES, "torn last record skipped (power loss)")
                elif line != "\n":
                    damaged += 1
            if damaged:
                bad += damaged
                self._salvage(path, good, damaged)
        self._size = -1
        return bad

    def _salvage(self, path, good, damaged):
        persist.problem(path, persist.BAD_LINES, "%d damaged lines skipped, %d records kept" % (damaged, good),
                        damaged)
        aside = persist.set_aside(path)
        self.salvaged += 1
        if aside is None:
            return
        ok = persist.write_lines(path, (ln for ln in persist.lines(aside, MAX_LINE) if decode(ln) is not None))
        if not ok:
            persist.remove(path)

    def append(self, rec):
        # -> True when the record is on the filesystem; False when it is lost (counted).
        line = encode(rec)
        if len(line) > self.budget // 2:
            raise ValueError("audit record larger than half the log budget")
        n = persist.size(self.active)
        if n != self._size:  # first append, or the file changed under us (damage, replaced)
            self._size = max(0, n)
            if not persist.ends_clean(self.active):
                line = "\n" + line  # isolate a torn tail (power loss) or garbage from this record
        if self._size + len(line) > self.budget // 2:
            self._rotate()
        if not persist.append(self.active, line):
            self.write_errors += 1
            if not self._free():
                self.lost += 1
                self._size = -1
                return False
            if not persist.append(self.active, line):
                self.write_errors += 1
                self.lost += 1
                self._size = -1
                return False
        self._size += len(line)
        self.written += 1
        return True

    def _free(self):
        # Full filesystem (or a failing write): set-aside copies first, then the older segment.
        # -> True when something was freed (worth one more try).
        self.freed += 1
        if persist.free_bad(self.active) | persist.free_bad(self.older):
            return True
        if persist.remove(self.older):
            persist.problem(self.older, persist.DROPPED, "removed to free space for new records")
            return True
        return False

    def _rotate(self):
        persist.remove(self.older)
        if persist.rename(self.active, self.older):
            self.rotations += 1
        else:
            persist.remove(self.active)  # cannot keep it: a fresh segment rather than no log
        self._size = 0

    def records(self, stats=None):
        # Yields every intact record, oldest first; counts torn ones in stats["torn"].
        for path in (self.older, self.active):
            for line in persist.lines(path, MAX_LINE):
                rec = decode(line)
                if rec is None:
                    if line != "\n" and stats is not None:
                        stats["torn"] = stats.get("torn", 0) + 1
                    continue
                yield rec

    def last(self):
        rec = None
        for rec in self.records():
            pass
        return rec

    def status(self):
        return {"written": self.written, "kernel_events": self.kernel_events, "rotations": self.rotations, "write_errors": self.write_errors,
                "lost": self.lost, "freed": self.freed, "salvaged": self.salvaged,
                "storage": persist.report((ACTIVE, OLDER))}
