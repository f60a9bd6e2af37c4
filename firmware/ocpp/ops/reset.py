# Reset (B11/B12): Immediate ends transactions (stoppedReason ImmediateReset)
# and asks the board to reset once the queue has been flushed to the file
# system (kernel.request_reset: the board really resets); OnIdle is Scheduled
# while a transaction runs.
from ocpp import check


def handle(cl, p, mid):
    kind = check.enum(p, "type", ("Immediate", "OnIdle"), mid=mid)
    if p.get("evseId"):
        return {"status": "Rejected"}
    if kind == "OnIdle" and cl.tx.tx:
        cl.later.reset_on_idle = True
        return {"status": "Scheduled"}
    return {"status": "Accepted"}


def after(cl, p, res):
    if res["status"] != "Accepted":
        return
    txm = cl.tx
    for e in list(txm.tx):
        txm.stop(int(e), "ResetCommand", "ImmediateReset")
    cl.ctx.store.set("ocpp_boot_reason", "RemoteReset")
    cl.ctx.store.set("ocpp_registered", False)
    cl.registered = False
    cl.boot_status = None
    cl.later.reset_kind = p["type"]
    cl.later.reset_at_ms = cl.now()
