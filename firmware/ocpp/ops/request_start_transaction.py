# RequestStartTransaction (F01/F02): accepted when the EVSE is free and
# available; the transaction starts at once (the gateway closes the power
# path when POWER_MGR sees the session).
from ocpp import check


def handle(cl, p, mid):
    tok = check.field(p, "idToken", dict, mid=mid)
    check.field(tok, "idToken", str, mid=mid)
    check.field(tok, "type", str, mid=mid)
    rid = check.field(p, "remoteStartId", int, mid=mid)
    evse = check.field(p, "evseId", int, False, mid) or 1
    txm = cl.tx
    if not 1 <= evse <= cl.connectors or txm.active(evse) or cl.conn_status.get(evse) in ("Unavailable", "Faulted"):
        return {"status": "Rejected"}
    if cl.resv is not None and not cl.resv.allows(cl, evse, tok):
        return {"status": "Rejected"}
    cl.later.start = (evse, tok, rid)
    return {"status": "Accepted"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        evse, tok, rid = cl.later.take("start")
        cl.tx.start(evse, tok, "RemoteStart", rid)
