"""Export the provenance graph as a W3C PROV document, and read one back.

provgraph keeps its graph as plain `Node`/`Edge` records (see `provgraph.model`); other PROV
tools speak PROV-JSON, PROV-N, PROV-O (Turtle) or PROV-XML. This module translates both ways
through the `prov` library's `ProvDocument`, so that a graph can be handed to any PROV tool and
an exported graph can be read back without loss.

Mapping (the same for every format, since all of them go through one `ProvDocument`):

* Node and property names live in one namespace, prefix ``provgraph`` and URI
  `NAMESPACE_URI`: node ``ent-0123`` is ``provgraph:ent-0123``, property ``caffe.base_lr`` is
  ``provgraph:caffe.base_lr``. One namespace for everything keeps the documents readable and
  lets `from_document` tell our names from another tool's by namespace URI alone.
* Three properties map onto PROV's own terms, because PROV tools understand those and would
  not understand ours: a node's ``name`` is ``prov:label``; an activity's ``started`` and
  ``ended`` are its ``prov:startTime``/``prov:endTime``; every ``wasDerivedFrom`` gets
  ``prov:type = prov:Revision`` (all our derivations are a file version derived from the
  previous one), and its ``missing`` flag stays ``provgraph:missing``.
* Relations carry no identifiers (nothing ever refers to a relation), and an edge's
  properties become attributes of the relation, named the same way as node properties.

Encoding rules, chosen so that `parse(serialize(g))` gives back `g` exactly in every format:

* **Property keys.** A key is written as the local part of a qualified name. Characters
  outside ``A-Z a-z 0-9 _ - .`` (a space, ``/``, ``:``, ``%``, any non-ASCII character...) are
  percent-encoded as their UTF-8 bytes, ``%XX`` with upper-case hex, so ``loss/total`` becomes
  ``provgraph:loss%2Ftotal``; ``%`` itself becomes ``%25`` so decoding is unambiguous. The
  same rule applies to node ids. Such a name is still valid in every format: PROV-N and Turtle
  allow ``%XX`` in local names and PROV-XML escapes it further on its own.
* **Lists** (and anything else that is not a plain scalar: tuples, dicts) are written as ONE
  literal holding their JSON text, typed ``provgraph:json``. PROV attributes may hold several
  values, but PROV-JSON, Turtle and PROV-XML all treat those as an unordered set, and a
  one-item list would be indistinguishable from a scalar; a single JSON literal keeps order,
  length and item types.
* **Strings** are plain string literals, except a string holding a character XML 1.0 cannot
  carry (control characters, NUL, unpaired surrogates from undecodable file names): that one
  is written as a ``provgraph:json`` literal too (JSON escapes those characters as ``\\uXXXX``),
  because PROV-XML cannot write it at all and Turtle would mangle a surrogate.
* **Scalars** keep their Python type: ``bool`` is ``xsd:boolean``; ``int`` is ``xsd:int``,
  ``xsd:long`` or ``xsd:integer`` by magnitude; ``float`` is ``xsd:double`` (NaN and
  infinities included), so ``2.0`` stays a float and ``True`` never becomes ``1``.
* **Times.** ``started``/``ended`` go to ``prov:startTime``/``prov:endTime`` only when the text
  is exactly what `datetime.isoformat(timespec="microseconds")` writes (what provgraph itself
  records, e.g. ``2024-05-01T12:00:00.000000+00:00``), because on the way back a PROV time is
  rendered in that form and the string must come back identical. Any other value (no
  microseconds, a ``Z`` suffix, not a time at all) stays an ordinary ``provgraph:started``
  string attribute rather than being silently rewritten.

Output is deterministic: nodes are written sorted by id, edges by (type, source, target) and
attributes by name (``prov:label`` first), so exporting the same graph twice gives
byte-identical text, in any process (rdflib's Turtle order does not depend on hash seeds).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

import prov.model as pm
import prov.serializers
from prov.constants import PROV, XSD

from provgraph.model import (
    ACTIVITY,
    AGENT,
    EDGE_TYPES,
    ENTITY,
    LABELS,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
)

__all__ = [
    "FORMATS",
    "JSON_DATATYPE",
    "NAMESPACE",
    "NAMESPACE_PREFIX",
    "NAMESPACE_URI",
    "decode_local",
    "deserialize",
    "encode_local",
    "exportable",
    "from_document",
    "parse",
    "serialize",
    "to_document",
]

NAMESPACE_PREFIX = "provgraph"
NAMESPACE_URI = "https://provgraph.dev/ns#"
FORMATS = ("json", "provn", "ttl", "xml")  # PROV-JSON, PROV-N, PROV-O Turtle, PROV-XML

NAMESPACE = pm.Namespace(NAMESPACE_PREFIX, NAMESPACE_URI)
#: Datatype of a literal whose text is JSON (lists, and strings XML cannot carry).
JSON_DATATYPE = NAMESPACE["json"]

_PROV_LABEL = PROV["label"]
_PROV_TYPE = PROV["type"]
_PROV_REVISION = PROV["Revision"]
_PROV_START = PROV["startTime"]
_PROV_END = PROV["endTime"]

# Our format names -> the `prov` serializer name and its keyword arguments.
_SERIALIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "json": ("json", {"indent": 2}),  # indented: exports end up in diffs and reviews
    "provn": ("provn", {}),
    "ttl": ("rdf", {"rdf_format": "turtle"}),
    "xml": ("xml", {}),
}
_DESERIALIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "json": ("json", {}),
    "provn": ("provn", {}),
    "ttl": ("rdf", {"rdf_format": "turtle"}),
    "xml": ("xml", {}),
}

# Which relation each edge type is, and which formal attributes hold its two ends.
_RELATION_ENDS: dict[type[pm.ProvRecord], tuple[str, pm.QualifiedName, pm.QualifiedName]] = {
    pm.ProvUsage: (USED, PROV["activity"], PROV["entity"]),
    pm.ProvGeneration: (WAS_GENERATED_BY, PROV["entity"], PROV["activity"]),
    pm.ProvAssociation: (WAS_ASSOCIATED_WITH, PROV["activity"], PROV["agent"]),
    pm.ProvAttribution: (WAS_ATTRIBUTED_TO, PROV["entity"], PROV["agent"]),
    pm.ProvDerivation: (WAS_DERIVED_FROM, PROV["generatedEntity"], PROV["usedEntity"]),
}
_ELEMENT_LABELS: dict[type[pm.ProvRecord], str] = {
    pm.ProvEntity: ENTITY,
    pm.ProvActivity: ACTIVITY,
    pm.ProvAgent: AGENT,
}

_SAFE_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
# Characters XML 1.0 cannot hold (its Char production), surrogates included.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_XSD_INTEGERS = frozenset(
    XSD[name].uri
    for name in (
        *("integer", "int", "long", "short", "byte"),
        *("nonNegativeInteger", "positiveInteger", "nonPositiveInteger", "negativeInteger"),
        *("unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte"),
    )
)
_XSD_FLOATS = frozenset(XSD[name].uri for name in ("double", "float", "decimal"))
_XSD_BOOLEAN = XSD["boolean"].uri


# --------------------------------------------------------------------------- names


def encode_local(name: str) -> str:
    """Percent-encode `name` for use as the local part of a qualified name.

    Everything outside ``A-Z a-z 0-9 _ - .`` becomes ``%XX`` per UTF-8 byte (unpaired
    surrogates, which undecodable file names produce, are encoded as their raw code units), so
    the result is a valid local name in PROV-N, Turtle and (after the XML serializer's own
    escaping) PROV-XML, and `decode_local` inverts it exactly.
    """
    if not name:
        raise ValueError("an empty name cannot be a qualified name's local part")
    if all(char in _SAFE_LOCAL_CHARS for char in name):
        return name
    return "".join(
        char
        if char in _SAFE_LOCAL_CHARS
        else "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        for char in name
    )


def decode_local(local: str) -> str:
    """Invert `encode_local`; text that is not a valid ``%XX`` sequence is kept as it is."""
    if "%" not in local:
        return local
    return unquote(local, encoding="utf-8", errors="surrogatepass")


def _qname(name: str) -> pm.QualifiedName:
    return NAMESPACE[encode_local(name)]


def _name_of(qname: pm.QualifiedName) -> str:
    """Our names come back bare; another namespace's keep their ``prefix:local`` form, so that
    two tools' ``label`` attributes, say, stay apart.

    Ours are recognised by full URI, not by namespace: rdflib may split an IRI elsewhere than
    we did (it writes ``provgraph:%C3%A9x`` as ``ns1:C3%A9x`` with ``ns1`` bound to
    ``...ns#%``), and another tool may bind our URI to another prefix.
    """
    if qname.uri.startswith(NAMESPACE_URI):
        return decode_local(qname.uri[len(NAMESPACE_URI) :])
    return str(qname)


# --------------------------------------------------------------------------- values


def _json_text(value: Any) -> str:
    """JSON text readable where possible (non-ASCII kept), all-ASCII where XML would choke."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except TypeError as exc:
        raise TypeError(f"cannot export {value!r}: not JSON-serializable") from exc
    return json.dumps(value) if _NOT_XML_CHAR.search(text) else text


def _encode_value(value: Any) -> Any:
    """A property value as a `prov` attribute value that comes back as the same Python value."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and not _NOT_XML_CHAR.search(value):
        return value
    if isinstance(value, str | list | tuple | dict):
        return pm.Literal(_json_text(value), datatype=JSON_DATATYPE)
    raise TypeError(f"cannot export a property value of type {type(value).__name__}: {value!r}")


def _format_time(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _prov_time(value: Any) -> dt.datetime | None:
    """`value` as a datetime, if PROV can carry it and give back exactly the same text."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    offset = parsed.utcoffset()
    if offset is not None and (
        offset.seconds % 60 or offset.microseconds or abs(offset) > dt.timedelta(hours=14)
    ):
        return None  # xsd:dateTime has no such offset: `prov` would shift it to UTC
    return parsed if _format_time(parsed) == value else None


def _decode_value(value: Any) -> Any:
    """A `prov` attribute value as the plain Python value a property holds."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return _format_time(value)
    if isinstance(value, pm.QualifiedName):
        return str(value)
    if isinstance(value, pm.Literal):
        return _decode_literal(value)
    if isinstance(value, pm.Identifier):
        return value.uri
    return str(value)


def _decode_literal(literal: pm.Literal) -> Any:
    """Typed literals the `prov` library left alone: ours (JSON) and the XSD types it does not
    convert itself (e.g. ``xsd:decimal``, or ``xsd:long`` holding a small number)."""
    datatype = literal.datatype.uri if literal.datatype is not None else None
    text = literal.value
    try:
        if datatype == JSON_DATATYPE.uri:
            return json.loads(text)
        if datatype in _XSD_INTEGERS:
            return int(text)
        if datatype in _XSD_FLOATS:
            return float(text)
        if datatype == _XSD_BOOLEAN and text.strip() in ("true", "false", "1", "0"):
            return text.strip() in ("true", "1")
    except ValueError:
        pass  # not what its type says: keep the text
    return text


def _collapse(values: list[Any]) -> Any:
    """One value stays a scalar; several (another tool's multi-valued attribute, which PROV
    treats as a set) become a sorted list, homogeneous as the model wants."""
    if len(values) == 1:
        return values[0]
    if len({type(v) for v in values}) != 1 or isinstance(values[0], list | dict):
        values = [v if isinstance(v, str) else json.dumps(v, sort_keys=True) for v in values]
    return sorted(values)


# --------------------------------------------------------------------------- export


def _node_attributes(node: Node) -> list[tuple[pm.QualifiedName, Any]]:
    """The label first (what a reader looks for), then our properties by name."""
    attributes = []
    if node.properties.get("name") is not None:
        attributes.append((_PROV_LABEL, _encode_value(node.properties["name"])))
    for key in sorted(node.properties):
        value = node.properties[key]
        if value is None or key == "name" or _is_activity_time(node, key):
            continue  # startTime/endTime are formal attributes of the activity
        attributes.append((_qname(key), _encode_value(value)))
    return attributes


def _is_activity_time(node: Node, key: str) -> bool:
    return (
        node.label == ACTIVITY
        and key in ("started", "ended")
        and _prov_time(node.properties[key]) is not None
    )


def _edge_attributes(edge: Edge) -> list[tuple[pm.QualifiedName, Any]]:
    attributes: list[tuple[pm.QualifiedName, Any]] = []
    if edge.type == WAS_DERIVED_FROM:
        attributes.append((_PROV_TYPE, _PROV_REVISION))
    attributes.extend(
        (_qname(key), _encode_value(edge.properties[key]))
        for key in sorted(edge.properties)
        if edge.properties[key] is not None
    )
    return attributes


def _edge_sort_key(edge: Edge) -> tuple[str, str, str, str]:
    return (*edge.key, json.dumps(edge.properties, sort_keys=True, default=str))


def to_document(nodes: Iterable[Node], edges: Iterable[Edge]) -> pm.ProvDocument:
    """Build a PROV document from the graph (see the module docstring for the mapping).

    Raises ValueError for a node label or edge type PROV has no counterpart for here, and
    TypeError for a property value that is neither a scalar nor JSON-serializable: an export
    that silently dropped data would defeat its purpose.
    """
    doc = pm.ProvDocument()
    doc.add_namespace(NAMESPACE)
    for node in sorted(nodes, key=lambda n: n.id):
        identifier = _qname(node.id)
        attributes = _node_attributes(node)
        if node.label == ENTITY:
            doc.entity(identifier, attributes)
        elif node.label == ACTIVITY:
            started = _prov_time(node.properties.get("started"))
            ended = _prov_time(node.properties.get("ended"))
            doc.activity(identifier, started, ended, attributes)
        elif node.label == AGENT:
            doc.agent(identifier, attributes)
        else:
            raise ValueError(f"node {node.id!r} has label {node.label!r}, not a PROV element")
    for edge in sorted(edges, key=_edge_sort_key):
        source, target = _qname(edge.source), _qname(edge.target)
        attributes = _edge_attributes(edge)
        if edge.type == USED:
            doc.usage(source, target, other_attributes=attributes)
        elif edge.type == WAS_GENERATED_BY:
            doc.generation(source, target, other_attributes=attributes)
        elif edge.type == WAS_ASSOCIATED_WITH:
            doc.association(source, target, other_attributes=attributes)
        elif edge.type == WAS_ATTRIBUTED_TO:
            doc.attribution(source, target, other_attributes=attributes)
        elif edge.type == WAS_DERIVED_FROM:
            doc.derivation(source, target, other_attributes=attributes)
        else:
            raise ValueError(f"edge type {edge.type!r} is not a PROV relation provgraph writes")
    return doc


def exportable(nodes: Iterable[Node], edges: Iterable[Edge]
               ) -> tuple[list[Node], list[Edge], dict[str, int]]:
    """The nodes and edges PROV can carry, and how many of the others were left out by kind.

    The journal refuses other labels and relation types at the door (`provgraph.schema`);
    this is the defence behind it, for an index written before that or by hand: `prov export`
    leaves such elements out and says so, rather than failing on the whole graph."""
    kept_nodes, kept_edges, skipped = [], [], {}
    for node in nodes:
        if node.label in LABELS:
            kept_nodes.append(node)
        else:
            skipped["nodes"] = skipped.get("nodes", 0) + 1
    for edge in edges:
        if edge.type in EDGE_TYPES:
            kept_edges.append(edge)
        else:
            skipped["edges"] = skipped.get("edges", 0) + 1
    return kept_nodes, kept_edges, skipped


def serialize(nodes: Iterable[Node], edges: Iterable[Edge], fmt: str) -> str:
    """The graph as text in one of `FORMATS`; ValueError for any other format name.

    Nodes of a label and edges of a type PROV has no counterpart for here are left out, with
    one warning line on stderr (`exportable`)."""
    name, options = _prov_format(fmt, _SERIALIZERS)
    nodes, edges, skipped = exportable(nodes, edges)
    if skipped:
        from provgraph.ingestors import warn

        warn(f"export left out {skipped.get('nodes', 0)} node(s) of a label other than "
             f"Entity, Activity and Agent and {skipped.get('edges', 0)} edge(s) of a type other "
             "than the five PROV relations")
    doc = to_document(nodes, edges)
    with _quiet_rdflib():
        text = doc.serialize(format=name, **options)
    assert text is not None  # no destination given: `prov` returns the text
    return text if text.endswith("\n") else text + "\n"


def _prov_format(
    fmt: str, table: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """The `prov` serializer for `fmt`, checked up front: Turtle needs rdflib and PROV-XML lxml,
    both optional extras of `prov`, and a missing one should say so rather than surface as a
    parse error about the text."""
    if fmt not in table:
        raise ValueError(f"unknown PROV format {fmt!r}; expected one of {', '.join(FORMATS)}")
    name, options = table[fmt]
    try:
        prov.serializers.get(name)
    except prov.serializers.DoNotExist as exc:
        raise ValueError(
            f"the {fmt} format is not available: install prov with its extras, "
            f"pip install 'prov[rdf,xml]' ({exc})"
        ) from exc
    return name, options


# --------------------------------------------------------------------------- import


def _element_to_node(records: list[pm.ProvRecord], label: str) -> Node:
    """One node from every record describing it (PROV lets a document describe an element in
    several statements; ours never do)."""
    collected: dict[str, list[Any]] = {}
    for record in records:
        for name, value in record.attributes:
            if label == ACTIVITY and name in (_PROV_START, _PROV_END):
                key = "started" if name == _PROV_START else "ended"
            elif name == _PROV_LABEL:
                key = "name"
            else:
                key = _name_of(name)
            decoded = _decode_value(value)
            seen = collected.setdefault(key, [])
            if not any(type(v) is type(decoded) and v == decoded for v in seen):
                seen.append(decoded)  # typed: True and 1 are different values
    properties = {key: _collapse(values) for key, values in sorted(collected.items())}
    if isinstance(properties.get("name"), list):
        properties["name"] = properties["name"][0]  # several labels: the model wants one name
    identifier = records[0].identifier
    assert identifier is not None  # only identified records are grouped
    return Node(_name_of(identifier), label, properties)


def _relation_to_edge(record: pm.ProvRecord) -> Edge | None:
    edge_type, source_attr, target_attr = _RELATION_ENDS[type(record)]
    source = target = None
    collected: dict[str, list[Any]] = {}
    for name, value in record.attributes:
        if name == source_attr:
            source = value
        elif name == target_attr:
            target = value
        elif edge_type == WAS_DERIVED_FROM and name == _PROV_TYPE and value == _PROV_REVISION:
            continue  # implied: every wasDerivedFrom provgraph keeps is a revision
        elif isinstance(value, pm.QualifiedName) and name in record.FORMAL_ATTRIBUTES:
            collected.setdefault(_name_of(name), []).append(_name_of(value))  # e.g. prov:plan
        else:
            collected.setdefault(_name_of(name), []).append(_decode_value(value))
    if not isinstance(source, pm.QualifiedName) or not isinstance(target, pm.QualifiedName):
        return None  # PROV allows e.g. used(a, -); provgraph edges need both ends
    properties = {key: _collapse(values) for key, values in sorted(collected.items())}
    return Edge(edge_type, _name_of(source), _name_of(target), properties)


def from_document(doc: pm.ProvDocument) -> tuple[list[Node], list[Edge]]:
    """The nodes and edges a PROV document describes, sorted like `to_document` writes them.

    A document written by `to_document` comes back exactly. For one written by another tool
    this does its best instead of failing: bundles are flattened into the document, records of
    kinds provgraph has no edge for (wasInformedBy, actedOnBehalfOf...) and relations lacking
    an end are skipped, names outside our namespace keep their ``prefix:local`` form, and an
    attribute given several values becomes a sorted list. Edges may then name nodes the
    document never declares, as PROV allows.
    """
    if doc.has_bundles():
        doc = doc.flattened()
    elements: dict[pm.QualifiedName, list[pm.ProvRecord]] = {}
    edges: list[Edge] = []
    for record in doc.get_records():
        record_type = type(record)
        if record_type in _ELEMENT_LABELS and record.identifier is not None:
            elements.setdefault(record.identifier, []).append(record)
        elif record_type in _RELATION_ENDS:
            edge = _relation_to_edge(record)
            if edge is not None:
                edges.append(edge)
    nodes = [
        _element_to_node(records, _ELEMENT_LABELS[type(records[0])])
        for records in elements.values()
    ]
    return sorted(nodes, key=lambda n: n.id), sorted(edges, key=_edge_sort_key)


def parse(text: str, fmt: str) -> tuple[list[Node], list[Edge]]:
    """Read a PROV document in one of `FORMATS` back into nodes and edges.

    Raises ValueError for an unknown format and for text the format's parser rejects, whatever
    exception the underlying parser (json, lxml, rdflib, the PROV-N parser) raised, so callers
    such as the CLI have one error type to report.
    """
    return from_document(deserialize(text, fmt))


def deserialize(text: str, fmt: str) -> pm.ProvDocument:
    """The `ProvDocument` itself (for callers that also look at what `from_document` skips);
    errors as `parse`."""
    name, options = _prov_format(fmt, _DESERIALIZERS)
    try:
        with _quiet_rdflib():
            return pm.ProvDocument.deserialize(content=text, format=name, **options)
    except Exception as exc:
        raise ValueError(f"not a valid {fmt} PROV document: {exc}") from exc


@contextmanager
def _quiet_rdflib() -> Iterator[None]:
    """Silence rdflib 7's warning that `Dataset.default_context` is deprecated, which it gives
    each time `prov`'s RDF serializer touches it: that is between those two libraries and
    says nothing to our users."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"rdflib\b")
        yield
