"""SLAC (ISO 15118-3) HomePlug Green PHY codec under MicroPython: every message built and parsed back,
Wireshark's own HomePlug AV dissector decodes every frame we send without a malformed or warning
mark, every field check gives its own counted error, pyslac (an independent implementation) reads our
frames and we read its frames, and 100 000 fuzzed inputs give only clean, counted errors."""
from __future__ import annotations

import importlib.util
import pytest

from slac_pcap import tshark_infos, write_pcap

FRAMES = """
import l_frames, harness
from slac import mme as m
rx = m.Rx()
out = []
for name, f in l_frames.frames():
    t = m.parse(rx, f, len(f))
    out.append([name, f.hex(), t, m.mmtype_name(t) if t >= 0 else rx.last_error])
harness.result({"frames": out, "errors": rx.error_counts()})
"""


@pytest.fixture
def frames(mp):
    return mp(FRAMES).data


def test_every_message_round_trips(frames):
    assert frames["errors"] == {}
    for name, hexf, t, tname in frames["frames"]:
        f = bytes.fromhex(hexf)
        assert t >= 0, (name, tname)
        assert len(f) >= 60 and f[12:14] == b"\x88\xe1", name
        assert f[14] == (0 if tname.startswith("VS_") else 1), name
        assert int.from_bytes(f[15:17], "little") == t, name
    names = [r[3] for r in frames["frames"]]
    for need in ("CM_SLAC_PARM.REQ", "CM_SLAC_PARM.CNF", "CM_START_ATTEN_CHAR.IND", "CM_MNBC_SOUND.IND",
                 "CM_ATTEN_PROFILE.IND", "CM_ATTEN_CHAR.IND", "CM_ATTEN_CHAR.RSP", "CM_VALIDATE.REQ",
                 "CM_VALIDATE.CNF", "CM_SLAC_MATCH.REQ", "CM_SLAC_MATCH.CNF", "CM_SET_KEY.REQ",
                 "CM_SET_KEY.CNF", "CM_AMP_MAP.CNF", "VS_SW_VER.REQ", "VS_NW_INFO.REQ"):
        assert need in names


def test_wireshark_decodes_every_frame_without_a_mark(frames, tmp_path):
    p = tmp_path / "slac.pcap"
    write_pcap(p, [bytes.fromhex(r[1]) for r in frames["frames"]])
    infos = tshark_infos(p)
    assert len(infos) == len(frames["frames"])
    for (name, _, _, tname), info in zip(frames["frames"], infos):
        if tname.startswith("CM_"):
            assert info.startswith(tname), (name, info)
        else:
            assert "Qualcomm Atheros" in info, (name, info)


def _pyslac():
    if importlib.util.find_spec("pyslac") is None:
        pytest.skip("pyslac not installed in .venv (requirements.txt pins it)")
    import pyslac.messages as pm  # type: ignore[import-not-found]
    return pm


def test_pyslac_reads_our_frames_and_we_read_its_frames(frames, mp):
    pm = _pyslac()
    f = {r[0]: bytes.fromhex(r[1]) for r in frames["frames"]}
    run = bytes.fromhex("1122334455667788")
    assert pm.SlacParmReq.from_bytes(f["slac_parm_req"]).run_id == run
    cnf = pm.SlacParmCnf.from_bytes(f["slac_parm_cnf"])
    assert (cnf.run_id, cnf.num_sounds, cnf.time_out, cnf.resp_type) == (run, 10, 6, 1)
    sa = pm.StartAtennChar.from_bytes(f["start_atten_char"])
    assert (sa.run_id, sa.num_sounds, sa.time_out, sa.forwarding_sta) == (run, 10, 6, f["slac_parm_req"][6:12])
    ms = pm.MnbcSound.from_bytes(f["mnbc_sound"])
    assert (ms.run_id, ms.cnt) == (run, 9)
    ap = pm.AttenProfile.from_bytes(f["atten_profile"])
    assert ap.num_groups == 58 and ap.aag[:8] == [20, 21, 22, 23, 24, 25, 26, 20]
    ac = pm.AtennChar.from_bytes(f["atten_char_ind"])
    assert (ac.run_id, ac.num_sounds, ac.num_groups, ac.aag[:3]) == (run, 10, 58, [20, 21, 22])
    assert pm.AtennCharRsp.from_bytes(f["atten_char_rsp"]).result == 0
    mr = pm.MatchReq.from_bytes(f["match_req"])
    assert (mr.run_id, mr.pev_mac, mr.evse_mac) == (run, f["slac_parm_req"][6:12], f["slac_parm_cnf"][6:12])
    mc = pm.MatchCnf.from_bytes(f["match_cnf"])
    assert mc.nmk == bytes(range(16)) and mc.run_id == run
    from pyslac.utils import generate_nid  # type: ignore[import-not-found]
    assert mc.nid == generate_nid(bytes(range(16)))
    # pyslac's own frames, as its EVSE session writes them, parsed by our codec
    from pyslac.layer_2_headers import EthernetHeader, HomePlugHeader  # type: ignore[import-not-found]
    ev, evse = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
    theirs = {
        "parm_cnf": bytes(EthernetHeader(ev, evse).pack_big() + HomePlugHeader(0x6065).pack_big()
                          + pm.SlacParmCnf(forwarding_sta=ev, run_id=run).pack_big()),
        "atten_char": bytes(EthernetHeader(ev, evse).pack_big() + HomePlugHeader(0x606E).pack_big()
                            + pm.AtennChar(source_address=ev, run_id=run, num_sounds=10, num_groups=58,
                                           aag=[30] * 58).pack_big()),
        "match_cnf": bytes(EthernetHeader(ev, evse).pack_big() + HomePlugHeader(0x607D).pack_big()
                           + pm.MatchCnf(pev_mac=ev, evse_mac=evse, run_id=run, nid=b"\x01" * 7,
                                         nmk=b"\x02" * 16).pack_big()),
    }
    r = mp("""
from slac import mme as m
import harness
rx = m.Rx()
out = {}
for k, h in %r.items():
    f = bytes.fromhex(h)
    f = f + bytes(max(0, 60 - len(f)))
    t = m.parse(rx, f, len(f))
    out[k] = [m.mmtype_name(t) if t >= 0 else rx.last_error]
    if t == m.CM_ATTEN_CHAR | m.IND:
        out[k].append(m.average(rx, m.AC_AAG, rx.u8(m.AC_GROUPS)))
    if t == m.CM_SLAC_MATCH | m.CNF:
        out[k].append(rx.eq(m.SM_NMK, b"\\x02" * 16, 16))
harness.result(out)
""" % {k: v.hex() for k, v in theirs.items()})
    assert r.data == {"parm_cnf": ["CM_SLAC_PARM.CNF"], "atten_char": ["CM_ATTEN_CHAR.IND", 30],
                      "match_cnf": ["CM_SLAC_MATCH.CNF", True]}


def test_each_bad_field_gives_its_own_counted_error(mp):
    r = mp("""
import l_frames, harness
from slac import mme as m
f = dict(l_frames.frames())
rx = m.Rx()
def bad(name, edits, cut=None):
    b = bytearray(f[name])
    for o, v in edits:
        b[o] = v
    if cut is not None:
        b = b[:cut]
    t = m.parse(rx, b, len(b))
    return m.ERROR_NAMES[-1 - t] if t < 0 else "accepted"
out = {
  "short_header": bad("slac_parm_req", [], 16),
  "short_body": bad("match_cnf", [], 100),
  "ethertype": bad("slac_parm_req", [(13, 0xE2)]),
  "mmv": bad("slac_parm_req", [(14, 2)]),
  "fragment": bad("slac_parm_req", [(17, 0x10)]),
  "unknown": bad("slac_parm_req", [(15, 0x66)]),
  "app_type": bad("mnbc_sound", [(19, 1)]),
  "security": bad("slac_parm_req", [(20, 1)]),
  "groups_zero": bad("atten_char_ind", [(19 + 51, 0)]),
  "groups_many": bad("atten_profile", [(19 + 6, 59)]),
  "resp_type": bad("start_atten_char", [(19 + 4, 0)]),
  "mvf": bad("match_req", [(19 + 2, 0x3F)]),
  "validate_result": bad("validate_cnf", [(19 + 2, 5)]),
  "vendor_oui": bad("sw_ver_req", [(18, 0xB1)]),
}
big = bytearray(1515)
big[12] = 0x88; big[13] = 0xE1; big[14] = 1
t = m.parse(rx, big, len(big))
out["oversize"] = m.ERROR_NAMES[-1 - t]
out["counts"] = rx.error_counts()
out["good_after"] = m.mmtype_name(m.parse(rx, f["match_cnf"], len(f["match_cnf"])))
harness.result(out)
""")
    d = r.data
    assert d.pop("good_after") == "CM_SLAC_MATCH.CNF"
    counts = d.pop("counts")
    assert d == {"short_header": "short", "short_body": "short", "ethertype": "ethertype", "mmv": "mmv",
                 "fragment": "fragmented", "unknown": "unknown_mmtype", "app_type": "field",
                 "security": "field", "groups_zero": "field", "groups_many": "field", "resp_type": "field",
                 "mvf": "length", "validate_result": "field", "vendor_oui": "field", "oversize": "oversize"}
    assert sum(counts.values()) == 15


def test_fuzz_100000_inputs_only_clean_counted_errors(mp):
    r = mp("""
import l_fuzz, harness
harness.result(l_fuzz.run(100000, seed=12))
""", timeout=600)
    d = r.data
    assert d["crashes"] == 0, d["crash_samples"]
    assert d["inputs"] == d["frames"] == 100000
    assert d["accepted"] + d["rejected"] == 100000
    # the mutations reach every check, and some inputs still parse (the fuzz is not all noise)
    assert d["accepted"] > 5000
    for e in ("short", "ethertype", "mmv", "fragmented", "unknown_mmtype", "field", "oversize"):
        assert d["errors"].get(e, 0) > 0, (e, d["errors"])
