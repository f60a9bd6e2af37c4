"""`jezgro fuzz TARGET --n N`: mutation fuzzing of the firmware decoders that take bytes from outside, in the
unix MicroPython port under a heap limit, the firmware compiled to .mpy as on the board (docs/fuzzing.md).

Inputs are mutations of the seed corpus fuzz/corpus/TARGET (real messages, fuzz_corpus.py), run in batches of
--batch inputs per MicroPython process (fuzz/mp/fz_engine.py). Each input must be accepted or end in the
decoder's documented error (counted per kind); an unexpected exception, an input slower than --budget-ms, a
batch that hangs or live heap that grows across a batch is a failure, saved as a reproducer file in --out
(`jezgro fuzz TARGET --repro FILE` replays it). Exit 1 when anything failed."""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import mp
from .errors import ToolError, UserError, choices

FUZZ = mp.ROOT / "fuzz"
MP_DIR = FUZZ / "mp"
CORPUS = FUZZ / "corpus"
MPY_CACHE = mp.ROOT / "build" / "fuzz" / "mpy"
HEAP_GROWTH = 16 * 1024  # live heap a batch may gain after warm-up (first-use caches), else "heap growth"


def targets() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []


def add_parser(sub) -> None:
    s = sub.add_parser("fuzz", help="fuzz a decoder (EXI, V2GTP, SDP, WebSocket, OCPP-J, SLAC, CAN, Modbus, "
                                    "config files) inside MicroPython")
    s.add_argument("target", nargs="?", help="a target (--list), several with commas, or 'all'")
    s.add_argument("--n", type=int, default=10000, help="inputs per target (default 10000)")
    s.add_argument("--seed", type=int, default=1, help="random seed of the first batch (default 1)")
    s.add_argument("--heap", default="256K", help="MicroPython heap (default 256K: the board's budget)")
    s.add_argument("--batch", type=int, default=50000, help="inputs per MicroPython process (default 50000)")
    s.add_argument("--budget-ms", type=float, default=50.0, help="time one input may take (default 50 ms)")
    s.add_argument("--out", default="build/fuzz", help="where reproducers go (default build/fuzz)")
    s.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time (default 1)")
    s.add_argument("--json", help="write the results to this file")
    s.add_argument("--list", action="store_true", help="list the targets")
    s.add_argument("--repro", help="replay one input file against TARGET")
    s.add_argument("--make-corpus", action="store_true", help="regenerate fuzz/corpus from the peers")
    s.set_defaults(func=main)


def mpy_tree() -> Path:
    """firmware/ compiled to .mpy (as on the board; native code for this host), rebuilt when a source is
    newer. The sources where this host has no native emitter."""
    if platform.machine() != "x86_64":
        return mp.FIRMWARE
    cross = mp.BUILT_MICROPYTHON.parent / "mpy-cross"
    exe = str(cross) if cross.exists() else mp.tool("mpy-cross")
    for src in sorted(mp.FIRMWARE.rglob("*.py")):
        dst = MPY_CACHE / src.relative_to(mp.FIRMWARE).with_suffix(".mpy")
        if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        p = subprocess.run([exe, "-march=x64", "-o", str(dst), "-s", str(src.relative_to(mp.FIRMWARE)), str(src)],
                           capture_output=True, text=True)
        if p.returncode:
            raise ToolError(f"mpy-cross {src}: {p.stderr.strip()[-300:]}")
    return MPY_CACHE


def _fs(target: str) -> Path:
    """The filesystem root the config targets write each input to: in memory where the host has one (a
    disk write per input would measure the disk, not the loader)."""
    shm = Path("/dev/shm")
    return (shm if shm.is_dir() else mp.ROOT / "build") / f"jezgro-fuzz-{os.getpid()}" / target


def _launch(code: str, heap: str, timeout: float, fs: Path) -> subprocess.CompletedProcess[str]:
    fs.mkdir(parents=True, exist_ok=True)
    return mp.run(["-c", code], heap=heap, firmware=mpy_tree(), extra=[MP_DIR],
                  extra_env={"JEZGRO_FUZZ_FS": str(fs)}, capture_output=True, timeout=timeout, cwd=mp.ROOT)


def _save(out: Path, target: str, kind: str, data: bytes) -> Path:
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{kind}-{hashlib.sha256(data).hexdigest()[:12]}.bin"
    p.write_bytes(data)
    return p


def _batch(target: str, n: int, seed: int, a: Any, out: Path) -> dict[str, Any]:
    budget_us = int(a.budget_ms * 1000)
    timeout = 120 + n * a.budget_ms / 1000
    code = (f"import fz_engine\nfz_engine.run({target!r}, {n}, {seed}, {str(CORPUS / target)!r}, {budget_us}")
    try:
        p = _launch(code + ")", a.heap, timeout, _fs(target))
    except subprocess.TimeoutExpired:
        trace = out / target / "current.bin"
        trace.parent.mkdir(parents=True, exist_ok=True)
        try:
            _launch(code + f", {str(trace)!r})", a.heap, timeout, _fs(target))
        except subprocess.TimeoutExpired:
            pass
        saved = _save(out, target, "hang", trace.read_bytes()) if trace.exists() else trace
        return {"inputs": n, "counts": {}, "failures": 1, "fail_samples": [], "saved": [str(saved)],
                "notes": [f"batch seed {seed} did not finish in {timeout:.0f} s: {saved}"], "ms": timeout * 1000}
    died = (p.stderr or "") + (p.stdout or "")
    if "FUZZRESULT " not in p.stdout and "MemoryError" in died:
        # the heap ran out outside any one decode (what the decoders kept filled it): a failure of this
        # batch, the run goes on
        return {"inputs": n, "counts": {}, "failures": 1, "fail_samples": [], "saved": [], "ms": 0,
                "notes": [f"heap exhausted in batch seed {seed}: {died.strip().splitlines()[-1][:200]}"]}
    if "FUZZRESULT " not in p.stdout:
        raise ToolError(f"{target}: the MicroPython run failed (exit {p.returncode}): "
                        f"{(p.stderr or p.stdout).strip()[-800:]}")
    r = json.loads(p.stdout.split("FUZZRESULT ", 1)[1])
    r["saved"] = [str(_save(out, target, f["kind"], bytes.fromhex(f["hex"]))) for f in r["fail_samples"]]
    r["notes"] = [f"{f['kind']}: {f['error']} ({s})" for f, s in zip(r["fail_samples"], r["saved"])]
    if r["heap_max"] - r["heap_base"] > HEAP_GROWTH:
        r["failures"] += 1
        r["notes"].append(f"heap growth: live heap {r['heap_base']} -> {r['heap_max']} bytes (batch seed {seed})")
    return r


def fuzz(target: str, a: Any, out: Path) -> dict[str, Any]:
    total: dict[str, Any] = {"target": target, "inputs": 0, "counts": {}, "failures": 0, "notes": [], "max_us": 0,
                             "heap_max": 0, "heap_base": 0, "batches": 0}
    t0 = time.monotonic()
    left = a.n
    seed = a.seed
    while left > 0:
        n = min(left, a.batch)
        r = _batch(target, n, seed, a, out)
        total["inputs"] += r["inputs"]
        for k, v in r["counts"].items():
            total["counts"][k] = total["counts"].get(k, 0) + v
        total["failures"] += r["failures"]
        total["notes"] += r["notes"]
        total["max_us"] = max(total["max_us"], r.get("max_us", 0))
        total["heap_max"] = max(total["heap_max"], r.get("heap_max", 0))
        total["heap_base"] = max(total["heap_base"], r.get("heap_base", 0))
        total["batches"] += 1
        left -= n
        seed += 1
    total["seconds"] = round(time.monotonic() - t0, 1)
    total["rate"] = round(total["inputs"] / total["seconds"]) if total["seconds"] else 0
    return total


def report(r: dict[str, Any]) -> str:
    c = r["counts"]
    rejected = sum(v for k, v in c.items() if k != "accepted")
    lines = [f"{r['target']}: {r['inputs']} inputs in {r['seconds']} s ({r['rate']}/s): "
             f"{c.get('accepted', 0)} accepted, {rejected} rejected, {r['failures']} failures; "
             f"slowest {r['max_us'] / 1000:.1f} ms, live heap {r['heap_base']} -> {r['heap_max']} B"]
    for k, v in sorted(c.items(), key=lambda kv: -kv[1]):
        if k != "accepted":
            lines.append(f"    {v:>9}  {k}")
    lines += [f"  FAIL {n}" for n in r["notes"][:20]]
    return "\n".join(lines)


def main(a) -> int:
    if a.make_corpus:
        from . import fuzz_corpus
        for t, n in sorted(fuzz_corpus.build().items()):
            print(f"{t}: {n} seeds")
        return 0
    names = targets()
    if a.list or not a.target:
        print("\n".join(names))
        return 0
    chosen = names if a.target == "all" else a.target.split(",")
    for t in chosen:
        if t not in names:
            raise choices("fuzz target", t, names)
    out = Path(a.out)
    if a.repro:
        if not Path(a.repro).is_file():
            raise UserError(f"{a.repro}: no such file")
        p = _launch(f"import fz_engine\nfz_engine.repro({a.target!r}, {str(Path(a.repro).resolve())!r})",
                    a.heap, 60, _fs(a.target))
        sys.stdout.write(p.stdout)
        sys.stderr.write(p.stderr)
        return 0 if p.returncode == 0 else 1
    if a.n <= 0 or a.batch <= 0:
        raise UserError("--n and --batch must be positive")
    results = []
    mpy_tree()  # once, before the batches (of several targets at a time) use it
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            for r in pool.map(lambda t: fuzz(t, a, out), chosen):
                results.append(r)
                print(report(r), flush=True)
    finally:
        shutil.rmtree(_fs("x").parent, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    return 1 if any(r["failures"] for r in results) else 0
