# GetTransactionStatus (E14): whether queued TransactionEvents remain.
from ocpp import check


def handle(cl, p, mid):
    tid = check.field(p, "transactionId", str, False, mid)
    if tid is None:
        return {"messagesInQueue": len(cl.txq) > 0}
    evse, t = cl.tx.find(tid)
    # the queue streams from its file: read to its end (no early exit leaves the file open)
    mine = False
    for a, pl in cl.txq.records():
        if a == "TransactionEvent" and pl["transactionInfo"]["transactionId"] == tid:
            mine = True
    return {"ongoingIndicator": t is not None, "messagesInQueue": mine}
