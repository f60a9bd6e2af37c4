# A service: its static declaration (ServiceSpec, the JEZGRO_SERVICE_DEFINE
# row) and its runtime context (Service), which is also the `ctx` handed to
# the service's `async def main(ctx)`.
from micropython import const
from jezgro.const import (PRIO_CRITICAL, ST_ABSENT, W_NONE, W_SLEEP, W_RECV, W_IO,
                          W_FOREVER, RESTART_PERMANENT)
from jezgro.ipc import Msg, handle

STORE_MAX_KEYS = const(16)


class ServiceSpec:
    # Mirrors JEZGRO_SERVICE_DEFINE: data only, no behaviour.
    def __init__(self, sid, name, priority, stack_kb, memory_kb, watchdog_us, module,
                 purpose="", policy=RESTART_PERMANENT, max_restarts=5, period_s=10,
                 mailbox=32, tick_slot=-1):
        self.sid = sid
        self.name = name
        self.priority = priority  # -1: the kernel itself (no scheduling)
        self.stack_kb = stack_kb
        self.memory_kb = memory_kb
        self.watchdog_us = watchdog_us  # 0: none. In us because CURRENT_CTRL's is 100 us
        self.watchdog_ms = (watchdog_us + 999) // 1000
        self.module = module  # None: the kernel row
        self.purpose = purpose
        self.policy = policy
        self.max_restarts = max_restarts  # restart intensity: more than R restarts ...
        self.period_s = period_s  # ... within T seconds puts the service on hold
        self.mailbox = mailbox
        self.tick_slot = tick_slot  # CRITICAL services: index into the tick table


class Store:
    # Small key/value memory that survives restarts of one service (not reboots):
    # an ISO 15118 session id, an OCPP transaction id. Bounded, so a service
    # cannot grow it without limit across crash loops.
    def __init__(self):
        self._d = {}

    def get(self, key, default=None):
        return self._d.get(key, default)

    def set(self, key, value):
        if key not in self._d and len(self._d) >= STORE_MAX_KEYS:
            raise ValueError("service store full")
        self._d[key] = value

    def pop(self, key, default=None):
        return self._d.pop(key, default)

    def keys(self):
        return list(self._d.keys())


class _Await:
    # One per service and reused by every await, as extmod/asyncio's
    # SingletonGenerator: the first __next__ yields to the kernel, the second
    # ends the await with a preallocated StopIteration carrying the result.
    def __init__(self, svc):
        self.svc = svc
        self.pending = False
        self.result = None
        self.stop_none = StopIteration(None)
        self.stop_true = StopIteration(True)
        self.stop_false = StopIteration(False)
        self.stop_msg = StopIteration(svc.msg)

    def __iter__(self):
        return self

    def __next__(self):
        if self.pending:
            self.pending = False
            return None
        exc = self.result
        self.result = None
        if exc is None:
            exc = self.stop_none
        exc.__traceback__ = None
        raise exc


class Service:
    def __init__(self, spec, kernel):
        self.spec = spec
        self.sid = spec.sid
        self.name = spec.name
        self.kernel = kernel
        self.state = ST_ABSENT
        self.coro = None
        self.module = None
        self.msg = Msg()
        self.store = Store()
        self.aw = _Await(self)
        self.is_restart = False
        self.starts = 0
        self.restarts = 0
        self.faults = 0
        self.wait = W_NONE
        self.wake_ms = 0
        self.timed = False
        self.io_objs = []  # what a W_IO wait is registered on
        self.io_any = False  # wait_io_any: the await returns the ready object
        self.io_ready_obj = None
        self.fed_ms = 0
        self.inject = 0
        self.restart_from_us = -1
        self.restart_times = []
        self.latency_us = []  # fault -> running again, one entry per restart (bounded)
        self.last_fault = 0
        self.max_step_us = 0
        self.last_fault_text = ""

    # --- identity -----------------------------------------------------------
    @property
    def handle(self):
        return handle(self.sid, self.kernel.ipc.gen[self.sid])

    def lookup(self, sid):
        return self.kernel.ipc.current_handle(sid)

    def is_critical(self):
        return self.spec.priority == PRIO_CRITICAL

    # --- watchdog -----------------------------------------------------------
    def feed(self):
        self.fed_ms = self.kernel.ticks_ms()

    # --- messaging ----------------------------------------------------------
    def send(self, dst, mtype, payload=None, priority=False):
        return self.kernel.ipc.send(self.sid, dst, mtype, payload, 0, priority)

    def send_i32(self, dst, mtype, a, b=0, c=0, d=0, priority=False):
        return self.kernel.ipc.send_i32(self.sid, dst, mtype, a, b, c, d, priority)

    def try_receive(self):
        return self.msg if self.kernel.ipc.take(self.sid, self.msg) else None

    # --- awaitables (each returns the service's single _Await) ---------------
    def _park(self, kind, timeout_ms):
        self.wait = kind
        self.timed = timeout_ms >= 0
        if self.timed:
            self.wake_ms = self.kernel.ticks_add(self.kernel.ticks_ms(), timeout_ms)
        self.aw.pending = True
        return self.aw

    def sleep_ms(self, ms):
        return self._park(W_SLEEP, ms if ms > 0 else 0)

    def yield_(self):
        return self._park(W_SLEEP, 0)

    def receive(self, timeout_ms=-1):
        # await ctx.receive(t) -> the service's Msg, or None after t ms (t < 0: forever).
        return self._park(W_RECV, timeout_ms)

    def wait_io(self, obj, event, timeout_ms=-1):
        # await ctx.wait_io(sock, select.POLLIN, t) -> True when ready, False on timeout.
        self.io_any = False
        self.kernel.io_register(self, obj, event)
        return self._park(W_IO, timeout_ms)

    def wait_io_any(self, objs, event, timeout_ms=-1):
        # await ctx.wait_io_any((s1, s2), select.POLLIN, t) -> the first ready object, or
        # None on timeout. For servers listening on several sockets (SDP + TCP + TLS).
        self.io_any = True
        for obj in objs:
            self.kernel.io_register(self, obj, event)
        return self._park(W_IO, timeout_ms)

    def wait_forever(self):
        return self._park(W_FOREVER, -1)

    # --- CRITICAL domain ----------------------------------------------------
    def register_tick(self, fn):
        if self.spec.tick_slot < 0:
            raise ValueError("service has no tick slot")
        self.kernel.critical.register(self.spec.tick_slot, self.sid, fn)

    def ticks_ms(self):
        return self.kernel.ticks_ms()
