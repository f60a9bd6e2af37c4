"""Reads an XML Schema set (an entry file and everything it imports/includes) into a small model.

Covers the XSD features the V2G schemas (App Protocol, DIN 70121, ISO 15118-2/-20, xmldsig) use:
global/local elements, element refs, substitution groups, complex types with sequence/choice,
complexContent/simpleContent extension and restriction, attributes, wildcards, mixed content, simple
type restrictions with range/length/enumeration facets. Anything else is reported, never guessed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

XS = "http://www.w3.org/2001/XMLSchema"
UNBOUNDED = -1


def q(tag: str) -> str:
    return f"{{{XS}}}{tag}"


QName = tuple[str, str]  # (namespace uri, local name)


@dataclass
class SimpleType:
    base: str                      # the XSD built-in it derives from (local name)
    facets: dict = field(default_factory=dict)
    enum: list[str] | None = None


@dataclass
class Particle:
    kind: str                      # "element" | "sequence" | "choice" | "any"
    min: int = 1
    max: int = 1                   # UNBOUNDED for unbounded
    children: list["Particle"] = field(default_factory=list)
    elem: "ElementDecl | None" = None
    ns_constraint: str = "##any"


@dataclass
class Attribute:
    name: QName
    type: "SimpleType"
    required: bool


@dataclass
class ComplexType:
    name: QName | None
    particle: Particle | None = None      # element content
    simple: SimpleType | None = None      # simple content
    attributes: list[Attribute] = field(default_factory=list)
    mixed: bool = False
    resolved: bool = False
    abstract: bool = False


@dataclass(eq=False)
class ElementDecl:
    name: QName
    type: "ComplexType | SimpleType | None" = None
    abstract: bool = False
    subst_head: QName | None = None
    is_global: bool = False


BUILTIN_BASES = {
    "string", "normalizedString", "token", "anyURI", "ID", "IDREF", "NCName", "language", "Name",
    "boolean", "hexBinary", "base64Binary", "decimal", "float", "double", "integer", "long", "int",
    "short", "byte", "nonNegativeInteger", "positiveInteger", "nonPositiveInteger", "negativeInteger",
    "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "dateTime", "anyType",
}


class SchemaSet:
    """Every schema document reachable from the entry files, with resolved global components."""

    def __init__(self, entries: list[Path]):
        self.docs: dict[Path, ET.Element] = {}
        self.elements: dict[QName, ElementDecl] = {}
        self.ctypes: dict[QName, ComplexType] = {}
        self.stypes: dict[QName, SimpleType] = {}
        self._raw_ct: dict[QName, tuple[ET.Element, str, ET.Element]] = {}
        self._raw_st: dict[QName, tuple[ET.Element, str, ET.Element]] = {}
        self._raw_el: dict[QName, tuple[ET.Element, str, ET.Element]] = {}
        for e in entries:
            self._load(e.resolve())
        for qn in sorted(self._raw_el):
            self._global_element(qn)
        self.substitutions: dict[QName, list[ElementDecl]] = {}
        for el in self.elements.values():
            if el.subst_head is not None:
                self.substitutions.setdefault(el.subst_head, []).append(el)

    # -- loading --------------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        if path in self.docs:
            return
        root = ET.parse(path).getroot()
        self.docs[path] = root
        tns = root.get("targetNamespace", "")
        for child in root:
            if child.tag in (q("import"), q("include")) and child.get("schemaLocation"):
                loc = path.parent / child.get("schemaLocation")
                if not loc.exists():  # the package keeps one xmldsig schema beside the sub-folders
                    loc = path.parent.parent / Path(child.get("schemaLocation")).name
                self._load(loc.resolve())
            elif child.tag == q("element"):
                self._raw_el[(tns, child.get("name"))] = (child, tns, root)
            elif child.tag == q("complexType"):
                self._raw_ct[(tns, child.get("name"))] = (child, tns, root)
            elif child.tag == q("simpleType"):
                self._raw_st[(tns, child.get("name"))] = (child, tns, root)
            elif child.tag in (q("group"), q("attributeGroup"), q("attribute")):
                raise ValueError(f"{path.name}: global {child.tag} is not supported by exigen")

    def _nsmap(self, root: ET.Element) -> dict[str, str]:
        # ElementTree drops xmlns declarations; re-read them from the source text of this document.
        path = next(p for p, r in self.docs.items() if r is root)
        cache = getattr(self, "_ns_cache", {})
        self._ns_cache = cache
        if path not in cache:
            m: dict[str, str] = {}
            for _ev, (prefix, uri) in ET.iterparse(path, events=("start-ns",)):
                m.setdefault(prefix, uri)
            cache[path] = m
        return cache[path]

    def _resolve_qname(self, text: str, root: ET.Element) -> QName:
        prefix, _, local = text.rpartition(":")
        uri = self._nsmap(root).get(prefix, "")
        return (uri, local)

    # -- components -----------------------------------------------------------------------------
    def _global_element(self, qn: QName) -> ElementDecl:
        if qn in self.elements:
            return self.elements[qn]
        node, tns, root = self._raw_el[qn]
        el = ElementDecl(qn, abstract=node.get("abstract") == "true", is_global=True)
        self.elements[qn] = el
        if node.get("substitutionGroup"):
            el.subst_head = self._resolve_qname(node.get("substitutionGroup"), root)
        el.type = self._element_type(node, tns, root)
        return el

    def _element_type(self, node: ET.Element, tns: str, root: ET.Element):
        if node.get("type"):
            return self._type_ref(self._resolve_qname(node.get("type"), root))
        for child in node:
            if child.tag == q("complexType"):
                return self._complex(child, tns, root, None)
            if child.tag == q("simpleType"):
                return self._simple(child, tns, root)
        if node.get("substitutionGroup"):
            head = self._global_element(self._resolve_qname(node.get("substitutionGroup"), root))
            return head.type
        return ComplexType(None, resolved=True)  # anyType without content: treated as empty

    def _type_ref(self, qn: QName):
        if qn[0] == XS:
            if qn[1] not in BUILTIN_BASES:
                raise ValueError(f"built-in type xs:{qn[1]} is not supported by exigen")
            if qn[1] == "anyType":
                return ComplexType(None, resolved=True)
            return SimpleType(qn[1])
        if qn in self.ctypes:
            return self.ctypes[qn]
        if qn in self._raw_ct:
            node, tns, root = self._raw_ct[qn]
            return self._complex(node, tns, root, qn)
        if qn in self.stypes:
            return self.stypes[qn]
        if qn in self._raw_st:
            node, tns, root = self._raw_st[qn]
            st = self._simple(node, tns, root)
            self.stypes[qn] = st
            return st
        raise ValueError(f"unknown type {qn}")

    def _simple(self, node: ET.Element, tns: str, root: ET.Element) -> SimpleType:
        restr = node.find(q("restriction"))
        if restr is None:
            raise ValueError(f"simpleType without restriction (list/union) in {tns}: not supported")
        if restr.get("base"):
            base = self._type_ref(self._resolve_qname(restr.get("base"), root))
        else:
            base = self._simple(restr.find(q("simpleType")), tns, root)
        if not isinstance(base, SimpleType):
            raise ValueError("simple type restricting a complex type")
        st = SimpleType(base.base, dict(base.facets), list(base.enum) if base.enum else None)
        enum = []
        for f in restr:
            tag = f.tag.split("}")[1]
            if tag == "enumeration":
                enum.append(f.get("value"))
            elif tag in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive",
                         "length", "minLength", "maxLength"):
                st.facets[tag] = int(f.get("value"))
            elif tag in ("annotation",):
                pass
            else:
                raise ValueError(f"facet xs:{tag} is not supported by exigen")
        if enum:
            st.enum = enum
        return st

    def _complex(self, node: ET.Element, tns: str, root: ET.Element, qn: QName | None) -> ComplexType:
        ct = ComplexType(qn, mixed=node.get("mixed") == "true", abstract=node.get("abstract") == "true")
        if qn is not None:
            self.ctypes[qn] = ct
        attrs: list[Attribute] = []
        form_q = root.get("attributeFormDefault") == "qualified"
        for child in node:
            tag = child.tag.split("}")[1]
            if tag in ("sequence", "choice"):
                ct.particle = self._particle(child, tns, root)
            elif tag == "attribute":
                attrs.append(self._attribute(child, tns, root, form_q))
            elif tag == "complexContent":
                der = child[0] if child[0].tag != q("annotation") else child[1]
                base = self._type_ref(self._resolve_qname(der.get("base"), root))
                own = None
                for c in der:
                    t = c.tag.split("}")[1]
                    if t in ("sequence", "choice"):
                        own = self._particle(c, tns, root)
                    elif t == "attribute":
                        attrs.append(self._attribute(c, tns, root, form_q))
                if der.tag == q("extension") and isinstance(base, ComplexType):
                    names = {a.name for a in attrs}
                    attrs = attrs + [a for a in base.attributes if a.name not in names]
                    parts = [p for p in (base.particle, own) if p is not None]
                    ct.particle = parts[0] if len(parts) == 1 else (
                        Particle("sequence", children=parts) if parts else None)
                    ct.mixed = ct.mixed or base.mixed
                else:
                    ct.particle = own
            elif tag == "simpleContent":
                der = child[0]
                base = self._type_ref(self._resolve_qname(der.get("base"), root))
                for c in der:
                    if c.tag == q("attribute"):
                        attrs.append(self._attribute(c, tns, root, form_q))
                if isinstance(base, ComplexType):
                    attrs += base.attributes
                    base = base.simple
                ct.simple = base
            elif tag == "anyAttribute":
                raise ValueError("anyAttribute is not supported by exigen")
        ct.attributes = attrs
        ct.resolved = True
        return ct

    def _attribute(self, node: ET.Element, tns: str, root: ET.Element, form_q: bool) -> Attribute:
        form = node.get("form")
        qualified = form == "qualified" or (form is None and form_q)
        name = (tns if qualified else "", node.get("name"))
        if node.get("type"):
            t = self._type_ref(self._resolve_qname(node.get("type"), root))
        else:
            st = node.find(q("simpleType"))
            t = self._simple(st, tns, root) if st is not None else SimpleType("string")
        return Attribute(name, t, node.get("use") == "required")

    def _occurs(self, node: ET.Element, p: Particle) -> Particle:
        p.min = int(node.get("minOccurs", "1"))
        mx = node.get("maxOccurs", "1")
        p.max = UNBOUNDED if mx == "unbounded" else int(mx)
        return p

    def _particle(self, node: ET.Element, tns: str, root: ET.Element) -> Particle:
        tag = node.tag.split("}")[1]
        if tag in ("sequence", "choice"):
            kids = [self._particle(c, tns, root) for c in node
                    if c.tag in (q("element"), q("sequence"), q("choice"), q("any"))]
            return self._occurs(node, Particle(tag, children=kids))
        if tag == "any":
            return self._occurs(node, Particle("any", ns_constraint=node.get("namespace", "##any")))
        if tag == "element":
            if node.get("ref"):
                el = self._global_element(self._resolve_qname(node.get("ref"), root))
            else:
                qualified = node.get("form", root.get("elementFormDefault", "unqualified")) == "qualified"
                el = ElementDecl((tns if qualified else "", node.get("name")))
                el.type = self._element_type(node, tns, root)
            return self._occurs(node, Particle("element", elem=el))
        raise ValueError(f"particle xs:{tag} is not supported by exigen")
