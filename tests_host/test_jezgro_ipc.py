"""IPC pool: allocation-free send/receive, priority, exhaustion, limits."""
from __future__ import annotations

SETUP = """
import micropython, harness
from jezgro.ipc import Ipc, Msg, handle, PAYLOAD_MAX
from jezgro.const import *
import msgs

def locked(fn):
    # Run fn with the heap locked: any allocation raises MemoryError.
    micropython.heap_lock()
    try:
        r = fn()
    except MemoryError:
        r = "ALLOCATED"
    finally:
        micropython.heap_unlock()
    return r
"""


def test_send_and_receive_allocate_nothing(mp):
    r = mp(SETUP + """
ipc = Ipc(4, [64, 64, 128, 64])
for s in range(4):
    ipc.accepting[s] = 1
payload = bytearray(b"0123456789" * 5)
msg = Msg()
h = ipc.current_handle(2)
def burst():
    n = 0
    for i in range(50):
        n += ipc.send(1, 2, msgs.POWER_SETPOINT, payload)
        n += ipc.send_i32(1, h, msgs.GRID_UNLOCKED, i, -i, 1 << 29, -(1 << 29))
        n += ipc.send_i32(1, 3, msgs.GRID_EMERGENCY, i, priority=True)
    return n
def drain():
    got = 0
    while ipc.take(2, msg):
        got += 1
    while ipc.take(3, msg):
        got += 1
    return got
sent = locked(burst)
taken = locked(drain)
# content survives the trip
ipc.send_i32(1, 2, msgs.GRID_UNLOCKED, -123456789, 5)
ipc.take(2, msg)
harness.result({"sent": sent, "taken": taken, "type": msg.type, "a": msg.i32(0), "b": msg.i32(1),
                "src": msg.src, "in_use": ipc.in_use(), "hw": ipc.high_water})
""")
    d = r.data
    assert d["sent"] == 0  # sum of OK codes: every send returned OK with the heap locked
    assert d["taken"] == 150
    assert (d["type"], d["a"], d["b"], d["src"]) == (0x0101, -123456789, 5, 1)
    assert d["in_use"] == 0 and d["hw"] == 150


def test_send_priority_jumps_the_queue(mp):
    r = mp(SETUP + """
ipc = Ipc(2, [8, 8])
ipc.accepting[1] = 1
for i in range(5):
    ipc.send_i32(0, 1, msgs.PING, i)
ipc.send_i32(0, 1, msgs.GRID_EMERGENCY, 99, priority=True)
msg = Msg()
order = []
while ipc.take(1, msg):
    order.append(msg.i32(0))
harness.result(order)
""")
    assert r.data == [99, 0, 1, 2, 3, 4]


def test_pool_exhaustion_is_an_error_not_a_crash(mp):
    r = mp(SETUP + """
ipc = Ipc(12, [64] * 12)
for s in range(12):
    ipc.accepting[s] = 1
codes = {}
def flood():
    for s in range(1, 12):
        for i in range(64):
            c = ipc.send_i32(0, s, msgs.PING, i)
            codes[c] = codes.get(c, 0) + 1
flood()
full = ipc.send_i32(0, 1, msgs.PING, 0)   # mailbox 1 is full before the pool is
msg = Msg()
ipc.take(5, msg)
after = ipc.send_i32(0, 5, msgs.PING, 7)  # one slot freed: sending works again
harness.result({"codes": codes, "exhausted": ipc.pool_exhausted, "full": full,
                "mailbox_full": ipc.mailbox_full, "after": after, "hw": ipc.high_water,
                "oversize": ipc.send(0, 2, msgs.PING, bytearray(PAYLOAD_MAX + 1)),
                "nosvc": ipc.send(0, 40, msgs.PING)})
""")
    d = r.data
    assert d["codes"] == {"0": 512, "-3": 11 * 64 - 512}
    assert d["exhausted"] == 11 * 64 - 512
    assert d["hw"] == 512
    assert d["full"] == -4 and d["mailbox_full"] == 1
    assert d["after"] == 0
    assert d["oversize"] == -5 and d["nosvc"] == -1


def test_mailbox_full_is_counted(mp):
    r = mp(SETUP + """
ipc = Ipc(2, [4, 4])
ipc.accepting[1] = 1
codes = [ipc.send_i32(0, 1, msgs.PING, i) for i in range(6)]
harness.result({"codes": codes, "full": ipc.mailbox_full})
""")
    assert r.data == {"codes": [0, 0, 0, 0, -4, -4], "full": 2}


def test_kernel_receive_with_timeout(mp):
    r = mp(SETUP + """
import t_echo
from jezgro.service import ServiceSpec as S
k = harness.kernel([S(1, "ECHO", PRIO_MEDIUM, 4, 16, 1000000, "t_echo"),
                    S(2, "SAFE", PRIO_HIGH, 4, 16, 1000000, "t_safe")])
k.boot()
k.run(10)
t_echo.log.clear()
# ECHO answers a PING from SAFE to SAFE's handle: a round trip through two mailboxes.
k.ipc.send_i32(2, 1, msgs.PING, 42)
k.run(5)
import t_safe
harness.result({"echo": t_echo.log, "safe": t_safe.got})
""")
    assert r.data["echo"] == [["msg", 4, 42]]
    assert r.data["safe"] == [[5, 42, 0]]
