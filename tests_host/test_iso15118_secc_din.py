"""Our SECC session (firmware/iso15118/secc) against the `iso15118` package's EVCC over a real IPv6
link (veth pair, EVCC in its own network namespace): DIN SPEC 70121 DC, ISO 15118-2 DC and ISO 15118-2
AC (three-phase), all with EIM, from SDP to a clean SessionStop, with the message sequence checked on both sides."""
from __future__ import annotations

import json
import sys
import subprocess

import pytest

from iso15118_peer import (DIN_NS, DIN_SEQUENCE, ISO2_AC_SEQUENCE, ISO2_NS, ISO2_SEQUENCE, check_clean_session, need_peer, package_evcc_session, secc_start, wait_line)
from v2g_runs import firmware_result as secc_result

# case -> (EVCC protocol, energy service, transfer mode, namespace, sequence, charge-loop request)
CASES = {"din": ("DIN_SPEC_70121", "DC", "DC_extended", DIN_NS, DIN_SEQUENCE, "CurrentDemandReq"),
         "iso2": ("ISO_15118_2", "DC", "DC_extended", ISO2_NS, ISO2_SEQUENCE, "CurrentDemandReq"),
         "iso2_ac": ("ISO_15118_2", "AC", "AC_three_phase_core", ISO2_NS, ISO2_AC_SEQUENCE, "ChargingStatusReq")}



@pytest.mark.parametrize("case", list(CASES))
def test_iso15118_evcc_session_to_clean_session_stop(v2g_link, tmp_path, case):
    need_peer()
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
