"""Host tools render the summary of any run, also one that went wrong: every field may be missing or
null (issue 20: `jezgro sim` crashed in `_sessions` on an EV record with "ev": null)."""
from __future__ import annotations

import copy

import pytest

from jezgro_host import sim

FULL = {
    "config": "v2g", "mode": "wall", "sim_ms": 30000, "boots": 1, "reboots": 0,
    "services": [{"name": "KERNEL"},
                 {"name": "ISO15118", "state": "waiting", "starts": 1, "restarts": 0, "last_fault": "none",
                  "restart_latency_us": {"count": 1, "max": 10, "mean": 10}},
                 {"name": "OCPP_CLIENT", "state": "waiting", "starts": 1, "restarts": 0, "last_fault": "none",
                  "status": {"link": {"state": "backoff", "url": "ws://csms/ocpp", "station_id": "GW",
                                      "security_profile": 0, "last_error": "connect: ECONNREFUSED"},
                             "stats": {"connect_failures": 4},
                             "offline_fallback": {"after_s": 300, "limit_w": 4000, "export_w": 0, "active": True,
                                                  "engaged": 1, "active_for_ms": 5000}}}],
    "critical": {"ticks_run": 10, "ticks_missed": 0, "overruns": 0, "max_jitter_us": 1, "max_cost_us": 2},
    "ipc": {"high_water": 1, "slots": 512, "sent": 3, "pool_exhausted": 0, "stale_rejected": 0},
    "heap": {"peak_bytes": 1000},
    "iso15118": {"history": [{"serial": 1, "protocol_name": "ISO 15118-2 DC", "messages": 42, "energy_wh": 1.5,
                              "end": "SessionStop", "detail": "", "loop_us": [800, 1200], "requests": ["a"]}],
                 "resumed": 1, "link": {"no_first_byte": 2, "bad": 36, "accepted": 40}},
    "ev": {"result": {"end": "SessionStop", "detail": "complete",
                      "ev": {"energy_service": "DC", "soc": 31, "target_soc": 80, "energy_wh": 1.5, "loops": 3}}},
    "reset": {"cause": "power_on", "service": None, "reason": None},
}


def _paths(d, prefix=()):
    # every (container path, key) of the nested summary
    items = d.items() if isinstance(d, dict) else enumerate(d) if isinstance(d, list) else ()
    for k, v in items:
        yield prefix, k
        yield from _paths(v, prefix + (k,))


def _at(d, path):
    for k in path:
        d = d[k]
    return d


def test_the_issue_20_summary_renders():
    s = copy.deepcopy(FULL)
    s["ev"] = {"result": {"end": "SequenceTimeout", "detail": "SDP: no SDP response to 50 requests", "ev": None}}
    s["iso15118"]["history"] = []
    text = sim.human(s)
    assert "EV simulator: no session, ended SequenceTimeout (SDP: no SDP response to 50 requests)" in text
    assert "connections dropped by the SECC's limits: bad 36, no_first_byte 2" in text


def test_full_summary_renders_every_part():
    text = sim.human(FULL)
    for part in ("ISO 15118 session 1: ISO 15118-2 DC, 42 messages", "max 1.20 ms", "EV simulator: DC session",
                 "resumed after a service restart: 1", "Last reset cause: power_on", "CRITICAL ticks: 10 run",
                 "OCPP: NOT CONNECTED to ws://csms/ocpp as GW (security profile 0) after 4 attempt(s)",
                 "OCPP offline fallback (4000 W import / 0 W export after 300 s without the CSMS): engaged 1 "
                 "time(s), in force at the end"):
        assert part in text


@pytest.mark.parametrize("how", ["missing", "null", "wrong type"])
def test_any_field_missing_or_null_still_renders(how):
    paths = list(_paths(FULL))
    assert len(paths) > 60
    for path, key in paths:
        s = copy.deepcopy(FULL)
        parent = _at(s, path)
        if how == "missing":
            del parent[key]
        else:
            parent[key] = None if how == "null" else "x"
        text = sim.human(s)  # must not raise
        assert text.startswith("JEZGRO-GW simulation summary")


def test_empty_summary_renders():
    assert "? s simulated" in sim.human({})


def test_status_shows_the_offline_fallback():
    """`jezgro status`: the OCPP link line says when the offline fallback limit is in force."""
    import time
    from jezgro_host import status
    link = dict(FULL["services"][2]["status"]["link"], fallback=FULL["services"][2]["status"]["offline_fallback"])
    st = {"t_ms": 1000, "wall_s": time.time(), "gateway": "CHARGING",
          "services": [{"name": "OCPP_CLIENT", "state": "waiting", "restarts": 0, "link": link}]}
    assert "OFFLINE FALLBACK 4000 W import / 0 W export for 5 s (CSMS away more than 300 s)" in status.human(st)
    link["fallback"] = None
    assert "FALLBACK" not in status.human(st)
