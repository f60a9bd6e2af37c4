# TRANSLATOR, source "ocpp16": a 1.6J CALL from a charger -> the Central System's answer and
# the 2.0.1 messages for the CSMS, through the tables of bridge/tables16.py. Pure with respect
# to I/O: translate() reads and updates the State (bridge/txstate.py) and returns what to send;
# services/translator.py moves the messages and makes the replay idempotent.
from bridge import tables16 as T
from bridge.handoff import UP_QUEUED, UP_CALL, UP_REPLY
from ocpp import clock

WAIT = "wait"  # translate() result: the answer needs the CSMS's reply first


class Untranslatable(Exception):
    # a CALL the gateway answers with a CALLERROR: (OCPP-J error code, text)
    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


def number(s):
    # a 1.6 sampled value (decimal string) -> int when integral, else float; ValueError on garbage
    f = float(s)
    return int(f) if f == int(f) and abs(f) < 2 ** 31 else f


def sampled(sv, stats, context=None):
    # one 1.6 SampledValue -> 2.0.1 SampledValueType, or None (no 2.0.1 counterpart: counted)
    meas = sv.get("measurand", T.MEASURAND_DEFAULT)
    if meas not in T.MEASURANDS or sv.get("format") == "SignedData":
        stats["values_dropped"] += 1
        return None
    o = {"value": number(sv["value"]), "measurand": meas}
    c = sv.get("context", context)
    if c in T.CONTEXTS:
        o["context"] = c
    if sv.get("phase") in T.PHASES:
        o["phase"] = sv["phase"]
    if sv.get("location") in T.LOCATIONS:
        o["location"] = sv["location"]
    unit = sv.get("unit", "Wh" if meas.startswith("Energy") else None)
    if unit is not None:
        u = T.UNITS.get(unit)
        if u is None:
            stats["values_dropped"] += 1
            return None
        o["unitOfMeasure"] = {"unit": u[0], "multiplier": u[1]} if u[1] else {"unit": u[0]}
    return o


def meter_values(mvs, stats, context=None):
    out = []
    for mv in mvs:
        svs = []
        for sv in mv["sampledValue"]:
            o = sampled(sv, stats, context)
            if o is not None:
                svs.append(o)
        if svs:
            out.append({"timestamp": mv["timestamp"], "sampledValue": svs})
    return out


def energy_value(wh, ts, context):
    return {"timestamp": ts, "sampledValue": [{"value": wh, "measurand": T.MEASURAND_DEFAULT, "context": context,
                                               "unitOfMeasure": {"unit": "Wh"}}]}


def evse_of(ch, connector):
    # (2.0.1 evseId, connectorId) of a 1.6 connector of charger ch; ValueError when it has no such connector
    if not 1 <= connector <= ch["connectors"]:
        raise ValueError("connectorId %d not configured" % connector)
    return ch["evse"] + connector - 1, 1


def _event(tx, kind, trigger, ts, extra=None):
    # a TransactionEvent of transaction tx (State entry); seqNo taken and advanced
    p = {"eventType": kind, "timestamp": ts, "triggerReason": trigger, "seqNo": tx["seq"],
         "transactionInfo": {"transactionId": tx["id"], "chargingState": tx["state"]}}
    if extra:
        p.update(extra)
    tx["seq"] += 1
    return p


def translate(st, ch, idx, key, action, p, reply, online, offline_auth):
    # -> (answer payload or WAIT, [(key suffix, 2.0.1 action, payload, kind), ...]); raises
    # Untranslatable, or KeyError/TypeError/ValueError on a malformed CALL (FormatViolation).
    stats = st.stats[idx]
    if action == "BootNotification":
        st.boot[idx] = {"vendor": p["chargePointVendor"], "model": p["chargePointModel"],
                        "serial": p.get("chargePointSerialNumber", ""), "firmware": p.get("firmwareVersion", "")}
        return {"status": "Accepted", "currentTime": clock.iso(), "interval": st.heartbeat_s}, []
    if action == "Heartbeat":
        return {"currentTime": clock.iso()}, []
    if action == "StatusNotification":
        return {}, _status(st, ch, idx, p)
    if action == "Authorize":
        return _authorize(st, ch, p, reply, online, offline_auth, key)
    if action == "StartTransaction":
        return _start(st, ch, idx, p)
    if action == "MeterValues":
        return {}, _meter(st, ch, idx, p, stats)
    if action == "StopTransaction":
        return _stop(st, ch, idx, p, stats)
    if action == "DataTransfer":
        return _data_transfer(p, reply, online)
    if action in T.FROM_CHARGER:  # the "local" ones without a payload of interest
        return {}, []
    raise Untranslatable("NotSupported", "%s is not translated (docs/bridge.md)" % action[:40])


def _status(st, ch, idx, p):
    c = p["connectorId"]
    s = T.STATUS[p["status"]]
    if c == 0:
        st.stats[idx]["local_only"] += 1  # the charger as a whole: no 2.0.1 connector to report it for
        return []
    evse, conn = evse_of(ch, c)
    ts = p.get("timestamp") or clock.iso()
    ups = [("s", "StatusNotification", {"timestamp": ts, "connectorStatus": s[0], "evseId": evse,
                                        "connectorId": conn}, UP_CALL)]
    tx = st.tx_on(idx, c)
    if tx is not None and s[1] is not None and s[1] != tx["state"]:
        tx["state"] = s[1]
        ups.append(("t", "TransactionEvent", _event(tx, "Updated", "ChargingStateChanged", ts), UP_QUEUED))
    if p["status"] == "Available":
        ups += _reservation_ended(st, idx, c)
    return ups


def _reservation_ended(st, idx, c):
    # 1.6 has no message for the end of a reservation: a connector with a reservation the gateway
    # passed on that becomes Available (no transaction used it, the CSMS did not cancel it) had it
    # expired or dropped by the charger -> ReservationStatusUpdate Expired (its expiry passed) or Removed
    for rid, r in list(st.resv.items()):
        if r[0] == idx and r[1] == c:
            st.resv.pop(rid)
            st.dirty = True
            try:
                gone = "Expired" if clock.parse(r[2]) <= clock.now() + 1 else "Removed"
            except ValueError:
                gone = "Expired"
            return [("r", "ReservationStatusUpdate", {"reservationId": int(rid), "reservationUpdateStatus": gone},
                     UP_CALL)]
    return []


def _authorize(st, ch, p, reply, online, offline_auth, key):
    tag = p["idTag"]
    if not isinstance(tag, str):
        raise TypeError("idTag")
    if reply is None and online:
        return WAIT, [("a", "Authorize", {"idToken": {"idToken": tag, "type": ch["id_token_type"]}}, UP_REPLY)]
    res = reply[0] if reply is not None else None
    if res is not None:
        status = T.AUTH_STATUS.get(res["idTokenInfo"]["status"], "Invalid")
        st.remember_auth(tag, status)
        return {"idTagInfo": {"status": status}}, []
    # CSMS unreachable or silent: the offline policy (docs/bridge.md)
    cached = st.auth.get(tag)
    if offline_auth == "accept":
        status = "Accepted" if cached in (None, "Accepted") else cached
    elif offline_auth == "cache":
        status = cached or "Invalid"
    else:
        status = "Invalid"
    return {"idTagInfo": {"status": status}}, []


def _start(st, ch, idx, p):
    c = p["connectorId"]
    evse, conn = evse_of(ch, c)
    tag = p["idTag"]
    ts = p["timestamp"]
    tx = st.tx_on(idx, c)
    if tx is not None:
        # a second start on a busy connector (1.6 allows the charger to report it): refused, nothing upstream
        return {"transactionId": 0, "idTagInfo": {"status": "ConcurrentTx"}}, []
    tid, tx = st.new_tx(idx, ch["id"], c)
    extra = {"evse": {"id": evse, "connectorId": conn}, "idToken": {"idToken": tag, "type": ch["id_token_type"]},
             "meterValue": [energy_value(p["meterStart"], ts, "Transaction.Begin")]}
    if p.get("reservationId") is not None:
        extra["reservationId"] = p["reservationId"]
        st.resv.pop(str(p["reservationId"]), None)  # used: no longer cancellable
    rid = st.remote.pop("%d/%d" % (idx, c), None)
    trigger = "Authorized" if ch["modbus"] is None else "CablePluggedIn"  # a wallbox starts when plugged in
    if rid is not None:  # the start a RequestStartTransaction asked for (F01.FR.25: remoteStartId reported)
        trigger = "RemoteStart"
        tx["remote"] = rid
    ev = _event(tx, "Started", trigger, ts, extra)
    if rid is not None:
        ev["transactionInfo"]["remoteStartId"] = rid
    status = st.auth.get(tag, "Accepted")  # the Authorize just before decided; unknown: the CSMS decides later
    return {"transactionId": tid, "idTagInfo": {"status": status}}, [("t", "TransactionEvent", ev, UP_QUEUED)]


def _meter(st, ch, idx, p, stats):
    c = p["connectorId"]
    tid = p.get("transactionId")
    tx = st.tx.get(str(tid)) if tid is not None else st.tx_on(idx, c)
    mv = meter_values(p["meterValue"], stats, "Sample.Periodic")
    if not mv:
        return []
    if tx is not None:
        ev = _event(tx, "Updated", "MeterValuePeriodic", mv[0]["timestamp"], {"meterValue": mv})
        return [("t", "TransactionEvent", ev, UP_QUEUED)]
    if c == 0:
        stats["local_only"] += 1
        return []
    evse, _ = evse_of(ch, c)
    return [("m", "MeterValues", {"evseId": evse, "meterValue": mv}, UP_CALL)]


def _stop(st, ch, idx, p, stats):
    tid = p["transactionId"]
    tx = st.tx.get(str(tid))
    if tx is None or tx["charger"] != idx:
        stats["unknown_tx"] += 1  # a stop for a transaction we never saw (or already ended): answered, logged
        return {"idTagInfo": {"status": "Accepted"}}, []
    ts = p["timestamp"]
    reason, trigger = T.STOP_REASON.get(p.get("reason", T.STOP_REASON_DEFAULT), ("Other", "AbnormalCondition"))
    mv = meter_values(p.get("transactionData") or [], stats)
    mv.append(energy_value(p["meterStop"], ts, "Transaction.End"))
    tx["state"] = "Idle" if reason == "EVDisconnected" else "EVConnected"
    ev = _event(tx, "Ended", trigger, ts, {"meterValue": mv})
    ev["transactionInfo"]["stoppedReason"] = reason
    if p.get("idTag"):
        ev["idToken"] = {"idToken": p["idTag"], "type": ch["id_token_type"]}
    st.end_tx(tid)
    return {"idTagInfo": {"status": st.auth.get(p.get("idTag"), "Accepted")}}, [("t", "TransactionEvent", ev, UP_QUEUED)]


def _data_transfer(p, reply, online):
    up = {"vendorId": p["vendorId"]}
    if p.get("messageId"):
        up["messageId"] = p["messageId"]
    if p.get("data") is not None:
        up["data"] = p["data"]
    if reply is None and online:
        return WAIT, [("d", "DataTransfer", up, UP_REPLY)]
    res = reply[0] if reply is not None else None
    if res is None:
        return {"status": "Rejected"}, []  # the CSMS could not be asked: the vendor extension is not available
    out = {"status": res["status"]}
    if res.get("data") is not None:
        out["data"] = res["data"] if isinstance(res["data"], str) else _json(res["data"])
    return out, []


def _json(v):
    import json
    return json.dumps(v)
