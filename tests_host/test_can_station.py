"""An independent station controller — python-can's udp_multicast bus and cantools with the DBC, no
firmware code — against the whole simulated gateway in paced virtual time (never ahead of the wall
clock; the 10 kHz CRITICAL domain keeps every tick even on a loaded 2-core host, where wall-clock mode
drops them). The station is clocked by the gateway's own GW_STATUS frames (one command per 100 ms of
gateway time). It receives every frame at
its rate over more than 10 s, commands an ISO 15118-20 DC BPT EV (Dynamic) to discharge, sends
malformed, wrong-length, wrong-counter and stale frames, then stops and sees the command expire."""
from __future__ import annotations

import json
import os
import subprocess
import time

from jezgro_host import candbc, mp
from jezgro_host.can_cmd import StationController, open_bus

TIMEOUT_MS = 400
RUN_S = 15


def _wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return False


def test_python_can_station_drives_the_gateway(tmp_path):
    port = 40000 + (os.getpid() * 7 + 3) % 20000
    db = candbc.load()
    st = StationController(open_bus(port=port), db, frame_clocked=True).start()
    argv = ["--fs", str(tmp_path / "fs"), "--seconds", str(RUN_S), "--status-ms", "1000", "--paced",
            "--ev", "iso20-dc-bpt", "--ev-loops", "400", "--ev-at", "0.5"]
    gw = mp.start(["-c", f"import c_run\nc_run.run({argv!r}, {{'bpt_mode': 'Dynamic'}})\n"], heap="4M",
                  fs_root=tmp_path / "fs", extra=[mp.MP_TESTS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  cwd=tmp_path, extra_env={"JEZGRO_CAN_PORT": str(port)})
    n_status = lambda: len(st.rx.get(0x600, []))  # noqa: E731 — gateway time, in 100 ms
    state = lambda: st.last.get("GW_STATUS", {}).get("GwState")  # noqa: E731
    try:
        assert _wait(lambda: state() == 4, 60), st.last  # CHARGING: the EV's own plan
        t = n_status()  # DC cable check and pre-charge first: the charge loop follows within 1.5 s
        assert _wait(lambda: n_status() >= t + 15, 30)
        st.command(-5000, 0, 1, TIMEOUT_MS)
        t0 = n_status()
        assert _wait(lambda: state() == 5, 30), st.last  # DISCHARGING at the station's command
        assert n_status() - t0 <= 5  # within half a second of gateway time
        assert _wait(lambda: n_status() >= t0 + 20, 30)
        discharging = st.last["GW_STATUS"]["GwState"]
        # bad frames between good ones: wrong length (classic 8 bytes), CRC, stale counter, counter jump
        good = candbc.station_cmd(db, -5000, 0, 1, st.counter, TIMEOUT_MS)
        st.send_raw(good[:8], fd=False)
        st.send_raw(good[:15] + bytes([good[15] ^ 0xFF]))
        st.send_raw(good)  # the counter of a frame already sent: stale
        st.send_raw(candbc.station_cmd(db, -5000, 0, 1, st.counter + 7, TIMEOUT_MS))  # jump: resynchronises
        assert _wait(lambda: n_status() >= t0 + 40, 30)
        st.stop_sending()
        t_stop = n_status()
        assert _wait(lambda: st.last["GW_STATUS"]["CmdExpired"] == 1, 30), st.last
        expired_after = n_status() - t_stop
        assert _wait(lambda: state() == 4, 30)  # local control: the EV's own plan again
        out, err = gw.communicate(timeout=300)
    finally:
        if gw.poll() is None:
            gw.kill()
        st.close()
    res = next((json.loads(x[7:]) for x in out.splitlines() if x.startswith("RESULT ")), None)
    assert res is not None, out[-3000:] + err[-3000:]
    can = res["can"]
    assert discharging == 5
    # expiry: exactly the timeout after the last accepted command; seen on GW_STATUS in the next slot
    assert can["cmd"]["expired"] == 1 and can["last_expiry_ms"] - can["last_cmd_ms"] <= TIMEOUT_MS + 5
    assert can["last_expiry_ms"] - can["last_cmd_ms"] >= TIMEOUT_MS
    assert expired_after <= TIMEOUT_MS // 100 + 2, expired_after
    assert [d for _, n, d in st.decoded if n == "GW_FAULT" and d["FaultCode"] == 10 and d["Service"] == 8]
    cmd = can["cmd"]
    assert (cmd["bad_length"], cmd["bad_crc"], cmd["stale"]) == (1, 1, 1) and cmd["bad_counter"] >= 1
    assert cmd["accepted"] >= 35 and can["setpoints"] == cmd["accepted"]
    # every frame at its rate over the whole run (> 10 s of gateway time), each decoded with the DBC
    assert not st.errors
    sim_s = res["sim_ms"] / 1000
    assert sim_s >= 10
    for fid, hz, name in ((0x600, 10, "GW_STATUS"), (0x610, 10, "GW_PLL"), (0x620, 10, "GW_POWER"),
                          (0x630, 1, "GW_V2G")):
        n = len(st.rx[fid])
        assert can["tx"][name] - 1 <= n <= can["tx"][name], (name, n, can["tx"])  # none lost on the way
        assert abs(n - sim_s * hz) <= 1, (name, n, sim_s)
    assert can["slots_missed"] == 0 and can["slot_late_max_ms"] <= 5, can
    # ... and in order: one GW_PLL and one GW_POWER per GW_STATUS, one GW_V2G per ten
    names = [n for _, n, _ in st.decoded if n != "GW_FAULT"]
    for i in range(0, len(names) - 40, 31):
        window = names[i:i + 31 * 10]
        assert abs(window.count("GW_STATUS") - window.count("GW_PLL")) <= 1
    # the discharge reached the EV (its session's power) and DROOP_CTRL exports it
    status = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("STATUS ")]
    dis = [x["power"] for x in status if x["gateway"] == "DISCHARGING"]
    assert dis and all(-5500 <= p["iso_p_w"] == p["droop_p_w"] <= -4500 for p in dis), dis
