"""Lays the grammars of one schema set out as compact tables in a MicroPython module.

Module layout (read by firmware/exi/codec.py):
  NAMES  tuple of JSON keys (element/attribute local names); a production refers to one by index
  ST     bytes, 4 per state: first production (u16 LE), production count (u8), event code bits (u8)
  PR     bytes, 8 per production: kind|flags (u8), name (u16), target state (u16), child (u16),
         list limit (u8: index into LIMITS, 0 = the grammar itself bounds the repetition)
         child of SE: start state of its type grammar, or 0x8000|datatype for a simple-typed element;
         child of AT/CH: datatype index. Target 0xFFFF: none (EE) / end of document.
  LOOPS  {state: (production index in state, limit, exit state)}: counted loops for long maxOccurs
  DT     tuple of datatypes: (kind, ...) see grammar.datatype()
  LIMITS tuple of maxOccurs values enforced by count (lists compiled as unbounded for EXIficient)
State 0 is the document grammar (SE of every global element, sorted by local name then URI).
"""
from __future__ import annotations

from .grammar import (END, F_LIST, K_AT, K_CH, K_CH_ANY, K_EE, K_SE, K_SE_ANY, Builder,
                      datatype, determinize, fold_loops)
from .xsd import SchemaSet, SimpleType

CONTENT_KEY = "CONTENT"   # JSON key of the text of an element with simple content and attributes


class Tables:
    def __init__(self, schemas: SchemaSet, unbounded_from: int | None = None):
        self.s = schemas
        self.b = Builder(schemas, unbounded_from)
        self.limits: list[int] = [0]
        self.names: list[str] = []
        self.name_ix: dict[str, int] = {}
        self.dts: list[tuple] = []
        self.dt_ix: dict[tuple, int] = {}
        self.states: list[list] = [[]]          # state 0 reserved for the document grammar
        self.loops: dict[int, tuple[int, int, int]] = {}
        self.type_start: dict[int, int] = {}

    def name(self, n: str) -> int:
        if n not in self.name_ix:
            self.name_ix[n] = len(self.names)
            self.names.append(n)
        return self.name_ix[n]

    def dt(self, st: SimpleType) -> int:
        d = datatype(st)
        if d not in self.dt_ix:
            self.dt_ix[d] = len(self.dts)
            self.dts.append(d)
        return self.dt_ix[d]

    def child(self, t) -> int:
        if isinstance(t, SimpleType):
            return 0x8000 | self.dt(t)
        if id(t) not in self.type_start:
            base = len(self.states)
            nfa, start, accept, content = self.b.type_nfa(t)
            dfa = determinize(nfa, start, accept, content, t.mixed)
            dfa, loops = fold_loops(dfa)
            keep = reachable(dfa, loops)
            remap = {old: base + i for i, old in enumerate(keep)}
            self.type_start[id(t)] = base
            for old in keep:
                self.states.append([])
            for old, (j, limit, ex) in loops.items():
                if old in remap:
                    self.loops[remap[old]] = (j, limit, remap[ex])
            for old in keep:
                self.states[remap[old]] = [(lab, None if tg is None else remap[tg], pl)
                                           for lab, tg, pl in dfa[old]]
        return self.type_start[id(t)]

    def build(self) -> None:
        # every global element, abstract ones included (EXI §8.5.4.1.2 DocContent)
        globals_ = sorted(self.s.elements.values(),
                          key=lambda e: (e.name[1], e.name[0]))
        self.doc = [(e.name[1], self.child(e.type)) for e in globals_]

    def encode(self) -> dict:
        self.build()
        prods = bytearray()
        st = bytearray()
        rows = [[(K_SE, self.name(n), END, c, 0) for n, c in self.doc]]
        # resolving children appends states; iterate until the state list stops growing
        i = 1
        while i < len(self.states):
            row = []
            for lab, tg, pl in self.states[i]:
                if lab.kind == K_SE:
                    elem, is_list, limit = pl
                    flags = F_LIST if is_list else 0
                    if limit and limit not in self.limits:
                        self.limits.append(limit)
                    row.append((K_SE | flags, self.name(lab.key[1]), tg, self.child(elem.type),
                                self.limits.index(limit) if limit else 0))
                elif lab.kind == K_AT:
                    row.append((K_AT, self.name(lab.key[1]), tg, self.dt(pl.type), 0))
                elif lab.kind == K_CH:
                    row.append((K_CH, self.name(CONTENT_KEY), tg, self.dt(pl), 0))
                elif lab.kind == K_EE:
                    row.append((K_EE, 0, END, 0, 0))
                elif lab.kind in (K_SE_ANY, K_CH_ANY):
                    row.append((lab.kind, 0, END if tg is None else tg, 0, 0))
            rows.append(row)
            i += 1
        for row in rows:
            n = len(row)
            bits = n.bit_length()          # ceil(log2(n + 1)): declared codes plus the escape
            st += (len(prods) // 8).to_bytes(2, "little") + bytes((n, bits))
            for kind, nm, tg, ch, lim in row:
                prods += bytes((kind,)) + nm.to_bytes(2, "little") + (tg or 0).to_bytes(2, "little") \
                    + ch.to_bytes(2, "little") + bytes((lim,))
        if len(rows) >= 0x8000 or len(prods) // 8 >= 0x10000 or len(self.limits) > 255:
            raise ValueError("grammar too large for 16-bit tables")
        return {"NAMES": tuple(self.names), "ST": bytes(st), "PR": bytes(prods),
                "LOOPS": dict(sorted(self.loops.items())), "DT": tuple(self.dts),
                "LIMITS": tuple(self.limits)}


def reachable(dfa: list[list], loops: dict) -> list[int]:
    seen = [0]
    i = 0
    while i < len(seen):
        s = seen[i]
        i += 1
        nxt = [tg for _lab, tg, _pl in dfa[s] if tg is not None]
        if s in loops:
            nxt.append(loops[s][2])
        for t in nxt:
            if t not in seen:
                seen.append(t)
    return seen
