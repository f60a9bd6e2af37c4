# RequestStartTransaction (F01/F02): accepted when the EVSE is available and not yet authorized (a
# transaction started at plug-in is answered with its transactionId, F02). The idToken binds
# to the EVSE's ISO 15118 session: one waiting in Authorization is authorized now, otherwise the next
# one within TxCtrlr.EVConnectionTimeOut is (ocpp/transaction.py); with
# AuthCtrlr.AuthorizeRemoteStart the token goes through Authorize first.
from ocpp import check


def handle(cl, p, mid):
    tok = check.field(p, "idToken", dict, mid=mid)
    check.field(tok, "idToken", str, mid=mid)
    check.field(tok, "type", str, mid=mid)
    rid = check.field(p, "remoteStartId", int, mid=mid)
    evse = check.field(p, "evseId", int, False, mid) or 1
    txm = cl.tx
    if not 1 <= evse <= cl.connectors or cl.conn_status.get(evse) in ("Unavailable", "Faulted"):
        return {"status": "Rejected"}
    t = txm.active(evse)
    if t is not None and t.get("token") is not None:
        return {"status": "Rejected"}  # already authorized
    if cl.resv is not None and not cl.resv.allows(cl, evse, tok):
        return {"status": "Rejected"}
    cl.later.start = (evse, tok, rid)
    if t is not None:
        # F02: a transaction started at plug-in (TxStartPoint EVConnected) is the one this authorizes
        return {"status": "Accepted", "transactionId": t["id"]}
    return {"status": "Accepted"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        evse, tok, rid = cl.later.take("start")
        from ocpp.ops import authorize
        if cl.dm.get("AuthCtrlr", "AuthorizeRemoteStart") == "true":
            authorize.request(cl, evse, tok, "RemoteStart", rid)
        else:
            authorize.decide(cl, evse, tok, "RemoteStart", rid, "Accepted")
