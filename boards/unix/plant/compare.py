# The fixed-point plant (plant/model.py) against the float model it replaces
# (plant/float_model.py), run by host_tools/jezgro_host/plant_compare.py
# (tests_host/test_grid_plant.py, docs/performance.md):
#   1. the float model in closed loop with the real PLL and current control
#      ticks; every tick's PWM, ADC and states are kept;
#   2. the fixed-point plant driven open loop by those very PWM duties: the
#      plant alone, tick for tick (ADC counts, currents, voltages, DC link,
#      metered energy);
#   3. the fixed-point plant in closed loop: what the control makes of it.
# The trace takes every path: distorted grid with noise, rated current, a
# single-phase sag, a frequency ramp, a phase jump, an RLC load, islanding
# (float hand-over) and the mains' return.   usage: compare.py OUT.csv TICKS
import array
import json
import sys
import power_stage
from grid import pll, curctl
from plant.model import Plant
from plant.float_model import FloatPlant, V_NOM  # noqa: F401

ENABLE_AT = 1500
ID_REF = 5773  # 22.6 A peak (Q8), the rated current of the bench and the heap-lock test
IQ_REF = -1500
NCH = 12  # per tick: 7 ADC counts, ia, ib, pa, pb, vdc (x 1000, int)


def setup(p, ticks):
    for k, v in (("neg", 0.05), ("h5", 0.03), ("h7", 0.02), ("noise_v", 1.0)):
        p._apply({k: v})
    s = ticks * 1e-4
    p.schedule([[0.25 * s, {"sag_abc": [0.6, 1.0, 1.0]}], [0.35 * s, {"sag_abc": [1.0, 1.0, 1.0]}],
                [0.4 * s, {"ramp_hz_s": 2.0, "f_to": 50.2}], [0.55 * s, {"jump_deg": 20}],
                [0.6 * s, {"rlc": [14.0, 0.08, 1.2e-4]}], [0.75 * s, {"island": True}],
                [0.8 * s, {"island": False}]])


def run(cls, ticks, pwm_in=None):
    # -> (rows, plant, pwm used): closed loop unless pwm_in replays the duties
    pll.reset()
    curctl.reset()
    t1 = pll.make_tick(power_stage.ADC, power_stage.sample)
    t2 = curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply)
    pw = power_stage.PWM
    for i in range(4):
        pw[i] = 0
    p = cls()
    setup(p, ticks)
    cc = curctl.CC
    adc = power_stage.ADC
    rows = array.array("i", bytes(4 * NCH * ticks))
    pwm_out = array.array("i", bytes(16 * ticks))
    for i in range(ticks):
        if i == ENABLE_AT:
            cc[curctl.ENABLE] = 1
            cc[curctl.ID_REF] = ID_REF
            cc[curctl.IQ_REF] = IQ_REF
        p.step()
        b = NCH * i
        for j in range(7):
            rows[b + j] = adc[j]
        rows[b + 7] = int(p.ia * 1000)
        rows[b + 8] = int(p.ib * 1000)
        rows[b + 9] = int(p.pa * 1000)
        rows[b + 10] = int(p.pb * 1000)
        rows[b + 11] = int(p.vdc * 1000)
        if pwm_in is None:
            t1()
            t2()
        else:
            for j in range(4):
                pw[j] = pwm_in[4 * i + j]
        for j in range(4):
            pwm_out[4 * i + j] = pw[j]
    return rows, p, pwm_out


def diff(a, b, ticks):
    # per channel: max |a - b| and the number of ticks where they differ
    mx = [0] * NCH
    nd = [0] * NCH
    for i in range(ticks):
        for j in range(NCH):
            d = abs(a[NCH * i + j] - b[NCH * i + j])
            if d:
                nd[j] += 1
                if d > mx[j]:
                    mx[j] = d
    return mx, nd


def main(out, ticks):
    ref, pr, pwm = run(FloatPlant, ticks)
    opl, po, _ = run(Plant, ticks, pwm)
    cl, pc, _ = run(Plant, ticks)
    with open(out, "w") as f:
        f.write("t,ref_va,ref_ia,fix_va,fix_ia,ref_adc_va,cl_va,cl_ia\n")
        for i in range(ticks):
            b = NCH * i
            f.write("%.4f,%.3f,%.3f,%.3f,%.3f,%d,%.3f,%.3f\n" % (
                i * 1e-4, ref[b + 9] / 1000, ref[b + 7] / 1000, opl[b + 9] / 1000, opl[b + 7] / 1000,
                ref[b], cl[b + 9] / 1000, cl[b + 7] / 1000))
    mo, no = diff(ref, opl, ticks)
    mc, nc = diff(ref, cl, ticks)
    print("RESULT " + json.dumps({
        "ticks": ticks, "open_max": mo, "open_ticks": no, "closed_max": mc, "closed_ticks": nc,
        "energy_ref": [pr.e_imp_j, pr.e_exp_j], "energy_open": [po.e_imp_j, po.e_exp_j],
        "energy_closed": [pc.e_imp_j, pc.e_exp_j]}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
