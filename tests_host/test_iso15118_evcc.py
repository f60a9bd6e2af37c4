"""Our EVCC (firmware/iso15118/evcc, under MicroPython in the kernel) against the `iso15118` package's
SECC over a real IPv6 link (veth pair, SECC in its own network namespace): DIN SPEC 70121 DC,
ISO 15118-2 DC and ISO 15118-2 AC, each from SDP to a clean SessionStop, the message sequence checked
on both sides (our record and the SECC's "… received"/"Sent …" log), every response code OK."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iso15118_peer import (DIN_NS, DIN_SEQUENCE, ISO2_AC_SEQUENCE, ISO2_NS, ISO2_SEQUENCE, PEER_VENV, collapse, package_secc_pki,
                           evcc_sequence, need_peer, stop, wait_line)
from v2g_runs import firmware_result as evcc_result, firmware_run

# The package's SimEVSEController never changes its output (1 V, 1 A whatever is asked) and announces
# a 40 V / 40 A charger in ChargeParameterDiscoveryRes but 600 V / 300 A in CurrentDemandRes. A real
# EV would never see pre-charge reach its battery voltage, so the SECC here runs with one consistent,
# ideal DC supply: 500 V / 200 A / 100 kW, output = the EV's target (clamped), 0 V after the stop.
# Everything else (states, messages, checks, EXI codec) is the package's own SECC.
PLANT_SECC = r"""
import asyncio
from iso15118.secc import SECCHandler
from iso15118.secc.controller.interface import ServiceStatus
from iso15118.secc.controller.simulator import SimEVSEController
from iso15118.secc.secc_settings import Config
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.datatypes import (PVEVSEMaxCurrentLimit, PVEVSEMaxPowerLimit,
                                                PVEVSEMaxVoltageLimit)

MAX_V, MAX_I = 500, 200


class IdealDcSupply(SimEVSEController):
    async def get_dc_charge_parameters(self):
        p = await super().get_dc_charge_parameters()
        return p.copy(update={
            "evse_maximum_voltage_limit": PVEVSEMaxVoltageLimit(multiplier=0, value=MAX_V, unit="V"),
            "evse_maximum_current_limit": PVEVSEMaxCurrentLimit(multiplier=0, value=MAX_I, unit="A"),
            "evse_maximum_power_limit": PVEVSEMaxPowerLimit(multiplier=3, value=100, unit="W")})

    async def send_charging_command(self, ev_target_voltage, ev_target_current, is_precharge=False,
                                    is_session_bpt=False):
        c = self.evse_data_context
        if ev_target_voltage is not None:
            c.present_voltage = int(min(ev_target_voltage, MAX_V))
        if ev_target_current is not None:
            c.present_current = int(min(ev_target_current, MAX_I))

    async def stop_charger(self):
        self.evse_data_context.present_voltage = 0
        self.evse_data_context.present_current = 0


async def main():
    config = Config()
    config.load_envs()
    ctl = IdealDcSupply()
    await ctl.set_status(ServiceStatus.STARTING)
    await SECCHandler(exi_codec=ExificientEXICodec(), evse_controller=ctl, config=config).start(config.iface)


asyncio.run(main())
"""

# case -> (`jezgro ev` protocol, namespace, message sequence, charge-loop request, TLS)
CASES = {"din": ("din", DIN_NS, DIN_SEQUENCE, "CurrentDemandReq", False),
         "iso2-dc": ("iso2-dc", ISO2_NS, ISO2_SEQUENCE, "CurrentDemandReq", False),
         "iso2-ac": ("iso2-ac", ISO2_NS, ISO2_AC_SEQUENCE, "ChargingStatusReq", False),
         "iso2-dc-tls": ("iso2-dc", ISO2_NS, ISO2_SEQUENCE, "CurrentDemandReq", True)}
TLS_SUITE = "TLS-ECDHE-ECDSA-WITH-AES-128-CBC-SHA256"
LOOPS = 5
# The package's SECC answers CurrentDemandReq in 180-210 ms on this host (pydantic + its EXI codec in a
# JVM over py4j per message), too close to DC's 250 ms V2G_EVCC_Msg_Timeout on a machine shared with
# other test runs: the link test widens that one timeout (EvccSession msg_ms) and prints how many
# answers were later than the standard allows. tests_host/test_iso15118_evcc_logic.py checks the 250 ms.
MSG_MS = {"CurrentDemandReq": 2000}


def evcc_start(cfg: dict, run_ms: int) -> subprocess.Popen[str]:
    return firmware_run("e_run", cfg, run_ms)


def secc_start(link, tmp_path, certs) -> subprocess.Popen[str]:  # noqa: F811
    package_secc_pki(tmp_path / "pki", certs)
    script = tmp_path / "plant_secc.py"
    script.write_text(PLANT_SECC)
    env = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/", PYTHONUNBUFFERED="1")
    p = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), str(script)]), cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_line_containing(p, "UDP server socket ready", 60)
    except BaseException:
        stop(p)
        raise
    return p


def wait_line_containing(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """Output of proc up to and including `text` (raw reads: a buffered readline after select() would
    hide lines already read into Python's buffer)."""
    import select
    import time
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    got = b""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        got += chunk
        if text.encode() in got:
            return got.decode(errors="replace")
    raise AssertionError(f"no {text!r} from the SECC: {got.decode(errors='replace')[-3000:]}")


@pytest.mark.parametrize("case", list(CASES))
def test_our_evcc_against_iso15118_secc_to_clean_session_stop(v2g_link, tmp_path, certs, case):  # noqa: F811
    need_peer()
    protocol, namespace, sequence, loop_req, use_tls = CASES[case]
    # TLS: we verify the SECC's certificate against the test root, with -2's cipher suite
    tls = [None, None, certs["ca"].hex(), "secc.test", [TLS_SUITE]] if use_tls else None
    link = v2g_link
    secc = secc_start(link, tmp_path, certs)
    log = ""
    try:
        ev = evcc_start({"iface": link.local, "protocols": [protocol], "msg_ms": MSG_MS, "tls": tls, "heap": True,
                         "ev": {"soc": 30, "target_soc": 80, "loops": LOOPS, "loop_ms": 100}}, 60000)
        out = evcc_result(ev, 90)
        if out["result"]["end"] == "SessionStop":  # we end first: let the SECC log its last response
            log = wait_line_containing(secc, "Sent SessionStopRes", 10)
    finally:
        log += stop(secc)
    r = out["result"]
    assert out["errors"] == [], out
    assert r["end"] == "SessionStop", (r["detail"], list(zip(r["responses"], r["times_ms"])), log[-3000:])
    assert r["protocol"] == namespace
    assert r["sdp"]["addr"] == link.peer_ll() and r["sdp"]["security"] == (0 if use_tls else 0x10)
    assert r["cipher"] == ([TLS_SUITE, "TLSv1.2"] if use_tls else None)
    assert r["requests"][0] == "supportedAppProtocolReq"
    assert collapse(r["requests"][1:]) == sequence, r["requests"]
    assert collapse([n for n, _ in r["responses"][1:]]) == sequence
    assert r["responses"][0] == ["supportedAppProtocolRes", "OK_SuccessfulNegotiation"]
    assert all(c.startswith("OK") for _, c in r["responses"]), r["responses"]
    assert r["requests"].count(loop_req) == LOOPS and r["detail"] == "complete"
    # The SECC's view: the same requests received and answered, in order, as many charge loops.
    got = evcc_sequence(log, "received")  # "X received" lines: our requests
    sent = evcc_sequence(log, "sent")     # "Sent X" lines: its responses
    assert collapse(got) == ["supportedAppProtocol"] + sequence, log[-4000:]
    assert collapse(sent) == ["supportedAppProtocol"] + sequence, log[-4000:]
    assert got.count(loop_req) == LOOPS
    assert len(got) == len(r["requests"]) and len(sent) == len(r["responses"]) == len(r["codec_us"])
    # Energy went into the simulated battery.
    assert r["ev"]["loops"] == LOOPS and r["ev"]["energy_wh"] > 0
    times = r["times_ms"]
    loop_times = [t for (n, _), t in zip(r["responses"], times) if n == loop_req.replace("Req", "Res")]
    late = sum(1 for t in loop_times if t > 250) if loop_req == "CurrentDemandReq" else 0
    print(f"{case}: {r['duration_ms']} ms from SAP request to SessionStopRes, {len(r['requests'])} requests; "
          f"SECC response time max {max(times)} ms (charge loop max {max(loop_times)} ms, "
          f"mean {sum(loop_times) / len(loop_times):.0f} ms, {late} over 250 ms); SDP {r['sdp']['elapsed_ms']} ms; "
          f"our encode+decode per exchange mean {sum(r['codec_us']) / len(r['codec_us']) / 1000:.1f} ms, "
          f"max {max(r['codec_us']) / 1000:.1f} ms; live heap max {out['heap'] / 1024:.1f} KB; "
          f"energy {r['ev']['energy_wh']} Wh")
    # The session (grammars, stream buffer, documents) must leave room in the ISO15118 service's 128 KB.
    assert 0 < out["heap"] < 100 * 1024, out["heap"]


def test_jezgro_ev_runs_our_evcc_with_progress_summary_and_capture(v2g_link, tmp_path, certs):  # noqa: F811
    """`jezgro ev` end to end over TLS (SECC certificate checked against the test root): one progress
    line per message, a JSON summary, the session in pcapng (TLS recorded as its plaintext V2GTP)."""
    need_peer()
    from pcapng_check import read, v2gtp_messages
    link = v2g_link
    secc = secc_start(link, tmp_path, certs)
    pcap = tmp_path / "ev.pcapng"
    ca = tmp_path / "root.pem"
    ca.write_bytes(certs["ca"])
    try:
        p = subprocess.run([str(Path(sys.executable).parent / "jezgro"), "ev", "--iface", link.local, "--no-slac",
                            "--protocol", "iso2-dc", "--protocol", "din", "--loops", "3", "--soc", "50",
                            "--tls", "--ca", str(ca), "--server-name", "secc.test",
                            "--msg-timeout", "CurrentDemandReq=2000", "--pcap", str(pcap), "--max-seconds", "60"],
                           capture_output=True, text=True, timeout=90)
    finally:
        stop(secc)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    print(p.stdout)
    lines = p.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("{"))
    summary = json.loads("\n".join(lines[start:]))
    progress = lines[:start]
    assert summary["end"] == "SessionStop" and summary["protocol"] == "urn:iso:15118:2:2013:MsgDef"
    assert summary["ev"]["loops"] == 3 and summary["errors"] == [] and summary["faults"] == 0
    assert summary["sdp"]["security"] == 0 and summary["cipher"] == [TLS_SUITE, "TLSv1.2"]
    sent = [ln.split()[2] for ln in progress if ln.startswith("EV > ")]
    got = [ln.split()[2] for ln in progress if ln.startswith("EV < ")]
    assert sent == summary["requests"] and got == [n for n, _ in summary["responses"]]
    pc = read(str(pcap))
    assert [x.payload[2:4].hex() for x in pc.udp()] == ["9000", "9001"]
    (stream_a, stream_b) = pc.tcp_streams().values()
    assert len(v2gtp_messages(stream_a)) + len(v2gtp_messages(stream_b)) == len(sent) + len(got)


def test_jezgro_ev_matches_with_slac_then_charges(v2g_link, tmp_path, certs):  # noqa: F811
    """`jezgro ev` on a SLAC charger: our EVSE SLAC (tests_host/mp/l_run.py, with the simulated modem)
    and the iso15118 package's SECC in the peer's namespace. The EV matches over raw HomePlug frames
    first, then discovers and charges as usual."""
    need_peer()
    from jezgro_host import mp as _mp
    from jezgro_host.mp import MP_TESTS
    link = v2g_link
    ev_mac = Path(f"/sys/class/net/{link.local}/address").read_text().strip()
    secc = secc_start(link, tmp_path, certs)
    code = "import l_run; l_run.run('evse', %r, '02:00:00:00:00:02', {%r: 22}, run_ms=20000, keep_ms=200)" % (
        link.peer, ev_mac)
    evse = _mp.start(["-c", code], heap="1M", extra=[MP_TESTS], netns=link.netns, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
    ca = tmp_path / "root.pem"
    ca.write_bytes(certs["ca"])
    try:
        p = subprocess.run([str(Path(sys.executable).parent / "jezgro"), "ev", "--iface", link.local,
                            "--protocol", "iso2-dc", "--loops", "3", "--tls", "--ca", str(ca),
                            "--server-name", "secc.test", "--msg-timeout", "CurrentDemandReq=2000",
                            "--max-seconds", "60", "--quiet"],
                           capture_output=True, text=True, timeout=90)
    finally:
        stop(secc)
    out, _ = evse.communicate(timeout=30)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["end"] == "SessionStop" and summary["slac"]["state"] == "matched", summary
    assert summary["slac"]["atten_db"] == 22 and summary["slac"]["evse_mac"] == "02:00:00:00:00:02"
    theirs = json.loads(next(ln[7:] for ln in out.splitlines() if ln.startswith("RESULT ")))
    assert theirs["state"] == "matched" and theirs["ev_mac"] == ev_mac


def test_jezgro_ev_explains_an_unusable_interface():
    jezgro = str(Path(sys.executable).parent / "jezgro")
    p = subprocess.run([jezgro, "ev", "--iface", "nosuch0"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "does not exist" in p.stderr
    p = subprocess.run([jezgro, "ev", "--iface", "lo"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "no usable IPv6 link-local address" in p.stderr


@pytest.mark.parametrize("protocol", ["din", "iso2-dc"])
def test_our_evcc_against_our_secc_records_agree(v2g_link, protocol):
    """The gateway's two halves over the link: our SECC (s_run) on one end, our EVCC in the namespace
    on the other. Both records list the same requests and the same [response, ResponseCode] pairs."""
    link = v2g_link
    secc = firmware_run("s_run", {"iface": link.local, "sessions": 1, "accept_ms": 20000}, 30000)
    wait_line(secc, "READY")
    cfg = {"iface": link.peer, "protocols": [protocol], "ev": {"loops": LOOPS, "loop_ms": 20}}
    ev = firmware_run("e_run", cfg, 20000, netns=link.netns)
    out = evcc_result(ev, 40)
    s = evcc_result(secc, 40)
    r = out["result"]
    (sr,) = s["sessions"]
    assert r["end"] == sr["end"] == "SessionStop", (r, sr)
    assert r["requests"] == sr["requests"] and r["responses"] == sr["responses"]
    assert r["requests"].count("CurrentDemandReq") == LOOPS
    print(f"{protocol} EVCC <-> SECC (both ours): {r['duration_ms']} ms, {len(r['requests'])} requests, "
          f"SECC response max {max(r['times_ms'])} ms, charge loop {[u // 1000 for u in sr['loop_us']]} ms")
