"""Communication loss (spec §9.2 "local control continues"): the link to the EV goes silent mid-charge.

The whole gateway in wall-clock time charges the `iso15118` package's EVCC (-2 DC) over a veth pair; after
a few CurrentDemand loops the test takes the veth down (a cut cable or a dead PLC modem: no FIN, no RST).
The SECC's own end of the session comes only with its sequence timeout; the EV's power request must not
last that long: it lapses at POWER_MGR SETPOINT_VALID_MS after the last request that renewed it, and the
power goes to zero while the session (still waiting for the EV) is visible as live.

Mid-discharge: the package's EVCC in ISO 15118-20 DC BPT, Dynamic control (offered first: iso15118.json
control_modes), discharging at a station controller's command that goes on after the EV falls silent.
The EV's power lapses within the setpoint validity all the same: a lapsed EV setpoint lets no other
source move power through the EV (power/arbiter.py ev_silent), and the plant ramps to zero at the grid
code's rate. Paced virtual time: no CRITICAL tick missed.

The station-controller loss is tested in test_can_handler.py and test_comm_loss_station.py, the CSMS
loss in test_comm_loss_csms.py, EV unplug in test_slac_service.py; docs/reliability.md ("communication
loss") maps each loss to its test and its measured figures."""
from __future__ import annotations

import json
import os
import subprocess
import time

import comm_loss as cl
from conftest import MP_DIR
from iso15118_peer import PEER_VENV, need_peer, stop
from jezgro_host import mp

SETPOINT_VALID_MS = mp.firmware_constants("services/iso15118.py", "SETPOINT_VALID_MS")["SETPOINT_VALID_MS"]
SEQUENCE_TIMEOUT_MS = 15000


def _gateway_and_evcc(link, tmp_path, argv: list[str], evcc_cfg: dict, loop_req: str,
                      extra_env: dict | None = None):
    """The gateway (w_run, output to gateway.out: 4 STATUS lines a second would fill a pipe), then the
    package's EVCC in the link's namespace, run until it has sent 5 charge-loop requests `loop_req`.
    -> (gateway process, its output path, EVCC process, its log path)"""
    gw_out = tmp_path / "gateway.out"
    with open(gw_out, "w") as o:
        gw = mp.start(["-c", f"import w_run; w_run.run({argv!r})"], heap="4M", extra=[MP_DIR], cwd=tmp_path,
                      stdout=o, stderr=subprocess.STDOUT, extra_env=extra_env)
    cfg = tmp_path / "evcc.json"
    cfg.write_text(json.dumps(evcc_cfg))
    penv = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/",
                PYTHONUNBUFFERED="1")
    time.sleep(1.0)
    log_path = tmp_path / "evcc.log"
    with open(log_path, "w") as out:
        ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                              cwd=tmp_path, env=penv, stdout=out, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    while log_path.read_text().count(f"Sent {loop_req}") < 5 and time.monotonic() - t0 < 90 and gw.poll() is None:
        time.sleep(0.1)
    return gw, gw_out, ev, log_path


def test_ev_link_silent_mid_charge_power_lapses_before_the_session_times_out(v2g_link, tmp_path):
    need_peer()
    link = v2g_link
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "iso15118.json").write_text(json.dumps({"iface": link.local, "protocols": ["ISO_15118_2"],
                                                  "limits": {"modes": ["DC_extended"]},
                                                  "sequence_timeout_ms": SEQUENCE_TIMEOUT_MS}))
    argv = ["--fs", str(fs), "--wall", "--seconds", "90", "--status-ms", "250", "--ev", "none"]
    gw, gw_out, ev, log_path = _gateway_and_evcc(link, tmp_path, argv, {
        "supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["DC"], "energyTransferMode": "DC_extended",
        "isCertInstallNeeded": False, "useTls": False, "chargeLoopCycle": 500}, "CurrentDemandReq")
    try:
        assert log_path.read_text().count("Sent CurrentDemandReq") >= 5, log_path.read_text()[-3000:]
        subprocess.run(["ip", "link", "set", "dev", link.local, "down"], check=True)
        gw.wait(timeout=90)
    finally:
        stop(ev)
        if gw.poll() is None:
            gw.kill()
            gw.wait()
    out_s = gw_out.read_text()
    assert gw.returncode == 0, out_s[-3000:]
    s = json.loads(next(x[7:] for x in out_s.splitlines() if x.startswith("RESULT ")))
    status = [json.loads(x[7:]) for x in out_s.splitlines() if x.startswith("STATUS ")]
    flowing = [x for x in status if x["power"]["droop_p_w"]]
    assert flowing, "the EV never charged"
    last_flow = flowing[-1]["t_ms"]
    # the session: still live (waiting for the EV) after the power lapsed, ended by its sequence timeout
    (h,) = s["iso15118"]["history"]
    assert h["end"] != "SessionStop", h
    after = [x for x in status if x["t_ms"] > last_flow]
    assert after and after[0]["power"]["droop_p_w"] == 0
    lapsed = [x for x in after if x["power"]["iso_state"] not in (None, "Idle") and x["power"]["iso_p_w"]]
    # the SECC still holds the EV's last request while POWER_MGR has let it lapse: power 0, state visible
    assert lapsed, after[:5]
    assert all(x["power"]["droop_p_w"] == 0 for x in after)
    silent_for_ms = lapsed[-1]["t_ms"] - last_flow
    print(f"EV link cut: power to 0 at t={after[0]['t_ms']} ms; session still live {silent_for_ms} ms more, "
          f"ended {h['end']} ({h.get('detail')})")
    assert silent_for_ms > 2 * SETPOINT_VALID_MS  # the lapse came long before the session's own timeout


DISCHARGE_W = 1000
GRID_CODE = "UK-G99"  # the fastest ramp: 110 W/s


def _link_up(link) -> None:
    # the module's veth pair, up again after a test took it down (IPv6 link-local addresses back)
    subprocess.run(["ip", "link", "set", "dev", link.local, "up"], check=True)
    t0 = time.monotonic()
    while not (link.local_ll() and link.peer_ll()) and time.monotonic() - t0 < 10:
        time.sleep(0.1)


def _last_t(path) -> int:
    # the simulated time of the gateway's last STATUS line so far
    t = -1
    for x in path.read_text().splitlines()[-20:]:
        if x.startswith("STATUS "):
            try:
                t = json.loads(x[7:])["t_ms"]
            except ValueError:
                pass
    return t


def test_ev_link_silent_mid_discharge_lapses_although_the_station_still_commands(v2g_link, tmp_path):
    need_peer()
    link = v2g_link
    _link_up(link)
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "iso15118.json").write_text(json.dumps({"iface": link.local, "protocols": ["ISO_15118_20_DC"],
                                                  "control_modes": ["Dynamic", "Scheduled"],
                                                  "sequence_timeout_ms": 20000}))
    (fs / "grid.json").write_text(json.dumps({"grid_code": GRID_CODE}))
    (tmp_path / "station.json").write_text(json.dumps({"steps": [
        {"at": 1.0, "p": -DISCHARGE_W, "q": 0, "mode": 1, "timeout_ms": 1000, "period_ms": 100}]}))
    argv = ["--fs", str(fs), "--paced", "--seconds", "120", "--status-ms", "250", "--ev", "none",
            "--station", str(tmp_path / "station.json")]
    gw, gw_out, ev, log_path = _gateway_and_evcc(link, tmp_path, argv, {
        "supportedProtocols": ["ISO_15118_20_DC"], "supportedEnergyServices": ["DC_BPT"], "isCertInstallNeeded": False,
        "useTls": False, "enforceTls": False, "chargeLoopCycle": 100000}, "DC_ChargeLoopReq",
        {"JEZGRO_CAN_PORT": str(40000 + (os.getpid() * 7 + 6) % 20000)})
    try:
        assert log_path.read_text().count("Sent DC_ChargeLoopReq") >= 5, log_path.read_text()[-3000:]
        time.sleep(DISCHARGE_W / cl.ramp_w_s(GRID_CODE) + 3)  # the plant reaches the discharge
        cut_ms = _last_t(gw_out)
        cut_wall = time.strftime("%Y-%m-%d %H:%M:%S")  # the EVCC's log timestamps: local time, to the second
        (tmp_path / "cut_ms").write_text(str(cut_ms))
        subprocess.run(["ip", "link", "set", "dev", link.local, "down"], check=True)
        gw.wait(timeout=120)
    finally:
        stop(ev)
        if gw.poll() is None:
            gw.kill()
            gw.wait()
        _link_up(link)
    assert gw.returncode == 0, gw_out.read_text()[-3000:]
    _discharge_lapse_checks(gw_out.read_text(), cut_ms)
    log = log_path.read_text()
    gave_up = [x for x in log.splitlines() if "TimeoutError occurred" in x and x.split()[1:3] < cut_wall.split()]
    print(f"EVCC: {log.count('Sent DC_ChargeLoopReq')} DC_ChargeLoopReq; "
          + ("it gave up on its own before the cut (its 0.5 s charge-loop timeout)" if gave_up
             else "silent from the cut"))


def _discharge_lapse_checks(text: str, cut_ms: int) -> None:
    s = cl.lines(text, "RESULT")[0]
    status = cl.lines(text, "STATUS")
    (h,) = s["iso15118"]["history"]
    assert h["end"] != "SessionStop", h
    first = next(i for i, x in enumerate(status) if x["gateway"] == "DISCHARGING")
    # the lapse for good (a host stall of > 3 s between two requests may lapse it for a moment before)
    last = max(i for i, x in enumerate(status) if x["power"]["droop_p_w"])
    lapse = status[last + 1]
    # the EV's last answered request: the cut, or before it when the EVCC gave up on its own (its 0.5 s
    # charge-loop timeout, a loaded host slowing the paced gateway): the EV is silent from then on
    renewed = max(x["power"]["iso_renewed_t_ms"] for x in status[first:] if x["t_ms"] < lapse["t_ms"])
    silent_ms = min(cut_ms, renewed + 1000)
    before = [x for x in status if silent_ms - 3000 <= x["t_ms"] <= silent_ms]

    def at_command(x):
        return (x["gateway"] == "DISCHARGING" and x["limits"]["set_src"] == "iso15118"
                and -1.15 * DISCHARGE_W <= x["power"]["droop_p_w"] <= -0.85 * DISCHARGE_W)
    # discharging at the command up to the silence; a host stall of > 3 s between two requests before it
    # lapses the setpoint for a moment as well (as it should: that EV was silent for 3 s)
    blips = [x["t_ms"] for x in status[first:last] if x["power"]["droop_p_w"] == 0]
    assert at_command(status[last]) and len([x for x in before if at_command(x)]) >= 0.75 * len(before), \
        [(x["gateway"], x["power"]) for x in before]
    # from the lapse to the session's sequence timeout (afterwards no session: no power anyway)
    after = [x for x in status if x["t_ms"] >= lapse["t_ms"] and x["power"]["iso_state"] not in (None, "Idle")]
    # within the validity of the setpoint the last answered request renewed (at most 1 s before the cut)
    # (+ STATUS resolution 250 ms, POWER_MGR's 10 ms poll and the IPC hop)
    assert SETPOINT_VALID_MS <= lapse["t_ms"] - renewed <= SETPOINT_VALID_MS + 300, (renewed, lapse["t_ms"])
    assert lapse["t_ms"] <= cut_ms + SETPOINT_VALID_MS + 300, (cut_ms, lapse["t_ms"])
    # ... while the station still commands the discharge and the session still waits for the EV
    assert len(after) > 4 * 10 and all(x["power"]["droop_p_w"] == 0 and x["limits"]["set_src"] is None for x in after)
    assert s["can"]["cmd"]["expired"] == 0 and s["can"]["command"]["p_w"] == -DISCHARGE_W
    # the plant: discharging at the command, then towards zero at the ramp, never faster
    ramp = cl.ramp_w_s(GRID_CODE)
    trace = cl.plant_power(status)
    p_cut = cl.at(trace, silent_ms)
    fastest = cl.fastest_change(trace, 0, status[-1]["t_ms"])
    assert fastest <= ramp * 1.1 + 20, (fastest, ramp)
    t_zero = cl.settled(trace, lapse["t_ms"], status[-1]["t_ms"], 0, 40)
    assert t_zero is not None and (t_zero - lapse["t_ms"]) / 1000 >= 0.8 * -p_cut / ramp, (t_zero, p_cut)
    assert s["critical"]["ticks_missed"] == 0 and all(x["missed"] == 0 for x in status)
    print(f"EV link cut mid-discharge at t={cut_ms} ms, last renewal {renewed} ms ({p_cut:.0f} W at the plant): "
          f"setpoint 0 at {lapse['t_ms']} ms ({lapse['t_ms'] - renewed} ms after the renewal, validity "
          f"{SETPOINT_VALID_MS} ms) with the "
          f"station still commanding {-DISCHARGE_W} W; plant at 0 W after {(t_zero - lapse['t_ms']) / 1000:.1f} s "
          f"(fastest change {fastest:.0f} W/s, ramp {ramp:.0f} W/s); session ended {h['end']}; ticks missed 0; "
          f"momentary lapses before (EV silent > 3 s on the loaded host): {blips}")
