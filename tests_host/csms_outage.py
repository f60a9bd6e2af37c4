"""The CSMS outage of test_comm_loss_csms.py, run as one process (CPython) so that the test can put it and
the gateway simulation it starts into a network namespace of their own (`unshare --net`): the local CSMS
(`ocpp` package, jezgro_host.csms), the whole gateway in paced virtual time (MicroPython, simmain through
tests_host/mp/i_run.py) connected to it, a TxDefaultProfile sent once the station is registered, the CSMS
killed (connections aborted: RST, no close frame) when the simulation reaches kill_ms and started again
on the same port at back_ms.

    python csms_outage.py SPEC.json OUT_DIR

SPEC: {"sid", "ocpp": {extra ocpp.json fields}, "dm": {...}, "grid": {...}, "argv": [simmain options],
"ev": {EvModel fields} or null, "profile_w": W, "kill_ms": ms, "back_ms": ms, "station": script or null}.
Writes OUT_DIR/sim.out (the simulation's output), OUT_DIR/csms.jsonl (every OCPP message, both CSMS
lives) and OUT_DIR/outage.json (what the driver did and when, the simulation's exit code)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from jezgro_host import mp
from jezgro_host.csms import Csms

PROFILE_START = "2024-01-01T00:00:00Z"  # the profile applies from long before the run: no clock question


def _t_ms(out: Path) -> int:
    """The simulated time of the last STATUS line the simulation wrote (-1: none yet)."""
    t = -1
    try:
        text = out.read_text()
    except OSError:
        return t
    for line in text.splitlines()[-40:]:
        if line.startswith("STATUS "):
            try:
                t = json.loads(line[7:])["t_ms"]
            except ValueError:  # the line being written
                pass
    return t


def _wait_sim(proc: subprocess.Popen, out: Path, t_ms: int, timeout: float) -> int:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end and proc.poll() is None:
        t = _t_ms(out)
        if t >= t_ms:
            return t
        time.sleep(0.05)
    raise SystemExit(f"the simulation did not reach {t_ms} ms (at {_t_ms(out)} ms, exit {proc.poll()})")


def _send_registered(csms: Csms, sid: str, action: str, payload: dict):
    """csms.send once the station has taken the BootNotification's answer (before, it refuses with
    SecurityError: not registered)."""
    from ocpp.exceptions import SecurityError
    t_end = time.monotonic() + 60
    while True:
        try:
            return csms.send(sid, action, payload)
        except SecurityError:
            if time.monotonic() > t_end:
                raise
            time.sleep(0.3)


def main(spec_path: str, out_dir: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    out = Path(out_dir)
    fs = out / "fs"
    fs.mkdir(parents=True, exist_ok=True)
    log = out / "csms.jsonl"
    csms = Csms(log_path=log, heartbeat_s=300).start()
    port = csms.port
    sid = spec["sid"]
    (fs / "ocpp.json").write_text(json.dumps(dict({"url": csms.url, "station_id": sid, "security_profile": 0},
                                                  **spec["ocpp"])))
    (fs / "ocpp_dm.json").write_text(json.dumps(spec["dm"]))
    (fs / "grid.json").write_text(json.dumps(spec["grid"]))
    argv = ["--fs", str(fs), "--paced", *spec["argv"]]
    if spec.get("station"):
        (out / "station.json").write_text(json.dumps(spec["station"]))
        argv += ["--station", str(out / "station.json")]
    code = f"import i_run\ni_run.run({argv!r}, 0, 'none', None, {spec.get('ev')!r})\n"
    sim_out = out / "sim.out"
    done: dict = {"port": port}
    records: list = []
    with open(sim_out, "w") as o:
        proc = mp.start(["-c", code], heap="4M", fs_root=fs, extra=[mp.MP_TESTS], cwd=out, stdout=o,
                        stderr=subprocess.STDOUT)
        try:
            csms.wait_station(sid, 60)
            profile = {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                       "chargingProfileKind": "Absolute",
                       "chargingSchedule": [{"id": 1, "startSchedule": PROFILE_START, "chargingRateUnit": "W",
                                             "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                         "limit": spec["profile_w"]}]}]}
            res = _send_registered(csms, sid, "SetChargingProfile", {"evseId": 0, "chargingProfile": profile})
            done["profile"] = {"status": res.status, "t_ms": _t_ms(sim_out)}
            done["kill_t_ms"] = _wait_sim(proc, sim_out, spec["kill_ms"], 240)
            csms.kill()
            records += csms.records
            done["back_t_ms"] = _wait_sim(proc, sim_out, spec["back_ms"], 240)
            csms = Csms(port=port, log_path=log, heartbeat_s=300).start()
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            csms.stop()
    records += csms.records
    done["rc"] = proc.returncode
    done["records"] = records
    (out / "outage.json").write_text(json.dumps(done))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
