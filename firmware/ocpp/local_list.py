# The local authorization list (OCPP 2.0.1 D01/D02/C13/C14): idTokens the CSMS sends with SendLocalList,
# consulted by ops/authorize.py before (LocalPreAuthorize) or instead of (offline, LocalAuthorizeOffline)
# an Authorize. Kept in ocpp_locallist.json through jezgro.persist (atomic replace; a damaged file is
# set aside and reported, and the list is empty with version 0 until the CSMS sends a new one).
#
# File: {"version": N, "tokens": {"<type>:<idToken>": "<status>"}}. Only the idTokenInfo status is
# kept: what authorization decides on (the groupIdToken, language, personalMessage and expiry of a
# cached entry are for display and cache management, which this station does not do for the list).
# Bounded: at most MAX_ENTRIES tokens (~4 KB of JSON); an update that would exceed it fails whole.
from micropython import const
from jezgro import persist

FILE = "ocpp_locallist.json"
MAX_ENTRIES = const(64)
STATUSES = ("Accepted", "Blocked", "ConcurrentTx", "Expired", "Invalid", "NoCredit", "NotAllowedTypeOfEVSE",
            "NotAtThisLocation", "NotAtThisTime", "Unknown")
COMP = "LocalAuthListCtrlr"


def key(token):
    return "%s:%s" % (token.get("type"), token.get("idToken"))


def _check(d):
    if not isinstance(d, dict) or not isinstance(d.get("version"), int) or d["version"] < 0:
        return None, "version is not an integer >= 0"
    tokens, bad = persist.entries(d.get("tokens", {}), dict, lambda v: v in STATUSES)
    if tokens is None:
        return None, "tokens: " + bad
    return {"version": d["version"], "tokens": tokens}, bad


class LocalList:
    def __init__(self, cl):
        self.cl = cl
        self.path = cl.fs + "/" + FILE
        d = persist.load_json(self.path, {"version": 0, "tokens": {}}, _check)
        self.version = d["version"]
        self.tokens = d["tokens"]
        self._count()

    def enabled(self):
        return self.cl.dm.get(COMP, "Enabled") == "true"

    def status(self, token):
        # -> the list's status of this idToken, or None (not in the list, or the list is disabled)
        return self.tokens.get(key(token)) if self.enabled() else None

    def update(self, version, full, entries):
        # SendLocalList: -> "Accepted" / "Failed" / "VersionMismatch". entries: [(key, status or None)],
        # None removes (Differential only). Nothing changes unless all of it applies.
        if not self.enabled() or version <= 0:
            return "Failed"
        if not full and version <= self.version:
            return "VersionMismatch"
        tokens = {} if full else dict(self.tokens)
        for k, st in entries:
            if st is None:
                tokens.pop(k, None)
            else:
                tokens[k] = st
        if len(tokens) > MAX_ENTRIES:
            return "Failed"
        if not persist.save_json(self.path, {"version": version, "tokens": tokens}):
            return "Failed"
        self.version = version
        self.tokens = tokens
        self._count()
        return "Accepted"

    def _count(self):
        self.cl.dm.set(COMP, "Entries", str(len(self.tokens)), force=True)


def of(cl):
    # the client's list, loaded on first use
    if cl.local_list is None:
        cl.local_list = LocalList(cl)
    return cl.local_list
