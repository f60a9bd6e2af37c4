# GetBaseReport (B07) -> NotifyReport, split into messages of at most
# ItemsPerMessage entries, seqNo from 0, tbc on all but the last, built one at a time.
from ocpp import check, clock


def handle(cl, p, mid):
    check.field(p, "requestId", int, mid=mid)
    base = check.enum(p, "reportBase", ("ConfigurationInventory", "FullInventory", "SummaryInventory"), mid=mid)
    return {"status": "Accepted" if base != "SummaryInventory" else "NotSupported"}


def after(cl, p, res):
    if res["status"] == "Accepted":
        _send(cl, p["requestId"], p["reportBase"] == "ConfigurationInventory", 0)


def _send(cl, rid, writable, seq):
    # One NotifyReport at a time: the next chunk is built when the CSMS has taken this one,
    # so a report never holds more than ItemsPerMessage entries in RAM.
    keys = cl.dm.keys(writable)
    per = cl.dm.int("DeviceDataCtrlr", "ItemsPerMessage")
    chunk = keys[seq * per:(seq + 1) * per]
    more = (seq + 1) * per < len(keys)
    msg = {"requestId": rid, "generatedAt": clock.iso(), "seqNo": seq,
           "reportData": [cl.dm.entry(c, n) for c, n in chunk]}
    if more:
        msg["tbc"] = True
    cl.call("NotifyReport", msg, _then(rid, writable, seq + 1) if more else None)


def _then(rid, writable, seq):
    def next_chunk(cl, req, res, err):
        _send(cl, rid, writable, seq)
    return next_chunk
