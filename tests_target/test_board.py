"""boards/stm32h743/board.py and the kernel on a real NUCLEO-H743ZI (skipped without one; see conftest.py).

Each test runs a snippet on the board with the fresh build mounted (mpremote mount), after a soft
reset. The snippets never start the hardware watchdog except the last test, which checks the
whole hang -> watchdog reset -> report path on purpose.
"""
from __future__ import annotations

import subprocess

# The board's scratch directory (conftest.SCRATCH): the audit log of these runs goes there.
PRELUDE = """
import json, time, os
import board
board.FS_ROOT = "/flash/jezgro_test"
"""


def test_board_basics(board):
    r = board.run(PRELUDE + """
import sys
t0 = board.ticks_ms()
u0 = board.ticks_us()
time.sleep_ms(50)
res = {
    "name": board.NAME,
    "platform": sys.platform,
    "ms": board.ticks_diff(board.ticks_ms(), t0),
    "us": board.ticks_diff(board.ticks_us(), u0),
    "wrap": board.ticks_add(0x3FFFFFFF, 1),
    "wrap_diff": board.ticks_diff(board.ticks_add(0x3FFFFFF0, 0x20), 0x3FFFFFF0),
    "cause": board.reset_cause(),
    "flash": os.stat("/flash")[0] & 0x4000 != 0,
    "main_context": board.in_main_context(),
}
board.break_main(7)
res["record"] = board.hang_record(False)
res["record_clear"] = board.hang_record()
res["record_after"] = board.hang_record()
print("RESULT " + json.dumps(res))
""")
    assert r["name"] == "stm32h743" and r["platform"] == "pyboard"
    assert 48 <= r["ms"] <= 80
    assert 48000 <= r["us"] <= 80000
    assert r["wrap"] == 0  # ticks period 2^30 on the board, like the unix board's masked clock
    assert r["wrap_diff"] == 0x20
    assert r["cause"] in ("power_on", "hard", "watchdog", "soft", "deepsleep")
    assert r["flash"] and r["main_context"]
    assert r["record"] == 7 and r["record_clear"] == 7 and r["record_after"] == -1


def test_tick_interrupt_runs_critical_at_10khz(board):
    r = board.run(PRELUDE + """
import array
from jezgro.critical import Critical
runs = array.array("i", [0])
def tick():
    runs[0] += 1
c = Critical(2, board.real_us, board.real_diff_us)
c.register(0, 1, tick)
board.start_ticks(c)
time.sleep_ms(500)
board.stop_ticks()
missed, errors = board.tick_stats()
print("RESULT " + json.dumps({
    "ticks": c.ticks, "runs": c.runs[0], "counted": runs[0], "missed": c.missed,
    "max_jitter_us": c.max_jitter_us, "jittered": c.jittered, "max_cost_us": c.max_cost_us,
    "overruns": c.overruns, "faulted": c.faulted[0], "errors": errors,
}))
""")
    assert 4800 <= r["ticks"] <= 5100, r  # 500 ms at 10 kHz
    assert r["runs"] == r["counted"] == r["ticks"]
    assert r["faulted"] == 0 and r["errors"] == 0, r  # nothing allocated in the hard IRQ
    assert r["max_cost_us"] < 100 and r["overruns"] == 0, r
    assert r["max_jitter_us"] < 100, r
    assert r["missed"] <= 5, r


def test_hang_check_in_the_tick_interrupt_records_the_service(board):
    r = board.run(PRELUDE + """
from jezgro.kernel import Kernel
from config import v2g
k = Kernel(v2g.TABLE, board, audit_sid=v2g.AUDIT_LOGGER, safe_state_sid=v2g.SAFE_STATE_OWNER)
svc = k.services[v2g.ISO15118]
# Pretend ISO15118's current step started longer ago than its watchdog period.
k.cur = svc
k.in_step = True
k.step_start_ms = board.ticks_add(board.real_ms(), -(svc.spec.watchdog_ms + 20))
board.start_ticks(k.critical)
board.start_hang_watch(k)
time.sleep_ms(50)
board.stop_hang_watch()
board.stop_ticks()
print("RESULT " + json.dumps({"pending": k.hang_pending, "record": board.hang_record(),
                              "sid": svc.sid, "errors": board.tick_stats()[1]}))
""")
    assert r["pending"] is True and r["errors"] == 0, r
    assert r["record"] == r["sid"]


def test_kernel_runs_v2g_table(board):
    r = board.run(PRELUDE + """
import gc
from jezgro.kernel import Kernel
from config import v2g
try:
    os.mkdir(board.FS_ROOT)
except OSError:
    pass
board.wdt_start = lambda ms: None  # no IWDG here: it cannot be stopped once started
k = Kernel(v2g.TABLE, board, audit_sid=v2g.AUDIT_LOGGER, safe_state_sid=v2g.SAFE_STATE_OWNER)
k.boot()
try:
    k.run(1500)
finally:
    board.stop_hang_watch()
    board.stop_ticks()
k.note_heap()
s = k.summary()
print("RESULT " + json.dumps({"critical": s["critical"], "heap": s["heap"],
                              "hw_watchdog": s["hw_watchdog"], "uptime_ms": s["uptime_ms"],
                              "services": [[x["name"], x["state"], x["faults"]] for x in s["services"]],
                              "tick_errors": board.tick_stats()[1]}))
""", timeout=180)
    c = r["critical"]
    assert 1400 <= r["uptime_ms"] <= 2500, r
    assert c["ticks_run"] >= 13000, c  # ~1.5 s of 10 kHz
    assert c["ticks_missed"] <= c["ticks_run"] // 100, c
    assert r["tick_errors"] == 0
    assert r["hw_watchdog"]["feeds"] > 0, r  # every CRITICAL service healthy (or absent)
    states = {name: (state, faults) for name, state, faults in r["services"]}
    assert states["AUDIT_LOGGER"][0] in ("ready", "waiting") and states["AUDIT_LOGGER"][1] == 0, states
    assert all(f == 0 for _, f in states.values()), states
    assert r["heap"]["free_bytes"] > 100_000, r["heap"]


def test_hang_watchdog_reset_and_report(board):
    # The real thing: record a hang, start the IWDG and stop feeding it. The board resets; after
    # it (no soft reset, which would overwrite the reset cause) the record and the cause are there.
    code = PRELUDE + "board.break_main(4)\nboard.wdt_start(300)\ntime.sleep_ms(5000)\nprint('NO RESET')\n"
    script = board.build_dir.parent / "wdt.py"
    script.write_text(code)
    try:
        r = board.mpremote("mount", str(board.build_dir), "run", str(script), timeout=60)
        assert "NO RESET" not in r.stdout, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        pass
    board.wait_for_board()
    r2 = board.mpremote("exec", "import board\nprint('AFTER', board.reset_cause(), board.hang_record())",
                        timeout=60, resume=True)
    assert "AFTER watchdog 4" in r2.stdout, r2.stdout + r2.stderr
