# BootNotification (B01-B03): Accepted registers the station and sets the
# heartbeat interval; Pending/Rejected retry after `interval` (only requests
# the CSMS itself sends are answered meanwhile).
from ocpp import clock


def station(c):
    cs = {"model": c.get("model", "JEZGRO-GW"), "vendorName": c.get("vendor", "JEZGRO")}
    if c.get("firmware"):
        cs["firmwareVersion"] = c["firmware"]
    if c.get("serial"):
        cs["serialNumber"] = c["serial"]
    return cs


def request(cl):
    return {"chargingStation": station(cl.cfg), "reason": cl.ctx.store.get("ocpp_boot_reason", "PowerUp")}


def confirm(cl, req, res, err):
    if res is None:
        cl.boot_status = "Error"
        cl.boot_retry_ms = cl.ctx.ticks_add(cl.now(), 10000)
        return
    status = res["status"]
    interval = res["interval"]
    clock.sync(res.get("currentTime"))
    cl.boot_status = status
    if status == "Accepted":
        cl.registered = True
        cl.ctx.store.set("ocpp_registered", True)
        cl.ctx.store.set("ocpp_boot_key", cl.boot_key)
        if interval > 0:
            cl.dm.set("OCPPCommCtrlr", "HeartbeatInterval", str(interval), force=True)
        from ocpp.ops import status_notification, security_event_notification
        status_notification.all_connectors(cl)
        reason = req.get("reason")
        security_event_notification.send(cl, "ResetOrReboot" if reason == "RemoteReset" else "StartupOfTheDevice")
        cl.ctx.store.set("ocpp_boot_reason", "PowerUp")
    else:
        cl.boot_retry_ms = cl.ctx.ticks_add(cl.now(), (interval if interval > 0 else 10) * 1000)
