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
import json
import os
import binascii

ACTIVE = "audit.log"
OLDER = "audit.1.log"


def encode(rec):
    body = json.dumps(rec)
    return "%s #%08x\n" % (body, binascii.crc32(body.encode()) & 0xFFFFFFFF)


def decode(line):
    # -> record dict, or None if the line is torn or corrupt.
    if not line.endswith("\n"):
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


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class AuditLog:
    def __init__(self, root, budget_bytes=65536):
        self.root = root
        self.active = root + "/" + ACTIVE
        self.older = root + "/" + OLDER
        self.budget = budget_bytes
        self.written = 0
        self.rotations = 0
        self.write_errors = 0
        self._size = -1

    def _tail_is_clean(self):
        size = _size(self.active)
        if size <= 0:
            return True
        with open(self.active, "rb") as f:
            f.seek(size - 1)
            return f.read(1) == b"\n"

    def append(self, rec):
        line = encode(rec)
        if len(line) > self.budget // 2:
            raise ValueError("audit record larger than half the log budget")
        if self._size < 0:
            self._size = max(0, _size(self.active))
            if not self._tail_is_clean():
                line = "\n" + line  # isolate a torn tail left by a power loss
        if self._size + len(line) > self.budget // 2:
            self._rotate()
        try:
            with open(self.active, "a") as f:
                f.write(line)
        except OSError:
            self.write_errors += 1
            self._size = -1
            raise
        self._size += len(line)
        self.written += 1

    def _rotate(self):
        try:
            os.remove(self.older)
        except OSError:
            pass
        os.rename(self.active, self.older)
        self.rotations += 1
        self._size = 0

    def records(self, stats=None):
        # Yields every intact record, oldest first; counts torn ones in stats["torn"].
        for path in (self.older, self.active):
            try:
                f = open(path)
            except OSError:
                continue
            with f:
                while True:
                    line = f.readline()
                    if not line:
                        break
                    rec = decode(line)
                    if rec is None:
                        if line.strip() and stats is not None:
                            stats["torn"] = stats.get("torn", 0) + 1
                        continue
                    yield rec

    def last(self):
        rec = None
        for rec in self.records():
            pass
        return rec
