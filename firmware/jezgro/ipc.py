# Message passing between services (spec §2.3): one preallocated pool of
# 512 slots x 64 bytes, a free-slot stack and one ring of slot indices per
# service. send/send_priority/take allocate nothing, so the CRITICAL tick
# (a hard IRQ on the board) may send too; the few lines that touch shared
# indices run with interrupts off (board.irq_off/irq_on, no-ops on unix).
#
# Slot layout (little endian):
#   0  u16 type      2 u8 src sid   3 u8 dst sid
#   4  u16 src gen   6 u16 dst gen (GEN_ANY: "whichever incarnation runs")
#   8  u8  length    9 reserved    10..63 payload (PAYLOAD_MAX bytes)
import array
import micropython
from micropython import const
from jezgro.const import OK, E_NOSVC, E_STALE, E_POOL, E_FULL, E_SIZE, E_DOWN

SLOT_SIZE = const(64)
HEADER = const(10)
PAYLOAD_MAX = const(54)
GEN_ANY = const(0xFFFF)
GEN_MAX = const(0xFFFE)
HANDLE_SHIFT = const(8)


@micropython.viper
def copy_bytes(dst, doff: int, src, soff: int, n: int):
    # memoryview slicing allocates a view object; a viper byte loop does not.
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1


@micropython.viper
def put_header(pool, o: int, mtype: int, src: int, sid: int, sgen: int, dgen: int, n: int):
    p = ptr8(pool)
    p[o] = mtype
    p[o + 1] = mtype >> 8
    p[o + 2] = src
    p[o + 3] = sid
    p[o + 4] = sgen
    p[o + 5] = sgen >> 8
    p[o + 6] = dgen
    p[o + 7] = dgen >> 8
    p[o + 8] = n
    p[o + 9] = 0


@micropython.viper
def put_i32x4(pool, o: int, a: int, b: int, c: int, d: int):
    # Little-endian int32 stores byte by byte: slots are not 4-byte aligned in general.
    p = ptr8(pool)
    p[o] = a
    p[o + 1] = a >> 8
    p[o + 2] = a >> 16
    p[o + 3] = a >> 24
    p[o + 4] = b
    p[o + 5] = b >> 8
    p[o + 6] = b >> 16
    p[o + 7] = b >> 24
    p[o + 8] = c
    p[o + 9] = c >> 8
    p[o + 10] = c >> 16
    p[o + 11] = c >> 24
    p[o + 12] = d
    p[o + 13] = d >> 8
    p[o + 14] = d >> 16
    p[o + 15] = d >> 24


@micropython.viper
def get_i32(buf, o: int) -> int:
    # Sign-extended little-endian int32; results beyond 30 bits get boxed, as anywhere.
    # Sign-extend from the top byte so this is right on 32-bit (board) and 64-bit (unix) words.
    p = ptr8(buf)
    top = int(p[o + 3])
    if top >= 128:
        top -= 256
    return (top << 24) | int(p[o + 2] << 16) | int(p[o + 1] << 8) | int(p[o])


def handle(sid, gen):
    # A handle names one incarnation: sid in bits 0..7, generation above.
    return sid | (gen << HANDLE_SHIFT)


class Msg:
    # One per service, reused by every receive: reading a message allocates nothing.
    def __init__(self):
        self.type = 0
        self.src = 0
        self.src_gen = 0
        self.len = 0
        self.buf = bytearray(PAYLOAD_MAX)

    def i32(self, index):
        return get_i32(self.buf, index * 4)

    def src_handle(self):
        return handle(self.src, self.src_gen)


class Ipc:
    def __init__(self, nsvc, mailbox_caps, nslots=512, irq_off=None, irq_on=None):
        self.nsvc = nsvc
        self.nslots = nslots
        self.pool = bytearray(nslots * SLOT_SIZE)
        self.free = array.array("H", range(nslots))
        self.nfree = nslots
        self.boxes = [array.array("H", bytes(2 * c)) for c in mailbox_caps]
        self.head = array.array("H", bytes(2 * nsvc))
        self.count = array.array("H", bytes(2 * nsvc))
        # Current generation of each service; bumped by the supervisor on restart.
        self.gen = array.array("H", [1] * nsvc)
        self.accepting = bytearray(nsvc)
        self._irq_off = irq_off
        self._irq_on = irq_on
        self.sent = 0
        self.received = 0
        self.pool_exhausted = 0
        self.mailbox_full = 0
        self.stale_rejected = 0
        self.down_rejected = 0
        self.dropped_stale_queued = 0
        self.high_water = 0
        # Layout check (unix port: simulation and tests): fn(src, dst sid, type, n, is_i32) -> None
        # or what is wrong; a wrong send raises in its sender. None on the board: no cost there.
        self.checker = None
        self.layout_errors = 0

    def _check(self, src, dst, mtype, n, is_i32):
        check = self.checker
        err = check(src, dst & 0xFF, mtype, n, is_i32) if check is not None else None
        if err is not None:
            self.layout_errors += 1
            raise ValueError(err)

    def current_handle(self, sid):
        return handle(sid, self.gen[sid])

    def _reserve(self, src, dst, mtype, n, priority):
        # Take a free slot, write its header, link it into dst's mailbox.
        # Returns the slot's byte offset (the caller writes the payload; only
        # thread-context readers look at it, and an IRQ sender finishes before
        # they run), or a negative error code.
        sid = dst & 0xFF
        if sid >= self.nsvc:
            return E_NOSVC
        dgen = GEN_ANY if dst < 256 else (dst >> HANDLE_SHIFT) & 0xFFFF
        if dgen != GEN_ANY and dgen != self.gen[sid]:
            self.stale_rejected += 1
            return E_STALE
        if not self.accepting[sid]:
            self.down_rejected += 1
            return E_DOWN
        box = self.boxes[sid]
        cap = len(box)
        off = self._irq_off
        st = off() if off is not None else 0
        c = self.count[sid]
        if c >= cap:
            if off is not None:
                self._irq_on(st)
            self.mailbox_full += 1
            return E_FULL
        if self.nfree == 0:
            if off is not None:
                self._irq_on(st)
            self.pool_exhausted += 1
            return E_POOL
        self.nfree -= 1
        slot = self.free[self.nfree]
        if priority:
            h = self.head[sid]
            h = cap - 1 if h == 0 else h - 1
            self.head[sid] = h
            box[h] = slot
        else:
            t = self.head[sid] + c
            box[t - cap if t >= cap else t] = slot
        self.count[sid] = c + 1
        if off is not None:
            self._irq_on(st)
        used = self.nslots - self.nfree
        if used > self.high_water:
            self.high_water = used
        o = slot * SLOT_SIZE
        put_header(self.pool, o, mtype, src, sid, self.gen[src] if src < self.nsvc else 0, dgen, n)
        self.sent += 1
        return o

    def send(self, src, dst, mtype, payload=None, n=0, priority=False):
        if payload is not None and n == 0:
            n = len(payload)
        if n > PAYLOAD_MAX:
            return E_SIZE
        if self.checker is not None:
            self._check(src, dst, mtype, n, False)
        o = self._reserve(src, dst, mtype, n, priority)
        if o < 0:
            return o
        if n:
            copy_bytes(self.pool, o + HEADER, payload, 0, n)
        return OK

    def send_i32(self, src, dst, mtype, a, b=0, c=0, d=0, priority=False):
        # Fixed 16-byte payload of four int32: the common case for control messages.
        if self.checker is not None:
            self._check(src, dst, mtype, 16, True)
        o = self._reserve(src, dst, mtype, 16, priority)
        if o < 0:
            return o
        put_i32x4(self.pool, o + HEADER, a, b, c, d)
        return OK

    def pending(self, sid):
        return self.count[sid]

    def take(self, sid, msg):
        # Pop the oldest message for sid into msg. Returns False if none is
        # deliverable; messages addressed to an older incarnation are dropped
        # and counted rather than handed to the new one.
        box = self.boxes[sid]
        cap = len(box)
        pool = self.pool
        while True:
            st = self._irq_off() if self._irq_off else 0
            c = self.count[sid]
            if c == 0:
                if self._irq_on:
                    self._irq_on(st)
                return False
            h = self.head[sid]
            slot = box[h]
            h += 1
            self.head[sid] = 0 if h == cap else h
            self.count[sid] = c - 1
            if self._irq_on:
                self._irq_on(st)
            o = slot * SLOT_SIZE
            dgen = pool[o + 6] | (pool[o + 7] << 8)
            ok = dgen == GEN_ANY or dgen == self.gen[sid]
            if ok:
                msg.type = pool[o] | (pool[o + 1] << 8)
                msg.src = pool[o + 2]
                msg.src_gen = pool[o + 4] | (pool[o + 5] << 8)
                n = pool[o + 8]
                msg.len = n
                copy_bytes(msg.buf, 0, pool, o + HEADER, n)
            self._release(slot)
            if ok:
                self.received += 1
                return True
            self.dropped_stale_queued += 1

    def _release(self, slot):
        st = self._irq_off() if self._irq_off else 0
        self.free[self.nfree] = slot
        self.nfree += 1
        if self._irq_on:
            self._irq_on(st)

    def new_generation(self, sid):
        g = self.gen[sid] + 1
        self.gen[sid] = 1 if g > GEN_MAX else g
        return self.gen[sid]

    def in_use(self):
        return self.nslots - self.nfree
