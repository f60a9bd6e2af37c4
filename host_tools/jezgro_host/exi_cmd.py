"""`jezgro exi generate|encode|decode`: grammar tables from the XSDs, and hex EXI <-> JSON through the
firmware codec under unix MicroPython (the same code the board runs), for debugging captured sessions."""
from __future__ import annotations

import json
import sys

from . import mp
from .errors import ToolError, firmware_message

SCHEMAS = ["handshake", "din", "iso2", "iso20-common", "iso20-dc", "iso20-ac"]

# Runs under MicroPython: stdin in, result on stdout, an EXIError message on stderr with exit status 1.
_RUN = """
import sys, json
from exi import codec, schemas
op, name = sys.argv[1], sys.argv[2]
data = sys.stdin.read()
try:
    g = schemas.grammar(name)
    if op == 'encode':
        try:
            doc = json.loads(data)
        except ValueError as e:
            raise codec.EXIError('input is not JSON: %s' % e)
        print(codec.encode(g, doc).hex())
    else:
        try:
            raw = bytes.fromhex(''.join(data.split()))
        except ValueError:
            raise codec.EXIError('input is not hex')
        if len(raw) >= 8 and raw[0] == 0x01 and raw[1] == 0xFE:
            raw = raw[8:]   # a whole V2GTP frame pasted from a capture: skip its 8-byte header
        print(json.dumps(codec.decode(g, raw, ordered=True)))
except codec.EXIError as e:
    sys.stderr.write('jezgro exi %s: %s\\n' % (op, e))
    sys.exit(1)
"""


def add_parser(sub) -> None:
    s = sub.add_parser("exi", help="EXI: generate grammar tables; hex EXI <-> JSON with the firmware codec")
    es = s.add_subparsers(dest="exi_cmd", required=True)
    es.add_parser("generate", help="write firmware/exi/grammars from the XSDs of the iso15118 package")
    for op, what in (("encode", "JSON on stdin -> hex EXI on stdout"),
                     ("decode", "hex EXI (or a V2GTP frame) on stdin -> JSON on stdout")):
        e = es.add_parser(op, help=what)
        e.add_argument("--schema", required=True, choices=SCHEMAS)
        e.add_argument("--pretty", action="store_true", help="indented JSON (decode)")
    s.set_defaults(func=main)


def main(a) -> int:
    if a.exi_cmd == "generate":
        from .exigen import generate
        return generate.main()
    p = mp.run(["-c", _RUN, a.exi_cmd, a.schema], heap="1M", input=sys.stdin.read(), capture_output=True,
               timeout=60)
    if p.returncode != 0:
        # the codec's EXIError is one line on stderr; anything else (a firmware bug, out of memory) is
        # a traceback: the user gets its last line
        raise ToolError(p.stderr.strip() or firmware_message(p.stdout) or f"MicroPython exit {p.returncode}")
    if a.exi_cmd == "decode" and a.pretty and a.exi_cmd == "decode" and a.pretty:  # json keeps the document order
        sys.stdout.write(json.dumps(json.loads(p.stdout), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(p.stdout)
    return 0
