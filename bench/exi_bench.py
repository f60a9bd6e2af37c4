# EXI codec benchmark, run under MicroPython (`jezgro bench` / `make bench`): encode and decode time per
# message type and the heap one decode allocates, against the iso15118 package's EXIficient codec timed
# in the same run (host_tools/jezgro_host/exigen/bench_prep.py writes build/exi_bench.json first).
import gc
import json
import sys
import time

from exi import codec, schemas

ROUNDS = 200


def per_call_us(fn, n):
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) / n


def decode_heap(g, data):
    # bytes allocated by one decode (collector off, so garbage counts too: the real demand)
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    codec.decode(g, data)
    used = gc.mem_alloc() - before
    gc.enable()
    return used


def main():
    as_json = "--json" in sys.argv
    with open("build/exi_bench.json") as f:
        items = json.load(f)["items"]
    rows = []
    loaded = {}
    for it in items:
        name = it["schema"]
        if name not in loaded:
            gc.collect()
            before = gc.mem_alloc()
            g = schemas.grammar(name)
            gc.collect()
            loaded[name] = (g, gc.mem_alloc() - before)
        g = loaded[name][0]
        doc = it["doc"]
        data = codec.encode(g, doc)
        assert codec.decode(g, data) == doc
        enc = per_call_us(lambda: codec.encode(g, doc), ROUNDS)
        dec = per_call_us(lambda: codec.decode(g, data), ROUNDS)
        rows.append({"message": it["message"], "schema": name, "bytes": len(data), "enc_us": enc, "dec_us": dec,
                     "jar_enc_us": it["jar_enc_us"], "jar_dec_us": it["jar_dec_us"],
                     "decode_heap": decode_heap(g, data)})
    grammar_heap = {k: v[1] for k, v in loaded.items()}
    if as_json:
        print(json.dumps({"rows": rows, "grammar_heap": grammar_heap}))
        return
    print("%-45s %5s %9s %9s %9s %9s %7s %7s %8s" % ("schema/message", "bytes", "enc us", "dec us", "peer enc",
                                                    "peer dec", "enc x", "dec x", "dec heap"))
    for r in rows:
        print("%-45s %5d %9.0f %9.0f %9.0f %9.0f %7.2f %7.2f %8d" % (
            r["schema"] + "/" + r["message"], r["bytes"], r["enc_us"], r["dec_us"], r["jar_enc_us"], r["jar_dec_us"],
            r["enc_us"] / r["jar_enc_us"], r["dec_us"] / r["jar_dec_us"], r["decode_heap"]))
    print("x = our time / the iso15118 package's codec (EXIficient via py4j, as the package calls it)")
    print("grammar tables in RAM (loaded from .py here; .mpy on the board): " +
          ", ".join("%s %d B" % (k, v) for k, v in grammar_heap.items()))


main()
