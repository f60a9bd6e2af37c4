# TRANSLATOR's state that must survive its own crash and a reboot: the 1.6 transactions the
# gateway numbered (1.6 transactionId -> the 2.0.1 transaction, its seqNo), the answers of the
# last CALLs handled (the replay memo: a CALL handled again after a crash gets the same answer
# and changes nothing twice) and the authorization cache. One file, bridge_tx.json, through
# jezgro.persist (never raises; damage is reported and the state starts afresh).
from micropython import const
from jezgro import persist

FILE = "bridge_tx.json"
MAX_MEMO = const(48)
MAX_AUTH = const(64)
MAX_RESV = const(16)
STATS = ("translated", "rejected", "queued", "values_dropped", "local_only", "unknown_tx", "replayed", "calls")


def _check(d):
    if not isinstance(d, dict):
        return None, "not a JSON object"
    nxt = d.get("next", 1)
    if not isinstance(nxt, int) or isinstance(nxt, bool) or nxt < 1:
        return None, "next is not a positive integer"
    tx = d.get("tx", {})
    memo = d.get("memo", [])
    auth = d.get("auth", {})
    if not isinstance(tx, dict) or not isinstance(memo, list) or not isinstance(auth, dict):
        return None, "tx/memo/auth of the wrong type"
    for t in tx.values():
        if not (isinstance(t, dict) and isinstance(t.get("id"), str) and isinstance(t.get("seq"), int)
                and isinstance(t.get("charger"), int) and isinstance(t.get("conn"), int)):
            return None, "a transaction is damaged"
    remote = d.get("remote", {})
    profiles = d.get("profiles", {})
    resv = d.get("resv", {})
    if not isinstance(remote, dict) or not isinstance(profiles, dict) or not isinstance(resv, dict):
        return None, "remote/profiles/resv of the wrong type"
    for r in resv.values():
        if not (isinstance(r, list) and len(r) == 3 and isinstance(r[0], int) and isinstance(r[1], int)):
            return None, "a reservation is damaged"
    return {"next": nxt, "tx": tx, "memo": memo, "auth": auth, "remote": remote, "profiles": profiles,
            "resv": resv}, 0


class State:
    def __init__(self, fs_root, n_chargers, heartbeat_s):
        self.path = fs_root + "/" + FILE
        d = persist.load_json(self.path, {}, _check)
        self.next = d.get("next", 1)
        self.tx = d.get("tx", {})  # str(1.6 transactionId) -> {id, seq, charger, conn, state}
        self.memo = d.get("memo", [])  # [[key, answer], ...] oldest first
        self.auth = d.get("auth", {})  # idTag -> 1.6 status, the CSMS's last word
        self.remote = d.get("remote", {})  # "<charger>/<connector>" -> remoteStartId of an accepted remote start
        self.profiles = d.get("profiles", {})  # str(charging profile id) -> charger index it was set on
        # str(reservationId) -> [charger index, 1.6 connectorId, expiry] of a reservation a charger accepted
        self.resv = d.get("resv", {})
        self.heartbeat_s = heartbeat_s
        self.dirty = False  # changed by a CALL that is not in translator.CHANGES_STATE: save it too
        self.boot = [None] * n_chargers  # the charger's BootNotification (vendor, model, ...)
        self.stats = [dict((k, 0) for k in STATS) for _ in range(n_chargers)]

    def save(self):
        self.dirty = False
        return persist.save_json(self.path, {"next": self.next, "tx": self.tx, "memo": self.memo,
                                             "auth": self.auth, "remote": self.remote, "profiles": self.profiles, "resv": self.resv})

    def answered(self, key):
        for k, a in self.memo:
            if k == key:
                return a
        return None

    def remember(self, key, answer):
        self.memo.append([key, answer])
        if len(self.memo) > MAX_MEMO:
            self.memo.pop(0)

    def remember_auth(self, tag, status):
        if tag not in self.auth and len(self.auth) >= MAX_AUTH:
            self.auth.pop(next(iter(self.auth)))
        self.auth[tag] = status

    def add_resv(self, rid, charger, conn, expiry):
        # a reservation made replaces any other of that connector (1.6: one per connector); bounded, oldest out
        for k, r in list(self.resv.items()):
            if r[0] == charger and r[1] == conn:
                self.resv.pop(k)
        if len(self.resv) >= MAX_RESV:
            self.resv.pop(next(iter(self.resv)))
        self.resv[str(rid)] = [charger, conn, expiry]

    def tx_on(self, charger, conn):
        for t in self.tx.values():
            if t["charger"] == charger and t["conn"] == conn:
                return t
        return None

    def new_tx(self, charger, charger_id, conn):
        # -> (1.6 transactionId, state entry) of a new transaction
        tid = self.next
        self.next += 1
        t = {"id": "%s-%d" % (charger_id, tid), "seq": 0, "charger": charger, "conn": conn, "state": "Charging"}
        self.tx[str(tid)] = t
        return tid, t

    def tid_of(self, tx_id):
        # the 1.6 transactionId of a 2.0.1 transactionId, or None
        for k, t in self.tx.items():
            if t["id"] == tx_id:
                return int(k)
        return None

    def end_tx(self, tid):
        self.tx.pop(str(tid), None)
