"""Decoder fuzz run under a small MicroPython heap: every input must decode or raise EXIError, nothing else.

run(path) reads {"seeds": [[schema, hex], ...], "hostile": [[schema, hex, expected text], ...]} and
prints RESULT with counts and the heap in use after loading the grammars.
"""
import gc
import json
import random

from exi import codec, schemas


def _try(g, data, stats):
    try:
        codec.decode(g, data)
        stats["ok"] += 1
    except codec.EXIError:
        stats["err"] += 1


def run(path, rounds=40):
    with open(path) as f:
        spec = json.load(f)
    gc.collect()
    base = gc.mem_alloc()
    stats = {"ok": 0, "err": 0, "hostile": 0, "grammar_heap": 0, "heap_after": 0}
    random.seed(1)
    for name in schemas.MODULES:      # one grammar loaded at a time, as a session does
        g = schemas.grammar(name)
        gc.collect()
        stats["grammar_heap"] = max(stats["grammar_heap"], gc.mem_alloc() - base)
        _fuzz(g, [hx for s, hx in spec["seeds"] if s == name], stats, rounds)
        for s, hx, expect in spec["hostile"]:
            if s == name:
                _hostile(g, hx, expect, stats)
        gc.collect()
        stats["heap_after"] = max(stats["heap_after"], gc.mem_alloc() - base)
        g = None
        schemas.release(name)
    print("RESULT " + json.dumps(stats))


def _hostile(g, hx, expect, stats):
    try:
        codec.decode(g, bytes.fromhex(hx))
        raise AssertionError("hostile input decoded: " + hx[:40])
    except codec.EXIError as e:
        if expect not in str(e):
            raise AssertionError("%s: %s" % (expect, e))
        stats["hostile"] += 1


def _fuzz(g, seeds, stats, rounds):
    for hx in seeds:
        m = bytes.fromhex(hx)
        for k in range(len(m)):                       # every truncation
            _try(g, m[:k], stats)
        for _ in range(rounds):                       # bit flips
            b = bytearray(m)
            for _ in range(random.getrandbits(2) + 1):
                i = random.getrandbits(16) % (len(b) * 8)
                b[i >> 3] ^= 0x80 >> (i & 7)
            _try(g, b, stats)
        for _ in range(rounds):                       # random tails after a valid header
            n = random.getrandbits(6) + 1
            _try(g, bytes([0x80]) + bytes(random.getrandbits(8) for _ in range(n)), stats)
        gc.collect()
