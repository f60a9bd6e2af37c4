"""SLAC state machines (firmware/slac/evse.py, ev.py) in virtual time under MicroPython: our EV and
our EVSE wired through the EVSE's simulated modem, with frames lost, duplicated or silenced. Every
step's timeout fires at the standard's time (ISO 15118-3 Table A.1) and leaves a clean state; the
timer table stays within the standard's bounds; fuzzed frames into both machines in every state
never raise. Unit tests (our code on both ends); the real-peer tests are in test_slac_link.py."""
from __future__ import annotations

PRE = """
import harness
import l_pair
from l_pair import Pair
from slac import evse as E, ev as V, timers as T
"""


def test_timer_table_within_the_standards_bounds(mp):
    r = mp(PRE + "harness.result([list(x) for x in T.TABLE])")
    assert len(r.data) >= 13
    for name, value, lo, hi in r.data:
        assert lo <= value <= hi, name


def test_clean_match_and_its_timing(mp):
    r = mp(PRE + """
p = Pair()
p.start()
ok = p.run(3000, lambda p: p.ev.state == V.MATCHED and p.evse.state == E.MATCHED)
harness.result({"ok": ok, "t": p.clock.now, "ev": p.ev.status(), "evse": p.evse.status(),
                "sounds": p.sent("ev", "CM_MNBC_SOUND.IND"), "starts": p.sent("ev", "CM_START_ATTEN_CHAR.IND"),
                "keys": [bytes(p.ev.nmk) == bytes(p.evse.nmk), bytes(p.ev.nid) == bytes(p.evse.nid)]})
""")
    d = r.data
    assert d["ok"] and d["keys"] == [True, True]
    assert d["evse"]["atten_db"] == 20 and d["ev"]["atten_db"] == 20
    ts = d["starts"] + d["sounds"]
    assert len(d["starts"]) == 3 and len(d["sounds"]) == 10
    assert all(20 <= b - a <= 50 for a, b in zip(ts, ts[1:]))          # TP_EV_batch_msg_interval
    assert d["t"] < 1200 + 400                                           # within TT_EV_atten_results


def test_evse_timeouts_at_every_step(mp):
    r = mp(PRE + """
out = {}
# 1. no CM_SLAC_PARM.REQ: FAILED exactly at TT_EVSE_SLAC_init
p = Pair(); p.start(ev=False)
p.run(T.TT_EVSE_SLAC_INIT - 1); before = E.STATE_NAMES[p.evse.state]
p.run(2); out["init"] = [before, p.evse.status()]
# 2. EV silent after CM_SLAC_PARM.REQ (its START_ATTEN_CHAR and sounds lost)
p = Pair(drop={"CM_START_ATTEN_CHAR.IND": 99, "CM_MNBC_SOUND.IND": 99}); p.start()
p.run(T.TT_EV_ATTEN_RESULTS - 100); p.ev.stop()   # (the EV would start a new attempt)
p.run(105); out["sounds"] = p.evse.status()
# 3. no CM_ATTEN_CHAR.RSP: results sent 1 + C_EV_match_retry times TT_match_response apart, then dropped
p = Pair(drop={"CM_ATTEN_CHAR.RSP": 99}); p.start()
p.run(2000); out["rsp"] = [p.evse.status(), p.sent("evse", "CM_ATTEN_CHAR.IND")]
# 4. no CM_SLAC_MATCH.REQ: dropped after TT_EVSE_match_session
p = Pair(drop={"CM_SLAC_MATCH.REQ": 99}); p.start()
p.run(600); t_rsp = p.sent("ev", "CM_ATTEN_CHAR.RSP")[0]
p.ev.stop()   # the EV goes quiet (it would retry and start over)
p.run(t_rsp + T.TT_EVSE_MATCH_SESSION - 1 - p.clock.now); mid = p.evse.status()["runs"]
p.run(3); out["match"] = [mid, p.evse.status()]
# 5. matched but the link never came up: back to unmatched at TT_match_join
p = Pair(); p.start()
p.run(2000, lambda p: p.evse.state == E.MATCHED); t_m = p.clock.now
p.run(T.TT_MATCH_JOIN + 2); out["join"] = p.evse.status()
# 6. some sounds lost: the window (TT_EVSE_match_MNBC) closes and what came is averaged
p = Pair(drop={"CM_MNBC_SOUND.IND": 4}); p.start()
p.run(3000, lambda p: p.ev.state == V.MATCHED); out["partial"] = [p.evse.status(), p.ev.status()]
harness.result(out)
""", timeout=300)
    d = r.data
    before, init = d["init"]
    assert before == "unmatched" and init["state"] == "failed" and init["counts"] == {"timeout_init": 1}
    assert d["sounds"]["state"] == "unmatched" and d["sounds"]["counts"].get("timeout_sounds") == 1
    st, sent = d["rsp"]
    # (the EV's own retries then start a new attempt: a new run, new results)
    assert [b - a for a, b in zip(sent[:3], sent[1:3])] == [200, 200] and (len(sent) == 3 or sent[3] > sent[2] + 200)
    assert st["counts"].get("timeout_atten_rsp", 0) >= 1
    mid, st = d["match"]
    assert mid and mid[0][1] == "wait_match" and st["counts"].get("timeout_match_req") == 1
    assert d["join"]["state"] == "unmatched" and d["join"]["counts"].get("timeout_join") == 1
    evse, ev = d["partial"]
    assert ev["state"] == "matched" and evse["atten_db"] == 20


def test_ev_timeouts_at_every_step(mp):
    r = mp(PRE + """
out = {}
# 1. no EVSE answers: CM_SLAC_PARM.REQ 1 + C_EV_match_retry times per attempt, attempts until
#    TT_matching_repetition, then FAILED
p = Pair(drop={"CM_SLAC_PARM.CNF": 999}); p.start()
p.run(T.TT_MATCHING_REPETITION + 2000)
parm = p.sent("ev", "CM_SLAC_PARM.REQ")
out["parm"] = [p.ev.status(), parm[:4]]
# 2. the EVSE's modem hears nothing (no profiles, no results): TT_EV_atten_results, then a new attempt
p = Pair(atten=None); p.start()
p.run(T.TT_EV_ATTEN_RESULTS + 100)
out["results"] = [p.ev.status(), p.sent("ev", "CM_SLAC_PARM.REQ")]
# 3. no CM_SLAC_MATCH.CNF: the request 1 + C_EV_match_retry times TT_match_response apart
p = Pair(drop={"CM_SLAC_MATCH.CNF": 999}); p.start()
p.run(1600)
out["match"] = [p.ev.status(), p.sent("ev", "CM_SLAC_MATCH.REQ")]
# 4. a lost CM_SLAC_MATCH.CNF: the repeated request is answered again (duplicate), then matched
p = Pair(drop={"CM_SLAC_MATCH.CNF": 1}); p.start()
p.run(2000, lambda p: p.ev.state == V.MATCHED)
out["match_once"] = [p.ev.status(), p.evse.status()]
harness.result(out)
""", timeout=300)
    d = r.data
    st, parm = d["parm"]
    assert st["state"] == "failed" and st["fail"] == "no CM_SLAC_PARM.CNF" and st["attempts"] >= 3
    assert [b - a for a, b in zip(parm[:3], parm[1:3])] == [400, 400]
    st, parm = d["results"]
    assert st["counts"].get("timeout_atten_char") == 1 and len(parm) == 2   # a new attempt started
    st, req = d["match"]
    assert req[:3] == [req[0], req[0] + 200, req[0] + 400]
    assert st["counts"].get("timeout_match_cnf", 0) >= 1 and st["state"] != "matched"
    ev, evse = d["match_once"]
    assert ev["state"] == "matched" and evse["counts"].get("duplicate") == 1


def test_validation_is_answered_not_required_and_amp_map_accepted(mp):
    r = mp(PRE + """
from slac import mme as m
p = Pair(drop={"CM_SLAC_MATCH.REQ": 99}); p.start()
p.run(600)
tx = bytearray(m.MAX_FRAME)
got = []
p.ev.send = lambda tx, n: got.append(bytes(tx[:n]))
for n in (m.build_validate(tx, l_pair.EV_MAC, l_pair.EVSE_MAC, m.REQ, 0, m.VALIDATE_READY),):
    f = bytes(tx[:n]); p.evse.on_frame(p.rx, m.parse(p.rx, f, n), p.clock.now)
cnf = p.to_ev.pop()
t = m.parse(p.rx, cnf, len(cnf))
res = [m.mmtype_name(t), p.rx.u8(m.VA_RESULT)]
amp = bytearray(l_pair.EV_MAC + l_pair.EV_MAC)   # dst = EVSE below
f = bytearray(64); f[0:6] = l_pair.EVSE_MAC; f[6:12] = l_pair.EV_MAC; f[12] = 0x88; f[13] = 0xE1
f[14] = 1; f[15] = 0x1C; f[16] = 0x60; f[19] = 2; f[20] = 0
p.evse.on_frame(p.rx, m.parse(p.rx, f, 60), p.clock.now)
a = p.to_ev.pop()
res.append(m.mmtype_name(m.parse(p.rx, a, len(a))))
res.append(p.rx.u8(0))
harness.result(res)
""")
    assert r.data == ["CM_VALIDATE.CNF", 4, "CM_AMP_MAP.CNF", 0]


def test_fuzzed_frames_into_both_machines_in_every_state_never_raise(mp):
    r = mp(PRE + """
import l_fuzz
from slac import mme as m
p = Pair(); p.start()
states = set()
def sink(rx, t):
    # the EVSE's runs need frames from the EV's MAC: half the fuzz gets it written in
    p.evse.on_frame(rx, t, p.clock.now)
    p.ev.on_frame(rx, t, p.clock.now)
    states.add((p.evse.state, p.ev.state))
    if p.clock.now % 7 == 0:
        p.step()
    else:
        p.clock.now += 1
    if p.ev.state in (V.MATCHED, V.FAILED) and p.clock.now % 500 == 0:
        p.ev.start(p.clock.now)
    if p.evse.state in (E.MATCHED, E.FAILED) and p.clock.now % 300 == 0:
        p.evse.disable(); p.evse.enable(p.clock.now)
out = l_fuzz.run(30000, seed=5, sink=sink)
out["states"] = len(states)
harness.result(out)
""", timeout=300)
    d = r.data
    assert d["crashes"] == 0, d["crash_samples"]
    assert d["accepted"] > 1000 and d["states"] >= 4


def test_pilot_levels_hysteresis_debounce_diode_duty_and_pp(mp):
    r = mp("""
import harness
from slac import pilot as P
from msgs import CP_NAMES
out = {"bands": [CP_NAMES[P.classify(v)] if P.classify(v) else "-" for v in
                 (12000, 11500, 11300, 10500, 9000, 8300, 6000, 3000, 0, -12000, 13500)]}
p = P.Pilot()
seq = []
for hi in (9000, 9000, 12000, 9000, 9000, 9000, 10500, 10500, 10500, 6000, 6000, 6000):
    p.sample(hi, -12000, True)
    seq.append(CP_NAMES[p.level])
out["seq"] = seq
q = P.Pilot()
for _ in range(3):
    q.sample(9000, -8000, True)          # an EV without its diode
out["diode"] = [CP_NAMES[q.level], q.diode_faults]
out["duty"] = [P.duty_for_current(a) for a in (5, 6, 16, 32, 51, 60, 80)]
out["pp"] = [P.pp_rating(o) for o in (1500, 680, 220, 100, 0, 5000, 1400)]
harness.result(out)
""")
    d = r.data
    # 11.3 V is inside 11..13 but within the 0.4 V hysteresis of its edge: no level; 10.5 V between bands
    assert d["bands"] == ["A", "A", "-", "-", "B", "-", "C", "D", "E", "F", "-"]
    # A -> B only after 3 equal samples (one 12 V sample in between restarts the count); 10.5 V keeps B
    assert d["seq"] == ["A", "A", "A", "A", "A", "B", "B", "B", "B", "B", "B", "C"]
    assert d["diode"] == ["E", 3]
    assert d["duty"] == [1000, 100, 267, 533, 850, 880, 960]
    assert d["pp"] == [13, 20, 32, 63, 0, 0, 13]
