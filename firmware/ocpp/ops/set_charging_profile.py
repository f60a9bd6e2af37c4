# SetChargingProfile (K01): validated per K01 before it is installed.
from ocpp import check, smart_charging


def handle(cl, p, mid):
    evse = smart_charging.check_evse(p, mid)
    prof = check.field(p, "chargingProfile", dict, mid=mid)
    try:
        smart_charging.validate(cl, evse, prof)
    except (ValueError, KeyError, TypeError) as e:
        return smart_charging.reject_info(str(e))
    cl.sc.install(evse, prof)
    return {"status": "Accepted"}
