# TRANSLATOR, CSMS -> charger: a 2.0.1 request for a charger behind the bridge -> the 1.6J CALL
# for it (request()), and the charger's answer -> the 2.0.1 answer (answer()), through the tables
# of bridge/tables201.py. No I/O. A request that cannot be translated raises Untranslatable (the
# CSMS gets that CALLERROR) or is answered at once (Local: Rejected and the like); a charger that
# is away or silent gets the answer of no_answer().
from bridge import tables201 as T
from bridge.tables16 import AUTH_STATUS
from bridge.translate16 import Untranslatable
from ocpp import clock


class Local(Exception):
    # answered by the gateway without asking the charger: the 2.0.1 answer payload
    def __init__(self, payload, why):
        super().__init__(why)
        self.payload = payload


def for_charger(cfg, action, p):
    # True when a CSMS request is for a charger (PROTOCOL_B forwards it to TRANSLATOR), False when it is
    # the gateway station's own (ocpp/ops answers it). Pure: runs in PROTOCOL_B.
    if action not in T.TO_CHARGER:
        return False
    if action in ("RequestStartTransaction", "RequestStopTransaction", "SetChargingProfile", "ClearChargingProfile",
                  "GetCompositeSchedule", "UnlockConnector", "ReserveNow", "CancelReservation") or action in T.TO_ALL:
        return True  # (a reservation without evseId is Rejected: the chargers' connectors are the only ones)
    if action in ("Reset",):
        return p.get("evseId") is not None
    if action in ("ChangeAvailability", "TriggerMessage"):
        return isinstance(p.get("evse"), dict)
    key = "getVariableData" if action == "GetVariables" else "setVariableData"
    items = p.get(key)
    return isinstance(items, list) and any(isinstance(i, dict) and isinstance(i.get("component"), dict)
                                           and isinstance(i["component"].get("evse"), dict) for i in items)


def charger_of(cfg, evse):
    # (charger index, 1.6 connectorId) of a 2.0.1 EVSE id, or None
    for i, c in enumerate(cfg["chargers"]):
        if c["evse"] <= evse < c["evse"] + c["connectors"]:
            return i, evse - c["evse"] + 1
    return None


def _target(cfg, evse, reject):
    t = charger_of(cfg, evse) if isinstance(evse, int) else None
    if t is None:
        raise Local(reject, "EVSE %r is no charger's" % (evse,))
    return t


def convert(limit, unit_from, unit_to, ch, phases):
    # a limit in unit_from ("A"/"W") -> unit_to, with the charger's voltage and the phases in use
    if unit_from == unit_to:
        return limit
    n = phases or ch["phases"]
    if unit_from == "W":
        return int(limit * 10 / (ch["voltage"] * n)) / 10  # A, rounded down to 0.1 (the 1.6 schema's step)
    return int(limit * ch["voltage"] * n)


def periods_in(s, unit, ch):
    # the chargingSchedulePeriod list of schedule s (either version: same field names) in `unit`
    out = []
    for per in s["chargingSchedulePeriod"]:
        n = per.get("numberPhases")
        q = {"startPeriod": per["startPeriod"], "limit": convert(per["limit"], s["chargingRateUnit"], unit, ch, n)}
        if n is not None:
            q["numberPhases"] = n
        out.append(q)
    return out


def schedule_to_16(s, ch):
    unit = ch["rate_unit"]
    out = {"chargingRateUnit": unit, "chargingSchedulePeriod": periods_in(s, unit, ch)}
    for k in ("duration", "startSchedule"):
        if s.get(k) is not None:
            out[k] = s[k]
    if s.get("minChargingRate") is not None:
        out["minChargingRate"] = convert(s["minChargingRate"], s["chargingRateUnit"], unit, ch, None)
    return out


def profile_to_16(st, prof, ch, reject):
    purpose = T.PURPOSE.get(prof["chargingProfilePurpose"])
    if purpose is None:
        raise Local(reject, "purpose %s is not for chargers" % prof["chargingProfilePurpose"])
    out = {"chargingProfileId": prof["id"], "stackLevel": prof["stackLevel"], "chargingProfilePurpose": purpose,
           "chargingProfileKind": prof["chargingProfileKind"],
           "chargingSchedule": schedule_to_16(prof["chargingSchedule"][0], ch)}
    for k in ("recurrencyKind", "validFrom", "validTo"):
        if prof.get(k) is not None:
            out[k] = prof[k]
    if prof.get("transactionId") is not None:
        tid = st.tid_of(prof["transactionId"])
        if tid is None:
            raise Local(reject, "transaction %s unknown" % prof["transactionId"])
        out["transactionId"] = tid
    return out


def _key_of(item):
    c = item["component"]["name"]
    v = item["variable"]["name"]
    for comp, var, key in T.KEYS:
        if comp == c and var == v:
            return key
    return None


def request(st, cfg, action, p):
    # -> (charger index, 1.6 action, 1.6 payload, memo for answer()); raises Local or Untranslatable;
    # KeyError/TypeError/ValueError on a malformed request (FormatViolation)
    act16 = T.TO_CHARGER[action][0]
    if action == "RequestStartTransaction":
        rej = {"status": "Rejected"}
        idx, conn = _target(cfg, p.get("evseId"), rej)
        ch = cfg["chargers"][idx]
        out = {"connectorId": conn, "idTag": p["idToken"]["idToken"][:20]}
        if p.get("chargingProfile") is not None:
            out["chargingProfile"] = profile_to_16(st, p["chargingProfile"], ch, rej)
        return idx, act16, out, ["%d/%d" % (idx, conn), p["remoteStartId"]]
    if action == "RequestStopTransaction":
        tid = st.tid_of(p["transactionId"])
        if tid is None:
            raise Local({"status": "Rejected"}, "transaction unknown")
        return st.tx[str(tid)]["charger"], act16, {"transactionId": tid}, None
    if action == "SetChargingProfile":
        rej = {"status": "Rejected"}
        idx, conn = _target(cfg, p["evseId"], rej)
        prof = p["chargingProfile"]
        return idx, act16, {"connectorId": conn, "csChargingProfiles": profile_to_16(
            st, prof, cfg["chargers"][idx], rej)}, [prof["id"], idx]
    if action == "ClearChargingProfile":
        crit = p.get("chargingProfileCriteria") or {}
        pid = p.get("chargingProfileId")
        out = {}
        if pid is not None:
            out["id"] = pid
            idx = st.profiles.get(str(pid))
            conn = None
        else:
            idx, conn = _target(cfg, crit.get("evseId"), {"status": "Unknown"})
        if idx is None:
            raise Local({"status": "Unknown"}, "profile %s not set on a charger" % pid)
        if conn is not None:
            out["connectorId"] = conn
        if crit.get("chargingProfilePurpose") in T.PURPOSE and T.PURPOSE[crit["chargingProfilePurpose"]]:
            out["chargingProfilePurpose"] = T.PURPOSE[crit["chargingProfilePurpose"]]
        if crit.get("stackLevel") is not None:
            out["stackLevel"] = crit["stackLevel"]
        return idx, act16, out, pid
    if action == "GetCompositeSchedule":
        idx, conn = _target(cfg, p["evseId"], {"status": "Rejected"})
        ch = cfg["chargers"][idx]
        return idx, act16, {"connectorId": conn, "duration": p["duration"], "chargingRateUnit": ch["rate_unit"]}, [
            p["evseId"], p.get("chargingRateUnit") or ch["rate_unit"], idx]
    if action == "GetVariables":
        return _get_variables(cfg, p, act16)
    if action == "SetVariables":
        items = p["setVariableData"]
        n = 0  # the first variable of a charger's component is sent; the others are answered Rejected
        while not isinstance(items[n]["component"].get("evse"), dict):
            n += 1
        item = items[n]
        idx, _ = _target(cfg, item["component"]["evse"]["id"], _set_result(p, "UnknownComponent"))
        key = _key_of(item)
        if key is None:
            raise Local(_set_result(p, "UnknownVariable"), "no 1.6 key for this variable")
        return idx, act16, {"key": key, "value": item["attributeValue"][:500]}, [p, n]
    if action == "Reset":
        idx, _ = _target(cfg, p["evseId"], {"status": "Rejected"})
        return idx, act16, {"type": T.RESET_TYPE[p["type"]]}, None
    if action == "UnlockConnector":
        idx, conn = _target(cfg, p["evseId"], {"status": "UnknownConnector"})
        return idx, act16, {"connectorId": conn}, None
    if action == "ChangeAvailability":
        idx, conn = _target(cfg, p["evse"]["id"], {"status": "Rejected"})
        return idx, act16, {"connectorId": conn, "type": p["operationalStatus"]}, None
    if action == "TriggerMessage":
        idx, conn = _target(cfg, p["evse"]["id"], {"status": "Rejected"})
        if p["requestedMessage"] not in T.TRIGGERS:
            raise Local({"status": "NotImplemented"}, "%s has no 1.6 trigger" % p["requestedMessage"])
        return idx, act16, {"requestedMessage": p["requestedMessage"], "connectorId": conn}, None
    if action == "ReserveNow":
        idx, conn = _target(cfg, p.get("evseId"), {"status": "Rejected"})
        out = {"connectorId": conn, "expiryDate": p["expiryDateTime"], "idTag": p["idToken"]["idToken"][:20],
               "reservationId": p["id"]}
        group = p.get("groupIdToken")
        if group is not None:
            out["parentIdTag"] = group["idToken"][:20]
        return idx, act16, out, [p["id"], idx, conn, p["expiryDateTime"]]
    if action == "CancelReservation":
        r = st.resv.get(str(p["reservationId"]))
        if r is None:
            raise Local({"status": "Rejected"}, "reservation %s not on a charger" % p["reservationId"])
        return r[0], act16, {"reservationId": p["reservationId"]}, p["reservationId"]
    raise Untranslatable("NotSupported", "%s is not translated" % action)


# --- requests for every charger (TO_ALL): one 1.6 CALL, sent to each, the answers combined ---------------------
def all_chargers(cfg):
    # the chargers a TO_ALL request goes to: the 1.6 ones (a Modbus wallbox has no authorization list)
    return [i for i, c in enumerate(cfg["chargers"]) if c.get("modbus") is None]


def id_tag_info(info):
    # 2.0.1 idTokenInfo -> 1.6 idTagInfo (ID_TAG_INFO)
    out = {"status": AUTH_STATUS.get(info["status"], "Invalid")}
    if info.get("cacheExpiryDateTime") is not None:
        out["expiryDate"] = info["cacheExpiryDateTime"]
    group = info.get("groupIdToken")
    if group is not None:
        out["parentIdTag"] = group["idToken"][:20]
    return out


def request_all(action, p):
    # -> (1.6 action, 1.6 payload); KeyError/TypeError/ValueError on a malformed request
    act16 = T.TO_CHARGER[action][0]
    if action == "GetLocalListVersion":
        return act16, {}
    if p["updateType"] not in ("Full", "Differential"):
        raise ValueError("updateType %r" % (p["updateType"],))
    out = {"listVersion": p["versionNumber"], "updateType": p["updateType"]}
    entries = p.get("localAuthorizationList")
    if entries is not None:
        lst = []
        for e in entries:
            d = {"idTag": e["idToken"]["idToken"][:20]}
            if e.get("idTokenInfo") is not None:  # without: removed from the list (Differential), both versions
                d["idTagInfo"] = id_tag_info(e["idTokenInfo"])
            lst.append(d)
        out["localAuthorizationList"] = lst
    return act16, out


def combine(cfg, action, results):
    # results: [(charger index, 1.6 answer payload or None, why none)] -> the one 2.0.1 answer (tables201)
    if action == "GetLocalListVersion":
        low = None
        for _, res, _ in results:
            v = res.get("listVersion") if res is not None else None
            v = v if isinstance(v, int) and v > 0 else 0  # -1 (no list support) and no answer count as 0
            low = v if low is None or v < low else low
        return {"versionNumber": low or 0}
    if not results:
        return {"status": "Failed", "statusInfo": {"reasonCode": "NoCharger",
                                                   "additionalInfo": "no OCPP 1.6 charger takes a local list"}}
    worst = "Accepted"
    failed = []
    for idx, res, why in results:
        st = T.LOCAL_LIST_STATUS.get(res.get("status"), "Failed") if res is not None else "Failed"
        if st != "Accepted":
            failed.append("%s %s" % (cfg["chargers"][idx]["id"], why or res["status"]))
            if worst != "VersionMismatch":
                worst = st
    if not failed:
        return {"status": worst}
    return {"status": worst, "statusInfo": {"reasonCode": "ChargerFailed", "additionalInfo": "; ".join(failed)[:512]}}


def _set_result(p, status):
    return {"setVariableResult": [{"attributeStatus": status, "component": i["component"], "variable": i["variable"]}
                                  for i in p["setVariableData"]]}


def _get_variables(cfg, p, act16):
    items = p["getVariableData"]
    idx = None
    keys = []
    for i in items:
        ev = i["component"].get("evse")
        t = charger_of(cfg, ev["id"]) if isinstance(ev, dict) else None
        if t is not None and idx is None:
            idx = t[0]
        k = _key_of(i) if t is not None and t[0] == idx else None
        if k is not None:
            keys.append(k)
    if idx is None or not keys:
        raise Local(get_result(items, {}, []), "no charger key asked")
    return idx, act16, {"key": keys}, items


def get_result(items, values, unknown):
    # the GetVariables answer from the charger's configuration (values: key -> value)
    out = []
    for i in items:
        k = _key_of(i)
        r = {"component": i["component"], "variable": i["variable"]}
        if k is not None and k in values and values[k] is not None:
            r["attributeStatus"] = "Accepted"
            r["attributeValue"] = values[k][:2500]
        elif k is not None and k in values:
            r["attributeStatus"] = "Rejected"  # a key the charger keeps secret (no value)
        elif isinstance(i["component"].get("evse"), dict):
            r["attributeStatus"] = "UnknownVariable"
        else:
            r["attributeStatus"] = "UnknownComponent"  # the gateway's own components: ask them separately
        out.append(r)
    return {"getVariableResult": out}


def answer(st, cfg, action, memo, res):
    # the charger's 1.6 answer -> the 2.0.1 answer (and what the state learns from it)
    if action == "RequestStartTransaction":
        if res["status"] == "Accepted":
            st.remote[memo[0]] = memo[1]  # remembered for the Started event on that connector
        return {"status": res["status"]}
    if action in ("RequestStopTransaction", "Reset", "ChangeAvailability"):
        return {"status": res["status"]}
    if action == "SetChargingProfile":
        if res["status"] == "Accepted":
            st.profiles[str(memo[0])] = memo[1]
        return {"status": "Accepted" if res["status"] == "Accepted" else "Rejected"}
    if action == "ClearChargingProfile":
        if res["status"] == "Accepted" and memo is not None:
            st.profiles.pop(str(memo), None)
        return {"status": res["status"]}
    if action == "GetCompositeSchedule":
        return _composite(cfg, memo, res)
    if action == "GetVariables":
        vals = {}
        for kv in res.get("configurationKey") or []:
            vals[kv["key"]] = kv.get("value")
        return get_result(memo, vals, res.get("unknownKey") or [])
    if action == "SetVariables":
        out = _set_result(memo[0], "Rejected")  # only one variable is sent (docs/bridge.md)
        out["setVariableResult"][memo[1]]["attributeStatus"] = T.CONFIG_STATUS.get(res["status"], "Rejected")
        return out
    if action == "UnlockConnector":
        return {"status": T.UNLOCK.get(res["status"], "UnlockFailed")}
    if action == "TriggerMessage":
        return {"status": T.TRIGGER_STATUS.get(res["status"], "Rejected")}
    if action == "ReserveNow":
        status = T.RESERVE_STATUS.get(res["status"], "Rejected")
        if status == "Accepted":
            st.add_resv(memo[0], memo[1], memo[2], memo[3])
        return {"status": status}
    if action == "CancelReservation":
        st.resv.pop(str(memo), None)  # Accepted: cancelled; Rejected: the charger has no such reservation (expired)
        return {"status": T.CANCEL_STATUS.get(res["status"], "Rejected")}
    raise Untranslatable("NotSupported", action)


def _composite(cfg, memo, res):
    evse, unit, idx = memo
    if res["status"] != "Accepted" or not res.get("chargingSchedule"):
        return {"status": "Rejected"}
    s = res["chargingSchedule"]
    periods = periods_in(s, unit, cfg["chargers"][idx])
    return {"status": "Accepted", "schedule": {
        "evseId": evse, "duration": s.get("duration", 0), "scheduleStart": res.get("scheduleStart") or
        s.get("startSchedule") or clock.iso(), "chargingRateUnit": unit, "chargingSchedulePeriod": periods}}


def no_answer(action, why):
    # the charger is not connected or did not answer in time: a defined answer, never a hang
    if action == "UnlockConnector":
        return {"status": "UnlockFailed"}
    if action == "ClearChargingProfile":
        return {"status": "Unknown"}
    if action in ("GetVariables", "SetVariables"):
        return None  # a CALLERROR: there is no per-variable status for "charger offline"
    return {"status": "Rejected"}
