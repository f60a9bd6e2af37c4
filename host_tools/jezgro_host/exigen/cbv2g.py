"""libcbv2g (EVerest's generated C EXI codec) as the same-run C baseline of bench/exi_bench.py.

Built from the vendor archive (`../shared/vendor/libcbv2g/`, or $JEZGRO_LIBCBV2G) into build/cbv2g/:
its `lib/` sources compiled directly with bench/cbv2g/exi_ref.c (gcc -O2, no cmake: the top-level
CMakeLists needs EVerest's cmake package only for install rules). Rebuilt only when the archive or the
harness changes. A benchmark baseline only: nothing of the product links or needs it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from ..mp import BENCH, ROOT

OUT = ROOT / "build" / "cbv2g"
HARNESS = BENCH / "cbv2g" / "exi_ref.c"
# our schema set name -> libcbv2g's
SCHEMA = {"handshake": "appHand", "din": "din", "iso2": "iso2", "iso20-common": "iso20",
          "iso20-dc": "iso20_dc", "iso20-ac": "iso20_ac"}
# calls per batch (15 batches, the fastest counts): ~2 ms of C time per batch and direction
ROUNDS_NS = 2_000_000


def vendor_dir() -> Path:
    return Path(os.environ.get("JEZGRO_LIBCBV2G", ROOT.parent / "shared" / "vendor" / "libcbv2g"))


def missing() -> str | None:
    """Why the C baseline cannot be built here (one line), or None."""
    v = vendor_dir()
    if not (v / "SHA256SUMS").exists():
        return f"libcbv2g not found in {v} (set JEZGRO_LIBCBV2G to the vendor folder)"
    if not shutil.which("gcc"):
        return "gcc not found: apt-get install gcc"
    return None


def _archive() -> tuple[Path, str]:
    v = vendor_dir()
    for line in (v / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        p = v / name
        if name.endswith(".tar.gz") and p.exists():
            if hashlib.sha256(p.read_bytes()).hexdigest() != digest:
                raise RuntimeError(f"{p}: SHA-256 does not match SHA256SUMS")
            return p, digest
    raise RuntimeError(f"no libcbv2g archive listed in {v / 'SHA256SUMS'}")


def build() -> Path:
    """-> the harness executable, built if the archive or exi_ref.c changed."""
    tar, digest = _archive()
    key = hashlib.sha256(digest.encode() + HARNESS.read_bytes()).hexdigest()[:16]
    exe = OUT / f"exi_ref-{key}"
    if exe.exists():
        return exe
    src = OUT / f"src-{digest[:16]}"
    if not src.exists():
        tmp = OUT / "unpack.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(tar) as t:
            t.extractall(tmp, filter="data")
        (top,) = tmp.iterdir()
        top.rename(src)
        shutil.rmtree(tmp)
    # the schemas the bench uses (not WPT/ACDP)
    libs = sorted(str(p) for p in (src / "lib").rglob("*.c") if "WPT" not in p.name and "ACDP" not in p.name)
    subprocess.run(["gcc", "-O2", f"-I{src / 'include'}", "-o", str(exe), str(HARNESS), *libs],
                   check=True, capture_output=True, text=True)
    return exe


class Ref:
    """The harness as a line-per-message subprocess: measure(schema, data) -> its figures."""

    def __init__(self) -> None:
        self.p = subprocess.Popen([str(build())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def measure(self, schema: str, data: bytes) -> dict:
        assert self.p.stdin is not None and self.p.stdout is not None
        rounds = max(20, ROUNDS_NS // (40 * max(len(data), 16)))   # ~20-40 ns per byte and direction
        self.p.stdin.write(f"{SCHEMA[schema]} {rounds} {data.hex()}\n")
        self.p.stdin.flush()
        dec, enc, size, same, rc = self.p.stdout.readline().split()
        if int(rc) != 0:
            return {"c_rc": int(rc)}
        return {"c_dec_us": float(dec) / 1000, "c_enc_us": float(enc) / 1000, "c_struct": int(size),
                "c_same": same == "1", "c_rc": int(rc)}

    def close(self) -> None:
        if self.p.stdin:
            self.p.stdin.close()
        self.p.wait(timeout=10)
