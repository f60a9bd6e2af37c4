"""`make bench` keeps running: each MicroPython bench script runs to its table (its figures are judged in
`make bench`, never here). The EXI bench has its own test (test_exi_bench.py): its baselines, the
iso15118 package's codec and libcbv2g, are prepared on CPython + Java + C first. Each runs as
`make bench` runs it (run_one: the TLS bench with its OpenSSL client beside it)."""
from __future__ import annotations

import pytest

from jezgro_host.bench import BENCHES, run_one


@pytest.mark.parametrize("script", [b for b in BENCHES if b != "exi_bench.py"])
def test_bench_script_runs_to_its_table(script, tmp_path):
    p = run_one(script, tmp_path, capture_output=True)
    assert p.returncode == 0 and "Traceback" not in p.stdout + p.stderr, p.stdout[-2000:] + p.stderr[-2000:]
    assert len(p.stdout.splitlines()) >= 3, p.stdout  # a header and rows, not an empty run
