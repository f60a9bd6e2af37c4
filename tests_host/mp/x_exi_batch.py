"""JSON Lines driver of the firmware EXI codec for the host tests (one request per stdin line).

{"op": "enc", "schema": S, "doc": {...}} -> {"hex": ...} | {"error": ...}
{"op": "dec", "schema": S, "hex": ..., "budget": N (optional)} -> {"doc": {...}} | {"error": ...}
"""
import json
import sys

from exi import codec, schemas


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        req = json.loads(line)
        try:
            g = schemas.grammar(req["schema"])
            if req["op"] == "enc":
                ans = {"hex": codec.encode(g, req["doc"]).hex()}
            else:
                ans = {"doc": codec.decode(g, bytes.fromhex(req["hex"]), req.get("budget", codec.DEFAULT_BUDGET))}
        except codec.EXIError as e:
            ans = {"error": str(e)}
        print(json.dumps(ans))


main()
