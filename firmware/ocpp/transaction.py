# Transactions (OCPP 2.0.1 E01-E15, with the gateway as the EVSE): the lifecycle of each EVSE from a
# handful of inputs, each one method (plug, ev_detected, authorized, charging, session_end,
# remote_stop), and one rule that turns them into TransactionEvents: a transaction starts when one of
# TxCtrlr.TxStartPoint's conditions becomes true and ends when one of TxCtrlr.TxStopPoint's
# conditions that was true during it becomes false (conditions(): EVConnected, Authorized,
# PowerPathClosed = connected and authorized, EnergyTransfer = charging). The input that changed it
# gives the triggerReason (and stoppedReason).
#
# seqNo counts from 0 per transaction and is persisted with it before the event is queued, so a
# reboot continues the numbering. Every TransactionEvent goes through the persistent queue
# (ocpp.txqueue), marked `offline: true` when it happened while the CSMS was unreachable, with the
# meter values of that instant (ocpp/meter.py: SampledDataCtrlr TxStartedMeasurands /
# TxUpdatedMeasurands every TxUpdatedInterval / TxEndedMeasurands; AlignedDataCtrlr.Measurands every
# Interval, as MeterValues outside a transaction). The Ended event also carries the TxEndedMeasurands
# sampled every TxEndedInterval during the transaction, kept with it (persisted) and bounded: at most
# ENDED_VALUES sampled values; when a sample would exceed that, every second sample is dropped and
# the interval doubled, so a long transaction keeps an evenly spaced series of all of it.
#
# A transaction found at boot (not after a restart of OCPP_CLIENT alone: the EVSE state lives in
# ctx.store then) is ended with stoppedReason PowerLoss: its ISO 15118 session did not survive.
import os
import msgs
from ocpp import clock
from power import gateway_fsm as fsm
from power import status as gw
from ocpp.meter import Meter
from jezgro import persist

FILE = "ocpp_tx.json"
S = "SampledDataCtrlr"
T = "TxCtrlr"
IDLE = "Idle"
EV_CONNECTED = "EVConnected"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
# how an ISO 15118 session ended (SESSION_END) -> (triggerReason, stoppedReason)
SESSION_ENDS = {msgs.END_STOP: ("StopAuthorized", "StoppedByEV"),
                msgs.END_LOST: ("EVCommunicationLost", "Other"),
                msgs.END_FAILED: ("AbnormalCondition", "Other"),
                msgs.END_REJECTED: ("Deauthorized", "DeAuthorized")}
QUARANTINED = ("AbnormalCondition", "Other")  # ISO15118 runs but went silent mid-session
# ISO15118 restarted or quarantined mid-session (the supervisor's incarnation changed): the EV's
# communication is lost with it (2.0.1 has no such stoppedReason: Other)
SERVICE_LOST = ("EVCommunicationLost", "Other")
ENDED_VALUES = 48  # sampled values in the TxEndedInterval series (~5 KB of JSON: one WebSocket message)


def _tx_ok(t):
    return isinstance(t, dict) and isinstance(t.get("id"), str) and isinstance(t.get("seq"), int)


def _check(d):
    # ocpp_tx.json: {"tx": {evse: transaction}}; a damaged transaction is dropped
    if not isinstance(d, dict):
        return None, "not a JSON object"
    tx, bad = persist.entries(d.get("tx", {}), dict, _tx_ok)
    if tx is None:
        return None, "tx: " + bad
    return {"tx": tx}, bad


class Evse:
    # What the transaction rule reads of one EVSE (kept in ctx.store: survives a restart of OCPP_CLIENT)
    def __init__(self):
        self.plugged = False
        self.token = None  # the idToken that authorizes this EVSE now (None: not authorized)
        self.remote_id = None  # RequestStartTransaction's remoteStartId with that token
        self.state = IDLE  # OCPP chargingState
        self.serial = 0  # the ISO 15118 session on this EVSE (0: none)
        self.live = False  # that session runs
        self.waiting = False  # ... and waits in Authorization for our decision
        self.evccid = ""
        self.deadline = None  # unix s: a token given before plug-in expires (EVConnectionTimeOut)
        self.end = None  # (triggerReason, stoppedReason) decided before the session ends (remote stop)
        self.charged = False  # power flowed in this session (a pause is SuspendedEV)
        self.power = False  # the EV's session wants power now (SESSION_STATE AUTHORIZED)
        self.min_w = 0  # the least power the EV can take (its ChargingNeeds; 0: unknown)


class Transactions:
    def __init__(self, cl, meter_source=None):
        self.cl = cl
        self.path = cl.fs + "/" + FILE
        self.tx = persist.load_json(self.path, {}, _check).get("tx", {})  # evse (str) -> state dict
        self.meter = Meter(cl.fs, meter_source)
        self.last_s = clock.now()
        self.aligned_slot = -1
        self.evse = {}  # evse (int) -> Evse

    def save(self):
        persist.save_json(self.path, {"tx": self.tx})

    def ev(self, evse):
        e = self.evse.get(evse)
        if e is None:
            e = self.evse[evse] = Evse()
        return e

    def active(self, evse):
        return self.tx.get(str(evse))

    def find(self, tx_id):
        for e, t in self.tx.items():
            if t["id"] == tx_id:
                return int(e), t
        return None, None

    # --- meter values -----------------------------------------------------------------------------
    def meter_values(self, measurands, ts=None, context=None):
        mv = self.meter.meter_value(measurands, ts or clock.iso(), context)
        return [mv] if mv is not None else []

    def aligned(self, ts=None, context=None):
        return self.meter_values(self.cl.dm.get("AlignedDataCtrlr", "Measurands"), ts, context)

    # --- the rule ---------------------------------------------------------------------------------
    def conditions(self, ev):
        auth = ev.token is not None
        return {"EVConnected": ev.plugged, "Authorized": auth, "PowerPathClosed": ev.plugged and auth,
                "EnergyTransfer": ev.state == CHARGING}

    def _points(self, var):
        return [p.strip() for p in (self.cl.dm.get(T, var) or "").split(",")]

    def _changed(self, evse, trigger, reason=None):
        # one input changed this EVSE: start, end or report the transaction
        ev = self.ev(evse)
        c = self.conditions(ev)
        t = self.active(evse)
        if t is None:
            if any(c.get(p) for p in self._points("TxStartPoint")):
                self.start(evse, trigger)
            return
        seen = t.setdefault("seen", [])
        for p, v in c.items():
            if v and p not in seen:
                seen.append(p)
        if any(p in seen and not c.get(p) for p in self._points("TxStopPoint")):
            end = ev.end or (trigger, reason or "Other")
            ev.end = None
            self.stop(evse, end[0], end[1])
            return
        changed = t.get("state") != ev.state
        t["state"] = ev.state
        if t.get("token") is None and ev.token is not None:
            t["token"] = ev.token
            t["remote"] = ev.remote_id
            changed = True
            self._event(evse, "Updated", trigger, token=True)
        elif changed or trigger in ("EVDetected", "CablePluggedIn"):
            self._event(evse, "Updated", trigger)

    # --- inputs -----------------------------------------------------------------------------------
    def plug(self, evse, plugged):
        # THE plug-in event: the control pilot (CP_STATE B/C/D vs A) or, without it, the first and
        # last sign of the EV's ISO 15118 session (ocpp/iso15118_bridge.py decides which)
        ev = self.ev(evse)
        if ev.plugged == plugged:
            return
        ev.plugged = plugged
        from ocpp.ops import status_notification
        if plugged:
            ev.state = EV_CONNECTED
            ev.deadline = None
            if self.cl.conn_status.get(evse) != "Occupied":
                status_notification.send(self.cl, evse, 1, "Occupied")
            self._changed(evse, "CablePluggedIn")
        else:
            ev.state = IDLE
            ev.token = None  # an authorization belongs to one plug-in
            ev.live = ev.waiting = ev.charged = ev.power = False
            self._changed(evse, "EVDeparted", "EVDisconnected")
            if not self.active(evse):
                self._available(evse)

    def ev_detected(self, evse, serial):
        # an ISO 15118 session set up (SessionSetup): it will ask for authorization
        ev = self.ev(evse)
        ev.serial = serial
        ev.end = None
        ev.live = True
        ev.waiting = True
        ev.charged = ev.power = False
        self._changed(evse, "EVDetected")

    def authorized(self, evse, token, trigger, remote_id=None):
        ev = self.ev(evse)
        ev.token = token
        ev.remote_id = remote_id
        if not ev.plugged:
            ev.deadline = clock.now() + self.cl.dm.int(T, "EVConnectionTimeOut")
        self._changed(evse, trigger)

    def charging(self, evse, power_on):
        # the ISO 15118 session's power state (SESSION_STATE): Charging while it transfers energy,
        # SuspendedEVSE while it asks for power the EVSE side withholds, SuspendedEV when the EV pauses
        ev = self.ev(evse)
        if not ev.plugged:
            return
        ev.power = power_on
        if power_on:
            ev.charged = True
        self._power_state(evse, ev)

    def _power_state(self, evse, ev):
        if ev.power:
            st = SUSPENDED_EVSE if self.withheld(ev) else CHARGING
        else:
            st = SUSPENDED_EV if ev.charged else EV_CONNECTED
        if st != ev.state:
            ev.state = st
            self._changed(evse, "ChargingStateChanged")

    def withheld(self, ev):
        # -> why the EVSE side gives the EV no power now, or None: the OCPP limit (composite schedule)
        # at 0 or below what the EV can take; POWER_MGR's import limit from any source below that; the
        # power path stopped (grid lost, a power-path service held: gateway_fsm). A negative OCPP limit
        # or a discharging gateway is V2G: energy flows, not withheld.
        least = ev.min_w if ev.min_w > 0 else 1
        lim = self.cl.sc.active_limit_w if self.cl.sc is not None else None
        if lim is not None and 0 <= lim < least:
            return "ocpp limit"
        g = gw.GW
        if g[gw.UPDATES] == 0:
            return None  # no POWER_MGR in this build (the protocol bridge)
        st = g[gw.STATE]
        if st == fsm.INIT or st == fsm.GRID_SEARCH or st == fsm.SAFE:
            return "power path"
        if g[gw.IMP_SRC] != gw.NONE and g[gw.IMP_LIM] < least and st != fsm.DISCHARGING:
            return "import limit"
        return None

    def session_end(self, evse, how):
        # the ISO 15118 session ended (SESSION_END, or ISO15118 quarantined): its authorization ends
        # with it; the cable may still be in (the control pilot says when it leaves)
        ev = self.ev(evse)
        ev.live = ev.waiting = ev.power = False
        ev.token = None
        if ev.plugged:
            ev.state = EV_CONNECTED
        trig, reason = how
        self._changed(evse, trig, reason)
        if self.active(evse):
            # still running (it was never authorized, or the stop points do not include Authorized):
            # the session's end is why it ends when the EV leaves
            ev.end = how

    def remote_stop(self, evse):
        # RequestStopTransaction: a running ISO 15118 session stops the protocol's way first, the
        # transaction ends with its SessionStop; without a session it ends now
        ev = self.ev(evse)
        ev.end = ("RemoteStop", "Remote")
        if ev.live:
            self.cl.iso.stop_session(ev.serial)
        else:
            ev.token = None
            ev.end = None
            self.stop(evse, "RemoteStop", "Remote")

    def rate_changed(self):
        # the power limit changed without the CSMS (the offline fallback began or ended): an Updated
        # event ChargingRateChanged with the meter of the instant in every running transaction
        for e in list(self.tx):
            self._event(int(e), "Updated", "ChargingRateChanged", self.cl.dm.get(S, "TxUpdatedMeasurands"),
                        "Other")

    # --- events -----------------------------------------------------------------------------------
    def _event(self, evse, kind, trigger, measurands=None, context=None, extra=None, token=False, series=()):
        t = self.tx[str(evse)]
        ts = clock.iso()
        p = {"eventType": kind, "timestamp": ts, "triggerReason": trigger, "seqNo": t["seq"],
             "transactionInfo": {"transactionId": t["id"], "chargingState": t.get("state", IDLE)}}
        if kind == "Started":
            p["evse"] = {"id": evse, "connectorId": 1}
        if kind == "Started" or token:  # the authorization: in Started, or in the Updated that brings it
            if t.get("remote") is not None:
                p["transactionInfo"]["remoteStartId"] = t["remote"]
            if t.get("token"):
                p["idToken"] = t["token"]
        if measurands is not None:
            self.read_meter()  # the registers of this instant, not of the last periodic reading
            self.meter.save()  # the register a CSMS sees is never ahead of the persisted one
            mv = list(series) + self.meter_values(measurands, ts, context)
            if mv:
                p["meterValue"] = mv
        if not self.cl.connected:
            p["offline"] = True
        if extra:
            p["transactionInfo"].update(extra)
        t["seq"] += 1
        self.save()  # seqNo persisted before the event is queued: never reused after a reboot
        self.cl.call_persistent("TransactionEvent", p)

    def start(self, evse, trigger):
        if self.active(evse):
            return None
        ev = self.ev(evse)
        tx_id = "%s-%s" % (self.cl.cfg["station_id"][:16], "".join("%02x" % b for b in os.urandom(8)))
        self.tx[str(evse)] = {"id": tx_id, "seq": 0, "token": ev.token, "remote": ev.remote_id, "state": ev.state,
                              "last_upd": clock.now(), "t0": int(clock.now()),
                              "seen": [p for p, v in self.conditions(ev).items() if v]}
        self._event(evse, "Started", trigger, self.cl.dm.get(S, "TxStartedMeasurands"), "Transaction.Begin")
        if self.cl.conn_status.get(evse) != "Occupied":
            from ocpp.ops import status_notification
            status_notification.send(self.cl, evse, 1, "Occupied")
        return tx_id

    def stop(self, evse, trigger, reason):
        t = self.active(evse)
        if not t:
            return False
        self._event(evse, "Ended", trigger, self.cl.dm.get(S, "TxEndedMeasurands"), "Transaction.End",
                    {"stoppedReason": reason}, series=t.get("ended", ()))
        del self.tx[str(evse)]
        self.save()
        cl = self.cl
        if cl.sc is not None:
            cl.sc.drop_tx(t["id"])
        if not self.ev(evse).plugged:
            self._available(evse)
        if cl.later.reset_on_idle and not self.tx:
            # Reset OnIdle answered Scheduled: the station is idle now (B12.FR.04)
            cl.later.reset_on_idle = False
            from ocpp.ops import reset
            reset.after(cl, {"type": "OnIdle"}, {"status": "Accepted"})
        return True

    def _sample_ended(self, t, now, iv):
        # the TxEndedInterval series of a transaction (t["ended"]), every iv x stride seconds
        if iv <= 0:
            return
        stride = t.get("ended_stride", 1)
        if now - t.get("ended_last", t["t0"]) < iv * stride:
            return
        t["ended_last"] = now
        mv = self.meter_values(self.cl.dm.get(S, "TxEndedMeasurands"), None, "Sample.Periodic")
        if not mv:
            return
        series = t.setdefault("ended", [])
        n = len(mv[0]["sampledValue"])
        if (len(series) + 1) * n > ENDED_VALUES:
            # full: keep every second sample (the first one stays) at twice the interval
            series = t["ended"] = series[::2]
            t["ended_stride"] = stride * 2
        if (len(series) + 1) * n <= ENDED_VALUES:
            series.append(mv[0])
        self.save()

    def _available(self, evse):
        # the EVSE is free again: Available, or what a ChangeAvailability Scheduled meanwhile asked
        from ocpp.ops import status_notification
        cl = self.cl
        pend = cl.later.availability_on_idle
        if pend is not None and evse in pend[0]:
            # ChangeAvailability answered Scheduled: applied now the transaction is over (G03.FR.05)
            cl.later.availability_on_idle = None
            for e in pend[0]:
                status_notification.send(cl, e, 1, "Available" if pend[1] == "Operative" else "Unavailable")
        elif cl.conn_status.get(evse) not in ("Unavailable", "Faulted", "Available"):
            status_notification.send(cl, evse, 1, "Available")

    def read_meter(self):
        # one reading of the meter source now (the periodic one is once a second)
        now = clock.now()
        self.meter.update(now, max(now - self.last_s, 0))
        self.last_s = now

    def status_meter(self):
        self.read_meter()  # what the status shows is the registers now
        return self.meter.status()

    def tick(self, cl):
        now = clock.now()
        dt = now - self.last_s
        if dt < 1:
            return
        self.last_s = now
        self.meter.update(now, dt)
        for e, ev in self.evse.items():
            if ev.power and ev.plugged:
                self._power_state(e, ev)  # limits and the power path change without an EV message
            if ev.deadline is not None and not ev.plugged and now >= ev.deadline:
                # authorized (remote start) but no EV within EVConnectionTimeOut (E03)
                ev.deadline = None
                ev.token = None
                self._changed(e, "EVConnectTimeout", "Timeout")
        upd = cl.dm.int(S, "TxUpdatedInterval")
        for e, t in list(self.tx.items()):
            if upd > 0 and now - t.get("last_upd", now) >= upd:
                t["last_upd"] = now
                self._event(int(e), "Updated", "MeterValuePeriodic", cl.dm.get(S, "TxUpdatedMeasurands"),
                            "Sample.Periodic")
            self._sample_ended(t, now, cl.dm.int(S, "TxEndedInterval"))
        iv = cl.dm.int("AlignedDataCtrlr", "Interval")
        if iv > 0:
            slot = int(now) // iv
            if self.aligned_slot >= 0 and slot != self.aligned_slot and cl.registered:
                if self.tx:
                    for e in list(self.tx):
                        self._event(int(e), "Updated", "MeterValueClock", cl.dm.get("AlignedDataCtrlr", "Measurands"),
                                    "Sample.Clock")
                else:
                    for e in range(1, cl.connectors + 1):
                        mv = self.aligned(None, "Sample.Clock")
                        if mv:
                            cl.call("MeterValues", {"evseId": e, "meterValue": mv})
            self.aligned_slot = slot


def install(cl, meter_source=None):
    t = Transactions(cl, meter_source)
    cl.tx = t
    cl.ticks.append(t.tick)
    store = cl.ctx.store
    evse = store.get("ocpp_evse")
    if evse is not None:  # a restart of OCPP_CLIENT alone: the EVSEs are as they were
        t.evse = evse
        return
    store.set("ocpp_evse", t.evse)  # a boot: no ISO 15118 session survived it
    for e in list(t.tx):
        t.stop(int(e), QUARANTINED[0], "PowerLoss")
