# ReserveNow (H01): an Available EVSE without a transaction can be reserved.
from ocpp import check, clock


def handle(cl, p, mid):
    rid = check.field(p, "id", int, mid=mid)
    until = clock.parse(check.field(p, "expiryDateTime", str, mid=mid))
    tok = check.field(p, "idToken", dict, mid=mid)
    check.field(tok, "idToken", str, mid=mid)
    evse = check.field(p, "evseId", int, False, mid)
    if evse is None:
        free = [e for e in range(1, cl.connectors + 1) if _free(cl, e)]
        if not free:
            return {"status": "Occupied"}
        evse = free[0]
    if not 1 <= evse <= cl.connectors:
        return {"status": "Rejected"}
    st = cl.conn_status.get(evse, "Available")
    if st == "Faulted":
        return {"status": "Faulted"}
    if st == "Unavailable":
        return {"status": "Unavailable"}
    if not _free(cl, evse):
        return {"status": "Occupied"}
    cl.later.reservation = (rid, evse, until, tok, p.get("groupIdToken"))
    return {"status": "Accepted"}


def _free(cl, e):
    r = cl.resv.by_evse.get(str(e))
    return not cl.tx.active(e) and cl.conn_status.get(e, "Available") == "Available" and r is None


def after(cl, p, res):
    if res["status"] == "Accepted":
        cl.resv.reserve(*cl.later.take("reservation"))
