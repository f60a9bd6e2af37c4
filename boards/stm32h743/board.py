"""Board interface for the NUCLEO-H743ZI (STM32H743, Cortex-M7, 400 MHz).

Same names and semantics as boards/unix/board.py: the kernel talks to the
hardware only through this module. What is different on the real board, and why:

* Kernel time is real time. ticks_* are time.ticks_*, which wrap at 2^30 on this
  port (the small-int range), exactly like the unix board's masked clock;
  real_* are the same clocks.

* The CRITICAL tick is the update interrupt of TIM7 at 10 kHz. TIM7 is a basic
  timer that the stm32 port does not use itself (TIM3 is internal, TIM5 drives
  the servo code, TIM6 triggers ADC/DAC read_timed/write_timed). pyb.Timer
  callbacks are HARD interrupts: the heap is locked while they run, so nothing
  on the tick path may allocate. Hence: the bound method handed to the timer is
  created once, here at import; the callback does small-int arithmetic only
  (ticks_us values and their differences stay within 30 bits), no floats
  (boxed, i.e. heap objects, on this port), no tuples, no string formatting.
  An exception escaping a hard callback makes MicroPython disable that
  callback for good, silently stopping every control loop; so the callback
  catches it and marks the registered tick slots faulted, which the kernel's
  housekeeping turns into ordinary F_TICK faults (restart, then quarantine and
  a starved hardware watchdog if it keeps happening).

* Exceptions raised while the heap is locked can only carry a traceback if an
  emergency buffer exists: micropython.alloc_emergency_exception_buf(100) at
  import.

* Every 100 ticks (10 ms) the same interrupt runs the kernel's hang_check(),
  which allocates nothing either. Python in an interrupt cannot raise into
  the main thread (micropython.schedule callbacks run "protected": an
  exception they raise is printed and dropped), so break_main() calls
  jezgro_irq.break_main(), a C function built into the JEZGRO_H743 image
  (boards/micropython/modules/jezgro_irq): it sets the VM's pending exception
  to a preallocated KeyboardInterrupt("hang watchdog"), which the hung main
  thread raises at its next bytecode branch or call; the kernel takes it as
  the break it asked for (hang -> only that service restarts), as on unix.
  Before that, break_main() writes MAGIC|sid into RTC backup register BKP0R
  (backup domain: survives a system reset, and on the NUCLEO VBAT is tied to
  VDD); hang_handled() clears it when the break was taken. If it is not
  (native code that never returns to the VM, a blocking C call: the list is
  in docs/reliability.md), the hardware watchdog, which the hung main loop no
  longer feeds, resets the board; the next boot reads and clears the record
  with hang_record(), and main.py reports "watchdog reset: service X hung".
  On an image without jezgro_irq (stock MicroPython) only that reset path
  exists.

* Writing the backup registers needs PWR_CR1.DBP (backup-domain write access)
  and the RTC's APB clock; creating pyb.RTC() once at import sets both up.

* Service mode: machine.WDT (the IWDG) cannot be stopped once started. When
  the kernel is interrupted from the USB REPL (Ctrl-C from mpremote),
  main.py calls service_mode(): the control ticks stop and the tick interrupt
  feeds the IWDG instead, so the REPL stays usable for deploying (until the
  next reset; a soft reset stops the timer and lets the IWDG expire). A file
  FS_ROOT/SERVICE_MODE, or the blue USER button held at reset, makes main.py
  skip the kernel altogether (the IWDG is then never started).
"""
import os
import time
import machine
import micropython
import pyb
import stm
from micropython import const

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable
    from jezgro.critical import Critical
    from jezgro.kernel import Kernel

micropython.alloc_emergency_exception_buf(100)

_irq_break: "Callable[[], None] | None"
_irq_pending: "Callable[[], bool] | None"
try:
    from jezgro_irq import break_main as _irq_break, pending as _irq_pending  # the board image's C module
except ImportError:
    _irq_break = _irq_pending = None  # a stock image: a hang ends in the IWDG reset

FS_ROOT = "/flash"
NAME = "stm32h743"

TICK_TIMER = const(7)  # TIM7: basic timer, free on the stm32 port
TICK_HZ = const(10000)
TICK_US = const(100)
HANG_EVERY = const(100)  # ticks between hang checks (10 ms)
REBREAK_MS = const(20)  # a break raised but swallowed by the hung code is sent again after this
MASK30 = const(0x3FFFFFFF)

# RM0433 (STM32H742/743/750/753): RTC at 0x58004000, RTC_BKP0R at offset 0x100.
# The address is above the small-int range: as a const it is folded into the
# bytecode as a ready-made constant object, so using it allocates nothing.
BKP0R = const(0x58004100)
HANG_MAGIC = const(0x1E5A)  # upper 16 bits of a hang record; sid in the low 8
SERVICE_MODE_FILE = "SERVICE_MODE"

# IRQ masking around the few IPC lines that touch indices shared with the tick.
irq_off = machine.disable_irq
irq_on = machine.enable_irq

# --- clocks ----------------------------------------------------------------------
ticks_ms = time.ticks_ms
ticks_us = time.ticks_us
ticks_add = time.ticks_add
ticks_diff = time.ticks_diff

real_us = time.ticks_us
real_ms = time.ticks_ms
real_diff_us = time.ticks_diff
real_ms_diff = time.ticks_diff

_rtc = pyb.RTC()  # enables backup-domain write access (PWR_CR1.DBP) and the RTC clock


class _Ticker:
    # Everything the tick interrupt touches lives here, created before the
    # timer starts; the interrupt only reads these and stores small ints.
    def __init__(self) -> None:
        self.timer: pyb.Timer | None = None
        self.crit: Critical | None = None
        self.kernel: Kernel | None = None
        self.wdt: machine.WDT | None = None
        self.feed_wdt = False  # service mode: the interrupt keeps the IWDG fed
        self.expect = time.ticks_us()  # when the next tick is due
        self.first = True
        self.div = 0
        self.missed = 0
        self.errors = 0  # exceptions that escaped run_tick or hang_check
        self.last_error: BaseException | None = None
        self.brk_sid = -1  # the service a break is outstanding for (break_main), -1: none
        self.brk_ms = time.ticks_ms()  # when it was last sent
        self.rebreaks = 0
        self.cb = self.irq  # the one bound method the timer calls (no allocation per tick)

    def irq(self, t: pyb.Timer) -> None:
        # Hard IRQ, heap locked: small ints only, nothing allocated.
        now = time.ticks_us()
        if self.first:
            self.first = False
            self.expect = now  # the first interrupt sets the phase
        late = time.ticks_diff(now, self.expect)
        if late < 0:
            # Earlier than expected: the phase was set by a late tick. Re-anchor.
            self.expect = now
            late = 0
        elif late >= TICK_US:
            # Interrupts were blocked for more than a period: those updates merged.
            lost = late // TICK_US
            late -= lost * TICK_US
            self.expect = time.ticks_add(self.expect, lost * TICK_US)
            self.missed = (self.missed + lost) & MASK30
            crit = self.crit
            if crit is not None:
                crit.missed = (crit.missed + lost) & MASK30
        self.expect = time.ticks_add(self.expect, TICK_US)
        crit = self.crit
        if crit is not None:
            try:
                crit.run_tick(late)
            except Exception as e:  # noqa: BLE001 - must not escape: it would disable the timer
                self.errors = (self.errors + 1) & MASK30
                self.last_error = e
                _fault_all(crit, e)
        n = self.div + 1
        if n >= HANG_EVERY:
            n = 0
            k = self.kernel
            if k is not None:
                try:
                    if self.brk_sid < 0:
                        k.hang_check()
                    else:
                        self.rebreak()
                except Exception as e:  # noqa: BLE001
                    self.errors = (self.errors + 1) & MASK30
                    self.last_error = e
                    self.kernel = None
            if self.feed_wdt:
                w = self.wdt
                if w is not None:
                    w.feed()
        self.div = n


    def rebreak(self) -> None:
        # A break is outstanding. Raised but not yet taken by the kernel: the hung code caught it (a
        # bare except, except KeyboardInterrupt) and went on; sent again every REBREAK_MS until the
        # kernel takes it. Still pending (native code that never returns to the VM): nothing to do
        # here, the IWDG resets the board.
        pending = _irq_pending
        brk = _irq_break
        if pending is None or brk is None or pending():
            return
        now = time.ticks_ms()
        if time.ticks_diff(now, self.brk_ms) >= REBREAK_MS:
            self.brk_ms = now
            self.rebreaks = (self.rebreaks + 1) & MASK30
            brk()


def _fault_all(crit: "Any", e: Exception) -> None:
    # The tick machinery itself failed: flag every registered slot so the kernel
    # handles it as a tick fault of each CRITICAL service (allocation-free).
    # (Any: Critical's tables are unannotated, mypy infers list[None] for them.)
    for i in range(crit.n):
        if crit.fns[i] is not None and not crit.faulted[i]:
            crit.fault[i] = e
            crit.faulted[i] = 1


_T = _Ticker()


# --- CRITICAL tick source ---------------------------------------------------------
def start_ticks(critical: "Critical") -> None:
    stop_ticks()
    _T.crit = critical
    _T.first = True
    _T.div = 0
    _T.feed_wdt = False
    _T.timer = pyb.Timer(TICK_TIMER, freq=TICK_HZ, callback=_T.cb)


def stop_ticks() -> None:
    # Not part of the unix interface: used by service mode and on-target tests.
    t = _T.timer
    _T.timer = None
    if t is not None:
        t.deinit()
    _T.crit = None


def tick_stats() -> "tuple[int, int]":
    # (merged/missed ticks seen by the interrupt, exceptions caught in it)
    return _T.missed, _T.errors


def pump() -> None:
    pass  # the timer interrupt runs the ticks by itself


def charge_step() -> None:
    pass  # time is real: nothing to charge


def charge_hang_ms(ms: int) -> None:
    pass


def idle(timeout_ms: int, poll_io: "Callable[[int], bool]") -> None:
    # Ticks run from the interrupt whatever we do here; only I/O and the next
    # deadline matter. Never block longer than 1 ms so housekeeping stays on time.
    wait = timeout_ms if timeout_ms < 1 else 1
    if not poll_io(wait) and wait > 0:
        machine.idle()  # WFI: the next interrupt (10 kHz tick, 1 kHz SysTick) wakes us


# --- hang watchdog ----------------------------------------------------------------
def start_hang_watch(kernel: "Kernel") -> None:
    _T.kernel = kernel


def stop_hang_watch() -> None:
    _T.kernel = None


def break_main(sid: int) -> None:
    # Called from the tick interrupt (heap locked). The record first: if the
    # break is not taken, the starved IWDG resets the board and the next boot
    # says who hung.
    stm.mem32[BKP0R] = (HANG_MAGIC << 16) | (sid & 0xFF)
    brk = _irq_break
    if brk is not None:
        _T.brk_sid = sid
        _T.brk_ms = time.ticks_ms()
        brk()  # the main thread raises KeyboardInterrupt at its next bytecode branch


def hang_handled() -> None:
    # The kernel took the break (or the step ended by itself first): no reset
    # is coming for this hang, so its record goes.
    _T.brk_sid = -1
    stm.mem32[BKP0R] = 0


def hang_floor_ms() -> int:
    return 0  # real time on real hardware: each service's own watchdog period applies


def in_main_context() -> bool:
    return True


def hang_record(clear: bool = True) -> int:
    # The sid whose hang ended the previous run (-1 if none); clears the record
    # unless clear is False.
    v = stm.mem32[BKP0R]
    if (v >> 16) != HANG_MAGIC:
        return -1
    if clear:
        stm.mem32[BKP0R] = 0
    return v & 0xFF


# --- hardware watchdog and reset cause ------------------------------------------------
def wdt_start(timeout_ms: int) -> None:
    _T.wdt = machine.WDT(timeout=timeout_ms)


def wdt_feed() -> None:
    w = _T.wdt
    if w is not None:
        w.feed()


def reset(reason: str) -> None:
    machine.reset()  # reason already persisted by the kernel (reset_cause.json)


def reset_cause() -> str:
    c = machine.reset_cause()
    if c == machine.PWRON_RESET:
        return "power_on"
    if c == machine.WDT_RESET:
        return "watchdog"
    if c == machine.SOFT_RESET:
        return "soft"
    if c == machine.DEEPSLEEP_RESET:
        return "deepsleep"
    return "hard"


# --- service mode ---------------------------------------------------------------------
def service_mode() -> None:
    # The kernel has been stopped (Ctrl-C): stop the control ticks and hang
    # checks, and keep the already running IWDG fed from the tick interrupt so
    # the REPL stays usable. Only until the next reset.
    t = _T.timer
    _T.kernel = None
    _T.crit = None
    _T.feed_wdt = True
    if t is None:
        _T.first = True
        _T.timer = pyb.Timer(TICK_TIMER, freq=TICK_HZ, callback=_T.cb)


def service_mode_requested() -> bool:
    # SERVICE_MODE file on the filesystem, or the USER button held at reset.
    try:
        os.stat(FS_ROOT + "/" + SERVICE_MODE_FILE)
        return True
    except OSError:
        pass
    try:
        return pyb.Switch().value()
    except (AttributeError, ValueError, OSError):
        return False


# --- CAN-FD to the station controller ---------------------------------------------------
# FDCAN1 (PD0 RX, PD1 TX on the NUCLEO's Zio connector: docs/can.md for the transceiver) through
# pyb.CAN. The FDCAN kernel clock of the stock board definition is the 8 MHz HSE, so the bit timing
# is set in time quanta rather than with baudrate=: nominal 500 kbit/s = 16 tq (1 + 13 + 2, sample
# point 87.5 %, CiA 601), data 2 Mbit/s = 4 tq (1 + 2 + 1, sample point 75 %). No transmitter delay
# compensation in the stock firmware: keep the bus short at 2 Mbit/s (docs/can.md).
# Receive: one filter passing only STATION_CMD (0x700) into FIFO 0; recv() into a preallocated list
# and 64-byte memoryview allocates nothing. No auto-restart: CAN_HANDLER sees bus-off, counts it and
# calls can_restart() after a pause.
# the controller states of pyb.CAN.state(), the same numbers on both boards
CAN_STOPPED, CAN_ERROR_ACTIVE, CAN_ERROR_WARNING, CAN_ERROR_PASSIVE, CAN_BUS_OFF = 0, 1, 2, 3, 4
FDCAN_CLOCK_HZ = const(8000000)
CAN_RX_ID = const(0x700)


class _Can:
    can: "Any" = None
    rx: "Any" = None
    rxbuf = bytearray(64)


def can_open(nominal_bps: int, data_bps: int) -> int:
    try:
        c = pyb.CAN(1, pyb.CAN.NORMAL)
        c.init(pyb.CAN.NORMAL, prescaler=FDCAN_CLOCK_HZ // (nominal_bps * 16), sjw=1, bs1=13, bs2=2,
               brs_prescaler=FDCAN_CLOCK_HZ // (data_bps * 4), brs_sjw=1, brs_bs1=2, brs_bs2=1,
               auto_restart=False)
        c.setfilter(0, pyb.CAN.MASK, 0, (CAN_RX_ID, 0x7FF))
    except (OSError, ValueError) as e:
        return -(e.args[0] if e.args and isinstance(e.args[0], int) else 1)
    _Can.can = c
    _Can.rx = [0, False, False, 0, memoryview(_Can.rxbuf)]
    return 0


def can_close() -> None:
    if _Can.can is not None:
        _Can.can.deinit()
        _Can.can = None


def can_send(can_id: int, data: "Any", n: int, fd: bool) -> bool:
    c = _Can.can
    if c is None:
        return False
    try:
        c.send(memoryview(data)[:n], can_id, timeout=0, fdf=fd, brs=fd)
    except OSError:
        return False  # the three TX buffers are full or the controller is bus-off
    return True


def can_recv(meta: "Any", data: "Any") -> int:
    c = _Can.can
    if c is None or not c.any(0):
        return 0
    r = _Can.rx
    # recv() sets the view's length to the frame's in place, over the same 64-byte buffer
    c.recv(0, r, timeout=0)
    if r[1] or r[2]:
        return -2  # extended or remote: never a station command
    mv = r[4]
    n = len(mv)
    i = 0
    while i < n:
        data[i] = mv[i]
        i += 1
    meta[0] = r[0]
    meta[1] = n
    meta[2] = 1 if n > 8 else 0
    return 1


def can_state() -> int:
    c = _Can.can
    return c.state() if c is not None else CAN_STOPPED


def can_restart() -> None:
    if _Can.can is not None:
        _Can.can.restart()


# --- control pilot (IEC 61851-1) and PLC link ---------------------------------------------------------
# Pilot out: TIM4 CH1 on PD12 (Zio D29), 1 kHz, into the +-12 V pilot driver (op-amp stage, docs/slac.md);
# TIM1 is the inverter's, TIM7 the tick's, TIM5/TIM6 the port's: TIM12 paces the pilot's ADC reads.
# Pilot in: the pilot through a divider/offset network (-12..+12 V -> 0.15..3.15 V) on PA3 (ADC1, Zio A0);
# one read samples 2 ms at 50 kHz (two PWM periods): max = positive plateau, min = negative plateau.
# PP: the proximity resistor against a 330 Ohm pull-up to 3.3 V on PC0 (Zio A1).
PILOT_PWM_PIN = "PD12"
PILOT_PWM_TIMER = const(4)
PILOT_ADC_TIMER = const(12)
PILOT_ADC_PIN = "PA3"
PP_ADC_PIN = "PC0"
PILOT_ADC_MID_MV = const(1650)     # 0 V pilot
PILOT_ADC_SCALE = const(8)         # 1 mV at the ADC = 8 mV on the pilot (+-12 V over +-1.5 V)
PP_PULLUP_OHM = const(330)
PILOT_SAMPLES = const(100)


class _Pilot:
    ch: "Any" = None
    adc: "Any" = None
    pp: "Any" = None
    tim: "Any" = None
    buf = bytearray(2 * PILOT_SAMPLES)


def pilot_pwm(permille: int) -> None:
    # 1000: steady +12 V; 0: steady -12 V (state F)
    if _Pilot.ch is None:
        t = pyb.Timer(PILOT_PWM_TIMER, freq=1000)
        _Pilot.ch = t.channel(1, pyb.Timer.PWM, pin=pyb.Pin(PILOT_PWM_PIN))
    _Pilot.ch.pulse_width_percent(permille / 10)


def _adc_mv(raw: int) -> int:
    return raw * 3300 // 4095


def pilot_sample(out: "Any") -> None:
    import array
    if _Pilot.adc is None:
        _Pilot.adc = pyb.ADC(pyb.Pin(PILOT_ADC_PIN))
        _Pilot.tim = pyb.Timer(PILOT_ADC_TIMER, freq=50000)
        _Pilot.buf = array.array("H", bytes(2 * PILOT_SAMPLES))  # type: ignore[assignment]
    _Pilot.adc.read_timed(_Pilot.buf, _Pilot.tim)
    hi = 0
    lo = 65535
    for v in _Pilot.buf:
        if v > hi:
            hi = v
        if v < lo:
            lo = v
    out[0] = (_adc_mv(hi) - PILOT_ADC_MID_MV) * PILOT_ADC_SCALE
    out[1] = (_adc_mv(lo) - PILOT_ADC_MID_MV) * PILOT_ADC_SCALE


def pp_ohms() -> int:
    if _Pilot.pp is None:
        _Pilot.pp = pyb.ADC(pyb.Pin(PP_ADC_PIN))
    mv = _adc_mv(_Pilot.pp.read())
    if mv >= 3200:
        return 0                       # open: no cable
    return PP_PULLUP_OHM * mv // (3300 - mv)


def plc_open(iface: str, mac: "Any" = None, atten: "Any" = None, profiles: bool = False,
             pcap: "Any" = None) -> "Any":
    # The NUCLEO's MicroPython has no raw Ethernet frames (lwIP only) and no QCA7000 SPI driver yet:
    # the SLAC service reports this and runs the pilot only (docs/slac.md, board gaps).
    raise OSError("no PLC modem driver on this board: raw HomePlug frames need the QCA7000 SPI driver")


# --- network (ETHERNET, services/ethernet.py): the H743's Ethernet MAC + LAN8742 PHY through network.LAN ----
_lan: "Any" = None


def net_open(cfg: "dict") -> str:
    # Brings the interface up: DHCP, or the static address of cfg. -> "" or why it failed.
    global _lan
    try:
        import network
        if _lan is None:
            _lan = network.LAN()
        _lan.active(True)
        if cfg["mode"] == "static":
            _lan.ifconfig((cfg["ip"], cfg["mask"], cfg["gw"], cfg["dns"]))
        else:
            _lan.ifconfig("dhcp")
    except (OSError, ImportError, ValueError) as e:
        return "LAN: %s" % (e,)
    return ""


def net_status() -> "tuple[bool, str, str, str, str]":
    # (link up, address, netmask, gateway, dns); "" for what is not known yet
    if _lan is None:
        return False, "", "", "", ""
    ip, mask, gw, dns = _lan.ifconfig()
    return bool(_lan.isconnected()), ip, mask, gw, dns
