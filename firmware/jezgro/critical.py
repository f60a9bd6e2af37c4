# The CRITICAL domain: tick functions of PLL_SYNC, CURRENT_CTRL, ... run at
# 10 kHz from the board's tick source (a pyb.Timer hard IRQ on the board, the
# virtual-time driver on unix). Nothing here allocates: the tick path runs with
# the heap locked on the board, and tests run it under micropython.heap_lock().
#
# A tick function that raises is not called again until its service restarts;
# the supervisor sees the fault flag from thread context and handles it like
# any other crash, so one faulty control loop cannot stop the others.
import array
import micropython
from micropython import const

MASK30 = const(0x3FFFFFFF)
JITTER_LIMIT_US = const(20)  # ticks starting later than this are counted as jittered


class Critical:
    def __init__(self, nslots, ticks_us, ticks_diff, period_us=100):
        self.n = nslots
        self.fns = [None] * nslots
        self.sid = bytearray(nslots)
        self.faulted = bytearray(nslots)
        self.fault = [None] * nslots
        # Fault injection: a set byte makes that slot's next tick raise, from
        # inside the tick, exactly as a real control-loop bug would.
        self.trip = bytearray(nslots)
        self._tripped = RuntimeError("injected tick fault")
        self.runs = array.array("i", bytes(4 * nslots))
        self.period_us = period_us
        self._us = ticks_us
        self._diff = ticks_diff
        self.ticks = 0
        self.missed = 0
        # of those, dropped while the process was off the CPU (unix wall mode only, boards/unix pump():
        # the board's tick is a timer IRQ that no other program delays)
        self.missed_off_cpu = 0
        self.overruns = 0
        self.jittered = 0
        self.max_jitter_us = 0
        self.max_cost_us = 0
        self.sum_cost_us = 0

    def register(self, slot, sid, fn):
        self.sid[slot] = sid
        self.faulted[slot] = 0
        self.fault[slot] = None
        self.fns[slot] = fn

    def unregister(self, slot):
        self.fns[slot] = None

    # Native code: this runs 10 000 times a second and native halves its cost (make bench).
    @micropython.native
    def run_tick(self, late_us):
        # late_us: how far after its scheduled instant this tick started.
        t0 = self._us()
        fns = self.fns
        faulted = self.faulted
        runs = self.runs
        for i in range(self.n):
            fn = fns[i]
            if fn is None or faulted[i]:
                continue
            try:
                if self.trip[i]:
                    self.trip[i] = 0
                    raise self._tripped
                fn()
                runs[i] = (runs[i] + 1) & MASK30
            except Exception as e:  # noqa: BLE001 - any fault is contained to its service
                faulted[i] = 1
                self.fault[i] = e
        cost = self._diff(self._us(), t0)
        self.ticks = (self.ticks + 1) & MASK30
        self.sum_cost_us = (self.sum_cost_us + cost) & MASK30
        if cost > self.max_cost_us:
            self.max_cost_us = cost
        if cost > self.period_us:
            self.overruns += 1
        if late_us > JITTER_LIMIT_US:
            self.jittered += 1
        if late_us > self.max_jitter_us:
            self.max_jitter_us = late_us

    def healthy(self, slot):
        return self.fns[slot] is not None and not self.faulted[slot]
