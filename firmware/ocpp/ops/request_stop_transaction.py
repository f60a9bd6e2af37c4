# RequestStopTransaction (F03): a running ISO 15118 session is stopped the protocol's way
# (StopCharging / -20 Terminate, then the EV's PowerDelivery(Stop) and SessionStop) and the
# transaction ends with it, stoppedReason Remote; without a session it ends at once.
from ocpp import check


def handle(cl, p, mid):
    tid = check.field(p, "transactionId", str, mid=mid)
    evse, t = cl.tx.find(tid)
    return {"status": "Accepted" if t else "Rejected"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        txm = cl.tx
        evse, t = txm.find(p["transactionId"])
        if t is not None:
            txm.remote_stop(evse)
