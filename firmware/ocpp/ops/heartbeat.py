# Heartbeat (G02): keeps the connection alive and the clock in sync.
from ocpp import clock


def confirm(cl, req, res, err):
    if res is not None:
        clock.sync(res.get("currentTime"))
