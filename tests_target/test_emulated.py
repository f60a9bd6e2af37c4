"""The firmware on an ARM core: the CRITICAL path on the emulated Cortex-M7 (qemu MPS2-AN500, the
firmware frozen in as armv7emdp, `jezgro firmware build --target qemu`) against the unix port, and on
a real NUCLEO-H743ZI when one is attached (same scripts, through mpremote; skipped otherwise).

Recorded plant data (the unix plant, closed loop) is replayed through the kernel's Critical.run_tick
with PLL_SYNC's and CURRENT_CTRL's tick functions and the heap locked; a hash of the whole control
state after every tick must be the same on both machines. 32-bit ARM and the 64-bit unix port differ
exactly where a viper product leaves 32 bits (it wraps on ARM, not on unix), so a second recording
drives every input to its rails to find such products; a deliberately overflowing product shows the
comparison catches them.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from jezgro_host import emulated, mp

HERE = Path(__file__).resolve().parent
MP_DIR = HERE / "mp"
QEMU_BOARD = mp.ROOT / "boards" / "qemu"
TICKS = 6000
ADC_N = mp.firmware_constants("grid/hw.py", "ADC_N")["ADC_N"]
# make test sets it: there the emulated target must run, a missing build is a failure, not a skip.
REQUIRED = os.environ.get("JEZGRO_REQUIRE_EMULATED") == "1"


def _result(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, out[-3000:]
    return json.loads(lines[-1][7:])


def require_emulated() -> None:
    why = emulated.missing()
    if why:
        if REQUIRED:
            pytest.fail(f"emulated target required (make test): {why}")
        pytest.skip(f"no emulated target: {why}")


@pytest.fixture(scope="module")
def guest():
    require_emulated()
    # -icount shift=0: guest time is the instruction count, so every run of a test sees the same
    # interrupt timing. In real-time mode the heap_lock replay below counted MemoryErrors in about a
    # third of the runs (first at a varying tick, in the old image too), none in 5 of 5 with icount:
    # docs/platform.md, "Emulated target".
    with emulated.Guest(icount=True) as g:
        yield g


@pytest.fixture(scope="module")
def plant_rows(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("rec") / "plant.bin"
    r = mp.run([str(MP_DIR / "record_plant.py"), str(out), str(TICKS)], heap="8M", extra=[MP_DIR],
               capture_output=True, timeout=600, cwd=mp.ROOT)
    assert r.returncode == 0 and "RECORDED" in r.stdout, r.stdout + r.stderr
    data = out.read_bytes()
    assert len(data) == TICKS * ADC_N * 2
    return data


def rail_rows(ticks: int = 3000, seed: int = 1528) -> bytes:
    """Inputs at and around the ADC rails: full-scale square waves on every channel with random
    phase flips, then uniform random counts, then stuck at 0 and at 4095."""
    rnd = random.Random(seed)
    out = bytearray()
    for t in range(ticks):
        row = []
        for ch in range(ADC_N):
            if t < ticks // 3:
                v = 4095 if ((t // (7 + ch)) + (rnd.random() < 0.05)) % 2 else 0
            elif t < 2 * ticks // 3:
                v = rnd.randrange(4096)
            else:
                v = 0 if ch % 2 == (t // 100) % 2 else 4095
            row.append(v)
        for v in row:
            out += v.to_bytes(2, "little")
    return bytes(out)


def replay_unix(rows: bytes, tmp: Path) -> dict:
    f = tmp / "rows.bin"
    f.write_bytes(rows)
    code = ("import replay_tick\nwith open(%r, 'rb') as f:\n    replay_tick.main(bytearray(f.read()))\n" % str(f))
    r = mp.run(["-c", code], heap="4M", board=QEMU_BOARD, extra=[MP_DIR], capture_output=True,
               timeout=600, cwd=tmp)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return _result(r.stdout)


def replay_guest(g: emulated.Guest, rows: bytes) -> dict:
    g.put("ROWS", rows)
    g.exec((MP_DIR / "replay_tick.py").read_text(), timeout=60)
    return _result(g.exec("main(ROWS)\nROWS = None\n", timeout=600))


def first_difference(a: dict, b: dict) -> str:
    ha, hb = bytes.fromhex(a["hashes"]), bytes.fromhex(b["hashes"])
    for i in range(0, min(len(ha), len(hb)), 4):
        if ha[i:i + 4] != hb[i:i + 4]:
            return f"state differs first at tick {i // 4}"
    return "same hashes" if len(ha) == len(hb) else "different lengths"


def assert_same_tick_for_tick(arm: dict, unix: dict) -> None:
    assert arm["ticks"] == unix["ticks"]
    assert arm["hashes"] == unix["hashes"], (first_difference(arm, unix), arm["final"], unix["final"])
    assert arm["final"] == unix["final"]


def test_critical_path_on_the_m7_matches_the_unix_port_tick_for_tick(guest, plant_rows, tmp_path):
    unix = replay_unix(plant_rows, tmp_path)
    arm = replay_guest(guest, plant_rows)
    for r in (unix, arm):
        assert r["ticks"] == TICKS
        assert r["faults"] == []
        assert r["runs"] == [TICKS, TICKS]
    assert unix["locked"] == 1  # the scenario ends locked on the jumped grid: the loops really ran
    assert_same_tick_for_tick(arm, unix)


def test_the_replay_stage_reads_rows_as_wide_as_the_firmware_adc():
    # boards/qemu/power_stage.py keeps its own const (viper cannot use an imported one)
    text = (QEMU_BOARD / "power_stage.py").read_text()
    assert f"ADC_N = const({ADC_N})" in text


def test_critical_path_allocates_nothing_on_arm(guest, plant_rows):
    # heap_lock around every tick: any allocation raises MemoryError inside the tick, which the
    # kernel contains as a fault of that slot (faults, runs) and the runner counts.
    arm = replay_guest(guest, plant_rows[: 2000 * ADC_N * 2])
    assert arm["memory_errors"] == 0
    assert arm["faults"] == []
    assert arm["runs"] == [2000, 2000]


def test_fixed_point_products_stay_within_31_bits_at_the_rails(guest, tmp_path):
    rows = rail_rows()
    unix = replay_unix(rows, tmp_path)
    arm = replay_guest(guest, rows)
    assert arm["faults"] == [] and unix["faults"] == []
    assert_same_tick_for_tick(arm, unix)


OVERFLOW = """
import json, micropython
@micropython.viper
def q31(a: int, b: int) -> int:
    return (a * b) >> 31
@micropython.viper
def q15(a: int, b: int) -> int:
    return (a * b) >> 15
print("RESULT " + json.dumps([q31(0x40000000 - 1, 0x40000000 - 1), q15(32767, -32768)]))
"""


def test_the_comparison_catches_a_product_that_leaves_32_bits(guest, tmp_path):
    # The detector of the test above: a Q31 x Q31 viper product wraps on ARM and not on unix; a
    # Q15 x Q15 one agrees. If this ever passed the same on both, the rail test could not fail.
    r = mp.run(["-c", OVERFLOW], capture_output=True, timeout=60, cwd=tmp_path)
    unix = _result(r.stdout)
    arm = _result(guest.exec(OVERFLOW))
    assert unix[1] == arm[1] == (32767 * -32768) >> 15
    assert unix[0] == ((0x3FFFFFFF ** 2) >> 31)
    assert arm[0] != unix[0]


def test_the_guest_is_the_pinned_micropython_on_a_cortex_m7(guest):
    r = _result(guest.exec("import sys, json\nprint('RESULT ' + json.dumps([sys.implementation.version[:3], "
                           "sys.implementation._machine, sys.platform]))"))
    assert r[0] == [1, 28, 0]
    assert "Cortex-M7" in r[1]
    # the firmware is frozen in (the guest has no filesystem with it), compiled for armv7emdp
    out = guest.exec("import os, jezgro.critical, grid.pll\nprint(jezgro.critical.__file__, os.listdir('/'))")
    assert out.split() == ["jezgro/critical.py", "[]"], out


def test_the_unix_port_is_the_pinned_build_with_tls13():
    exe = mp.micropython_exe()
    if not mp.pinned_build() and not REQUIRED:
        pytest.skip(f"unix port from the PyPI wheel ({exe}): run `make firmware`")
    r = subprocess.run([exe, "-c", "import sys, tls; print(sys.implementation.version[:3], tls.MBEDTLS_VERSION)"],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.split(")")[0] == "(1, 28, 0", r.stdout + r.stderr
    assert "3.6" in r.stdout


# --- the kernel on ARM ---------------------------------------------------------------------------
# The test services and harness of the unix kernel tests (tests_host/mp), written to the emulated
# board's RAM filesystem (boards/qemu/board.py) and imported from there; each run starts from fresh
# modules. The assertions are those of tests_host/test_jezgro_supervisor.py on the unix port.
KERNEL_MODULES = ("harness.py", "t_echo.py", "t_tick.py", "t_pinger.py", "t_pong.py", "t_spin.py")
KERNEL_PRELUDE = """
import sys
for _m in ("harness", "t_echo", "t_tick", "t_pinger", "t_pong", "t_spin"):
    sys.modules.pop(_m, None)
if "/fs/t" not in sys.path:
    sys.path.append("/fs/t")
import harness
from jezgro.service import ServiceSpec as S
from jezgro.const import *
from jezgro import faults
"""


def put_kernel_modules(g: emulated.Guest) -> None:
    g.put_files("/fs/t", {name: (mp.MP_TESTS / name).read_bytes() for name in KERNEL_MODULES})


@pytest.fixture(scope="module")
def kernel_guest(guest):
    put_kernel_modules(guest)
    return guest


def test_the_kernel_restarts_a_crashed_service_on_arm(kernel_guest):
    r = _result(kernel_guest.exec(KERNEL_PRELUDE + """
import t_echo
k = harness.kernel([S(1, "ECHO", PRIO_MEDIUM, 4, 16, 1000000, "t_echo", max_restarts=100)])
k.boot()
k.run(50)
for i in range(20):
    k.inject(1, faults.INJ_CRASH)
    k.run(50)
s = k.summary()['services'][1]
harness.result({"svc": s, "log": t_echo.log, "gen": k.ipc.gen[1], "machine": sys.implementation._machine})
""", timeout=300))
    assert "Cortex-M7" in r["machine"]
    svc = r["svc"]
    assert svc["restarts"] == 20 and svc["faults"] == 20 and svc["state"] == "waiting"
    assert svc["restart_latency_us"]["count"] == 20
    starts = [e for e in r["log"] if e[0] == "start"]
    assert starts[0] == ["start", False, 1] and all(e[1] is True for e in starts[1:])
    assert starts[-1][2] == 21  # the service's store survived all 20 restarts
    assert r["gen"] == 21


def test_a_tick_fault_restarts_only_that_critical_service_on_arm(kernel_guest):
    r = _result(kernel_guest.exec(KERNEL_PRELUDE + """
import t_tick
k = harness.kernel([S(1, "TICK", PRIO_CRITICAL, 4, 16, 100, "t_tick", tick_slot=0),
                    S(2, "ECHO", PRIO_MEDIUM, 4, 16, 1000000, "t_echo")])
k.boot()
k.run(100)
k.inject(1, faults.INJ_CRASH)
k.run(100)
s = k.summary()
harness.result({"tick": s["services"][1], "echo": s["services"][2], "counts": list(t_tick.counts),
                "ticks": s["critical"]["ticks_run"]})
""", timeout=300))
    assert r["tick"]["restarts"] == 1 and r["tick"]["last_fault"] == "tick"
    assert r["echo"]["restarts"] == 0
    assert r["counts"][1] >= r["ticks"] - 15


def test_kernel_ipc_and_ticks_allocate_nothing_on_arm(kernel_guest):
    # Services exchanging IPC messages while the CRITICAL tick runs 3 000 times, heap locked throughout.
    r = _result(kernel_guest.exec(KERNEL_PRELUDE + """
import micropython, t_tick, t_pinger
k = harness.kernel([S(1, "TICK", PRIO_CRITICAL, 4, 16, 100, "t_tick", tick_slot=0),
                    S(2, "PONG", PRIO_MEDIUM, 4, 16, 1000000, "t_pong"),
                    S(3, "PINGER", PRIO_HIGH, 4, 16, 1000000, "t_pinger")])
k.boot()
k.run(100)
before = t_pinger.pongs[0]
ticks = k.critical.ticks
ok = False
micropython.heap_lock()
try:
    k.run(300)
    ok = True
except MemoryError:
    ok = False
micropython.heap_unlock()
harness.result({"ok": ok, "pongs": t_pinger.pongs[0] - before, "ticks": k.critical.ticks - ticks})
""", timeout=300))
    assert r["ok"], "kernel loop allocated with the heap locked (on ARM)"
    assert r["pongs"] >= 10 and r["ticks"] == 3000


# --- a hung service on the M7: broken by a real interrupt (docs/reliability.md, "Hangs on the board") --
# boards/qemu/board.py runs the kernel's hang check from the TIMER0 interrupt (jezgro_irq, the C module
# built into the emulated target and the board image) and breaks the hung main thread with
# jezgro_irq.break_main(), as boards/stm32h743/board.py does from TIM7.
HANG_RUN = KERNEL_PRELUDE + """
import jezgro_irq, board, t_spin, t_pinger, t_tick
t_spin.MODE[0] = %r
k = harness.kernel([S(1, "SPIN", PRIO_MEDIUM, 4, 16, 100000, "t_spin"),
                    S(2, "PONG", PRIO_MEDIUM, 4, 16, 1000000, "t_pong"),
                    S(3, "PINGER", PRIO_HIGH, 4, 16, 1000000, "t_pinger"),
                    S(4, "TICK", PRIO_CRITICAL, 4, 16, 100, "t_tick", tick_slot=0)])
irq0 = jezgro_irq.stats()
rb0 = board.W.rebreaks
k.boot()
n = 0
while k.services[1].restarts == 0 and n < 100:
    k.run(10)
    n += 1
irq1 = jezgro_irq.stats()
pongs, ticks = t_pinger.pongs[0], t_tick.counts[1]
k.run(500)
s = k.summary()
harness.result({"svc": s["services"], "hangs": s["hangs_broken"], "spins": t_spin.spins[0],
                "irqs": irq1[0] - irq0[0], "breaks": irq1[2] - irq0[2],
                "latency_us": board.W.latency_clk * 1000000 // jezgro_irq.CLOCK_HZ,
                "pongs_after": t_pinger.pongs[0] - pongs, "ticks_after": t_tick.counts[1] - ticks,
                "pending": jezgro_irq.pending(), "irq_errors": irq1[1], "text": k.services[1].last_fault_text,
                "rebreaks": board.W.rebreaks - rb0, "swallowed": t_spin.swallowed[0]})
"""


def test_a_hung_service_is_broken_by_the_timer_interrupt_and_only_it_restarts_on_arm(kernel_guest):
    # SPIN's first incarnation runs `while True: pass` inside its step: the main loop is stuck in
    # the VM, nothing in Python yields. Only the interrupt's hang check can get it back.
    r = _result(kernel_guest.exec(HANG_RUN % "python", timeout=300))
    spin, pong, pinger, tick = (r["svc"][i] for i in (1, 2, 3, 4))
    assert r["spins"] == 1 and r["hangs"] == 1 and r["breaks"] == 1
    assert spin["last_fault"] == "hang" and spin["restarts"] == 1 and spin["state"] == "waiting"
    # jezgro_irq's exception, raised in the spinning line of the service
    assert "KeyboardInterrupt: hang watchdog" in r["text"] and "t_spin.py" in r["text"], r["text"]
    # the interrupt really ran while the main loop was stuck: the hang limit is the 250 ms floor of
    # the emulated board, checked every 10 ms of the guest's clock
    assert r["irqs"] >= 25, r
    assert r["irq_errors"] == 0 and r["pending"] is False
    # taken by the kernel well before the board's IWDG margin (250 ms) would reset it
    assert 0 <= r["latency_us"] < 250000, r
    # the others kept their incarnation and keep working after the hang
    for other in (pong, pinger, tick):
        assert other["restarts"] == 0 and other["faults"] == 0, other
    assert r["pongs_after"] >= 10 and r["ticks_after"] >= 4900, r
    assert r["rebreaks"] == 0 and r["swallowed"] == 0


def test_a_break_swallowed_by_the_hung_code_is_sent_again_on_arm(kernel_guest):
    # A bare `except KeyboardInterrupt` in the service eats the first break and it spins on: the
    # kernel never saw it, so the interrupt sends it again (REBREAK_MS later) instead of leaving the
    # board to its IWDG.
    r = _result(kernel_guest.exec(HANG_RUN % "swallow", timeout=300))
    spin, others = r["svc"][1], r["svc"][2:]
    assert r["swallowed"] == 1 and r["rebreaks"] == 1 and r["breaks"] == 2 and r["hangs"] == 1, r
    assert spin["last_fault"] == "hang" and spin["restarts"] == 1 and spin["state"] == "waiting"
    assert all(o["restarts"] == 0 for o in others)


def test_a_hang_in_native_code_is_not_broken_and_the_emulated_iwdg_resets():
    # The same service spinning in viper: native code never polls the pending exception, so the
    # break is requested and never taken; the board's IWDG resets it 250 ms later, the emulated
    # board stops qemu with the record of who hung. A guest of its own: this one ends.
    require_emulated()
    with emulated.Guest() as g:
        put_kernel_modules(g)
        out, rc = g.exec_until_exit(HANG_RUN % "viper", timeout=120)
    assert rc == 1, (rc, out)
    assert "jezgro_irq: watchdog reset: service 1 hung, break not taken" in out, out


BREAK_ALONE = """
import jezgro_irq, json, micropython
caught = None
pend = None
try:
    micropython.heap_lock()
    try:
        jezgro_irq.break_main()
        pend = jezgro_irq.pending()
        while True:
            pass
    finally:
        micropython.heap_unlock()
except KeyboardInterrupt as e:
    caught = repr(e)
errors = []
for args in ((5, print), (2000000, print), (10000, 3)):
    try:
        jezgro_irq.timer_start(*args)
    except (ValueError, TypeError) as e:
        errors.append(type(e).__name__)
print("RESULT " + json.dumps([caught, pend, jezgro_irq.pending(), errors]))
"""


def test_break_main_allocates_nothing_and_lands_in_the_running_loop(guest):
    # Called with the heap locked (as in the hard interrupt): no MemoryError; the pending break is
    # raised in the Python loop that runs next; bad timer arguments are refused with a clear error.
    r = _result(guest.exec(BREAK_ALONE, timeout=60))
    assert r == ["KeyboardInterrupt('hang watchdog',)", True, False, ["ValueError", "ValueError", "TypeError"]]


TIMER_RUN = """
import jezgro_irq, json, time, gc
class C:
    n = 0
    def f(self):
        C.n += 1
s0 = jezgro_irq.stats()
%s
t = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t) < 50:
    gc.collect()
print("RESULT " + json.dumps([C.n, jezgro_irq.stats()[0] - s0[0]]))
"""


def test_a_soft_reset_stops_the_timer_interrupt_before_its_callback_is_freed():
    # The timer's state has a finaliser: the soft reset's heap sweep stops the interrupt, which would
    # otherwise call a freed callback while the heap is rebuilt. A guest of its own (the reset clears
    # the RAM filesystem the kernel tests use).
    require_emulated()
    with emulated.Guest() as g:
        calls, irqs = _result(g.exec(TIMER_RUN % "jezgro_irq.timer_start(1000, C().f)"))
        assert calls == irqs >= 40  # 1 ms period for 50 ms of the guest clock
        g.pyb.exit_raw_repl()
        g.pyb.enter_raw_repl(soft_reset=True)
        assert _result(g.exec(TIMER_RUN % "")) == [0, 0]


def test_critical_path_on_the_nucleo_matches_the_unix_port_tick_for_tick(board, plant_rows, tmp_path):
    # The same replay on the real chip (skipped without a board, conftest.py): the replay stage and
    # runner go into the mounted build as modules of their own; the board's power_stage stays.
    rows = plant_rows[: 2000 * ADC_N * 2]
    (board.build_dir / "rows.bin").write_bytes(rows)
    (board.build_dir / "replay_stage.py").write_text((QEMU_BOARD / "power_stage.py").read_text())
    (board.build_dir / "replay_tick.py").write_text((MP_DIR / "replay_tick.py").read_text())
    r = board.run("import json, replay_tick, replay_stage\nwith open('rows.bin', 'rb') as f:\n"
                  "    print('RESULT ' + json.dumps(replay_tick.run(replay_stage, bytearray(f.read()))))\n",
                  timeout=600)
    unix = replay_unix(rows, tmp_path)
    assert r["memory_errors"] == 0 and r["faults"] == []
    assert_same_tick_for_tick(r, unix)


def test_the_m7_tick_bench_runs_and_the_c_reference_computes_the_same(guest):
    # `make bench`'s instruction count (host_tools/jezgro_host/m7bench.py) keeps running; its figures
    # are judged there. What is checked here: the bare-metal C reference and the frozen viper code,
    # both on the emulated M7, end in the same PLL angle and PWM duties after the same ticks.
    from jezgro_host import m7bench
    if m7bench.missing():
        pytest.skip(m7bench.missing())
    r = m7bench.run(ticks=800)
    assert r["same_state"], r
    assert 0 < r["c_ref"] < r["direct"] < r["whole"]
    print(m7bench.table(r))
    h = m7bench.v2g_heap()
    assert h["total"] >= 420 * 1024 and h["after"] > h["base"]
    assert {n for n, used, kb, err in h["services"] if not err} >= {"PLL_SYNC", "CURRENT_CTRL", "POWER_MGR"}
    # each service's module-level heap within its budget (spec §2.1); the board layer is not a service's
    # (CAN_HANDLER was charged the emulated board's 64 KB RAM disk before issue 16)
    over = [(n, used, kb) for n, used, kb, err in h["services"] if not err and used > kb * 1024]
    assert not over, over


def test_the_charge_loop_bench_runs_every_protocol_to_session_stop_on_the_m7():
    # `make bench`'s charge-loop response on the emulated M7 (m7bench.charge_loop) keeps running: our
    # EVCC and SECC, frozen armv7emdp with the viper EXI codec, complete a session of each protocol
    # through the in-process link and every charge-loop response is counted. Its figures (against
    # 2 000 000 instructions) are judged in `make bench`, not here.
    from jezgro_host import m7bench
    if m7bench.missing():
        pytest.skip(m7bench.missing())
    rows = m7bench.charge_loop(loops=2)
    print(m7bench.charge_loop_table(rows))
    assert [r["protocol"] for r in rows] == list(m7bench.CL_PROTOCOLS)
    for r in rows:
        assert r["end"] == r["evcc_end"] == "SessionStop", r
        assert r["loops"] == 2 and all(us > 0 for us in r["loop_us"]), r
