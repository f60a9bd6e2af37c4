# Grid benchmarks (`jezgro bench`): the CRITICAL tick (PLL + current control +
# SVPWM) as viper, against the same source compiled as plain bytecode and a
# C reference (bench/grid_ref.c, gcc -O2, built here into build/) in the same
# run, all on the same recorded ADC samples; plus plant and whole-simulation
# speed (simulated seconds per wall second).
#
# The bytecode twin is grid/pll.py and grid/curctl.py's own source with the
# @micropython.viper decorators removed and ptr32/ptr16 as identity: the very
# same statements, interpreted. Its arrays are unsigned ('I'), which makes its
# loads zero-extended like viper's on this 64-bit port, so sx() means the same.
import array
import gc
import json
import os
import sys
import time
import power_stage
from plant.model import Plant
from grid import pll, curctl, trig
from jezgro import shared

N = 4000
ENABLE_AT = 1500
ID_REF = 5773
IQ_REF = -1500
OUT = "build"


def record():
    # plant + viper ticks on a distorted grid at rated current; per tick the 7 ADC
    # counts and what the viper code produced (theta, duties, refs, id)
    p = Plant()
    for k, v in (("neg", 0.1), ("h5", 0.05), ("h7", 0.03), ("noise_v", 1.0)):
        p._apply({k: v})
    pll.reset()
    curctl.reset()
    t1 = pll.make_tick(power_stage.ADC, power_stage.sample)
    t2 = curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply)
    rec = array.array("i", bytes(4 * 14 * N))
    adc = power_stage.ADC
    pwm = power_stage.PWM
    cc = curctl.CC
    for i in range(N):
        if i == ENABLE_AT:
            cc[curctl.ENABLE] = 1
            cc[curctl.ID_REF] = ID_REF
            cc[curctl.IQ_REF] = IQ_REF
        p.step()
        t1()
        t2()
        b = 14 * i
        for j in range(7):
            rec[b + j] = adc[j]
        rec[b + 7] = pll.ST[pll.THETA]
        rec[b + 8] = pwm[0]
        rec[b + 9] = pwm[1]
        rec[b + 10] = pwm[2]
        rec[b + 11] = ID_REF
        rec[b + 12] = IQ_REF
        rec[b + 13] = cc[curctl.ID]
    return rec


def replay(rec, pll_step, cc_step, st, maf, ccs, sh, pwm, adc):
    # run both ticks over the recorded samples; returns (us total, mismatches vs recorded viper)
    tab = trig.SIN
    for i in range(len(st)):
        st[i] = 0
    for i in range(len(maf)):
        maf[i] = 0
    for i in range(len(ccs)):
        ccs[i] = 0
    st[pll.WTS] = pll.WTS_NOM
    st[pll.OMEGA] = pll.OMEGA_NOM
    st[pll.OMEGA_F] = pll.OMEGA_NOM
    st[pll.OMEGA_L] = pll.OMEGA_NOM
    st[pll.DTHETA] = 21474836
    bad = 0
    us = 0
    for i in range(N):
        b = 14 * i
        for j in range(7):
            adc[j] = rec[b + j]
        if i == ENABLE_AT:
            ccs[curctl.ENABLE] = 1
            ccs[curctl.ID_REF] = ID_REF
            ccs[curctl.IQ_REF] = IQ_REF
        t0 = time.ticks_us()
        pll_step(st, adc, tab, maf, sh)
        cc_step(ccs, st, adc, tab, pwm)
        us += time.ticks_diff(time.ticks_us(), t0)
        if ((st[pll.THETA] - rec[b + 7]) & 0xFFFFFFFF) or pwm[0] != rec[b + 8] or pwm[1] != rec[b + 9] \
                or pwm[2] != rec[b + 10]:
            bad += 1
    return us, bad


def bytecode_twin():
    ns = {}
    for mod in ("firmware/grid/pll.py", "firmware/grid/curctl.py"):
        with open(mod) as f:
            src = f.read().replace("@micropython.viper\n", "")
        g = {"__name__": "twin", "ptr32": lambda x: x, "ptr16": lambda x: x}
        exec(src, g)
        ns[mod] = g
    return ns["firmware/grid/pll.py"]["step"], ns["firmware/grid/curctl.py"]["step"]


def c_reference(rec):
    try:
        os.mkdir(OUT)
    except OSError:
        pass
    with open(OUT + "/grid_ticks.bin", "wb") as f:
        f.write(rec)
    if os.system("gcc -O2 -o %s/grid_ref bench/grid_ref.c -lm" % OUT) != 0:
        return None
    os.system("%s/grid_ref %s/grid_ticks.bin 50 %d > %s/grid_ref.out" % (OUT, OUT, ENABLE_AT, OUT))
    with open(OUT + "/grid_ref.out") as f:
        ns, bad, n = f.read().split()
    return float(ns), int(bad), int(n)


def plant_speed(n=20000):
    p = Plant()
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        p.step()
    return time.ticks_diff(time.ticks_us(), t0) / n


def sim_speed():
    from plant import scenario
    r = scenario.run("clean_rated", OUT + "/grid_bench_sim", OUT + "/grid_bench_sim/fs")
    return r["speed"], r["sim_s"], r["wall_s"]


def main(as_json):
    rec = record()
    adc = array.array("i", bytes(4 * 8))
    pwm = array.array("i", bytes(16))
    v_us, v_bad = replay(rec, pll.step, curctl.step, array.array("i", bytes(4 * pll.NST)),
                         array.array("i", bytes(4 * pll.MAF_N)), array.array("i", bytes(4 * curctl.NCC)),
                         shared.SeqState().a, pwm, adc)
    bp, bc = bytecode_twin()
    b_us, b_bad = replay(rec, bp, bc, array.array("I", bytes(4 * pll.NST)), array.array("I", bytes(4 * pll.MAF_N)),
                         array.array("I", bytes(4 * curctl.NCC)), array.array("I", bytes(4 * 6)),
                         array.array("I", bytes(16)), array.array("I", bytes(4 * 8)))
    c = c_reference(rec)
    v = v_us / N
    b = b_us / N
    plant_us = plant_speed()
    speed, sim_s, wall_s = sim_speed()
    rows = [["CRITICAL tick, viper (PLL + current ctrl + SVPWM)", v, 1.0, v_bad],
            ["same source as plain bytecode", b, b / v, b_bad]]
    if c is not None:
        rows.append(["C reference, gcc -O2", c[0] / 1000, c[0] / 1000 / v, c[1]])
    print("%-52s %10s %8s %11s" % ("grid tick (%d ticks, distorted grid, rated current)" % N, "us/tick",
                                    "x viper", "mismatches"))
    for name, us, ratio, bad in rows:
        print("%-52s %10.3f %8.2f %11d" % (name, us, ratio, bad))
    print("%-52s %10.2f" % ("plant step (unix simulation, fixed-point viper)", plant_us))
    print("%-52s %10.2f   (%.1f s simulated in %.2f s, grid services + plant + recorder; V2G: sim_bench)" %
          ("grid scenario clean_rated: simulated s per wall s", speed, sim_s, wall_s))
    print("budget on the board: 100 us per tick at 400 MHz; unix figures are the host's, expect 10-20x on the M7")
    if as_json:
        print(json.dumps({"viper_us": v, "bytecode_us": b, "c_us": c[0] / 1000 if c else None,
                          "mismatch": [v_bad, b_bad, c[1] if c else None], "plant_us": plant_us,
                          "sim_speed": speed}))


main("--json" in sys.argv)
