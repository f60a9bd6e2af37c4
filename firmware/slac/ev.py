# The EV role of ISO 15118-3 SLAC ("PEV-HLE"): used by `jezgro ev`, the simulated EV and as the
# basis of EK-ADAPT-CCS. Same shape as evse.py: no sockets, no IPC; parsed frames and the time in,
# frames out through send(tx, n), the result in its fields.
#
# Flow: CM_SLAC_PARM.REQ (broadcast, retried C_EV_match_retry times every TT_match_sequence) ->
# every EVSE that confirms is a candidate -> C_EV_start_atten_char_inds x CM_START_ATTEN_CHAR.IND and
# C_EV_match_MNBC x CM_MNBC_SOUND.IND, TP_EV_batch_msg_interval apart -> each candidate's
# CM_ATTEN_CHAR.IND answered with .RSP -> at TT_EV_atten_results (or once every candidate answered)
# the candidate heard strongest (lowest attenuation, within the threshold) gets CM_SLAC_MATCH.REQ ->
# its .CNF carries NID/NMK -> MATCHED (the caller keys its modem). A failed attempt starts over while
# TT_matching_repetition allows. Handlers per (state, MMTYPE) in _TABLE, timeouts in _TIMEOUT.
from micropython import const
import os
from slac import mme as m
from slac import timers as T

IDLE = const(0)
PARM = const(1)        # CM_SLAC_PARM.REQ sent, collecting .CNF
SOUNDING = const(2)    # sending START_ATTEN_CHAR and the sounds
RESULTS = const(3)     # waiting for CM_ATTEN_CHAR.IND (TT_EV_atten_results from the first START)
MATCH = const(4)       # CM_SLAC_MATCH.REQ sent
MATCHED = const(5)
FAILED = const(6)
STATE_NAMES = ("idle", "parm", "sounding", "results", "match", "matched", "failed")
CANDIDATES = const(4)
DEFAULT_THRESHOLD_DB = const(40)

C_DUPLICATE = const(0)
C_STALE = const(1)
C_T_PARM = const(2)
C_T_RESULTS = const(3)
C_T_MATCH = const(4)
C_TOO_WEAK = const(5)
C_IGNORED = const(6)
C_RESTARTS = const(7)
N_COUNTERS = const(8)
COUNTER_NAMES = ("duplicate", "stale", "timeout_parm_cnf", "timeout_atten_char", "timeout_match_cnf",
                 "too_weak", "ignored", "restarts")


class Candidate:
    def __init__(self):
        self.used = False
        self.mac = bytearray(6)
        self.atten = -1


class EvSlac:
    def __init__(self, mac, send, clock, threshold_db=DEFAULT_THRESHOLD_DB):
        self.mac = bytes(mac)
        self.send = send
        self.diff = clock.ticks_diff
        self.add = clock.ticks_add
        self.threshold = threshold_db
        self.tx = bytearray(m.MAX_FRAME)
        self.run_id = bytearray(m.RUN_ID_LEN)
        self.rnd = bytearray(16)
        self.cands = [Candidate() for _ in range(CANDIDATES)]
        self.chosen = None
        self.state = IDLE
        self.deadline = 0
        self.results_deadline = 0
        self.next_tx = 0
        self.step = 0
        self.tries = 0
        self.t_start = 0
        self.match_ms = -1
        self.nid = bytearray(m.NID_LEN)
        self.nmk = bytearray(m.NMK_LEN)
        self.evse_mac = bytearray(6)
        self.atten = -1
        self.fail_reason = None
        self.counts = [0] * N_COUNTERS
        self.attempts = 0

    def start(self, now):
        # plugged in and the EVSE's PWM is at 5 %: match (TT_matching_repetition from here)
        self.t_start = now
        self.attempts = 0
        self.fail_reason = None
        self.atten = -1
        self._attempt(now)

    def stop(self):
        self.state = IDLE

    def _attempt(self, now):
        self.attempts += 1
        self.run_id[:] = os.urandom(m.RUN_ID_LEN)
        for c in self.cands:
            c.used = False
            c.atten = -1
        self.chosen = None
        self.tries = 0
        self.state = PARM
        self.deadline = self.add(now, T.TT_MATCH_SEQUENCE)
        self._send(m.build_slac_parm_req(self.tx, self.mac, self.run_id))

    def _fail(self, now, reason):
        if self.diff(now, self.t_start) + T.TT_EV_ATTEN_RESULTS < T.TT_MATCHING_REPETITION:
            self.counts[C_RESTARTS] += 1
            self._attempt(now)
        else:
            self.state = FAILED
            self.fail_reason = reason

    # -- input ------------------------------------------------------------------------------------
    def on_frame(self, rx, t, now):
        if self.state == IDLE or not rx.to_us(self.mac):
            return
        h = _TABLE[self.state].get(t)
        if h is None:
            self.counts[C_IGNORED] += 1
            return
        h(self, rx, now)

    def _cand(self, rx):
        for c in self.cands:
            if c.used and rx.src_is(c.mac):
                return c
        return None

    def _on_parm_cnf(self, rx, now):
        if not rx.eq(m.PC_RUN, self.run_id, m.RUN_ID_LEN):
            self.counts[C_STALE] += 1
            return
        if self._cand(rx) is not None:
            self.counts[C_DUPLICATE] += 1
            return
        for c in self.cands:
            if not c.used:
                c.used = True
                rx.copy_src(c.mac)
                c.atten = -1
                break
        if self.state == PARM:
            self.state = SOUNDING
            self.step = 0
            self.next_tx = now
            self.results_deadline = self.add(now, T.TT_EV_ATTEN_RESULTS)
            self._sound(now)

    def _on_atten_char(self, rx, now):
        c = self._cand(rx)
        if c is None or not rx.eq(m.AC_RUN, self.run_id, m.RUN_ID_LEN) or not rx.eq(m.AC_SRC, self.mac, 6):
            self.counts[C_STALE] += 1
            return
        if c.atten >= 0:
            self.counts[C_DUPLICATE] += 1   # our RSP was lost: answer again
        else:
            c.atten = m.average(rx, m.AC_AAG, rx.u8(m.AC_GROUPS))
        self._send(m.build_atten_char_rsp(self.tx, self.mac, c.mac, self.run_id))
        if self.state == RESULTS and self._all_reported():
            self._choose(now)

    def _all_reported(self):
        for c in self.cands:
            if c.used and c.atten < 0:
                return False
        return True

    def _on_match_cnf(self, rx, now):
        c = self.chosen
        if c is None or not rx.src_is(c.mac) or not rx.eq(m.SM_RUN, self.run_id, m.RUN_ID_LEN) \
                or not rx.eq(m.SM_PEV_MAC, self.mac, 6):
            self.counts[C_STALE] += 1
            return
        rx.copy(m.SM_NID, self.nid, m.NID_LEN)
        rx.copy(m.SM_NMK, self.nmk, m.NMK_LEN)
        self.evse_mac[:] = c.mac
        self.atten = c.atten
        self.match_ms = self.diff(now, self.t_start)
        self.state = MATCHED

    def _on_late_match_cnf(self, rx, now):
        self.counts[C_DUPLICATE] += 1

    # -- time ---------------------------------------------------------------------------------------
    def poll(self, now):
        st = self.state
        if st == SOUNDING:
            self._sound(now)
        elif st == PARM or st == RESULTS or st == MATCH:
            if self.diff(now, self.deadline if st != RESULTS else self.results_deadline) >= 0:
                _TIMEOUT[st](self, now)

    def _sound(self, now):
        # the batch: START_ATTEN_CHAR x3 then the sounds, one every TP_EV_batch_msg_interval
        while self.state == SOUNDING and self.diff(now, self.next_tx) >= 0:
            s = self.step
            if s < T.C_EV_START_ATTEN_CHAR_INDS:
                n = m.build_start_atten_char(self.tx, self.mac, self.run_id, T.C_EV_MATCH_MNBC,
                                             T.TT_EVSE_MATCH_MNBC // 100)
            else:
                left = T.C_EV_MATCH_MNBC - 1 - (s - T.C_EV_START_ATTEN_CHAR_INDS)
                self.rnd[:] = os.urandom(16)
                n = m.build_mnbc_sound(self.tx, self.mac, self.run_id, left, self.rnd)
                if left == 0:
                    self.state = RESULTS
            self._send(n)
            self.step = s + 1
            # from now, not from the planned time: a late frame must not bring the next one closer
            # than TP_EV_batch_msg_interval
            self.next_tx = self.add(now, T.TP_EV_BATCH_MSG_INTERVAL)
        if self.state == RESULTS and self._all_reported() and self._reported_any():
            self._choose(now)

    def _reported_any(self):
        for c in self.cands:
            if c.used and c.atten >= 0:
                return True
        return False

    def _timeout_parm(self, now):
        if self.tries < T.C_EV_MATCH_RETRY:
            self.tries += 1
            self.deadline = self.add(now, T.TT_MATCH_SEQUENCE)
            self._send(m.build_slac_parm_req(self.tx, self.mac, self.run_id))
        else:
            self.counts[C_T_PARM] += 1
            self._fail(now, "no CM_SLAC_PARM.CNF")

    def _timeout_results(self, now):
        if not self._reported_any():
            self.counts[C_T_RESULTS] += 1
            self._fail(now, "no CM_ATTEN_CHAR.IND")
        else:
            self._choose(now)

    def _choose(self, now):
        best = None
        for c in self.cands:
            if c.used and c.atten >= 0 and (best is None or c.atten < best.atten):
                best = c
        if best is None or best.atten > self.threshold:
            self.counts[C_TOO_WEAK] += 1
            self._fail(now, "no EVSE within %d dB" % self.threshold)
            return
        self.chosen = best
        self.state = MATCH
        self.tries = 0
        self._send_match(now, best)

    def _send_match(self, now, c):
        self.deadline = self.add(now, T.TT_MATCH_RESPONSE)
        self._send(m.build_match_req(self.tx, self.mac, c.mac, self.run_id))

    def _timeout_match(self, now):
        c = self.chosen
        if c is not None and self.tries < T.C_EV_MATCH_RETRY:
            self.tries += 1
            self._send_match(now, c)
        else:
            self.counts[C_T_MATCH] += 1
            self._fail(now, "no CM_SLAC_MATCH.CNF")

    def _send(self, n):
        self.send(self.tx, n)

    def status(self):
        return {"state": STATE_NAMES[self.state], "attempts": self.attempts,
                "evse_mac": ":".join(["%02x" % x for x in self.evse_mac]) if self.state == MATCHED else None,
                "atten_db": self.atten if self.atten >= 0 else None,
                "match_ms": self.match_ms if self.match_ms >= 0 else None, "fail": self.fail_reason,
                "candidates": [[":".join(["%02x" % x for x in c.mac]), c.atten] for c in self.cands if c.used],
                "counts": {COUNTER_NAMES[i]: self.counts[i] for i in range(N_COUNTERS) if self.counts[i]}}


_P = EvSlac
_NOTHING = {}  # type: dict
# state -> {MMTYPE: handler}
_TABLE = (
    _NOTHING,
    {m.CM_SLAC_PARM | m.CNF: _P._on_parm_cnf},
    {m.CM_SLAC_PARM | m.CNF: _P._on_parm_cnf, m.CM_ATTEN_CHAR | m.IND: _P._on_atten_char},
    {m.CM_SLAC_PARM | m.CNF: _P._on_parm_cnf, m.CM_ATTEN_CHAR | m.IND: _P._on_atten_char},
    {m.CM_ATTEN_CHAR | m.IND: _P._on_atten_char, m.CM_SLAC_MATCH | m.CNF: _P._on_match_cnf},
    {m.CM_SLAC_MATCH | m.CNF: _P._on_late_match_cnf},
    _NOTHING,
)
_TIMEOUT = (_P.poll, _P._timeout_parm, _P.poll, _P._timeout_results, _P._timeout_match)  # only PARM/RESULTS/MATCH have deadlines
