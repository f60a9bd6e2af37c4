"""The station CAN-FD contract: the firmware's tables are generated from the DBC, and the firmware codec
and cantools (the host side) agree on every signal of every message, both ways, extremes included."""
from __future__ import annotations

import json
import random

import pytest

from jezgro_host import candbc


@pytest.fixture(scope="module")
def db():
    return candbc.load()


def test_firmware_tables_are_generated_from_the_dbc(db):
    assert candbc.TABLES.read_text() == candbc.render_tables(db), "run `jezgro can gen`"


def test_docs_table_is_the_dbc(db):
    text = candbc.DOC.read_text()
    a = text.index(candbc.DOC_BEGIN) + len(candbc.DOC_BEGIN)
    assert text[a:text.index(candbc.DOC_END)].strip() == candbc.render_doc_table(db), "run `jezgro can gen`"


def test_dbc_has_the_spec_messages_at_their_rates(db):
    want = {0x600: ("GW_STATUS", 100), 0x610: ("GW_PLL", 100), 0x620: ("GW_POWER", 100),
            0x630: ("GW_V2G", 1000), 0x640: ("GW_FAULT", None), 0x700: ("STATION_CMD", None)}
    got = {m.frame_id: (m.name, m.cycle_time) for m in db.messages}
    assert got == want
    for m in db.messages:
        assert m.length in (8, 12, 16, 20, 24, 32, 48, 64) and (m.is_fd or m.length <= 8), m.name


def _raw_range(s):
    if s.is_signed:
        lo, hi = -(1 << (s.length - 1)), (1 << (s.length - 1)) - 1
    else:
        lo, hi = 0, (1 << s.length) - 1
    # the firmware's small ints: |raw| < 2^30 on the board
    return max(lo, -(1 << 30)), min(hi, (1 << 30) - 1)


def _vectors(db, n=25):
    rnd = random.Random(1)
    out = []
    for m in db.messages:
        rows = []
        for k in range(n):
            row = []
            for s in m.signals:
                lo, hi = _raw_range(s)
                row.append(lo if k == 0 else hi if k == 1 else (0 if k == 2 else rnd.randint(lo, hi)))
            rows.append(row)
        out.append((m.name, m.length, rows))
    return out


def test_firmware_codec_and_cantools_agree_on_every_signal(db, mp):
    vec = _vectors(db)
    # host -> firmware: cantools encodes raw values, the firmware unpacks them
    frames = {name: [db.get_message_by_name(name).encode(dict(zip([s.name for s in db.get_message_by_name(name).signals],
                                                                   row)), scaling=False, strict=False).hex()
                     for row in rows] for name, _, rows in vec}
    r = mp(f"""
import array, json
from canbus import codec, tables
vec = {json.dumps(vec)}
frames = {json.dumps(frames)}
packed = {{}}
unpacked = {{}}
for name, n, rows in vec:
    sigs = getattr(tables, name + "_SIGS")
    assert getattr(tables, name + "_LEN") == n
    vals = array.array("i", [0] * (len(sigs) // 3))
    packed[name] = []
    unpacked[name] = []
    for row, hx in zip(rows, frames[name]):
        buf = bytearray(n)
        for i, v in enumerate(row):
            vals[i] = v
        codec.pack(buf, sigs, vals)
        packed[name].append(buf.hex())
        codec.unpack(bytes.fromhex(hx), sigs, vals)
        unpacked[name].append(list(vals))
print("RESULT " + json.dumps({{"packed": packed, "unpacked": unpacked}}))
""")
    for name, _, rows in vec:
        m = db.get_message_by_name(name)
        names = [s.name for s in m.signals]
        for row, hx, back in zip(rows, r.data["packed"][name], r.data["unpacked"][name]):
            # firmware -> host: cantools decodes what the firmware packed
            dec = m.decode(bytes.fromhex(hx), scaling=False, decode_choices=False)
            assert [dec[n] for n in names] == row, (name, row)
            assert back == row, (name, row)


def test_station_cmd_crc_is_the_same_on_both_sides(db, mp):
    assert candbc.crc8(0, b"") != candbc.crc8(0x700, b"")  # the id is covered
    rnd = random.Random(2)
    payloads = [bytes(rnd.randrange(256) for _ in range(15)) for _ in range(40)]
    r = mp(f"""
import json
from canbus import codec
p = {json.dumps([x.hex() for x in payloads])}
print("RESULT " + json.dumps([codec.crc8(0x700, bytes.fromhex(x), 15) for x in p]))
""")
    assert r.data == [candbc.crc8(0x700, x) for x in payloads]
    # the standard check value of CRC-8/SAE-J1850 ("123456789" -> 0x4B), without the id bytes
    assert candbc.crc8_raw(b"123456789") == 0x4B
