"""Smart charging and V2G against the `ocpp` package CSMS: K01 validation, composite schedules with
negative (discharge) periods checked against an independent per-second reference, the active limit sent
to POWER_MGR, profile reports/clearing, reservations, and the ISO 15118 messages fed over IPC.

One station run (about 20 s: the limit timeline must play out) serves every test of this module: the
`smart` fixture drives the CSMS side and records what came back, each test checks one feature of it."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from jezgro_host.csms import Csms
from station import StationProcess
from waiting import wait_for

SID = "GW-SC"


def iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def prof(pid, purpose, level, periods, start=None, kind="Absolute", **kw):
    s = {"id": pid, "chargingRateUnit": "W",
         "chargingSchedulePeriod": [{"startPeriod": a, "limit": b} for a, b in periods]}
    if start is not None:
        s["startSchedule"] = iso(start)
    if "duration" in kw:
        s["duration"] = kw.pop("duration")
    p = {"id": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
         "chargingSchedule": [s]}
    p.update(kw)
    return p


def reference_limit(profiles, t, evse=1):
    """Independent per-instant composite: highest stack per purpose, Tx over TxDefault, min with Max."""
    best = {}
    for pe, p in profiles:
        if pe not in (0, evse):
            continue
        s = p["chargingSchedule"][0]
        st = datetime.strptime(s["startSchedule"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        if p["chargingProfileKind"] == "Recurring" and t >= st:
            st += (t - st) // 86400 * 86400
        off = t - st
        if off < 0 or ("duration" in s and off >= s["duration"]):
            continue
        lim = [q["limit"] for q in s["chargingSchedulePeriod"] if q["startPeriod"] <= off][-1]
        pur = p["chargingProfilePurpose"]
        if pur not in best or p["stackLevel"] > best[pur][0]:
            best[pur] = (p["stackLevel"], lim)
    tx = best.get("TxProfile", best.get("TxDefaultProfile"))
    mx = best.get("ChargingStationMaxProfile")
    vals = [v[1] for v in (tx, mx) if v is not None]
    return min(vals) if vals else None


def _schedule(r) -> tuple[float, list[dict]]:
    sch = r.schedule
    start = datetime.strptime(sch["schedule_start"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp()
    return start, sch["charging_schedule_period"]


BAD_PROFILES = [  # (evseId, profile, why it is invalid)
    (0, lambda t0: prof(9, "TxDefaultProfile", 2, [(5, 1000)], t0), "first period not at 0"),
    (0, lambda t0: prof(9, "TxDefaultProfile", 2, [(0, 1000), (10, 2), (10, 3)], t0), "not increasing"),
    (1, lambda t0: prof(9, "TxProfile", 0, [(0, 1000)], t0, transactionId="nope"), "no such transaction"),
    (1, lambda t0: prof(9, "ChargingStationMaxProfile", 3, [(0, 1000)], t0), "max profile on an EVSE"),
    (0, lambda t0: prof(9, "TxDefaultProfile", 0, [(0, 1000)], t0), "same purpose/stack, other id"),
    (0, lambda t0: prof(9, "TxDefaultProfile", 2, [(0, 1000)], t0, validFrom=iso(t0 + 100), validTo=iso(t0)),
     "validTo before validFrom"),
    (0, lambda t0: prof(9, "TxDefaultProfile", 2, [(0, 1000)], None), "Absolute without startSchedule"),
]


@pytest.fixture(scope="module")
def smart(tmp_path_factory):
    """The scenario, once: profiles, composite schedules, reports, reservations, the limit timeline to
    POWER_MGR (o_power_peer) and the ISO 15118 messages (o_iso_peer). -> what each step answered."""
    tmp = tmp_path_factory.mktemp("smart")
    csms = Csms(log_path=tmp / "csms.jsonl", heartbeat_s=60).start()
    code = "import o_station, harness\nk, out = o_station.run(60000, peers=True)\nharness.result(out)\n"
    st = StationProcess(tmp / "fs", {"url": csms.url, "station_id": SID, "security_profile": 0,
                                     "max_power_w": 22000, "connectors": 2}, code=code).start()
    rec: dict = {}
    try:
        wait_for(lambda: csms.calls("StatusNotification"))
        t0 = int(time.time())
        good = [(0, prof(1, "ChargingStationMaxProfile", 0, [(0, 20000), (6, 5000)], t0)),
                (0, prof(2, "TxDefaultProfile", 0, [(0, 11000), (3, -8000), (9, 6000)], t0)),
                (0, prof(3, "TxDefaultProfile", 1, [(0, 3000)], t0 + 12, duration=3))]
        rec["good"] = good
        rec["good_status"] = [csms.send(SID, "SetChargingProfile", {"evseId": e, "chargingProfile": p}).status
                              for e, p in good]
        rec["bad"] = []
        for evse, mk, why in BAD_PROFILES:
            r = csms.send(SID, "SetChargingProfile", {"evseId": evse, "chargingProfile": mk(t0)})
            rec["bad"].append((why, r.status, (r.status_info or {}).get("reason_code")))
        r = csms.send(SID, "GetCompositeSchedule", {"duration": 20, "evseId": 1, "chargingRateUnit": "W"})
        rec["composite1"] = (r.status,) + _schedule(r)
        # a daily recurring V2G profile on EVSE 2, whose today's occurrence starts in 5 s
        recurring = prof(4, "TxDefaultProfile", 2, [(0, 4000), (8, -2000), (14, 1000)], t0 + 5 - 3 * 86400,
                         kind="Recurring", recurrencyKind="Daily")
        rec["recurring"] = recurring
        rec["recurring_status"] = csms.send(SID, "SetChargingProfile",
                                            {"evseId": 2, "chargingProfile": recurring}).status
        r = csms.send(SID, "GetCompositeSchedule", {"duration": 30, "evseId": 2, "chargingRateUnit": "W"})
        rec["composite2"] = (r.status,) + _schedule(r)
        rec["clear4"] = csms.send(SID, "ClearChargingProfile", {"chargingProfileId": 4}).status
        # profiles report and clearing
        rec["get_profiles"] = csms.send(SID, "GetChargingProfiles", {"requestId": 3, "chargingProfile": {
            "chargingProfilePurpose": "TxDefaultProfile"}}).status
        rec["report"] = wait_for(lambda: csms.calls("ReportChargingProfiles"))
        # reservations
        rec["reserve"] = csms.send(SID, "ReserveNow", {
            "id": 77, "expiryDateTime": iso(time.time() + 3), "idToken": {"idToken": "OWNER", "type": "ISO14443"},
            "evseId": 1}).status
        rec["start_other"] = csms.send(SID, "RequestStartTransaction", {
            "evseId": 1, "remoteStartId": 1, "idToken": {"idToken": "OTHER", "type": "Central"}}).status
        rec["cancel_unknown"] = csms.send(SID, "CancelReservation", {"reservationId": 5}).status
        wait_for(lambda: csms.calls("ReservationStatusUpdate"), 10)
        # the limit timeline reaches POWER_MGR: wait past the 12..15 s override
        wait_for(lambda: time.time() > t0 + 16, 20)
        wait_for(lambda: csms.calls("NotifyEVChargingSchedule") and csms.calls("Get15118EVCertificate"))
        rec["clear3"] = [csms.send(SID, "ClearChargingProfile", {"chargingProfileId": 3}).status for _ in range(2)]
        time.sleep(1.5)
    finally:
        rec["out"] = st.stop()
        csms.stop()
    rec["csms"] = csms
    return rec


def test_the_station_ran_clean(smart):
    assert smart["out"]["svc"]["faults"] == 0
    assert smart["csms"].errors_sent() == []
    assert smart["csms"].calls("SecurityEventNotification")[0]["type"] == "StartupOfTheDevice"


def test_valid_profiles_accepted_and_invalid_rejected_with_the_reason_code(smart):
    assert smart["good_status"] == ["Accepted"] * 3
    assert smart["bad"] == [(why, "Rejected", "InvalidProfile") for _, _, why in BAD_PROFILES]


def test_composite_schedule_matches_an_independent_reference_with_v2g_periods(smart):
    status, start, per = smart["composite1"]
    assert status == "Accepted" and per[0]["start_period"] == 0
    for sec in range(20):
        mine = [q["limit"] for q in per if q["start_period"] <= sec][-1]
        ref = reference_limit(smart["good"], start + sec)
        assert mine == (ref if ref is not None else 22000), (sec, per)
    assert any(q["limit"] < 0 for q in per)  # the V2G period survives the min with the max profile


def test_recurring_profile_composite_on_the_second_evse(smart):
    assert smart["recurring_status"] == "Accepted"
    status, start, per = smart["composite2"]
    assert status == "Accepted"
    for sec in range(30):
        mine = [q["limit"] for q in per if q["start_period"] <= sec][-1]
        ref = reference_limit(smart["good"] + [(2, smart["recurring"])], start + sec, evse=2)
        assert mine == (ref if ref is not None else 22000), (sec, per)
    assert -2000 in [q["limit"] for q in per]
    assert smart["clear4"] == "Accepted"


def test_profiles_report_and_clearing(smart):
    assert smart["get_profiles"] == "Accepted"
    assert sorted(p["id"] for p in smart["report"][0]["chargingProfile"]) == [2, 3]
    assert smart["clear3"] == ["Accepted", "Unknown"]


def test_reservations_block_other_tokens_and_expire(smart):
    assert smart["reserve"] == "Accepted"
    assert smart["start_other"] == "Rejected" and smart["cancel_unknown"] == "Rejected"
    csms = smart["csms"]
    stat = [p["connectorStatus"] for p in csms.calls("StatusNotification")]
    assert stat[stat.index("Reserved") + 1] == "Available" and stat[-1] == "Occupied"  # expiry, then P&C
    assert csms.calls("ReservationStatusUpdate")[0] == {"reservationId": 77, "reservationUpdateStatus": "Expired"}


def test_the_active_limit_reaches_power_mgr_as_a_limit(smart):
    pm = smart["out"]["power_peer"]
    # the signed composite limit: an import cap, or (negative, V2G) no import and an export cap
    limits = [m[0] if m[3] == 1 else -m[1] for m in pm]
    assert all(m[2] == 1 and m[3] in (1, 3) for m in pm)  # SRC_OCPP; LIM_IMPORT (| LIM_EXPORT)
    # 11000 (charge) -> -8000 (discharge) -> 5000 (max profile caps 6000) -> 3000 (stack 1) -> 5000
    want = [11000, -8000, 5000, 3000, 5000]
    it = iter(limits)
    assert all(any(x == w for x in it) for w in want), limits


def test_iso15118_needs_schedule_and_certificates_over_ipc(smart):
    csms, out = smart["csms"], smart["out"]
    needs = csms.calls("NotifyEVChargingNeeds")
    assert len(needs) == 1 and needs[0]["chargingNeeds"]["acChargingParameters"] == {
        "energyAmount": 30000, "evMinCurrent": 6, "evMaxCurrent": 32, "evMaxVoltage": 400}
    assert out["client"]["iso_bad"] == 1  # the malformed needs payload was counted, not sent
    sched = csms.calls("NotifyEVChargingSchedule")[0]
    assert [(q["startPeriod"], q["limit"]) for q in sched["chargingSchedule"]["chargingSchedulePeriod"]] == [
        (0, 11000), (900, 7000), (1800, -5000), (2700, -10000), (3600, 0), (4500, 11000), (5400, 3000)]
    assert csms.calls("Get15118EVCertificate")[0]["exiRequest"] == "gAEiAzRVZneImaq7zN3u"
    assert [e for e in out["iso_peer"] if e[0] == "cert_response"] == [["cert_response", 1]] * 2
    assert csms.calls("GetCertificateStatus")[0]["ocspRequestData"]["serialNumber"] == "0C"


def test_plug_and_charge_authorizes_the_contract_id_then_starts(smart):
    csms = smart["csms"]
    assert csms.calls("Authorize")[0]["idToken"] == {"idToken": "DEJEZC12345678", "type": "eMAID"}
    started = [e for e in csms.calls("TransactionEvent") if e["eventType"] == "Started"]
    assert started[0]["triggerReason"] == "Authorized" and started[0]["idToken"]["type"] == "eMAID"
