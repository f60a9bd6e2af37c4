"""CAN_HANDLER in the whole simulated gateway, in virtual time: a scripted station controller
(boards/unix/station_sim.py) on the simulated CAN-FD bus commands a discharge of an ISO 15118-20
DC BPT EV in Dynamic mode; meanwhile CAN_HANDLER crashes, bad frames arrive, the bus goes
error-passive and bus-off; then the station stops sending and the command expires (local control)."""
from __future__ import annotations

import json
import os

import pytest

STOP_S = 8.0
TIMEOUT_MS = 500
SCRIPT = {"steps": [
    {"at": 2.0, "p": -5000, "q": 0, "mode": 1, "timeout_ms": TIMEOUT_MS, "period_ms": 100},
    {"at": 4.05, "bad": "crc"}, {"at": 4.15, "bad": "length"}, {"at": 4.25, "bad": "stale"},
    {"at": 4.35, "bad": "jump"}, {"at": 4.55, "bad": "garbage"}, {"at": 4.65, "bad": "mode"},
    {"at": STOP_S, "stop": True}]}
PASSIVE, BUS_OFF, ACTIVE = 3, 4, 1


def _port(k: int) -> int:
    return 40000 + (os.getpid() * 7 + k) % 20000  # parallel runs (other worktrees) on other ports


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from jezgro_host import mp

    tmp = tmp_path_factory.mktemp("can")
    (tmp / "station.json").write_text(json.dumps(SCRIPT))
    argv = ["--fs", str(tmp / "fs"), "--seconds", "12", "--status-ms", "100", "--ev", "iso20-dc-bpt",
            "--ev-loops", "300", "--station", str(tmp / "station.json"), "--inject", "can_handler:crash@3s"]
    code = (f"import c_run\nc_run.run({argv!r}, {{'bpt_mode': 'Dynamic'}}, "
            f"[(5000, {PASSIVE}), (5300, {ACTIVE}), (5500, {BUS_OFF})])\n")
    p = mp.run(["-c", code], heap="4M", fs_root=tmp / "fs", extra=[mp.MP_TESTS], capture_output=True,
               timeout=400, cwd=tmp, extra_env={"JEZGRO_CAN_PORT": str(_port(1))})
    res = next((json.loads(x[7:]) for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert p.returncode == 0 and res is not None, p.stdout[-3000:] + p.stderr[-3000:]
    status = [json.loads(x[7:]) for x in p.stdout.splitlines() if x.startswith("STATUS ")]
    audit = [json.loads(line.rsplit(" #", 1)[0]) for line in (tmp / "fs" / "audit.log").read_text().splitlines()]
    return res, status, audit


def test_every_frame_at_its_rate_over_ten_seconds(run):
    s, _, _ = run
    st, can = s["station"], s["can"]
    assert can["slots_missed"] == 0 and can["slot_late_max_ms"] <= 5, can
    for cid, hz in (("0x600", 10), ("0x610", 10), ("0x620", 10), ("0x630", 1)):
        span = (st["rx_last_ms"][cid] - st["rx_first_ms"][cid]) / 1000
        assert span >= 10
        # one frame per period over the whole span, give or take the bus-off (at most two slots)
        assert span * hz - 2 <= st["rx"][cid] - 1 <= span * hz + 1, (cid, st["rx"][cid], span)
    name = {"0x600": "GW_STATUS", "0x610": "GW_PLL", "0x620": "GW_POWER", "0x630": "GW_V2G"}
    for cid, n in name.items():  # everything the gateway put on the bus reached the station
        # (the last slot may go out as the run ends, before the LOW-priority station reads it)
        assert can["tx"][n] - 1 <= st["rx"][cid] <= can["tx"][n], (cid, st["rx"], can["tx"])


def test_station_command_discharges_the_bpt_ev_and_survives_a_can_handler_crash(run):
    s, status, _ = run
    c = s["critical"]
    assert c["ticks_missed"] == 0 and c["ticks_run"] >= 120000
    svc = {x["name"]: x for x in s["services"]}
    assert svc["CAN_HANDLER"]["restarts"] == 1 and svc["CAN_HANDLER"]["last_fault"] == "exception"
    for name in ("PLL_SYNC", "CURRENT_CTRL", "DROOP_CTRL", "POWER_MGR", "ISO15118"):
        assert svc[name]["restarts"] == 0, name
    # every tick instant ran both CRITICAL functions (the first instants precede their registration at boot)
    for name in ("PLL_SYNC", "CURRENT_CTRL"):
        assert c["ticks_run"] - 2 <= svc[name]["tick_runs"] <= c["ticks_run"], name
    during = [(x["t_ms"], x["gateway"], x["power"]["droop_p_w"]) for x in status if 2300 <= x["t_ms"] < STOP_S * 1000]
    # the crash at 3 s changes nothing on the power path: DISCHARGING at the command throughout
    assert during and all(g == "DISCHARGING" and -5500 <= p <= -4500 for _, g, p in during), during
    # the station heard of the crash on GW_FAULT (EV_CRASH = 3, service 8) once CAN_HANDLER was back
    assert [f for f in s["station"]["faults"] if f[1:3] == [3, 8]]


def test_bad_frames_are_counted_and_ignored(run):
    s, _, _ = run
    can = s["can"]
    cmd = can["cmd"]
    assert (cmd["bad_crc"], cmd["bad_length"], cmd["stale"], cmd["bad_value"], can["rx_malformed"]) == (1, 1, 1, 1, 1)
    # a jump resynchronises: the jumped frame and the next in the old sequence are dropped
    assert cmd["bad_counter"] == 2
    assert cmd["accepted"] >= (STOP_S - 2.0) * 10 - 8


def test_bus_off_and_error_passive_are_counted_and_recovered(run):
    s, _, audit = run
    can = s["can"]
    assert can["error_passive"] == 1 and can["bus_off"] == 1 and can["restarts"] == 1 and can["bus_state"] == ACTIVE
    assert 1 <= can["tx_fail"] <= 4  # the frames of the one slot that fell into the bus-off
    assert [r for r in audit if r["ev"] == "can_bus_off" and r["svc"] == "CAN_HANDLER"]
    assert [f for f in s["station"]["faults"] if f[1] == 11]  # told on GW_FAULT once the bus is back


def test_stopped_station_expires_within_its_timeout_and_local_control_continues(run):
    s, status, audit = run
    can, st = s["can"], s["station"]
    assert can["cmd"]["expired"] == 1 and can["cmd_expired"] is True and can["command"] is None
    last_cmd_ms = st["stop_ms"] - 100  # the last frame went out one period before the stop step at the latest
    assert 0 < can["last_expiry_ms"] - st["stop_ms"] <= TIMEOUT_MS
    assert can["last_expiry_ms"] - last_cmd_ms <= TIMEOUT_MS + 100
    # visible on CAN: GW_STATUS CmdExpired in the next 10 Hz slot, GW_FAULT EV_STATION_TIMEOUT (10)
    assert st["expired_seen_ms"] - can["last_expiry_ms"] <= 100
    assert [f for f in st["faults"] if f[1] == 10 and f[2] == 8]
    assert [r for r in audit if r["ev"] == "station_timeout" and r["svc"] == "CAN_HANDLER"]
    after = [(x["t_ms"], x["gateway"], x["power"]["droop_p_w"]) for x in status if x["t_ms"] >= STOP_S * 1000 + 800]
    # the EV's own plan again (charging): local control continues
    assert after and all(g == "CHARGING" and p > 0 for _, g, p in after), after
    assert s["services"][4]["status"]["source"] == "iso15118"


def test_gw_v2g_reports_the_session_and_its_energy(run):
    s, _, _ = run
    enabled, level, protocol, soc, energy, serial = s["station"]["v2g"]
    iso = s["iso15118"]
    assert enabled == 1 and level == 2 and serial == 1  # the first session, authorised
    # the EV's energy this session as ISO15118 integrates it (charge minus discharge), the frame at most
    # 1 s behind the end of the run (< 22 kW: under 7 Wh)
    assert energy != 0 and abs(energy - s["can"]["ev_energy_wh"]) <= 7, (energy, s["can"]["ev_energy_wh"])
    assert iso["live"]["serial"] == serial
    assert soc == (s["can"]["ev_soc"] if 0 <= s["can"]["ev_soc"] <= 100 else 255)
