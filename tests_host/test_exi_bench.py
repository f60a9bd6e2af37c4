"""The EXI bench's same-run C baseline: libcbv2g (EVerest's C codec, built from the vendor folder by
exigen/cbv2g.py) decodes our encodings and re-encodes them to the same bytes (an independent codec
agreeing with ours), and bench/exi_bench.py runs to its tables on a freshly prepared set (its figures
are judged in `make bench`, never here)."""
from __future__ import annotations

import pytest

from jezgro_host import mp
from jezgro_host.exigen import bench_prep, cbv2g
from jezgro_host.exigen.peers import MpCodec
from jezgro_host.mp import BENCH


@pytest.fixture(scope="module")
def ref():
    why = cbv2g.missing()
    if why:
        pytest.skip(why)
    r = cbv2g.Ref()
    yield r
    r.close()


@pytest.mark.parametrize("schema,message,want", [
    ("din", "CurrentDemandReq", None), ("iso2", "ChargingStatusRes", None),
    ("iso20-dc", "DC_ChargeLoopReq", "BPT_Dynamic_DC_CLReqControlMode"),
    ("iso20-ac", "AC_ChargeLoopRes", "BPT_Scheduled_AC_CLResControlMode"),
])
def test_libcbv2g_decodes_our_charge_loop_encodings_and_re_encodes_the_same_bytes(ref, schema, message, want):
    # libcbv2g refuses some valid documents (non-ASCII characters, a few second-level events its
    # generator left out; test_exi_cross checks those against EXICodec.jar): the first sample it
    # takes, as the bench picks them, must come back byte for byte
    ours = MpCodec()
    try:
        def takes(d):
            return ref.measure(schema, bytes.fromhex(ours.encode(schema, d)["hex"]))["c_rc"] == 0
        doc = bench_prep.pick(schema, message, want, takes)
        enc = ours.encode(schema, doc)
    finally:
        ours.close()
    m = ref.measure(schema, bytes.fromhex(enc["hex"]))
    assert m["c_rc"] == 0 and m["c_same"], m
    assert m["c_dec_us"] > 0 and m["c_enc_us"] > 0 and m["c_struct"] > 1000


def test_libcbv2g_refuses_what_it_cannot_hold(ref):
    # its fixed arrays are smaller than -2's maxOccurs for sub-CA certificates (3 of 4): the bench
    # prints "-" there instead of a ratio
    five = [s for s in bench_prep.scaling_docs() if s["schema"] == "iso2" and s["n"] == 5][0]
    ours = MpCodec()
    try:
        enc = ours.encode("iso2", five["doc"])
    finally:
        ours.close()
    assert ref.measure("iso2", bytes.fromhex(enc["hex"]))["c_rc"] != 0


def test_exi_bench_runs_to_its_tables(tmp_path):
    bench_prep.prepare(tmp_path / "build" / "exi_bench.json", jar_rounds=1)
    p = mp.run([str(BENCH / "exi_bench.py")], heap="2M", extra=[BENCH], cwd=tmp_path, timeout=600,
               capture_output=True)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "Traceback" not in out, out[-3000:]
    assert "* iso20-dc/DC_ChargeLoopReq" in out and "EXI time vs message size" in out
    assert ("charge loop: worst" in out) == (cbv2g.missing() is None), out[-3000:]
    assert out.count("growth exponent encode") == 2
