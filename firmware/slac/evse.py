# The EVSE role of ISO 15118-3 SLAC (Annex A, the "EVSE-HLE" of HomePlug Green PHY). No sockets and no
# IPC: the SLAC service feeds it parsed frames (mme.Rx) and the time, it writes answers through
# send(tx, n) and exposes its state; the service turns that into SLAC_LINK and the modem's key.
#
# Two levels, both explicit tables:
#   EVSE state (IDLE, UNMATCHED, MATCHING, MATCHED, FAILED): is matching enabled, has it succeeded.
#   per-EV runs (RUNS slots): every EV whose CM_SLAC_PARM.REQ we hear gets a run, because the EVSE
#   cannot know which EV is on its own cable: crosstalk brings other cars' requests. Each run sounds,
#   gets its attenuation profile and may ask to match; only a run whose average attenuation is within
#   the threshold is answered with CM_SLAC_MATCH.CNF (a car on a neighbour's cable is heard weaker).
# Handlers per (run state, MMTYPE) are in _RUN_TABLE; timeouts per run state in _RUN_TIMEOUT.
from micropython import const
import array
from slac import mme as m
from slac import timers as T

IDLE = const(0)        # no vehicle, or PWM not at 5 %: every frame ignored
UNMATCHED = const(1)   # waiting for CM_SLAC_PARM.REQ (TT_EVSE_SLAC_init since enable)
MATCHING = const(2)    # at least one run in progress
MATCHED = const(3)     # CM_SLAC_MATCH.CNF sent; the EV joins our logical network
FAILED = const(4)      # TT_EVSE_SLAC_init over without a match (the service restarts via E/F)
STATE_NAMES = ("idle", "unmatched", "matching", "matched", "failed")

R_FREE = const(0)
R_SOUNDS = const(1)      # CM_SLAC_PARM.CNF sent: START_ATTEN_CHAR and the sounds' profiles come
R_WAIT_RSP = const(2)    # CM_ATTEN_CHAR.IND sent, waiting for .RSP (retransmitted C_EV_match_retry times)
R_WAIT_MATCH = const(3)  # waiting for CM_VALIDATE.REQ / CM_SLAC_MATCH.REQ (TT_EVSE_match_session)
RUN_STATE_NAMES = ("free", "sounds", "wait_rsp", "wait_match")
RUNS = const(4)
DEFAULT_THRESHOLD_DB = const(40)   # an own-cable car is typically 10-30 dB, crosstalk 40-60 dB

# counters
C_DUPLICATE = const(0)     # a repeated request answered again (the answer was lost)
C_STALE = const(1)         # wrong RunID, or from an EV we have no run for
C_BUSY = const(2)          # CM_SLAC_PARM.REQ with every run slot taken
C_REFUSED = const(3)       # CM_SLAC_MATCH.REQ from an EV heard weaker than the threshold
C_T_START = const(4)       # timeouts: no START_ATTEN_CHAR/sounds
C_T_RSP = const(5)         # no CM_ATTEN_CHAR.RSP after the retries
C_T_MATCH = const(6)       # no CM_SLAC_MATCH.REQ within TT_EVSE_match_session
C_T_INIT = const(7)        # no match within TT_EVSE_SLAC_init
C_T_JOIN = const(8)        # matched but the link did not come up within TT_match_join
C_IGNORED = const(9)       # a well-formed message this state does not expect
C_REJECTED = const(10)     # EV refused our results (CM_ATTEN_CHAR.RSP result != 0), bad MATCH fields
N_COUNTERS = const(11)
COUNTER_NAMES = ("duplicate", "stale", "busy", "refused_weak", "timeout_sounds", "timeout_atten_rsp",
                 "timeout_match_req", "timeout_init", "timeout_join", "ignored", "rejected")


class Run:
    def __init__(self):
        self.state = R_FREE
        self.mac = bytearray(6)
        self.run_id = bytearray(m.RUN_ID_LEN)
        self.sums = array.array("H", bytes(2 * m.GROUPS))
        self.aag = bytearray(m.GROUPS)
        self.groups = m.GROUPS
        self.profiles = 0
        self.expected = T.C_EV_MATCH_MNBC
        self.started = False
        self.deadline = 0
        self.tries = 0
        self.atten = 255

    def reset(self, rx):
        rx.copy_src(self.mac)
        rx.copy(2, self.run_id, m.RUN_ID_LEN)
        for i in range(m.GROUPS):
            self.sums[i] = 0
        self.profiles = 0
        self.expected = T.C_EV_MATCH_MNBC
        self.started = False
        self.tries = 0
        self.atten = 255


class EvseSlac:
    def __init__(self, mac, send, clock, threshold_db=DEFAULT_THRESHOLD_DB):
        self.mac = bytes(mac)
        self.send = send          # send(tx, n): one frame out
        self.diff = clock.ticks_diff
        self.add = clock.ticks_add
        self.threshold = threshold_db
        self.tx = bytearray(m.MAX_FRAME)
        self.runs = [Run() for _ in range(RUNS)]
        self.state = IDLE
        self.nid = bytearray(m.NID_LEN)
        self.nmk = bytearray(m.NMK_LEN)
        self.t_enable = 0
        self.t_match = 0
        self.match_ms = -1        # enable -> CM_SLAC_MATCH.CNF, of the last match
        self.ev_mac = bytearray(6)
        self.atten = -1
        self.run_id = bytearray(m.RUN_ID_LEN)
        self.joined = False
        self.counts = [0] * N_COUNTERS
        self.matches = 0
        self.handled = 0

    # -- control by the service ----------------------------------------------------------------------
    def set_key(self, nid, nmk):
        self.nid[:] = nid
        self.nmk[:] = nmk

    def enable(self, now):
        # CP B with 5 % PWM: matching may begin (TT_EVSE_SLAC_init runs from here)
        if self.state == IDLE or self.state == FAILED:
            self._clear()
            self.state = UNMATCHED
            self.t_enable = now

    def disable(self):
        # CP A/E/F: the EV is gone; the service must give the modem a fresh key (stale NID otherwise)
        self._clear()
        self.state = IDLE

    def link_up(self):
        # the service saw the EV in our logical network (modem station list, or the simulated link)
        self.joined = True

    def _clear(self):
        for r in self.runs:
            r.state = R_FREE
        self.joined = False
        self.atten = -1

    # -- input ------------------------------------------------------------------------------------
    def on_frame(self, rx, t, now):
        # t: mme.parse's result (>= 0). Frames addressed to another station are not ours.
        self.handled += 1
        if self.state == IDLE or not rx.to_us(self.mac):
            return
        if t == m.CM_SLAC_PARM | m.REQ:
            self._on_parm(rx, now)
        elif t == m.CM_AMP_MAP | m.REQ:
            # a modem asking for the amplitude map: accepted (we keep the default map)
            self._send(m.build_amp_map_cnf(self.tx, self.mac, bytes(rx.buf[6:12])))
        elif self.state == MATCHED:
            if t == m.CM_SLAC_MATCH | m.REQ and rx.src_is(self.ev_mac) and rx.eq(m.SM_RUN, self.run_id, 8):
                self.counts[C_DUPLICATE] += 1   # our CNF was lost: the same answer again
                self._send(m.build_match_cnf(self.tx, self.mac, self.ev_mac, self.run_id, self.nid, self.nmk))
            else:
                self.counts[C_IGNORED] += 1
        else:
            run = self._run_for(rx, t)
            if run is None:
                self.counts[C_STALE] += 1
                return
            h = _RUN_TABLE[run.state].get(t)
            if h is None:
                self.counts[C_IGNORED] += 1
            else:
                h(self, run, rx, now)

    def _run_for(self, rx, t):
        # the run this frame belongs to: by the EV's MAC (in the payload for ATTEN_PROFILE, which the
        # modem sends), and by RunID where the message carries one
        for r in self.runs:
            if r.state == R_FREE:
                continue
            if t == m.CM_ATTEN_PROFILE | m.IND:
                if rx.eq(m.AP_PEV, r.mac, 6):
                    return r
                continue
            if not rx.src_is(r.mac):
                continue
            off = _RUN_OFF.get(t, -1)
            if off >= 0 and not rx.eq(off, r.run_id, m.RUN_ID_LEN):
                return None
            return r
        return None

    def _on_parm(self, rx, now):
        if self.state == MATCHED or self.state == FAILED:
            self.counts[C_IGNORED] += 1
            return
        free = None
        for r in self.runs:
            if r.state != R_FREE and rx.src_is(r.mac):
                if rx.eq(2, r.run_id, m.RUN_ID_LEN):
                    self.counts[C_DUPLICATE] += 1
                    self._send(m.build_slac_parm_cnf(self.tx, self.mac, r.mac, r.run_id, T.C_EV_MATCH_MNBC,
                                                     T.TT_EVSE_MATCH_MNBC // 100))
                    return
                free = r          # the same EV with a new run: start over
                break
            if free is None and r.state == R_FREE:
                free = r
        if free is None:
            self.counts[C_BUSY] += 1
            return
        free.reset(rx)
        free.state = R_SOUNDS
        # the EV sends START_ATTEN_CHAR right after our answer; it gives up after TT_EV_atten_results
        free.deadline = self.add(now, T.TT_EV_ATTEN_RESULTS)
        self.state = MATCHING
        self._send(m.build_slac_parm_cnf(self.tx, self.mac, free.mac, free.run_id, T.C_EV_MATCH_MNBC,
                                         T.TT_EVSE_MATCH_MNBC // 100))

    # -- run handlers (the table below) --------------------------------------------------------------
    def _start_window(self, run, now, expected, window_ms):
        if not run.started:
            run.started = True
            run.expected = expected
            run.deadline = self.add(now, window_ms)

    def _on_start(self, run, rx, now):
        w = rx.u8(m.SA_TIME_OUT) * 100
        self._start_window(run, now, rx.u8(m.SA_SOUNDS),
                           w if 0 < w <= T.TT_EVSE_MATCH_MNBC else T.TT_EVSE_MATCH_MNBC)

    def _on_sound(self, run, rx, now):
        # the sounds themselves: a lost START_ATTEN_CHAR must not lose the run
        self._start_window(run, now, T.C_EV_MATCH_MNBC, T.TT_EVSE_MATCH_MNBC)

    def _on_profile(self, run, rx, now):
        self._start_window(run, now, T.C_EV_MATCH_MNBC, T.TT_EVSE_MATCH_MNBC)
        g = rx.u8(m.AP_GROUPS)
        run.groups = g
        b = rx.buf
        o = rx.body + m.AP_AAG
        s = run.sums
        for i in range(g):
            s[i] += b[o + i]
        run.profiles += 1
        if run.profiles >= run.expected:
            self._results(run, now)

    def _results(self, run, now):
        # averaging per group over the sounds received ([V2G3-A09-19]), then CM_ATTEN_CHAR.IND
        n = run.profiles
        g = run.groups
        total = 0
        for i in range(g):
            a = (run.sums[i] + n // 2) // n
            run.aag[i] = a
            total += a
        run.atten = (total + g // 2) // g
        run.state = R_WAIT_RSP
        run.tries = 0
        run.deadline = self.add(now, T.TT_MATCH_RESPONSE)
        self._send_results(run)

    def _send_results(self, run):
        self._send(m.build_atten_char_ind(self.tx, self.mac, run.mac, run.run_id, run.profiles, run.aag,
                                          run.groups))

    def _on_rsp(self, run, rx, now):
        if rx.u8(m.AR_RESULT) != 0:
            self.counts[C_REJECTED] += 1
            self._drop(run)
            return
        run.state = R_WAIT_MATCH
        run.deadline = self.add(now, T.TT_EVSE_MATCH_SESSION)

    def _on_rsp_again(self, run, rx, now):
        self.counts[C_DUPLICATE] += 1

    def _on_validate(self, run, rx, now):
        # no BCB toggle validation here: "not required" lets the EV go straight to CM_SLAC_MATCH
        self._send(m.build_validate(self.tx, self.mac, run.mac, m.CNF, 0, m.VALIDATE_NOT_REQUIRED))

    def _on_match(self, run, rx, now):
        if not rx.eq(m.SM_PEV_MAC, run.mac, 6) or not rx.eq(m.SM_EVSE_MAC, self.mac, 6):
            self.counts[C_REJECTED] += 1
            return
        if run.atten > self.threshold:
            # heard too weakly: a car on another charger's cable. No answer: it times out and goes on.
            self.counts[C_REFUSED] += 1
            self._drop(run)
            return
        self.ev_mac[:] = run.mac
        self.run_id[:] = run.run_id
        self.atten = run.atten
        self._send(m.build_match_cnf(self.tx, self.mac, self.ev_mac, self.run_id, self.nid, self.nmk))
        for r in self.runs:
            r.state = R_FREE
        self.state = MATCHED
        self.joined = False
        self.t_match = now
        self.match_ms = self.diff(now, self.t_enable)
        self.matches += 1

    def _drop(self, run):
        run.state = R_FREE
        if self.state == MATCHING:
            for r in self.runs:
                if r.state != R_FREE:
                    return
            self.state = UNMATCHED

    # -- time ---------------------------------------------------------------------------------------
    def poll(self, now):
        st = self.state
        if st == UNMATCHED or st == MATCHING:
            if self.diff(now, self.t_enable) >= T.TT_EVSE_SLAC_INIT:
                self.counts[C_T_INIT] += 1
                self._clear()
                self.state = FAILED
                return
            for r in self.runs:
                if r.state != R_FREE and self.diff(now, r.deadline) >= 0:
                    _RUN_TIMEOUT[r.state](self, r, now)
        elif st == MATCHED and not self.joined and self.diff(now, self.t_match) >= T.TT_MATCH_JOIN:
            self.counts[C_T_JOIN] += 1
            self._clear()
            self.state = UNMATCHED
            self.t_enable = now

    def _timeout_sounds(self, run, now):
        if run.started and run.profiles:
            self._results(run, now)   # the window closed: average what came ([V2G3-A09-19])
        else:
            self.counts[C_T_START] += 1
            self._drop(run)

    def _timeout_rsp(self, run, now):
        if run.tries < T.C_EV_MATCH_RETRY:
            run.tries += 1
            run.deadline = self.add(now, T.TT_MATCH_RESPONSE)
            self._send_results(run)
        else:
            self.counts[C_T_RSP] += 1
            self._drop(run)

    def _drop_timeout(self, run, now):
        self._drop(run)   # a free run has no deadline: never called

    def _timeout_match(self, run, now):
        self.counts[C_T_MATCH] += 1
        self._drop(run)

    def _send(self, n):
        self.send(self.tx, n)

    # -- status --------------------------------------------------------------------------------------
    def status(self):
        return {"state": STATE_NAMES[self.state], "matches": self.matches,
                "ev_mac": _mac(self.ev_mac) if self.atten >= 0 else None,
                "atten_db": self.atten if self.atten >= 0 else None,
                "match_ms": self.match_ms if self.match_ms >= 0 else None,
                "runs": [[_mac(r.mac), RUN_STATE_NAMES[r.state], r.profiles, r.atten if r.atten < 255 else None]
                         for r in self.runs if r.state != R_FREE],
                "counts": {COUNTER_NAMES[i]: self.counts[i] for i in range(N_COUNTERS) if self.counts[i]}}


def _mac(b):
    return ":".join(["%02x" % x for x in b])


# RunID offset per message (messages without one are matched by MAC only)
_RUN_OFF = {
    m.CM_START_ATTEN_CHAR | m.IND: m.SA_RUN, m.CM_MNBC_SOUND | m.IND: m.MS_RUN,
    m.CM_ATTEN_CHAR | m.RSP: m.AC_RUN, m.CM_SLAC_MATCH | m.REQ: m.SM_RUN,
}
_LATE = EvseSlac._on_rsp_again
_NOTHING = {}  # type: dict
# run state -> {MMTYPE: handler}
_RUN_TABLE = (
    _NOTHING,
    {m.CM_START_ATTEN_CHAR | m.IND: EvseSlac._on_start, m.CM_MNBC_SOUND | m.IND: EvseSlac._on_sound,
     m.CM_ATTEN_PROFILE | m.IND: EvseSlac._on_profile},
    {m.CM_ATTEN_CHAR | m.RSP: EvseSlac._on_rsp, m.CM_START_ATTEN_CHAR | m.IND: _LATE,
     m.CM_MNBC_SOUND | m.IND: _LATE, m.CM_ATTEN_PROFILE | m.IND: _LATE},
    {m.CM_ATTEN_CHAR | m.RSP: _LATE, m.CM_VALIDATE | m.REQ: EvseSlac._on_validate,
     m.CM_SLAC_MATCH | m.REQ: EvseSlac._on_match},
)
# run state -> what its deadline means
_RUN_TIMEOUT = (EvseSlac._drop_timeout, EvseSlac._timeout_sounds, EvseSlac._timeout_rsp, EvseSlac._timeout_match)
