"""The C reference (bench/grid_ref.c) is the same integer algorithm as the viper tick, and that
algorithm never overflows int32 (what the 32-bit board computes), checked with UBSan on a harsh
trace: distorted grid, noise, rated current with saturation, sags to 0.05 and 0 pu, a 40 deg jump."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RECORD = """
import array, json
import power_stage
from plant.model import Plant
from grid import pll, curctl, energy
N = 6000
p = Plant()
for k, v in (("neg", 0.1), ("h5", 0.05), ("h7", 0.03), ("noise_v", 2.0)):
    p._apply({k: v})
p.schedule([[0.25, {"v_pu": 0.05}], [0.3, {"v_pu": 0.0}], [0.35, {"v_pu": 1.0}], [0.45, {"jump_deg": 40}]])
pll.reset(); curctl.reset(); energy.reset()
t1 = pll.make_tick(power_stage.ADC, power_stage.sample)
t2 = curctl.make_tick(power_stage.ADC, power_stage.PWM, power_stage.apply)
rec = array.array("i", bytes(4 * 14 * N))
adc = power_stage.ADC; pwm = power_stage.PWM; cc = curctl.CC
sat = 0
for i in range(N):
    if i == 1500:
        cc[curctl.ENABLE] = 1; cc[curctl.ID_REF] = 7000; cc[curctl.IQ_REF] = -2000
    p.step(); t1(); t2()
    sat += cc[curctl.SAT]
    b = 14 * i
    for j in range(7):
        rec[b + j] = adc[j]
    rec[b + 7] = pll.ST[pll.THETA]; rec[b + 8] = pwm[0]; rec[b + 9] = pwm[1]; rec[b + 10] = pwm[2]
    rec[b + 11] = 7000; rec[b + 12] = -2000; rec[b + 13] = cc[curctl.ID]
with open("trace.bin", "wb") as f:
    f.write(rec)
print("RESULT " + json.dumps({"n": N, "sat": sat, "energy": list(energy.EN)}))
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_c_reference_matches_viper_without_int32_overflow(mp, tmp_path):
    r = mp(RECORD, timeout=120, heap="8M", fs=tmp_path)
    assert r.data["sat"] > 0
    exe = tmp_path / "grid_ref_ubsan"
    subprocess.run(["gcc", "-O1", "-fsanitize=signed-integer-overflow", "-fno-sanitize-recover=all",
                    "-o", str(exe), str(ROOT / "bench" / "grid_ref.c"), "-lm"], check=True, timeout=120)
    p = subprocess.run([str(exe), str(tmp_path / "trace.bin"), "1", "1500"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    ns, mismatches, n = p.stdout.split()
    assert int(n) == 6000
    assert int(mismatches) == 0
    # the tick's energy meter (grid/energy.py), same integers; EN is array('i'): signed on both sides
    assert p.stderr.split()[:1] == ["energy"], p.stderr
    assert [int(x) for x in p.stderr.split()[1:7]] == r.data["energy"], p.stderr
    assert r.data["energy"][4] > 0  # exported energy really accrued
