"""EXI 1.0 schema-informed grammars (non-strict, V2G profile) from the schema model in xsd.py.

Per complex type: attribute uses (sorted by local name, then URI) followed by the content model, built
as an epsilon-NFA and normalised by subset construction (EXI §8.5.4.2: no empty productions, no
duplicate terminals). Event codes (§8.5.4.3): AT(qname) sorted, SE(qname) in schema order, SE(*),
EE, CH. Non-strict (§8.5.4.4.1) adds only second-level productions, so every state's first-level code
is ceil(log2(n + 1)) bits for its n declared productions. Long bounded repetitions (maxOccurs=1024)
are folded into one counted loop state so the tables stay small.
"""
from __future__ import annotations

from dataclasses import dataclass

from .xsd import UNBOUNDED, ComplexType, ElementDecl, Particle, SchemaSet, SimpleType

# production kinds (shared with firmware/exi/codec.py)
K_SE, K_AT, K_CH, K_EE, K_SE_ANY, K_CH_ANY = 0, 1, 2, 3, 4, 5
F_LIST = 0x10          # SE whose element may repeat: a JSON list
END = 0xFFFF           # "end of document" target of the document grammar

# datatype kinds (shared with firmware/exi/codec.py)
D_BOOL, D_NBIT, D_UINT, D_INT, D_STR, D_HEX, D_B64, D_ENUM = range(8)

BOUNDS = {
    "byte": (-128, 127), "short": (-32768, 32767), "int": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1),
    "unsignedByte": (0, 255), "unsignedShort": (0, 65535), "unsignedInt": (0, 2**32 - 1),
    "unsignedLong": (0, 2**64 - 1), "nonNegativeInteger": (0, None), "positiveInteger": (1, None),
    "integer": (None, None), "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
}
STRINGS = {"string", "normalizedString", "token", "anyURI", "ID", "IDREF", "NCName", "language", "Name"}
DEFAULT_MAX_STRING = 1024      # cap for strings without a maxLength facet (xmldsig, xs:string)
DEFAULT_MAX_BINARY = 4096      # cap for binaries without a maxLength facet (certificates are <= 800)


def datatype(st: SimpleType) -> tuple:
    """The EXI representation (§7.1) of a simple type as a small tuple the firmware interprets."""
    f = st.facets
    if st.enum is not None:
        return (D_ENUM, max(0, (len(st.enum) - 1).bit_length()), tuple(st.enum))
    if st.base == "boolean":
        return (D_BOOL,)
    if st.base in BOUNDS:
        lo, hi = BOUNDS[st.base]
        if "minInclusive" in f:
            lo = f["minInclusive"] if lo is None else max(lo, f["minInclusive"])
        if "minExclusive" in f:
            lo = f["minExclusive"] + 1
        if "maxInclusive" in f:
            hi = f["maxInclusive"] if hi is None else min(hi, f["maxInclusive"])
        if "maxExclusive" in f:
            hi = f["maxExclusive"] - 1
        if lo is not None and hi is not None and hi - lo < 4096:
            return (D_NBIT, (hi - lo).bit_length(), lo, hi)
        if lo is not None and lo >= 0:
            hi = hi if hi is not None else 2**64 - 1
            return (D_UINT, lo, hi, hi.bit_length() + 7)   # + 7: the longest valid 7-bit group run
        return (D_INT, lo if lo is not None else -2**63, hi if hi is not None else 2**63 - 1)
    if st.base in STRINGS:
        mx = f.get("length", f.get("maxLength", DEFAULT_MAX_STRING))
        return (D_STR, f.get("length", f.get("minLength", 0)), mx)
    if st.base in ("hexBinary", "base64Binary"):
        mx = f.get("length", f.get("maxLength", DEFAULT_MAX_BINARY))
        return (D_HEX if st.base == "hexBinary" else D_B64, f.get("length", f.get("minLength", 0)), mx)
    raise ValueError(f"simple type base xs:{st.base} has no EXI representation in exigen")


@dataclass(frozen=True)
class Label:
    kind: int
    key: tuple            # (uri, local) for SE/AT; () otherwise
    order: int            # schema order of SE terminals


class NFA:
    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[Label, int, object]]] = []

    def new(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1


class Builder:
    """Builds every type grammar reachable from the global elements of a schema set."""

    def __init__(self, schemas: SchemaSet, unbounded_from: int | None = None):
        self.s = schemas
        self.order = 0
        # EXIficient compatibility: element particles with maxOccurs >= this get the grammar of an
        # unbounded repetition (no "exhausted" state); the firmware still enforces maxOccurs by count
        self.unbounded_from = unbounded_from

    def members(self, el: ElementDecl) -> list[ElementDecl]:
        """The element and its substitution group (transitively), sorted by local name then URI.
        Abstract members stay: EXIficient (and so every V2G codec) keeps them as productions."""
        out, todo = [], [el]
        while todo:
            e = todo.pop()
            if e not in out:
                out.append(e)
                todo += self.s.substitutions.get(e.name, [])
        return sorted(out, key=lambda e: (e.name[1], e.name[0]))

    def particle(self, nfa: NFA, p: Particle, start: int, repeated: bool) -> int:
        """Adds p between start and a new end state, returns the end state."""
        rep = repeated or p.max == UNBOUNDED or p.max > 1
        limit = 0
        if (self.unbounded_from is not None and p.kind == "element" and p.max != UNBOUNDED
                and p.max >= self.unbounded_from):
            limit = p.max
            p = Particle(p.kind, p.min, UNBOUNDED, p.children, p.elem, p.ns_constraint)

        def once(s: int) -> int:
            e = nfa.new()
            if p.kind == "element":
                for m in self.members(p.elem):
                    lab = Label(K_SE, m.name, self.order)
                    self.order += 1
                    nfa.edges[s].append((lab, e, (m, rep, limit)))
            elif p.kind == "any":
                nfa.edges[s].append((Label(K_SE_ANY, (), self.order), e, None))
                self.order += 1
            elif p.kind == "sequence":
                cur = s
                for c in p.children:
                    cur = self.particle(nfa, c, cur, rep)
                nfa.eps[cur].append(e)
            else:  # choice
                for c in p.children:
                    nfa.eps[self.particle(nfa, c, s, rep)].append(e)
                if not p.children:
                    nfa.eps[s].append(e)
            return e

        order0 = self.order
        cur = start
        for _ in range(p.min):
            self.order = order0
            cur = once(cur)
        if p.max == UNBOUNDED:
            self.order = order0
            loop_start = cur
            end = once(cur)
            nfa.eps[end].append(loop_start)
            end2 = nfa.new()
            nfa.eps[loop_start].append(end2)
            return end2
        final = nfa.new()
        for _ in range(p.max - p.min):
            nfa.eps[cur].append(final)
            self.order = order0
            cur = once(cur)
        nfa.eps[cur].append(final)
        return final

    def type_nfa(self, ct: ComplexType) -> tuple[NFA, int, set[int], set[int]]:
        nfa = NFA()
        start = nfa.new()
        cur = start
        for a in sorted(ct.attributes, key=lambda a: (a.name[1], a.name[0])):
            nxt = nfa.new()
            nfa.edges[cur].append((Label(K_AT, a.name, 0), nxt, a))
            if not a.required:
                nfa.eps[cur].append(nxt)
            cur = nxt
        content_from = len(nfa.eps)
        if ct.simple is not None:
            nxt = nfa.new()
            nfa.edges[cur].append((Label(K_CH, (), 0), nxt, ct.simple))
            cur = nxt
        elif ct.particle is not None:
            cur = self.particle(nfa, ct.particle, cur, False)
        content = set(range(content_from, len(nfa.eps))) | {cur}
        return nfa, start, {cur}, content


def closure(nfa: NFA, states) -> frozenset[int]:
    seen = set(states)
    todo = list(states)
    while todo:
        s = todo.pop()
        for t in nfa.eps[s]:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return frozenset(seen)


def sort_key(lab: Label):
    if lab.kind == K_AT:
        return (0, lab.key[1], lab.key[0], 0)
    if lab.kind == K_SE:
        return (1, "", "", lab.order)
    if lab.kind == K_SE_ANY:
        return (2, "", "", lab.order)
    if lab.kind == K_EE:
        return (3, "", "", 0)
    if lab.kind == K_CH:
        return (4, "", "", 0)
    return (5, "", "", 0)


def determinize(nfa: NFA, start: int, accept: set[int], content: set[int], mixed: bool):
    """Subset construction: a list of states, each a list of (Label, target index, payload)."""
    first = closure(nfa, [start])
    index = {first: 0}
    subsets = [first]
    out: list[list] = []
    i = 0
    while i < len(subsets):
        sub = subsets[i]
        i += 1
        moves: dict[tuple, list] = {}
        for s in sorted(sub):
            for lab, t, payload in nfa.edges[s]:
                k = (lab.kind, lab.key)
                if k not in moves:
                    moves[k] = [lab, set(), payload]
                else:
                    if lab.order < moves[k][0].order:
                        moves[k][0] = lab
                moves[k][1].add(t)
        prods = []
        for lab, targets, payload in moves.values():
            tgt = closure(nfa, targets)
            if tgt not in index:
                index[tgt] = len(subsets)
                subsets.append(tgt)
            prods.append((lab, index[tgt], payload))
        if sub & accept:
            prods.append((Label(K_EE, (), 0), None, None))
        if mixed and sub & content:
            prods.append((Label(K_CH_ANY, (), 0), i - 1, None))
        prods.sort(key=lambda p: sort_key(p[0]))
        out.append(prods)
    return out


def fold_loops(states: list[list], min_chain: int = 4):
    """Folds counting chains s1 -SE(x)-> s2 -SE(x)-> ... -> sk (identical but for that target) into
    one loop state with a limit. Returns (states, loops) where loops[s] = (prod index, limit, exit)."""
    def sig(st, skip_idx):
        return tuple((p[0], None if j == skip_idx else p[1]) for j, p in enumerate(st))

    loops: dict[int, tuple[int, int, int]] = {}
    absorbed: set[int] = set()
    for s in range(len(states)):
        if s in absorbed or s in loops:
            continue
        for j, (lab, t, _pl) in enumerate(states[s]):
            if lab.kind != K_SE or t is None or t == s:
                continue
            chain = [s]
            base = sig(states[s], j)
            cur = t
            while (len(states[cur]) == len(states[s]) and states[cur][j][0] == lab
                   and sig(states[cur], j) == base and cur not in chain):
                chain.append(cur)
                cur = states[cur][j][1]
            if len(chain) >= min_chain:
                loops[s] = (j, len(chain), cur)
                absorbed.update(chain[1:])
                states[s] = [(p[0], s if k == j else p[1], p[2]) for k, p in enumerate(states[s])]
                break
    return states, loops
