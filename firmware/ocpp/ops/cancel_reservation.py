# CancelReservation (H02).
from ocpp import check


def handle(cl, p, mid):
    rid = check.field(p, "reservationId", int, mid=mid)
    return {"status": "Accepted" if cl.resv.cancel(rid) else "Rejected"}
