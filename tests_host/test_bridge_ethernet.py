"""ETHERNET (issue 15 step 5) on the unix port: the host's interface named in net.json, its link and
address read from the host (/sys, /proc), re-opened with back-off while it is missing, and the names the
other services resolve counted and cached. Compared with what the host itself reports (`ip`)."""
from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from jezgro_host.bridge_run import running


def _default_iface() -> tuple[str, str] | None:
    """(interface, IPv4 address) of the host's default route, from `ip` (None: no such route or tool)."""
    if not shutil.which("ip"):
        return None
    r = subprocess.run(["ip", "-4", "-j", "route", "show", "default"], capture_output=True, text=True)
    routes = json.loads(r.stdout or "[]")
    if not routes:
        return None
    dev = routes[0]["dev"]
    a = json.loads(subprocess.run(["ip", "-4", "-j", "addr", "show", "dev", dev], capture_output=True,
                                  text=True).stdout)
    return dev, a[0]["addr_info"][0]["local"]


def test_missing_interface_reopened_with_backoff(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir(parents=True)
    (fs / "net.json").write_text(json.dumps({"iface": "nonexist0"}))
    with running(tmp_path) as (csms, fleet, stop):
        time.sleep(4)
        s = stop()
    net = {x["name"]: x for x in s["services"]}["ETHERNET"]["status"]
    assert not net["up"] and net["ip"] == ""
    assert net["last_error"] == "no interface nonexist0 on this host"
    assert 2 <= net["counters"]["reopens"] <= 3  # 1 s, 2 s, 4 s ...: back-off, not a busy loop


def test_host_interface_address(tmp_path):
    host = _default_iface()
    if host is None:
        pytest.skip("the host has no IPv4 default route (or no `ip` tool) to compare with")
    fs = tmp_path / "fs"
    fs.mkdir(parents=True)
    (fs / "net.json").write_text(json.dumps({"iface": host[0]}))
    with running(tmp_path) as (csms, fleet, stop):
        time.sleep(1.5)
        s = stop()
    net = {x["name"]: x for x in s["services"]}["ETHERNET"]["status"]
    assert net["up"] and net["ip"] == host[1], (net, host)
    assert net["gw"] and net["counters"]["link_up"] == 1
