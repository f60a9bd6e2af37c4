"""Out-of-memory is named (issue 16): which service, what it was doing, the heap's state (free, largest
free block) in the summary, the audit log and `jezgro sim`'s output; never a bare exit."""
from __future__ import annotations

import json
import re
import subprocess
import sys

from jezgro_host import mp as _mp

LEAK = """
import harness, json, msgs, gc
from jezgro.service import ServiceSpec as S
from jezgro.const import *
from jezgro.audit import AuditLog
k = harness.kernel([S(1, "AUDIT_LOGGER", PRIO_LOW, 4, 32, 2000000, "services.audit_logger"),
                    S(2, "ECHO", PRIO_MEDIUM, 4, 16, 1000000, "t_echo"),
                    S(3, "HOARD", PRIO_MEDIUM, 4, 16, 1000000, "t_hoard", max_restarts=100)], audit_sid=1)
k.boot()
k.run(20)
for i in range(40):  # each message makes HOARD keep 256 KB more: it runs out of memory in its own step
    k.ipc.send(0, 3, msgs.PING, b"x")
    k.run(20)
    if k.services[3].oom:
        break
k.drain_audit()
s = k.summary()
recs = [r for r in AuditLog({root!r}).records({{}}) if r.get("ev") == "crash"]
harness.result({{"svc": s["services"][3], "echo": s["services"][2], "recs": recs, "heap": gc.mem_free() + gc.mem_alloc()}})
"""


def test_a_service_running_out_of_memory_is_named_with_the_heap_state(mp, tmp_path):
    r = mp(LEAK.format(root=str(tmp_path)), heap="1M")
    svc = r.data["svc"]
    oom = svc["oom"]
    assert svc["last_fault"] == "memory" and svc["restarts"] == 1, svc
    assert oom["doing"] == "running" and "t_hoard.py" in oom["at"] and "allocating" in oom["at"], oom
    h = oom["heap"]
    # the hoard is gone once the service is stopped: the heap is mostly free again, in one piece
    assert 0 < h["largest_free"] <= h["free"] and h["free"] + h["used"] <= r.data["heap"], h
    assert h["free"] > r.data["heap"] // 2, h
    assert svc["fault_text"].startswith("out of memory in HOARD while running"), svc["fault_text"]
    # the other service did not notice
    assert r.data["echo"]["faults"] == 0 and r.data["echo"]["state"] == "waiting"
    texts = [rec.get("text", "") for rec in r.data["recs"]]
    assert any(t.startswith("out of memory in HOARD while running") and "largest free block" in t
               and "MemoryError" in t for t in texts), r.data["recs"]


def _jezgro(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jezgro_host.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=_mp.ROOT)


def test_sim_says_which_service_ran_out_of_memory_at_import(tmp_path):
    # the run: services that do not fit are stopped at boot and the run says so, with the heap
    out = tmp_path / "o"
    p = _jezgro("sim", "--no-csms", "--ev", "iso20-dc-bpt", "--heap", "600K", "--seconds", "2", "--quiet",
                "--no-plot", "--out", str(out))
    text = p.stdout + p.stderr
    assert p.returncode == 0, text
    lines = [ln for ln in text.splitlines() if ln.startswith("OUT OF MEMORY: ")]
    assert lines, text
    assert all(re.search(r"B free, largest free block \d+ B", ln) for ln in lines), lines
    summary = json.loads((out / "summary.json").read_text())
    named = {s["name"]: s["oom"] for s in summary["services"] if s.get("oom")}
    assert named and all(o["heap"]["largest_free"] <= o["heap"]["free"] for o in named.values()), named
    for name, o in named.items():
        assert o["doing"] in ("running", "starting") or o["doing"].startswith("importing services."), (name, o)
    # the audit log has each of them with the heap's state
    logs = _jezgro("logs", "--dir", str(out / "fs"), "--json")
    assert logs.returncode == 0, logs.stderr
    assert sum("out of memory in " in ln for ln in logs.stdout.splitlines()) >= len(named), logs.stdout[-3000:]


def test_sim_names_a_kernel_out_of_memory_instead_of_a_bare_exit(tmp_path):
    # too small even for the kernel's IPC pool: the one line says where and how the heap stood
    p = _jezgro("sim", "--no-csms", "--ev", "iso20-dc-bpt", "--heap", "400K", "--seconds", "2", "--quiet",
                "--no-plot", "--out", str(tmp_path / "o"))
    assert p.returncode == 1
    assert re.search(r"out of memory in (the kernel while \w|the simulation while \w|\w+ while )", p.stderr), p.stderr
    assert re.search(r"\d+ B free, largest free block \d+ B", p.stderr), p.stderr
