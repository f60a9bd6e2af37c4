# UnlockConnector (F05): this gateway has no cable lock of its own.
from ocpp import check


def handle(cl, p, mid):
    evse = check.field(p, "evseId", int, mid=mid)
    check.field(p, "connectorId", int, mid=mid)
    if cl.tx.active(evse):
        return {"status": "OngoingAuthorizedTransaction"}
    if not 1 <= evse <= cl.connectors:
        return {"status": "UnknownConnector"}
    return {"status": "UnlockFailed", "statusInfo": {"reasonCode": "NoLock"}}
