# GetVariables (B06): one result per requested component/variable.
from ocpp import check
from ocpp.device_model import VARS


def handle(cl, p, mid):
    items = check.field(p, "getVariableData", list, mid=mid)
    if not items:
        raise check.RpcError("OccurrenceConstraintViolation", "getVariableData is empty", mid)
    if len(items) > cl.dm.int("DeviceDataCtrlr", "ItemsPerMessage"):
        raise check.RpcError("OccurrenceConstraintViolation", "more than ItemsPerMessage items", mid)
    out = []
    for it in items:
        comp = check.field(check.field(it, "component", dict, mid=mid), "name", str, mid=mid)
        var = check.field(check.field(it, "variable", dict, mid=mid), "name", str, mid=mid)
        attr = it.get("attributeType", "Actual")
        r = {"component": it["component"], "variable": it["variable"]}
        if attr != "Actual":
            r["attributeType"] = attr
        if not any(c == comp for (c, _) in VARS):
            r["attributeStatus"] = "UnknownComponent"
        elif (comp, var) not in VARS:
            r["attributeStatus"] = "UnknownVariable"
        elif attr != "Actual":
            r["attributeStatus"] = "NotSupportedAttributeType"
        else:
            r["attributeStatus"] = "Accepted"
            v = cl.dm.get(comp, var)
            if comp == "ClockCtrlr" and var == "DateTime":
                from ocpp import clock
                v = clock.iso()
            r["attributeValue"] = v
        out.append(r)
    return {"getVariableResult": out}
