# Simulation speed (`jezgro bench`, issue 17): the grid plant's step next to the CRITICAL tick it
# feeds (same run), and the whole V2G simulation (simmain: every service, the plant, the simulated EV's
# ISO 15118 session with SLAC) in virtual time as simulated seconds per wall second and per CPU second
# (the CPU figure is the one a busy machine does not spoil: /proc/self/stat, 10 ms resolution).
import gc
import json
import sys
import time
import power_stage
from benchutil import best
from plant.model import Plant
from plant.float_model import FloatPlant
from grid import pll, curctl
from jezgro.critical import Critical

N = 20000
SIM_S = 10


def cpu_s():
    # user + system CPU time of this process, s
    with open("/proc/self/stat") as f:
        p = f.read().split(")")[-1].split()
    return (int(p[11]) + int(p[12])) / 100


def plant_loop(cls):
    p = cls()
    for k, v in (("neg", 0.05), ("h5", 0.03), ("h7", 0.02)):
        p._apply({k: v})
    power_stage.PWM[0] = 20000
    power_stage.PWM[1] = 14000
    power_stage.PWM[2] = 15000
    power_stage.PWM[3] = 1  # bridge enabled: the full step (L filter, DC link, meter)

    def run(n):
        s = p.step
        for _ in range(n):
            s()
    return run


def tick_loop():
    pll.reset()
    curctl.reset()
    c = Critical(2, time.ticks_us, time.ticks_diff)
    c.register(0, 1, pll.make_tick(power_stage.ADC, power_stage.sample))
    c.register(1, 2, curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply))

    def run(n):
        r = c.run_tick
        for _ in range(n):
            r(0)
    return run


def kernel_ms():
    # the kernel's own cost per simulated millisecond: two services waking every ms (as PLL_SYNC and
    # DROOP_CTRL do), three blocked ones, housekeeping, idle, ten CRITICAL ticks with no tick function
    import board
    from jezgro.kernel import Kernel
    from jezgro.service import ServiceSpec as S
    from jezgro.const import PRIO_HIGH, PRIO_LOW
    b = 1e9
    for _ in range(3):
        tbl = (S(0, "KERNEL", -1, 4, 16, 0, None, ""),
               S(1, "A", PRIO_HIGH, 4, 16, 10000, "bench_poll1", ""),
               S(2, "B", PRIO_HIGH, 4, 16, 10000, "bench_poll1", ""),
               S(3, "C", PRIO_LOW, 4, 16, 10000, "bench_echo", ""),
               S(4, "D", PRIO_LOW, 4, 16, 10000, "bench_echo", ""),
               S(5, "E", PRIO_LOW, 4, 16, 10000, "bench_echo", ""))
        board.configure(True)
        k = Kernel(tbl, board)
        k.boot()
        board.stop_hang_watch()
        gc.collect()
        t0 = time.ticks_us()
        k.run(1000)
        b = min(b, time.ticks_diff(time.ticks_us(), t0) / 1000)
    board.configure(True)
    return b


def sim(args):
    # one simulation in this process; -> (simulated s, wall s, cpu s, EV sessions)
    import simmain
    simmain.emit = lambda *a: None
    gc.collect()
    c0 = cpu_s()
    t0 = time.ticks_ms()
    s = simmain.main(["--seconds", str(SIM_S), "--fs", "build/sim_bench_fs%d" % len(args)] + args)
    wall = time.ticks_diff(time.ticks_ms(), t0) / 1000
    cpu = cpu_s() - c0
    return s["sim_ms"] / 1000, wall, cpu, len(s.get("iso15118", {}).get("history", []))


def main(as_json):
    tick = best(tick_loop(), N)
    fixed = best(plant_loop(Plant), N)
    flt = best(plant_loop(FloatPlant), N // 4)
    rows = [["CRITICAL tick (PLL + current ctrl, Critical.run_tick)", tick, 1.0],
            ["plant step, fixed-point viper (plant/model.py)", fixed, fixed / tick],
            ["plant step, float model (plant/float_model.py, before)", flt, flt / tick]]
    print("%-58s %10s %10s" % ("per 10 kHz tick (distorted grid, bridge on)", "us", "x tick"))
    for name, us, r in rows:
        print("%-58s %10.2f %10.2f" % (name, us, r))
    print("float / fixed-point plant step: %.1fx" % (flt / fixed))
    kms = kernel_ms()
    print("%-58s %10.2f %10.2f" % ("kernel per simulated ms (2 services at 1 kHz, no tick fns)", kms, kms / tick))
    print("floor per simulated ms, V2G: 10 x (tick + plant) + kernel = %.0f us -> at most %.0fx real time" % (
        10 * (tick + fixed) + kms, 1000 / (10 * (tick + fixed) + kms)))
    out = {"tick_us": tick, "plant_fixed_us": fixed, "plant_float_us": flt, "kernel_ms_us": kms, "sims": []}
    print("%-58s %8s %8s %8s %9s %9s" % ("simulation, virtual time (simmain, %d s)" % SIM_S, "wall s", "cpu s",
                                        "sessions", "x real", "x real cpu"))
    for name, args in (("V2G + plant (clean_grid) + EV session (default)", []),
                       ("V2G + EV session, --scenario none", ["--scenario", "none"])):
        s, wall, cpu, sessions = sim(args)
        print("%-58s %8.2f %8.2f %8d %9.1f %9.1f" % (name, wall, cpu, sessions, s / wall, s / cpu if cpu else 0))
        out["sims"].append({"name": name, "sim_s": s, "wall_s": wall, "cpu_s": cpu, "sessions": sessions})
    print("goal (issue 17): >= 20x real time with the plant and an EV session, >= 50x with --scenario none")
    if as_json:
        print(json.dumps(out))


main("--json" in sys.argv)
