# Unix host-port board: the same interface as boards/stm32h743/board.py, with
# time either virtual (deterministic, faster than real time) or wall-clock
# (for talking to external peers), a simulated hardware watchdog and a
# thread standing in for the tick IRQ's hang check.
#
# Virtual time: the clock moves only when the kernel idles (to its next
# deadline) or charges a step. Every 100 us boundary crossed runs one CRITICAL
# tick at exactly its instant, so the control domain behaves as if it
# preempted everything else, as the timer IRQ does on the board. A service
# step is charged STEP_COST_US; a hang that the watchdog breaks is charged its
# full watchdog period (the ticks of that period run afterwards, in order).
import os
import time
import _thread
import micropython
from micropython import const

MASK30 = const(0x3FFFFFFF)
HALF30 = const(0x20000000)
STEP_COST_US = const(10)
MAX_CATCHUP_TICKS = const(500)  # wall mode: further behind than this, ticks are dropped (missed)
MAX_BURST_TICKS = const(10)  # wall mode: ticks one pump() runs (1 ms of instants); the rest wait for the next
# Wall mode: how often pump() samples the main thread's time on a CPU (Linux /proc/self/schedstat). A drop
# of ticks that this process's own CPU time does not explain happened while it was off the CPU: the host
# ran other programs, or the process waited (the GC's stack-scan handshake with the hang watcher thread,
# which on a loaded host waits for that thread to be scheduled; a pipe its log goes to that is full).
# Counted in Critical.missed_off_cpu: on the board the tick is a timer IRQ that none of that delays.
# Sampled at most this often because reading the file costs ~30 us; the sample may lie up to this long
# before the lateness began, which counts more CPU time as ours, never less.
CPU_SAMPLE_US = const(2000)
SCHEDSTAT = "/proc/self/schedstat"

HANG_POLL_MS = const(2)
OVERSLEEP_MS = const(20)
OFF_CPU_CHECK_MS = const(20)  # wall mode: a step this long is checked for time off the CPU (_watch)
RESEND_MS = const(3000)  # a hang break not taken by then is sent again
VIRTUAL_HANG_FLOOR_MS = const(250)
# Wall mode: a step is judged hung only after this much real time. A loaded host deschedules the whole
# process for 5-20 ms at a time (less than the watcher's OVERSLEEP_MS, so not excused), which inside
# the step of a 10 ms-watchdog service (DROOP_CTRL) was taken for a hang and restarted it. The board
# breaks hangs at the service's own watchdog (its tick IRQ is never descheduled).
WALL_HANG_FLOOR_MS = const(100)

FS_ROOT = os.getenv("JEZGRO_FS") or "sim_fs"
NAME = "unix"
# Every IPC send is checked against the message catalogue (msgs/catalogue.py): a message with
# another layout or direction raises in its sender, in the simulation and in every test.
CHECK_MSGS = True

irq_off = None  # no preemption on unix: IPC needs no interrupt masking
irq_on = None


class SystemReset(BaseException):
    # The simulated board resets (hardware watchdog fired, or reset() asked for):
    # the sim runner reboots the kernel. BaseException so that no service's
    # `except Exception` and not the kernel's fault handling can swallow it.
    def __init__(self, reason, cause="watchdog"):
        super().__init__(reason)
        self.cause = cause


class _State:
    def __init__(self):
        self.virtual = True
        self.now_us = 0
        self.next_tick_us = 0
        self.critical = None
        self.tick_hook = None  # plant stepping, runs before the control tick
        self.run_us = -1  # wall mode: the last /proc/self/schedstat sample (_sample_cpu) and its time
        self.cpu_at = 0
        self.wdt_timeout_ms = 0
        self.wdt_fed_ms = 0
        self.reset_cause = "power_on"
        self.watch_kernel = None
        self.paced = False  # virtual time held back to the wall clock (never ahead of it)
        self.wall_us = 0
        self.wall_last = 0
        self.virt0_us = 0
        self.rtc0 = None  # wall seconds at simulated time 0 (set once: the RTC runs on through resets)


S = _State()


def configure(virtual=True, reset_cause="power_on", paced=None):
    # paced: virtual time that never runs ahead of the wall clock, for peers outside the process
    # (a python-can station controller) that must see real rates; the CRITICAL ticks still run at
    # their exact virtual instants, so a loaded host delays the simulation instead of dropping ticks.
    if paced is not None:
        S.paced = paced
    S.virt0_us = S.now_us
    if S.rtc0 is None:
        S.rtc0 = time.time() - S.now_us / 1000000  # rtc_seconds() starts at the wall clock's now
    S.wall_us = 0
    S.wall_last = time.ticks_us()
    S.virtual = virtual
    S.critical = None
    S.wdt_timeout_ms = 0
    S.reset_cause = reset_cause
    S.next_tick_us = S.now_us if virtual else time.ticks_us()


# --- clocks ------------------------------------------------------------------
def rtc_seconds():
    # The board's RTC, seconds since 1970: in virtual time it runs with the simulated time (from the
    # wall clock at configure()), as a real RTC runs with the real one.
    if S.virtual:
        return S.rtc0 + S.now_us / 1000000
    return time.time()


# Kernel time wraps at 2^30 ms like ticks_ms on the board, so wrap bugs show up here too.
def ticks_ms():
    if S.virtual:
        return (S.now_us // 1000) & MASK30
    return time.ticks_ms() & MASK30


def ticks_us():
    if S.virtual:
        return S.now_us & MASK30
    return time.ticks_us() & MASK30


def ticks_add(t, delta):
    return (t + delta) & MASK30


def ticks_diff(a, b):
    return ((a - b + HALF30) & MASK30) - HALF30


# Real time, for latencies and hang detection, whatever the kernel clock does.
real_us = time.ticks_us
real_ms = time.ticks_ms
real_diff_us = time.ticks_diff
real_ms_diff = time.ticks_diff


# --- CRITICAL tick source ------------------------------------------------------
def start_ticks(critical):
    S.critical = critical
    S.next_tick_us = S.now_us if S.virtual else time.ticks_us()
    if not S.virtual:
        _sample_cpu(time.ticks_us())


def _check_wdt():
    if S.wdt_timeout_ms and ticks_diff(ticks_ms(), S.wdt_fed_ms) > S.wdt_timeout_ms:
        S.wdt_timeout_ms = 0
        raise SystemReset("hardware watchdog expired", "watchdog")


def advance_us(target_us):
    # Virtual time: run every tick due up to target_us at its own instant.
    t = S.next_tick_us
    if t <= target_us:
        S.next_tick_us = _run_ticks(S, t, target_us, S.tick_hook, S.critical)
    if target_us > S.now_us:
        S.now_us = target_us
    _check_wdt()


@micropython.native
def _run_ticks(s, t, target_us, hook, crit):
    # the ticks from t to target_us (10 per simulated ms: native, the loop itself costs next to
    # nothing next to the plant and the control; nothing allocated); -> the next tick's instant
    while t <= target_us:
        s.now_us = t
        if hook is not None:
            hook()
        if crit is not None:
            crit.run_tick(0)
        t += 100
    return t


def pump():
    # Wall mode: run the ticks that came due since the last call, late, at most MAX_BURST_TICKS of
    # them: the kernel calls pump() between every two service steps, so a host that took the CPU
    # away makes the ticks catch up a burst at a time between the services' steps instead of all at
    # once before them (a protocol answer waited behind up to 500 ticks, then housekeeping, then
    # the next 500: hundreds of ms on a loaded host). Instants more than MAX_CATCHUP_TICKS late are
    # dropped and counted as missed.
    if S.virtual:
        return
    now = time.ticks_us()
    behind = time.ticks_diff(now, S.next_tick_us)
    dropping = behind > MAX_CATCHUP_TICKS * 100
    if dropping or time.ticks_diff(now, S.cpu_at) > CPU_SAMPLE_US:
        run0 = S.run_us
        _sample_cpu(now)
        if dropping and S.critical is not None:
            skipped = behind // 100 - MAX_CATCHUP_TICKS
            S.critical.missed += skipped
            # Whose lateness: had this process's own CPU time since the last sample (an upper bound
            # of its work during the lateness) made the ticks MAX_CATCHUP_TICKS late by itself?
            if run0 >= 0 and S.run_us - run0 <= MAX_CATCHUP_TICKS * 100:
                S.critical.missed_off_cpu += skipped
    if behind < 0:
        return
    crit = S.critical
    if dropping:
        skipped = behind // 100 - MAX_CATCHUP_TICKS
        S.next_tick_us = time.ticks_add(S.next_tick_us, skipped * 100)
    hook = S.tick_hook
    n = 0
    while n < MAX_BURST_TICKS and time.ticks_diff(now, S.next_tick_us) >= 0:
        if hook is not None:
            hook()
        if crit is not None:
            crit.run_tick(time.ticks_diff(time.ticks_us(), S.next_tick_us))
        S.next_tick_us = time.ticks_add(S.next_tick_us, 100)
        n += 1
    _check_wdt()


def _read_cpu_us():
    # the main thread's time on a CPU so far (Linux, microseconds), -1 where unknown
    try:
        with open(SCHEDSTAT) as f:
            return int(f.read().split()[0]) // 1000
    except (OSError, ValueError, IndexError):
        return -1


def _sample_cpu(now):
    S.run_us = _read_cpu_us()
    S.cpu_at = now


def step_cpu_us(took_us):
    # Wall mode: how much of a step of took_us the process itself spent on a CPU (an upper bound:
    # counted from pump()'s last sample, taken at most CPU_SAMPLE_US before the step) - the kernel's
    # max_step_cpu_us: what the step costs on an undisturbed host. The sample is left to pump(),
    # whose drop attribution needs the run-queue wait across the step too.
    run = _read_cpu_us()
    if S.run_us < 0 or run < 0:
        return took_us
    return min(took_us, run - S.run_us)


def ticks_behind():
    # Wall mode: tick instants are due that pump() has not run yet (the kernel must not sleep)
    return not S.virtual and time.ticks_diff(time.ticks_us(), S.next_tick_us) >= 0


def charge_step():
    if S.virtual:
        advance_us(S.now_us + STEP_COST_US)


def charge_hang_ms(ms):
    if S.virtual:
        advance_us(S.now_us + ms * 1000)


def idle(timeout_ms, poll_io):
    if S.virtual:
        # a second look (the kernel polled just before): a loopback frame sent by this very process in
        # the step before may only now have been delivered, and virtual time is about to jump
        if poll_io(0):
            return
        step = timeout_ms if timeout_ms > 0 else 1
        target = (S.now_us // 1000 + step) * 1000
        if S.paced:
            w = time.ticks_us()
            S.wall_us += time.ticks_diff(w, S.wall_last)
            S.wall_last = w
            ahead_ms = (target - S.virt0_us - S.wall_us) // 1000
            if ahead_ms > 0 and poll_io(ahead_ms):
                return  # I/O came in while waiting for the wall clock: serve it first
        advance_us(target)
        return
    if ticks_behind():
        poll_io(0)  # ticks still to catch up: look at the sockets, then straight back to pump()
        return
    wait = timeout_ms if timeout_ms < 1 else 1  # ticks are due every 100 us: never sleep long
    if not poll_io(wait) and wait == 0:
        time.sleep_us(50)


# --- hang watchdog (stands in for the tick IRQ's check on the board) -----------
# A service that never yields can only be stopped from outside the VM. With the
# jezgro_irq C module (every build of ours: boards/micropython/modules) the watcher
# thread does what the board's tick IRQ does: jezgro_irq.break_main() makes the main
# thread raise KeyboardInterrupt at its next bytecode branch (mp_sched_exception: one
# pointer stored, no signal). Without it (the PyPI unix port `make sim` falls back to)
# the watcher has SIGINT delivered to this process, which the port turns into
# KeyboardInterrupt in the running code - but SIGINT with a second thread corrupts the
# v1.28 unix port's heap now and then (docs/reliability.md), and may land in the
# watcher itself. system() ignores SIGINT while it waits, hence the background kill.
# Either way the kernel knows it asked for it, and the watcher then blocks until the
# kernel has taken the hang.
try:
    import jezgro_irq
except ImportError:
    jezgro_irq = None


def _own_pid():
    with open("/proc/self/stat") as f:
        return int(f.read().split()[0])


_BREAK_CMD = "(sleep 0.001; kill -INT %d) >/dev/null 2>&1 &" % _own_pid()


def break_main(sid):
    if jezgro_irq is not None:
        jezgro_irq.break_main()
    else:
        os.system(_BREAK_CMD)


def hang_handled():
    pass  # the watcher polls kernel.hang_pending


def hang_floor_ms():
    return VIRTUAL_HANG_FLOOR_MS if S.virtual else WALL_HANG_FLOOR_MS


def _watch(kernel):
    # When this thread oversleeps badly, the host descheduled the process: that
    # time is excused for the step in progress (it is reset when a new step starts).
    # In wall mode a step that has run OFF_CPU_CHECK_MS is also excused the time the
    # main thread spent off the CPU since then (its CPU time, /proc/self/schedstat: the
    # leader thread's): a loaded host deschedules the main thread alone for 100+ ms while
    # this thread runs on (a 20-run loaded-host test saw CAN_HANDLER "hang" twice so).
    last = time.ticks_ms()
    step = -1
    excused = 0
    cpu_base = -1
    wall_base = 0
    while S.watch_kernel is kernel:
        try:
            time.sleep_ms(HANG_POLL_MS)
            now = time.ticks_ms()
            gap = time.ticks_diff(now, last)
            last = now
            if kernel.steps != step:
                step = kernel.steps
                excused = 0
                cpu_base = -1
            if gap > OVERSLEEP_MS:
                excused += gap - HANG_POLL_MS
            if not S.virtual and kernel.in_step and \
                    time.ticks_diff(now, kernel.step_start_ms) > OFF_CPU_CHECK_MS:
                cpu = _read_cpu_us()
                if cpu >= 0 and cpu_base < 0:
                    cpu_base = cpu
                    wall_base = now
                elif cpu >= 0:
                    off = time.ticks_diff(now, wall_base) - (cpu - cpu_base) // 1000
                    if off > excused:
                        excused = off
            if kernel.hang_check(excused):
                _await_handled(kernel)
        except KeyboardInterrupt:
            # A port built with the unix default MICROPY_ASYNC_KBD_INTR raised the break in this
            # thread (straight from the signal handler, in whichever thread the kernel picked), so
            # the hung main thread never saw it: send it again. Without this the watcher died and
            # every later hang ran forever. Our unix build (boards/micropython/jezgro_unix) makes the
            # break a pending exception of the main thread instead: the asynchronous one also jumped
            # out of gc_alloc holding the GC mutex (the soak then stopped for good, both threads
            # waiting) or out of a heap_lock()ed section ("heap is locked").
            if kernel.hang_pending and S.watch_kernel is kernel:
                break_main(-1)


def _await_handled(kernel):
    # Wait until the kernel has taken the hang; a break that has not landed after RESEND_MS (lost:
    # the chaos soak saw a run hang forever once in a few hundred hangs) is sent again. A late
    # original then reaches a kernel with no hang pending, which stops the run as a Ctrl-C would:
    # a visible failure instead of a run that never ends. (With the break a pending exception, a
    # second SIGINT while the first still waits for the main thread's next bytecode, stuck in C for
    # 3 s, makes the port exit(1): visible too.)
    waited = 0
    while kernel.hang_pending and S.watch_kernel is kernel:
        time.sleep_ms(HANG_POLL_MS)
        waited += HANG_POLL_MS
        if waited >= RESEND_MS:
            waited = 0
            break_main(-1)


def start_hang_watch(kernel):
    S.watch_kernel = kernel
    _thread.start_new_thread(_watch, (kernel,))


def stop_hang_watch():
    S.watch_kernel = None


# --- hardware watchdog and reset cause ---------------------------------------------
def wdt_start(timeout_ms):
    S.wdt_timeout_ms = timeout_ms
    S.wdt_fed_ms = ticks_ms()


def wdt_feed():
    S.wdt_fed_ms = ticks_ms()


def reset(reason):
    raise SystemReset("reset requested: " + reason, "soft")


def reset_cause():
    return S.reset_cause


# --- CAN-FD to the station controller ------------------------------------------------
# Same functions as boards/stm32h743/board.py: can_open, can_send, can_recv, can_state, can_restart,
# can_close. The bus is python-can's udp_multicast (boards/unix/canudp.py) on CAN_PORT (env
# JEZGRO_CAN_PORT: one port per test keeps parallel runs apart). Bus states are pyb.CAN's; the
# simulated controller is error-active unless a test forces another state (can_sim_state): bus-off
# drops every send and holds until can_restart(), as the FDCAN does without auto-restart.
# the controller states of pyb.CAN.state(), the same numbers on both boards
CAN_STOPPED, CAN_ERROR_ACTIVE, CAN_ERROR_WARNING, CAN_ERROR_PASSIVE, CAN_BUS_OFF = 0, 1, 2, 3, 4
CAN_PORT = int(os.getenv("JEZGRO_CAN_PORT") or "43113")


class _Can:
    bus = None
    state = CAN_STOPPED
    meta = None


def can_open(nominal_bps, data_bps):
    # -> 0, or a negative errno (no IPv6 multicast here): the caller counts it and retries
    import canudp
    can_close()
    try:
        _Can.bus = canudp.Bus(CAN_PORT)
    except OSError as e:
        return -(e.args[0] if e.args and isinstance(e.args[0], int) else 1)
    import array
    _Can.meta = array.array("i", bytes(4 * (canudp.NF + 3)))
    _Can.state = CAN_ERROR_ACTIVE
    return 0


def can_close():
    if _Can.bus is not None:
        _Can.bus.close()
        _Can.bus = None
    _Can.state = CAN_STOPPED


def can_send(can_id, data, n, fd):
    # -> True when queued for transmission; False when the controller cannot (bus-off, stopped, full)
    b = _Can.bus
    if b is None or _Can.state == CAN_BUS_OFF:
        return False
    try:
        b.send(can_id, data, n, fd)
    except OSError:
        return False
    return True


def can_recv(meta, data):
    # One received frame: 1 with meta[0] = id, meta[1] = length, meta[2] = 1 for FD and data[0:length]
    # filled; 0 when nothing waits; -1 malformed datagram; -2 a frame we never accept (extended id,
    # remote, error frame). Nothing is allocated for a frame.
    b = _Can.bus
    if b is None or _Can.state == CAN_BUS_OFF:
        return 0
    out = _Can.meta
    d = b.recv(out)
    if d is None:
        return 0
    if d is False or out[1] > 64:
        return -1
    if out[4] or out[5] or out[6]:
        return -2
    n = out[1]
    at = out[2]
    i = 0
    while i < n:
        data[i] = d[at + i]
        i += 1
    meta[0] = out[0]
    meta[1] = n
    meta[2] = out[3]
    return 1


def can_state():
    return _Can.state


def can_restart():
    # leave bus-off (the FDCAN's INIT cycle: 128 x 11 recessive bits on a real bus)
    if _Can.bus is not None:
        _Can.state = CAN_ERROR_ACTIVE


def can_sim_state(state):
    # tests: force the simulated controller into an error state (CAN_ERROR_PASSIVE, CAN_BUS_OFF) or back
    if _Can.bus is not None:
        _Can.state = state


# --- control pilot and PLC link (SLAC service) ---------------------------------------------------------
# The pilot is the simulated circuit of pilot_sim (driven by the simulated EV); the PLC link a raw
# AF_PACKET socket (plc.RawLink) or, where raw sockets need root, an in-process wire (plc.MemLink).
def pilot_pwm(permille):
    # 1 kHz PWM duty the EVSE drives: 1000 steady +12 V, 0 steady -12 V (state F)
    import pilot_sim
    pilot_sim.CP.duty = permille


def pilot_sample(out):
    # out[0] = positive plateau mV, out[1] = negative plateau mV
    import pilot_sim
    pilot_sim.measure(out)


def pp_ohms():
    # proximity pilot resistance (0: none)
    import pilot_sim
    return pilot_sim.CP.pp_ohm


def plc_open(iface, mac=None, atten=None, profiles=False, pcap=None):
    # -> the host interface of the PLC modem (send(buf, n), recv(buf), sock or None, mac, stats())
    import plc
    return plc.open_link(iface, mac, atten, profiles, pcap)


# --- network (ETHERNET, services/ethernet.py) ---------------------------------------------------------
# The unix port uses one of the host's interfaces as it is (the host configures it): net_open() picks
# it by name, net_status() reads its state from /sys and /proc. Nothing here changes the host.
_NET = {"iface": "lo"}


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _hex_ip(h):
    # /proc/net/route's little-endian hex address -> dotted quad
    v = int(h, 16)
    return "%d.%d.%d.%d" % (v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24)


def _ip_int(s):
    a = [int(x) for x in s.split(".")]
    return a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]


def net_open(cfg):
    # -> "" when the interface is there, else why not (on the board: the PHY/DHCP set-up)
    _NET["iface"] = cfg["iface"] or "lo"
    if _read("/sys/class/net/%s/operstate" % _NET["iface"]) is None:
        return "no interface %s on this host" % _NET["iface"]
    return ""


def net_status():
    # -> (link up, address, netmask, gateway, dns) of the interface; "" for what is not known
    iface = _NET["iface"]
    op = _read("/sys/class/net/%s/operstate" % iface)
    up = op is not None and op.strip() in ("up", "unknown")  # lo reports "unknown"
    dns = ""
    for ln in (_read("/etc/resolv.conf") or "").splitlines():
        if ln.startswith("nameserver"):
            dns = ln.split()[1]
            break
    if not up:
        return False, "", "", "", dns
    if iface == "lo":
        return True, "127.0.0.1", "255.0.0.0", "", dns
    gw = ""
    nets = []
    for ln in (_read("/proc/net/route") or "").splitlines()[1:]:
        f = ln.split()
        if len(f) > 7 and f[0] == iface:
            if f[1] == "00000000":
                gw = _hex_ip(f[2])
            else:
                nets.append((_ip_int(_hex_ip(f[1])), _ip_int(_hex_ip(f[7])), _hex_ip(f[7])))
    ip = mask = ""
    last = ""
    for ln in (_read("/proc/net/fib_trie") or "").splitlines():
        t = ln.strip()
        if t.startswith("|-- "):
            last = t[4:]
        elif t.startswith("/32 host LOCAL") and last and not ip:
            a = _ip_int(last)
            for net, m, ms in nets:
                if a & m == net:
                    ip, mask = last, ms
    return True, ip, mask, gw, dns
