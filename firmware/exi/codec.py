"""Schema-informed, bit-packed EXI for V2G (header 0x80, non-strict, no value string tables, no built-in
element grammars): a small interpreter of the grammar tables in exi/grammars (generated from the XSDs,
layout described in host_tools/jezgro_host/exigen/emit.py).

Documents are plain dicts/lists in the EXIficient JSON shape: element names as keys, a list for an
element that may repeat, hexBinary as upper-case hex, base64Binary as base64, enumerations as strings.

Decoding never trusts the stream: every length and count is checked against the schema (maxLength,
maxOccurs) before anything is allocated, recursion depth is capped and a total budget bounds what one
document may allocate. Any violation raises EXIError, which the session turns into its failure response.
"""
import array
import binascii
import micropython
from micropython import const

# production kinds and flags (host_tools/jezgro_host/exigen/grammar.py)
_SE = const(0)
_AT = const(1)
_CH = const(2)
_EE = const(3)
_F_LIST = const(0x10)
# datatype kinds
_D_BOOL = const(0)
_D_NBIT = const(1)
_D_UINT = const(2)
_D_INT = const(3)
_D_STR = const(4)
_D_HEX = const(5)
_D_B64 = const(6)
_D_ENUM = const(7)

HEADER = const(0x80)
# second-level event code width in a simple type's first state (non-strict: EE, xsi:type, xsi:nil,
# AT(*), SE(*), CH untyped); EE is code 0 there
_SIMPLE_L2_BITS = const(3)
MAX_DEPTH = 24
DEFAULT_BUDGET = 24576   # approximate bytes one decoded document may allocate
_OBJ_COST = const(48)    # budget charged per dict/list/value created

# Reader state, an array('i') the viper helpers below read and advance: bit position, end (bits),
# budget left. The bit I/O is viper (machine words, no objects); the grammar walk stays Python.
_POS = const(0)
_END = const(1)
_BUDGET = const(2)
_STATE = const(3)     # the grammar state _event reads the next event in (set by the caller)
# _event() results below 0
_E_TRUNC = const(-1)
_E_UNDECLARED = const(-2)
_E_BUDGET = const(-3)
# the widest group run the viper integer reader takes (4 x 7 bits: within 31 bits on the M7)
_FAST_UINT_BITS = const(28)


# The viper helpers below repeat their few lines of bit reading/writing instead of sharing them: a
# call from one viper function to another costs a whole Python-level call, the thing they avoid.


class EXIError(ValueError):
    """A document that cannot be decoded or encoded; the message says where and why."""


@micropython.viper
def _bits(rs_, d_, n: int) -> int:
    # n (<= 24) bits at the reader's position, most significant first; -1 past the end
    rs = ptr32(rs_)
    d = ptr8(d_)
    pos = int(rs[_POS])
    e = pos + n
    if e > int(rs[_END]):
        return -1
    rs[_POS] = e
    i = pos >> 3
    last = (e + 7) >> 3
    v = 0
    while i < last:
        v = (v << 8) | d[i]
        i += 1
    # at most 4 bytes: 24 + 7 bits, so the shift and mask stay within 31 bits on a 32-bit core
    return (v >> ((8 - (e & 7)) & 7)) & ((1 << n) - 1)


@micropython.viper
def _uint(rs_, d_) -> int:
    # EXI Unsigned Integer (7-bit groups, least significant first, high bit = more follow) of up to
    # 4 groups; -2 (position unchanged) for a longer one, which the caller reads in Python; -1 truncated
    rs = ptr32(rs_)
    d = ptr8(d_)
    pos = int(rs[_POS])
    end = int(rs[_END])
    off = pos & 7
    v = 0
    shift = 0
    while shift < _FAST_UINT_BITS:
        if pos + 8 > end:
            return -1
        i = pos >> 3
        b = d[i]
        if off:
            b = ((b << off) | (d[i + 1] >> (8 - off))) & 0xFF
        pos += 8
        v = v | ((b & 0x7F) << shift)
        if not (b & 0x80):
            rs[_POS] = pos
            return v
        shift += 7
    return -2


@micropython.viper
def _event(rs_, d_, st_, pr_) -> int:
    # The next event of a grammar state: its event code read and looked up -> the production's byte
    # offset in PR, or _E_TRUNC / _E_UNDECLARED (a second-level event: non-strict content we refuse)
    # / _E_BUDGET. Every event but EE charges the budget for the value it creates, an SE of a complex
    # type twice (its object too).
    rs = ptr32(rs_)
    d = ptr8(d_)
    st = ptr8(st_)
    pr = ptr8(pr_)
    o = int(rs[_STATE]) * 4
    pos = int(rs[_POS])
    e = pos + int(st[o + 3])
    if e > int(rs[_END]):
        return _E_TRUNC
    rs[_POS] = e
    i = pos >> 3
    last = (e + 7) >> 3
    v = 0
    while i < last:
        v = (v << 8) | d[i]
        i += 1
    code = (v >> ((8 - (e & 7)) & 7)) & ((1 << int(st[o + 3])) - 1)
    if code >= int(st[o + 2]):
        return _E_UNDECLARED
    q = ((int(st[o]) | (int(st[o + 1]) << 8)) + code) * 8
    kind = int(pr[q]) & 0x0F
    if kind != _EE:
        cost = _OBJ_COST
        if kind == _SE and not (int(pr[q + 6]) & 0x80):
            cost = 2 * _OBJ_COST
        b = int(rs[_BUDGET])
        if b < cost:
            return _E_BUDGET
        rs[_BUDGET] = b - cost
    return q


@micropython.viper
def _rbytes(rs_, d_, out_, n: int) -> int:
    # n whole bytes at the reader's (any) bit position into out; -1 past the end
    rs = ptr32(rs_)
    d = ptr8(d_)
    out = ptr8(out_)
    pos = int(rs[_POS])
    if pos + n * 8 > int(rs[_END]):
        return -1
    rs[_POS] = pos + n * 8
    i = pos >> 3
    off = pos & 7
    j = 0
    if off:
        while j < n:
            out[j] = ((int(d[i]) << off) | (int(d[i + 1]) >> (8 - off))) & 0xFF
            i += 1
            j += 1
    else:
        while j < n:
            out[j] = d[i]
            i += 1
            j += 1
    return 0


@micropython.viper
def _rascii(rs_, d_, out_, n: int) -> int:
    # up to n string characters (EXI: one Unsigned Integer each) while they are ASCII, into out ->
    # how many were read; the caller continues from there (non-ASCII, or -1: truncated)
    rs = ptr32(rs_)
    d = ptr8(d_)
    out = ptr8(out_)
    pos = int(rs[_POS])
    end = int(rs[_END])
    off = pos & 7
    j = 0
    while j < n:
        if pos + 8 > end:
            rs[_POS] = pos
            return j
        i = pos >> 3
        c = int(d[i])
        if off:
            c = ((c << off) | (int(d[i + 1]) >> (8 - off))) & 0xFF
        if c & 0x80:
            break
        out[j] = c
        pos += 8
        j += 1
    rs[_POS] = pos
    return j


@micropython.viper
def _charge(rs_, n: int) -> int:
    # takes n from the budget: 0, or -1 (budget unchanged) when it does not have n left
    rs = ptr32(rs_)
    b = int(rs[_BUDGET])
    if b < n:
        return -1
    rs[_BUDGET] = b - n
    return 0


# Simple content an SE carries, read/written whole by one viper call (_rsimple/_wsimple) when it is a
# number, boolean or enumeration (the charge-loop messages are mostly PhysicalValues): per datatype two
# bytes in _Grammar.fast, the fast kind and its bit width. Strings, binaries, integers beyond 28 bits
# and anything malformed take the general path, which also says what is wrong.
_F_NBIT = const(1)
_F_BOOL = const(2)
_F_ENUM = const(3)
_F_UINT = const(4)
_F_INT = const(5)
_FAIL = const(-0x40000000)   # no fast path: below every value the fast paths produce (|v| < 2**28)
_FAST_MAX = const(0x10000000)
_CLAMP = const(0x3FFFFFFF)


def _fast_table(dts):
    # array('i'), 4 per datatype: fast kind (0: none), bit width, lowest and highest value. Bounds
    # are clamped to +-2**30: the fast paths only carry |v| < 2**28, so a clamped bound never decides.
    t = array.array("i", bytes(16 * len(dts)))
    for i, dt in enumerate(dts):
        k = dt[0]
        o = 4 * i
        if k == _D_NBIT:
            if -_FAST_MAX <= dt[2] and dt[3] < _FAST_MAX:
                t[o], t[o + 1], t[o + 2], t[o + 3] = _F_NBIT, dt[1], dt[2], dt[3]
        elif k == _D_ENUM:
            t[o], t[o + 1], t[o + 3] = _F_ENUM, dt[1], len(dt[2]) - 1
        elif k == _D_BOOL:
            t[o], t[o + 1], t[o + 3] = _F_BOOL, 1, 1
        elif k == _D_UINT or k == _D_INT:
            t[o] = _F_UINT if k == _D_UINT else _F_INT
            t[o + 2] = max(dt[1], -_CLAMP)
            t[o + 3] = min(dt[2], _CLAMP)
    return t


@micropython.viper
def _rsimple(rs_, d_, ft_, dti: int) -> int:
    # An SE's simple content: escape bit 0, the value, EE bit 0, range-checked. -> the value (n-bit
    # integers with their offset added; enumeration index; 0/1 for a boolean), or _FAIL with the
    # position unchanged: the caller's general path reads it again and says what is wrong.
    rs = ptr32(rs_)
    d = ptr8(d_)
    ft = ptr32(ft_)
    o = dti * 4
    fk = int(ft[o])
    nb = int(ft[o + 1])
    # the bounds as signed: ptr32 loads are zero-extended on the 64-bit unix port, 32 bits on the
    # M7, where the shift by 32 gives 0 (grid/pll.py's sx())
    lo = int(ft[o + 2])
    lo = lo - ((lo >> 31) << 32)
    hi = int(ft[o + 3])
    hi = hi - ((hi >> 31) << 32)
    pos = int(rs[_POS])
    end = int(rs[_END])
    if fk == 0 or pos + 2 + nb > end:
        return _FAIL
    if (int(d[pos >> 3]) >> (7 - (pos & 7))) & 1:
        return _FAIL
    pos += 1
    v = 0
    if fk <= _F_ENUM:
        while nb > 0:
            v = (v << 1) | ((int(d[pos >> 3]) >> (7 - (pos & 7))) & 1)
            pos += 1
            nb -= 1
        if fk == _F_NBIT:
            v += lo
    else:
        neg = 0
        if fk == _F_INT:
            neg = (int(d[pos >> 3]) >> (7 - (pos & 7))) & 1
            pos += 1
        shift = 0
        while True:
            if shift >= _FAST_UINT_BITS or pos + 8 > end:
                return _FAIL
            b = 0
            j = 0
            while j < 8:
                b = (b << 1) | ((int(d[pos >> 3]) >> (7 - (pos & 7))) & 1)
                pos += 1
                j += 1
            v = v | ((b & 0x7F) << shift)
            if not (b & 0x80):
                break
            shift += 7
        if neg:
            v = 0 - v - 1
        if v < lo:
            return _FAIL
    if v > hi:
        return _FAIL
    if pos >= end or (int(d[pos >> 3]) >> (7 - (pos & 7))) & 1:
        return _FAIL
    rs[_POS] = pos + 1
    return v


_EVENT_ERRORS = {_E_TRUNC: "truncated stream in ", _E_UNDECLARED: "undeclared content (second-level event) in ",
                 _E_BUDGET: "document exceeds the decode budget at "}


def _read_bits(rs, d, n: int) -> int:
    v = _bits(rs, d, n)
    if v < 0:
        raise EXIError("truncated stream")
    return v


def _read_uint(rs, d, maxbits: int) -> int:
    v = _uint(rs, d)
    if v >= 0:
        return v
    if v == -1:
        raise EXIError("truncated stream")
    # more than 4 groups: the same in Python (any length up to the type's)
    v = 0
    shift = 0
    while True:
        b = _read_bits(rs, d, 8)
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v
        shift += 7
        if shift >= maxbits:
            raise EXIError("integer longer than its type allows")


@micropython.native
def _read_value(rs, d, dt: tuple) -> object:
    k = dt[0]
    if k == _D_NBIT:
        v = _bits(rs, d, dt[1])
        if v < 0:
            raise EXIError("truncated stream")
        v += dt[2]
        if v > dt[3]:
            raise EXIError("value %d above its maximum %d" % (v, dt[3]))
        return v
    if k == _D_INT:
        neg = _read_bits(rs, d, 1)
        m = _read_uint(rs, d, 64 + 7)
        v = -m - 1 if neg else m
        if v < dt[1] or v > dt[2]:
            raise EXIError("integer value %d out of range" % v)
        return v
    if k == _D_BOOL:
        return _read_bits(rs, d, 1) == 1
    if k == _D_ENUM:
        i = _read_bits(rs, d, dt[1])
        if i >= len(dt[2]):
            raise EXIError("enumeration index %d out of range" % i)
        return dt[2][i]
    if k == _D_UINT:
        v = _read_uint(rs, d, dt[3])
        if v < dt[1] or v > dt[2]:
            raise EXIError("unsigned value %d out of range" % v)
        return v
    if k == _D_STR:
        n = _read_uint(rs, d, 32)
        if n < 2:
            raise EXIError("string table reference (not used by the V2G profile)")
        n -= 2
        if n > dt[2]:  # minLength is only enforced on encode: be lenient in what we accept
            raise EXIError("string length %d above its maximum %d" % (n, dt[2]))
        if _charge(rs, n * 4 + _OBJ_COST):
            raise EXIError("document exceeds the decode budget")
        b = bytearray(n)
        i = _rascii(rs, d, b, n)
        if i == n:
            return str(b, "utf-8")
        return _read_text(rs, d, b, i, _read_uint(rs, d, 21 + 7), n)
    # binary: hexBinary / base64Binary
    n = _read_uint(rs, d, 32)
    if n > dt[2]:
        raise EXIError("binary length %d above its maximum %d" % (n, dt[2]))
    if _charge(rs, n * 3 + _OBJ_COST):
        raise EXIError("document exceeds the decode budget")
    b = bytearray(n)
    if _rbytes(rs, d, b, n):
        raise EXIError("truncated stream")
    if k == _D_HEX:
        return binascii.hexlify(b).decode().upper()
    return binascii.b2a_base64(b).decode().strip()


@micropython.native
def _simple_slow(rs, d, dt: tuple, key: str) -> object:
    # an SE's simple content the fast path did not take: strings, binaries, long integers, errors
    esc = _bits(rs, d, 1)
    if esc:
        # escape: only the second-level EE (empty content) of an empty string/binary
        if esc < 0:
            raise EXIError("truncated stream in " + key)
        if _read_bits(rs, d, _SIMPLE_L2_BITS) != 0 or dt[0] < _D_STR or dt[0] > _D_B64:
            raise EXIError("undeclared content in " + key)
        if dt[1] and dt[0] != _D_STR:
            raise EXIError("empty %s below its minimum length" % key)
        return ""
    val = _read_value(rs, d, dt)
    if _bits(rs, d, 1):
        raise EXIError("undeclared content after " + key)
    return val


def _read_text(rs, d, ascii_part, i: int, c: int, n: int) -> str:
    # a string beyond ASCII (rare in V2G: identifiers are ASCII): code point by code point into UTF-8
    # and one decode. chr() would intern each character as a qstr, which is never freed, so a peer
    # sending strings of ever new code points would fill the heap (found by `jezgro fuzz`).
    b = bytearray(ascii_part[:i])
    while True:
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
        i += 1
        if i == n:
            return str(b, "utf-8")
        c = _read_uint(rs, d, 21 + 7)


# The encoder's buffer carries its own state in a 12-byte head (3 int32: bit position, capacity in
# bits, capacity less _MARGIN), so each viper writer takes one object and stays within viper's four
# fast arguments. The EXI stream starts at byte _WHEAD. The buffer starts zeroed: bits are OR-ed in
# and zero bits only advance the position. The encoder grows it before an event once the position
# passes the margin (_pickw says so); no event but a string/binary (which reserves its own room)
# writes more than _MARGIN bits.
_WPOS = const(0)
_WCAP = const(1)
_WLIM = const(2)
_WHEAD = const(12)
_MARGIN = const(512)
_BMHEAD = const(2)     # _encode_complex's bitmap: grammar state (u16), then one bit per name
_SELF = const(0x100000)   # _pickw: the production loops back to its state
_NUM = const(0x10000)     # _wsimple: the value is an integer
_BOOLV = const(0x20000)   # _wsimple: the value is a boolean


@micropython.viper
def _wget(b_, i: int) -> int:
    return int(ptr32(b_)[i])


@micropython.viper
def _put(b_, v: int, n: int) -> int:
    # n (<= 24) bits of v at the writer's position, most significant first; -1 if they would not fit
    h = ptr32(b_)
    b = ptr8(b_)
    pos = int(h[_WPOS])
    if pos + n > int(h[_WCAP]):
        return -1
    h[_WPOS] = pos + n
    while n > 0:
        n -= 1
        if (v >> n) & 1:
            b[pos >> 3] = b[pos >> 3] | (0x80 >> (pos & 7))
        pos += 1
    return 0


@micropython.viper
def _putu(b_, v: int) -> int:
    # EXI Unsigned Integer v (0 <= v < 2**28: the caller writes larger ones) as 7-bit groups
    h = ptr32(b_)
    b = ptr8(b_)
    pos = int(h[_WPOS])
    while True:
        g = v & 0x7F
        v = v >> 7
        if v:
            g = g | 0x80
        if pos + 8 > int(h[_WCAP]):
            return -1
        off = pos & 7
        i = pos >> 3
        b[i] = b[i] | (g >> off)
        if off:
            b[i + 1] = (g << (8 - off)) & 0xFF
        pos += 8
        if not v:
            break
    h[_WPOS] = pos
    return 0


@micropython.viper
def _putbytes(b_, src_, n: int) -> int:
    # n whole bytes of src at the writer's (any) bit position (also an ASCII string's characters,
    # one one-group Unsigned Integer each); -1 if they would not fit
    h = ptr32(b_)
    b = ptr8(b_)
    src = ptr8(src_)
    pos = int(h[_WPOS])
    if pos + n * 8 > int(h[_WCAP]):
        return -1
    h[_WPOS] = pos + n * 8
    i = pos >> 3
    off = pos & 7
    j = 0
    while j < n:
        x = int(src[j])
        b[i] = b[i] | (x >> off)
        if off:
            b[i + 1] = (x << (8 - off)) & 0xFF
        i += 1
        j += 1
    return 0


@micropython.viper
def _winit(b_, n: int, pos: int):
    # the head of a new n-byte buffer; pos 0: a new document (its header byte written)
    h = ptr32(b_)
    h[_WCAP] = n * 8
    h[_WLIM] = n * 8 - _MARGIN
    if pos == 0:
        ptr8(b_)[_WHEAD] = HEADER
        pos = (_WHEAD + 1) * 8
    h[_WPOS] = pos


class _Writer:
    def __init__(self):
        self.buf = bytearray(256)
        _winit(self.buf, 256, 0)

    def grow(self, bits: int) -> None:
        # room for `bits` more plus the margin
        old = self.buf
        pos = _wget(old, _WPOS)
        cap = len(old)
        need = (pos + bits + _MARGIN + 7) // 8
        if need <= cap and pos <= _wget(old, _WLIM):
            return
        while cap < need or cap * 8 - _MARGIN < pos:
            cap *= 2
        nb = bytearray(cap)
        nb[_WHEAD:len(old)] = memoryview(old)[_WHEAD:]
        _winit(nb, cap, pos)
        self.buf = nb

    def bits(self, v: int, n: int) -> None:
        if _put(self.buf, v, n):
            raise EXIError("encoder overflow")

    def uint(self, v: int) -> None:
        if v < _FAST_MAX:
            if _putu(self.buf, v):
                raise EXIError("encoder overflow")
            return
        while v > 0x7F:
            self.bits((v & 0x7F) | 0x80, 8)
            v >>= 7
        self.bits(v, 8)

    def done(self) -> bytes:
        return bytes(memoryview(self.buf)[_WHEAD:(_wget(self.buf, _WPOS) + 7) >> 3])


def _write_value(w: _Writer, dt: tuple, v, key: str) -> None:
    k = dt[0]
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
        w.grow(n * 32 + 64)
        w.uint(n + 2)
        b = v.encode()
        if len(b) == n:     # ASCII: one byte, one group per character
            _putbytes(w.buf, b, n)
        else:
            for c in v:
                w.uint(ord(c))
    else:
        if not isinstance(v, str):
            raise EXIError("%s: %s string expected" % (key, "hex" if k == _D_HEX else "base64"))
        try:
            b = binascii.unhexlify(v) if k == _D_HEX else binascii.a2b_base64(v)
        except (ValueError, TypeError) as e:
            raise EXIError("%s: %s" % (key, e))
        n = len(b)
        if n > dt[2] or n < dt[1]:
            raise EXIError("%s: length %d outside %d..%d" % (key, n, dt[1], dt[2]))
        w.grow(n * 8 + 64)
        w.uint(n)
        if _putbytes(w.buf, b, n):
            raise EXIError("encoder overflow")


class _Grammar:
    """Bound view of one generated grammar module."""

    def __init__(self, mod):
        self.names = mod.NAMES
        self.st = mod.ST
        self.pr = mod.PR
        self.loops = mod.LOOPS
        self.dt = mod.DT
        self.limits = mod.LIMITS
        # encoder: JSON key -> name index (RAM: about 10 bytes per name on the board), and the
        # size of a bitmap over the names
        self.index = {n: i for i, n in enumerate(mod.NAMES)}
        self.bitmap_len = _BMHEAD + ((len(mod.NAMES) + 7) >> 3)
        self.fast = _fast_table(mod.DT)
        self.roots: dict = {}   # encoder: root element name -> its production in the document grammar
        # what the hot loops unpack in one step (an attribute lookup each would cost more)
        self.dec = (self.st, self.pr, self.names, self.dt, self.fast, self.loops)
        self.enc = (self.st, self.pr, self.names, self.index, self.dt, self.fast, self.loops, self.bitmap_len)


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


@micropython.native
def _decode_complex(g: _Grammar, rs, d, state: int, depth: int, where: str, new_obj) -> dict:
    # The hot loop of decoding: one iteration per event. Event code, table lookup and budget are
    # one viper call (_event); what stays here is building the dict.
    if depth > MAX_DEPTH:
        raise EXIError("nesting too deep at " + where)
    obj: dict = {} if new_obj is None else new_obj()
    st, pr, names, dts, fast, loops = g.dec
    count = 0
    while True:
        rs[_STATE] = state
        q = _event(rs, d, st, pr)
        if q < 0:
            raise EXIError(_EVENT_ERRORS[q] + where)
        kind = pr[q]
        k = kind & 0x0F
        if k == _EE:
            return obj
        key = names[pr[q + 1] | pr[q + 2] << 8]
        child = pr[q + 5] | pr[q + 6] << 8
        if k == _SE:
            val: object = None
            if child & 0x8000:
                dti = child & 0x7FFF
                dt = dts[dti]
                v = _rsimple(rs, d, fast, dti)
                if v != _FAIL:
                    dk = dt[0]
                    if dk == _D_BOOL:
                        val = v == 1
                    elif dk == _D_ENUM:
                        val = dt[2][v]
                    else:
                        val = v
                else:
                    val = _simple_slow(rs, d, dt, key)
            else:
                val = _decode_complex(g, rs, d, child, depth + 1, key, new_obj)
            if kind & _F_LIST:
                lst = obj.get(key)
                if lst is None:
                    if _charge(rs, _OBJ_COST):
                        raise EXIError("document exceeds the decode budget at " + key)
                    obj[key] = [val]
                else:
                    lim = pr[q + 7]
                    if lim and len(lst) >= g.limits[lim]:
                        raise EXIError("more than %d %s (maxOccurs)" % (g.limits[lim], key))
                    lst.append(val)
            else:
                obj[key] = val
        elif k == _AT or k == _CH:
            obj[key] = _read_value(rs, d, dts[child])
        else:
            raise EXIError("wildcard or untyped content (xs:any / mixed) in %s is not supported" % where)
        target = pr[q + 3] | pr[q + 4] << 8
        if target != state:
            state = target
            count = 0
        elif state in loops:
            o = state * 4
            state, count = _advance(g, state, target, (q >> 3) - (st[o] | st[o + 1] << 8), count)


@micropython.native
def decode(mod, data, budget: int = DEFAULT_BUDGET, ordered: bool = False) -> dict:
    """EXI bytes -> {root element name: content}. Raises EXIError on anything malformed.
    ordered=True keeps document order (OrderedDict), for tools showing messages to people."""
    if len(data) < 2 or data[0] != HEADER:
        raise EXIError("not a V2G EXI stream (header byte must be 0x80)")
    if len(data) >= 0x8000000:
        raise EXIError("document too long")
    g = _grammar(mod)
    new_obj = None
    if ordered:
        from collections import OrderedDict
        new_obj = OrderedDict
    # reader state for the viper helpers (_POS, _END, _BUDGET); the root's object is charged with its SE
    rs = array.array("i", (8, len(data) * 8, min(max(budget, 0), 0x3FFFFFFF), 0))
    q = _event(rs, data, g.st, g.pr)
    if q < 0:
        raise EXIError("undeclared root element" if q == _E_UNDECLARED else _EVENT_ERRORS[q] + "document")
    pr = g.pr
    key = g.names[pr[q + 1] | pr[q + 2] << 8]
    child = pr[q + 5] | pr[q + 6] << 8
    if child & 0x8000:
        raise EXIError("simple-typed root element %s is not a V2G message" % key)
    return {key: _decode_complex(g, rs, data, child, 1, key, new_obj)}


@micropython.viper
def _pickw(b_, pr_, st_, bm_) -> int:
    # One encoder step in the grammar state kept in bm's head (u16 at bm[0:2]; the names of the
    # object not written yet are a bitmap from bm[_BMHEAD]): the first SE/AT/CH production (event
    # code order) whose name is marked -> its event code written, its name unmarked unless it is a
    # list (the caller counts list items), the state advanced to its target, its byte offset in PR
    # returned (| _SELF when the production loops back to the state: the caller counts bounded
    # repetitions). Else the state's EE: written -> -2; -4 (nothing written) if names are left over
    # (unexpected or misplaced keys); -1 when the state has no EE (something is missing). -3:
    # first grow the buffer (nothing written).
    h = ptr32(b_)
    b = ptr8(b_)
    pr = ptr8(pr_)
    st = ptr8(st_)
    bm = ptr8(bm_)
    pos = int(h[_WPOS])
    if pos > int(h[_WLIM]):
        return -3
    state = int(bm[0]) | (int(bm[1]) << 8)
    o = state * 4
    n = int(st[o + 2])
    q = (int(st[o]) | (int(st[o + 1]) << 8)) * 8
    ee = -1
    i = 0
    code = -1
    nm = 0
    while i < n:
        k = int(pr[q]) & 0x0F
        if k <= _CH:
            nm = int(pr[q + 1]) | (int(pr[q + 2]) << 8)
            if int(bm[_BMHEAD + (nm >> 3)]) & (1 << (nm & 7)):
                code = i
                break
        elif k == _EE:
            ee = i
        i += 1
        q += 8
    if code < 0:
        if ee < 0:
            return -1
        j = _BMHEAD
        m = int(len(bm_))
        while j < m:
            if bm[j]:
                return -4
            j += 1
        code = ee
    nb = int(st[o + 3])
    h[_WPOS] = pos + nb
    while nb > 0:
        nb -= 1
        if (code >> nb) & 1:
            b[pos >> 3] = b[pos >> 3] | (0x80 >> (pos & 7))
        pos += 1
    if code == ee:
        return -2
    if not (int(pr[q]) & _F_LIST):
        bm[_BMHEAD + (nm >> 3)] = int(bm[_BMHEAD + (nm >> 3)]) & (0xFF ^ (1 << (nm & 7)))
    tg = int(pr[q + 3]) | (int(pr[q + 4]) << 8)
    if tg == state:
        return q | _SELF
    bm[0] = tg & 0xFF
    bm[1] = tg >> 8
    return q


@micropython.viper
def _wsimple(b_, ft_, dti: int, v: int) -> int:
    # An SE's simple content from its value: escape bit 0, the value, EE bit 0. dti | _NUM: v is an
    # integer (|v| < 2**28); dti | _BOOLV: 0/1 for a boolean; neither: an enumeration index. -1 (nothing written) when the datatype has no fast path or v
    # is outside its range: the caller's general path says what is wrong. _pickw kept the room.
    h = ptr32(b_)
    b = ptr8(b_)
    ft = ptr32(ft_)
    num = dti & _NUM
    o = (dti & 0x7FFF) * 4
    fk = int(ft[o])
    nb = int(ft[o + 1])
    lo = int(ft[o + 2])
    lo = lo - ((lo >> 31) << 32)
    hi = int(ft[o + 3])
    hi = hi - ((hi >> 31) << 32)
    if fk == 0 or v < lo or v > hi:
        return -1
    if num:
        if fk == _F_BOOL or fk == _F_ENUM:
            return -1
    elif dti & _BOOLV:
        if fk != _F_BOOL:
            return -1
    elif fk != _F_ENUM:
        return -1
    pos = int(h[_WPOS]) + 1
    if fk <= _F_ENUM:
        if fk == _F_NBIT:
            v -= lo
        while nb > 0:
            nb -= 1
            if (v >> nb) & 1:
                b[pos >> 3] = b[pos >> 3] | (0x80 >> (pos & 7))
            pos += 1
    else:
        if fk == _F_INT:
            if v < 0:
                b[pos >> 3] = b[pos >> 3] | (0x80 >> (pos & 7))
                v = 0 - v - 1
            pos += 1
        while True:
            g = v & 0x7F
            v = v >> 7
            if v:
                g = g | 0x80
            j = 8
            while j > 0:
                j -= 1
                if (g >> j) & 1:
                    b[pos >> 3] = b[pos >> 3] | (0x80 >> (pos & 7))
                pos += 1
            if not v:
                break
    h[_WPOS] = pos + 1
    return 0


@micropython.native
def _encode_complex(g: _Grammar, w: _Writer, state: int, obj, depth: int, where: str) -> None:
    # The hot loop of encoding, one iteration per event: the object's keys become a bitmap of name
    # indexes and one viper call (_pickw) takes the production, writes its code and advances the
    # state; numbers, booleans and enumerations are one more (_wsimple).
    if not isinstance(obj, dict):
        raise EXIError("%s: object expected" % where)
    if depth > MAX_DEPTH:
        raise EXIError("nesting too deep at " + where)
    st, pr, names, ix, dts, fast, loops, blen = g.enc
    bm = bytearray(blen)
    bm[0] = state & 0xFF
    bm[1] = state >> 8
    for k2 in obj:
        i = ix.get(k2, -1)
        if i < 0:
            raise EXIError("%s: unexpected or misplaced %s" % (where, k2))
        bm[_BMHEAD + (i >> 3)] |= 1 << (i & 7)
    used = None  # type: dict | None  # items written so far of the lists of this object
    count = 0
    while True:
        q = _pickw(w.buf, pr, st, bm)
        if q < 0:
            if q == -3:
                w.grow(0)
                continue
            if q == -1:
                state = bm[0] | bm[1] << 8
                o = state * 4
                raise EXIError("%s: missing %s" % (where, _expected(g, st[o] | st[o + 1] << 8, st[o + 2])))
            if q == -4:
                for k2 in obj:
                    i = ix[k2]
                    if bm[_BMHEAD + (i >> 3)] & (1 << (i & 7)):
                        if isinstance(obj[k2], list) and used is not None and k2 in used:
                            raise EXIError("%s: too many %s (maxOccurs)" % (where, k2))
                        raise EXIError("%s: unexpected or misplaced %s" % (where, k2))
            return
        if q & _SELF:
            q &= _SELF - 1
            state = bm[0] | bm[1] << 8
            if state in loops:
                o = state * 4
                nxt, count = _advance(g, state, state, (q >> 3) - (st[o] | st[o + 1] << 8), count)
                bm[0] = nxt & 0xFF
                bm[1] = nxt >> 8
        else:
            count = 0
        kind = pr[q]
        key = names[pr[q + 1] | pr[q + 2] << 8]
        val = obj[key]
        if kind & _F_LIST:
            # _pickw leaves a list's name marked: unmarked here after its last item
            last = True
            if isinstance(val, list):
                if used is None:
                    used = {}
                done = used.get(key, 0)
                lim = pr[q + 7]
                if lim and done >= g.limits[lim]:
                    raise EXIError("%s: too many %s (maxOccurs)" % (where, key))
                if done >= len(val):
                    raise EXIError("%s: unexpected or misplaced %s" % (where, key))
                last = done + 1 >= len(val)
                val = val[done]
                used[key] = done + 1
            if last:
                nm = pr[q + 1] | pr[q + 2] << 8
                bm[_BMHEAD + (nm >> 3)] &= 0xFF ^ (1 << (nm & 7))
        child = pr[q + 5] | pr[q + 6] << 8
        if kind & 0x0F == _SE:
            if child & 0x8000:
                dti = child & 0x7FFF
                written = False
                if type(val) is int:
                    if -_FAST_MAX < val < _FAST_MAX:
                        written = not _wsimple(w.buf, fast, dti | _NUM, val)
                elif val is True or val is False:
                    written = not _wsimple(w.buf, fast, dti | _BOOLV, 1 if val else 0)
                elif type(val) is str:
                    dt = dts[dti]
                    if dt[0] == _D_ENUM:
                        try:
                            written = not _wsimple(w.buf, fast, dti, dt[2].index(val))
                        except ValueError:
                            pass
                if not written:
                    _simple_out(w, dts[dti], val, key)
            else:
                _encode_complex(g, w, child, val, depth + 1, key)
        else:
            _write_value(w, dts[child], val, key)


def _simple_out(w: _Writer, dt: tuple, val, key: str) -> None:
    # an SE's simple content the fast path did not take
    if val == "" and _D_STR <= dt[0] <= _D_B64 and dt[1] == 0:
        # empty text is no CH event (as EXIficient does): escape + second-level EE
        w.bits(1, 1)
        w.bits(0, _SIMPLE_L2_BITS)
    else:
        w.bits(0, 1)                 # no escape
        _write_value(w, dt, val, key)
        w.bits(0, 1)                 # EE of the simple content


def _expected(g: _Grammar, p0: int, n: int) -> str:
    out = []
    for i in range(n):
        q = (p0 + i) * 8
        if g.pr[q] & 0x0F <= _CH:
            out.append(g.names[g.pr[q + 1] | g.pr[q + 2] << 8])
    return " or ".join(out) or "content"


@micropython.native
def encode(mod, doc) -> bytes:
    """{root element name: content} -> EXI bytes. Raises EXIError naming the offending element."""
    if not isinstance(doc, dict) or len(doc) != 1:
        raise EXIError("document must be an object with exactly one root element")
    g = _grammar(mod)
    w = _Writer()
    root = next(iter(doc))
    q = g.roots.get(root, -1)
    if q < 0:
        i = g.index.get(root, -1)
        if i >= 0:
            bm = bytearray(g.bitmap_len)    # state 0: the document grammar
            bm[_BMHEAD + (i >> 3)] = 1 << (i & 7)
            q = _pickw(w.buf, g.pr, g.st, bm)
            if q >= 0:
                q &= _SELF - 1
                g.roots[root] = q
                w = _Writer()
    if q >= 0:
        st = g.st
        code = (q >> 3) - (st[0] | st[1] << 8)
        _put(w.buf, code, st[3])
        child = g.pr[q + 5] | g.pr[q + 6] << 8
        if child & 0x8000:
            raise EXIError("simple-typed root element %s is not a V2G message" % root)
        _encode_complex(g, w, child, doc[root], 1, root)
        return w.done()
    raise EXIError("%s is not a root element of this schema" % root)
