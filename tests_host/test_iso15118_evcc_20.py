"""Our ISO 15118-20 EVCC (firmware/iso15118/evcc/iso20*.py, under MicroPython in the kernel) against the
`iso15118` package's SECC over a real IPv6 link (veth pair, SECC in its own network namespace, TCP):
-20 DC with DC_BPT and -20 AC with AC_BPT, each in Scheduled and Dynamic control mode, from SDP to a
clean SessionStop; the message sequence checked on both sides (our record and the SECC's "… received"
/"Sent …" log), every response code OK, and the discharge half of the charge loop seen by the SECC
(negative current / power in the documents it decoded or sent)."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from iso15118_peer import PEER_VENV, collapse, evcc_sequence, need_peer, wait_line
from v2g_runs import firmware_result as evcc_result, firmware_run

# The package's SimEVSEController never changes its output (1 V, 1 A whatever is asked) and announces
# a 1 kW DC charger. A real EV would never see pre-charge reach its battery voltage, so the SECC here
# runs with an ideal bidirectional supply of 500 V / 100 A / 50 kW both ways (announced in its
# DC_ChargeParameterDiscoveryRes): Scheduled, the output follows the EV's targets (negative current =
# discharge); Dynamic, where the EVSE sets the power, it charges at the EV's and its own limits while
# the EV's EVTargetEnergyRequest is positive and discharges at them while it is negative (AC: its
# EVSETargetActivePower +-30 kW, the EV caps it). Everything else (states, messages, checks, EXI
# codec) is the package's own SECC.
PLANT_SECC = r"""
import asyncio
from iso15118.secc import SECCHandler
from iso15118.secc.controller.interface import ServiceStatus
from iso15118.secc.controller.simulator import SimEVSEController
from iso15118.secc.secc_settings import Config
from iso15118.shared.exificient_exi_codec import ExificientEXICodec
from iso15118.shared.messages.iso15118_20.common_types import RationalNumber

MAX_V, MAX_I, MAX_P, MAX_AC_P = 500, 100, 50000, 30000


class IdealBptSupply(SimEVSEController):
    def _discharge_wanted(self):
        e = self.ev_data_context.target_energy_request
        return e is not None and e < 0

    async def get_dc_charge_params_v20(self, energy_service):
        p = await super().get_dc_charge_params_v20(energy_service)
        up = {"evse_max_charge_power": RationalNumber.get_rational_repr(MAX_P)}
        if hasattr(p, "evse_max_discharge_power"):
            up["evse_max_discharge_power"] = RationalNumber.get_rational_repr(MAX_P)
        return p.copy(update=up)

    async def send_charging_command(self, ev_target_voltage, ev_target_current, is_precharge=False,
                                    is_session_bpt=False):
        # (its DC_ChargeLoop passes the BPT flag as third argument, is_precharge: not relied upon)
        c = self.evse_data_context
        if ev_target_voltage is None:   # Dynamic: the EVSE decides, at the EV's present voltage
            v = self.ev_data_context.present_voltage or 0
            ev = self.ev_data_context.session_limits.dc_limits
            i = min(MAX_I, MAX_P // max(v, 1))
            c.present_voltage = int(min(v, MAX_V))
            if self._discharge_wanted():
                c.present_current = -int(min(i, ev.max_discharge_current or 0))
            else:
                c.present_current = int(min(i, ev.max_charge_current or 0))
            return
        c.present_voltage = int(min(ev_target_voltage, MAX_V))
        if ev_target_current is not None:
            c.present_current = int(max(-MAX_I, min(ev_target_current, MAX_I)))

    async def get_ac_charge_loop_params_v20(self, control_mode, selected_service):
        lim = self.evse_data_context.session_limits.ac_limits
        if self._discharge_wanted():
            lim.max_charge_power, lim.max_discharge_power = 0, MAX_AC_P
        else:
            lim.max_charge_power, lim.max_discharge_power = MAX_AC_P, 0
        return await super().get_ac_charge_loop_params_v20(control_mode, selected_service)

    async def stop_charger(self):
        self.evse_data_context.present_voltage = 0
        self.evse_data_context.present_current = 0


async def main():
    config = Config()
    config.load_envs()
    ctl = IdealBptSupply()
    await ctl.set_status(ServiceStatus.STARTING)
    await SECCHandler(exi_codec=ExificientEXICodec(), evse_controller=ctl, config=config).start(config.iface)


asyncio.run(main())
"""

COMMON = ["SessionSetup", "AuthorizationSetup", "Authorization", "ServiceDiscovery", "ServiceDetail",
          "ServiceSelection"]
DC_BPT = COMMON + ["DC_ChargeParameterDiscovery", "ScheduleExchange", "DC_CableCheck", "DC_PreCharge",
                   "PowerDelivery", "DC_ChargeLoop", "PowerDelivery", "DC_WeldingDetection", "SessionStop"]
AC_BPT = COMMON + ["AC_ChargeParameterDiscovery", "ScheduleExchange", "PowerDelivery", "AC_ChargeLoop",
                   "PowerDelivery", "SessionStop"]
# case -> (our protocol name, the SECC's PROTOCOLS, namespace, sequence, charge-loop request, control mode)
CASES = {
    "dc-bpt-scheduled": ("iso20-dc-bpt", "ISO_15118_20_DC", "urn:iso:std:iso:15118:-20:DC", DC_BPT,
                         "DC_ChargeLoopReq", "Scheduled"),
    "dc-bpt-dynamic": ("iso20-dc-bpt", "ISO_15118_20_DC", "urn:iso:std:iso:15118:-20:DC", DC_BPT,
                       "DC_ChargeLoopReq", "Dynamic"),
    "ac-bpt-scheduled": ("iso20-ac-bpt", "ISO_15118_20_AC", "urn:iso:std:iso:15118:-20:AC", AC_BPT,
                         "AC_ChargeLoopReq", "Scheduled"),
    "ac-bpt-dynamic": ("iso20-ac-bpt", "ISO_15118_20_AC", "urn:iso:std:iso:15118:-20:AC", AC_BPT,
                       "AC_ChargeLoopReq", "Dynamic"),
}
LOOPS = 6   # BPT: 3 charge-loop requests charging, then 3 discharging
# The package's SECC answers a charge-loop request in 50-250 ms on this host (pydantic + its EXI codec
# in a JVM per message) against the standard's 500 ms; a machine shared with other test runs can
# exceed that, so the link test widens these two and prints how many answers were late.
# tests_host/test_iso15118_evcc_20_logic.py checks the 500 ms.
MSG_MS = {"DC_ChargeLoopReq": 2000, "AC_ChargeLoopReq": 2000}


def evcc_start(cfg: dict, run_ms: int) -> subprocess.Popen[str]:
    return firmware_run("e_run", cfg, run_ms)


class LogReader:
    """Collects a process's output lines in a thread: select() on a text pipe misses lines already
    in Python's read buffer, a thread blocking in readline() does not."""

    def __init__(self, proc: subprocess.Popen[str]):
        import queue
        import threading
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        import queue
        import time
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} from the SECC: {''.join(self.seen)[-3000:]}")

    def rest(self, timeout: float = 10) -> str:
        self.thread.join(timeout)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)


def secc_start(link, tmp_path, protocol: str) -> tuple[subprocess.Popen[str], LogReader]:
    """The package's SECC (with the ideal supply) offering one -20 protocol, EIM only, TCP."""
    script = tmp_path / "plant_secc_20.py"
    script.write_text(PLANT_SECC)
    env = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/", PYTHONUNBUFFERED="1",
               PROTOCOLS=protocol, AUTH_MODES="EIM", SECC_ENFORCE_TLS="False")
    p = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), str(script)]), cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = LogReader(p)
    log.wait_for("UDP server socket ready", 60)
    return p, log


def stop_quietly(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def logged_docs(log: str, name: str) -> list[dict]:
    """The documents named `name` the SECC decoded or encoded, from its JSON message log."""
    out = []
    for line in log.splitlines():
        m = re.search(r"(?:Decoded message|Message to encode) \(ns=[^)]*\): (\{.*\})\s*$", line)
        if m and f'"{name}"' in m.group(1)[:40]:
            out.append(json.loads(m.group(1))[name])
    return out


def turnarounds(log: str, req: str) -> list[int]:
    """From the SECC's log timestamps: ms from its "Sent <loop>Res" to the next "<loop>Req received"
    (the EV's V2G_EVCC_Sequence_Performance_Time, plus the SECC's own logging and decoding)."""
    import datetime
    out, sent = [], None
    res = req.replace("Req", "Res")
    for line in log.splitlines():
        m = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})", line)
        if not m:
            continue
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if f"Sent {res}" in line:
            sent = t
        elif f"{req} received" in line and sent is not None:
            out.append(round((t - sent).total_seconds() * 1000))
            sent = None
    return out


def rational(r: dict) -> float:
    return r["Value"] * 10 ** r["Exponent"]


@pytest.mark.parametrize("case", list(CASES))
def test_our_evcc_20_against_iso15118_secc_to_clean_session_stop(v2g_link, tmp_path, case):
    need_peer()
    protocol, secc_protocol, namespace, sequence, loop_req, mode = CASES[case]
    link = v2g_link
    secc, reader = secc_start(link, tmp_path, secc_protocol)
    try:
        ev = evcc_start({"iface": link.local, "protocols": [protocol], "msg_ms": MSG_MS,
                         "ev": {"soc": 30, "target_soc": 80, "loops": LOOPS, "loop_ms": 100, "bpt_mode": mode}},
                        60000)
        out = evcc_result(ev, 90)
        if out["result"]["end"] == "SessionStop":  # we end first: let the SECC log its last response
            reader.wait_for("Sent SessionStopRes", 10)
    finally:
        stop_quietly(secc)
    log = reader.rest()
    r = out["result"]
    assert out["errors"] == [], out
    assert r["end"] == "SessionStop", (r["detail"], list(zip(r["responses"], r["times_ms"])), log[-3000:])
    assert r["protocol"] == namespace
    assert r["sdp"]["addr"] == link.peer_ll() and r["sdp"]["security"] == 0x10
    assert r["requests"][0] == "supportedAppProtocolReq"
    assert collapse(r["requests"][1:]) == sequence, r["requests"]
    assert collapse([n for n, _ in r["responses"][1:]]) == sequence
    assert r["responses"][0] == ["supportedAppProtocolRes", "OK_SuccessfulNegotiation"]
    assert all(c.startswith("OK") for _, c in r["responses"]), r["responses"]
    assert r["requests"].count(loop_req) == LOOPS and r["detail"] == "complete"
    # The SECC's view: the same requests received and answered, in order, as many charge loops.
    got = evcc_sequence(log, "received")
    sent = evcc_sequence(log, "sent")
    assert collapse(got) == ["supportedAppProtocol"] + sequence, log[-4000:]
    assert collapse(sent) == ["supportedAppProtocol"] + sequence, log[-4000:]
    assert got.count(loop_req) == LOOPS
    assert len(got) == len(r["requests"]) and len(sent) == len(r["responses"])
    # The control mode the SECC took from our ServiceSelection, and the discharge it saw.
    sel = logged_docs(log, "ServiceSelectionReq")[0]["SelectedEnergyTransferService"]
    detail = logged_docs(log, "ServiceDetailRes")[0]["ServiceParameterList"]["ParameterSet"]
    params = {p["Name"]: p.get("intValue") for ps in detail if ps["ParameterSetID"] == sel["ParameterSetID"]
              for p in ps["Parameter"]}
    assert sel["ServiceID"] == (6 if "dc" in case else 5) and params["ControlMode"] == {"Scheduled": 1, "Dynamic": 2}[mode]
    reqs = logged_docs(log, loop_req)
    ress = logged_docs(log, loop_req.replace("Req", "Res"))
    assert len(reqs) == len(ress) == LOOPS
    cm = [k for k in reqs[0] if k.endswith("CLReqControlMode")][0]
    assert cm == f"BPT_{mode}_{loop_req[:2]}_CLReqControlMode"
    energy = [rational(q[cm]["EVTargetEnergyRequest"]) for q in reqs]
    assert all(e > 0 for e in energy[:3]) and all(e < 0 for e in energy[3:]), energy
    if loop_req == "DC_ChargeLoopReq":
        flow = [rational(s["EVSEPresentCurrent"]) for s in ress]   # what the SECC delivered, A
        if mode == "Scheduled":
            asked = [rational(q[cm]["EVTargetCurrent"]) for q in reqs]
            assert all(a > 0 for a in asked[:3]) and all(a < 0 for a in asked[3:]), asked
    else:
        flow = [rational(q[cm]["EVPresentActivePower"]) for q in reqs]   # what the EV drew, W
        if mode == "Dynamic":
            flow = flow[1:]   # the EV reports what it draws after following the previous answer
    assert max(flow) > 0 and min(flow) < 0 and flow.index(min(flow)) > flow.index(max(flow)), flow
    assert r["ev"]["loops"] == LOOPS
    times = r["times_ms"]
    loop_times = [t for (n, _), t in zip(r["responses"], times) if n == loop_req.replace("Req", "Res")]
    late = sum(1 for t in loop_times if t > 500)
    turn = turnarounds(log, loop_req)
    assert len(turn) == LOOPS - 1
    print(f"{case}: {r['duration_ms']} ms from SAP request to SessionStopRes, {len(r['requests'])} requests; "
          f"SECC response time max {max(times)} ms (charge loop max {max(loop_times)} ms, "
          f"mean {sum(loop_times) / len(loop_times):.0f} ms, {late} over 500 ms); EV turnaround seen by the SECC "
          f"max {max(turn)} ms (performance time 250 ms); flow {flow}; "
          f"net energy {r['ev']['energy_wh']} Wh")


@pytest.mark.parametrize("case", list(CASES))
def test_our_evcc_20_against_our_secc_20_records_agree(v2g_link, case):
    """The gateway's two -20 halves over the link: our SECC (s_run, firmware/iso15118/secc) on one end,
    our EVCC in the namespace on the other, BPT charge then discharge. Both records list the same
    requests and the same [response, ResponseCode] pairs, all OK, to a clean SessionStop."""
    protocol, _, namespace, sequence, loop_req, mode = CASES[case]
    link = v2g_link
    secc = firmware_run("s_run", {"iface": link.local, "sessions": 1, "accept_ms": 20000}, 30000)
    wait_line(secc, "READY")
    cfg = {"iface": link.peer, "protocols": [protocol],
           "ev": {"soc": 30, "target_soc": 80, "loops": LOOPS, "loop_ms": 20, "bpt_mode": mode}}
    ev = firmware_run("e_run", cfg, 20000, netns=link.netns)
    out = evcc_result(ev, 40)
    s = evcc_result(secc, 40)
    r = out["result"]
    (sr,) = s["sessions"]
    assert r["end"] == sr["end"] == "SessionStop", (r["detail"], r["responses"], sr)
    assert r["protocol"] == sr["protocol"] == namespace
    assert r["requests"] == sr["requests"] and r["responses"] == sr["responses"], (r["requests"], sr["requests"])
    assert collapse(r["requests"][1:]) == sequence, r["requests"]
    assert all(c.startswith("OK") for _, c in r["responses"]), r["responses"]
    assert r["requests"].count(loop_req) == LOOPS and r["detail"] == "complete"
    print(f"{case} EVCC <-> SECC (both ours): {r['duration_ms']} ms, {len(r['requests'])} requests, "
          f"SECC response max {max(r['times_ms'])} ms, net energy {r['ev']['energy_wh']} Wh")
