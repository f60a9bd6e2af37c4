# A service: its static declaration (ServiceSpec, the JEZGRO_SERVICE_DEFINE
# row) and its runtime context (Service), which is also the `ctx` handed to
# the service's `async def main(ctx)`.
#
# What a service may use of ctx (its whole view of the kernel; services never
# reach through ctx.kernel):
#   identity      ctx.sid, ctx.name, ctx.sid_of(name), ctx.lookup(sid)
#   messages      ctx.send / ctx.send_i32 (msgs/: the catalogue's send_* helpers), ctx.receive,
#                 ctx.try_receive
#   time          ctx.ticks_ms(), ctx.ticks_diff(a, b), ctx.ticks_add(t, ms), ctx.sleep_ms, ctx.yield_
#   I/O           ctx.wait_io, ctx.wait_io_any, ctx.io_unregister(obj)
#   files         ctx.fs_root, ctx.path(name)
#   config        await ctx.configure(load, errors, retry_ms), ctx.config_failed(text) (audited)
#   links         ctx.link_failed(text), ctx.link_ok(): an upstream connection's failure reason,
#                 audited once per new reason, shown with the service's status
#   audit         ctx.audit(ev, cause, text): an event of the service's own (EV_* of jezgro/const.py)
#   status        ctx.publish(obj): obj.status() -> dict is what the summary and `jezgro` show;
#                 ctx.status holds it with the configuration state
#   memory        ctx.store: survives restarts of this service, not reboots
from micropython import const
from jezgro.const import (PRIO_CRITICAL, ST_ABSENT, ST_READY, ST_WAITING, W_NONE, W_SLEEP, W_RECV, W_IO,
                          W_FOREVER, RESTART_PERMANENT, EV_CONFIG_ERROR, EV_LINK_ERROR)
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


class Status:
    # A service's declared status, the one place the simulation summary, `jezgro` and the tests
    # read a service's state from: its configuration state and the object that holds its live
    # state (ctx.publish). Lives in the Service, so it survives restarts of the service.
    def __init__(self):
        self.config_error = ""  # "" configured (or nothing to configure), else "<file>: <reason>"
        self.config_errors = 0  # failed configuration loads since boot
        self.link_error = ""  # the last reason ctx.link_failed() gave (audited once per new reason)
        self.obj = None  # the published state object; its status() -> dict, when it has one

    def summary(self):
        # the published object's status() dict, or None (nothing published, or no status() on it)
        f = getattr(self.obj, "status", None)
        return f() if f is not None else None


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
        self.max_step_cpu_us = 0  # of it on a CPU (differs on a host that deschedules the unix port)
        self.last_fault_text = ""
        # the last out-of-memory of this service (kernel.out_of_memory): what it was doing, when, and
        # the heap's state then; None until one happens. Survives restarts, as the summary shows it.
        self.oom = None
        self.status = Status()

    # --- identity -----------------------------------------------------------
    @property
    def handle(self):
        return handle(self.sid, self.kernel.ipc.gen[self.sid])

    def lookup(self, sid):
        return self.kernel.ipc.current_handle(sid)

    def incarnation(self, sid):
        # The supervisor's view of service sid: its IPC generation while it runs (a new one after every
        # restart, so a changed value means its state, e.g. a protocol session, is gone), 0 while it is
        # held (quarantined), stopped or absent. For services that keep state of another's sessions.
        svcs = self.kernel.services
        if not 0 <= sid < len(svcs) or svcs[sid].state not in (ST_READY, ST_WAITING):
            return 0
        return self.kernel.ipc.gen[sid]

    def sid_of(self, name):
        # the sid of the service called name in this configuration, or -1 (not in the table)
        for s in self.kernel.services:
            if s.name == name:
                return s.sid
        return -1

    def name_of(self, sid):
        # the name of service sid in this configuration, or "" (no such service)
        svcs = self.kernel.services
        return svcs[sid].name if 0 <= sid < len(svcs) else ""

    # --- files and configuration ---------------------------------------------
    @property
    def fs_root(self):
        return self.kernel.board.FS_ROOT

    def path(self, name):
        return self.kernel.board.FS_ROOT + "/" + name

    def config_failed(self, text):
        # A configuration that cannot be used: reported, counted, and the service carries on
        # (unconfigured or on its defaults) instead of crash-looping into quarantine.
        # Audited once per new reason: a service retrying every 10 s with the same bad file must
        # not fill the audit log.
        if text != self.status.config_error:
            self.kernel.audit(EV_CONFIG_ERROR, self.sid, 0, text)
        self.status.config_error = text
        self.status.config_errors += 1

    def link_failed(self, text):
        # An upstream connection failed (TLS verification, authentication, refused ...): audited
        # when the reason changes, so that a back-off loop leaves one record per distinct cause.
        if text != self.status.link_error:
            self.kernel.audit(EV_LINK_ERROR, self.sid, 0, text)
            self.status.link_error = text

    def audit(self, ev, cause=0, text=""):
        # an event of this service's own (EV_* of jezgro/const.py) for the audit log
        self.kernel.audit(ev, self.sid, cause, text)

    def link_ok(self):
        self.status.link_error = ""

    async def configure(self, load, errors, retry_ms):
        # -> load()'s result, once it returns. Each failure with one of `errors` is reported
        # (config_failed(str(e))) and load() is tried again after retry_ms, the watchdog fed.
        while True:
            self.feed()
            try:
                r = load()
                self.status.config_error = ""
                return r
            except errors as e:
                self.config_failed(str(e))
            except Exception as e:  # garbage in a file (any exception) must not crash-loop the service
                self.config_failed("configuration unusable: %s: %s" % (type(e).__name__, e))
            t = 0
            while t < retry_ms:
                self.feed()
                await self.sleep_ms(200)
                t += 200

    def audit_text(self, seq):
        # AUDIT_LOGGER: the fault text an AUDIT_EVENT refers to (kept by the kernel until taken)
        return self.kernel.take_text(seq)

    def request_reset(self, reason):
        # a board reset on this service's behalf (OCPP Reset): the next boot reports who and why
        self.kernel.request_reset(self.name, reason)

    def end_run(self):
        # simulation and test aid (the simulated EV when its sessions are done): kernel.run() returns
        self.kernel.stop()

    def publish(self, obj):
        self.status.obj = obj

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

    def io_unregister(self, obj):
        self.kernel.io_unregister(obj)

    def wait_forever(self):
        return self._park(W_FOREVER, -1)

    # --- CRITICAL domain ----------------------------------------------------
    def register_tick(self, fn):
        if self.spec.tick_slot < 0:
            raise ValueError("service has no tick slot")
        self.kernel.critical.register(self.spec.tick_slot, self.sid, fn)

    def ticks_ms(self):
        return self.kernel.ticks_ms()

    def ticks_diff(self, a, b):
        return self.kernel.ticks_diff(a, b)

    def ticks_add(self, t, delta):
        return self.kernel.ticks_add(t, delta)
