# Simulation only: the ledger of TransactionEvents, queued by OCPP_CLIENT vs received by the in-process
# CSMS (csms_sim.py), for the chaos soak's verdict "OCPP messages queued vs delivered, nothing lost".
#
# install() wraps ocpp.txqueue.TxQueue.push (the one door into the persistent queue): every event the
# client queues is noted with the time and whether the CSMS had the station connected then. The CSMS
# notes every TransactionEvent it receives. Per transaction:
#   - seqNo continuous at the source: each queued seqNo is the one after the last (a seqNo consumed
#     without its event being queued is a loss at the source);
#   - delivered in order without gaps: each received seqNo is the next, or a copy of the last (OCPP
#     delivery is at least once: an event whose answer was lost with the connection is sent again);
#     a seqNo skipped is lost (dropped by the full queue, given up after MessageAttempts, or worse);
#   - offline: an event queued while the CSMS had no connection from the station (for at least
#     GRACE_MS, the time the client needs to notice) must say `offline: true`.
# Memory is bounded by the transactions not yet fully delivered: a transaction whose Ended event
# arrived with nothing missing is folded into the totals; problems keep their first PROBLEMS_KEEP texts.
from micropython import const

GRACE_MS = const(1000)  # the client notices a closed connection at its next poll (SLICE_MS 100 ms)
PROBLEMS_KEEP = const(20)
# per transaction (open): [next seqNo to be queued, next expected at the CSMS, {seqNo: (queued ms, CSMS state
# then, offline flag)} queued and not received yet, Ended queued]
Q_NEXT = const(0)
R_NEXT = const(1)
PENDING = const(2)
ENDED = const(3)


class Ledger:
    def __init__(self):
        self.open = {}  # transactionId -> the list above
        self.state = None  # fn(now_ms) -> "up" | "down" | "changing": the CSMS's view of the station
        self.c = {"queued": 0, "received": 0, "copies": 0, "transactions": 0, "complete": 0,
                  "dropped_full": 0, "source_gaps": 0, "lost": 0, "out_of_order": 0, "unknown": 0,
                  "offline_ok": 0, "offline_missing": 0, "offline_while_up": 0, "offline_unjudged": 0,
                  "still_queued": 0}
        self.problems = []

    def problem(self, text):
        if len(self.problems) < PROBLEMS_KEEP:
            self.problems.append(text)

    def _tx(self, p):
        return p["transactionInfo"]["transactionId"]

    def queued(self, p, now_ms, accepted):
        # OCPP_CLIENT put a TransactionEvent into its queue (accepted False: the full queue dropped it)
        tid = self._tx(p)
        t = self.open.get(tid)
        if t is None:
            t = self.open[tid] = [0, 0, {}, False]
            self.c["transactions"] += 1
        s = p["seqNo"]
        if s != t[Q_NEXT]:
            self.c["source_gaps"] += 1
            self.problem("%s: seqNo %d queued after %d at %d ms (%s)" % (
                tid, s, t[Q_NEXT] - 1, now_ms, "never queued" if s > t[Q_NEXT] else "queued twice"))
        t[Q_NEXT] = s + 1
        if p.get("eventType") == "Ended":
            t[ENDED] = True
        if not accepted:
            self.c["dropped_full"] += 1
            return
        self.c["queued"] += 1
        st = self.state(now_ms) if self.state is not None else "changing"
        t[PENDING][s] = (now_ms, st, bool(p.get("offline")))

    def received(self, p, now_ms):
        tid = self._tx(p)
        s = p["seqNo"]
        t = self.open.get(tid)
        if t is None:
            self.c["unknown"] += 1
            self.problem("%s: seqNo %d received at %d ms, never queued (or already complete)" % (tid, s, now_ms))
            return
        if s < t[R_NEXT]:
            self.c["copies"] += 1
            if s != t[R_NEXT] - 1:
                self.c["out_of_order"] += 1
                self.problem("%s: seqNo %d received after %d at %d ms" % (tid, s, t[R_NEXT] - 1, now_ms))
            return
        if s > t[R_NEXT]:
            self._lose(tid, t, t[R_NEXT], s, "before seqNo %d arrived at %d ms" % (s, now_ms))
        t[R_NEXT] = s + 1
        self.c["received"] += 1
        q = t[PENDING].pop(s, None)
        if q is None:
            self.c["unknown"] += 1
            self.problem("%s: seqNo %d received at %d ms, never queued" % (tid, s, now_ms))
        else:
            self._offline(tid, s, q, p)
        if t[ENDED] and t[R_NEXT] >= t[Q_NEXT] and not t[PENDING]:
            del self.open[tid]  # complete: only the totals are kept
            self.c["complete"] += 1

    def _lose(self, tid, t, first, end, when):
        # seqNo first..end-1 were skipped: the queue is in order, they will never come
        for s in range(first, end):
            t[PENDING].pop(s, None)
        self.c["lost"] += end - first
        self.problem("%s: seqNo %d..%d never reached the CSMS (%s)" % (tid, first, end - 1, when))

    def _offline(self, tid, s, q, p):
        t_ms, st, flag = q
        if st == "down":
            if flag:
                self.c["offline_ok"] += 1
            else:
                self.c["offline_missing"] += 1
                self.problem("%s: seqNo %d queued at %d ms while the CSMS had no connection, without offline: true" %
                             (tid, s, t_ms))
        elif st == "up":
            if flag:
                # the client was offline while the CSMS still held its old connection (a restarted
                # OCPP_CLIENT): said, not a failure
                self.c["offline_while_up"] += 1
        else:
            self.c["offline_unjudged"] += 1

    def finish(self, undelivered):
        # End of the run: undelivered = {transactionId: [seqNo, ...]} still in OCPP_CLIENT's queue (on the
        # filesystem: delivered after the next reconnect, not lost). Every other queued event that the
        # CSMS never received is lost.
        for tid, t in self.open.items():
            still = undelivered.get(tid, ())
            gone = []
            for s in sorted(t[PENDING]):
                if s in still:
                    self.c["still_queued"] += 1
                else:
                    gone.append(s)
            if gone:
                self.c["lost"] += len(gone)
                self.problem("%s: seqNo %s queued, never received and no longer in the queue" % (tid, gone[:8]))
        return self.report()

    def report(self):
        return {"counts": self.c, "open": len(self.open), "problems": self.problems, "grace_ms": GRACE_MS}


LEDGER = Ledger()


def install(state):
    # Wraps TxQueue.push so that every queued TransactionEvent is noted (simulation only)
    from ocpp import txqueue
    push = txqueue.TxQueue.push
    import board

    def noting(self, action, payload):
        ok = push(self, action, payload)
        if action == "TransactionEvent":
            LEDGER.queued(payload, board.ticks_ms(), ok)
        return ok
    txqueue.TxQueue.push = noting
    LEDGER.state = state
