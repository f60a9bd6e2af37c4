"""A real IPv6 link for the ISO 15118 transport tests: a veth pair whose peer end lives in its own
network namespace, so traffic between the two link-local addresses really crosses the link (in one
namespace Linux would deliver it through loopback). Needs root and iproute2; skips with the reason
otherwise. Both ends finish IPv6 duplicate address detection before the fixture returns, as a charger
must wait for it before it can bind its link-local address."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest

DAD_TIMEOUT_S = 10.0


@dataclass
class Link:
    local: str      # interface in our namespace (the side under test)
    peer: str       # interface inside `netns`
    netns: str

    def in_ns(self, argv: list[str]) -> list[str]:
        """argv prefixed to run inside the peer's namespace."""
        return ["ip", "netns", "exec", self.netns] + argv

    def local_ll(self) -> str:
        return _link_local(["ip"], self.local)

    def peer_ll(self) -> str:
        return _link_local(["ip", "netns", "exec", self.netns, "ip"], self.peer)


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _link_local(ip: list[str], dev: str) -> str:
    """The link-local address of dev once DAD is done ('' while tentative or absent)."""
    for line in _run(ip + ["-6", "addr", "show", "dev", dev]).splitlines():
        line = line.strip()
        if line.startswith("inet6 fe80:") and "tentative" not in line:
            return line.split()[1].split("/")[0]
    return ""


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "veth/netns tests need root (CI runs as root): ISO 15118 link tests skipped"
    if shutil.which("ip") is None:
        return "iproute2 `ip` missing (.ci/run installs it): ISO 15118 link tests skipped"
    return None


@pytest.fixture(scope="module")
def v2g_link():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    link = Link(local=f"v2gs{tag}", peer=f"v2ge{tag}", netns=f"jzgw{tag}")
    try:
        _run(["ip", "netns", "add", link.netns])
        _run(["ip", "link", "add", link.local, "type", "veth", "peer", "name", link.peer])
        _run(["ip", "link", "set", link.peer, "netns", link.netns])
        _run(["ip", "link", "set", link.local, "up"])
        _run(link.in_ns(["ip", "link", "set", "lo", "up"]))
        _run(link.in_ns(["ip", "link", "set", link.peer, "up"]))
    except subprocess.CalledProcessError as e:
        _teardown(link)
        pytest.skip(f"cannot create a veth pair/netns here ({e.stderr.strip()}): ISO 15118 link tests skipped")
    t0 = time.monotonic()
    while not (link.local_ll() and link.peer_ll()):
        if time.monotonic() - t0 > DAD_TIMEOUT_S:
            _teardown(link)
            raise RuntimeError(f"IPv6 DAD did not finish on {link.local}/{link.peer} in {DAD_TIMEOUT_S} s")
        time.sleep(0.1)
    link.dad_s = time.monotonic() - t0  # type: ignore[attr-defined]
    yield link
    _teardown(link)


def _teardown(link: Link) -> None:
    subprocess.run(["ip", "link", "del", link.local], capture_output=True)
    subprocess.run(["ip", "netns", "del", link.netns], capture_output=True)
