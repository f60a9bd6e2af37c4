# Kernel benchmarks, run under MicroPython (`jezgro bench` / `make bench`).
# Every figure is printed next to a baseline measured in the same process, so
# the ratio survives a slower or busier machine.
import sys
import time
import json
import array
import micropython
import board
from jezgro.kernel import Kernel
from jezgro.service import ServiceSpec as S
import msgs
from jezgro.const import PRIO_MEDIUM
from jezgro.ipc import Ipc, Msg
from jezgro.critical import Critical
from jezgro import faults


def timed(fn, n):
    t0 = time.ticks_us()
    fn(n)
    return time.ticks_diff(time.ticks_us(), t0)


# --- IPC ------------------------------------------------------------------------
def ipc_pair(n):
    ipc = Ipc(2, [64, 64])
    ipc.accepting[1] = 1
    msg = Msg()
    send = ipc.send_i32
    take = ipc.take
    for i in range(n):
        send(0, 1, msgs.PING, i)
        take(1, msg)


def deque_pair(n):
    # Baseline: the cheapest queue MicroPython offers, moving a preallocated object.
    from collections import deque
    q = deque((), 64)
    item = (msgs.PING, 0)
    for i in range(n):
        q.append(item)
        q.popleft()


# --- CRITICAL tick -----------------------------------------------------------------
acc = array.array("i", [0, 0])


@micropython.viper
def f1():
    a = ptr32(acc)
    a[0] += 3


@micropython.viper
def f2():
    a = ptr32(acc)
    a[1] += 5


def ticks_kernel(n):
    c = Critical(2, time.ticks_us, time.ticks_diff)
    c.register(0, 1, f1)
    c.register(1, 2, f2)
    for i in range(n):
        c.run_tick(0)


def ticks_bare(n):
    for i in range(n):
        f1()
        f2()


# --- restart latency ------------------------------------------------------------------
def restart_latency(n):
    board.configure(True)
    table = (S(0, "KERNEL", -1, 4, 16, 0, None), S(1, "ECHO", PRIO_MEDIUM, 4, 16, 1000000, "bench_echo",
                                                  max_restarts=n + 10, period_s=1))
    k = Kernel(table, board)
    k.boot()
    k.run(2)
    for i in range(n):
        k.inject(1, faults.INJ_CRASH)
        k.run(1)
    board.stop_hang_watch()
    lat = k.services[1].latency_us
    return sorted(lat)


def fresh_start(n):
    # Baseline: creating the service coroutine and running its first step directly.
    import bench_echo
    lat = []

    class Ctx:
        def __init__(self):
            self.store = {}

        def feed(self):
            pass

        def receive(self, t):
            return self

        def __iter__(self):
            return self

        def __next__(self):
            return None

    for i in range(n):
        t0 = time.ticks_us()
        c = bench_echo.main(Ctx())
        c.send(None)
        lat.append(time.ticks_diff(time.ticks_us(), t0))
    return sorted(lat)


def main():
    n = 20000
    rows = []
    a = timed(ipc_pair, n)
    b = timed(deque_pair, n)
    rows.append(["IPC send+receive (send_i32 + take)", n * 1000000 // a, "msg/s",
                 "collections.deque append+popleft", n * 1000000 // b, "msg/s", a / b])
    a = timed(ticks_kernel, n)
    b = timed(ticks_bare, n)
    rows.append(["CRITICAL tick, 2 viper fns, via kernel", a * 1000 // n, "ns/tick",
                 "same 2 fns called directly", b * 1000 // n, "ns/tick", a / b])
    rows.append(["  -> kernel tick overhead", (a - b) * 1000 // n, "ns/tick", "budget at 10 kHz", 100000,
                 "ns/tick", (a - b) / n / 100.0])
    lat = restart_latency(200)
    base = fresh_start(200)
    rows.append(["restart latency p50 (fault -> running)", lat[len(lat) // 2], "us",
                 "fresh coroutine + first step p50", base[len(base) // 2], "us",
                 lat[len(lat) // 2] / max(1, base[len(base) // 2])])
    rows.append(["restart latency max", lat[-1], "us", "spec limit", 100000, "us", lat[-1] / 100000])
    if "--json" in sys.argv:
        print(json.dumps(rows))
        return
    print("%-42s %12s %-8s | %-36s %12s %-8s | %7s" % ("measure", "value", "unit", "baseline (same run)",
                                                         "value", "unit", "ratio"))
    print("-" * 138)
    for r in rows:
        print("%-42s %12d %-8s | %-36s %12d %-8s | %7.2f" % tuple(r))


main()
