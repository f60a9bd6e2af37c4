# The JEZGRO kernel: boots the static service table, runs services by
# priority, checks watchdogs, restarts faulted services (supervisor.py) and
# drives the hardware watchdog. Services are `async def main(ctx)`
# coroutines; the CRITICAL domain runs beside them from the board's tick.
import gc
import sys
import io
import select
from jezgro.const import (PRIO_CRITICAL, ST_ABSENT, ST_READY, ST_WAITING, ST_HELD, ST_STOPPED,
                          W_NONE, W_RECV, W_IO, W_FOREVER, F_EXCEPTION,
                          F_MEMORY, F_WATCHDOG, F_HANG, F_TICK, F_EXIT, EV_BOOT, EV_START,
                          EV_RESTART, EV_RESET_CAUSE, EV_CRASH, EV_WATCHDOG, EV_QUARANTINE, EV_EXIT,
                          EVENT_NAMES,
                          FAULT_NAMES, ST_NAMES, PRIO_NAMES)
from msgs import AUDIT_EVENT
from jezgro.ipc import Ipc
from jezgro.critical import Critical
from jezgro.supervisor import Supervisor
from jezgro.service import Service
from jezgro.hwwdt import HwWatchdog
from jezgro import faults
from jezgro import persist
from jezgro import heapinfo

HOUSEKEEPING_MS = 1
# steps longer than this are split into time on a CPU and time the host gave to other programs, where the
# board layer can tell (boards/unix step_cpu_us: reading /proc costs ~30 us, so only for long steps)
LONG_STEP_US = 10000
TEXT_KEEP = 16  # fault texts waiting for AUDIT_LOGGER
TEXT_MAX = 600


def format_exc(e):
    s = io.StringIO()
    sys.print_exception(e, s)
    t = s.getvalue()
    return t if len(t) <= TEXT_MAX else t[:TEXT_MAX - 4] + "...\n"


def fault_line(text):
    # one line of a fault text for summaries: a traceback's exception line, else the text's first line
    lines = text.rstrip().split("\n")
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


class Kernel:
    def __init__(self, table, board, audit_sid=-1, safe_state_sid=-1, hwwdt_ms=2000,
                 ipc_slots=512, fault_sids=()):
        self.board = board
        self.table = table
        self.ticks_ms = board.ticks_ms
        self.ticks_add = board.ticks_add
        self.ticks_diff = board.ticks_diff
        self.real_us = board.real_us
        self.real_diff_us = board.real_diff_us
        self.services = [Service(spec, self) for spec in table]
        n = len(table)
        self.ipc = Ipc(n, [spec.mailbox for spec in table], ipc_slots, board.irq_off, board.irq_on)
        if getattr(board, "CHECK_MSGS", False):
            from msgs import catalogue
            catalogue.names()  # built now, so that checking a send allocates nothing
            self.check = catalogue.check
            self.ipc.checker = self._check_msg
        nslots = 0
        for spec in table:
            if spec.tick_slot >= nslots:
                nslots = spec.tick_slot + 1
        self.critical = Critical(nslots, board.real_us, board.real_diff_us)
        self._step_cpu_us = getattr(board, "step_cpu_us", None)
        self.supervisor = Supervisor(self, safe_state_sid)
        self.hwwdt = HwWatchdog(board, hwwdt_ms)
        self.audit_sid = audit_sid
        # services told of every fault event too (CAN_HANDLER: GW_FAULT to the station controller)
        self.fault_sids = tuple(fault_sids)
        self.fault_sent = 0
        self.fault_lost = 0
        self.texts = {}
        self.text_seq = 0
        self.audit_sent = 0
        self.audit_lost = 0
        self.events = [0] * len(EVENT_NAMES)
        self.poller = select.poll()
        self.io_waiters = {}
        self.cur = None
        self.in_step = False
        self.step_start_ms = 0
        self.hang_pending = False
        self.hangs_broken = 0
        # A hung main loop also starves the hardware watchdog: on the board the hang must be
        # recorded before it fires, so no service may hang longer than this undetected.
        self.hang_cap_ms = hwwdt_ms - 250 if hwwdt_ms > 500 else hwwdt_ms // 2
        # Real-time floor of the hang limit (unix virtual time: a loaded host must not make a
        # 10 ms service look hung; the simulated cost of a hang is its watchdog period anyway).
        self.hang_floor_ms = board.hang_floor_ms()
        self._rr = 0
        self._next_hk = 0
        self._poll_io_fn = self._poll_io  # bound once: passing it each idle allocates nothing
        self.running = False
        self.steps = 0
        self.boot_ms = 0
        self.heap_peak = 0
        self.on_housekeeping = None
        self.reset_report = ("", "", "")

    # --- events to AUDIT_LOGGER ------------------------------------------------
    def audit(self, ev, sid, cause=0, text=""):
        # Kernel events travel as IPC messages; texts (tracebacks) wait in a small
        # table until the logger fetches them, so a LOW-priority logger loses nothing
        # unless TEXT_KEEP faults pile up before it runs.
        self.events[ev] += 1
        seq = 0
        if text:
            self.text_seq = (self.text_seq + 1) & 0x3FFFFFFF
            seq = self.text_seq
            if len(self.texts) >= TEXT_KEEP:
                self.texts.pop(min(self.texts))
                self.audit_lost += 1
            self.texts[seq] = text
        gen = self.ipc.gen[sid] if 0 <= sid < len(self.services) else 0
        if ev == EV_CRASH or ev == EV_WATCHDOG or ev == EV_QUARANTINE or ev == EV_EXIT:
            for f in self.fault_sids:
                if self.ipc.send_i32(0, f, AUDIT_EVENT, ev | (sid << 8) | (cause << 16), 0,
                                     self.ticks_ms(), gen) == 0:
                    self.fault_sent += 1
                else:
                    self.fault_lost += 1  # its mailbox is full or it is held
        if self.audit_sid < 0 or self.services[self.audit_sid].module is None:
            return
        r = self.ipc.send_i32(0, self.audit_sid, AUDIT_EVENT,
                              ev | (sid << 8) | (cause << 16), seq, self.ticks_ms(), gen)
        if r == 0:
            self.audit_sent += 1
        else:
            self.audit_lost += 1

    def _check_msg(self, src, dst, mtype, n, is_i32):
        # every send against the message catalogue (boards with CHECK_MSGS: the unix port)
        svcs = self.services
        return self.check(mtype, n, is_i32, svcs[src].name if src < len(svcs) else "",
                          svcs[dst].name if dst < len(svcs) else "")

    def take_text(self, seq):
        return self.texts.pop(seq, "")

    # --- service lifecycle -------------------------------------------------
    def _load(self, svc):
        name = svc.spec.module
        try:
            mod = __import__(name)
            for part in name.split(".")[1:]:
                mod = getattr(mod, part)
        except ImportError as e:
            if name.split(".")[-1] in str(e):
                return None  # not built into this image: shown as absent
            raise
        return mod

    def boot(self):
        self.boot_ms = self.ticks_ms()
        self.reset_report = self.hwwdt.boot_report()
        failed = []
        # The audit logger is imported and started first, so that nothing the others do is missed
        # (an out-of-memory while importing a later service included).
        order = sorted(self.services, key=lambda s: (s.sid != self.audit_sid, s.sid))
        for svc in order:
            if svc.spec.module is None:
                continue
            try:
                svc.module = self._load(svc)
            except MemoryError as e:
                svc.state = ST_STOPPED
                svc.last_fault = F_MEMORY
                svc.last_fault_text = self.out_of_memory(svc, "importing " + svc.spec.module, e)
                failed.append(svc)
                continue
            except Exception as e:  # a service whose module fails to import is stopped, not fatal
                svc.state = ST_STOPPED
                svc.last_fault = F_EXCEPTION
                svc.last_fault_text = format_exc(e)
                failed.append(svc)
                continue
            if svc.module is not None:
                self.ipc.accepting[svc.sid] = 1
        self.audit(EV_BOOT, 0, 0, "")
        cause, who, why = self.reset_report
        if cause:
            self.audit(EV_RESET_CAUSE, 0, 0, "%s %s %s" % (cause, who, why))
        for svc in failed:  # audited once the logger's mailbox exists (after EV_BOOT)
            svc.faults += 1
            self.audit(EV_CRASH, svc.sid, svc.last_fault, svc.last_fault_text)
        for svc in order:
            if svc.module is not None:
                self.start_service(svc, False)
        self.board.start_ticks(self.critical)
        self.board.start_hang_watch(self)
        self.hwwdt.start()

    def start_service(self, svc, restart):
        if restart:
            self.ipc.new_generation(svc.sid)
            svc.restarts += 1
        svc.starts += 1
        svc.is_restart = restart
        svc.wait = W_NONE
        svc.aw.pending = False
        svc.aw.result = None
        svc.inject = 0
        svc.fed_ms = self.ticks_ms()
        self.ipc.accepting[svc.sid] = 1
        try:
            svc.coro = svc.module.main(svc)
        except MemoryError as e:  # not even its coroutine fits: stopped, and said why
            svc.coro = None
            svc.state = ST_STOPPED
            svc.faults += 1
            svc.last_fault = F_MEMORY
            svc.last_fault_text = self.out_of_memory(svc, "starting", e)
            self.audit(EV_CRASH, svc.sid, F_MEMORY, svc.last_fault_text)
            return
        svc.state = ST_READY
        self.audit(EV_RESTART if restart else EV_START, svc.sid)

    def stop_service(self, svc):
        slot = svc.spec.tick_slot
        if slot >= 0:
            self.critical.unregister(slot)
        self.io_release(svc)
        coro = svc.coro
        svc.coro = None
        if coro is not None:
            try:
                coro.close()  # runs its finally blocks: sockets get closed
            except Exception:  # noqa: BLE001 - a service failing in cleanup is already being restarted
                pass
        svc.state = ST_STOPPED

    def inject(self, sid, kind):
        svc = self.services[sid]
        if svc.state in (ST_ABSENT, ST_HELD, ST_STOPPED):
            return False
        if kind == faults.INJ_STALL:
            svc.wait = W_FOREVER
            svc.state = ST_WAITING
            return True
        slot = svc.spec.tick_slot
        if kind == faults.INJ_CRASH and slot >= 0 and self.critical.fns[slot] is not None:
            self.critical.trip[slot] = 1
            return True
        svc.inject = kind
        if svc.state == ST_WAITING and svc.wait != W_FOREVER:
            svc.state = ST_READY  # faults are applied on the service's next step: make it now
        return True

    def out_of_memory(self, svc, doing, exc):
        # Names an out-of-memory: the service, what it was doing (the kernel's phase and the line its
        # traceback ends in) and the heap after the failed work was dropped (free, largest free block:
        # fragmentation). Kept in svc.oom for the summary and status; the text goes to the audit log.
        where = format_exc(exc)
        st = heapinfo.state()
        lines = where.rstrip().split("\n")
        # the innermost frame (`File "x.py", line N, in f`) and what could not be had (`allocating N bytes`)
        at = lines[-2].strip() if len(lines) >= 2 else ""
        what = lines[-1].split(": ", 1)
        if len(what) == 2:
            at += ": " + what[1]
        svc.oom = {"doing": doing, "at": at, "t_ms": self.ticks_diff(self.ticks_ms(), self.boot_ms),
                   "heap": heapinfo.as_dict(st), "count": (svc.oom["count"] + 1) if svc.oom else 1}
        return "out of memory in %s while %s (%s); %s\n%s" % (svc.name, doing, at, heapinfo.describe(st), where)

    # --- I/O ---------------------------------------------------------------
    def io_register(self, svc, obj, event):
        if not svc.io_objs:
            svc.io_ready_obj = None  # first object of a new wait
        self.poller.register(obj, event)
        self.io_waiters[id(obj)] = (obj, svc)
        svc.io_objs.append(obj)

    def io_release(self, svc):
        # Drop every registration of svc's wait (the ready one and the others).
        for obj in svc.io_objs:
            if self.io_waiters.pop(id(obj), None) is not None:
                try:
                    self.poller.unregister(obj)
                except (OSError, ValueError, KeyError):
                    pass
        svc.io_objs.clear()

    def io_unregister(self, obj):
        # A service is closing obj: forget it, whether or not a wait is on it.
        w = self.io_waiters.pop(id(obj), None)
        if w is not None:
            try:
                self.poller.unregister(obj)
            except (OSError, ValueError, KeyError):
                pass
            objs = w[1].io_objs
            if obj in objs:
                objs.remove(obj)

    def _poll_io(self, timeout_ms):
        if not self.io_waiters:
            return False
        got = False
        for ent in self.poller.poll(timeout_ms):
            w = self.io_waiters.get(id(ent[0]))
            if w is not None:
                svc = w[1]
                svc.io_ready_obj = w[0]
                self.io_release(svc)
                got = True
        return got

    # --- hang watchdog (asynchronous context) --------------------------------
    def hang_check(self, excused_ms=0):
        # excused_ms: time the watcher knows the whole process was not running
        # (descheduled by the host OS), not to be blamed on the service.
        # Called from a thread (unix) or the tick IRQ (board); allocates nothing.
        # A service that never yields cannot be stopped from Python, so the board
        # interrupts the main thread for us (unix: SIGINT -> KeyboardInterrupt in
        # the hung code; NUCLEO and emulated M7: jezgro_irq.break_main() from the
        # interrupt, the same KeyboardInterrupt; on the NUCLEO the cause also goes
        # to an RTC backup register for the hardware watchdog's reset if the
        # break is never taken). True when it has asked for the break.
        if not self.in_step or self.hang_pending:
            return False
        svc = self.cur
        if svc is None:
            return False
        limit = svc.spec.watchdog_ms
        if limit <= 0:
            return False
        if limit < self.hang_floor_ms:
            limit = self.hang_floor_ms
        if limit > self.hang_cap_ms:
            limit = self.hang_cap_ms  # decide before the hardware watchdog does it for us
        ran = self.board.real_ms_diff(self.board.real_ms(), self.step_start_ms)
        # the excuse never reaches past the cap: the hardware watchdog counts real time, excused or not
        if ran - excused_ms > limit or ran > self.hang_cap_ms:
            self.hang_pending = True
            self.board.break_main(svc.sid)
            return True
        return False

    def _hang_over(self):
        self.hang_pending = False
        self.board.hang_handled()

    # --- scheduling --------------------------------------------------------
    def _runnable(self, svc, now):
        st = svc.state
        if st == ST_READY:
            return True
        if st != ST_WAITING:
            return False
        w = svc.wait
        if w == W_RECV and self.ipc.count[svc.sid]:
            return True
        if w == W_IO and svc.io_ready_obj is not None:
            return True
        if w == W_FOREVER:
            return False
        return svc.timed and self.ticks_diff(now, svc.wake_ms) >= 0

    def _pick(self, now):
        # The highest-priority runnable service, round-robin among equals from _rr. _runnable is
        # written out here: this runs several times per millisecond (virtual time: per simulated ms).
        best = None
        bp = 0x7FFF
        services = self.services
        n = len(services)
        i = self._rr
        count = self.ipc.count
        diff = self.ticks_diff
        for _ in range(n):
            svc = services[i]
            i = i + 1 if i + 1 < n else 0
            p = svc.spec.priority
            if p >= bp:
                continue
            st = svc.state
            if st != ST_READY:
                if st != ST_WAITING:
                    continue
                w = svc.wait
                if not ((w == W_RECV and count[svc.sid]) or (w == W_IO and svc.io_ready_obj is not None)):
                    if w == W_FOREVER or not svc.timed or diff(now, svc.wake_ms) < 0:
                        continue
            best = svc
            bp = p
        if best is not None:
            self._rr = best.sid + 1 if best.sid + 1 < n else 0
        return best

    def _step(self, svc):
        aw = svc.aw
        w = svc.wait
        inj = svc.inject
        svc.inject = 0
        # An injected fault lands before the service takes anything from its mailbox.
        if w == W_RECV and not inj:
            aw.result = aw.stop_msg if self.ipc.take(svc.sid, svc.msg) else aw.stop_none
        elif w == W_IO:
            self.io_release(svc)  # timed out: the registrations are still there
            ready = svc.io_ready_obj
            svc.io_ready_obj = None
            if svc.io_any:
                # Protocol-domain path: one StopIteration per wake is acceptable here.
                aw.result = StopIteration(ready) if ready is not None else aw.stop_none
            else:
                aw.result = aw.stop_true if ready is not None else aw.stop_false
        svc.wait = W_NONE
        svc.state = ST_READY
        self.cur = svc
        self.steps += 1
        t_step = self.real_us()
        t_step_ms = self.ticks_ms()
        try:
            self.step_start_ms = self.board.real_ms()
            self.in_step = True
            if svc.restart_from_us >= 0:
                self.supervisor.restarted(svc)
            if inj == faults.INJ_CRASH:
                svc.coro.throw(faults.InjectedFault("injected crash"))
            elif inj == faults.INJ_HANG:
                faults.hang()
            elif inj == faults.INJ_OOM:
                faults.exhaust_memory()
            else:
                svc.coro.send(None)
            self.in_step = False
        except StopIteration:
            self.in_step = False
            self.supervisor.fault(svc, F_EXIT, "main() returned")
            return
        except KeyboardInterrupt as e:
            self.in_step = False
            if not self.hang_pending:
                raise  # a real Ctrl-C: stop the kernel
            self._hang_over()
            self.hangs_broken += 1
            limit = min(svc.spec.watchdog_ms, self.hang_cap_ms)
            self.board.charge_hang_ms(limit)
            self.supervisor.fault(svc, F_HANG, "no yield for %d ms\n%s" % (limit, format_exc(e)))
            return
        except MemoryError as e:
            self.in_step = False
            svc.coro = None  # the hog is unreachable now: out_of_memory collects it for the report
            self.supervisor.fault(svc, F_MEMORY, self.out_of_memory(svc, "running", e))
            return
        except Exception as e:  # noqa: BLE001 - the point of the kernel: contain any fault
            self.in_step = False
            self.supervisor.fault(svc, F_EXCEPTION, format_exc(e))
            return
        if svc.state == ST_READY and svc.wait != W_NONE:
            svc.state = ST_WAITING
        # The longest step shows who keeps the CPU from the others (cooperative scheduling).
        took = self.real_diff_us(self.real_us(), t_step)
        if took > svc.max_step_us:
            svc.max_step_us = took
        if took > svc.max_step_cpu_us:
            # of a long step on a host that runs other programs (the unix port in wall-clock time), the
            # part this process spent on a CPU: what the step would take on the board
            cpu = self._step_cpu_us(took) if self._step_cpu_us is not None and took > LONG_STEP_US else took
            if cpu > svc.max_step_cpu_us:
                svc.max_step_cpu_us = cpu
        # Fed in this very step: fed as of its end. The step's length is the hang check's to judge
        # (which excuses a host that descheduled the process, as a loaded host running the unix port in
        # wall-clock time does for 5-20 ms at a time); the watchdog starts when the service gives the
        # CPU back. A step that ends unfed is checked here.
        end_ms = self.ticks_ms()
        if self.ticks_diff(svc.fed_ms, t_step_ms) >= 0:
            svc.fed_ms = end_ms
        elif svc.spec.watchdog_ms > 0 and svc.spec.priority != PRIO_CRITICAL:
            self._check_fed(svc, end_ms)

    def _check_fed(self, svc, now):
        late = self.ticks_diff(now, svc.fed_ms)
        if late > svc.spec.watchdog_ms:
            self.supervisor.fault(svc, F_WATCHDOG, "watchdog not fed for %d ms" % late)

    def _housekeeping(self, now):
        # Runs every millisecond: allocates nothing on the healthy path (constants
        # imported from another module are not folded, hence no `x in (A, B)`).
        crit = self.critical
        culprit = None
        for svc in self.services:
            st = svc.state
            spec = svc.spec
            slot = spec.tick_slot
            live = st == ST_READY or st == ST_WAITING
            if slot >= 0 and live:
                if crit.faulted[slot]:
                    exc = crit.fault[slot]
                    crit.faulted[slot] = 0
                    self.supervisor.fault(svc, F_TICK, format_exc(exc) if exc else "tick fault")
                    continue
            # A runnable service that has not had the CPU is not to blame (whoever holds
            # the CPU is, and the hang check deals with that); it is judged when its
            # step ends. Blocked services are judged here.
            # (late first: the cheap test that is false on the healthy path)
            wd = spec.watchdog_ms
            if live and wd > 0 and spec.priority != PRIO_CRITICAL and self.ticks_diff(now, svc.fed_ms) > wd \
                    and not self._runnable(svc, now):
                self._check_fed(svc, now)
            if slot >= 0 and svc.module is not None and culprit is None:
                if svc.state == ST_HELD:
                    culprit = (svc.name, "quarantined")
                elif not crit.healthy(slot) and self.ticks_diff(now, svc.fed_ms) > 100:
                    culprit = (svc.name, "tick not running")
        self.hwwdt.poll(culprit)
        if self.on_housekeeping is not None:
            self.on_housekeeping(self, now)

    def _next_deadline(self, now, limit):
        best = limit
        for svc in self.services:
            if svc.state == ST_WAITING and svc.timed:
                if self.ticks_diff(svc.wake_ms, best) < 0:
                    best = svc.wake_ms
        return best

    def run(self, duration_ms=-1):
        # Runs until stop() or for duration_ms of kernel time (virtual or real).
        start = self.ticks_ms()
        self._next_hk = start
        self.running = True
        while self.running:
            try:
                self._loop(start, duration_ms)
            except KeyboardInterrupt:
                if not self.hang_pending:
                    raise
                self._hang_over()  # the long step ended by itself just before the break landed
        self.running = False

    def _loop(self, start, duration_ms):
        b = self.board
        while self.running:
            b.pump()
            now = self.ticks_ms()
            if duration_ms >= 0 and self.ticks_diff(now, start) >= duration_ms:
                self.running = False
                return
            if self.ticks_diff(now, self._next_hk) >= 0:
                # then a service step, not straight back to the board's ticks: where ticks and
                # housekeeping fill each millisecond (a loaded host in wall-clock time) the services
                # would never run
                self._next_hk = self.ticks_add(now, HOUSEKEEPING_MS)
                self._housekeeping(now)
                if not self.running:
                    return
            svc = self._pick(now)
            if svc is not None:
                self._step(svc)
                b.charge_step()
                continue
            if self._poll_io(0):
                continue
            timeout = self.ticks_diff(self._next_deadline(now, self._next_hk), now)
            b.idle(timeout if timeout > 0 else 0, self._poll_io_fn)

    def stop(self):
        self.running = False

    def request_reset(self, service, reason):
        # A service asks for a board reset (e.g. OCPP Reset): the reason is persisted
        # like a watchdog cause, so the next boot reports who asked and why.
        self.hwwdt.persist(service, reason)
        self.board.reset(reason)

    def drain_audit(self, max_ms=500):
        # Orderly shutdown: let AUDIT_LOGGER write what is queued before we stop.
        sid = self.audit_sid
        t0 = self.ticks_ms()
        while sid >= 0 and self.ipc.count[sid] and self.services[sid].coro is not None \
                and self.ticks_diff(self.ticks_ms(), t0) < max_ms:
            self.run(1)

    # --- reporting -----------------------------------------------------------
    def note_heap(self):
        # Live heap after a collection: garbage awaiting collection is not a cost.
        gc.collect()
        used = gc.mem_alloc()
        if used > self.heap_peak:
            self.heap_peak = used

    def summary(self):
        svcs = []
        for s in self.services:
            lat = s.latency_us
            svcs.append({
                "id": s.sid, "name": s.name,
                "priority": PRIO_NAMES[s.spec.priority] if s.spec.priority >= 0 else "-",
                "state": ST_NAMES[s.state] if s.spec.module else "kernel",
                "starts": s.starts, "restarts": s.restarts, "faults": s.faults,
                "last_fault": FAULT_NAMES[s.last_fault],
                "restart_latency_us": {
                    "count": len(lat),
                    "max": max(lat) if lat else 0,
                    "mean": (sum(lat) // len(lat)) if lat else 0,
                },
                "max_step_us": s.max_step_us, "max_step_cpu_us": s.max_step_cpu_us,
                "config_error": s.status.config_error, "config_errors": s.status.config_errors,
                "link_error": s.status.link_error,
                "fault_text": fault_line(s.last_fault_text), "oom": s.oom,
                "status": s.status.summary(),
                "tick_runs": self.critical.runs[s.spec.tick_slot] if s.spec.tick_slot >= 0 else 0,
            })
        c = self.critical
        ipc = self.ipc
        return {
            "uptime_ms": self.ticks_diff(self.ticks_ms(), self.boot_ms),
            "services": svcs,
            "critical": {
                "ticks_run": c.ticks, "ticks_missed": c.missed, "ticks_missed_off_cpu": c.missed_off_cpu,
                "overruns": c.overruns,
                "jittered": c.jittered, "max_jitter_us": c.max_jitter_us,
                "max_cost_us": c.max_cost_us,
                "mean_cost_us": (c.sum_cost_us // c.ticks) if c.ticks else 0,
            },
            "ipc": {
                "slots": ipc.nslots, "high_water": ipc.high_water, "in_use": ipc.in_use(),
                "sent": ipc.sent, "received": ipc.received,
                "pool_exhausted": ipc.pool_exhausted, "mailbox_full": ipc.mailbox_full,
                "stale_rejected": ipc.stale_rejected,
                "stale_dropped": ipc.dropped_stale_queued, "down_rejected": ipc.down_rejected,
                "layout_errors": ipc.layout_errors,
            },
            "heap": {"peak_bytes": self.heap_peak, "now_bytes": gc.mem_alloc(),
                     "free_bytes": gc.mem_free()},
            "hangs_broken": self.hangs_broken,
            "quarantined": self.supervisor.quarantined,
            "audit": {"sent": self.audit_sent, "lost": self.audit_lost},
            "fault_events": {"sent": self.fault_sent, "lost": self.fault_lost},
            "hw_watchdog": {"feeds": self.hwwdt.feeds, "starving": self.hwwdt.starving},
            "reset": {"cause": self.reset_report[0], "service": self.reset_report[1],
                      "reason": self.reset_report[2]},
            "events": dict((EVENT_NAMES[i], self.events[i]) for i in range(1, len(EVENT_NAMES))),
            # every file a service found damaged or could not write, and what became of it
            "storage": {"files": persist.report(), "events_lost": persist.events_lost},
        }
