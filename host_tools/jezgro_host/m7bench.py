"""Instructions per CRITICAL tick on the emulated Cortex-M7 (`make bench`, docs/platform.md).

Both sides run on qemu's mps2-an500 (Cortex-M7, fpv5-d16) with `-icount shift=0`, where one guest
instruction is one nanosecond of virtual time, so a guest clock counts instructions exactly:
- the firmware (frozen armv7emdp build): the recorded plant ADC rows of tests_target replayed
  through (a) the kernel's Critical.run_tick with PLL_SYNC's and CURRENT_CTRL's tick functions,
  (b) the two tick functions called directly (PLL + current loop + SVPWM with their sample/apply),
  each minus the same loop without the call; time.ticks_us() there is 1 000 instructions per us;
- the C reference (bench/grid_ref.c's pll_step + cc_step, int32 line for line, arm-none-eabi-gcc
  -O2 for the same core) on the same rows, bare metal (bench/m7/tick_ref.c), SysTick-timed.
Both end in the same state (PLL angle, PWM duties), checked: the same algorithm ran.
The budget: 40 000 cycles per 100 us tick at 400 MHz (the M7 retires up to 2 instructions per
cycle, so instructions against cycles is a conservative share).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

from . import emulated, mp
from .mp import BENCH, ROOT

MP_DIR = ROOT / "tests_target" / "mp"
QEMU_BOARD = ROOT / "boards" / "qemu"
OUT = ROOT / "build" / "m7bench"
TICKS = 6000
BUDGET = 40000
ADC_N = 8
CFLAGS = ["-O2", "-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard", "-nostartfiles",
          "--specs=nosys.specs"]

GUEST_TIMING = """
import time
from grid import pll, curctl
import power_stage

def _loop(fn, n):
    us = time.ticks_us
    t0 = us()
    for i in range(n):
        fn()
    return time.ticks_diff(us(), t0)

def _nothing():
    pass

def _fresh(rows):
    # from reset, the current loop running at the scenario's references from the first tick
    power_stage.load(rows)
    crit = critical_path(power_stage)
    cc = curctl.CC
    cc[curctl.ENABLE] = 1
    cc[curctl.ID_REF] = ID_REF
    cc[curctl.IQ_REF] = IQ_REF
    return crit

def measure(rows):
    n = len(rows) // (2 * 8)
    base = _loop(_nothing, n)
    crit = _fresh(rows)
    whole = _loop(lambda: crit.run_tick(0), n)
    state = [pll.ST[pll.THETA]] + list(power_stage.PWM)[:3]
    crit = _fresh(rows)
    t_pll = crit.fns[0]
    t_cc = crit.fns[1]
    def both():
        t_pll()
        t_cc()
    direct = _loop(both, n)
    print("RESULT " + json.dumps({"ticks": n, "base_us": base, "whole_us": whole, "direct_us": direct,
                                  "state": state}))
"""


GUEST_HEAP = """
import gc, json
import board  # first: the emulated board's RAM filesystem (64 KB) is the board layer's, not a service's
gc.collect()
base = gc.mem_alloc()
total = gc.mem_free() + base
from config import v2g
per = []
for spec in v2g.TABLE:
    if not spec.module:
        continue
    gc.collect()
    a = gc.mem_alloc()
    try:
        __import__(spec.module)
        gc.collect()
        per.append([spec.name, gc.mem_alloc() - a, spec.memory_kb, ""])
    except Exception as e:
        per.append([spec.name, 0, spec.memory_kb, repr(e)])
gc.collect()
print("RESULT " + json.dumps({"total": total, "base": base, "after": gc.mem_alloc(), "services": per}))
"""


def missing() -> str | None:
    why = emulated.missing()
    if why:
        return why
    if not shutil.which("arm-none-eabi-gcc"):
        return "arm-none-eabi-gcc not found: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
    return None


def record_rows(ticks: int = TICKS) -> bytes:
    OUT.mkdir(parents=True, exist_ok=True)
    f = OUT / "plant.bin"
    r = mp.run([str(MP_DIR / "record_plant.py"), str(f), str(ticks)], heap="8M", extra=[MP_DIR],
               capture_output=True, timeout=600, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(r.stdout + r.stderr)
    return f.read_bytes()


def c_reference(rows: bytes) -> dict:
    n = len(rows) // (2 * ADC_N)
    vals = [int.from_bytes(rows[i:i + 2], "little") for i in range(0, len(rows), 2)]
    body = ",\n".join("{" + ",".join(str(v) for v in vals[i * ADC_N:(i + 1) * ADC_N]) + "}" for i in range(n))
    # the references of tests_target/mp/replay_tick.py's scenario, read from it; on from tick 0
    src = (MP_DIR / "replay_tick.py").read_text()
    enable_at = 0
    id_ref = int(re.search(r"ID_REF = const\((-?\d+)\)", src).group(1))  # type: ignore[union-attr]
    iq_ref = int(re.search(r"IQ_REF = const\((-?\d+)\)", src).group(1))  # type: ignore[union-attr]
    (OUT / "rows.h").write_text(
        f"#define ADC_ROW {ADC_N}\n#define NROWS {n}\n#define ENABLE_AT {enable_at}\n"
        f"#define ID_REF_Q {id_ref}\n#define IQ_REF_Q {iq_ref}\n"
        f"static const uint16_t ROWS[NROWS][ADC_ROW] = {{\n{body}\n}};\n")
    elf = OUT / "tick_ref.elf"
    subprocess.run(["arm-none-eabi-gcc", *CFLAGS, f"-I{OUT}", "-T", str(BENCH / "m7" / "mps2.ld"),
                    str(BENCH / "m7" / "tick_ref.c"), "-lm", "-o", str(elf)], check=True,
                   capture_output=True, text=True)
    cmd = emulated.qemu_cmd(elf, icount=True).replace("-serial pty", "-serial null").split()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    line = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("M7REF ")]
    if not line:
        raise RuntimeError(f"C reference printed nothing: {r.stdout[-500:]} {r.stderr[-500:]}")
    f = [int(x) for x in line[0].split()[1:]]
    return {"ticks": f[0], "insns": f[1], "state": f[2:6]}


def firmware_ticks(rows: bytes) -> dict:
    code = (MP_DIR / "replay_tick.py").read_text() + GUEST_TIMING
    with emulated.Guest(icount=True) as g:
        g.put("ROWS", rows)
        g.exec(code, timeout=120)
        out = g.exec("measure(ROWS)", timeout=1200)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out[-2000:])
    return json.loads(line[0][7:])


def v2g_heap() -> dict:
    """GC heap on the 32-bit target after importing each V2G service module (frozen: code in flash,
    only module-level objects on the heap), against the table's per-service memory budget."""
    with emulated.Guest() as g:
        out = g.exec(GUEST_HEAP, timeout=300)
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not line:
        raise RuntimeError(out[-2000:])
    return json.loads(line[0][7:])


def heap_table(h: dict) -> str:
    lines = [f"GC heap {h['total'] / 1024:.0f} KB (the board's); in use after importing the V2G services: "
             f"{h['after'] / 1024:.1f} KB", "", "| service | import heap (32-bit) | table budget | note |",
             "|---|---|---|---|"]
    for name, used, kb, err in h["services"]:
        lines.append(f"| {name} | {used / 1024:.1f} KB | {kb} KB | {err or ''} |")
    return "\n".join(lines)


def run(ticks: int = TICKS) -> dict:
    rows = record_rows(ticks)
    c = c_reference(rows)
    f = firmware_ticks(rows)
    n = f["ticks"]
    per = lambda us: (us - f["base_us"]) * 1000 / n  # noqa: E731 (us of icount time -> instructions)
    return {"ticks": n, "c_ref": c["insns"] / c["ticks"], "direct": per(f["direct_us"]),
            "whole": per(f["whole_us"]), "loop": f["base_us"] * 1000 / n,
            "same_state": [x & 0xFFFFFFFF for x in f["state"][:1]] + f["state"][1:] ==
            [c["state"][0] & 0xFFFFFFFF] + c["state"][1:]}


def table(r: dict) -> str:
    rows = [
        ("C reference (pll_step + cc_step, gcc -O2)", r["c_ref"], 1.0),
        ("firmware: PLL + current loop + SVPWM (the two tick functions)", r["direct"], r["direct"] / r["c_ref"]),
        ("firmware: whole CRITICAL tick (Critical.run_tick, both slots)", r["whole"], r["whole"] / r["c_ref"]),
    ]
    lines = ["| per 10 kHz tick, emulated Cortex-M7 (qemu -icount shift=0) | instructions | x C ref | "
             "share of 40 000-cycle tick |", "|---|---|---|---|"]
    lines += [f"| {name} | {v:,.0f} | {x:.1f} | {100 * v / BUDGET:.1f} % |" for name, v, x in rows]
    lines.append(f"\n{r['ticks']} recorded plant ticks; C and firmware end in the same state: {r['same_state']}")
    return "\n".join(lines)


def main() -> int:
    why = missing()
    if why:
        print(f"== m7 tick bench: skipped: {why}")
        return 0
    r = run()
    print("== m7 tick bench (emulated Cortex-M7, instructions per CRITICAL tick)")
    print(table(r))
    h = v2g_heap()
    print("== V2G service modules on the emulated M7 (heap after import)")
    print(heap_table(h))
    (OUT / "m7_tick.json").write_text(json.dumps(r | {"heap": h}, indent=1) + "\n")
    return 0 if r["same_state"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
