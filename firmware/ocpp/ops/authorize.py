# Authorize (C01/C07/C10/C12/C13/C14/C15): an idToken presented for an EVSE (the EV's EVCCID with
# Autocharge, a RequestStartTransaction's token when AuthCtrlr.AuthorizeRemoteStart, an eMAID) is
# checked with the CSMS; Accepted answers are kept in the authorization cache (AuthCacheCtrlr.Enabled,
# ocpp_auth.json; never for tokens of the local list). Before asking, with AuthCtrlr.LocalPreAuthorize,
# an Accepted token of the local authorization list (ocpp/local_list.py), else of the cache, is
# accepted at once; a listed token of another status is decided by the list when
# LocalAuthListCtrlr.DisablePostAuthorize, else asked. Without the CSMS (offline, or no answer within
# MessageTimeout), with AuthCtrlr.LocalAuthorizeOffline: the list's status of a listed token, else a
# cached Accepted; a token in neither is accepted only with OfflineTxForUnknownIdEnabled; else
# rejected. The decision goes to the transaction (cl.tx.authorized) and to a waiting ISO 15118 session
# (cl.iso.auth_result: Accepted lets its AuthorizationReq finish, anything else ends it without power).
from micropython import const
from jezgro import persist
from ocpp import local_list

CACHE_FILE = "ocpp_auth.json"
CACHE_MAX = const(32)
A = "AuthCtrlr"


def _cache_check(d):
    return persist.entries(d, str, lambda v: v == "Accepted")


class Cache:
    def __init__(self, fs):
        self.path = fs + "/" + CACHE_FILE
        self.d = persist.load_json(self.path, {}, _cache_check)  # "type:idToken" -> status

    def put(self, token, status):
        k = "%s:%s" % (token.get("type"), token.get("idToken"))
        if status == "Accepted":
            if self.d.get(k) == status:
                return
            if len(self.d) >= CACHE_MAX:
                self.d.pop(next(iter(self.d)))
            self.d[k] = status
        elif self.d.pop(k, None) is None:
            return
        persist.save_json(self.path, self.d)

    def accepted(self, token):
        return self.d.get("%s:%s" % (token.get("type"), token.get("idToken"))) == "Accepted"


def _cache(cl):
    if cl.auth_cache is None:
        cl.auth_cache = Cache(cl.fs)
    return cl.auth_cache


def _listed(cl, token):
    return local_list.of(cl).status(token)


def offline_status(cl, token):
    dm = cl.dm
    listed = _listed(cl, token)
    if dm.get(A, "LocalAuthorizeOffline") == "true":
        if listed is not None:
            return listed
        if _cache(cl).accepted(token):
            return "Accepted"
    if listed is None and dm.get(A, "OfflineTxForUnknownIdEnabled") == "true":
        return "Accepted"
    return "Invalid"


def pre_authorized(cl, token):
    # -> the status decided locally without asking the CSMS, or None (ask)
    dm = cl.dm
    listed = _listed(cl, token)
    if dm.get(A, "LocalPreAuthorize") == "true":
        if listed == "Accepted":
            return listed
        if listed is None and dm.get("AuthCacheCtrlr", "Enabled") == "true" and _cache(cl).accepted(token):
            return "Accepted"
    if listed is not None and listed != "Accepted" and dm.get(local_list.COMP, "DisablePostAuthorize") == "true":
        return listed
    return None


def request(cl, evse, token, trigger="Authorized", remote_id=None):
    # Online, or offline for less than OfflineThreshold (a reconnect, the first connection after
    # boot): decided locally when the list or cache may (pre_authorized), else Authorize is queued,
    # and the offline rules apply when it has no answer within OfflineThreshold (tick()). Offline
    # for longer: the offline rules now.
    c = "OCPPCommCtrlr"
    limit_ms = cl.dm.int(c, "OfflineThreshold") * 1000
    if cl.connected and cl.registered or cl.since(cl.offline_since_ms) < limit_ms:
        status = pre_authorized(cl, token)
        if status is not None:
            decide(cl, evse, token, trigger, remote_id, status)
            return
        cl.auth_pending[evse] = (token, cl.ctx.ticks_add(cl.now(), limit_ms))
        cl.call("Authorize", {"idToken": token}, _confirm_for(evse, token, trigger, remote_id))
    else:
        decide(cl, evse, token, trigger, remote_id, offline_status(cl, token))


def tick(cl):
    # a queued Authorize without answer in time: decided by the offline rules
    pend = cl.auth_pending
    if not pend:
        return
    for evse, (token, deadline) in list(pend.items()):
        if cl.ctx.ticks_diff(cl.now(), deadline) >= 0:
            del pend[evse]
            decide(cl, evse, token, "Authorized", None, offline_status(cl, token))


def decide(cl, evse, token, trigger, remote_id, status):
    cl.auth_last = status
    ok = status == "Accepted"
    if ok:
        cl.tx.authorized(evse, token, trigger, remote_id)
    if cl.iso is not None:
        cl.iso.auth_result(evse, ok)


def _confirm_for(evse, token, trigger, remote_id):
    def confirm(cl, req, res, err):
        pend = cl.auth_pending
        if pend.get(evse, (None,))[0] is not token:
            return  # decided meanwhile (offline rules after the deadline, or a newer request)
        del pend[evse]
        if res is None:
            status = offline_status(cl, token)  # no answer: as if offline
        else:
            status = res["idTokenInfo"]["status"]
            if cl.dm.get("AuthCacheCtrlr", "Enabled") == "true" and _listed(cl, token) is None:
                _cache(cl).put(token, status)
        decide(cl, evse, token, trigger, remote_id, status)
    return confirm
