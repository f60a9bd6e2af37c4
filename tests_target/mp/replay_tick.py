# The CRITICAL path (PLL_SYNC + CURRENT_CTRL ticks: PLL, dq current loop, SVPWM) through the
# kernel's Critical.run_tick, fed from recorded ADC rows by the replay power stage
# (boards/qemu/power_stage.py), every tick with the heap locked. Runs unchanged on the unix port,
# on the emulated Cortex-M7 (frozen there) and on a NUCLEO (tests_target/test_emulated.py).
# After each tick a hash of the whole control state (PLL state, controller state, PWM duties, the
# tick's energy meter grid/energy.EN) is
# kept: two machines that compute the same thing produce the same list, tick for tick.
import array
import json
import micropython
import time
from micropython import const
from grid import pll, curctl, energy
from jezgro.critical import Critical

ENABLE_AT = const(1500)
ID_REF = const(5773)  # rated current, Q8 A
IQ_REF = const(-1500)
HASH_MASK = const(0x3FFFFFF)  # 26 bits: h * 31 stays below 2^31, so 32- and 64-bit words agree


def schedule(i, cc):
    # The current references of the recorded scenario: rated current from tick 1500 on.
    if i == ENABLE_AT:
        cc[curctl.ENABLE] = 1
        cc[curctl.ID_REF] = ID_REF
        cc[curctl.IQ_REF] = IQ_REF


@micropython.viper
def _mix(h: int, a_, n: int) -> int:
    # Only +, * and & (mod 2^32 on both machines); the mask keeps the low bits, which wrap agrees on.
    a = ptr32(a_)
    i = 0
    while i < n:
        h = ((h * 31) + a[i]) & HASH_MASK
        i += 1
    return h


def critical_path(stage):
    # PLL_SYNC's and CURRENT_CTRL's tick functions in the kernel's Critical, in their config/v2g.py
    # slots, on `stage` (a power stage module: ADC, PWM, sample, apply), from reset.
    pll.reset()
    curctl.reset()
    energy.reset()
    crit = Critical(2, time.ticks_us, time.ticks_diff)
    crit.register(0, 1, pll.make_tick(stage.ADC, stage.sample))
    crit.register(1, 2, curctl.make_tick(stage.ADC, stage.PWM, stage.apply))
    return crit


def run(stage, rows, n=0):
    # stage: the replay power stage module; rows: its recording. -> the RESULT dict.
    stage.load(rows)
    n = n or stage.POS[1]
    crit = critical_path(stage)
    cc = curctl.CC
    st = pll.ST
    pwm = stage.PWM
    hashes = array.array("i", bytes(4 * n))
    errors = 0
    for i in range(n):
        schedule(i, cc)
        micropython.heap_lock()
        try:
            crit.run_tick(0)
        except MemoryError:
            errors += 1
        micropython.heap_unlock()
        h = _mix(0, st, len(st))
        h = _mix(h, cc, len(cc))
        h = _mix(h, energy.EN, len(energy.EN))
        hashes[i] = _mix(h, pwm, len(pwm))
    return {"ticks": n, "memory_errors": errors, "faults": [str(e) for e in crit.fault if e is not None],
            "runs": [crit.runs[0], crit.runs[1]], "locked": st[pll.LOCKED],
            "final": {"pll": list(st), "cc": list(cc), "pwm": list(pwm), "energy": list(energy.EN)},
            "hashes": bytes(hashes).hex()}


def main(rows):
    import power_stage
    print("RESULT " + json.dumps(run(power_stage, rows)))
