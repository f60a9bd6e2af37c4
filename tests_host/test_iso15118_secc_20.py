"""Our ISO 15118-20 SECC (firmware/iso15118/secc/iso20*.py) against the `iso15118` package's EVCC over a
real IPv6 link (veth pair, EVCC in its own network namespace, TCP: the package runs -20 without TLS when
its config says useTls=false, enforceTls=false): DC_BPT and AC_BPT, each in Scheduled and Dynamic control
mode, from SDP to a clean SessionStop, with the message sequence checked on both sides.

The EVCC takes the first parameter set of ServiceDetailRes, so the control mode is chosen by the order
of Evse20.control_modes. Discharge: in Scheduled mode our schedule ends in a discharging entry and the
EVCC answers with BPT_ChannelSelection=Discharge (it never asks for a negative current or power in the
charge loop itself); in Dynamic mode the EVSE decides the power, and our stand-in POWER_MGR turns the
setpoint negative after a few loops, so the charge loop really reports negative current/power."""
from __future__ import annotations


import pytest

from iso15118_peer import check_clean_session, need_peer, package_evcc_session, secc_start, wait_line

NS_DC = "urn:iso:std:iso:15118:-20:DC"
NS_AC = "urn:iso:std:iso:15118:-20:AC"
HEAD = ["SessionSetup", "AuthorizationSetup", "Authorization", "ServiceDiscovery", "ServiceDetail", "ServiceSelection"]
DC_SEQUENCE = HEAD + ["DC_ChargeParameterDiscovery", "ScheduleExchange", "DC_CableCheck", "DC_PreCharge",
                      "PowerDelivery", "DC_ChargeLoop", "PowerDelivery", "DC_WeldingDetection", "SessionStop"]
AC_SEQUENCE = HEAD + ["AC_ChargeParameterDiscovery", "ScheduleExchange", "PowerDelivery", "AC_ChargeLoop",
                      "PowerDelivery", "SessionStop"]
CASES = {  # id: (EVCC protocol, energy service, control mode, namespace, sequence, loop request)
    "dc_bpt_scheduled": ("ISO_15118_20_DC", "DC_BPT", "Scheduled", NS_DC, DC_SEQUENCE, "DC_ChargeLoopReq"),
    "dc_bpt_dynamic": ("ISO_15118_20_DC", "DC_BPT", "Dynamic", NS_DC, DC_SEQUENCE, "DC_ChargeLoopReq"),
    "ac_bpt_scheduled": ("ISO_15118_20_AC", "AC_BPT", "Scheduled", NS_AC, AC_SEQUENCE, "AC_ChargeLoopReq"),
    "ac_bpt_dynamic": ("ISO_15118_20_AC", "AC_BPT", "Dynamic", NS_AC, AC_SEQUENCE, "AC_ChargeLoopReq"),
}
DISCHARGE_AFTER = 4     # Dynamic: charge-loop request after which the setpoint turns to discharge
DISCHARGE_W = -5000


@pytest.mark.parametrize("case", list(CASES))
def test_iso15118_evcc_20_bpt_session_to_clean_session_stop(v2g_link, tmp_path, case):
    need_peer()
    protocol, service, mode, namespace, sequence, loop_req = CASES[case]
    link = v2g_link
    other = "Dynamic" if mode == "Scheduled" else "Scheduled"
    evse20 = {"control_modes": [mode, other],
              # a schedule that charges for an hour, then discharges: the EV's power profile copies it
              "plan": [[3600, 20000], [3600, -10000]]}
    secc = secc_start({"iface": link.local, "sessions": 1, "accept_ms": 30000, "evse20": evse20,
                         "discharge_after": DISCHARGE_AFTER if mode == "Dynamic" else None,
                         "discharge_w": DISCHARGE_W}, 120000)
    wait_line(secc, "READY")
    s, log, wall = package_evcc_session(link, tmp_path, {
        "supportedProtocols": [protocol], "supportedEnergyServices": [service], "isCertInstallNeeded": False,
        "useTls": False, "enforceTls": False, "chargeLoopCycle": 10}, secc, 130)
    r, sent = check_clean_session(s, log, namespace, sequence)
    assert r["requests"].count(loop_req) == sent.count(loop_req) >= 8
    # It took the service and the control mode we put first.
    notes = r["notes"]
    assert notes["service"] == service and notes["control"] == mode, notes
    assert any(x.endswith(f"Selected Control Mode: {1 if mode == 'Scheduled' else 2}") for x in log.splitlines()), \
        [x for x in log.splitlines() if "Control Mode" in x]
    if mode == "Scheduled":
        # the schedule's last entry is a discharge: the EV announces discharging
        assert notes["channel"] == "Discharge", notes
    else:
        # charged first, then discharged at the setpoint (limited by the EV's discharge maximum)
        assert s["setpoints"] == [[DISCHARGE_AFTER, DISCHARGE_W]]
        assert notes["p_max_w"] > 0 and notes["p_min_w"] < 0, notes
        assert notes["discharge_loops"] == r["requests"].count(loop_req) - DISCHARGE_AFTER + 1, notes
    loop_ms = [u / 1000 for u in r["loop_us"]]
    print(f"{case}: {r['duration_ms']} ms on our side ({wall:.1f} s wall incl. EVCC start), "
          f"{len(loop_ms)} {loop_req[:-3]}Res, response time max {max(loop_ms):.1f} ms, "
          f"mean {sum(loop_ms) / len(loop_ms):.1f} ms (budget 25 ms); power {notes['p_min_w']}..{notes['p_max_w']} W, "
          f"channel {notes['channel']}")
