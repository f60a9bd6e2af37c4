"""The iso15118 package's own EXI codec (EXIficient in EXICodec.jar) as a JSON Lines peer process.

Runs under .venv-iso15118 (the package pins pydantic 1 and cryptography, so it lives in its own venv),
never imported by the project's tools. One request per stdin line, one answer per stdout line:
  {"op": "encode", "ns": NAMESPACE, "json": MESSAGE_JSON}  -> {"hex": ...} | {"error": ...}
  {"op": "decode", "ns": NAMESPACE, "hex": EXI_HEX}         -> {"json": ...} | {"error": ...}
  {"op": "bench", "ns": ..., "json": ..., "n": N}           -> {"enc_us": ..., "dec_us": ...}
"""
import json
import sys
import time

from iso15118.shared.exificient_exi_codec import ExificientEXICodec


def main() -> int:
    codec = ExificientEXICodec()
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            if req["op"] == "encode":
                ans = {"hex": bytes(codec.encode(req["json"], req["ns"])).hex()}
            elif req["op"] == "decode":
                ans = {"json": codec.decode(bytes.fromhex(req["hex"]), req["ns"])}
            elif req["op"] == "bench":
                n = int(req["n"])
                t0 = time.perf_counter()
                for _ in range(n):
                    exi = bytes(codec.encode(req["json"], req["ns"]))
                t1 = time.perf_counter()
                for _ in range(n):
                    codec.decode(exi, req["ns"])
                t2 = time.perf_counter()
                ans = {"enc_us": (t1 - t0) * 1e6 / n, "dec_us": (t2 - t1) * 1e6 / n}
            else:
                ans = {"error": "unknown op"}
        except Exception as e:  # the peer reports every codec failure as an answer, it never dies on one
            ans = {"error": str(e) or type(e).__name__}
        out.write(json.dumps(ans) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
