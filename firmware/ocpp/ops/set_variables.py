# SetVariables (B05): ReadWrite variables only; persisted by the device model.
# Back-off settings take effect for the next reconnect.
from ocpp import check


def handle(cl, p, mid):
    items = check.field(p, "setVariableData", list, mid=mid)
    if not items:
        raise check.RpcError("OccurrenceConstraintViolation", "setVariableData is empty", mid)
    out = []
    for it in items:
        comp = check.field(check.field(it, "component", dict, mid=mid), "name", str, mid=mid)
        var = check.field(check.field(it, "variable", dict, mid=mid), "name", str, mid=mid)
        val = check.field(it, "attributeValue", str, mid=mid)
        attr = it.get("attributeType", "Actual")
        r = {"component": it["component"], "variable": it["variable"]}
        if attr != "Actual":
            r["attributeType"] = attr
            r["attributeStatus"] = "NotSupportedAttributeType"
        else:
            r["attributeStatus"] = cl.dm.set(comp, var, val)
        out.append(r)
    return {"setVariableResult": out}


def after(cl, p, res):
    bo = cl.bo
    bo.wait_min_s = cl.dm.int("OCPPCommCtrlr", "RetryBackOffWaitMinimum")
    bo.random_range_s = cl.dm.int("OCPPCommCtrlr", "RetryBackOffRandomRange")
    bo.repeat_times = cl.dm.int("OCPPCommCtrlr", "RetryBackOffRepeatTimes")
