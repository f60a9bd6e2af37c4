"""The ISO 15118 link tests' shared plumbing: the `iso15118` package as the independent peer (its venv,
its EVCC run in the link's namespace, its log read back), our firmware runs beside it, and the checks
of a clean session both sides agree on. Helpers only; the tests are in test_iso15118_*.py."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time

import pytest

from conftest import ROOT
from v2g_runs import firmware_result, firmware_run

PEER_VENV = ROOT / ".venv-iso15118"
ISO_PKG = PEER_VENV / "lib" / "python3.11" / "site-packages" / "iso15118"


def package_secc_pki(root, certs) -> None:
    """The iso15118 package SECC's PKI folder under root (its ISO 15118-2 layout) from the certs fixture."""
    pki = root / "iso15118_2"
    (pki / "certs").mkdir(parents=True)
    (pki / "private_keys").mkdir()
    (pki / "certs" / "cpoCertChain.pem").write_bytes(certs["cert"] + certs["ca"])
    (pki / "private_keys" / "seccLeaf.key").write_bytes(certs["key"])
    (pki / "private_keys" / "seccLeafPassword.txt").write_text("unused: the test key is not encrypted")


def need_peer() -> None:
    if not (PEER_VENV / "bin" / "python").exists() or not ISO_PKG.exists():
        pytest.skip("iso15118 peer venv missing (make iso15118-venv): real-peer transport tests skipped")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for the iso15118 package's EXI codec (.ci/run installs one)")


def mp_start(role: str, cfg: dict, run_ms: int, netns: str | None = None) -> subprocess.Popen[str]:
    return firmware_run("v_run", role, cfg, run_ms, netns=netns)

def wait_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 10) -> str:
    assert proc.stdout is not None
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no {prefix!r} line; stderr: {proc.stderr.read() if proc.stderr else ''}")

def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return (out or "") + (err or "")


DIN_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "ServicePaymentSelection", "ContractAuthentication",
                "ChargeParameterDiscovery", "CableCheck", "PreCharge", "PowerDelivery", "CurrentDemand",
                "PowerDelivery", "WeldingDetection", "SessionStop"]
ISO2_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "PaymentServiceSelection", "Authorization",
                 "ChargeParameterDiscovery", "CableCheck", "PreCharge", "PowerDelivery", "CurrentDemand",
                 "PowerDelivery", "WeldingDetection", "SessionStop"]
ISO2_AC_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "PaymentServiceSelection", "Authorization",
                    "ChargeParameterDiscovery", "PowerDelivery", "ChargingStatus", "PowerDelivery", "SessionStop"]
DIN_NS, ISO2_NS = "urn:din:70121:2012:MsgDef", "urn:iso:15118:2:2013:MsgDef"


def secc_start(cfg: dict, run_ms: int) -> subprocess.Popen[str]:
    return firmware_run("s_run", cfg, run_ms)


def read_until(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    assert proc.stdout is not None
    got = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not select.select([proc.stdout], [], [], 0.2)[0]:
            continue
        line = proc.stdout.readline()
        if not line:
            break
        got.append(line)
        if text in line:
            break
    return "".join(got)


def collapse(names: list[str]) -> list[str]:
    """Message names without the Req/Res suffix, consecutive repeats folded (loops and retries)."""
    out: list[str] = []
    for n in names:
        n = n[:-3] if n.endswith(("Req", "Res")) else n
        if not out or out[-1] != n:
            out.append(n)
    return out


def evcc_sequence(log: str, direction: str) -> list[str]:
    """What the iso15118 EVCC logged as sent ("Sent X") or received ("X received")."""
    names = []
    for line in log.splitlines():
        if direction == "sent" and "Sent " in line:
            names.append(line.split("Sent ", 1)[1].split()[0].strip(":,"))
        elif direction == "received" and " received" in line:
            names.append(line.split(" received", 1)[0].split()[-1])
    return [n for n in names if n.endswith(("Req", "Res"))]


def package_evcc_session(link, tmp_path, evcc_cfg: dict, secc: subprocess.Popen[str], secc_timeout: float,
                         pki=None) -> tuple[dict, str, float]:
    """The iso15118 package's EVCC (config evcc_cfg; PKI dir pki, default an empty one) in the peer's
    namespace against our SECC run `secc`, until that run ends and the EVCC has its SessionStopRes.
    -> (our SECC's RESULT, the EVCC's log, wall seconds incl. the EVCC's start)."""
    cfg = tmp_path / "evcc.json"
    cfg.write_text(json.dumps(evcc_cfg))
    env = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(pki or tmp_path / "pki") + "/")
    t0 = time.monotonic()
    head = ""
    ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                          cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        s = firmware_result(secc, secc_timeout)
        head = read_until(ev, "SessionStopRes received", 10)  # our side ends first: let the EVCC finish
    finally:
        log = head + stop(ev)
    return s, log, time.monotonic() - t0


def check_clean_session(s: dict, log: str, namespace: str, sequence: list[str]) -> tuple[dict, list[str]]:
    """One session of our SECC to a clean SessionStop, all codes OK, the expected message sequence on
    both sides (our record and the EVCC's log). -> (the session record, the names the EVCC sent)."""
    assert s["errors"] == [], (s, log[-4000:])
    (r,) = s["sessions"]
    assert r["end"] == "SessionStop", (r, log[-4000:])
    assert r["protocol"] == namespace
    assert r["requests"][0] == "supportedAppProtocolReq"
    assert collapse(r["requests"][1:]) == sequence, r["requests"]
    assert collapse([n for n, _ in r["responses"][1:]]) == sequence
    assert r["responses"][0] == ["supportedAppProtocolRes", "OK_SuccessfulNegotiation"]
    assert all(c.startswith("OK") for _, c in r["responses"]), r["responses"]
    # The EVCC's view: the same messages, sent and answered in order, as many charge loops.
    sent = evcc_sequence(log, "sent")
    assert collapse(sent) == ["supportedAppProtocol"] + sequence, log[-4000:]
    assert collapse(evcc_sequence(log, "received")) == ["supportedAppProtocol"] + sequence, \
        [x for x in log.splitlines() if "SessionStop" in x or "rror" in x]
    return r, sent
