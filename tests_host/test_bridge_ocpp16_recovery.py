"""The protocol bridge loses nothing (issue 15 step 3): a CSMS outage in the middle of a transaction (the
chargers are answered locally, the 2.0.1 events queue persistently, in order, flagged offline, and go out
after the reconnect), a charger that disconnects and reconnects mid-transaction, and TRANSLATOR crashing
while a transaction runs (idempotent replay: every charger CALL answered in time, no event lost or doubled
beyond OCPP's at-least-once)."""
from __future__ import annotations

import time

from ocpp.v16 import call

from jezgro_host.bridge_run import running
from test_bridge_ocpp16 import validate_log
import waiting

GW = "GW-BRIDGE"


def events_of(csms, tx_id):
    return [e for e in csms.calls("TransactionEvent") if e["transactionInfo"]["transactionId"] == tx_id]


def distinct(evs):
    """The events without the at-least-once copies (same seqNo, same content but the offline flag)."""
    out = []
    for e in evs:
        if out and e["seqNo"] == out[-1]["seqNo"]:
            assert {k: v for k, v in e.items() if k != "offline"} == {k: v for k, v in out[-1].items()
                                                                      if k != "offline"}
            continue
        out.append(e)
    return out


def complete(csms, tx_id):
    evs = events_of(csms, tx_id)
    return evs if evs and evs[-1]["eventType"] == "Ended" else None


def test_csms_outage_mid_transaction(tmp_path):
    with running(tmp_path) as (csms, fleet, stop):
        fleet.connect("CP-A")
        fleet.boot("CP-A")
        fleet.session("CP-A", "TAG-1", samples=1)  # the CSMS accepts TAG-1: cached for offline use
        tid = fleet.start_tx("CP-A", "TAG-1")
        tx_id = f"CP-A-{tid}"
        waiting.wait_for(lambda: events_of(csms, tx_id))
        csms.refuse = True
        csms.disconnect(GW)
        time.sleep(0.5)
        t0 = time.time()
        for _ in range(4):
            fleet.meter("CP-A", tid)
        auth = fleet.call("CP-A", call.Authorize(id_tag="TAG-1"))
        fleet.stop_tx("CP-A", tid, "TAG-1")
        assert time.time() - t0 < 5  # answered locally, not after the outage
        assert auth.id_tag_info["status"] == "Accepted"  # from the cache (offline_auth "cache")
        assert len(events_of(csms, tx_id)) == 1  # nothing reached the CSMS meanwhile
        csms.refuse = False
        evs = distinct(waiting.wait_for(lambda: complete(csms, tx_id), timeout=30))
        assert [e["seqNo"] for e in evs] == list(range(6))
        assert [e["eventType"] for e in evs] == ["Started"] + ["Updated"] * 4 + ["Ended"]
        assert all(e.get("offline") for e in evs[1:]) and not evs[0].get("offline")
        assert csms.errors_sent() == []
        s = stop()
    st = s["bridge"]["chargers"]["CP-A"]["translator"]
    assert st["queued"] >= 5
    assert s["bridge"]["upstream"]["txq"]["queued"] == 0 and s["bridge"]["upstream"]["txq"]["dropped"] == 0
    validate_log([r for r in csms.records if "msg" in r], "2.0.1", "station")


def test_charger_disconnect_and_reconnect_mid_transaction(tmp_path):
    with running(tmp_path) as (csms, fleet, stop):
        fleet.connect("CP-B")
        fleet.boot("CP-B")
        tid = fleet.start_tx("CP-B", "TAG-B")
        fleet.meter("CP-B", tid)
        fleet.disconnect("CP-B")
        time.sleep(0.5)
        fleet.connect("CP-B")
        fleet.meter("CP-B", tid)
        fleet.stop_tx("CP-B", tid, "TAG-B")
        evs = distinct(waiting.wait_for(lambda: complete(csms, f"CP-B-{tid}")))
        assert [e["seqNo"] for e in evs] == [0, 1, 2, 3]
        assert [e["eventType"] for e in evs] == ["Started", "Updated", "Updated", "Ended"]
        s = stop()
    link = s["bridge"]["chargers"]["CP-B"]["link"]["stats"]
    assert link["connects"] == 2 and link["disconnects"] >= 1


def test_translator_crash_mid_transaction(tmp_path):
    # TRANSLATOR crashes twice while the charger sends a meter value every 50 ms
    with running(tmp_path, inject=["translator:crash@2.5", "translator:crash@3.5"]) as (csms, fleet, stop):
        t_start = time.time()
        fleet.connect("CP-A")
        fleet.boot("CP-A")
        tid = fleet.start_tx("CP-A", "TAG-C")
        n = 0
        slowest = 0.0
        while time.time() - t_start < 5.5:
            t0 = time.time()
            fleet.meter("CP-A", tid)  # raises on a CALLERROR or a timeout
            slowest = max(slowest, time.time() - t0)
            n += 1
            time.sleep(0.05)
        fleet.stop_tx("CP-A", tid, "TAG-C")
        evs = distinct(waiting.wait_for(lambda: complete(csms, f"CP-A-{tid}")))
        s = stop()
    assert [e["seqNo"] for e in evs] == list(range(n + 2)), (n, [e["seqNo"] for e in events_of(csms, f"CP-A-{tid}")])
    assert slowest < 2.0  # the charger was answered within its timeout across both restarts
    svc = {x["name"]: x for x in s["services"]}
    assert svc["TRANSLATOR"]["restarts"] == 2, svc["TRANSLATOR"]
    assert [i["applied"] for i in s["injections"]] == [True, True]
    assert fleet.summary()["CP-A"]["errors"] == 0
