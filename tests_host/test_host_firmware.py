"""`jezgro firmware build`, `jezgro flash`, `jezgro repl`: what they say when something is missing (one
line naming what to pass or install), and that the pinned archives are verified before anything is
unpacked. The builds themselves run in `make test` (make firmware-all) and are exercised by
tests_target/test_emulated.py and every host test (they run the built unix port)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from jezgro_host import firmware
from conftest import ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.pop("MICROPY_SRC", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "jezgro_host.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=e, timeout=120)


def test_without_a_source_it_says_what_to_pass(tmp_path):
    r = run("firmware", "build", "--target", "unix", env={"JEZGRO_BUILD_CACHE": str(tmp_path)})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--src" in lines[0] and "--fetch" in lines[0], r.stderr


def test_an_archive_that_is_not_the_pinned_one_is_refused_before_unpacking(tmp_path):
    src = tmp_path / "vendor"
    src.mkdir()
    pins = firmware.pins()["sources"]
    for s in pins:
        (src / s["archive"]).write_bytes(b"not the pinned archive")
    # SHA256SUMS claims the pinned sums, the files are something else: the file's own hash decides
    (src / "SHA256SUMS").write_text("".join(f"{s['sha256']}  {s['archive']}\n" for s in pins))
    cache = tmp_path / "cache"
    r = run("firmware", "build", "--target", "unix", "--src", str(src), env={"JEZGRO_BUILD_CACHE": str(cache)})
    assert r.returncode == 2
    assert "does not match the pin" in r.stderr and pins[0]["archive"] in r.stderr, r.stderr
    assert not list(cache.glob("src-*/py")), "nothing may be unpacked from an unverified archive"


def test_a_folder_without_checksums_is_refused(tmp_path):
    r = run("firmware", "build", "--target", "unix", "--src", str(tmp_path),
            env={"JEZGRO_BUILD_CACHE": str(tmp_path / "c")})
    assert r.returncode == 2 and "SHA256SUMS" in r.stderr, r.stderr


def test_the_pins_name_every_source_once_with_commit_and_checksum():
    pins = firmware.pins()
    assert pins["version"] == "1.28.0"
    names = [s["name"] for s in pins["sources"]]
    assert len(names) == len(set(names))
    for s in pins["sources"]:
        assert len(s["commit"]) == 40 and len(s["sha256"]) == 64, json.dumps(s)
    assert {s["dest"] for s in pins["sources"]} >= {".", "lib/mbedtls", "lib/lwip", "lib/stm32lib"}


def test_flash_without_an_image_says_how_to_build_it(tmp_path):
    r = run("flash", "--image", str(tmp_path / "none.hex"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "make firmware-all" in r.stderr, r.stderr


def test_repl_without_a_board_says_so():
    r = run("repl")
    assert r.returncode == 1
    assert r.stderr.strip() == "jezgro repl: no board found (connect the NUCLEO-H743ZI's user USB, CN13)"


def test_every_build_has_jezgro_irq_and_rebuilds_when_it_changes(tmp_path, monkeypatch):
    # The hang break (docs/reliability.md) needs the C module in every build (the unix ports' hang
    # watcher thread uses it too); make does not track .mk/.c files outside the port, so the module
    # folder must be part of every build key.
    made: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(firmware, "_make", lambda tree, subdir, args, log: made.append((subdir, args)))
    monkeypatch.setattr(firmware, "_install", lambda src, name: None)
    for build in (firmware.build_stm32, firmware.build_qemu, firmware.build_unix, firmware.build_unix32):
        build(tmp_path, print)
    flag = f"USER_C_MODULES={firmware.USER_C_MODULES}"
    assert [subdir for subdir, args in made if flag in args] == ["ports/stm32", "ports/qemu", "ports/unix",
                                                                 "ports/unix"]
    assert (firmware.USER_C_MODULES / "jezgro_irq" / "micropython.mk").is_file()
    conf = tmp_path / "conf"
    shutil.copytree(firmware.CONF, conf)
    monkeypatch.setattr(firmware, "CONF", conf)
    monkeypatch.setattr(firmware, "ROOT", tmp_path)
    targets = ("qemu", "stm32", "unix", "unix32")
    same = {t: firmware.target_key(t) for t in targets}
    (conf / "modules" / "jezgro_irq" / "jezgro_irq.c").write_text("// changed\n")
    after = {t: firmware.target_key(t) for t in targets}
    assert all(same[t] != after[t] for t in targets), (same, after)
