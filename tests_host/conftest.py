"""Host tests run firmware code under the real MicroPython unix port (from the pinned wheel)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jezgro_host import mp as _mp
from jezgro_host.mp import MP_TESTS as MP_DIR, ROOT  # noqa: F401 (MP_DIR, ROOT: for the test modules)


class MPResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]):
        self.proc = proc
        self.out = proc.stdout
        self.err = proc.stderr
        self.data = None
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                self.data = json.loads(line[7:])

    def __repr__(self) -> str:
        return f"<rc={self.proc.returncode}\nstdout:\n{self.out[-3000:]}\nstderr:\n{self.err[-3000:]}>"


@pytest.fixture
def mp(tmp_path):
    """mp(code) runs code under unix MicroPython with firmware/, boards/unix and tests_host/mp importable.

    The snippet prints `RESULT <json>`; the fixture returns MPResult with .data parsed."""

    def run(code: str, timeout: float = 120, heap: str = "2M", fs: Path | None = None) -> MPResult:
        proc = _mp.run(["-c", code], heap=heap, fs_root=fs or tmp_path, extra=[MP_DIR],
                       capture_output=True, timeout=timeout, cwd=tmp_path)
        r = MPResult(proc)
        assert proc.returncode == 0, r
        assert r.data is not None, r
        return r

    return run


# Fixtures shared by the ISO 15118 link tests: the veth/netns link and a small PKI.
from netns import v2g_link  # noqa: E402,F401  (fixture)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A P-256 CA and an SECC certificate signed by it (ISO 15118-2 uses secp256r1 ECDSA)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing: TLS tests skipped")
    d = tmp_path_factory.mktemp("pki")

    def ossl(*a: str) -> None:
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=V2G Test Root")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "secc.key", "-out", "secc.csr", "-subj", "/CN=secc.test")
    ossl("x509", "-req", "-in", "secc.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "secc.pem", "-days", "2")
    return {k: (d / f).read_bytes() for k, f in
            (("ca", "ca.pem"), ("cert", "secc.pem"), ("key", "secc.key"))} | {"dir": d}


BIN = Path(sys.executable).parent


def jezgro(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    exe = BIN / "jezgro"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "jezgro_host.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=cwd, timeout=600)
