"""`jezgro exi generate` reproduces the checked-in tables byte for byte; `jezgro exi encode/decode`
round-trip through the firmware codec and report bad input as a clear error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jezgro_host.exigen import generate

ROOT = Path(__file__).resolve().parents[1]
JEZGRO = str(Path(sys.executable).parent / "jezgro")


def test_generated_tables_are_reproducible_and_up_to_date(tmp_path):
    generate.main(tmp_path, quiet=True)
    checked_in = ROOT / "firmware" / "exi" / "grammars"
    names = sorted(p.name for p in checked_in.glob("*.py"))
    assert names == sorted(p.name for p in tmp_path.glob("*.py"))
    for n in names:
        assert (tmp_path / n).read_bytes() == (checked_in / n).read_bytes(), f"{n}: run `jezgro exi generate`"


def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JEZGRO, "exi", *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_cli_encode_decode_round_trip():
    doc = {"supportedAppProtocolReq": {"AppProtocol": [
        {"ProtocolNamespace": "urn:iso:std:iso:15118:-20:DC", "VersionNumberMajor": 1, "VersionNumberMinor": 0,
         "SchemaID": 1, "Priority": 1}]}}
    enc = run("encode", "--schema", "handshake", stdin=json.dumps(doc))
    assert enc.returncode == 0, enc.stderr
    dec = run("decode", "--schema", "handshake", stdin=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert json.loads(dec.stdout) == doc
    # keys in document (schema) order, as EXIficient-based tools print them
    assert list(json.loads(dec.stdout)["supportedAppProtocolReq"]["AppProtocol"][0]) == [
        "ProtocolNamespace", "VersionNumberMajor", "VersionNumberMinor", "SchemaID", "Priority"]
    # a whole V2GTP frame from a capture decodes too
    exi = bytes.fromhex(enc.stdout.strip())
    frame = bytes([1, 0xFE, 0x80, 0x01]) + len(exi).to_bytes(4, "big") + exi
    assert json.loads(run("decode", "--schema", "handshake", stdin=frame.hex()).stdout) == doc


def test_cli_reports_bad_input():
    bad = run("decode", "--schema", "iso20-dc", stdin="80ff")
    assert bad.returncode == 1 and "jezgro exi decode:" in bad.stderr
    bad = run("encode", "--schema", "iso2", stdin='{"V2G_Message": {"Header": {}}}')
    assert bad.returncode == 1 and "missing SessionID" in bad.stderr
    bad = run("decode", "--schema", "din", stdin="not hex")
    assert bad.returncode == 1 and "not hex" in bad.stderr
