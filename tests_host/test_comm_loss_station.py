"""Communication loss (spec §9.2): the station controller goes silent mid-charge.

An independent station controller (python-can's udp_multicast bus, cantools with the DBC: no firmware
code, jezgro_host.can_cmd) commands an ISO 15118-20 DC BPT EV in Dynamic control to charge at CMD_W,
then stops sending, as a crashed controller or a cut CAN cable would. The whole gateway runs in paced
virtual time (never ahead of the wall clock the peer lives in). OCPP_CLIENT has no CSMS (an unreachable
URL) but the TxDefaultProfile it kept from before (ocpp_profiles.json, PROFILE_W) is still the back
office's limit. The command must expire TIMEOUT_MS after its last frame (CAN_HANDLER: GW_STATUS
CmdExpired, GW_FAULT, audit record), the EV's own plan then applies within the limits in force (the
profile's import cap, the EV told so: it asks for no more), and the plant's power moves from the
command to the limit at the grid code's ramp, with no CRITICAL tick missed. The loss mid-discharge is
tested in test_can_handler.py (scripted station) and test_can_station.py (python-can)."""
from __future__ import annotations

import json
import os
import subprocess

import comm_loss as cl
from jezgro_host import candbc, mp
from jezgro_host.can_cmd import StationController, open_bus
from waiting import poll

TIMEOUT_MS = 1000
CMD_W = 1000
PROFILE_W = 2000
GRID_CODE = "UK-G99"
RUN_S = 32


def _fs(fs):
    fs.mkdir(parents=True)
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "GW-CAN",
                                              "security_profile": 0}))
    # offline from the start: the EV is authorized by the offline rules (Autocharge, unknown ids accepted)
    (fs / "ocpp_dm.json").write_text(json.dumps({"AuthCtrlr.AutochargeEnabled": "true",
                                                 "AuthCtrlr.OfflineTxForUnknownIdEnabled": "true",
                                                 "OCPPCommCtrlr.OfflineThreshold": "1"}))
    profile = {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": [{"id": 1, "startSchedule": "2024-01-01T00:00:00Z", "chargingRateUnit": "W",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": PROFILE_W}]}]}
    (fs / "ocpp_profiles.json").write_text(json.dumps([{"evse": 0, "p": profile}]))
    (fs / "grid.json").write_text(json.dumps({"grid_code": GRID_CODE}))


def test_station_silent_mid_charge_expires_and_the_limits_in_force_apply(tmp_path):
    port = 40000 + (os.getpid() * 7 + 5) % 20000
    fs = tmp_path / "fs"
    _fs(fs)
    st = StationController(open_bus(port=port), candbc.load(), frame_clocked=True).start()
    argv = ["--fs", str(fs), "--seconds", str(RUN_S), "--status-ms", "250", "--paced",
            "--ev", "iso20-dc-bpt", "--ev-loops", "100000", "--ev-at", "0.5"]
    out_path = tmp_path / "sim.out"  # a file, not a pipe: 4 STATUS lines a second
    with open(out_path, "w") as o:
        gw = mp.start(["-c", f"import c_run\nc_run.run({argv!r}, {{'bpt_mode': 'Dynamic'}})\n"], heap="4M",
                      fs_root=fs, extra=[mp.MP_TESTS], stdout=o, stderr=subprocess.STDOUT, cwd=tmp_path,
                      extra_env={"JEZGRO_CAN_PORT": str(port)})
        n_status = lambda: len(st.rx.get(0x600, []))  # noqa: E731 — gateway time, in 100 ms
        state = lambda: st.last.get("GW_STATUS", {}).get("GwState")  # noqa: E731
        try:
            assert poll(lambda: state() == 4, 60), st.last  # CHARGING
            st.command(CMD_W, 0, 1, TIMEOUT_MS)
            t0 = n_status()
            assert poll(lambda: n_status() >= t0 + 130, 60)  # 13 s: the plant reaches the command
            st.stop_sending()
            assert poll(lambda: st.last["GW_STATUS"]["CmdExpired"] == 1, 30), st.last
            gw.wait(timeout=300)
        finally:
            if gw.poll() is None:
                gw.kill()
                gw.wait()
            st.close()
    text = out_path.read_text()
    assert gw.returncode == 0, text[-3000:]
    s = cl.lines(text, "RESULT")[0]
    status = cl.lines(text, "STATUS")
    can = s["can"]
    audit = [json.loads(x.rsplit(" #", 1)[0]) for x in (fs / "audit.log").read_text().splitlines()]
    # expired exactly its timeout after the last accepted command, told on CAN and audited
    assert can["cmd"]["expired"] == 1 and TIMEOUT_MS <= can["last_expiry_ms"] - can["last_cmd_ms"] <= TIMEOUT_MS + 5
    assert [d for _, n, d in st.decoded if n == "GW_FAULT" and d["FaultCode"] == 10 and d["Service"] == 8]
    assert [r for r in audit if r["ev"] == "station_timeout" and r["svc"] == "CAN_HANDLER"]
    exp = can["last_expiry_ms"]
    cmd = [x for x in status if can["last_cmd_ms"] - 6000 <= x["t_ms"] <= can["last_cmd_ms"]]
    after = [x for x in status if x["t_ms"] >= exp + 500]
    # under the command: the EV charges at it (its current steps: within 15 %), the profile's cap in force
    for part in (cmd, after):
        assert part and all(x["gateway"] == "CHARGING" and x["limits"]["import_w"] == PROFILE_W and
                            x["limits"]["import_src"] == "ocpp" and x["power"]["iso_p_w"] == x["power"]["droop_p_w"]
                            for x in part), part[:2]
    assert all(0.85 * CMD_W <= x["power"]["droop_p_w"] <= 1.15 * CMD_W for x in cmd), [x["power"] for x in cmd]
    # afterwards the EV's own plan, as much as the limits allow: the profile's cap, and no more
    assert all(0.85 * PROFILE_W <= x["power"]["droop_p_w"] <= PROFILE_W for x in after), [x["power"] for x in after]
    assert next(x for x in s["services"] if x["name"] == "POWER_MGR")["status"]["import_cap_w"] == PROFILE_W
    # the plant: at the command before, at the ramp towards the cap after, never faster
    ramp = cl.ramp_w_s(GRID_CODE)
    trace = cl.plant_power(status)
    p_cmd = cl.at(trace, exp)
    assert abs(p_cmd - cmd[-1]["power"]["droop_p_w"]) <= 40, (p_cmd, cmd[-1])
    fastest = cl.fastest_change(trace, 0, status[-1]["t_ms"])
    assert fastest <= ramp * 1.1 + 20, (fastest, ramp)
    p_end = after[-1]["power"]["droop_p_w"]
    t_set = cl.settled(trace, exp, status[-1]["t_ms"], p_end, 40)
    assert t_set is not None and (t_set - exp) / 1000 >= 0.8 * (p_end - p_cmd) / ramp, (t_set, exp, p_cmd, p_end)
    assert s["critical"]["ticks_missed"] == 0 and all(x["missed"] == 0 for x in status)
    print(f"station silent: last command at {can['last_cmd_ms']} ms, expired at {exp} ms "
          f"({exp - can['last_cmd_ms']} ms, timeout {TIMEOUT_MS} ms); plant {p_cmd:.0f} W -> {p_end} W (the "
          f"profile's cap {PROFILE_W} W) in {(t_set - exp) / 1000:.1f} s, fastest change {fastest:.0f} W/s "
          f"(ramp {ramp:.0f} W/s); CRITICAL ticks {s['critical']['ticks_run']}, missed 0")
