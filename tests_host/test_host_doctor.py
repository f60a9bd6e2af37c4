"""`jezgro doctor` (issue 18): reports this machine as `make test` left it, and names what is missing with
the one command that fixes it when tools are taken away (PATH without them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

JEZGRO = str(Path(sys.executable).parent / "jezgro")


def _doctor(env=None) -> tuple[int, list[dict]]:
    p = subprocess.run([JEZGRO, "doctor", "--json"], capture_output=True, text=True, timeout=300, env=env)
    return p.returncode, json.loads(p.stdout)


def test_this_machine_has_what_make_test_needs():
    rc, rows = _doctor()
    by = {r["check"]: r for r in rows}
    # make test runs here, so everything it needs is found and the exit code says so
    assert rc == 0, [r for r in rows if r["required"] and not r["ok"]]
    assert by["MicroPython unix port"]["detail"].startswith("MicroPython 1.")
    assert by["java"]["ok"] and by["iso15118 peer venv"]["detail"].startswith("iso15118 ")
    if os.geteuid() == 0:
        assert by["root or net capabilities"] == {**by["root or net capabilities"], "ok": True, "detail": "root"}
    assert all(r["fix"] is None for r in rows if r["ok"])


def test_missing_tools_are_named_with_their_fix(tmp_path):
    # a PATH with nothing on it: java, ip, openssl, tshark, the ARM tools disappear (the .venv's own
    # console scripts are found beside the interpreter, as `jezgro` itself finds them)
    rc, rows = _doctor(env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    by = {r["check"]: r for r in rows}
    assert rc == 1
    assert not by["java"]["ok"] and by["java"]["fix"] == "apt-get install -y default-jre-headless"
    assert not by["tshark"]["ok"] and by["tshark"]["fix"] == "apt-get install -y tshark"
    assert not by["iproute2 (ip)"]["ok"] and by["iproute2 (ip)"]["fix"] == "apt-get install -y iproute2"
    assert not by["ARM toolchain"]["ok"] and "gcc-arm-none-eabi" in by["ARM toolchain"]["fix"]
    assert by["MicroPython unix port"]["ok"]  # in the venv, not on PATH
    p = subprocess.run([JEZGRO, "doctor"], capture_output=True, text=True, timeout=300,
                       env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert p.returncode == 1
    assert "MISSING  java" in p.stdout and "fix: apt-get install -y default-jre-headless" in p.stdout
    assert p.stdout.rstrip().splitlines()[-1].startswith("missing for `make sim`/`make test`: java")
