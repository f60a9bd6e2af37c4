# GetChargingProfiles (K09) -> ReportChargingProfiles, one message per EVSE.
from ocpp import check


def _match(o, crit, evse):
    p = o["p"]
    if evse is not None and o["evse"] != evse:
        return False
    if "chargingProfileId" in crit and p["id"] not in crit["chargingProfileId"]:
        return False
    if "chargingProfilePurpose" in crit and p["chargingProfilePurpose"] != crit["chargingProfilePurpose"]:
        return False
    if "stackLevel" in crit and p["stackLevel"] != crit["stackLevel"]:
        return False
    return True


def _found(cl, p):
    return [o for o in cl.sc.profiles if _match(o, p["chargingProfile"], p.get("evseId"))]


def handle(cl, p, mid):
    check.field(p, "requestId", int, mid=mid)
    check.field(p, "chargingProfile", dict, mid=mid)
    return {"status": "Accepted" if _found(cl, p) else "NoProfiles"}


def after(cl, p, res):
    if res["status"] != "Accepted":
        return
    by_evse = {}  # type: dict
    for o in _found(cl, p):
        by_evse.setdefault(o["evse"], []).append(o["p"])
    evses = sorted(by_evse)
    for i, e in enumerate(evses):
        msg = {"requestId": p["requestId"], "chargingLimitSource": "CSO", "evseId": e,
               "chargingProfile": by_evse[e]}
        if i < len(evses) - 1:
            msg["tbc"] = True
        cl.call("ReportChargingProfiles", msg)
