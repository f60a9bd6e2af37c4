# The CRITICAL tick (PLL + current control + SVPWM) with the heap locked:
# the plant steps unlocked (it is the simulation), then the kernel's
# Critical.run_tick runs both registered tick functions under heap_lock,
# at rated power on a distorted grid with a sag, so every branch is taken.
import json
import micropython
import time
import power_stage
from plant.model import Plant
from grid import pll, curctl, energy
from jezgro.critical import Critical

p = Plant()
for k, v in (("neg", 0.1), ("h5", 0.05), ("h7", 0.03)):
    p._apply({k: v})
p.schedule([[0.25, {"v_pu": 0.05}], [0.3, {"v_pu": 0.0}], [0.35, {"v_pu": 1.0}], [0.4, {"jump_deg": 40}]])
pll.reset()
curctl.reset()
energy.reset()
crit = Critical(2, time.ticks_us, time.ticks_diff)
crit.register(0, 1, pll.make_tick(power_stage.ADC, power_stage.sample))
crit.register(1, 2, curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply))
cc = curctl.CC
errors = 0
sat = 0
for i in range(6000):
    if i == 1500:
        cc[curctl.ENABLE] = 1
        cc[curctl.ID_REF] = 5773
        cc[curctl.IQ_REF] = -1500
    p.step()
    micropython.heap_lock()
    try:
        crit.run_tick(0)
    except MemoryError:
        errors += 1
    micropython.heap_unlock()
    sat += cc[curctl.SAT]
faults = [str(e) for e in crit.fault if e is not None]
en = energy.EN
print("RESULT " + json.dumps({"memory_errors": errors, "faults": faults, "runs": [crit.runs[0], crit.runs[1]],
                              "saturated_ticks": sat, "locked": pll.ST[pll.LOCKED],
                              "energy": {"export_j": en[energy.EXP_J] + en[energy.WIN_J] + en[energy.SUB] / energy.UNITS_PER_J,
                                         "import_j": en[energy.IMP_J], "ticks": en[energy.TICKS]},
                              "plant": {"export_j": p.e_exp_j + max(p.e_win, 0), "import_j": p.e_imp_j}}))
