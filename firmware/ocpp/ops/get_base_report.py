# GetBaseReport (B07) -> NotifyReport, split into messages of at most
# ItemsPerMessage entries, seqNo from 0, tbc on all but the last.
from ocpp import check, clock


def handle(cl, p, mid):
    check.field(p, "requestId", int, mid=mid)
    base = check.enum(p, "reportBase", ("ConfigurationInventory", "FullInventory", "SummaryInventory"), mid=mid)
    return {"status": "Accepted" if base != "SummaryInventory" else "NotSupported"}


def after(cl, p, res):
    if res["status"] != "Accepted":
        return
    data = cl.dm.report()
    if p["reportBase"] == "ConfigurationInventory":
        data = [d for d in data if d["variableAttribute"][0]["mutability"] == "ReadWrite"]
    per = cl.dm.int("DeviceDataCtrlr", "ItemsPerMessage")
    seq = 0
    for i in range(0, len(data), per):
        chunk = data[i:i + per]
        msg = {"requestId": p["requestId"], "generatedAt": clock.iso(), "seqNo": seq, "reportData": chunk}
        if i + per < len(data):
            msg["tbc"] = True
        cl.call("NotifyReport", msg)
        seq += 1
