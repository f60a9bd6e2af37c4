"""The SLAC service (firmware/services/slac.py) in the whole V2G table, virtual time: the simulated EV
plugs in (CP B), matches over a raw HomePlug socket on the loopback device (in-process wire without
root), closes S2 (C), charges over ISO 15118 and unplugs (A). The SECC is reachable only after the
match; unplug mid-session ends the session and takes the power to zero at once; a SLAC crash in the
middle of matching restarts it under a fresh modem key while the CRITICAL ticks run untouched; --pcap
captures every HomePlug frame and tshark decodes them all. Without SLAC (--no-slac) the SECC listens
at once, as before."""
from __future__ import annotations

import json

from slac_pcap import tshark_infos

RUN = """
import simmain, harness
s = simmain.main({args!r})
harness.result(s)
"""


def sim(mp, tmp_path, *args: str) -> tuple[dict, list[dict]]:
    argv = ["--fs", str(tmp_path / "fs"), "--status-ms", "100", "--seconds", "6", "--ev-loops", "20", *args]
    r = mp(RUN.format(args=argv), timeout=240, heap="4M")
    status = [json.loads(x[7:]) for x in r.out.splitlines() if x.startswith("STATUS ")]
    return r.data, status


def _svc(s: dict, name: str) -> dict:
    return {x["name"]: x for x in s["services"]}[name]


def test_plug_in_match_charge_unplug(mp, tmp_path):
    s, status = sim(mp, tmp_path, "--pcap", "run.pcapng")
    sl = s["slac"]
    assert [h[1] for h in sl["cp_history"]] == ["B", "C", "B", "A"]
    assert sl["cp_history"][0][2] == 50 and sl["cp_history"][-1][2] == 1000   # 5 % while plugged, then off
    (mt,) = sl["matches"]
    assert mt["atten_db"] == 20 and mt["ms"] < 1200 and mt["ev_mac"] == s["ev"]["slac"]["candidates"][0][0][:0] + mt["ev_mac"]
    ev = s["ev"]["slac"]
    assert ev["state"] == "matched" and ev["attempts"] == 1 and ev["counts"] == {}
    assert sl["codec_errors"] == {} and sl["link_up"] is False and sl["plug_serial"] == 1
    # the modem holds the key of the next session, never the matched car's
    assert sl["keys_set"] == 2 and sl["plc"]["modem_nid"] == sl["nid"]
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and s["ev"]["result"]["detail"] == "complete"
    assert s["iso15118"]["slac_gated"] is True and s["iso15118"]["cp"] == "A"
    pm = {x["name"]: x for x in s["services"]}["POWER_MGR"]["status"]
    assert pm["cp"] == "A" and pm["state"] == "STANDBY" and pm["p_w"] == 0
    assert s["ipc"]["layout_errors"] == 0 and s["critical"]["ticks_missed"] == 0
    # the capture: every HomePlug frame of the match, decoded by tshark without a mark
    infos = tshark_infos(tmp_path / "fs" / "run.pcapng.slac.pcap")
    names = [i.split()[0] for i in infos]
    assert names[0] == "CM_SET_KEY.REQ" and "CM_SLAC_MATCH.CNF" in names
    assert names.count("CM_MNBC_SOUND.IND") == 10 and names.count("CM_ATTEN_PROFILE.IND") == 10


def test_unplug_mid_session_ends_it_and_power_goes_to_zero_at_once(mp, tmp_path):
    s, status = sim(mp, tmp_path, "--ev-loops", "200", "--ev-unplug-after", "2.5")
    assert len(s["iso15118"]["history"]) == 1, (s["iso15118"], s["ev"], s["slac"])
    (h,) = s["iso15118"]["history"]
    assert h["end"] != "SessionStop" and "unplugged (CP A)" in (h["detail"] or ""), h
    assert s["iso15118"]["ended_by_cp"] == 1
    t_a = [t for t, lv, _ in s["slac"]["cp_history"] if lv == "A"]
    assert t_a, s["slac"]["cp_history"]
    # charging power before the unplug, zero in the first status after it (100 ms apart)
    charging = [x for x in status if (x["power"]["iso_p_w"] or 0) > 0]
    assert charging, "never charged"
    after = [x for x in status if x["t_ms"] > charging[-1]["t_ms"]]
    assert after and after[0]["power"]["iso_p_w"] in (0, None)
    pm = _svc(s, "POWER_MGR")["status"]
    assert pm["state"] == "STANDBY" and pm["p_w"] == 0


def test_slac_crash_mid_matching_restarts_with_a_fresh_key(mp, tmp_path):
    # the EV plugs in at 1 s; matching runs from ~1.05 s to ~1.35 s: the crash lands in the middle
    s, _ = sim(mp, tmp_path, "--inject", "slac:crash@1.2s", "--seconds", "8")
    svc = _svc(s, "SLAC")
    assert svc["restarts"] == 1 and svc["last_fault"] == "exception"
    sl = s["slac"]
    assert len(sl["matches"]) == 1 and sl["plug_serial"] == 1          # the same plug-in, matched
    assert sl["keys_set"] == 3 and sl["plc"]["modem_nid"] == sl["nid"]  # start, restart, unplug
    ev = s["ev"]["slac"]
    assert ev["state"] == "matched" and ev["attempts"] >= 2
    assert s["ev"]["result"]["detail"] == "complete"
    crit = s["critical"]
    assert crit["ticks_missed"] == 0 and crit["ticks_run"] == s["sim_ms"] * 10 + 1


def test_secc_is_silent_to_an_ev_that_did_not_match(mp, tmp_path):
    s, _ = sim(mp, tmp_path, "--ev-no-slac", "--seconds", "4")
    iso = s["iso15118"]
    assert iso["sessions"] == 0 and iso["sdp"]["answered"] == 0 and iso["sdp_no_link"] >= 1
    assert (s["ev"]["result"] or {}).get("end") != "SessionStop"   # (still asking, or given up)


def test_no_slac_listens_at_once_and_the_pilot_still_runs(mp, tmp_path):
    s, _ = sim(mp, tmp_path, "--no-slac")
    (h,) = s["iso15118"]["history"]
    assert h["end"] == "SessionStop" and s["iso15118"]["slac_gated"] is False
    sl = s["slac"]
    assert sl["slac"] is None and sl["matches"] == [] and [h[1] for h in sl["cp_history"]] == ["B", "C", "B", "A"]
