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
import struct
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
        b = self.buf
        o = index * 4
        v = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)
        return v - 0x100000000 if v & 0x80000000 else v

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

    def current_handle(self, sid):
        return handle(sid, self.gen[sid])

    def send(self, src, dst, mtype, payload=None, n=0, priority=False):
        sid = dst & 0xFF
        if sid >= self.nsvc:
            return E_NOSVC
        dgen = GEN_ANY if dst < 256 else (dst >> HANDLE_SHIFT) & 0xFFFF
        if dgen != GEN_ANY and dgen != self.gen[sid]:
            self.stale_rejected += 1
            return E_STALE
        if payload is not None and n == 0:
            n = len(payload)
        if n > PAYLOAD_MAX:
            return E_SIZE
        if not self.accepting[sid]:
            self.down_rejected += 1
            return E_DOWN
        box = self.boxes[sid]
        cap = len(box)
        st = self._irq_off() if self._irq_off else 0
        if self.count[sid] >= cap:
            if self._irq_on:
                self._irq_on(st)
            self.mailbox_full += 1
            return E_FULL
        if self.nfree == 0:
            if self._irq_on:
                self._irq_on(st)
            self.pool_exhausted += 1
            return E_POOL
        self.nfree -= 1
        slot = self.free[self.nfree]
        used = self.nslots - self.nfree
        if used > self.high_water:
            self.high_water = used
        c = self.count[sid]
        if priority:
            h = self.head[sid]
            h = cap - 1 if h == 0 else h - 1
            self.head[sid] = h
            box[h] = slot
        else:
            t = self.head[sid] + c
            box[t - cap if t >= cap else t] = slot
        self.count[sid] = c + 1
        # The slot is ours now; fill it with interrupts back on. A reader cannot
        # see it before we return because readers run in thread context only.
        if self._irq_on:
            self._irq_on(st)
        o = slot * SLOT_SIZE
        srcgen = self.gen[src] if src < self.nsvc else 0
        struct.pack_into("<HBBHHBB", self.pool, o, mtype, src, sid, srcgen, dgen, n, 0)
        if n:
            copy_bytes(self.pool, o + HEADER, payload, 0, n)
        self.sent += 1
        return OK

    def send_i32(self, src, dst, mtype, a, b=0, c=0, d=0, priority=False):
        # Fixed 16-byte payload of four int32: the common case for control messages.
        sid = dst & 0xFF
        if sid >= self.nsvc:
            return E_NOSVC
        r = self.send(src, dst, mtype, None, 0, priority)
        if r != OK:
            return r
        # send() put the new slot at the tail (or head for priority); patch its payload.
        box = self.boxes[sid]
        cap = len(box)
        if priority:
            slot = box[self.head[sid]]
        else:
            t = self.head[sid] + self.count[sid] - 1
            slot = box[t - cap if t >= cap else t]
        o = slot * SLOT_SIZE
        self.pool[o + 8] = 16
        struct.pack_into("<iiii", self.pool, o + HEADER, a, b, c, d)
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
