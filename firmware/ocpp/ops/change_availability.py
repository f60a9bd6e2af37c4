# ChangeAvailability (G03/G04): Scheduled while a transaction runs on the EVSE.
from ocpp import check
from ocpp.ops import status_notification


def handle(cl, p, mid):
    op = check.enum(p, "operationalStatus", ("Inoperative", "Operative"), mid=mid)
    evse = p.get("evse")
    ids = [evse["id"]] if isinstance(evse, dict) and evse.get("id") else list(range(1, cl.connectors + 1))
    for e in ids:
        if not 1 <= e <= cl.connectors:
            return {"status": "Rejected"}
    txm = cl.tx
    if any(txm.active(e) for e in ids):
        cl.later.availability_on_idle = (ids, op)
        return {"status": "Scheduled"}
    cl.later.availability = (ids, op)
    return {"status": "Accepted"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        ids, op = cl.later.take("availability")
        for e in ids:
            status_notification.send(cl, e, 1, "Available" if op == "Operative" else "Unavailable")
