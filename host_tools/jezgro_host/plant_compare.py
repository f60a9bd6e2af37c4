"""The fixed-point grid plant (boards/unix/plant/model.py) against the float model it replaced
(plant/float_model.py): run boards/unix/plant/compare.py under unix MicroPython, check the
differences against the tolerances below (tests_host/test_grid_plant.py) and plot the waveforms.

    python -m jezgro_host.plant_compare docs/img/plant_compare.png   # the picture in docs/performance.md
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from . import mp

TICKS = 10000  # 1 s: every event of compare.py's trace
CHANNELS = ["adc_va", "adc_vb", "adc_vc", "adc_ia", "adc_ib", "adc_ic", "adc_vdc", "ia_mA", "ib_mA", "pa_mV",
            "pb_mV", "vdc_mV"]
# Tolerances, per channel as CHANNELS (ADC counts; mA, mV). Open loop: the same duties into both plants,
# the plant alone: one ADC count where a value sits on a rounding edge, milliamps and millivolts.
OPEN_MAX = [1, 1, 1, 1, 1, 1, 1, 20, 20, 10, 10, 10]
OPEN_SHARE = 0.05  # ADC channels: at most this share of ticks differ (values on a rounding edge only)
# Closed loop: each plant with the real control, which feeds a count's difference back; bounded, small
# against the 22.6 A / 325 V the trace runs at.
CLOSED_MAX = [4, 4, 4, 8, 8, 8, 2, 500, 500, 1000, 1000, 50]
ENERGY_REL = 1e-5  # metered import and export, relative to all the energy that flowed (open loop)
ENERGY_REL_CLOSED = 1e-4


def run(out: Path, ticks: int = TICKS) -> dict:
    """-> compare.py's RESULT (max differences and ticks with a difference per channel, energies) + csv."""
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "plant_compare.csv"
    p = mp.run([str(mp.UNIX_BOARD / "plant" / "compare.py"), str(csv), str(ticks)], heap="8M",
               capture_output=True, timeout=600, cwd=mp.ROOT)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"compare.py failed: {p.stdout[-2000:]}{p.stderr[-2000:]}")
    r = json.loads(lines[-1][7:])
    r["csv"] = str(csv)
    return r


def failures(r: dict) -> list[str]:
    """What lies outside the tolerances (empty: the plants agree)."""
    bad = []
    for j, name in enumerate(CHANNELS):
        if r["open_max"][j] > OPEN_MAX[j]:
            bad.append(f"open loop {name}: {r['open_max'][j]} > {OPEN_MAX[j]}")
        if j < 7 and r["open_ticks"][j] > OPEN_SHARE * r["ticks"]:
            bad.append(f"open loop {name}: differs in {r['open_ticks'][j]} of {r['ticks']} ticks")
        if r["closed_max"][j] > CLOSED_MAX[j]:
            bad.append(f"closed loop {name}: {r['closed_max'][j]} > {CLOSED_MAX[j]}")
    flowed = abs(r["energy_ref"][0]) + abs(r["energy_ref"][1])
    for key, tol in (("energy_open", ENERGY_REL), ("energy_closed", ENERGY_REL_CLOSED)):
        for ref, got, what in zip(r["energy_ref"], r[key], ("import", "export")):
            if abs(got - ref) > tol * flowed:
                bad.append(f"{key} {what}: {got:.3f} J vs {ref:.3f} J")
    return bad


def table(r: dict) -> str:
    """Markdown: per channel the largest difference and its tolerance, open and closed loop."""
    rows = ["| quantity | open loop max | ticks differing | tolerance | closed loop max | tolerance |",
            "|---|---|---|---|---|---|"]
    for j, name in enumerate(CHANNELS):
        rows.append(f"| {name} | {r['open_max'][j]} | {r['open_ticks'][j]} of {r['ticks']} | {OPEN_MAX[j]} | "
                    f"{r['closed_max'][j]} | {CLOSED_MAX[j]} |")
    for what, i in (("import", 0), ("export", 1)):
        rows.append(f"| energy {what} J (of {r['energy_ref'][i]:.2f}) | {r['energy_open'][i] - r['energy_ref'][i]:+.4f} "
                    f"| | {ENERGY_REL:g} of all that flowed | {r['energy_closed'][i] - r['energy_ref'][i]:+.4f} | "
                    f"{ENERGY_REL_CLOSED:g} |")
    return "\n".join(rows)


def plot(csv: str, png: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d = np.genfromtxt(csv, delimiter=",", names=True)
    t = d["t"]
    fig, ax = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ax[0].plot(t, d["ref_ia"], lw=0.8, label="float model (reference), closed loop")
    ax[0].plot(t, d["cl_ia"], lw=0.8, ls="--", label="fixed-point plant, closed loop")
    ax[0].set_ylabel("i_alpha (A)")
    ax[0].legend(loc="upper left", fontsize=8)
    ax[1].plot(t, d["fix_ia"] - d["ref_ia"], lw=0.8, label="i_alpha, open loop (same duties)")
    ax[1].plot(t, d["cl_ia"] - d["ref_ia"], lw=0.8, label="i_alpha, closed loop")
    ax[1].set_ylabel("fixed - float (A)")
    ax[1].legend(loc="upper left", fontsize=8)
    ax[2].plot(t, d["fix_va"] - d["ref_va"], lw=0.8, label="v_alpha at the PCC, open loop")
    ax[2].plot(t, d["cl_va"] - d["ref_va"], lw=0.8, label="v_alpha at the PCC, closed loop")
    ax[2].set_ylabel("fixed - float (V)")
    ax[2].set_xlabel("t (s): sag 0.25-0.35, ramp 0.4, jump 0.55, RLC 0.6, island 0.75-0.8")
    ax[2].legend(loc="upper left", fontsize=8)
    fig.suptitle("Grid plant: fixed-point viper step vs the float model (distorted grid, noise, 22.6 A)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return png


def main(argv: list[str]) -> int:
    png = Path(argv[0]) if argv else Path("build/plant_compare.png")
    r = run(Path("build") / "plant_compare")
    print(table(r))
    print(f"picture: {plot(r['csv'], png)}")
    bad = failures(r)
    for b in bad:
        print("OUT OF TOLERANCE:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
