# Guest side of host_tools/jezgro_host/hangbench.py: on the emulated M7 (qemu -icount shift=0), how long
# a hung service's break takes from the hang check's interrupt to the kernel. A kernel with SPIN
# (tests_host/mp/t_spin.py: `while True: pass` in its first incarnation) and PONG; after SPIN's own
# hang, `injected` more through the kernel's fault injection (faults.hang: a counting loop). The
# latency is jezgro_irq.clock() counts (25 MHz) from break_main() in the interrupt to the kernel's
# hang_handled(): the rest of the interrupt, the exception raised at the loop's next branch and
# unwound through the service's coroutine into the kernel's step.
import json
import sys

import board
import jezgro_irq
from jezgro import faults
from jezgro.const import PRIO_MEDIUM
from jezgro.service import ServiceSpec as S

if "/fs/t" not in sys.path:
    sys.path.append("/fs/t")
import harness  # noqa: E402


def _until_restarted(k, sid, limit_runs=200):
    r0 = k.services[sid].restarts
    n = 0
    while k.services[sid].restarts == r0 and n < limit_runs:
        k.run(10)
        n += 1
    return k.services[sid].restarts > r0


def measure(kernels, injected):
    out = {"pass": [], "injected": [], "hang_ms": [], "clock_hz": jezgro_irq.CLOCK_HZ, "missed": 0}
    for _ in range(kernels):
        sys.modules.pop("t_spin", None)
        k = harness.kernel([S(1, "SPIN", PRIO_MEDIUM, 4, 16, 100000, "t_spin"),
                            S(2, "PONG", PRIO_MEDIUM, 4, 16, 1000000, "t_pong")])
        k.boot()
        if _until_restarted(k, 1):
            out["pass"].append(board.W.latency_clk)
        else:
            out["missed"] += 1
        for _ in range(injected):
            k.run(50)
            k.inject(1, faults.INJ_HANG)
            if _until_restarted(k, 1):
                out["injected"].append(board.W.latency_clk)
            else:
                out["missed"] += 1
        out["hangs_broken"] = out.get("hangs_broken", 0) + k.hangs_broken
        board.stop_hang_watch()
    print("RESULT " + json.dumps(out))
