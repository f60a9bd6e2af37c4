"""The composite schedule (firmware/ocpp/smart_charging.py) with its per-profile cache (issue 17: a
GetCompositeSchedule evaluates each profile once per change of its own) gives exactly what evaluating
every profile afresh at every change point gives, over Absolute and Recurring profiles with durations,
validFrom/validTo, both purposes and both EVSE scopes; and a daily profile whose schedule ended comes
back at its next recurrence, at that instant (it used to be noticed only at another profile's change).
Unit tests: our code on both sides; the CSMS-facing behaviour is in test_ocpp_smart.py."""
from __future__ import annotations

import json

from jezgro_host import mp as jmp

CODE = r"""
import json
from ocpp import smart_charging, clock


from growth_bench import _Cl, profiles  # bench/: the fake OCPP client and staggered profiles


def varied(n, m, t0):
    # the bench's profiles, with every kind of bound: Recurring, validTo, validFrom, duration
    out = profiles(n, m, t0)
    for i in range(n):
        q = out[i]["p"]
        if i % 4 == 1:
            q["chargingProfileKind"] = "Recurring"
            q["recurrencyKind"] = "Daily"
        if i % 5 == 2:
            q["validTo"] = clock.iso(t0 + 3000)
        if i % 5 == 3:
            q["validFrom"] = clock.iso(t0 + 1500)
        if i % 3 == 2:
            q["chargingSchedule"][0]["duration"] = 2000
    return out


t0 = int(clock.now())
checked = 0
diffs = []
for n, m in ((1, 1), (3, 5), (10, 12), (7, 3), (20, 24)):
    sc = smart_charging.SmartCharging(_Cl("."))
    sc.profiles = varied(n, m, t0)
    for start in (t0 - 5000, t0 + 1000, t0 + 7777):
        for dur in (600, 10800, 86400):
            new = sc.composite(1, start, dur, "W")
            fresh = sc.limit_at
            sc.limit_at = lambda e, t, u, cache=None: fresh(e, t, u)  # no cache: every profile afresh
            old = sc.composite(1, start, dur, "W")
            sc.limit_at = fresh
            checked += 1
            if new != old:
                diffs.append([n, m, start - t0, dur])
# one daily profile, 2000 s of 7 kW from 10 h before t0: over the next 24 h it applies again at t0 + 14 h
sc = smart_charging.SmartCharging(_Cl("."))
sc.profiles = [{"evse": 0, "p": {"id": 1, "stackLevel": 0, "chargingProfileKind": "Recurring",
                                 "recurrencyKind": "Daily", "chargingProfilePurpose": "TxDefaultProfile",
                                 "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "duration": 2000,
                                                       "startSchedule": clock.iso(t0 - 36000),
                                                       "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                                   "limit": 7000}]}]}}]
rec = sc.composite(1, t0, 86400, "W")["chargingSchedulePeriod"]
print("RESULT " + json.dumps({"checked": checked, "diffs": diffs,
                              "recurring": [[p["startPeriod"], p["limit"]] for p in rec]}))
"""


def test_composite_cache_matches_fresh_evaluation_and_recurrence_returns(tmp_path):
    p = jmp.run(["-c", CODE], heap="2M", fs_root=tmp_path, extra=[jmp.BENCH], capture_output=True, timeout=120,
                cwd=tmp_path)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    assert p.returncode == 0 and lines, p.stdout + p.stderr
    r = json.loads(lines[-1][7:])
    assert r["checked"] == 45 and r["diffs"] == [], r["diffs"]
    # rated power (22000 W default) until the recurrence, 7 kW for its 2000 s, rated again
    assert r["recurring"] == [[0, 22000], [50400, 7000], [52400, 22000]], r["recurring"]
