"""`jezgro bench` / `make bench`: kernel benchmarks under unix MicroPython, ratios against same-run baselines."""
from __future__ import annotations

import subprocess

from .mp import ROOT, micropython_cmd, micropython_env

BENCHES = ["kernel_bench.py", "grid_bench.py", "transport_bench.py", "ocpp_bench.py", "exi_bench.py", "v2g_loop_bench.py"]


def main(a) -> int:
    env = micropython_env(fs_root=str(ROOT / "build" / "bench_fs"))
    (ROOT / "build" / "bench_fs").mkdir(parents=True, exist_ok=True)
    env["MICROPYPATH"] += f":{ROOT / 'bench'}"
    rc = 0
    for b in BENCHES:
        if b == "exi_bench.py":  # its baseline, the iso15118 package's codec, runs on CPython + Java first
            from .exigen import bench_prep
            bench_prep.prepare(ROOT / "build" / "exi_bench.json")
        print(f"== {b} (MicroPython unix port; on the board expect roughly 10-20x the times)")
        args = [str(ROOT / "bench" / b)] + (["--json"] if a.json else [])
        p = subprocess.run(micropython_cmd(args, "2M"), env=env, cwd=ROOT, text=True, timeout=600)
        rc |= p.returncode
    return rc
