"""The target gate (`jezgro check|build|deploy`) and the NUCLEO-H743ZI board layer, tested on the host.

- check: mpy-cross for armv7emdp + mypy against the stm32 stubs + ruff must pass with zero errors.
- build: the .mpy tree carries the board's arch in its headers.
- deploy: without a board it says so and exits 1.
- boards/stm32h743/board.py itself runs under the unix port with fake pyb/machine/stm/time
  modules, so its tick interrupt path is exercised with the heap locked, as on the board.
"""
from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from jezgro_host import target
from jezgro_host.errors import ToolError
from jezgro_host import mp
from jezgro_host.mp import FIRMWARE, ROOT, STM32_BOARD

from conftest import BIN, jezgro



@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("target") / "stm32h743"
    r = jezgro("build", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "jezgro build:" in r.stdout
    return out


# --- check ----------------------------------------------------------------------------------
def test_check_passes():
    r = jezgro("check")
    assert r.returncode == 0, f"jezgro check failed:\n{r.stdout}{r.stderr}"
    assert "jezgro check: OK" in r.stdout
    assert "mypy vs stm32 stubs: no errors" in r.stdout
    assert "ruff: no findings" in r.stdout


def test_ruff_lints_host_and_micropython_code(tmp_path):
    # MicroPython's const() and viper types are no findings; undefined names, shared defaults are.
    ok = tmp_path / "ok.py"
    ok.write_text("import micropython\nN = const(4)\n@micropython.viper\ndef f(b) -> uint:\n"
                  "    p = ptr8(b)\n    q = ptr16(b)\n    r = ptr32(b)\n    return uint(p[0] + q[0] + r[0] + N)\n")
    assert target.run_ruff([str(ok)]) == (0, ["All checks passed!"])
    bad = tmp_path / "bad.py"
    bad.write_text("import os\ndef g(x=[]):\n    try:\n        return nope(x)\n    except:\n        pass\n")
    n, lines = target.run_ruff([str(bad)])
    assert n == 4, lines
    assert [ln.split()[1] for ln in lines if ln.startswith(str(bad))] == ["F401", "B006", "F821", "E722"]


def test_mypy_really_uses_the_stm32_stubs(tmp_path):
    # A board module misusing a MicroPython API, or importing something only CPython has, must fail.
    bad = tmp_path / "bad.py"
    bad.write_text("import machine\nimport numpy\nmachine.WDT(timeout='2s')\nmachine.no_such_thing()\n")
    typeshed = target.stm32_typeshed()
    r = subprocess.run([str(BIN / "mypy"), "--config-file", str(target.MYPY_CONFIG),
                        "--custom-typeshed-dir", str(typeshed), str(bad)],
                       capture_output=True, text=True, cwd=ROOT)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert 'Argument "timeout" to "WDT" has incompatible type "str"' in out
    assert 'Module has no attribute "no_such_thing"' in out
    assert 'library stub for module named "numpy"' in out


def test_check_reports_compiler_errors(tmp_path, monkeypatch):
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    pass\n")
    monkeypatch.setattr(target, "sources", lambda: [broken])
    monkeypatch.setattr(target, "run_mypy", lambda: (0, []))
    assert target.check(None) == 1


# --- build -------------------------------------------------------------------------------------
def test_build_layout(build_dir):
    files = {p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*") if p.is_file()}
    files.discard(target.BUILD_MARKER)
    for must in ("main.py", "board.mpy", "jezgro/kernel.mpy", "jezgro/__init__.mpy",
                 "config/v2g.mpy", "services/audit_logger.mpy"):
        assert must in files, sorted(files)
    assert {f for f in files if f.endswith(".py")} == {"main.py"}  # everything else precompiled
    assert not any("manifest" in f for f in files)
    expected = {p.relative_to(FIRMWARE).with_suffix(".mpy").as_posix() for p in FIRMWARE.rglob("*.py")
                if "__pycache__" not in p.parts}
    assert expected <= files
    assert (build_dir / "main.py").read_text() == (STM32_BOARD / "main.py").read_text()


def test_build_mpy_headers_are_armv7emdp(build_dir):
    # .mpy header: b'M', version 6, (native arch << 2 | sub-version) -- written only when the file
    # holds native/viper code, 0 otherwise -- and the small-int bit count (31 on the board).
    mpys = sorted(build_dir.rglob("*.mpy"))
    assert mpys
    for p in mpys:
        raw = p.read_bytes()[:4]
        assert raw[0:1] == b"M", p
        assert raw[1] == 6, p
        version, sub, arch, small_int_bits = target.mpy_header(p)
        assert small_int_bits == 31, p
        assert arch in (None, "armv7emdp"), (p, arch)
        if arch is not None:
            assert raw[2] >> 2 == 8 and sub == 3, p  # MP_NATIVE_ARCH_ARMV7EMDP, mpy v6.3


def test_build_compiles_viper_for_the_board(tmp_path):
    src = tmp_path / "v.py"
    src.write_text("import micropython\n@micropython.viper\ndef f(b) -> int:\n    p = ptr8(b)\n    return p[0]\n")
    out = tmp_path / "v.mpy"
    assert target.mpy_cross(src, out, "v.py") is None
    raw = out.read_bytes()
    assert raw[0] == ord("M") and raw[1] == 6
    assert raw[2] >> 2 == 8  # armv7emdp
    assert target.mpy_header(out)[2] == "armv7emdp"


def test_build_refuses_to_wipe_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    r = jezgro("build", "--out", str(tmp_path))
    assert r.returncode != 0
    assert (tmp_path / "precious.txt").exists()


# --- deploy ------------------------------------------------------------------------------------
def test_deploy_without_board_says_so(build_dir):
    if target.attached_boards():
        pytest.skip("a board is attached: not testing the no-board message")
    r = jezgro("deploy", "--build-dir", str(build_dir))
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.strip() == "jezgro deploy: no board found (connect the NUCLEO-H743ZI's USB)"


def test_deploy_without_build_says_make_build(tmp_path):
    r = jezgro("deploy", "--build-dir", str(tmp_path / "nothing"))
    assert r.returncode == 1
    assert "make build" in r.stderr


def test_deploy_cli_wiring():
    # The arguments cli.py gives deploy are the ones deploy reads.
    ns = argparse.Namespace(device=None, build_dir="/nonexistent")
    with pytest.raises(ToolError, match="no build in /nonexistent"):
        target.deploy(ns)


# --- board.py under the unix port, with the stm32 modules faked -------------------------------
FAKES = r'''
import sys
import micropython as _real_mp

class _Mod:
    pass

# micropython: the real one plus alloc_emergency_exception_buf (absent on unix)
mp = _Mod()
for _n in dir(_real_mp):
    setattr(mp, _n, getattr(_real_mp, _n))
mp.alloc_emergency_exception_buf = lambda n: None
sys.modules["micropython"] = mp

# time: a controllable clock with the board's 2^30 tick period
T = [1000000]
tm = _Mod()
tm.ticks_us = lambda: T[0] & 0x3FFFFFFF
tm.ticks_ms = lambda: (T[0] // 1000) & 0x3FFFFFFF
tm.ticks_add = lambda t, d: (t + d) & 0x3FFFFFFF
tm.ticks_diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
tm.sleep_ms = lambda ms: None
sys.modules["time"] = tm

class Timer:
    made = []
    def __init__(self, n, freq=0, callback=None):
        self.n = n
        self.freq = freq
        self.cb = callback
        self.alive = True
        Timer.made.append(self)
    def deinit(self):
        self.alive = False

class WDT:
    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
    def feed(self):
        self.feeds += 1

class Switch:
    def value(self):
        return False

pyb = _Mod()
pyb.Timer = Timer
pyb.RTC = lambda: None
pyb.Switch = Switch
sys.modules["pyb"] = pyb

machine = _Mod()
machine.disable_irq = lambda: 1
machine.enable_irq = lambda s: None
machine.idle = lambda: None
machine.WDT = WDT
machine.SOFT_RESET, machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET, machine.DEEPSLEEP_RESET = 0, 1, 2, 3, 4
machine.CAUSE = [3]
machine.reset_cause = lambda: machine.CAUSE[0]
sys.modules["machine"] = machine

class Mem:
    def __init__(self):
        self.d = {0x58004100: 0}
    def __getitem__(self, a):
        return self.d[a]
    def __setitem__(self, a, v):
        self.d[a] = v

stm = _Mod()
stm.mem32 = Mem()
sys.modules["stm"] = stm
'''

# The V2G kernel with ISO15118 in a step that started now, and the board's hang watch on it.
HUNG_STEP = r'''
k = Kernel(v2g.TABLE, board, audit_sid=v2g.AUDIT_LOGGER, safe_state_sid=v2g.SAFE_STATE_OWNER)
svc = k.services[v2g.ISO15118]
k.cur = svc
k.in_step = True
k.step_start_ms = board.real_ms()
board.start_hang_watch(k)
'''

BOARD_TEST = FAKES + r'''
import json, array
# a stock image: no jezgro_irq (our unix port has the real module, whose break would land here)
sys.modules["jezgro_irq"] = _Mod()
import board
from jezgro.critical import Critical
from jezgro.kernel import Kernel
from config import v2g

res = {}
res["name"] = board.NAME
res["fs_root"] = board.FS_ROOT
res["wrap"] = board.ticks_diff(board.ticks_add(0x3FFFFFF0, 0x20), 0x3FFFFFF0)
res["causes"] = []
for c in (1, 2, 3, 0, 4):
    machine.CAUSE[0] = c
    res["causes"].append(board.reset_cause())

# CRITICAL ticks from the (fake) timer interrupt, with the heap locked as in a hard IRQ.
runs = array.array("i", [0])
def tick():
    runs[0] += 1
crit = Critical(2, board.real_us, board.real_diff_us)
crit.register(0, 1, tick)
board.start_ticks(crit)
tim = Timer.made[-1]
res["timer"] = [tim.n, tim.freq]
cb = tim.cb
for i in range(5):          # warm-up outside the lock
    T[0] += 100
    cb(tim)
ok = False
mp.heap_lock()
try:
    for i in range(1000):
        T[0] += 100
        cb(tim)
    T[0] += 350             # one interrupt 250 us late: 2 merged periods, 50 us of jitter
    cb(tim)
    T[0] -= 50              # the timer keeps its phase: the next one is on time again
    for i in range(10):
        T[0] += 100
        cb(tim)
    ok = True
except MemoryError:
    pass
mp.heap_unlock()
res["alloc_free"] = ok
res["runs"] = runs[0]
res["ticks"] = crit.ticks
res["missed"] = crit.missed
res["max_jitter"] = crit.max_jitter_us
res["jittered"] = crit.jittered
res["stats"] = list(board.tick_stats())

# Hang watch: the kernel's hang_check runs every 100 ticks inside the interrupt; a step that
# has run past its service's watchdog period is recorded in the RTC backup register.
''' + HUNG_STEP + r'''
ok = False
early = -1
jump = (svc.spec.watchdog_ms + 5) * 1000 - 100
mp.heap_lock()
try:
    for i in range(200):       # 20 ms: well inside ISO15118's 1000 ms
        T[0] += 100
        cb(tim)
    early = stm.mem32.d[0x58004100]
    T[0] += jump
    for i in range(100):
        T[0] += 100
        cb(tim)
    ok = True
except MemoryError:
    pass
mp.heap_unlock()
res["hang_alloc_free"] = ok
res["early_record"] = early
res["hang_pending"] = k.hang_pending
res["record"] = board.hang_record()
res["record_after"] = board.hang_record()
board.stop_hang_watch()

# An exception escaping run_tick must not escape the interrupt (it would disable the timer):
# it is counted and every registered slot is flagged faulted for the kernel.
class Broken:
    n = 2
    missed = 0
    def __init__(self):
        self.fns = [tick, None]
        self.faulted = bytearray(2)
        self.fault = [None, None]
    def run_tick(self, late):
        raise ValueError("tick machinery bug")
b = Broken()
board.start_ticks(b)
tim2 = Timer.made[-1]
res["old_timer_stopped"] = not tim.alive
T[0] += 100
tim2.cb(tim2)
res["broken"] = [list(b.faulted), board.tick_stats()[1]]

# Hardware watchdog and service mode: after Ctrl-C the interrupt keeps the IWDG fed.
board.wdt_start(2000)
w = board._T.wdt
board.wdt_feed()
res["wdt"] = [w.timeout, w.feeds]
board.service_mode()
for i in range(300):
    T[0] += 100
    tim2.cb(tim2)
res["service_feeds"] = w.feeds
res["service_mode_requested"] = board.service_mode_requested()
idle_calls = []
board.idle(5, lambda t: idle_calls.append(t) or False)
board.idle(0, lambda t: idle_calls.append(t) or False)
res["idle"] = idle_calls
print("RESULT " + json.dumps(res))
'''


def test_stm32_board_layer_under_unix_port(tmp_path):
    proc = mp.run(["-c", BOARD_TEST], heap="2M", board=STM32_BOARD, capture_output=True, timeout=120,
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert line, proc.stdout + proc.stderr
    r = json.loads(line[-1][7:])
    assert r["name"] == "stm32h743" and r["fs_root"] == "/flash"
    assert r["wrap"] == 0x20
    assert r["causes"] == ["power_on", "hard", "watchdog", "soft", "deepsleep"]
    assert r["timer"] == [7, 10000]
    assert r["alloc_free"], "the tick interrupt path allocated with the heap locked"
    assert r["ticks"] == r["runs"] == 1016
    assert r["missed"] == 2
    assert r["max_jitter"] == 50 and r["jittered"] == 1
    assert r["stats"] == [2, 0]
    assert r["hang_alloc_free"], "hang_check/break_main allocated in the interrupt"
    assert r["early_record"] == 0
    assert r["hang_pending"] is True
    assert r["record"] == 5  # ISO15118's sid, read back and cleared
    assert r["record_after"] == -1
    assert r["old_timer_stopped"]
    assert r["broken"] == [[1, 0], 1]
    assert r["wdt"] == [2000, 1]
    assert r["service_feeds"] == 1 + 3  # fed every 100 ticks from the interrupt
    assert r["service_mode_requested"] is False
    assert r["idle"] == [1, 0]


# With the board image's jezgro_irq (faked: it counts the breaks and says whether one is pending), the
# hang check's break reaches the main thread: the record first, then break_main; a break raised but
# not taken by the kernel (swallowed by the hung code) is sent again after REBREAK_MS; one still
# pending (native code) is left to the IWDG; the kernel taking it clears the record.
BREAK_TEST = FAKES + r'''
import json
irq = _Mod()
calls = [0]
pend = [False]
def _break():
    calls[0] += 1
    pend[0] = True
irq.break_main = _break
irq.pending = lambda: pend[0]
sys.modules["jezgro_irq"] = irq
import board
from jezgro.critical import Critical
from jezgro.kernel import Kernel
from config import v2g

crit = Critical(2, board.real_us, board.real_diff_us)
board.start_ticks(crit)
tim = Timer.made[-1]
''' + HUNG_STEP + r'''
def ms(n):
    for i in range(n * 10):
        T[0] += 100
        tim.cb(tim)

o = [0] * 8                                  # results stored as small ints: no allocation
mp.heap_lock()
try:
    ms(20)
    o[0] = calls[0]
    o[1] = stm.mem32.d[0x58004100]
    T[0] += (svc.spec.watchdog_ms + 5) * 1000
    ms(20)
    o[2] = calls[0]
    o[3] = k.hang_pending
    o[4] = stm.mem32.d[0x58004100] == (0x1E5A << 16) | v2g.ISO15118
    ms(100)
    o[5] = calls[0]                          # native code: the VM never raised it
    pend[0] = False                          # raised, and swallowed by the hung code
    ms(30)
    o[6] = calls[0]
    o[7] = board._T.rebreaks
    ok = True
except MemoryError:
    ok = False
mp.heap_unlock()
res = {"early": o[0:2], "broken": o[2:5], "still_pending": o[5], "resent": o[6:8]}
res["alloc_free"] = ok
pend[0] = False
k.in_step = False
k._hang_over()                               # the kernel took it
res["after"] = [board.hang_record(), board._T.brk_sid, k.hang_pending]
ms(50)
res["after_calls"] = calls[0]
board.stop_hang_watch()
print("RESULT " + json.dumps(res))
'''


def test_stm32_board_breaks_a_hang_through_jezgro_irq(tmp_path):
    proc = mp.run(["-c", BREAK_TEST], heap="2M", board=STM32_BOARD, capture_output=True, timeout=120,
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert r["early"] == [0, 0]
    assert r["broken"] == [1, True, True]
    assert r["still_pending"] == 1
    assert r["resent"] == [2, 1]
    assert r["alloc_free"], "the break path allocated in the interrupt"
    assert r["after"] == [-1, -1, False]  # record cleared by hang_handled, nothing outstanding
    assert r["after_calls"] == 2


MAIN_TEST = FAKES + r'''
import json
def _idle():
    T[0] += 100                                       # time passes while the kernel idles
machine.idle = _idle
machine.CAUSE[0] = 3                                  # this boot follows a watchdog reset ...
stm.mem32.d[0x58004100] = (0x1E5A << 16) | 5          # ... because ISO15118 hung
import board
board.FS_ROOT = FS
from jezgro.kernel import Kernel
seen = []
_run = Kernel.run
def run(self, duration_ms=-1):
    seen.append(self)
    _run(self, 300)
    raise KeyboardInterrupt                           # Ctrl-C from the USB REPL
Kernel.run = run
import main                                           # boots V2G, runs, stops on Ctrl-C
k = seen[0]
t = board._T
print("RESULT " + json.dumps({
    "reset_report": list(k.reset_report),
    "record_after": board.hang_record(),
    "audit_started": k.services[9].starts,
    "wdt": t.wdt.timeout if t.wdt else None,
    "service_mode": [t.feed_wdt, t.crit is None, t.kernel is None, t.timer is not None],
    "steps": k.steps,
}))
'''


def test_main_boots_v2g_reports_hang_and_enters_service_mode(tmp_path):
    code = f"FS = {str(tmp_path)!r}\n" + MAIN_TEST
    proc = mp.run(["-c", code], heap="4M", board=STM32_BOARD, capture_output=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "jezgro: watchdog reset: service ISO15118 hung" in proc.stdout
    assert "service mode until the next reset" in proc.stdout
    r = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert r["reset_report"] == ["watchdog", "ISO15118", "hung"]  # handed to the kernel's reset report
    assert r["record_after"] == -1
    assert r["audit_started"] >= 1
    assert r["wdt"] == 2000
    assert r["service_mode"] == [True, True, True, True]
    assert r["steps"] > 0
