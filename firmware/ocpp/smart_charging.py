# Smart charging (OCPP 2.0.1 K01-K08): profile validation, the installed
# profiles (persisted), and the composite schedule.
#
# Composite at instant t for an EVSE: per purpose, the valid profile with the
# highest stackLevel whose schedule has a period at t gives the limit (an
# EVSE-specific profile before a station-wide one of the same level); the
# TxProfile overrides the TxDefaultProfile; the result is the minimum with the
# ChargingStationMaxProfile. Limits are signed: negative = discharge (V2G).
# A purpose without a profile at t contributes nothing: absence is absence
# (None), never a sentinel number. Where nothing limits at all, a reported
# composite schedule uses the station's rated power (config "max_power_w"),
# which is a physical fact, and POWER_MGR gets no OCPP limit.
#
# Units: limits are converted with 230 V per phase (numberPhases, default 3)
# when the requested unit differs from the profile's.
from ocpp import clock
from ocpp.rpc import RpcError
from jezgro import persist

FILE = "ocpp_profiles.json"
PURPOSES = ("ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile")
KINDS = ("Absolute", "Relative", "Recurring")
V_PHASE = 230
DAY = 86400


def _fail(reason):
    raise ValueError(reason)


def validate(cl, evse, p):
    # Raises ValueError(reasonCode text) when the CSMS must get Rejected.
    for k in ("id", "stackLevel"):
        if not isinstance(p.get(k), int):
            _fail("%s missing" % k)
    purpose = p.get("chargingProfilePurpose")
    if purpose not in PURPOSES:
        _fail("purpose %s not accepted" % purpose)
    kind = p.get("chargingProfileKind")
    if kind not in KINDS:
        _fail("bad kind")
    if not 0 <= p["stackLevel"] <= cl.dm.int("SmartChargingCtrlr", "ProfileStackLevel"):
        _fail("stackLevel out of range")
    if kind == "Recurring" and p.get("recurrencyKind") not in ("Daily", "Weekly"):
        _fail("Recurring needs recurrencyKind")
    if purpose == "ChargingStationMaxProfile" and evse != 0:
        _fail("ChargingStationMaxProfile only on evseId 0")
    if purpose == "TxProfile":
        if evse == 0:
            _fail("TxProfile needs an EVSE")
        t = cl.tx.active(evse)
        if t is None or p.get("transactionId") != t["id"]:
            _fail("TxProfile without the matching active transaction")
    if not 0 <= evse <= cl.connectors:
        _fail("unknown EVSE")
    vf = p.get("validFrom")
    vt = p.get("validTo")
    if vf is not None and vt is not None and clock.parse(vt) <= clock.parse(vf):
        _fail("validTo not after validFrom")
    scheds = p.get("chargingSchedule")
    if not isinstance(scheds, list) or not 1 <= len(scheds) <= 3:
        _fail("chargingSchedule must have 1..3 entries")
    n_max = cl.dm.int("SmartChargingCtrlr", "PeriodsPerSchedule")
    for s in scheds:
        if s.get("chargingRateUnit") not in ("W", "A"):
            _fail("bad chargingRateUnit")
        if kind != "Relative" and "startSchedule" not in s:
            _fail("%s schedule needs startSchedule" % kind)
        if kind == "Relative" and "startSchedule" in s:
            _fail("Relative schedule must not have startSchedule")
        if "startSchedule" in s:
            clock.parse(s["startSchedule"])
        per = s.get("chargingSchedulePeriod")
        if not isinstance(per, list) or not 1 <= len(per) <= n_max:
            _fail("chargingSchedulePeriod must have 1..%d entries" % n_max)
        last = -1
        for q in per:
            sp = q.get("startPeriod")
            if not isinstance(sp, int) or sp <= last:
                _fail("periods must start at 0 and increase")
            if last < 0 and sp != 0:
                _fail("first period must start at 0")
            last = sp
            if not isinstance(q.get("limit"), (int, float)):
                _fail("limit missing")
            ph = q.get("numberPhases", 3)
            if not isinstance(ph, int) or not 1 <= ph <= 3:
                _fail("numberPhases must be 1..3")
    for old in cl.sc.profiles:
        if (old["evse"] == evse and old["p"]["chargingProfilePurpose"] == purpose and
                old["p"]["stackLevel"] == p["stackLevel"] and old["p"]["id"] != p["id"]):
            _fail("another profile has this purpose and stackLevel on the EVSE")


def _convert(limit, unit_from, unit_to, phases):
    if unit_from == unit_to:
        return limit
    if unit_to == "W":
        return limit * V_PHASE * phases
    return limit / (V_PHASE * phases)


def _ok(o):
    p = o.get("p") if isinstance(o, dict) else None
    return (isinstance(p, dict) and isinstance(o.get("evse"), int) and isinstance(p.get("id"), int)
            and isinstance(p.get("stackLevel"), int) and isinstance(p.get("chargingProfilePurpose"), str)
            and isinstance(p.get("chargingSchedule"), list))


def _check(d):
    # ocpp_profiles.json: [{"evse": n, "p": chargingProfile}]; a damaged profile is dropped
    return persist.entries(d, list, _ok)


class SmartCharging:
    def __init__(self, cl):
        self.cl = cl
        self.path = cl.fs + "/" + FILE
        self.profiles = persist.load_json(self.path, [], _check)  # [{"evse": n, "p": chargingProfile}]
        self.sent = None  # (limit, valid_until) last sent to POWER_MGR
        self.times = {}  # timestamp text -> unix s: evaluation runs every second, parsing allocates
        self.last_s = -1
        self.active_limit_w = None  # the composite-schedule limit in force, W (None: no limit)
        self.limit_msgs = 0  # POWER_LIMITS sent to POWER_MGR
        from ocpp.fallback import Fallback
        self.fallback = Fallback(cl)  # the offline fallback limit (ocpp.json "offline_fallback")

    def _t(self, text):
        t = self.times.get(text)
        if t is None:
            t = clock.parse(text)
            self.times[text] = t
        return t

    def save(self):
        self.times = {}
        persist.save_json(self.path, self.profiles)
        self.cl.dm.set("SmartChargingCtrlr", "Entries", str(len(self.profiles)), force=True)

    def install(self, evse, p):
        self.profiles = [o for o in self.profiles if o["p"]["id"] != p["id"]]
        self.profiles.append({"evse": evse, "p": p})
        self.save()

    def clear(self, pid=None, evse=None, purpose=None, level=None):
        keep = []
        n = 0
        for o in self.profiles:
            q = o["p"]
            if pid is not None:
                hit = q["id"] == pid
            else:
                hit = ((evse is None or o["evse"] == evse) and
                       (purpose is None or q["chargingProfilePurpose"] == purpose) and
                       (level is None or q["stackLevel"] == level))
            if hit:
                n += 1
            else:
                keep.append(o)
        self.profiles = keep
        if n:
            self.save()
        return n

    def drop_tx(self, tx_id):
        # TxProfiles end with their transaction (K01.FR.20-ish).
        self.profiles = [o for o in self.profiles if o["p"].get("transactionId") != tx_id
                         or o["p"]["chargingProfilePurpose"] != "TxProfile"]
        self.save()

    # --- evaluation ----------------------------------------------------------
    def _start(self, o, s, t):
        # Absolute start of schedule s of profile o that applies at t, or None.
        p = o["p"]
        kind = p["chargingProfileKind"]
        if kind == "Relative":
            tx = self.cl.tx.active(o["evse"]) if o["evse"] else None
            return tx["t0"] if tx and "t0" in tx else None
        st = self._t(s["startSchedule"])
        if kind == "Recurring":
            per = DAY if p["recurrencyKind"] == "Daily" else 7 * DAY
            if t >= st:
                st += ((t - st) // per) * per
        return st

    def _profile_limit(self, o, t, unit):
        # (limit, next change time) of one profile at t, or (None, next change) when it does not apply.
        p = o["p"]
        nxt = None
        vf = self._t(p["validFrom"]) if "validFrom" in p else None
        vt = self._t(p["validTo"]) if "validTo" in p else None
        if vf is not None and t < vf:
            return None, vf
        if vt is not None and t >= vt:
            return None, None
        nxt = vt
        for s in p["chargingSchedule"]:
            st = self._start(o, s, t)
            if st is None:
                continue
            if t < st:
                nxt = st if nxt is None or st < nxt else nxt
                continue
            off = t - st
            dur = s.get("duration")
            if dur is not None and off >= dur:
                if p["chargingProfileKind"] == "Recurring":
                    # over for this recurrence: it applies again at the next one (a change, too)
                    c = st + (DAY if p["recurrencyKind"] == "Daily" else 7 * DAY)
                    nxt = c if nxt is None or c < nxt else nxt
                continue
            cur = None
            for q in s["chargingSchedulePeriod"]:
                if q["startPeriod"] <= off:
                    cur = q
                else:
                    c = st + q["startPeriod"]
                    nxt = c if nxt is None or c < nxt else nxt
                    break
            if cur is None:
                continue
            if dur is not None:
                c = st + dur
                nxt = c if nxt is None or c < nxt else nxt
            if p["chargingProfileKind"] == "Recurring":
                per = DAY if p["recurrencyKind"] == "Daily" else 7 * DAY
                c = st + per
                nxt = c if nxt is None or c < nxt else nxt
            return _convert(cur["limit"], s["chargingRateUnit"], unit, cur.get("numberPhases", 3)), nxt
        return None, nxt

    def limit_at(self, evse, t, unit="W", cache=None):
        # (limit or None, next time anything may change or None).
        # cache (composite()): one slot per profile holding its (limit, next change) from an earlier
        # instant, reused while t is before that change: a composite schedule then evaluates each
        # profile once per change of its own, not once per change of any profile (docs/performance.md)
        nxt = None
        by_purpose = {}
        profiles = self.profiles
        for purpose in PURPOSES:
            best = None
            for k in range(len(profiles)):
                o = profiles[k]
                p = o["p"]
                if p["chargingProfilePurpose"] != purpose or o["evse"] not in (0, evse):
                    continue
                c = cache[k] if cache is not None else None
                if c is None or (c[1] is not None and c[1] <= t):
                    c = self._profile_limit(o, t, unit)
                    if cache is not None:
                        cache[k] = c
                lim, n = c
                if n is not None and n > t:
                    nxt = n if nxt is None or n < nxt else nxt
                if lim is None:
                    continue
                key = (p["stackLevel"], o["evse"])
                if best is None or key > best[0]:
                    best = (key, lim)
            if best is not None:
                by_purpose[purpose] = best[1]
        tx = by_purpose.get("TxProfile")
        if tx is None:
            tx = by_purpose.get("TxDefaultProfile")
        mx = by_purpose.get("ChargingStationMaxProfile")
        if tx is None:
            return mx, nxt
        if mx is None:
            return tx, nxt
        return (tx if tx < mx else mx), nxt

    def composite(self, evse, t0, duration, unit):
        rated = self.cl.cfg.get("max_power_w", 22000)
        if unit == "A":
            rated = rated / (V_PHASE * 3)
        periods = []  # type: list
        cache = [None] * len(self.profiles)  # type: list
        t = t0
        while t < t0 + duration:
            lim, nxt = self.limit_at(evse, t, unit, cache)
            v = rated if lim is None else lim
            v = round(v, 1)
            if not periods or periods[-1]["limit"] != v:
                periods.append({"startPeriod": t - t0, "limit": v})
            if nxt is None or nxt <= t:
                break
            t = nxt
            if len(periods) >= 24:
                break
        return {"evseId": evse, "duration": duration, "scheduleStart": clock.iso(t0),
                "chargingRateUnit": unit, "chargingSchedulePeriod": periods}

    def tick(self, cl):
        now = int(clock.now())
        if now == self.last_s:
            return
        self.last_s = now
        pm = cl.power_mgr
        lim, nxt = self.limit_at(1, now, "W")
        fb = self.fallback.update()
        key = (lim, nxt, fb)
        if key == self.sent:
            return
        self.active_limit_w = lim
        imp, exp, flags = self.fallback.combine(lim)
        if pm >= 0 and (flags or self.limit_msgs):
            # the composite-schedule limit, valid until the schedule's next change (the fallback until
            # replaced: OCPP_CLIENT gone with it must not lift it); flags 0 lifts our limit (profile
            # cleared, fallback over)
            import msgs
            valid = (nxt - now) * 1000 if nxt is not None and not fb else 0
            if msgs.send_power_limits(cl.ctx, pm, imp, exp, msgs.SRC_OCPP, flags, valid) != 0:
                return  # POWER_MGR's mailbox full: again next second
            self.limit_msgs += 1
        if self.sent is not None and fb != self.sent[2] and cl.tx is not None:
            cl.tx.rate_changed()  # the CSMS learns when the fallback began and ended (offline events)
        self.sent = key


def reject_info(reason):
    return {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidProfile",
                                                 "additionalInfo": reason[:500]}}


def check_evse(p, mid):
    e = p.get("evseId")
    if not isinstance(e, int) or isinstance(e, bool):
        raise RpcError("TypeConstraintViolation", "evseId must be an integer", mid)
    return e
