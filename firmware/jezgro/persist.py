# The one way firmware code reads and writes its files (docs/persistence.md).
#
# Flash wears, power fails mid-write and people copy the wrong file onto a board, so nothing read
# here is trusted and nothing here raises: every read returns the content or a reason, every write
# returns True or False. What went wrong is counted per file name in FILES (the simulation summary's
# "storage", the services' status) and queued in EVENTS for AUDIT_LOGGER to write down, so callers
# decide only what the outcome means for them (use, salvage, reject) instead of each inventing its
# own try/except.
#
# Whole-file reads are capped (a file larger than the cap is refused before it is read: a huge file
# must not exhaust the heap); line reads go in small chunks with a per-line cap. Content is read as
# bytes and decoded here, so bytes that are not UTF-8 are a reason, not a UnicodeError somewhere.
# A damaged file that a caller replaces is first set aside as NAME.bad-1 (the previous one becomes
# NAME.bad-2, older ones go), for inspection.
#
# Fault hook (tests, the unix port): FAIL maps a file name to an errno; opening that file for
# writing (or, with the name prefixed by "r:", for reading) raises OSError(errno). That is how the
# tests make a full filesystem (ENOSPC) or an unreadable file: they run as root, where chmod 000
# does not stop a read.
import errno
import json
import os
from micropython import const

ENOSPC = const(28)  # not in MicroPython's errno module; littlefs and FAT report it with this number
MAX_TEXT = const(16384)  # default cap of a whole-file read, bytes
CHUNK = const(256)
KEEP_BAD = const(2)  # set-aside copies kept per file
MAX_EVENTS = const(16)
EACCES = errno.EACCES  # for the fault hook's users

# The counters kept per file name in FILES: [rejected, bad_lines, set_aside, write_errors, dropped,
# last reason], indexed by these kinds.
REJECTED = const(0)
BAD_LINES = const(1)
SET_ASIDE = const(2)
WRITE_ERRORS = const(3)
DROPPED = const(4)
FILES = {}  # type: dict
EVENTS = []  # type: list  # (file name, text) waiting for AUDIT_LOGGER, oldest first, at most MAX_EVENTS
events_lost = 0  # EVENTS overflowed before AUDIT_LOGGER took them
gen = 0  # bumped by every problem: a cheap "anything new?" for those that report them
FAIL = {}  # type: dict


def name_of(path):
    return path[path.rfind("/") + 1:]


def problem(path, kind, text, n=1):
    # Counts n of kind (REJECTED ...) for the file and queues "<file>: <text>" for the audit log.
    global events_lost, gen
    gen += 1
    name = name_of(path)
    c = FILES.get(name)
    if c is None:
        c = FILES[name] = [0, 0, 0, 0, 0, ""]
    c[kind] += n
    c[5] = text
    if len(EVENTS) >= MAX_EVENTS:
        events_lost += 1
        return
    EVENTS.append((name, text))


def take_event():
    # -> (file name, text) of the oldest problem not yet logged, or None
    return EVENTS.pop(0) if EVENTS else None


_KINDS = ("rejected", "bad_lines", "set_aside", "write_errors", "dropped")  # their names in report()


def report(names=None):
    # -> {file: {"rejected": n, ..., "last": reason}} for the given file names (all when None)
    out = {}
    for name, c in FILES.items():
        if names is None or name in names:
            d = {"last": c[5]}
            for i in range(5):
                if c[i]:
                    d[_KINDS[i]] = c[i]
            out[name] = d
    return out


_REASONS = {errno.ENOENT: "missing", errno.EACCES: "permission denied", errno.EISDIR: "is a directory",
            ENOSPC: "filesystem full"}


def reason(e):
    # OSError -> a short reason a user can act on
    n = e.args[0] if e.args else 0
    return _REASONS.get(n) or "I/O error %s" % n


def _fault(path, mode):
    name = name_of(path)
    if name.endswith(".tmp"):  # an atomic write of NAME fails like NAME
        name = name[:-4]
    n = FAIL.get(("r:" if mode == "rb" else "") + name)
    if n:
        raise OSError(n)


def _open(path, mode):
    _fault(path, mode)
    return open(path, mode)


def size(path):
    # -> size in bytes, -1 missing, -2 a directory, -3 not readable
    try:
        st = os.stat(path)
    except OSError as e:
        return -1 if e.args and e.args[0] == errno.ENOENT else -3
    return -2 if st[0] & 0x4000 else st[6]


def read_bytes(path, limit=MAX_TEXT):
    # -> (bytes, "") or (None, reason); reason "missing" when there is no such file
    n = size(path)
    if n == -1:
        return None, "missing"
    if n == -2:
        return None, "is a directory"
    if n > limit:
        return None, "too large (%d bytes, at most %d)" % (n, limit)
    try:
        with _open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        return None, reason(e)
    except MemoryError:
        return None, "too large for the free heap"
    if len(data) > limit:  # grew since the stat
        return None, "too large (at most %d bytes)" % limit
    return data, ""


def unreadable(path):
    # -> "" when path is a file that opens for reading (or is missing), else the reason
    n = size(path)
    if n == -2:
        return "is a directory"
    if n == -3:
        return "not readable"
    if n < 0:
        return ""
    try:
        _open(path, "rb").close()
        return ""
    except OSError as e:
        return reason(e)


def text_of(data):
    # bytes -> str, or None when they are not UTF-8
    try:
        return data.decode()
    except ValueError:  # UnicodeError
        return None


def read_text(path, limit=MAX_TEXT):
    # -> (str, "") or (None, reason)
    data, why = read_bytes(path, limit)
    if data is None:
        return None, why
    s = text_of(data)
    if s is None:
        return None, "not UTF-8 text"
    return s, ""


def parse_json(text):
    # -> (value, "") or (None, reason): whatever json.loads raises on garbage is a reason here
    if not text or not text.strip():
        return None, "empty"
    try:
        return json.loads(text), ""
    except Exception as e:  # ValueError on bad syntax; others on pathological input
        return None, "not JSON (%s)" % (e.args[0] if e.args else type(e).__name__)


def read_json(path, limit=MAX_TEXT):
    # -> (value, "") or (None, reason)
    text, why = read_text(path, limit)
    if text is None:
        return None, why
    return parse_json(text)


def load_json(path, default, check=None, limit=MAX_TEXT):
    # A state file: -> its value (check(value) -> (value to use, entries dropped) or (None, reason)),
    # or default when missing. A file that cannot be used is reported, set aside and default returned;
    # entries check drops are counted as dropped (the rest is used).
    v, why = read_json(path, limit)
    if v is None:
        if why != "missing":
            problem(path, REJECTED, why)
            set_aside(path)
        return default
    if check is None:
        return v
    try:
        v, dropped = check(v)
    except Exception as e:  # a check that trips over an unexpected shape: the file is unusable
        v, dropped = None, "unexpected content (%s)" % type(e).__name__
    if v is None:
        problem(path, REJECTED, dropped)
        set_aside(path)
        return default
    if dropped:
        problem(path, DROPPED, "%d unusable entries dropped" % dropped, dropped)
    return v


def entries(v, kind, ok):
    # A load_json check for a dict or list of entries: -> (v without the entries ok(entry) refuses,
    # how many it refused), or (None, reason) when v is not a kind at all.
    if not isinstance(v, kind):
        return None, "not a JSON %s" % ("object" if kind is dict else "array")
    if kind is dict:
        bad = [k for k, e in v.items() if not ok(e)]
        for k in bad:
            del v[k]
        return v, len(bad)
    good = [e for e in v if ok(e)]
    return good, len(v) - len(good)


def write_atomic(path, text):
    return write_lines(path, (text,))


def save_json(path, obj):
    return write_atomic(path, json.dumps(obj))


def write_lines(path, texts):
    # Write a temporary file, then rename it over the old one (atomic on littlefs and POSIX: a power
    # loss leaves the old or the new content); the pieces are written as they come (a queue, a
    # salvaged log: never all in RAM). -> True, or False (counted; the old file is kept).
    tmp = path + ".tmp"
    try:
        with _open(tmp, "w") as f:
            for t in texts:
                f.write(t)
        os.rename(tmp, path)
        return True
    except OSError as e:
        problem(path, WRITE_ERRORS, "write failed: " + reason(e))
        remove(tmp)
        return False


def ends_clean(path):
    # -> True when an appended line will start on a line of its own: the file is empty, missing or
    # ends with a newline (not with a torn write or garbage)
    n = size(path)
    if n <= 0:
        return True
    try:
        with _open(path, "rb") as f:
            f.seek(n - 1)
            return f.read(1) == b"\n"
    except OSError:
        return False


def append(path, text):
    # -> True, or False with the write error counted. A failed append may leave a partial line:
    # line-oriented readers skip it as torn.
    try:
        with _open(path, "a") as f:
            f.write(text)
        return True
    except OSError as e:
        problem(path, WRITE_ERRORS, "append failed: " + reason(e))
        return False


def remove(path):
    try:
        os.remove(path)
        return True
    except OSError:
        return False


def rename(src, dst):
    try:
        os.rename(src, dst)
        return True
    except OSError:
        return False


def set_aside(path):
    # Keeps a damaged file (or directory) for inspection as NAME.bad-1 and makes room for a fresh
    # one; -> the new name, or None when it could not be moved (then the caller works without it).
    i = KEEP_BAD
    _discard(path + ".bad-%d" % i)
    while i > 1:
        rename(path + ".bad-%d" % (i - 1), path + ".bad-%d" % i)
        i -= 1
    dst = path + ".bad-1"
    if rename(path, dst):
        problem(path, SET_ASIDE, "kept as " + name_of(dst))
        return dst
    return None


def free_bad(path):
    # Full filesystem: the set-aside copies of path go first. -> True when something was freed.
    freed = False
    for i in range(1, KEEP_BAD + 1):
        freed = _discard(path + ".bad-%d" % i) or freed
    return freed


def _discard(path):
    # a file or an (emptied) directory; -> True when it is gone now and was there
    if remove(path):
        return True
    try:
        for name in os.listdir(path):
            remove(path + "/" + name)
        os.rmdir(path)
        return True
    except OSError:
        return False


def lines(path, max_line=1024, start=0):
    # Yields each line of a line-oriented file, from byte offset start, as str including its "\n" (the
    # last one may lack it: torn), or None for a line that is damaged: longer than max_line or not
    # UTF-8. Reads in CHUNK-byte pieces, so a huge or line-less file costs at most max_line bytes of
    # heap. A file that cannot be opened yields nothing (missing: silently; else reported as rejected).
    try:
        f = _open(path, "rb")
        if start:
            f.seek(start)
    except OSError as e:
        if e.args and e.args[0] != errno.ENOENT:
            problem(path, REJECTED, reason(e))
        return
    buf = b""
    skipping = False
    try:
        while True:
            try:
                chunk = f.read(CHUNK)
            except OSError as e:  # a directory opens on the unix port; reading it fails
                problem(path, REJECTED, reason(e))
                return
            if not chunk:
                break
            buf += chunk
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = buf[:i + 1]
                buf = buf[i + 1:]
                if skipping:
                    skipping = False
                    yield None
                else:
                    yield text_of(line) if len(line) <= max_line else None
            if len(buf) > max_line:
                skipping = True
                buf = b""
        if skipping:
            yield None
        elif buf:  # the last line, without its newline: the caller decides if it is a torn write
            yield text_of(buf)
    finally:
        f.close()


def line_at(path, off, max_line=1024):
    # -> (the line at byte offset off as str including its "\n", its length in bytes): one record of a
    # line-oriented file without reading the rest. The text is None when the line is damaged (longer
    # than max_line, not UTF-8; its length is still right, so the caller can skip it); (None, 0) at
    # the end of the file or when it cannot be read (reported as rejected, unless missing).
    try:
        f = _open(path, "rb")
    except OSError as e:
        if e.args and e.args[0] != errno.ENOENT:
            problem(path, REJECTED, reason(e))
        return None, 0
    buf = b""
    skipped = 0  # bytes of an over-long line not kept
    try:
        f.seek(off)
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            i = chunk.find(b"\n")
            if i >= 0:
                buf += chunk[:i + 1]
                break
            buf += chunk
            if len(buf) > max_line:
                skipped += len(buf)
                buf = b""
    except OSError as e:
        problem(path, REJECTED, reason(e))
        return None, 0
    finally:
        f.close()
    n = skipped + len(buf)
    if skipped or len(buf) > max_line or not n:
        return None, n
    return text_of(buf), n
