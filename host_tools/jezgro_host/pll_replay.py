"""`jezgro pll-replay IN.csv OUT.csv`: the firmware PLL (unix MicroPython, the board's code) on anyone's waveforms.

IN.csv: t,va,vb,vc sampled at 10 kHz, volts (a header line is fine). OUT.csv:
t,theta_rad,freq_hz,vd,vq,locked per sample, theta being the estimate of the grid angle
(v_alpha = V cos theta) at that sample's own instant. Inputs go through the board's ADC
scaling (0.25 V/count, +-512 V, 12 bit) first. Malformed lines are skipped and counted.
"""
from __future__ import annotations

from pathlib import Path

from . import mp
from .errors import ToolError, UserError, firmware_message
from .mp import ROOT


def add_parser(sub) -> None:
    s = sub.add_parser("pll-replay", help="run the firmware PLL on a CSV of t,va,vb,vc (10 kHz, volts)")
    s.add_argument("infile")
    s.add_argument("outfile")
    s.set_defaults(func=lambda a: main(a.infile, a.outfile))


COLUMNS = ("t", "va", "vb", "vc")


def check_columns(inp: Path) -> None:
    """The first non-empty line is a header naming t,va,vb,vc (in that order, more columns may follow)
    or already a sample of four numbers; anything else is refused before the replay starts."""
    with open(inp, errors="replace") as f:
        first = next((ln.strip() for ln in f if ln.strip()), "")
    if not first:
        raise UserError(f"{inp}: empty file (want CSV columns {','.join(COLUMNS)})")
    cells = [c.strip().lower() for c in first.split(",")]
    try:
        [float(c) for c in cells[:4]]
        numeric = True
    except ValueError:
        numeric = False
    if numeric:
        if len(cells) < 4:
            raise UserError(f"{inp}: line 1 has {len(cells)} column(s), want 4: {','.join(COLUMNS)}")
        return
    missing = [c for c in COLUMNS if c not in cells]
    if missing:
        raise UserError(f"{inp}: missing column(s) {', '.join(missing)} (header has {','.join(cells)}; "
                        f"want {','.join(COLUMNS)})")
    if tuple(cells[:4]) != COLUMNS:
        raise UserError(f"{inp}: columns must come in the order {','.join(COLUMNS)} (header has {','.join(cells)})")


def main(infile: str, outfile: str) -> int:
    inp = Path(infile)
    if not inp.is_file():
        raise UserError(f"{infile}: no such file")
    check_columns(inp)
    Path(outfile).parent.mkdir(parents=True, exist_ok=True)
    p = mp.run([str(ROOT / "boards" / "unix" / "plant" / "replay.py"), str(inp.resolve()),
                str(Path(outfile).resolve())], heap="8M", cwd=ROOT, capture_output=True, timeout=3600)
    if p.returncode != 0:
        raise ToolError(f"the replay stopped (MicroPython exit {p.returncode}): "
                        f"{firmware_message(p.stdout + p.stderr) or 'no output'}")
    for line in p.stdout.splitlines():
        if line.startswith("REPLAY "):
            n, bad = line.split()[1:3]
            if int(n) == 0:
                raise UserError(f"{infile}: no sample line with four numbers t,va,vb,vc ({bad} malformed line(s))")
            print(f"{n} samples -> {outfile}" + (f" ({bad} malformed lines skipped)" if int(bad) else ""))
    return 0
