# Records the ADC input of the CRITICAL path from the unix plant (closed loop: the PLL and the current
# controller run on it as in the simulation), one row of grid.hw.ADC_N uint16 counts per 10 kHz tick,
# for replay on the emulated M7 and the unix port (replay_tick.py). Scenario: rated current on a
# distorted grid with a sag to 5 %, loss of voltage, recovery and a 40 degree phase jump, so every
# branch of the PLL and the current loop is taken.   usage: record_plant.py OUT.bin TICKS
import sys
import power_stage
from plant.model import Plant
from grid import curctl
import replay_tick

out, n = sys.argv[1], int(sys.argv[2])
p = Plant()
for k, v in (("neg", 0.1), ("h5", 0.05), ("h7", 0.03)):
    p._apply({k: v})
p.schedule([[0.25, {"v_pu": 0.05}], [0.3, {"v_pu": 0.0}], [0.35, {"v_pu": 1.0}], [0.4, {"jump_deg": 40}]])
crit = replay_tick.critical_path(power_stage)
adc = power_stage.ADC
rows = bytearray(2 * len(adc) * n)
k = 0
for i in range(n):
    replay_tick.schedule(i, curctl.CC)
    p.step()
    for v in adc:
        rows[k] = v & 0xFF
        rows[k + 1] = (v >> 8) & 0xFF
        k += 2
    crit.run_tick(0)
with open(out, "wb") as f:
    f.write(rows)
print("RECORDED", n)
