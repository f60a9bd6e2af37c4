"""Our SECC session (firmware/iso15118/secc) against the `iso15118` package's EVCC over a real IPv6
link (veth pair, EVCC in its own network namespace): DIN SPEC 70121 DC, ISO 15118-2 DC and ISO 15118-2
AC (three-phase), all with EIM, from SDP to a clean SessionStop, with the message sequence checked on both sides."""
from __future__ import annotations

import json
import os
import select
import sys
import subprocess
import time

import pytest

from netns import v2g_link  # noqa: F401  (fixture)
from test_v2g_transport_link import PEER_VENV, _need_peer, stop, wait_line
from v2g_runs import firmware_result as secc_result, firmware_run

DIN_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "ServicePaymentSelection", "ContractAuthentication",
                "ChargeParameterDiscovery", "CableCheck", "PreCharge", "PowerDelivery", "CurrentDemand",
                "PowerDelivery", "WeldingDetection", "SessionStop"]
ISO2_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "PaymentServiceSelection", "Authorization",
                 "ChargeParameterDiscovery", "CableCheck", "PreCharge", "PowerDelivery", "CurrentDemand",
                 "PowerDelivery", "WeldingDetection", "SessionStop"]
ISO2_AC_SEQUENCE = ["SessionSetup", "ServiceDiscovery", "PaymentServiceSelection", "Authorization",
                    "ChargeParameterDiscovery", "PowerDelivery", "ChargingStatus", "PowerDelivery", "SessionStop"]
DIN_NS, ISO2_NS = "urn:din:70121:2012:MsgDef", "urn:iso:15118:2:2013:MsgDef"
# case -> (EVCC protocol, energy service, transfer mode, namespace, sequence, charge-loop request)
CASES = {"din": ("DIN_SPEC_70121", "DC", "DC_extended", DIN_NS, DIN_SEQUENCE, "CurrentDemandReq"),
         "iso2": ("ISO_15118_2", "DC", "DC_extended", ISO2_NS, ISO2_SEQUENCE, "CurrentDemandReq"),
         "iso2_ac": ("ISO_15118_2", "AC", "AC_three_phase_core", ISO2_NS, ISO2_AC_SEQUENCE, "ChargingStatusReq")}


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
        s = secc_result(secc, secc_timeout)
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


@pytest.mark.parametrize("case", list(CASES))
def test_iso15118_evcc_session_to_clean_session_stop(v2g_link, tmp_path, case):
    _need_peer()
    protocol, service, mode, namespace, sequence, loop = CASES[case]
    link = v2g_link
    secc = secc_start({"iface": link.local, "sessions": 1, "accept_ms": 30000}, 90000)
    wait_line(secc, "READY")
    s, log, wall = package_evcc_session(link, tmp_path, {
        "supportedProtocols": [protocol], "supportedEnergyServices": [service], "energyTransferMode": mode,
        "isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": 10}, secc, 100)
    r, sent = check_clean_session(s, log, namespace, sequence)
    # Its simulated battery goes from 10 % to full in chargeLoopCycle=10 steps of 10 %.
    assert r["requests"].count(loop) == sent.count(loop) >= 8
    loop_ms = [u / 1000 for u in r["loop_us"]]
    assert len(loop_ms) == r["requests"].count(loop)
    print(f"{case} session: {r['duration_ms']} ms on our side ({wall:.1f} s wall incl. EVCC start), "
          f"{len(loop_ms)} {loop[:-3]}Res, response time max {max(loop_ms):.1f} ms, "
          f"mean {sum(loop_ms) / len(loop_ms):.1f} ms (budget 25 ms)")


ENCODE = r"""
import json
from exi import codec, schemas
h, g = schemas.grammar("handshake"), schemas.grammar("din")
sap = {"supportedAppProtocolReq": {"AppProtocol": [{"ProtocolNamespace": "urn:din:70121:2012:MsgDef",
       "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1, "Priority": 1}]}}
msg = lambda sid, name, body: {"V2G_Message": {"Header": {"SessionID": sid}, "Body": {name: body}}}
print("RESULT " + json.dumps({
    "sap": codec.encode(h, sap).hex(),
    "setup": codec.encode(g, msg("00", "SessionSetupReq", {"EVCCID": "0A0B0C0D0E0F"})).hex(),
    "discovery_wrong_id": codec.encode(g, msg("0102030405060708", "ServiceDiscoveryReq", {})).hex()}))
"""

RAW_EV = """
import json, socket, struct, sys, time
iface, ll, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = json.loads(sys.argv[4])
idx = socket.if_nametoindex(iface)
frame = lambda hexs: struct.pack(">BBHI", 1, 0xFE, 0x8001, len(hexs) // 2) + bytes.fromhex(hexs)
def session(frames, wait=5.0):
    c = socket.create_connection((ll + "%" + iface, port))
    c.settimeout(wait)
    got, t0 = [], time.monotonic()
    for f in frames:
        c.sendall(frame(f))
        time.sleep(0.05)
    try:
        while True:
            b = c.recv(4096)
            if not b:
                break
            got.append(b.hex())
    except socket.timeout:
        got.append("timeout")
    return [got, round((time.monotonic() - t0) * 1000)]
out = {"unknown_session": session([m["sap"], m["setup"], m["discovery_wrong_id"]]),
       "malformed": session([m["sap"], "ff00ff00"]),
       "silent": session([m["sap"]])}
print("RESULT " + json.dumps(out))
"""


def test_secc_failure_responses_and_sequence_timeout_over_the_link(v2g_link, mp):
    """A raw CPython EV: a request with a wrong SessionID gets FAILED_UnknownSession and the session
    ends; undecodable EXI closes the connection without a crash; silence after the handshake ends
    the session at V2G_SECC_Sequence_Timeout (1.5 s here instead of 60 s)."""
    link = v2g_link
    m = mp(ENCODE).data
    secc = secc_start({"iface": link.local, "sessions": 3, "accept_ms": 20000, "sequence_timeout_ms": 1500}, 30000)
    port = int(wait_line(secc, "READY").split("16:")[1].strip(" }\n"))
    peer = subprocess.run(link.in_ns([sys.executable, "-c", RAW_EV, link.peer, link.local_ll(), str(port),
                                      json.dumps(m)]), capture_output=True, text=True, timeout=60)
    s = secc_result(secc, 40)
    line = [x for x in peer.stdout.splitlines() if x.startswith("RESULT ")]
    assert line, peer.stderr
    out = json.loads(line[0][7:])
    a, b, c = s["sessions"]
    assert a["end"] == "Failed" and a["responses"] == [
        ["supportedAppProtocolRes", "OK_SuccessfulNegotiation"], ["SessionSetupRes", "OK_NewSessionEstablished"],
        ["ServiceDiscoveryRes", "FAILED_UnknownSession"]]
    assert b["end"] == "Malformed" and b["requests"] == ["supportedAppProtocolReq"]
    assert c["end"] == "SequenceTimeout" and 1500 <= c["duration_ms"] < 2500, c
    # The peer saw its answers, then the connection closed (no timeout on its side).
    for name in ("unknown_session", "malformed", "silent"):
        assert out[name][0] and "timeout" not in out[name][0], (name, out[name])
    assert 1400 <= out["silent"][1] < 3000, out["silent"]
    assert s["faults"] == 0
