"""`jezgro pll-replay IN.csv OUT.csv`: the firmware PLL (unix MicroPython, the board's code) on anyone's waveforms.

IN.csv: t,va,vb,vc sampled at 10 kHz, volts (a header line is fine). OUT.csv:
t,theta_rad,freq_hz,vd,vq,locked per sample, theta being the estimate of the grid angle
(v_alpha = V cos theta) at that sample's own instant. Inputs go through the board's ADC
scaling (0.25 V/count, +-512 V, 12 bit) first. Malformed lines are skipped and counted.
"""
from __future__ import annotations

import sys
from pathlib import Path

from . import mp
from .mp import ROOT


def add_parser(sub) -> None:
    s = sub.add_parser("pll-replay", help="run the firmware PLL on a CSV of t,va,vb,vc (10 kHz, volts)")
    s.add_argument("infile")
    s.add_argument("outfile")
    s.set_defaults(func=lambda a: main(a.infile, a.outfile))


def main(infile: str, outfile: str) -> int:
    inp = Path(infile)
    if not inp.exists():
        print(f"jezgro pll-replay: {infile}: no such file", file=sys.stderr)
        return 2
    Path(outfile).parent.mkdir(parents=True, exist_ok=True)
    p = mp.run([str(ROOT / "boards" / "unix" / "plant" / "replay.py"), str(inp.resolve()),
                str(Path(outfile).resolve())], heap="8M", cwd=ROOT, capture_output=True, timeout=3600)
    if p.returncode != 0:
        print(p.stdout + p.stderr, file=sys.stderr)
        return 1
    for line in p.stdout.splitlines():
        if line.startswith("REPLAY "):
            n, bad = line.split()[1:3]
            print(f"{n} samples -> {outfile}" + (f" ({bad} malformed lines skipped)" if int(bad) else ""))
    return 0
