# ClearChargingProfile (K10): by id, or by evse/purpose/stackLevel criteria.
from ocpp import check


def handle(cl, p, mid):
    pid = check.field(p, "chargingProfileId", int, False, mid)
    crit = check.field(p, "chargingProfileCriteria", dict, False, mid) or {}
    n = cl.sc.clear(pid, crit.get("evseId"), crit.get("chargingProfilePurpose"), crit.get("stackLevel"))
    return {"status": "Accepted" if n else "Unknown"}
