# Mutation fuzzing inside MicroPython (the decoders run here on the board): seeds from fuzz/corpus/TARGET,
# N mutated inputs through the target's decoder, every outcome counted per kind. An input may only be
# accepted or end in the target's documented error; any other exception, an input slower than the time
# bound or live heap that keeps growing is a failure, kept with its input for `jezgro fuzz --repro`.
import gc
import json
import os
import random
import sys
import time

MAX_KINDS = 48        # distinct error kinds kept; further ones are counted under "other"
MAX_FAILS = 8         # failing inputs kept in full per batch (all are counted)
HEAP_EVERY = 4096     # inputs between live-heap checks
WARMUP = 2048         # inputs before the heap baseline (first-use caches, interned names)
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x3F)
JSON_VALUES = (None, True, False, 0, -1, 2147483647, 9223372036854775807, -2 ** 70, 1.5e308, "", "x" * 300,
               [], {}, json.loads("[" * 40 + "]" * 40), {"a": {"b": {"c": {"d": 1}}}}, "2024-13-45T99:99:99Z",
               "\u00e9\u0000", [1, "2", None])


def kind_of(e):
    # "Type: message" with each run of digits as N and quoted values as '..', so that one kind of
    # error is one row whatever the input put into its message
    out = []
    digit = False
    quote = ""
    for ch in str(e)[:80]:
        if quote:
            if ch == quote:
                out.append(".." + ch)
                quote = ""
            continue
        if ch == "'" or ch == '"':
            quote = ch
            out.append(ch)
        elif "0" <= ch <= "9":
            if not digit:
                out.append("N")
            digit = True
            continue
        else:
            out.append(ch)
        digit = False
    return (type(e).__name__ + ": " + "".join(out))[:64]


def load_seeds(path):
    seeds = []
    for name in sorted(os.listdir(path)):
        with open(path + "/" + name, "rb") as f:
            seeds.append(f.read())
    if not seeds:
        raise ValueError("no seeds in " + path)
    return seeds


def _r(n):
    return random.getrandbits(16) % n if n > 0 else 0


def mutate_bytes(b, seeds):
    how = random.getrandbits(4)
    n = len(b)
    if how < 5 and n:                                     # bit flips
        for _ in range(random.getrandbits(2) + 1):
            i = _r(n * 8)
            b[i >> 3] ^= 0x80 >> (i & 7)
    elif how < 7 and n:                                   # an interesting byte
        b[_r(n)] = INTERESTING[random.getrandbits(3)]
    elif how == 7:                                        # truncation
        b = b[:_r(n + 1)]
    elif how == 8:                                        # random tail
        b += bytes(random.getrandbits(8) for _ in range(random.getrandbits(5) + 1))
    elif how == 9 and n:                                  # insert random bytes
        i = _r(n)
        b = b[:i] + bytes(random.getrandbits(8) for _ in range(random.getrandbits(3) + 1)) + b[i:]
    elif how == 10 and n:                                 # delete a chunk
        i = _r(n)
        b = b[:i] + b[i + random.getrandbits(4) + 1:]
    elif how == 11 and n:                                 # duplicate a chunk
        i = _r(n)
        b = b[:i] + b[i:i + random.getrandbits(5) + 1] + b[i:]
    elif how == 12:                                       # splice: the head of one seed, the tail of another
        o = seeds[_r(len(seeds))]
        b = b[:_r(n + 1)] + o[_r(len(o) + 1):]
    elif how == 13 and n >= 2:                            # a 16-bit field set to an edge value
        i = _r(n - 1)
        v = (0, 0xFFFF, 0x7FFF, 0x8000, 1)[_r(5)]
        b[i] = v >> 8
        b[i + 1] = v & 0xFF
    elif how == 14 and n:                                 # a byte +-1
        i = _r(n)
        b[i] = (b[i] + (1 if random.getrandbits(1) else 255)) & 0xFF
    return bytearray(b)


def _nodes(v, out, depth=0):
    out.append(v)
    if depth < 8:
        if isinstance(v, dict):
            for x in v.values():
                _nodes(x, out, depth + 1)
        elif isinstance(v, list):
            for x in v:
                _nodes(x, out, depth + 1)


def mutate_json(raw):
    # a structural change: one value replaced by another type, a key dropped or an unknown one added
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    nodes = []
    _nodes(doc, nodes)
    cont = [x for x in nodes if isinstance(x, (dict, list)) and x]
    if not cont:
        return None
    c = cont[_r(len(cont))]
    new = JSON_VALUES[_r(len(JSON_VALUES))]
    how = random.getrandbits(2)
    if isinstance(c, dict):
        keys = list(c)
        k = keys[_r(len(keys))]
        if how == 0:
            del c[k]
        elif how == 1:
            c["unknownField"] = new
        else:
            c[k] = new
    else:
        i = _r(len(c))
        if how == 0:
            c.pop(i)
        elif how == 1:
            c.append(new)
        else:
            c[i] = new
    return bytearray(json.dumps(doc).encode())


def _retime(one, data, us):
    # the least of three timings of one input (the decoders keep no state that makes a repeat cheaper)
    for _ in range(2):
        s = time.ticks_us()
        try:
            one(data)
        except Exception:  # noqa: BLE001 - outcome already counted: only the time matters here
            pass
        t = time.ticks_diff(time.ticks_us(), s)
        if t < us:
            us = t
    return us


def run(target, n, seed, corpus, budget_us, trace=None):
    import fz_targets
    t = fz_targets.make(target)
    seeds = load_seeds(corpus)
    random.seed(seed)
    counts = {"accepted": 0}
    fails = []
    nfail = 0
    max_us = 0
    slow = 0
    base = -1
    heap_max = 0
    fix = t.fix
    one = t.one
    errors = t.errors
    kinds = t.kinds
    t0 = time.ticks_ms()
    for i in range(n):
        src = seeds[_r(len(seeds))]
        data = None
        if t.is_json and random.getrandbits(1):
            data = mutate_json(src)
        if data is None:
            data = bytearray(src)
        for _ in range(random.getrandbits(2) + (0 if t.is_json and len(data) != len(src) else 1)):
            data = mutate_bytes(data, seeds)
        if fix is not None and random.getrandbits(1):
            fix(data)
        data = bytes(data)
        if trace is not None:
            with open(trace, "wb") as f:
                f.write(data)
        s = time.ticks_us()
        try:
            k = one(data)
            k = "accepted" if k is None else k
        except errors as e:
            k = kinds(e) if kinds is not None else kind_of(e)
        except Exception as e:  # noqa: BLE001 - the point: nothing else may escape (MemoryError included)
            k = None
            nfail += 1
            if len(fails) < MAX_FAILS:
                fails.append({"kind": "exception", "error": kind_of(e), "hex": data.hex(), "i": i})
        us = time.ticks_diff(time.ticks_us(), s)
        if us > budget_us:
            us = _retime(one, data, us)  # the host may have descheduled us: slow only if it stays slow
        if us > max_us:
            max_us = us
        if us > budget_us:
            slow += 1
            if len(fails) < MAX_FAILS:
                fails.append({"kind": "slow", "error": "%d us" % us, "hex": data.hex(), "i": i})
        if k is not None:
            if k not in counts and len(counts) >= MAX_KINDS:
                k = "other"
            counts[k] = counts.get(k, 0) + 1
        if (i + 1) % HEAP_EVERY == 0 or i + 1 == WARMUP:
            gc.collect()
            a = gc.mem_alloc()
            if i + 1 <= WARMUP or base < 0:
                base = a
            elif a > heap_max:
                heap_max = a
    gc.collect()
    if base >= 0 and gc.mem_alloc() > heap_max:
        heap_max = gc.mem_alloc()
    dt = time.ticks_diff(time.ticks_ms(), t0)
    res = {"target": target, "inputs": n, "seed": seed, "counts": counts, "failures": nfail + slow,
           "exceptions": nfail, "slow": slow, "fail_samples": fails, "max_us": max_us, "ms": dt,
           "heap_base": base, "heap_max": heap_max, "heap_end": gc.mem_alloc(), "heap_free": gc.mem_free()}
    sys.stdout.write("FUZZRESULT " + json.dumps(res) + "\n")


def repro(target, path):
    # one input, its outcome and, for an unexpected exception, the traceback
    import fz_targets
    t = fz_targets.make(target)
    with open(path, "rb") as f:
        data = f.read()
    s = time.ticks_us()
    try:
        k = t.one(data)
        print("accepted" if k is None else "rejected: " + k)
    except t.errors as e:
        print("documented error: " + kind_of(e) + " | " + str(e)[:200])
    except Exception as e:  # noqa: BLE001
        sys.print_exception(e)
        print("UNEXPECTED " + kind_of(e))
        sys.exit(3)
    print("took %d us" % time.ticks_diff(time.ticks_us(), s))


def check_seeds(target, corpus):
    # every seed unmutated (prints SEEDS {file: outcome}): the corpus holds real messages, so each must be
    # accepted, but for those named *-reject (a peer's refusal, e.g. a Modbus exception response)
    import fz_targets
    t = fz_targets.make(target)
    out = {}
    for name in sorted(os.listdir(corpus)):
        with open(corpus + "/" + name, "rb") as f:
            data = f.read()
        try:
            k = t.one(data)
            out[name] = "accepted" if k is None else "rejected: " + k
        except t.errors as e:
            out[name] = "documented: " + kind_of(e)
        except Exception as e:  # noqa: BLE001 - reported per seed
            out[name] = "UNEXPECTED: " + kind_of(e)
    sys.stdout.write("SEEDS " + json.dumps(out) + "\n")
