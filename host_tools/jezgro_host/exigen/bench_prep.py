"""Host half of bench/exi_bench.py: sample messages, and the iso15118 package's codec timed on them in
this same run (its EXIficient codec behind py4j, as the package uses it), written for the MicroPython half."""
from __future__ import annotations

import json
from pathlib import Path

from . import samples
from .peers import NAMESPACE, JarPeer
from ..mp import run_code

# Variants worth timing on their own (the BPT control modes of -20, a schedule list in -2); every other
# message type our sessions exchange joins from the state tables (session_messages()).
MESSAGES = [
    ("handshake", "supportedAppProtocolReq", None), ("handshake", "supportedAppProtocolRes", None),
    ("din", "CurrentDemandReq", None), ("din", "CurrentDemandRes", None),
    ("din", "ChargeParameterDiscoveryRes", None),
    ("iso2", "SessionSetupRes", None), ("iso2", "ChargeParameterDiscoveryRes", "SAScheduleList"),
    ("iso2", "CurrentDemandReq", None), ("iso2", "CurrentDemandRes", None), ("iso2", "ChargingStatusRes", None),
    ("iso20-common", "SessionSetupReq", None), ("iso20-common", "ScheduleExchangeRes", "Dynamic_SEResControlMode"),
    ("iso20-dc", "DC_ChargeParameterDiscoveryRes", "BPT_DC_CPDResEnergyTransferMode"),
    ("iso20-dc", "DC_ChargeLoopReq", "BPT_Dynamic_DC_CLReqControlMode"),
    ("iso20-dc", "DC_ChargeLoopRes", "BPT_Dynamic_DC_CLResControlMode"),
    ("iso20-ac", "AC_ChargeLoopReq", "BPT_Dynamic_AC_CLReqControlMode"),
    ("iso20-ac", "AC_ChargeLoopRes", "BPT_Scheduled_AC_CLResControlMode"),
]
JAR_ROUNDS = 50  # the package codec runs 15-40 ms per call: 50 calls keep 80 message types under ~3 min

# The request/response names of our SECC's state tables, read from the firmware itself so the bench
# covers exactly the message types the sessions use.
_TABLES = """
import json
from iso15118.secc import din, iso2, iso20
print(json.dumps({m: [[q, r[0]] for q, r in mod.BUILD.items()] for m, mod in
                  (("din", din), ("iso2", iso2), ("iso20", iso20))}))
"""


def _iso20_schema(name: str) -> str:
    return "iso20-dc" if name.startswith("DC_") else "iso20-ac" if name.startswith("AC_") else "iso20-common"


def session_messages() -> list[tuple[str, str, str | None]]:
    p = run_code(_TABLES)
    if p.returncode != 0:
        raise RuntimeError(f"cannot read the SECC state tables: {p.stderr.strip()[-500:]}")
    out = list(MESSAGES)
    seen = {(s, m) for s, m, _ in MESSAGES}
    for proto, pairs in sorted(json.loads(p.stdout).items()):
        for pair in sorted(pairs):
            for name in pair:
                schema = _iso20_schema(name) if proto == "iso20" else proto
                if (schema, name) not in seen:
                    seen.add((schema, name))
                    out.append((schema, name, None))
    return out


def _has(o, key: str) -> bool:
    if isinstance(o, dict):
        return key in o or any(_has(v, key) for v in o.values())
    if isinstance(o, list):
        return any(_has(v, key) for v in o)
    return False


def pick(schema: str, message: str, want: str | None) -> dict:
    for seed in range(400):
        try:
            d = samples.sample(schema, message, seed, 0.15)
        except samples.Unsupported:
            continue
        if (want is None or _has(d, want)) and "SalesTariff" not in json.dumps(d):
            return d
    raise RuntimeError(f"no sample of {message} with {want}")


def prepare(path: Path) -> None:
    jar = JarPeer()
    items = []
    try:
        for schema, message, want in session_messages():
            doc = pick(schema, message, want)
            t = jar.ask({"op": "bench", "ns": NAMESPACE[schema],
                         "json": json.dumps(doc), "n": JAR_ROUNDS})
            if "error" in t:
                raise RuntimeError(f"peer codec failed on {message}: {t['error'][:200]}")
            items.append({"schema": schema, "message": message, "doc": doc,
                          "jar_enc_us": t["enc_us"], "jar_dec_us": t["dec_us"]})
    finally:
        jar.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"items": items}))
