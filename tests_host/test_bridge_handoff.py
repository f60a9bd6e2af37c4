"""Unit tests (MicroPython unix port) of the bridge's hand-off queues bounded by bytes as well as by count
(firmware/bridge/handoff.py): the byte estimate is never below the heap an entry really holds, a queue of
large MeterValues stops at its byte bound (refused and counted, nothing dropped, the heap it holds measured
with gc.mem_alloc), and TRANSLATOR facing a full upstream queue keeps the charger's message and its state
untouched until there is room, then translates it exactly once."""
from __future__ import annotations

import json

from jezgro_host.mp import run_code

MESSAGES = r"""
ts = "2026-01-01T00:00:00Z"
def mv(n, tx=1):
    return {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": ts, "sampledValue": [
        {"value": "%d" % (1000 + i), "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
         "unit": "Wh", "phase": "L%d" % (1 + i % 3)} for i in range(n)]}]}
EVENT = {"eventType": "Updated", "timestamp": ts, "triggerReason": "MeterValuePeriodic", "seqNo": 3,
         "transactionInfo": {"transactionId": "CP-A-1"}, "evse": {"id": 1, "connectorId": 1},
         "meterValue": [{"timestamp": ts, "sampledValue": [{"value": 1234.5, "measurand": "Power.Active.Import",
                         "unitOfMeasure": {"unit": "W", "multiplier": 3}, "phase": "L1"}] * 6}]}
SAMPLES = [mv(1), mv(6), mv(24), EVENT, {"connectorId": 1, "status": "Available", "errorCode": "NoError"},
           {"idTag": "TAG-1"}, {"x": "y" * 3000}]
"""

ESTIMATE = MESSAGES + r"""
import gc, json
from bridge.handoff import entry_bytes
for m in SAMPLES:
    t = json.dumps(m)
    keep = [None] * 8
    gc.collect()
    a = gc.mem_alloc()
    for i in range(8):
        keep[i] = json.loads(t)
    gc.collect()
    print(json.dumps([len(t), (gc.mem_alloc() - a) // 8, entry_bytes(keep[0])]))
"""


def test_estimate_never_below_the_heap_held():
    r = run_code(ESTIMATE)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 7
    for text_len, held, estimate in rows:
        assert held <= estimate, (text_len, held, estimate)
        assert estimate <= 2.5 * held + 512, (text_len, held, estimate)  # not so far above it that queues starve


QUEUES = MESSAGES + r"""
import gc, json
from bridge.handoff import Handoff, MAX_INBOX, MAX_INBOX_BYTES, MAX_UP_BYTES
big = json.dumps(mv(6))
B = Handoff()
gc.collect()
a = gc.mem_alloc()
n = 0
while B.put_in("0/m%d" % n, 0, "MeterValues", json.loads(big), 0):
    n += 1
gc.collect()
held = gc.mem_alloc() - a
print(json.dumps({"n": n, "bytes": B.inbox_bytes, "held": held, "refused": B.refused, "len": len(B.inbox)}))
# refused again: counted each time, the queue unchanged; a small message still fits by bytes? it may not: counted
print(B.put_in("0/again", 0, "MeterValues", json.loads(big), 0), B.refused["inbox_bytes"], len(B.inbox))
B.done_in("0/m0")
print(B.put_in("0/after", 0, "MeterValues", json.loads(big), 0), len(B.inbox))
for e in list(B.inbox):
    B.done_in(e[0])
print(B.inbox_bytes, len(B.inbox))
# one message larger than the whole bound passes an empty queue (it could never pass otherwise)
huge = {"x": "y" * (MAX_INBOX_BYTES + 100)}
print(B.put_in("0/huge", 0, "DataTransfer", huge, 0), B.put_in("0/next", 0, "MeterValues", mv(1), 0))
B.done_in("0/huge")
# upstream: by bytes too, up_fits asks for several at once, pop_up gives the room back
n = 0
while B.push_up("0/u%d/t" % n, "TransactionEvent", json.loads(big), 0):
    n += 1
print(json.dumps({"n": n, "bytes": B.up_bytes, "max": MAX_UP_BYTES, "refused": B.refused}))
print(B.up_fits([("t", "TransactionEvent", json.loads(big), 0)]))
B.pop_up()
print(B.up_fits([("t", "TransactionEvent", json.loads(big), 0)]), B.up_fits([("t", "X", json.loads(big), 0)] * 3))
while B.up:
    B.pop_up()
print(B.up_bytes)
"""


def test_queues_bounded_by_bytes_nothing_dropped():
    r = run_code(QUEUES)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    first = json.loads(out[0])
    # MeterValues of 6 values (~2.7 KB of heap each): the byte bound stops the queue well before its 20 entries
    assert 2 <= first["n"] < 20 and first["len"] == first["n"]
    assert first["bytes"] <= 10240 and first["held"] <= 10240, first
    assert first["refused"] == {"inbox_count": 0, "inbox_bytes": 1, "up_count": 0, "up_bytes": 0}
    assert out[1] == "False 2 %d" % first["n"]
    assert out[2] == "True %d" % first["n"]
    assert out[3] == "0 0"
    assert out[4] == "True False"
    up = json.loads(out[5])
    assert 2 <= up["n"] < 20 and up["bytes"] <= up["max"] and up["refused"]["up_bytes"] == 1
    assert out[6] == "False" and out[7] == "True False"
    assert out[8] == "0"


BACKPRESSURE = MESSAGES + r"""
import json, time
import board
from bridge import config
from bridge.handoff import BUS, MAX_UP_BYTES
from bridge.translator import Translator

class Ctx:
    fs_root = board.FS_ROOT
    def ticks_ms(self): return time.ticks_ms()
    def ticks_diff(self, a, b): return time.ticks_diff(a, b)

cfg = config.parse(json.dumps({"port": 9016, "chargers": [{"id": "CP-A", "password": "cp-a-secret-0123456789"}]}))
t = Translator(Ctx(), cfg)
t0 = time.ticks_ms()
BUS.put_in("0/s", 0, "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": ts}, t0)
print(t.step())
tid = BUS.answers.pop("0/s")[1]["transactionId"]
while BUS.up:
    BUS.pop_up()
# PROTOCOL_B stalls: the upstream queue fills with others' bytes
n = 0
while BUS.push_up("x/%d/t" % n, "TransactionEvent", {"x": "y" * 1500}, 0):
    n += 1
seq = t.st.tx[str(tid)]["seq"]
BUS.put_in("0/m", 0, "MeterValues", mv(6, tid), t0)
print(t.step(), len(BUS.inbox), "0/m" in BUS.answers, t.st.tx[str(tid)]["seq"] == seq, BUS.refused["up_bytes"] > 0)
while BUS.up:
    BUS.pop_up()
print(t.step(), len(BUS.inbox), BUS.answers.get("0/m"), t.st.tx[str(tid)]["seq"] == seq + 1,
      [e[0] for e in BUS.up], BUS.up_bytes <= MAX_UP_BYTES)
"""


def test_translator_waits_for_room_and_translates_once(tmp_path):
    r = run_code(BACKPRESSURE, fs_root=str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "(1, 1)"
    assert out[1] == "(0, 0) 1 False True True", out
    assert out[2] == "(1, 1) 0 [3, {}] True ['0/m/t'] True", out
