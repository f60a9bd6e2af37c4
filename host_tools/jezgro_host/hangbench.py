"""Break latency of a hung service on the emulated Cortex-M7 (`make bench` through m7bench,
docs/reliability.md "Hangs on the board"); alone: `python -m jezgro_host.hangbench`.

qemu's mps2-an500 with `-icount shift=0` (one guest instruction per virtual nanosecond): the hang check
runs in the TIMER0 interrupt (boards/qemu/board.py, jezgro_irq), a hung service's break is requested
there (jezgro_irq.break_main) and taken by the kernel's step; bench/m7/hang_break.py times that with
jezgro_irq.clock() (25 MHz: 40 instructions per count) for `while True: pass` and for the kernel's
injected hang (a counting loop).
"""
from __future__ import annotations

import sys

from . import emulated, mp
from .mp import BENCH

SERVICES = ("harness.py", "t_spin.py", "t_pong.py")
KERNELS = 5
INJECTED = 4


def run(kernels: int = KERNELS, injected: int = INJECTED) -> dict:
    with emulated.Guest(icount=True) as g:
        g.put_files("/fs/t", {name: (mp.MP_TESTS / name).read_bytes() for name in SERVICES})
        g.exec((BENCH / "m7" / "hang_break.py").read_text(), timeout=120)
        return emulated.result(g.exec(f"measure({kernels}, {injected})", timeout=1800))


def table(r: dict) -> str:
    ins = 1_000_000_000 // r["clock_hz"]  # -icount shift=0: 1 ns per instruction
    lines = ["| hang in a service step (emulated M7, -icount shift=0) | breaks | instructions: min | mean | max "
             "| us at 400 MHz, 1 instr/cycle: max |", "|---|---|---|---|---|---|"]
    for key, name in (("pass", "`while True: pass`"), ("injected", "kernel's injected hang (counting loop)")):
        v = [c * ins for c in r[key]]
        if not v:
            lines.append(f"| {name} | 0 | - | - | - | - |")
            continue
        lines.append(f"| {name} | {len(v)} | {min(v):,} | {sum(v) // len(v):,} | {max(v):,} | {max(v) / 400:.1f} |")
    lines.append(f"\nbreak requested in the TIMER0 interrupt -> taken by the kernel's step (jezgro_irq.clock(), "
                 f"{ins} instructions per count); breaks not taken: {r['missed']}")
    return "\n".join(lines)


def ok(r: dict) -> bool:
    return r["missed"] == 0 and bool(r["pass"]) and bool(r["injected"])


if __name__ == "__main__":
    result = run()  # emulated.GuestError says what is missing (qemu, the build)
    print(table(result))
    sys.exit(0 if ok(result) else 1)
