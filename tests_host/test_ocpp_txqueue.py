"""The OCPP offline queue streams from its file (firmware/ocpp/txqueue.py): RAM independent of the queue's
length, loading and replay in order across a reboot mid-replay, the delivered front compacted away, a record
damaged under the running queue skipped and counted, and a full filesystem: at most RAM_ITEMS records wait in
RAM, the rest are dropped and counted (Started/Ended too: there is nowhere to keep them), in order once it
has room again."""
from __future__ import annotations

STREAM = """
import gc, harness
from jezgro import persist
from ocpp.txqueue import TxQueue, LOG, RAM_ITEMS, COMPACT_BYTES
root = {root!r}
log = root + "/" + LOG

def ev(i):
    # Started/Ended are never dropped for the bound: a queue far longer than MAX_ITEMS
    return {{"eventType": "Started" if i % 2 == 0 else "Ended", "seqNo": i, "timestamp": "2026-12-08T01:00:00Z",
             "triggerReason": "Authorized", "transactionInfo": {{"transactionId": "T%d" % (i // 2)}},
             "meterValue": [{{"timestamp": "2026-12-08T01:00:00Z",
                              "sampledValue": [{{"value": 1234.5, "measurand": "Energy.Active.Import.Register"}}]}}]}}

def heap_of(make):
    gc.collect()
    m0 = gc.mem_alloc()
    q = make()
    q.peek()
    gc.collect()
    return q, gc.mem_alloc() - m0

q, h_empty = heap_of(lambda: TxQueue(root))
for i in range(3000):
    q.push("TransactionEvent", ev(i))
gc.collect()
m0 = gc.mem_alloc()
q = None
q, h_load = heap_of(lambda: TxQueue(root))   # the next boot: 3000 records in the file
n_loaded = len(q)
size0 = persist.size(log)
seqs = []
for i in range(1000):
    seqs.append(q.peek()[1]["seqNo"])
    q.pop()
size_mid = persist.size(log)   # compacted: the delivered front went
q = TxQueue(root)   # a reboot mid-replay
first_after = q.peek()[1]["seqNo"]
# damage one record under the running queue (its CRC no longer matches): skipped when it comes up
with open(log, "r+b") as f:   # a byte inside the second undelivered line
    f.seek(q.off)
    i = q.off + f.read(4096).find(b"\\n") + 21
    f.seek(i)
    f.write(b"X")
while q.peek() is not None:
    seqs.append(q.peek()[1]["seqNo"])
    q.pop()
after_replay = [persist.size(log), len(q), q.torn]

# a full filesystem: RAM_ITEMS wait in RAM, the rest dropped and counted, in order once there is room
q.push("TransactionEvent", ev(0))
persist.FAIL[LOG] = persist.ENOSPC
took = [q.push("TransactionEvent", ev(i)) for i in range(1, RAM_ITEMS + 4)]
full = q.status()
persist.FAIL.clear()
q.push("TransactionEvent", ev(RAM_ITEMS + 4))
after_full = [p["seqNo"] for a, p in TxQueue(root).records()]
harness.result({{"h_empty": h_empty, "h_load": h_load, "n_loaded": n_loaded, "size0": size0, "size_mid": size_mid,
                 "seqs": seqs, "first_after": first_after, "after_replay": after_replay, "took": took, "full": full,
                 "after_full": after_full, "ram_items": RAM_ITEMS, "compact": COMPACT_BYTES,
                 "storage": persist.report()}})
"""


def test_the_queue_streams_from_its_file(mp, tmp_path):
    r = mp(STREAM.format(root=str(tmp_path)), heap="1M", timeout=300).data
    # 3000 records (~330 B each on the filesystem, ~1 MB) load in the same RAM as an empty queue (the head
    # record and a few numbers): the old queue held ~730 B per record and the 1 MB heap could not load them
    assert r["n_loaded"] == 3000 and r["size0"] > 900_000
    assert r["h_load"] - r["h_empty"] < 2048, (r["h_empty"], r["h_load"])
    # replay in order across a reboot after 1000; the delivered front was compacted away meanwhile
    assert r["first_after"] == 1000
    assert r["size_mid"] < r["size0"] - 1000 * 300 + r["compact"], (r["size0"], r["size_mid"])
    # the record damaged under the running queue (the second one after the reboot) is skipped
    assert r["seqs"] == [s for s in range(3000) if s != 1001], r["seqs"][995:1010]
    assert r["after_replay"] == [0, 0, 1]  # truncated once all was delivered; the skipped record counted
    assert r["storage"]["ocpp_txq.log"]["bad_lines"] == 1
    # full filesystem: RAM_ITEMS waited in RAM, 3 more (Started/Ended ones) dropped and counted
    f = r["full"]
    assert r["took"] == [True] * r["ram_items"] + [False] * 3, r["took"]
    assert f["in_ram"] == r["ram_items"] and f["unsaved"] and f["dropped"] == 3 and f["write_errors"] >= 1, f
    assert f["queued"] == 1 + r["ram_items"]
    assert r["after_full"] == list(range(r["ram_items"] + 1)) + [r["ram_items"] + 4]
    assert "filesystem full" in r["storage"]["ocpp_txq.log"]["last"]
