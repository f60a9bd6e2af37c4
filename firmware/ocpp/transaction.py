# Transactions (OCPP 2.0.1 E01-E15): TransactionEvent Started/Updated/Ended
# with seqNo from 0 per transaction, persisted with the transaction so a
# reboot continues the numbering. Every TransactionEvent goes through the
# persistent queue (ocpp.txqueue), marked `offline: true` when it happened
# while the CSMS was unreachable. Sampled meter values go into Updated
# events every SampledDataCtrlr.TxUpdatedInterval; clock-aligned ones every
# AlignedDataCtrlr.Interval (in a TransactionEvent during a transaction, a
# MeterValues message otherwise).
#
# The energy register is integrated here from the power the gateway reports
# (Transactions.power_w, W, positive = charging) because the OCPP side has no meter
# of its own; a station with a metering chip sets Transactions.meter_wh directly.
import os
from ocpp import clock
from jezgro import persist

FILE = "ocpp_tx.json"
S = "SampledDataCtrlr"


def _tx_ok(t):
    return isinstance(t, dict) and isinstance(t.get("id"), str) and isinstance(t.get("seq"), int)


def _check(d):
    # ocpp_tx.json: {"tx": {evse: transaction}, "wh": number}; a damaged transaction is dropped
    if not isinstance(d, dict):
        return None, "not a JSON object"
    wh = d.get("wh", 0.0)
    if not isinstance(wh, (int, float)) or isinstance(wh, bool):
        return None, "wh is not a number"
    tx, bad = persist.entries(d.get("tx", {}), dict, _tx_ok)
    if tx is None:
        return None, "tx: " + bad
    return {"tx": tx, "wh": wh}, bad


class Transactions:
    def __init__(self, cl):
        self.cl = cl
        self.path = cl.fs + "/" + FILE
        d = persist.load_json(self.path, {}, _check)
        self.tx = d.get("tx", {})  # evse (str) -> state dict
        self.wh = d.get("wh", 0.0)
        self.last_s = clock.now()
        self.aligned_slot = -1
        self.meter_wh = None  # a meter driver's energy register, Wh (None: integrate power_w)
        self.power_w = None  # the power to integrate when there is no meter, W (+ import)

    def save(self):
        persist.save_json(self.path, {"tx": self.tx, "wh": self.wh})

    def active(self, evse):
        return self.tx.get(str(evse))

    def find(self, tx_id):
        for e, t in self.tx.items():
            if t["id"] == tx_id:
                return int(e), t
        return None, None

    def meter(self, ts=None, context=None):
        sv = {"value": int(self.wh), "measurand": "Energy.Active.Import.Register",
              "unitOfMeasure": {"unit": "Wh"}}
        if context:
            sv["context"] = context
        return [{"timestamp": ts or clock.iso(), "sampledValue": [sv]}]

    def _event(self, evse, kind, trigger, extra=None, context=None):
        t = self.tx[str(evse)]
        ts = clock.iso()
        p = {"eventType": kind, "timestamp": ts, "triggerReason": trigger, "seqNo": t["seq"],
             "transactionInfo": {"transactionId": t["id"], "chargingState": t.get("state", "Charging")}}
        if kind == "Started":
            p["evse"] = {"id": evse, "connectorId": 1}
            if t.get("remote") is not None:
                p["transactionInfo"]["remoteStartId"] = t["remote"]
            if t.get("token"):
                p["idToken"] = t["token"]
        if context is not None:
            p["meterValue"] = self.meter(ts, context)
        if not self.cl.connected:
            p["offline"] = True
        if extra:
            p["transactionInfo"].update(extra)
        t["seq"] += 1
        self.save()  # seqNo persisted before the event is queued: never reused after a reboot
        self.cl.call_persistent("TransactionEvent", p)

    def start(self, evse, token, trigger, remote_id=None):
        if self.active(evse):
            return None
        tx_id = "%s-%s" % (self.cl.cfg["station_id"][:16], "".join("%02x" % b for b in os.urandom(8)))
        self.tx[str(evse)] = {"id": tx_id, "seq": 0, "token": token, "remote": remote_id,
                              "state": "Charging", "last_upd": clock.now(), "t0": int(clock.now())}
        self._event(evse, "Started", trigger, context="Transaction.Begin")
        from ocpp.ops import status_notification
        status_notification.send(self.cl, evse, 1, "Occupied")
        return tx_id

    def stop(self, evse, trigger, reason):
        t = self.active(evse)
        if not t:
            return False
        t["state"] = "EVConnected"
        self._event(evse, "Ended", trigger, {"stoppedReason": reason}, context="Transaction.End")
        del self.tx[str(evse)]
        self.save()
        sc = self.cl.sc
        if sc is not None:
            sc.drop_tx(t["id"])
        from ocpp.ops import status_notification
        cl = self.cl
        pend = cl.later.availability_on_idle
        if pend is not None and evse in pend[0]:
            # ChangeAvailability answered Scheduled: applied now the transaction is over (G03.FR.05)
            cl.later.availability_on_idle = None
            for e in pend[0]:
                status_notification.send(cl, e, 1, "Available" if pend[1] == "Operative" else "Unavailable")
        else:
            status_notification.send(cl, evse, 1, cl.conn_status.get(evse) if cl.conn_status.get(evse) in (
                "Unavailable", "Faulted") else "Available")
        if cl.later.reset_on_idle and not self.tx:
            # Reset OnIdle answered Scheduled: the station is idle now (B12.FR.04)
            cl.later.reset_on_idle = False
            from ocpp.ops import reset
            reset.after(cl, {"type": "OnIdle"}, {"status": "Accepted"})
        return True

    def tick(self, cl):
        now = clock.now()
        dt = now - self.last_s
        if dt < 1:
            return
        self.last_s = now
        if self.meter_wh is not None:
            self.wh = self.meter_wh
        elif self.power_w is not None and self.tx:
            self.wh += self.power_w * dt / 3600
        upd = cl.dm.int(S, "TxUpdatedInterval")
        for e, t in list(self.tx.items()):
            if upd > 0 and now - t.get("last_upd", now) >= upd:
                t["last_upd"] = now
                self._event(int(e), "Updated", "MeterValuePeriodic", context="Sample.Periodic")
        iv = cl.dm.int("AlignedDataCtrlr", "Interval")
        if iv > 0:
            slot = int(now) // iv
            if self.aligned_slot >= 0 and slot != self.aligned_slot and cl.registered:
                if self.tx:
                    for e in list(self.tx):
                        self._event(int(e), "Updated", "MeterValueClock", context="Sample.Clock")
                else:
                    for e in range(1, cl.connectors + 1):
                        cl.call("MeterValues", {"evseId": e, "meterValue": self.meter(None, "Sample.Clock")})
            self.aligned_slot = slot


def install(cl):
    t = Transactions(cl)
    cl.tx = t
    cl.ticks.append(t.tick)
