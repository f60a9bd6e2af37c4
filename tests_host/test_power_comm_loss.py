"""Communication loss (spec §9.2 "local control continues"): the link to the EV goes silent mid-charge.

The whole gateway in wall-clock time charges the `iso15118` package's EVCC (-2 DC) over a veth pair; after
a few CurrentDemand loops the test takes the veth down (a cut cable or a dead PLC modem: no FIN, no RST).
The SECC's own end of the session comes only with its sequence timeout; the EV's power request must not
last that long: it lapses at POWER_MGR SETPOINT_VALID_MS after the last request that renewed it, and the
power goes to zero while the session (still waiting for the EV) is visible as live.

The station-controller loss is tested in test_can_handler.py (the command expires within its timeout and
the EV's own plan applies again), EV unplug in test_slac_service.py; docs/fuzzing.md ("communication
loss") maps each loss to its test and what is left."""
from __future__ import annotations

import json
import os
import subprocess
import time

from conftest import MP_DIR
from iso15118_peer import PEER_VENV, need_peer, stop
from jezgro_host import mp

SETPOINT_VALID_MS = mp.firmware_constants("services/iso15118.py", "SETPOINT_VALID_MS")["SETPOINT_VALID_MS"]
SEQUENCE_TIMEOUT_MS = 15000


def test_ev_link_silent_mid_charge_power_lapses_before_the_session_times_out(v2g_link, tmp_path):
    need_peer()
    link = v2g_link
    fs = tmp_path / "fs"
    fs.mkdir()
    (fs / "iso15118.json").write_text(json.dumps({"iface": link.local, "protocols": ["ISO_15118_2"],
                                                  "limits": {"modes": ["DC_extended"]},
                                                  "sequence_timeout_ms": SEQUENCE_TIMEOUT_MS}))
    argv = ["--fs", str(fs), "--wall", "--seconds", "90", "--status-ms", "250", "--ev", "none"]
    gw_out = tmp_path / "gateway.out"  # a file, not a pipe: 4 STATUS lines a second would fill a pipe
    with open(gw_out, "w") as o:
        gw = mp.start(["-c", f"import w_run; w_run.run({argv!r})"], heap="4M", extra=[MP_DIR], cwd=tmp_path,
                      stdout=o, stderr=subprocess.STDOUT)
    cfg = tmp_path / "evcc.json"
    cfg.write_text(json.dumps({"supportedProtocols": ["ISO_15118_2"], "supportedEnergyServices": ["DC"],
                               "energyTransferMode": "DC_extended", "isCertInstallNeeded": False,
                               "useTls": False, "chargeLoopCycle": 500}))
    penv = dict(os.environ, NETWORK_INTERFACE=link.peer, PKI_PATH=str(tmp_path / "pki") + "/",
                PYTHONUNBUFFERED="1")
    time.sleep(1.0)
    log_path = tmp_path / "evcc.log"
    with open(log_path, "w") as out:
        ev = subprocess.Popen(link.in_ns([str(PEER_VENV / "bin" / "python"), "-m", "iso15118.evcc.main", str(cfg)]),
                              cwd=tmp_path, env=penv, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        while log_path.read_text().count("Sent CurrentDemandReq") < 5 and time.monotonic() - t0 < 90:
            time.sleep(0.1)
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
