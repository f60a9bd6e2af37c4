"""Checks of the TransactionEvents a CSMS received (test_ocpp_tx.py, test_comm_loss_csms.py)."""
from __future__ import annotations


def check_sequence(evs, tx_id):
    got = [e for e in evs if e["transactionInfo"]["transactionId"] == tx_id]
    # Delivery is at least once: an event whose CALLRESULT was lost with the connection is sent again
    # after the reconnect, unchanged, and the CSMS recognises the copy by its seqNo (OCPP 2.0.1 E: seqNo
    # detects duplicates and gaps). At most one such copy per dropped connection; nothing else repeats.
    mine, copies = [], 0
    for e in got:
        if mine and e["seqNo"] == mine[-1]["seqNo"]:
            assert {k: v for k, v in e.items() if k != "offline"} == \
                {k: v for k, v in mine[-1].items() if k != "offline"}, (e, mine[-1])
            copies += 1
            continue
        mine.append(e)
    seqs = [e["seqNo"] for e in mine]
    # delivered in order, nothing missing
    assert seqs == list(range(len(seqs))), [e["seqNo"] for e in got]
    assert copies <= 1, [e["seqNo"] for e in got]
    assert mine[0]["eventType"] == "Started" and all(e["eventType"] == "Updated" for e in mine[1:-1])
    return mine
