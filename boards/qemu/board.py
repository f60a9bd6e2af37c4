# Emulated-target board (qemu mps2-an500, Cortex-M7): the board interface of boards/unix/board.py and
# boards/stm32h743/board.py for running the kernel, the supervisor and IPC on an ARM core in CI
# (tests_target/test_emulated.py). Time is virtual only, as on the unix board in its default mode:
# the clock moves when the kernel idles (to its next deadline) or charges a step, and every 100 us
# boundary crossed runs one CRITICAL tick at its instant. The filesystem is a RAM littlefs mounted at
# /fs on import (persist, audit log).
#
# Hangs are broken as on the NUCLEO (docs/reliability.md, "Hangs on the board"): a real interrupt
# (the CMSDK APB TIMER0 of the mps2-an500, through the jezgro_irq C module built into the emulated
# target) runs the kernel's hang_check() every 10 ms of the guest's own clock, as the NUCLEO's TIM7
# tick does, and break_main() makes the hung main thread raise KeyboardInterrupt
# (jezgro_irq.break_main, the board's code path). Where the board's IWDG would reset it because the
# break was not taken (native code that never returns to the VM), the emulator stops with
# "watchdog reset" (jezgro_irq.watchdog_reset: qemu exits with status 1).
import time
import vfs
from micropython import const

try:
    import jezgro_irq
except ImportError:
    jezgro_irq = None  # this board layer on the unix port (tests' replays): no interrupt, no hang watch

MASK30 = const(0x3FFFFFFF)
HALF30 = const(0x20000000)
STEP_COST_US = const(10)
VIRTUAL_HANG_FLOOR_MS = const(250)
HANG_CHECK_US = const(10000)  # the hang check's period, as the NUCLEO's (every 100 ticks of 100 us)
# The kernel caps its hang limit at the hardware watchdog's timeout - 250 ms: a break not taken within
# that margin is where the NUCLEO's IWDG resets the board.
IWDG_MARGIN_MS = const(250)
REBREAK_MS = const(20)  # a break raised but swallowed by the hung code is sent again after this
RAM_FS_BLOCKS = const(128)  # x 512 bytes: 64 KB
NAME = "qemu-m7"
FS_ROOT = "/fs"
CHECK_MSGS = True  # as on unix: every IPC send checked against msgs/catalogue.py

irq_off = None  # no preemption: the ticks run in the kernel's thread
irq_on = None


class SystemReset(BaseException):
    def __init__(self, reason, cause="watchdog"):
        super().__init__(reason)
        self.cause = cause


class _RamDisk:
    # block device for vfs.VfsLfs2
    def __init__(self, blocks, size=512):
        self.size = size
        self.data = bytearray(blocks * size)

    def readblocks(self, n, buf, off=0):
        a = n * self.size + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        a = n * self.size + (off or 0)
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return len(self.data) // self.size
        if op == 5:  # block size
            return self.size
        if op == 6:  # erase
            return 0
        return None


def _mount_ram_fs():
    try:
        import os
        os.stat(FS_ROOT)
        return
    except OSError:
        pass
    dev = _RamDisk(RAM_FS_BLOCKS)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), FS_ROOT)


_mount_ram_fs()


class _State:
    def __init__(self):
        self.now_us = 0
        self.next_tick_us = 0
        self.critical = None
        self.tick_hook = None
        self.wdt_timeout_ms = 0
        self.wdt_fed_ms = 0
        self.reset_cause = "power_on"


S = _State()


def configure(virtual=True, reset_cause="power_on", paced=None):
    if not virtual:
        raise ValueError("the emulated board runs in virtual time only")
    S.critical = None
    S.wdt_timeout_ms = 0
    S.reset_cause = reset_cause
    S.next_tick_us = S.now_us


def ticks_ms():
    return (S.now_us // 1000) & MASK30


def ticks_us():
    return S.now_us & MASK30


def ticks_add(t, delta):
    return (t + delta) & MASK30


def ticks_diff(a, b):
    return ((a - b + HALF30) & MASK30) - HALF30


real_us = time.ticks_us
real_ms = time.ticks_ms
real_diff_us = time.ticks_diff
real_ms_diff = time.ticks_diff


def start_ticks(critical):
    S.critical = critical
    S.next_tick_us = S.now_us


def advance_us(target_us):
    crit = S.critical
    hook = S.tick_hook
    while S.next_tick_us <= target_us:
        S.now_us = S.next_tick_us
        if hook is not None:
            hook()
        if crit is not None:
            crit.run_tick(0)
        S.next_tick_us += 100
    if target_us > S.now_us:
        S.now_us = target_us
    if S.wdt_timeout_ms and ticks_diff(ticks_ms(), S.wdt_fed_ms) > S.wdt_timeout_ms:
        S.wdt_timeout_ms = 0
        raise SystemReset("hardware watchdog expired", "watchdog")


def pump():
    pass


def charge_step():
    advance_us(S.now_us + STEP_COST_US)


def charge_hang_ms(ms):
    advance_us(S.now_us + ms * 1000)


def idle(timeout_ms, poll_io):
    if poll_io(0):
        return
    step = timeout_ms if timeout_ms > 0 else 1
    advance_us((S.now_us // 1000 + step) * 1000)


# --- hang watchdog: a real interrupt, as on the board ------------------------------------------
class _Watch:
    # Everything the interrupt touches, created before the timer starts; the interrupt only reads
    # these and stores small ints (heap locked: nothing may allocate).
    def __init__(self):
        self.kernel = None
        self.sid = -1  # the service a break was requested for, -1 when none is outstanding
        self.break_ms = 0  # guest clock (time.ticks_ms) when it was requested
        self.break_clk = 0  # and jezgro_irq.clock() (25 MHz)
        self.latency_clk = -1  # the last break: requested in the interrupt -> taken by the kernel
        self.sent_ms = 0  # when the break was last sent
        self.breaks = 0
        self.rebreaks = 0
        self.cb = self.irq  # the one bound method the timer calls

    def irq(self):
        k = self.kernel
        if k is None:
            return
        if self.sid < 0:
            k.hang_check()
            return
        # A break is outstanding. The VM only takes it between bytecodes: native code that never
        # returns keeps it pending, and the board's IWDG would reset the board.
        now = time.ticks_ms()
        if time.ticks_diff(now, self.break_ms) > IWDG_MARGIN_MS:
            self.kernel = None
            jezgro_irq.watchdog_reset(self.sid)
        elif not jezgro_irq.pending() and time.ticks_diff(now, self.sent_ms) >= REBREAK_MS:
            # Raised, but the kernel has not had it: the hung code caught it (a bare except or
            # except KeyboardInterrupt) and went on. Again, until the kernel takes it.
            self.sent_ms = now
            self.rebreaks += 1
            jezgro_irq.break_main()


W = _Watch()


def break_main(sid):
    # Called by kernel.hang_check() in the timer interrupt.
    W.sid = sid
    W.break_ms = W.sent_ms = time.ticks_ms()
    W.break_clk = jezgro_irq.clock()
    W.breaks += 1
    jezgro_irq.break_main()


def hang_handled():
    # The kernel took the break (or the step ended by itself just before it landed).
    if W.sid >= 0:
        W.latency_clk = (jezgro_irq.clock() - W.break_clk) & MASK30
    W.sid = -1


def hang_floor_ms():
    return VIRTUAL_HANG_FLOOR_MS


def start_hang_watch(kernel):
    if jezgro_irq is None:
        return
    W.sid = -1
    W.kernel = kernel
    jezgro_irq.timer_start(HANG_CHECK_US, W.cb)


def stop_hang_watch():
    W.kernel = None
    if jezgro_irq is not None:
        jezgro_irq.timer_stop()


def wdt_start(timeout_ms):
    S.wdt_timeout_ms = timeout_ms
    S.wdt_fed_ms = ticks_ms()


def wdt_feed():
    S.wdt_fed_ms = ticks_ms()


def reset(reason):
    raise SystemReset("reset requested: " + reason, "soft")


def reset_cause():
    return S.reset_cause
