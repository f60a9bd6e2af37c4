# Shared by the MicroPython benches (run with bench/ on MICROPYPATH): the per-call time of a loop and the
# table row every bench prints, a measurement next to its same-run baseline and their ratio.
import gc
import time


def timed(fn, n):
    # mean µs per call of fn(n), which runs the measured thing n times
    t0 = time.ticks_us()
    fn(n)
    return time.ticks_diff(time.ticks_us(), t0) / n


def rower(rows):
    # -> row(name, us, base_us, note), which appends one table row to `rows`
    def row(name, us, base_us, note):
        rows.append({"name": name, "us": us, "baseline_us": base_us, "ratio": us / base_us if base_us else 0,
                     "note": note})
    return row


def best(fn, n, rep=3):
    # the fastest of rep runs of timed() (µs per call): other processes and the GC only ever add time
    b = 1e9
    for _ in range(rep):
        gc.collect()
        b = min(b, timed(fn, n))
    return b
