# GetCompositeSchedule (K08): the composite of the installed profiles from now.
from ocpp import check, clock, smart_charging


def handle(cl, p, mid):
    dur = check.field(p, "duration", int, mid=mid)
    evse = smart_charging.check_evse(p, mid)
    unit = check.enum(p, "chargingRateUnit", ("W", "A"), False, mid) or "W"
    if not 0 <= evse <= cl.connectors or dur <= 0:
        return {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEVSE"}}
    return {"status": "Accepted", "schedule": cl.sc.composite(evse, int(clock.now()), dur, unit)}
