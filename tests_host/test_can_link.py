"""CAN_HANDLER's pieces without the kernel: the unix bus's wire format against python-can's own
msgpack codec, STATION_CMD checking (length, CRC, counter, values, timeout), the gateway's frames
decoded by cantools to the physical values the firmware meant, measured P/Q, and no allocation."""
from __future__ import annotations

import json
import math

import msgpack
import pytest
from can import Message
from can.interfaces.udp_multicast.utils import pack_message, unpack_message

from jezgro_host import candbc


@pytest.fixture(scope="module")
def db():
    return candbc.load()


def test_unix_bus_speaks_python_cans_udp_multicast_format(mp):
    ours = [Message(arbitration_id=i, data=bytes(range(n)), is_fd=n > 8, bitrate_switch=n > 8, is_extended_id=False)
            for i, n in ((0x700, 16), (0x600, 8), (0x123, 0), (0x7FF, 64), (0x610, 12))]
    theirs = [pack_message(m).hex() for m in ours]
    # another encoder's choices: minimal ints, str keys in another order, a float32 timestamp
    other = msgpack.packb({"data": b"\x01\x02", "arbitration_id": 5, "is_fd": False, "dlc": 2, "timestamp": 1.5,
                           "is_extended_id": False}, use_bin_type=True, use_single_float=True).hex()
    r = mp(f"""
import array, json, canudp
out = array.array("i", bytes(4 * (canudp.NF + 3)))
enc = []
for cid, n in ((0x700, 16), (0x600, 8), (0x123, 0), (0x7FF, 64), (0x610, 12)):
    t = bytearray(canudp.DATA_AT + 64)
    t[0:canudp.DATA_AT] = canudp._HEAD
    k = canudp.encode(t, cid, bytes(range(n)), n, n > 8)
    enc.append(bytes(t[:k]).hex())
dec = []
for hx in {json.dumps(theirs + [other])!r} and {json.dumps(theirs + [other])}:
    b = bytes.fromhex(hx)
    ok = canudp.decode(b, len(b), out)
    dec.append([ok, out[0], out[1], out[3], b[out[2]:out[2] + out[1]].hex()])
bad = [canudp.decode(x, len(x), out) for x in (b"", b"\\x93\\x01\\x02", b"\\x81\\xa4data\\xc4\\x09ab", b"\\x81\\xc1")]
print("RESULT " + json.dumps({{"enc": enc, "dec": dec, "bad": bad}}))
""")
    for hx, m in zip(r.data["enc"], ours):
        got = unpack_message(bytes.fromhex(hx), check=True)
        assert (got.arbitration_id, bytes(got.data), got.is_fd, got.bitrate_switch, got.dlc, got.is_extended_id) == \
            (m.arbitration_id, bytes(m.data), m.is_fd, m.is_fd, len(m.data), False)
    for d, m in zip(r.data["dec"], ours + [Message(arbitration_id=5, data=b"\x01\x02")]):
        assert d == [True, m.arbitration_id, len(m.data), int(m.is_fd), bytes(m.data).hex()]
    assert r.data["bad"] == [False, False, False, False]


def _link_run(mp, body: str):
    return mp(f"""
import array, json, micropython
from canbus import station, codec, tables as T
from jezgro import shared
from power import status as S
def tadd(a, b): return (a + b) & 0x3FFFFFFF
def tdiff(a, b): return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
def cmd(p, q, mode, counter, timeout, n=16, crc_xor=0):
    v = array.array("i", [p, q, mode, counter & 15, timeout, 0])
    b = bytearray(16)
    codec.pack(b, T.STATION_CMD_SIGS, v)
    b[15] = codec.crc8(T.STATION_CMD, b, 15) ^ crc_xor
    return b, n
L = station.Link()
out = {{}}
{body}
print("RESULT " + json.dumps(out))
""")


def test_station_cmd_checks_and_timeout(mp):
    r = _link_run(mp, """
seq = []
for (p, q, mode, c, t, n, x), now in (
        ((-5000, 100, 1, 1, 500, 16, 0), 0),       # accepted (first frame: any counter)
        ((-5000, 100, 1, 2, 500, 8, 0), 10),       # classic 8-byte frame: length
        ((-5000, 100, 1, 2, 500, 16, 0x20), 20),   # CRC
        ((-5000, 100, 1, 1, 500, 16, 0), 30),      # counter did not advance: stale
        ((-6000, 0, 1, 3, 500, 16, 0), 100),       # counter + 2: accepted, one lost
        ((-6000, 0, 1, 12, 500, 16, 0), 150),      # jump: counter error, resynchronised
        ((-6000, 0, 1, 13, 500, 16, 0), 200),      # in sequence again: accepted
        ((-6000, 0, 7, 14, 500, 16, 0), 250),      # unknown mode: value
        ((-6000, 0, 1, 15, 50, 16, 0), 260),       # timeout under 100 ms: value
        ((3000, 0, 2, 0, 300, 16, 0), 300)):       # standby: zero power, 300 ms
    b, nn = cmd(p, q, mode, c, t, n, x)
    seq.append(L.command(b, nn, now, tadd))
out["seq"] = seq
out["cmd"] = [L.has_cmd, L.p_w, L.q_var, L.mode, L.timeout_ms, L.until]
out["exp"] = [L.expire(599, tdiff), L.expire(600, tdiff), L.expire(601, tdiff), L.expired_flag]
out["counters"] = L.counters()
""")
    d = r.data
    assert d["seq"] == [0, -1, -2, -3, 0, -4, 0, -5, -5, 0]
    assert d["cmd"] == [True, 0, 0, 2, 300, 600]
    assert d["exp"] == [False, True, False, True]  # expires once, exactly at its timeout
    assert d["counters"] == {"accepted": 4, "bad_length": 1, "bad_crc": 1, "stale": 1, "bad_counter": 1,
                             "bad_value": 2, "lost": 1, "expired": 1}


def test_gateway_frames_decode_to_the_physical_values(mp, db):
    # 50 Hz, 325 V peak, 10 kW measured import, OCPP import limit 11 kW, station setpoint in force
    r = _link_run(mp, """
pll = array.array("i", bytes(4 * shared.FIELDS))
pll[shared.THETA] = 1 << 30          # a quarter turn
pll[shared.OMEGA] = 20588881         # 314.159 rad/s in Q16
pll[shared.VD] = 83200               # 325 V in Q8
pll[shared.VQ] = -256
pll[shared.LOCKED] = 1
g = S.GW
g[S.STATE] = 5; g[S.P_MEAS] = 10004; g[S.Q_MEAS] = -1234; g[S.HELD] = 1
g[S.IMP_LIM] = 11000; g[S.IMP_SRC] = 1; g[S.EXP_LIM] = 0; g[S.EXP_SRC] = S.NONE; g[S.SET_SRC] = 3
g[S.SESSION] = 2; g[S.PROTOCOL] = 4; g[S.SERIAL] = 7
fr = {}
n = L.status(g, pll, True, 1000, tdiff); fr["GW_STATUS"] = bytes(L.buf[:n]).hex()
n = L.pll(pll); fr["GW_PLL"] = bytes(L.buf[:n]).hex()
n = L.power(g); fr["GW_POWER"] = bytes(L.buf[:n]).hex()
n = L.v2g(g, True, 55, 1234); fr["GW_V2G"] = bytes(L.buf[:n]).hex()
n = L.fault(3, 8, 1, 4321); fr["GW_FAULT"] = bytes(L.buf[:n]).hex()
# the hot path allocates nothing: frames and commands under a locked heap
b, nn = cmd(-5000, 0, 1, 5, 500)
out["alloc_free"] = False  # the key exists before the lock: setting it then allocates nothing
micropython.heap_lock()
try:
    for i in range(20):
        L.status(g, pll, False, 1000 + i, tdiff); L.pll(pll); L.power(g); L.v2g(g, True, -1, 0)
        L.fault(3, 8, 1, i)
        b[8] = (b[8] & 0x0F) | (((5 + i) & 15) << 4)
        b[15] = codec.crc8(T.STATION_CMD, b, 15)
        L.command(b, 16, i, tadd)
        L.expire(i, tdiff)
    out["alloc_free"] = True
finally:
    micropython.heap_unlock()
out["frames"] = fr
""")
    fr = {k: db.get_message_by_name(k).decode(bytes.fromhex(v), decode_choices=False) for k, v in r.data["frames"].items()}
    s = fr["GW_STATUS"]
    assert s["GwState"] == 5 and s["ServiceHeld"] == 1 and s["CanErrorPassive"] == 1 and s["SafeState"] == 0
    assert abs(s["GridFreq"] - 50.0) < 0.002 and s["P"] == 10000 and s["Q"] == -1230
    p = fr["GW_PLL"]
    assert abs(p["Theta"] - math.pi / 2) < 1e-3 and p["Omega"] == 20588881 / 65536
    assert p["Vd"] == 325.0 and p["Vq"] == -1.0 and p["Locked"] == 1
    w = fr["GW_POWER"]
    assert (w["PActual"], w["QActual"], w["ImportLimit"], w["ImportLimitSrc"], w["ExportLimitSrc"], w["SetpointSrc"]) == \
        (10004, -1234, 11000, 1, 15, 3)
    v = fr["GW_V2G"]
    assert (v["V2gEnabled"], v["SessionLevel"], v["Protocol"], v["EvSoc"], v["Energy"], v["SessionSerial"]) == (1, 2, 4, 55, 1234, 7)
    f = fr["GW_FAULT"]
    assert (f["FaultCode"], f["Service"], f["Cause"], f["Seq"], f["TimeMs"]) == (3, 8, 1, 1, 4321)
    assert r.data["alloc_free"] is True


def test_measured_power_from_dq_currents(mp):
    # 325 V; id = -20 A (generator convention: importing), iq = 5 A
    r = mp("""
import json
from power.measure import Measure
m = Measure()
m.update(83200, 0, -20 * 256, 5 * 256)
first = [m.p_w, m.q_var]
for i in range(60):
    m.update(83200, 0, 10 * 256, 0)   # now exporting 4.875 kW
print("RESULT " + json.dumps({"first": first, "later": [m.p_w, m.q_var]}))
""")
    p_imp = 1.5 * 325 * 20
    q = 1.5 * (0 - 325 * 5)
    assert abs(r.data["first"][0] - p_imp) < 0.01 * p_imp and abs(r.data["first"][1] - q) < 0.01 * abs(q)
    assert abs(r.data["later"][0] + 1.5 * 325 * 10) < 60 and abs(r.data["later"][1]) < 30
