# RequestStopTransaction (F03): ends the transaction with stoppedReason Remote.
from ocpp import check


def handle(cl, p, mid):
    tid = check.field(p, "transactionId", str, mid=mid)
    evse, t = cl.tx.find(tid)
    return {"status": "Accepted" if t else "Rejected"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        txm = cl.tx
        evse, t = txm.find(p["transactionId"])
        txm.stop(evse, "RemoteStop", "Remote")
