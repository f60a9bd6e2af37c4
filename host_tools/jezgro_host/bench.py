"""`jezgro bench` / `make bench`: kernel benchmarks under unix MicroPython, ratios against same-run baselines."""
from __future__ import annotations

from . import mp
from .mp import BENCH, ROOT

BENCHES = ["kernel_bench.py", "grid_bench.py", "transport_bench.py", "ocpp_bench.py", "exi_bench.py", "v2g_loop_bench.py", "can_bench.py",
           "bridge_bench.py", "slac_bench.py", "sim_bench.py", "growth_bench.py"]
# the simulated gateway with the EV (simmain) needs the heap `jezgro sim` gives it, and more for two runs
BIG_HEAP = ("can_bench.py", "sim_bench.py")


def add_parser(sub) -> None:
    s = sub.add_parser("bench", help="kernel benchmarks against same-run baselines")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=main)


def main(a) -> int:
    fs = ROOT / "build" / "bench_fs"
    fs.mkdir(parents=True, exist_ok=True)
    rc = 0
    for b in BENCHES:
        if b == "exi_bench.py":  # its baseline, the iso15118 package's codec, runs on CPython + Java first
            from .exigen import bench_prep
            bench_prep.prepare(ROOT / "build" / "exi_bench.json")
        print(f"== {b} (MicroPython unix port; on the board expect roughly 10-20x the times)")
        args = [str(BENCH / b)] + (["--json"] if a.json else [])
        # can_bench runs the simulated gateway too (simmain, a 4 MB heap for the EV)
        extra = [BENCH]
        p = mp.run(args, heap="4M" if b in BIG_HEAP else "2M", fs_root=fs, extra=extra, cwd=ROOT,
                   timeout=600, extra_env={"JEZGRO_CAN_PORT": "43119"})
        rc |= p.returncode
    # Instructions per CRITICAL tick on the emulated Cortex-M7 next to the C reference (m7bench.py)
    from . import m7bench
    rc |= m7bench.main()
    return rc
