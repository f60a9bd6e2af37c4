"""Random valid documents from the generated grammar tables (CPython): for cross-codec tests and benches.

A seeded random walk through the same tables the firmware interprets: every production it takes is one
the schema allows, values are drawn inside their facets. An independent codec then shows whether the
tables (and so the generator) got the schema right.
"""
from __future__ import annotations

import base64
import importlib.util
import random
from pathlib import Path

from .grammar import (D_B64, D_BOOL, D_ENUM, D_HEX, D_INT, D_NBIT, D_STR, D_UINT, F_LIST, K_AT, K_CH,
                      K_EE, K_SE)

GRAMMARS = Path(__file__).resolve().parents[3] / "firmware" / "exi" / "grammars"
MODULES = {"handshake": "handshake", "din": "din", "iso2": "iso2", "iso20-common": "iso20_common",
           "iso20-dc": "iso20_dc", "iso20-ac": "iso20_ac"}
_cache: dict[str, object] = {}


def load(schema: str):
    if schema not in _cache:
        mod = MODULES[schema]
        spec = importlib.util.spec_from_file_location(f"exi_grammar_{mod}", GRAMMARS / f"{mod}.py")
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        _cache[schema] = m
    return _cache[schema]


def prods(g, state: int) -> tuple[int, list[tuple[int, str, int, int]]]:
    o = state * 4
    p0 = g.ST[o] | g.ST[o + 1] << 8
    out = []
    for i in range(g.ST[o + 2]):
        q = (p0 + i) * 8
        pr = g.PR
        out.append((pr[q], g.NAMES[pr[q + 1] | pr[q + 2] << 8], pr[q + 3] | pr[q + 4] << 8,
                    pr[q + 5] | pr[q + 6] << 8, pr[q + 7]))
    return g.ST[o + 3], out


def roots(g) -> list[tuple[str, int]]:
    """(name, start state) of every global element with a complex type."""
    _bits, ps = prods(g, 0)
    return [(nm, ch) for _k, nm, _t, ch, _l in ps if not ch & 0x8000]


TEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.*"


def value(dt: tuple, rng: random.Random):
    k = dt[0]
    if k == D_BOOL:
        return rng.random() < 0.5
    if k == D_NBIT:
        return rng.choice([dt[2], dt[3], rng.randint(dt[2], dt[3])])
    if k == D_UINT:
        return rng.choice([dt[1], dt[2], rng.randint(dt[1], min(dt[2], 70000)), rng.randint(dt[1], dt[2])])
    if k == D_INT:
        return rng.choice([dt[1], dt[2], 0, -1, rng.randint(max(dt[1], -40000), min(dt[2], 40000))])
    if k == D_ENUM:
        return rng.choice(dt[2])
    lo, hi = dt[1], dt[2]
    n = rng.randint(lo, max(lo, min(hi, 24)))
    if k == D_STR:
        s = "".join(rng.choice(TEXT) for _ in range(n))
        if n and rng.random() < 0.2:
            s = s[:-1] + rng.choice("éß€")     # multi-byte code points
        return s
    b = bytes(rng.randrange(256) for _ in range(n))
    if k == D_HEX:
        return b.hex().upper()
    if k == D_B64:
        return base64.b64encode(b).decode()
    raise ValueError(dt)


# xmldsig content is only sent with Plug & Charge; the peer codec's JSON binding cannot even encode it
# and its JSON binding resolves xs:ID attributes as object references, so it cannot encode an Id either
SKIP = frozenset({"Signature", "Id"})
_abstract: dict[str, frozenset] = {}


def abstract_names(schema: str) -> frozenset:
    """Abstract substitution-group heads: XML needs xsi:type for them, so no real message has one."""
    if schema not in _abstract:
        from .generate import SCHEMAS, schema_dir
        from .xsd import ComplexType, SchemaSet
        s = SchemaSet([schema_dir() / SCHEMAS[schema][1]])
        _abstract[schema] = frozenset(e.name[1] for e in s.elements.values() if e.abstract or (
            isinstance(e.type, ComplexType) and e.type.abstract))
    return _abstract[schema]


class Unsupported(Exception):
    """The message needs content the peer codec cannot handle (base64Binary, xmldsig)."""


MAX_LIST = 5   # items per list in random samples (lists at maxOccurs are tested on purpose elsewhere)


def walk(g, state: int, rng: random.Random, depth: int, p_stop: float, skip: frozenset = SKIP) -> dict:
    obj: dict = {}
    count = 0
    while True:
        _bits, ps = prods(g, state)
        usable = [(i, p) for i, p in enumerate(ps)
                  if p[0] & 0x0F in (K_SE, K_AT, K_CH, K_EE) and p[1] not in skip
                  and not (p[0] & 0x0F == K_SE and p[3] & 0x8000 and g.DT[p[3] & 0x7FFF][0] == D_B64)
                  and not (p[4] and len(obj.get(p[1], ())) >= g.LIMITS[p[4]])]
        ee = [x for x in usable if x[1][0] & 0x0F == K_EE]
        others = [x for x in usable if x[1][0] & 0x0F != K_EE]
        short = [x for x in others if not (x[1][0] & F_LIST and len(obj.get(x[1][1], ())) >= MAX_LIST)]
        if short or ee:
            others = short
        if ee and (not others or depth > 6 or rng.random() < p_stop):
            return obj
        if not others:
            raise Unsupported("required content the peer codec cannot handle")
        i, (kind, name, target, child, _lim) = rng.choice(others)
        k = kind & 0x0F
        if k == K_SE:
            v = value(g.DT[child & 0x7FFF], rng) if child & 0x8000 else walk(g, child, rng, depth + 1, p_stop, skip)
        else:
            v = value(g.DT[child], rng)
        if kind & F_LIST:
            obj.setdefault(name, []).append(v)
        elif name in obj:
            raise ValueError(f"{name} twice in one content model")
        else:
            obj[name] = v
        if target == state:
            lp = g.LOOPS.get(state)
            if lp is not None and lp[0] == i:
                count += 1
                if count >= lp[1]:
                    state, count = lp[2], 0
        else:
            state, count = target, 0


def message_roots(schema: str) -> list[str]:
    """The message types of a schema set: V2G_Message bodies (DIN, -2) or Req/Res roots (handshake, -20)."""
    g = load(schema)
    names = [n for n, _s in roots(g)]
    if "V2G_Message" in names:
        return [n for n in body_members(g) if n.endswith(("Req", "Res"))]
    return [n for n in names if n.endswith(("Req", "Res"))]


def body_members(g) -> list[str]:
    start = dict(roots(g))["V2G_Message"]
    _b, ps = prods(g, start)
    _b, ps = prods(g, ps[0][2])          # after Header: SE(Body)
    body = ps[0][3]
    _b, ps = prods(g, body)
    return [p[1] for p in ps if p[0] & 0x0F == K_SE]


def sample(schema: str, message: str, seed: int, p_stop: float = 0.3) -> dict:
    """A random valid document carrying `message` (wrapped in V2G_Message for DIN and -2)."""
    g = load(schema)
    rng = random.Random(f"{schema}/{message}/{seed}")
    rs = dict(roots(g))
    skip = SKIP | abstract_names(schema)
    if message in rs and "V2G_Message" not in rs:
        return {message: walk(g, rs[message], rng, 1, p_stop, skip)}
    # a body element: build Header at random, then Body holding exactly this message
    v2g = rs["V2G_Message"]
    _b, ps = prods(g, v2g)
    header = walk(g, ps[0][3], rng, 2, p_stop, skip)
    _b, ps2 = prods(g, ps[0][2])
    body_state = ps2[0][3]
    _b, bps = prods(g, body_state)
    child = next(p[3] for p in bps if p[1] == message)
    return {"V2G_Message": {"Header": header, "Body": {message: walk(g, child, rng, 3, p_stop, skip)}}}
