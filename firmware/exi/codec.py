"""Schema-informed, bit-packed EXI for V2G (header 0x80, non-strict, no value string tables, no built-in
element grammars): a small interpreter of the grammar tables in exi/grammars (generated from the XSDs,
layout described in host_tools/jezgro_host/exigen/emit.py).

Documents are plain dicts/lists in the EXIficient JSON shape: element names as keys, a list for an
element that may repeat, hexBinary as upper-case hex, base64Binary as base64, enumerations as strings.

Decoding never trusts the stream: every length and count is checked against the schema (maxLength,
maxOccurs) before anything is allocated, recursion depth is capped and a total budget bounds what one
document may allocate. Any violation raises EXIError, which the session turns into its failure response.
"""
import binascii

# production kinds and flags (host_tools/jezgro_host/exigen/grammar.py)
_SE = 0
_AT = 1
_CH = 2
_EE = 3
_F_LIST = 0x10
# datatype kinds
_D_BOOL = 0
_D_NBIT = 1
_D_UINT = 2
_D_INT = 3
_D_STR = 4
_D_HEX = 5
_D_B64 = 6
_D_ENUM = 7

HEADER = 0x80
# second-level event code width in a simple type's first state (non-strict: EE, xsi:type, xsi:nil,
# AT(*), SE(*), CH untyped); EE is code 0 there
_SIMPLE_L2_BITS = 3
MAX_DEPTH = 24
DEFAULT_BUDGET = 24576   # approximate bytes one decoded document may allocate
_OBJ_COST = 48           # budget charged per dict/list/value created


class EXIError(ValueError):
    """A document that cannot be decoded or encoded; the message says where and why."""


class _Reader:
    def __init__(self, data, budget: int, new_obj=dict):
        self.new_obj = new_obj
        self.d = data
        self.pos = 8                  # bit position, after the header byte
        self.end = len(data) * 8
        self.budget = budget

    def charge(self, n: int) -> None:
        self.budget -= n
        if self.budget < 0:
            raise EXIError("document exceeds the decode budget")

    def bits(self, n: int) -> int:
        pos = self.pos
        end = pos + n
        if end > self.end:
            raise EXIError("truncated stream")
        d = self.d
        v = 0
        while pos < end:
            off = pos & 7
            take = 8 - off
            if take > end - pos:
                take = end - pos
            v = (v << take) | ((d[pos >> 3] >> (8 - off - take)) & ((1 << take) - 1))
            pos += take
        self.pos = pos
        return v

    def uint(self, maxbits: int) -> int:
        # EXI Unsigned Integer: 7-bit groups, least significant first, high bit = more follow
        v = 0
        shift = 0
        while True:
            b = self.bits(8)
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
            if shift >= maxbits:
                raise EXIError("integer longer than its type allows")


class _Writer:
    def __init__(self):
        self.buf = bytearray((HEADER,))
        self.acc = 0
        self.n = 0

    def bits(self, v: int, n: int) -> None:
        while n > 16:
            n -= 8
            self.bits((v >> n) & 0xFF, 8)
        self.acc = (self.acc << n) | v
        self.n += n
        while self.n >= 8:
            self.n -= 8
            self.buf.append((self.acc >> self.n) & 0xFF)
        self.acc &= (1 << self.n) - 1

    def uint(self, v: int) -> None:
        while v > 0x7F:
            self.bits((v & 0x7F) | 0x80, 8)
            v >>= 7
        self.bits(v, 8)

    def done(self) -> bytes:
        if self.n:
            self.buf.append((self.acc << (8 - self.n)) & 0xFF)
        return bytes(self.buf)


def _read_value(r: _Reader, dt: tuple) -> object:
    k = dt[0]
    if k == _D_NBIT:
        v = r.bits(dt[1]) + dt[2]
        if v > dt[3]:
            raise EXIError("value %d above its maximum %d" % (v, dt[3]))
        return v
    if k == _D_BOOL:
        return r.bits(1) == 1
    if k == _D_ENUM:
        i = r.bits(dt[1])
        if i >= len(dt[2]):
            raise EXIError("enumeration index %d out of range" % i)
        return dt[2][i]
    if k == _D_UINT:
        v = r.uint(dt[3])
        if v < dt[1] or v > dt[2]:
            raise EXIError("unsigned value %d out of range" % v)
        return v
    if k == _D_INT:
        neg = r.bits(1)
        m = r.uint(64 + 7)
        v = -m - 1 if neg else m
        if v < dt[1] or v > dt[2]:
            raise EXIError("integer value %d out of range" % v)
        return v
    if k == _D_STR:
        n = r.uint(32)
        if n < 2:
            raise EXIError("string table reference (not used by the V2G profile)")
        n -= 2
        if n > dt[2]:  # minLength is only enforced on encode: be lenient in what we accept
            raise EXIError("string length %d above its maximum %d" % (n, dt[2]))
        r.charge(n * 4 + _OBJ_COST)
        # UTF-8 by hand and one decode: chr() interns each character as a qstr, which is never freed,
        # so a peer sending strings of ever new code points would fill the heap (found by `jezgro fuzz`)
        b = bytearray()
        for _ in range(n):
            c = r.uint(21 + 7)
            if c > 0x10FFFF or 0xD800 <= c <= 0xDFFF:
                raise EXIError("invalid character code")
            if c < 0x80:
                b.append(c)
            elif c < 0x800:
                b.append(0xC0 | c >> 6)
                b.append(0x80 | c & 0x3F)
            elif c < 0x10000:
                b.append(0xE0 | c >> 12)
                b.append(0x80 | c >> 6 & 0x3F)
                b.append(0x80 | c & 0x3F)
            else:
                b.append(0xF0 | c >> 18)
                b.append(0x80 | c >> 12 & 0x3F)
                b.append(0x80 | c >> 6 & 0x3F)
                b.append(0x80 | c & 0x3F)
        return b.decode()
    # binary: hexBinary / base64Binary
    n = r.uint(32)
    if n > dt[2]:
        raise EXIError("binary length %d above its maximum %d" % (n, dt[2]))
    r.charge(n * 3 + _OBJ_COST)
    b = bytearray(n)
    for i in range(n):
        b[i] = r.bits(8)
    if k == _D_HEX:
        return binascii.hexlify(b).decode().upper()
    return binascii.b2a_base64(b).decode().strip()


def _write_value(w: _Writer, dt: tuple, v, key: str) -> None:
    k = dt[0]
    try:
        if k == _D_NBIT or k == _D_UINT or k == _D_INT:
            if not isinstance(v, int) or isinstance(v, bool):
                raise EXIError("%s: integer expected" % key)
            lo = dt[2] if k == _D_NBIT else dt[1]
            hi = dt[3] if k == _D_NBIT else dt[2]
            if v < lo or v > hi:
                raise EXIError("%s: %d outside %d..%d" % (key, v, lo, hi))
            if k == _D_NBIT:
                w.bits(v - lo, dt[1])
            elif k == _D_UINT:
                w.uint(v)
            elif v < 0:
                w.bits(1, 1)
                w.uint(-v - 1)
            else:
                w.bits(0, 1)
                w.uint(v)
        elif k == _D_BOOL:
            if v is not True and v is not False:
                raise EXIError("%s: boolean expected" % key)
            w.bits(1 if v else 0, 1)
        elif k == _D_ENUM:
            vals = dt[2]
            if v not in vals:
                raise EXIError("%s: %r is not one of its enumeration values" % (key, v))
            w.bits(vals.index(v), dt[1])
        elif k == _D_STR:
            if not isinstance(v, str):
                raise EXIError("%s: string expected" % key)
            n = len(v)
            if n > dt[2] or n < dt[1]:
                raise EXIError("%s: length %d outside %d..%d" % (key, n, dt[1], dt[2]))
            w.uint(n + 2)
            for c in v:
                w.uint(ord(c))
        else:
            if not isinstance(v, str):
                raise EXIError("%s: %s string expected" % (key, "hex" if k == _D_HEX else "base64"))
            b = binascii.unhexlify(v) if k == _D_HEX else binascii.a2b_base64(v)
            n = len(b)
            if n > dt[2] or n < dt[1]:
                raise EXIError("%s: length %d outside %d..%d" % (key, n, dt[1], dt[2]))
            w.uint(n)
            for x in b:
                w.bits(x, 8)
    except EXIError:
        raise
    except (ValueError, TypeError) as e:
        raise EXIError("%s: %s" % (key, e))


class _Grammar:
    """Bound view of one generated grammar module."""

    def __init__(self, mod):
        self.names = mod.NAMES
        self.st = mod.ST
        self.pr = mod.PR
        self.loops = mod.LOOPS
        self.dt = mod.DT
        self.limits = mod.LIMITS


def _grammar(mod) -> _Grammar:
    g = getattr(mod, "_bound", None)
    if g is None:
        g = _Grammar(mod)
        mod._bound = g
    return g


def _advance(g: _Grammar, state: int, target: int, code: int, count: int):
    # Next grammar state after an event, shared by decoder and encoder. A self-loop
    # on a bounded repetition (g.loops) counts its items and leaves the loop after
    # maxOccurs of them, exactly where EXIficient's grammar does.
    if target != state:
        return target, 0
    lp = g.loops.get(state)
    if lp is not None and lp[0] == code:
        count += 1
        if count >= lp[1]:
            return lp[2], 0
    return state, count


def _decode_complex(g: _Grammar, r: _Reader, state: int, depth: int, where: str) -> dict:
    if depth > MAX_DEPTH:
        raise EXIError("nesting too deep at " + where)
    r.charge(_OBJ_COST)
    obj: dict = r.new_obj()
    st = g.st
    pr = g.pr
    count = 0
    while True:
        o = state * 4
        n = st[o + 2]
        code = r.bits(st[o + 3])
        if code >= n:
            raise EXIError("undeclared content (second-level event) in " + where)
        q = ((st[o] | st[o + 1] << 8) + code) * 8
        kind = pr[q]
        k = kind & 0x0F
        if k == _EE:
            return obj
        key = g.names[pr[q + 1] | pr[q + 2] << 8]
        child = pr[q + 5] | pr[q + 6] << 8
        val: object = None
        if k == _SE:
            if child & 0x8000:
                dt = g.dt[child & 0x7FFF]
                if r.bits(1):
                    # escape: only the second-level EE (empty content) of an empty string/binary
                    if r.bits(_SIMPLE_L2_BITS) != 0 or dt[0] < _D_STR or dt[0] > _D_B64:
                        raise EXIError("undeclared content in " + key)
                    if dt[1] and dt[0] != _D_STR:
                        raise EXIError("empty %s below its minimum length" % key)
                    val = ""
                else:
                    val = _read_value(r, dt)
                    if r.bits(1):
                        raise EXIError("undeclared content after " + key)
            else:
                val = _decode_complex(g, r, child, depth + 1, key)
            if kind & _F_LIST:
                lst = obj.get(key)
                if lst is None:
                    r.charge(_OBJ_COST)
                    obj[key] = [val]
                else:
                    lim = pr[q + 7]
                    if lim and len(lst) >= g.limits[lim]:
                        raise EXIError("more than %d %s (maxOccurs)" % (g.limits[lim], key))
                    lst.append(val)
            else:
                obj[key] = val
        elif k == _AT or k == _CH:
            obj[key] = _read_value(r, g.dt[child])
        else:
            raise EXIError("wildcard or untyped content (xs:any / mixed) in %s is not supported" % where)
        r.charge(_OBJ_COST)
        state, count = _advance(g, state, pr[q + 3] | pr[q + 4] << 8, code, count)


def decode(mod, data, budget: int = DEFAULT_BUDGET, ordered: bool = False) -> dict:
    """EXI bytes -> {root element name: content}. Raises EXIError on anything malformed.
    ordered=True keeps document order (OrderedDict), for tools showing messages to people."""
    if len(data) < 2 or data[0] != HEADER:
        raise EXIError("not a V2G EXI stream (header byte must be 0x80)")
    g = _grammar(mod)
    if ordered:
        from collections import OrderedDict
        r = _Reader(data, budget, OrderedDict)
    else:
        r = _Reader(data, budget)
    st = g.st
    n = st[2]
    code = r.bits(st[3])
    if code >= n:
        raise EXIError("undeclared root element")
    q = ((st[0] | st[1] << 8) + code) * 8
    key = g.names[g.pr[q + 1] | g.pr[q + 2] << 8]
    child = g.pr[q + 5] | g.pr[q + 6] << 8
    if child & 0x8000:
        raise EXIError("simple-typed root element %s is not a V2G message" % key)
    return {key: _decode_complex(g, r, child, 1, key)}


def _encode_complex(g: _Grammar, w: _Writer, state: int, obj, depth: int, where: str) -> None:
    if not isinstance(obj, dict):
        raise EXIError("%s: object expected" % where)
    if depth > MAX_DEPTH:
        raise EXIError("nesting too deep at " + where)
    st = g.st
    pr = g.pr
    names = g.names
    used: dict = {}
    count = 0
    while True:
        o = state * 4
        n = st[o + 2]
        p0 = st[o] | st[o + 1] << 8
        ee = -1
        code = -1
        key = ""
        val: object = None
        for i in range(n):
            q = (p0 + i) * 8
            kind = pr[q]
            k = kind & 0x0F
            if k == _EE:
                ee = i
                continue
            if k > _CH:
                continue
            key = names[pr[q + 1] | pr[q + 2] << 8]
            if key not in obj:
                continue
            v = obj[key]
            done = used.get(key, 0)
            if kind & _F_LIST and isinstance(v, list):
                lim = pr[q + 7]
                if done < len(v) and not (lim and done >= g.limits[lim]):
                    code = i
                    val = v[done]
                    break
            elif not done:
                code = i
                val = v
                break
        if code < 0:
            if ee < 0:
                raise EXIError("%s: missing %s" % (where, _expected(g, p0, n)))
            w.bits(ee, st[o + 3])
            for k2 in obj:
                if k2 not in used:
                    raise EXIError("%s: unexpected or misplaced %s" % (where, k2))
                v2 = obj[k2]
                if isinstance(v2, list) and used[k2] < len(v2):
                    raise EXIError("%s: too many %s (maxOccurs)" % (where, k2))
            return
        w.bits(code, st[o + 3])
        q = (p0 + code) * 8
        k = pr[q] & 0x0F
        child = pr[q + 5] | pr[q + 6] << 8
        used[key] = used.get(key, 0) + 1
        if k == _SE:
            if child & 0x8000:
                dt = g.dt[child & 0x7FFF]
                if val == "" and _D_STR <= dt[0] <= _D_B64 and dt[1] == 0:
                    # empty text is no CH event (as EXIficient does): escape + second-level EE
                    w.bits(1, 1)
                    w.bits(0, _SIMPLE_L2_BITS)
                else:
                    w.bits(0, 1)
                    _write_value(w, dt, val, key)
                    w.bits(0, 1)
            else:
                _encode_complex(g, w, child, val, depth + 1, key)
        else:
            _write_value(w, g.dt[child], val, key)
        state, count = _advance(g, state, pr[q + 3] | pr[q + 4] << 8, code, count)


def _expected(g: _Grammar, p0: int, n: int) -> str:
    out = []
    for i in range(n):
        q = (p0 + i) * 8
        if g.pr[q] & 0x0F <= _CH:
            out.append(g.names[g.pr[q + 1] | g.pr[q + 2] << 8])
    return " or ".join(out) or "content"


def encode(mod, doc) -> bytes:
    """{root element name: content} -> EXI bytes. Raises EXIError naming the offending element."""
    if not isinstance(doc, dict) or len(doc) != 1:
        raise EXIError("document must be an object with exactly one root element")
    g = _grammar(mod)
    w = _Writer()
    root = next(iter(doc))
    st = g.st
    p0 = st[0] | st[1] << 8
    for i in range(st[2]):
        q = (p0 + i) * 8
        if g.names[g.pr[q + 1] | g.pr[q + 2] << 8] == root:
            w.bits(i, st[3])
            child = g.pr[q + 5] | g.pr[q + 6] << 8
            if child & 0x8000:
                raise EXIError("simple-typed root element %s is not a V2G message" % root)
            _encode_complex(g, w, child, doc[root], 1, root)
            return w.done()
    raise EXIError("%s is not a root element of this schema" % root)
