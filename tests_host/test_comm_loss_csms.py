"""Communication loss (spec §9.2 "local control continues"): the CSMS dies mid-charge and mid-discharge.

The whole gateway in paced virtual time (never ahead of the wall clock, so the CSMS's answers come in
time; a loaded host slows the simulation instead of dropping ticks) against the local CSMS on the `ocpp`
package (tests_host/csms_outage.py drives it): the CSMS sets a TxDefaultProfile, the EV charges (ISO
15118-2 DC) or discharges (ISO 15118-20 DC BPT, Dynamic control, a station controller on the CAN bus
commanding the discharge) under it; at KILL_MS the CSMS is killed (every connection aborted: RST, no close
frame), at BACK_MS it comes back on the same port. The gateway must

- keep charging/discharging under the last limit the CSMS set while the fallback delay runs,
- cap the power at ocpp.json's offline_fallback after AFTER_S without the CSMS (audited, visible in
  STATUS and the summary), lift the cap when the CSMS is back,
- change the plant's power only at the grid code's ramp (UK G99: 1 % of 11 kW per second), measured
  from the energy that flowed at the PCC, and miss no CRITICAL tick,
- queue the TransactionEvents of the outage and deliver all of them once the CSMS is back: seqNo
  without gap or repeat, `offline` true on those of the outage, ChargingRateChanged when the fallback
  began and ended."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import comm_loss as cl
from conftest import ROOT
from ocpp_events import check_sequence

SID = "GW-LOSS"
AFTER_S = 6
FALLBACK_W = 700
KILL_MS = 20000
BACK_MS = 36000
END_S = 52
GRID_CODE = "UK-G99"  # the fastest ramp of the profiles: 110 W/s
DM = {"AuthCtrlr.AutochargeEnabled": "true", "OCPPCommCtrlr.RetryBackOffWaitMinimum": "1",
      "OCPPCommCtrlr.RetryBackOffRandomRange": "0", "OCPPCommCtrlr.RetryBackOffRepeatTimes": "1",
      "OCPPCommCtrlr.OfflineThreshold": "1", "SampledDataCtrlr.TxUpdatedInterval": "2",
      "OCPPCommCtrlr.MessageTimeout": "5"}
CASES = {
    # the EV (-2 DC) asks far more than the profile's 1500 W: the limit decides the power
    "charge": {"profile_w": 1500, "ev_arg": "iso2-dc", "ev": None, "station": None},
    # a V2G period (-2500 W: no import, at most 2500 W export) and the station's -1500 W command
    "discharge": {"profile_w": -2500, "ev_arg": "iso20-dc-bpt", "ev": {"bpt_mode": "Dynamic"},
                  "station": {"steps": [{"at": 2.0, "p": -1500, "q": 0, "mode": 1, "timeout_ms": 1000,
                                         "period_ms": 100}]}},
}


def _outage(tmp_path, case: str) -> dict:
    c = CASES[case]
    spec = {"sid": SID, "ocpp": {"offline_fallback": {"after_s": AFTER_S, "limit_w": FALLBACK_W}}, "dm": DM,
            "grid": {"grid_code": GRID_CODE}, "ev": c["ev"], "station": c["station"], "profile_w": c["profile_w"],
            "kill_ms": KILL_MS, "back_ms": BACK_MS,
            "argv": ["--seconds", str(END_S), "--status-ms", "250", "--ev", c["ev_arg"], "--ev-loops", "100000"]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    argv = [sys.executable, str(ROOT / "tests_host" / "csms_outage.py"), str(tmp_path / "spec.json"),
            str(tmp_path / "out")]
    env = dict(os.environ)
    if c["station"] is None and os.geteuid() == 0 and shutil.which("unshare"):
        # a network namespace of its own: the simulated EV and SECC (SDP on the loopback) never meet
        # another simulation on this host (the CAN bus's IPv6 multicast does not work in one: the
        # discharge case keeps to the host's, on a port of its own)
        argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
    env["JEZGRO_CAN_PORT"] = str(40000 + (os.getpid() * 7 + 3) % 20000)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return _load(tmp_path / "out")


def _load(out) -> dict:
    d = json.loads((out / "outage.json").read_text())
    text = (out / "sim.out").read_text()
    assert d["rc"] == 0, text[-3000:]
    d["status"] = cl.lines(text, "STATUS")
    d["result"] = cl.lines(text, "RESULT")[0]
    d["audit"] = [json.loads(x.rsplit(" #", 1)[0]) for x in (out / "fs" / "audit.log").read_text().splitlines()]
    return d


@pytest.mark.parametrize("case", sorted(CASES))
def test_csms_killed_local_control_fallback_and_every_event_delivered(tmp_path, case):
    c = CASES[case]
    d = _outage(tmp_path, case)
    assert d["profile"]["status"] == "Accepted"
    status, s = [x for x in d["status"] if x.get("ocpp")], d["result"]
    sign = 1 if c["profile_w"] > 0 else -1
    # what flows under the CSMS's last limit: the profile's 1500 W, the station's 1500 W command (the EV's
    # current steps make either a little more or less)
    last_w = 1500

    def p_set(x):
        return x["power"]["droop_p_w"] * sign  # the scheduled power, as a magnitude in the case's direction
    gone = next(x["t_ms"] for x in status if x["t_ms"] > d["kill_t_ms"] and not x["ocpp"]["connected"])
    fb_on = next(x["t_ms"] for x in status if x["ocpp"]["fallback"])
    fb_off = next(x["t_ms"] for x in status if x["t_ms"] > fb_on and not x["ocpp"]["fallback"])
    back = next(x["t_ms"] for x in status if x["t_ms"] > d["back_t_ms"] and x["ocpp"]["connected"])
    # the link loss is seen at once (RST); the fallback comes AFTER_S later, and goes with the CSMS's return
    assert gone - d["kill_t_ms"] <= 1000
    assert AFTER_S * 1000 <= fb_on - d["kill_t_ms"] <= AFTER_S * 1000 + 1500, (d["kill_t_ms"], fb_on)
    assert abs(fb_off - back) <= 500
    want = "CHARGING" if sign > 0 else "DISCHARGING"
    before = [x for x in status if d["kill_t_ms"] - 4000 <= x["t_ms"] < d["kill_t_ms"]]
    holding = [x for x in status if gone <= x["t_ms"] < fb_on]
    fallback = [x for x in status if fb_on <= x["t_ms"] < fb_off]
    after = [x for x in status if fb_off <= x["t_ms"]]
    key = "import_w" if sign > 0 else "export_w"
    for part, lim in ((before, abs(c["profile_w"])), (holding, abs(c["profile_w"])), (fallback, FALLBACK_W),
                      (after, abs(c["profile_w"]))):
        assert part and all(x["gateway"] == want and x["limits"][key] == lim and x["limits"][f"{key[:6]}_src"]
                            == "ocpp" for x in part), part[:3]
    # local control continues: the last limit holds while the CSMS is away, then the fallback
    for part, lo, hi in ((before, 0.8 * last_w, last_w * 1.15), (holding, 0.8 * last_w, last_w * 1.15),
                         (fallback, 0.8 * FALLBACK_W, FALLBACK_W)):
        assert all(lo <= p_set(x) <= hi for x in part), [p_set(x) for x in part]
    # the plant follows at the grid code's ramp, never faster, and gets there
    ramp = cl.ramp_w_s(GRID_CODE)
    trace = [(t, p * sign) for t, p in cl.plant_power(status)]
    p_hold = cl.at(trace, fb_on)
    p_fb = p_set(fallback[-1])
    fastest = cl.fastest_change(trace, 0, status[-1]["t_ms"])
    assert fastest <= ramp * 1.1 + 20, (fastest, ramp)
    t_fb = cl.settled(trace, fb_on, fb_off, p_fb, 40)
    assert t_fb is not None and t_fb < fb_off, trace
    assert (t_fb - fb_on) / 1000 >= 0.8 * (p_hold - p_fb) / ramp, (t_fb - fb_on, p_hold, p_fb)
    assert cl.settled(trace, fb_off, status[-1]["t_ms"], p_set(status[-1]), 40) is not None
    assert s["critical"]["ticks_missed"] == 0 and all(x["missed"] == 0 for x in status)
    # audited, and in the summary
    fb_audit = [r for r in d["audit"] if r["ev"] == "ocpp_fallback"]
    assert [r["text"].split(" ")[1] for r in fb_audit] == ["away", "back"], fb_audit
    ocpp = next(x for x in s["services"] if x["name"] == "OCPP_CLIENT")["status"]
    assert ocpp["offline_fallback"]["engaged"] == 1 and not ocpp["offline_fallback"]["active"]
    # every TransactionEvent delivered: in order, no gap, at most the one copy the abort may cause
    calls = [r["msg"][3] for r in d["records"] if r["dir"] == "rx" and r.get("msg") and r["msg"][0] == 2
             and r["msg"][2] == "TransactionEvent"]
    tx_id = calls[0]["transactionInfo"]["transactionId"]
    events = check_sequence(calls, tx_id)
    # nothing lost: delivered + still queued (at most the one the run's end caught) = every seqNo numbered
    assert ocpp["queue"] <= 1 and ocpp["stats"]["queue_dropped"] == 0
    assert len(events) + ocpp["queue"] == ocpp["transactions"]["1"][1]
    offline = [e for e in events if e.get("offline")]
    rate = [e for e in events if e["triggerReason"] == "ChargingRateChanged"]
    assert len(offline) >= (back - gone) // 2000 - 1  # TxUpdatedInterval 2 s
    assert offline == events[offline[0]["seqNo"]:offline[-1]["seqNo"] + 1]  # the outage's, and only those
    assert len(rate) == 2 and rate[0].get("offline") and not rate[1].get("offline")
    print(f"{case}: CSMS killed at {d['kill_t_ms']} ms, link down seen at {gone} ms; fallback at {fb_on} ms "
          f"({(fb_on - gone) / 1000:.2f} s later), plant at {p_fb:.0f} W after {(t_fb - fb_on) / 1000:.1f} s "
          f"(from {p_hold:.0f} W; ramp {ramp:.0f} W/s, fastest change measured {fastest:.0f} W/s); CSMS back "
          f"at {back} ms, fallback lifted at {fb_off} ms; {len(events)} TransactionEvents, {len(offline)} "
          f"offline, all delivered; CRITICAL ticks {s['critical']['ticks_run']}, missed 0")


def test_csms_never_reachable_fallback_from_boot(tmp_path):
    """No CSMS since boot (virtual time: there is no peer to keep pace with): the TxDefaultProfile kept
    from before (ocpp_profiles.json) limits the charge until AFTER_S after boot, then the fallback; the EV is
    authorized by the offline rules; the events wait in the queue, offline, with the ChargingRateChanged."""
    out = tmp_path / "out"
    fs = out / "fs"
    fs.mkdir(parents=True)
    (fs / "ocpp.json").write_text(json.dumps({"url": "ws://127.0.0.1:9/ocpp", "station_id": "GW-OFF",
                                              "security_profile": 0,
                                              "offline_fallback": {"after_s": AFTER_S, "limit_w": FALLBACK_W}}))
    (fs / "ocpp_dm.json").write_text(json.dumps(dict(DM, **{"AuthCtrlr.OfflineTxForUnknownIdEnabled": "true"})))
    profile = {"id": 3, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
               "chargingSchedule": [{"id": 1, "startSchedule": "2024-01-01T00:00:00Z", "chargingRateUnit": "W",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1500}]}]}
    (fs / "ocpp_profiles.json").write_text(json.dumps([{"evse": 0, "p": profile}]))
    (fs / "grid.json").write_text(json.dumps({"grid_code": GRID_CODE}))
    argv = [str(Path(sys.executable).parent / "jezgro"), "sim", "--no-csms", "--out", str(out), "--quiet",
            "--no-plot", "--ev", "iso2-dc", "--ev-loops", "100000", "--seconds", "20", "--status-ms", "250"]
    if os.geteuid() == 0 and shutil.which("unshare"):
        argv = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    status = [x for x in map(json.loads, (out / "timeline.jsonl").read_text().splitlines()) if x.get("ocpp")]
    assert s["mode"] == "virtual"
    fb_on = next(x["t_ms"] for x in status if x["ocpp"]["fallback"])
    assert AFTER_S * 1000 <= fb_on <= AFTER_S * 1000 + 1500, fb_on
    charging = [x for x in status if x["gateway"] == "CHARGING"]
    before = [x for x in charging if x["t_ms"] < fb_on]
    after = [x for x in charging if x["t_ms"] >= fb_on]
    assert before and all(x["limits"]["import_w"] == 1500 and 0 < x["power"]["droop_p_w"] <= 1500 for x in before)
    assert after and all(x["limits"]["import_w"] == x["limits"]["export_w"] == FALLBACK_W
                         and 0 < x["power"]["droop_p_w"] <= FALLBACK_W for x in after), after[:2]
    trace = cl.plant_power(status)
    fastest = cl.fastest_change(trace, 0, status[-1]["t_ms"])
    assert fastest <= cl.ramp_w_s(GRID_CODE) * 1.1 + 20, fastest
    assert s["critical"]["ticks_missed"] == 0
    audit = [json.loads(x.rsplit(" #", 1)[0]) for x in (fs / "audit.log").read_text().splitlines()]
    assert [r["text"] for r in audit if r["ev"] == "ocpp_fallback"] == [
        f"CSMS away {AFTER_S} s: fallback limit {FALLBACK_W} W import, {FALLBACK_W} W export"]
    q = [json.loads(line.split(" ", 1)[1]) for line in (fs / "ocpp_txq.log").read_text().splitlines()]
    events = [pl for a, pl in q if a == "TransactionEvent"]
    assert events and all(e.get("offline") for e in events)
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert [e for e in events if e["triggerReason"] == "ChargingRateChanged"]
    print(f"never reachable: fallback at {fb_on} ms after boot (after_s {AFTER_S}); {len(events)} events queued "
          f"offline; fastest plant change {fastest:.0f} W/s")
