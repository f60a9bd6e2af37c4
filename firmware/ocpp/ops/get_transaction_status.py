# GetTransactionStatus (E14): whether queued TransactionEvents remain.
from ocpp import check


def handle(cl, p, mid):
    tid = check.field(p, "transactionId", str, False, mid)
    q = cl.txq.items
    if tid is None:
        return {"messagesInQueue": bool(q)}
    evse, t = cl.tx.find(tid)
    mine = any(a == "TransactionEvent" and pl["transactionInfo"]["transactionId"] == tid for a, pl in q)
    return {"ongoingIndicator": t is not None, "messagesInQueue": mine}
