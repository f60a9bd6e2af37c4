# TriggerMessage (F06): the CSMS asks for one of our messages now.
from ocpp import check
from ocpp.ops import status_notification

SUPPORTED = ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent")


def handle(cl, p, mid):
    msg = check.field(p, "requestedMessage", str, mid=mid)
    if msg not in SUPPORTED:
        return {"status": "NotImplemented"}
    if msg == "BootNotification" and cl.registered:
        return {"status": "Rejected"}  # F06.FR.17
    return {"status": "Accepted"}


def after(cl, p, res):
    if res["status"] != "Accepted":
        return
    msg = p["requestedMessage"]
    evse = p.get("evse", {}).get("id")
    evses = [evse] if evse else list(range(1, cl.connectors + 1))
    if msg == "BootNotification":
        cl.boot_status = None
    elif msg == "Heartbeat":
        from ocpp.ops import heartbeat
        cl.call("Heartbeat", {}, heartbeat.confirm)
    elif msg == "StatusNotification":
        for e in evses:
            status_notification.send(cl, e, 1, cl.conn_status.get(e, "Available"))
    elif msg == "MeterValues":
        for e in evses:
            mv = cl.tx.aligned(None, "Trigger")
            if mv:
                cl.call("MeterValues", {"evseId": e, "meterValue": mv})
    elif msg == "TransactionEvent":
        txm = cl.tx
        for e in evses:
            if txm.active(e):
                txm._event(e, "Updated", "Trigger", cl.dm.get("SampledDataCtrlr", "TxUpdatedMeasurands"), "Trigger")
