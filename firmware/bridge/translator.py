# TRANSLATOR's work loop, apart from the service glue: takes the source messages from the
# hand-off inbox, translates them (bridge/translate16.py), puts the 2.0.1 messages upstream and
# the answers back, in an order that makes a crash at any point harmless:
#   1. translate from the state as saved (a restarted TRANSLATOR reloads it from bridge_tx.json)
#   2. push the upstream messages, keyed "<inbox key>/<part>" (the queue refuses a key twice)
#   3. save the state with the answer in the replay memo
#   4. put the answer, take the entry out of the inbox
# A crash before 3 repeats 1-2 identically (same state, same keys: nothing twice); after 3 the
# memo gives the same answer without translating again.
from micropython import const
from bridge import translate16, translate201
from bridge.translate201 import Local
from bridge.tables201 import TO_ALL
from bridge.handoff import BUS, MAX_UP, MAX_UP_BYTES, UP_QUEUED
from bridge.translate16 import Untranslatable, WAIT
from bridge.txstate import State
from ocpp.rpc import CALLRESULT, CALLERROR

CHANGES_STATE = ("StartTransaction", "StopTransaction", "Authorize")
# a CSMS request waits this long for the charger's answer (PROTOCOL_A gives up on the charger after
# central16.DOWN_MS, less than this), well inside the CSMS's own timeout for the station's answer
DOWN_WAIT_MS = const(9000)
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _format_error(action, e):
    return [CALLERROR, ["FormationViolation", "%s: %s" % (action, e)]]


class Translator:
    def __init__(self, ctx, cfg):
        self.ctx = ctx
        self.cfg = cfg
        self.st = State(ctx.fs_root, len(cfg["chargers"]), cfg["heartbeat_s"])
        self.log = []  # the last untranslatable or malformed messages (charger, action, why)
        self.latency_ms = 0  # arrival -> answer of the last message answered
        self.sent = {}  # key of a CSMS request -> [action, memo for translate201.answer, charger] once sent down
        self.csms = {"forwarded": 0, "answered_locally": 0, "not_supported": 0, "no_answer": 0, "malformed": 0,
                     "late_answers": 0}

    def status(self):
        out = {}
        for i, ch in enumerate(self.cfg["chargers"]):
            out[ch["id"]] = {"stats": self.st.stats[i], "boot": self.st.boot[i],
                             "open_tx": [t["id"] for t in self.st.tx.values() if t["charger"] == i]}
        return {"chargers": out, "inbox": len(BUS.inbox), "up": len(BUS.up), "duplicates": BUS.duplicates,
                "refused": BUS.refused, "inbox_bytes": BUS.inbox_bytes, "up_bytes": BUS.up_bytes, "online": BUS.online, "log": self.log, "latency_ms": self.latency_ms,
                "csms_requests": self.csms}

    def _note(self, idx, action, why):
        who = self.cfg["chargers"][idx]["id"] if idx >= 0 else "CSMS"
        self.log.append([who, action, why[:80]])
        BUS.note("TRANSLATOR", who, "%s: %s" % (action, why))
        if len(self.log) > 8:
            self.log.pop(0)

    def _rollback(self):
        # undo what a translation changed: the state as last saved (every translation that changes it
        # saves it), with the counters and boot records, which are not saved
        old = self.st
        self.st = State(self.ctx.fs_root, len(self.cfg["chargers"]), self.cfg["heartbeat_s"])
        self.st.stats = old.stats
        self.st.boot = old.boot

    def step(self):
        # -> (answers put, upstream messages put)
        n_ans = n_up = 0
        k = self.ctx
        for e in list(BUS.inbox):
            if len(BUS.up) > MAX_UP - 4 or (BUS.up and BUS.up_bytes + 2 * e[5] > MAX_UP_BYTES):
                break  # back-pressure: nothing is translated that could not be put upstream whole
            key, idx, action, p, t_ms = e[:5]
            stats = self.st.stats[idx]
            ans = self.st.answered(key)
            if ans is not None:
                stats["replayed"] += 1
            else:
                reply = BUS.replies.pop(key, None)
                if reply is None and k.ticks_diff(k.ticks_ms(), t_ms) > self.cfg["auth_wait_ms"]:
                    reply = [None, "no answer in time"]
                ch = self.cfg["chargers"][idx]
                try:
                    res, ups = translate16.translate(self.st, ch, idx, key, action, p, reply, BUS.online,
                                                     self.cfg["offline_auth"])
                except Untranslatable as u:
                    res, ups = None, []
                    ans = [CALLERROR, [u.code, str(u)]]
                    self._note(idx, action, str(u))
                except MALFORMED as x:
                    self._rollback()
                    res, ups = None, []
                    ans = _format_error(action, x)
                    self._note(idx, action, "malformed: %s" % (x,))
                if not BUS.up_fits(ups):
                    self._rollback()  # the upstream queue is full (count or bytes): wait, translate again later
                    break
                if res == WAIT:
                    for part, a, up, kind in ups:
                        if BUS.push_up(key + "/" + part, a, up, kind):
                            n_up += 1
                    continue
                for part, a, up, kind in ups:
                    BUS.push_up(key + "/" + part, a, up, kind)
                    n_up += 1
                    stats["translated"] += 1
                    if not BUS.online:
                        stats["queued"] += 1
                if ans is None:
                    ans = [CALLRESULT, res]
                if action in CHANGES_STATE or self.st.dirty or [u for u in ups if u[3] == UP_QUEUED]:
                    self.st.remember(key, ans)
                    self.st.save()
            if ans[0] == CALLERROR:
                stats["rejected"] += 1
            stats["calls"] += 1
            BUS.answers[key] = ans
            BUS.done_in(key)
            self.latency_ms = k.ticks_diff(k.ticks_ms(), t_ms)
            n_ans += 1
        return n_ans, n_up

    # --- CSMS -> charger ---------------------------------------------------------------------
    def _reply(self, key, payload, err):
        BUS.csms_out.append([key[2:], payload, err])
        BUS.done_csms(key)
        self.sent.pop(key, None)

    def _drop_late(self):
        # a charger's answer that came after its request was answered without it (DOWN_WAIT_MS passed)
        # would stay in down_res for ever: dropped here, counted
        for rk in list(BUS.down_res):
            base = rk.split("#")[0]
            if base not in self.sent and not [e for e in BUS.csms_in if e[0] == base]:
                BUS.down_res.pop(rk)
                self.csms["late_answers"] += 1

    def step_csms(self):
        # -> (CALLs put for the chargers, answers put for the CSMS)
        n_down = n_out = 0
        k = self.ctx
        self._drop_late()
        for key, action, p, t_ms in list(BUS.csms_in):
            if action in TO_ALL:
                n_d, n_o = self._to_all(key, action, p, t_ms)
                n_down += n_d
                n_out += n_o
                continue
            s = self.sent.get(key)
            if s is None:
                try:
                    idx, a16, p16, memo = translate201.request(self.st, self.cfg, action, p)
                except Local as loc:
                    self.csms["answered_locally"] += 1
                    self._note(-1, action, str(loc))
                    self._reply(key, loc.payload, None)
                    n_out += 1
                    continue
                except Untranslatable as u:
                    self.csms["not_supported"] += 1
                    self._reply(key, None, (u.code, str(u)))
                    n_out += 1
                    continue
                except MALFORMED as x:
                    self.csms["malformed"] += 1
                    self._reply(key, None, ("FormatViolation", "%s: %s" % (action, x)))
                    n_out += 1
                    continue
                BUS.push_down(key, idx, a16, p16)
                self.sent[key] = s = [action, memo, idx]
                self.csms["forwarded"] += 1
                n_down += 1
            res = BUS.down_res.pop(key, None)
            if res is None:
                if k.ticks_diff(k.ticks_ms(), t_ms) < DOWN_WAIT_MS:
                    continue
                res = [None, "no answer in time"]
            err = None
            if res[0] is None:
                self.csms["no_answer"] += 1
                self._note(s[2], action, "charger: %s" % (res[1],))
                payload = translate201.no_answer(action, res[1])
                if payload is None:
                    err = ("GenericError", "charger %s: %s" % (self.cfg["chargers"][s[2]]["id"], res[1]))
            else:
                try:
                    payload = translate201.answer(self.st, self.cfg, action, s[1], res[0])
                    self.st.save()
                except MALFORMED as x:
                    payload = None
                    err = ("GenericError", "charger's %s answer unusable: %s" % (action, x))
            self._reply(key, payload, err)
            n_out += 1
        return n_down, n_out

    def _to_all(self, key, action, p, t_ms):
        # a request for every charger (SendLocalList, GetLocalListVersion): the same 1.6 CALL to each,
        # keyed "<key>#<charger>", the answers combined once all are in or DOWN_WAIT_MS has passed
        k = self.ctx
        s = self.sent.get(key)
        if s is None:
            try:
                a16, p16 = translate201.request_all(action, p)
            except MALFORMED as x:
                self.csms["malformed"] += 1
                self._reply(key, None, ("FormatViolation", "%s: %s" % (action, x)))
                return 0, 1
            targets = translate201.all_chargers(self.cfg)
            for i in targets:
                BUS.push_down("%s#%d" % (key, i), i, a16, p16)
            self.sent[key] = s = [action, {}, -1, targets]
            self.csms["forwarded"] += 1
            if targets:
                return len(targets), 0
        got = s[1]
        for i in s[3]:
            if i not in got:
                res = BUS.down_res.pop("%s#%d" % (key, i), None)
                if res is not None:
                    got[i] = res
        late = k.ticks_diff(k.ticks_ms(), t_ms) >= DOWN_WAIT_MS
        if len(got) < len(s[3]) and not late:
            return 0, 0
        results = []
        for i in s[3]:
            res = got.get(i) or [None, "no answer in time"]
            if res[0] is None:
                self.csms["no_answer"] += 1
                self._note(i, action, "charger: %s" % (res[1],))
            results.append((i, res[0], res[1] if res[0] is None else None))
        try:
            payload, err = translate201.combine(self.cfg, action, results), None
        except MALFORMED as x:
            payload, err = None, ("GenericError", "a charger's %s answer unusable: %s" % (action, x))
        self._reply(key, payload, err)
        return 0, 1
