# Reservations (H01-H04): one per EVSE, persisted; expiry reported with
# ReservationStatusUpdate, the EVSE shown Reserved meanwhile. A reserved EVSE
# starts a transaction only for the reserving idToken (or its group).
from ocpp import clock
from jezgro import persist
from ocpp.ops import status_notification

FILE = "ocpp_resv.json"


def _ok(r):
    return isinstance(r, dict) and isinstance(r.get("id"), int) and isinstance(r.get("until"), (int, float))


def _check(d):
    return persist.entries(d, dict, _ok)


class Reservations:
    def __init__(self, cl):
        self.cl = cl
        self.path = cl.fs + "/" + FILE
        self.by_evse = persist.load_json(self.path, {}, _check)  # str(evse) -> {"id", "until", "token", "group"}
        self.last_s = -1

    def save(self):
        persist.save_json(self.path, self.by_evse)

    def reserve(self, rid, evse, until, token, group):
        for e, r in list(self.by_evse.items()):
            if r["id"] == rid:  # same id: replaces (H01.FR.02)
                del self.by_evse[e]
        self.by_evse[str(evse)] = {"id": rid, "until": until, "token": token, "group": group}
        self.save()
        status_notification.send(self.cl, evse, 1, "Reserved")

    def cancel(self, rid, status=None):
        for e, r in list(self.by_evse.items()):
            if r["id"] == rid:
                del self.by_evse[e]
                self.save()
                status_notification.send(self.cl, int(e), 1, "Available")
                if status:
                    self.cl.call("ReservationStatusUpdate", {"reservationId": rid, "reservationUpdateStatus": status})
                return True
        return False

    def allows(self, cl, evse, token):
        r = self.by_evse.get(str(evse))
        if r is None:
            return True
        if r["token"].get("idToken") == token.get("idToken") or (
                r.get("group") and r["group"].get("idToken") == token.get("idToken")):
            del self.by_evse[str(evse)]  # used by its owner
            self.save()
            return True
        return False

    def tick(self, cl):
        now = int(clock.now())
        if now == self.last_s:
            return
        self.last_s = now
        for e, r in list(self.by_evse.items()):
            if now >= r["until"]:
                self.cancel(r["id"], "Expired")


def install(cl):
    r = Reservations(cl)
    cl.resv = r
    cl.ticks.append(r.tick)
