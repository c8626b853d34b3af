"""Export the provenance graph as a W3C PROV document, and read one back.

provgraph keeps its graph as plain `Node`/`Edge` records (see `provgraph.model`); other PROV
tools speak PROV-JSON, PROV-N, PROV-O (Turtle), PROV-XML or PROV-JSON-LD. This module
translates both ways through the `prov` library's `ProvDocument`, so that a graph can be handed
to any PROV tool (strict ones included: the PROV-XML schema, ProvToolbox) and a document can
be read back without loss.

Mapping (the same for every format, since all of them go through one `ProvDocument`):

* provgraph's own node and property names live in one namespace, prefix ``provgraph`` and URI
  `NAMESPACE_URI`: node ``ent-0123`` is ``provgraph:ent-0123``, property ``caffe.base_lr`` is
  ``provgraph:caffe.base_lr``. A name another tool gave (``ex:clean``, a property
  ``ex:rows``, a value ``prov:Person``) keeps its own namespace: the project's prefixes
  (`Names`, kept by `prov import` from the documents it read) say which URI each prefix
  stands for, so an imported graph exports as the document it came from.
* PROV's own terms: a node's ``name`` is ``prov:label``; an activity's ``started`` and
  ``ended`` are its ``prov:startTime``/``prov:endTime``; an edge's ``role`` is ``prov:role``
  (``prov:hadRole`` in PROV-O); an edge's ``id`` is the relation's identifier (a PROV
  document may state two relations between the same two nodes: each is an edge, told apart by
  its id, ``_:`` + a digest of its attributes for a relation the document gave no id).
  A ``wasDerivedFrom`` between two versions of one file (provgraph's version chain) gets
  ``prov:type = prov:Revision``; a derivation another tool recorded keeps its own types.
* A node the document declares as several kinds (an agent that is also an entity, which PROV
  allows) is one node of the first kind, its kinds listed in the property `KINDS`.

Encoding rules, chosen so that `parse(serialize(g))` gives back `g` exactly in every format:

* **Our names.** A key or node id of ours is written as the local part of a qualified name.
  Characters outside ``A-Z a-z 0-9 _ - .`` are percent-encoded as their UTF-8 bytes, ``%XX``
  with upper-case hex (``loss/total`` becomes ``provgraph:loss%2Ftotal``; ``%`` itself is
  ``%25``), so decoding is unambiguous. PROV-XML escapes such a name further on its own.
* **Lists** are ONE literal holding their JSON text, typed ``provgraph:json`` (typed
  ``xsd:normalizedString`` in PROV-XML, whose schema resolves no datatype of ours: JSON text
  never holds a raw tab or line break, so it is one). PROV attributes may hold several values,
  but every format treats those as an unordered set; one JSON literal keeps order, length and
  item types.
* **Strings** are plain string literals, except a string holding a character XML 1.0 cannot
  carry (control characters, NUL, unpaired surrogates from undecodable file names): that one
  is a JSON literal too (JSON escapes those characters as ``\\uXXXX``).
* **Scalars** keep their Python type: ``bool`` is ``xsd:boolean``; ``int`` is ``xsd:int``,
  ``xsd:long`` or ``xsd:integer`` by magnitude; ``float`` is ``xsd:double``.
* **Another tool's typing.** Where a document typed a value otherwise than that (a qualified
  name, a language tag, ``xsd:long`` holding a small number, ``xsd:date``, a datatype of its
  own) or gave an attribute several values, the property ``K`` has a companion ``K^^``
  (`TYPES`) saying so: the datatype (``xsd:QName``, ``@en``, ``ex:unit``), or for several
  values a list with one entry per value ('' where provgraph's own typing is right). Export
  reads it back, so ``prov:type = prov:Person`` stays a qualified name.
* **Times.** ``started``/``ended`` go to ``prov:startTime``/``prov:endTime`` only when the text
  is exactly what `datetime.isoformat(timespec="microseconds")` writes, because on the way
  back a PROV time is rendered in that form; any other value stays a ``provgraph:started``
  string attribute rather than being silently rewritten.

Output is deterministic: nodes are written sorted by id, edges by (type, source, target, id)
and attributes by name (``prov:label`` first), so exporting the same graph twice gives
byte-identical text, in any process.

Reading (`load`) is forgiving where the W3C formats are and the `prov` library is not:
PROV-Dictionary relations (which `prov` cannot read) are taken out and counted, a PROV-N
``prefix xsd <...XMLSchema>`` (no ``#``) is read as the XML Schema namespace it means, the
warnings `prov` gives become one line each where something is lost (and none where nothing
is), and rdflib's complaints about literals are kept off the terminal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import prov.model as pm
import prov.serializers
from prov.constants import PROV, PROV_ATTRIBUTES, PROV_N_MAP, PROV_RECORD_IDS_MAP, XSD
from prov.model import canonical_xsd_datatype

from provgraph.errors import DocumentError
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
    version_link,
)

__all__ = [
    "FORMATS",
    "JSON_DATATYPE",
    "KINDS",
    "NAMESPACE",
    "NAMESPACE_PREFIX",
    "NAMESPACE_URI",
    "READ_FORMATS",
    "RELATION_ID",
    "TYPES",
    "Loaded",
    "Names",
    "Translation",
    "decode_local",
    "deserialize",
    "encode_local",
    "exportable",
    "from_document",
    "load",
    "parse",
    "serialize",
    "to_document",
    "translate",
]

NAMESPACE_PREFIX = "provgraph"
NAMESPACE_URI = "https://provgraph.dev/ns#"
FORMATS = ("json", "provn", "ttl", "xml")  # PROV-JSON, PROV-N, PROV-O Turtle, PROV-XML
READ_FORMATS = (*FORMATS, "jsonld")  # ... and PROV-JSON-LD, read only

NAMESPACE = pm.Namespace(NAMESPACE_PREFIX, NAMESPACE_URI)
#: Datatype of a literal whose text is JSON (lists, and strings XML cannot carry).
JSON_DATATYPE = NAMESPACE["json"]
#: ... in PROV-XML, whose schema must resolve every xsi:type (see the module docstring).
XML_JSON_DATATYPE = XSD["normalizedString"]
#: Suffix of the companion property holding another tool's typing of a property's value(s).
TYPES = "^^"
#: Node property listing a node's PROV kinds, when the document declared more than one.
KINDS = "labels"
#: Edge property holding the relation's own PROV identifier.
RELATION_ID = "id"
#: Edge property holding the PROV role (``prov:role``).
ROLE = "role"

_PROV_LABEL = PROV["label"]
_PROV_TYPE = PROV["type"]
_PROV_ROLE = PROV["role"]
_PROV_REVISION = PROV["Revision"]
_PROV_START = PROV["startTime"]
_PROV_END = PROV["endTime"]
_PROV_TIME = PROV["time"]
_XSD_QNAME = "xsd:QName"
_XSD_ANYURI = "xsd:anyURI"
_XSD_DATETIME = "xsd:dateTime"
_XSD_URIS = ("http://www.w3.org/2001/XMLSchema#", "http://www.w3.org/2001/XMLSchema")

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
    "jsonld": ("jsonld", {}),
}

# Which relation each edge type is, and which formal attributes hold its two ends.
_RELATION_ENDS: dict[type[pm.ProvRecord], tuple[str, pm.QualifiedName, pm.QualifiedName]] = {
    pm.ProvUsage: (USED, PROV["activity"], PROV["entity"]),
    pm.ProvGeneration: (WAS_GENERATED_BY, PROV["entity"], PROV["activity"]),
    pm.ProvAssociation: (WAS_ASSOCIATED_WITH, PROV["activity"], PROV["agent"]),
    pm.ProvAttribution: (WAS_ATTRIBUTED_TO, PROV["entity"], PROV["agent"]),
    pm.ProvDerivation: (WAS_DERIVED_FROM, PROV["generatedEntity"], PROV["usedEntity"]),
}
_RECORD_CLASSES = {edge_type: cls for cls, (edge_type, _s, _t) in _RELATION_ENDS.items()}
_ELEMENT_LABELS: dict[type[pm.ProvRecord], str] = {
    pm.ProvEntity: ENTITY,
    pm.ProvActivity: ACTIVITY,
    pm.ProvAgent: AGENT,
}
_ELEMENT_CLASSES = {label: cls for cls, label in _ELEMENT_LABELS.items()}
# PROV-O's unqualified properties for our five relations (subject: the relation's first end).
_UNQUALIFIED = {edge_type: PROV[edge_type].uri for edge_type in EDGE_TYPES}

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
_XSD_STRING = XSD["string"].uri
_PROV_I18N = PROV["InternationalizedString"].uri
# Prefixes a document cannot rebind for the project: PROV's, XML Schema's, ours.
_RESERVED = frozenset({"prov", "xsd", "xsi", "xml", NAMESPACE_PREFIX})
_PREFIX_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")


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


class Names:
    """The project's namespace prefixes, and the names they make of qualified names.

    Reading a document, a qualified name becomes ``prefix:local`` with the project's prefix
    for its namespace URI: the same URI always gets the same prefix (two documents spelling
    ``http://example.org/`` as ``ex`` and ``e`` name the same nodes), and a prefix already
    bound to another URI is never reused (the document's is renamed, ``ex2``): two documents
    whose ``ex:model`` are different things never share a node. A document's default
    namespace gets the prefix ``default`` (``default2``...), so that every imported name says
    its namespace. Our own names come back bare.

    Writing one, ``prefix:local`` is a qualified name in that namespace when the project binds
    the prefix; any other name is one of ours, in the provgraph namespace.
    """

    def __init__(self, namespaces: Mapping[str, str] | None = None):
        self.uris: dict[str, str] = {}  # prefix -> uri
        self.prefixes: dict[str, str] = {}  # uri -> prefix
        self.used: dict[str, str] = {}  # bindings the names made or read so far
        self._namespaces: dict[str, pm.Namespace] = {"prov": PROV, "xsd": XSD}
        for prefix, uri in (namespaces or {}).items():
            if self._bindable(prefix, uri):
                self.uris[prefix] = uri
                self.prefixes.setdefault(uri, prefix)

    @staticmethod
    def _bindable(prefix: Any, uri: Any) -> bool:
        return (isinstance(prefix, str) and isinstance(uri, str) and prefix not in _RESERVED
                and _PREFIX_NAME.match(prefix) is not None and bool(uri.strip())
                and not uri.startswith(NAMESPACE_URI))

    def prefix_for(self, namespace: pm.Namespace) -> str:
        """The project's prefix for `namespace`, binding one if the project has none."""
        uri = namespace.uri
        if uri == PROV.uri:
            return "prov"
        if uri in _XSD_URIS:
            return "xsd"
        prefix = self.prefixes.get(uri)
        if prefix is None:
            wanted = namespace.prefix if _PREFIX_NAME.match(namespace.prefix or "") else ""
            wanted = wanted or "default"
            prefix, number = wanted, 1
            while prefix in self.uris or prefix in _RESERVED:
                number += 1
                prefix = f"{wanted}{number}"
            self.uris[prefix] = uri
            self.prefixes[uri] = prefix
        self.used[prefix] = uri
        return prefix

    def name(self, identifier: pm.Identifier) -> str:
        """A qualified name (or URI) as the name provgraph keeps."""
        if identifier.uri.startswith(NAMESPACE_URI):
            # Recognised by full URI: rdflib may split an IRI elsewhere than we did (it
            # writes ``provgraph:%C3%A9x`` as ``ns1:C3%A9x`` with ``ns1`` bound to ``...#%``).
            return decode_local(identifier.uri[len(NAMESPACE_URI) :])
        if isinstance(identifier, pm.QualifiedName) and (identifier.localpart
                                                          or identifier.namespace.prefix):
            return f"{self.prefix_for(identifier.namespace)}:{identifier.localpart}"
        return identifier.uri

    def qname(self, name: str) -> pm.QualifiedName:
        """The qualified name a name of provgraph's stands for."""
        prefix, colon, local = name.partition(":")
        if colon and (local or prefix in self.uris):  # ``bbc:`` names the namespace's own IRI
            if prefix in ("prov", "xsd") and local:
                return self._namespaces[prefix][local]
            uri = self.uris.get(prefix)
            if uri is not None:
                namespace = self._namespaces.get(prefix)
                if namespace is None:
                    namespace = self._namespaces[prefix] = pm.Namespace(prefix, uri)
                self.used[prefix] = uri
                return namespace[local]
        return NAMESPACE[encode_local(name)]


# --------------------------------------------------------------------------- values


def _json_text(value: Any) -> str:
    """JSON text readable where possible (non-ASCII kept), all-ASCII where XML would choke."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except TypeError as exc:
        raise TypeError(f"cannot export {value!r}: not JSON-serializable") from exc
    return json.dumps(value) if _NOT_XML_CHAR.search(text) else text


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


def _lexical(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else (
            "NaN" if value != value else ("INF" if value > 0 else "-INF"))
    return str(value)


_LANGTAG = re.compile(r"[a-zA-Z]+(-[a-zA-Z0-9]+)*\Z")  # PROV-N's LANGTAG, without the @


class Untagged(UserWarning):
    """A value imported with a language tag no PROV format can state, exported without it."""


class _Writer:
    """Values and names as a `prov` document holds them, for one export."""

    def __init__(self, names: Names, json_type: pm.QualifiedName):
        self.names = names
        self.json_type = json_type

    def plain(self, value: Any) -> Any:
        """A property value as an attribute value that comes back as the same Python value."""
        if isinstance(value, bool | int | float):
            return value
        if isinstance(value, str) and not _NOT_XML_CHAR.search(value):
            return value
        if isinstance(value, str | list | tuple | dict):
            return pm.Literal(_json_text(value), datatype=self.json_type)
        raise TypeError(f"cannot export a property value of type {type(value).__name__}: "
                        f"{value!r}")

    def typed(self, value: Any, datatype: str | None) -> Any:
        """A value with another tool's typing (see `TYPES`)."""
        if not datatype or isinstance(value, list | tuple | dict):
            return self.plain(value)
        if datatype.startswith("@"):
            if _LANGTAG.match(datatype[1:]):
                return pm.Literal(_lexical(value), langtag=datatype[1:])
            # no format can state it (PROV-N's LANGTAG, RDF's and XML's language tags)
            warnings.warn(f"the language tag {datatype[1:]!r} of {_lexical(value)!r} is not a "
                          "BCP 47 tag: written without it", Untagged, stacklevel=2)
            return _lexical(value)
        if datatype == _XSD_QNAME and isinstance(value, str):
            return self.names.qname(value)
        if datatype == _XSD_ANYURI and isinstance(value, str):
            return pm.Identifier(value)
        if datatype == _XSD_DATETIME and isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        return pm.Literal(_lexical(value), datatype=self.names.qname(datatype))

    def values(self, value: Any, types: Any) -> list[Any]:
        """The attribute values of a property: several when the document gave several."""
        if isinstance(types, list) and isinstance(value, list) and len(types) == len(value):
            return [self.typed(item, kind if isinstance(kind, str) else None)
                    for item, kind in zip(value, types, strict=True)]
        return [self.typed(value, types if isinstance(types, str) else None)]


def _typed_attributes(writer: _Writer, properties: Mapping[str, Any], skip: Iterable[str] = ()
                      ) -> list[tuple[pm.QualifiedName, Any]]:
    """Every property but `skip`, and but the `TYPES` companions, sorted by name."""
    skipped = set(skip)
    attributes = []
    for key in sorted(properties):
        value = properties[key]
        if value is None or key in skipped or _is_companion(key, properties):
            continue
        name = writer.names.qname(key)
        attributes += [(name, item) for item in writer.values(value,
                                                              properties.get(key + TYPES))]
    return attributes


def _is_companion(key: str, properties: Mapping[str, Any]) -> bool:
    return key.endswith(TYPES) and key[: -len(TYPES)] in properties


# --------------------------------------------------------------------------- export


def _node_attributes(writer: _Writer, node: Node) -> list[tuple[pm.QualifiedName, Any]]:
    """The label first (what a reader looks for), then the other properties by name."""
    properties = node.properties
    attributes = []
    name = properties.get("name")
    if name is not None and name != node.id:  # an imported node without a label: none
        attributes += [(_PROV_LABEL, value)
                       for value in writer.values(name, properties.get("name" + TYPES))]
    times = {key for key in ("started", "ended") if _is_activity_time(node, key)}
    return attributes + _typed_attributes(writer, properties, {"name", KINDS, *times})


def _is_activity_time(node: Node, key: str) -> bool:
    return (
        node.label == ACTIVITY
        and key in ("started", "ended")
        and _prov_time(node.properties.get(key)) is not None
    )


def _edge_attributes(writer: _Writer, edge: Edge, revision: bool
                     ) -> list[tuple[pm.QualifiedName, Any]]:
    attributes: list[tuple[pm.QualifiedName, Any]] = []
    if revision:
        attributes.append((_PROV_TYPE, _PROV_REVISION))
    properties = dict(edge.properties)
    if ROLE in properties:  # PROV's own role: prov:role, prov:hadRole in PROV-O
        properties["prov:role"] = properties.pop(ROLE)
        if ROLE + TYPES in properties:
            properties["prov:role" + TYPES] = properties.pop(ROLE + TYPES)
    for key in sorted(properties):
        name = _formal(writer, edge.type, key, properties)
        if name is not None:
            value = properties.pop(key)
            properties.pop(key + TYPES, None)
            attributes += [(name, _formal_value(writer, name, item))
                           for item in (value if isinstance(value, list) else [value])]
    return attributes + _typed_attributes(writer, properties, {RELATION_ID})


def _formal(writer: _Writer, edge_type: str, key: str, properties: Mapping[str, Any]
            ) -> pm.QualifiedName | None:
    """The formal attribute of the relation (prov:time, prov:plan...) a property stands for."""
    if ":" not in key or properties.get(key) is None or _is_companion(key, properties):
        return None
    name = writer.names.qname(key)
    return name if name in _RECORD_CLASSES[edge_type].FORMAL_ATTRIBUTES else None


def _formal_value(writer: _Writer, name: pm.QualifiedName, value: Any) -> Any:
    """A relation's formal attribute (prov:time, prov:plan...) as PROV types it."""
    if name == _PROV_TIME:
        return _prov_time(value) or (dt.datetime.fromisoformat(value)
                                     if isinstance(value, str) else value)
    return writer.names.qname(value) if isinstance(value, str) else value


def _edge_sort_key(edge: Edge) -> tuple[str, str, str, str, str]:
    return (*edge.identity, json.dumps(edge.properties, sort_keys=True, default=str))


def to_document(nodes: Iterable[Node], edges: Iterable[Edge],
                namespaces: Mapping[str, str] | None = None,
                json_type: pm.QualifiedName = JSON_DATATYPE) -> pm.ProvDocument:
    """Build a PROV document from the graph (see the module docstring for the mapping).

    `namespaces` are the project's prefixes (``{"ex": "http://example.org/"}``), which the
    names of imported nodes and properties use. Raises DocumentError for a node label or edge
    type PROV has no counterpart for here, and TypeError for a property value that is neither
    a scalar nor JSON-serializable: an export that silently dropped data would defeat its
    purpose.
    """
    writer = _Writer(Names(namespaces), json_type)
    doc = pm.ProvDocument()
    doc.add_namespace(NAMESPACE)
    nodes = sorted(nodes, key=lambda n: n.id)
    by_id = {node.id: node for node in nodes}
    for node in nodes:
        if node.label not in LABELS:
            raise DocumentError(f"node {node.id!r} has label {node.label!r}, not a PROV element")
        identifier = writer.names.qname(node.id)
        for number, kind in enumerate(_kinds(node)):
            attributes = _node_attributes(writer, node) if number == 0 else []
            if kind == ACTIVITY:
                started = _prov_time(node.properties.get("started")) if number == 0 else None
                ended = _prov_time(node.properties.get("ended")) if number == 0 else None
                doc.activity(identifier, started, ended, attributes)
            elif kind == ENTITY:
                doc.entity(identifier, attributes)
            else:
                doc.agent(identifier, attributes)
    for edge in sorted(edges, key=_edge_sort_key):
        if edge.type not in _RECORD_CLASSES:
            raise DocumentError(f"edge type {edge.type!r} is not a PROV relation provgraph writes")
        revision = edge.type == WAS_DERIVED_FROM and version_link(
            by_id.get(edge.source), by_id.get(edge.target))
        relation = edge.properties.get(RELATION_ID)
        identifier = (writer.names.qname(relation)
                      if isinstance(relation, str) and relation and not relation.startswith("_:")
                      else None)
        _, source_attr, target_attr = _RELATION_ENDS[_RECORD_CLASSES[edge.type]]
        attributes = [(source_attr, writer.names.qname(edge.source)),
                      (target_attr, writer.names.qname(edge.target)),
                      *_edge_attributes(writer, edge, revision)]
        for part in _one_value_each(attributes, _RECORD_CLASSES[edge.type], identifier):
            doc.new_record(PROV_RECORD_IDS_MAP[edge.type], identifier, part)
    for prefix, uri in sorted(writer.names.used.items()):
        doc.add_namespace(prefix, uri)
    return doc


def _one_value_each(attributes: list[tuple[pm.QualifiedName, Any]],
                    record_class: type[pm.ProvRecord], identifier: pm.QualifiedName | None
                    ) -> list[list[tuple[pm.QualifiedName, Any]]]:
    """The relation as records `prov` accepts: a formal attribute (prov:time...) takes one
    value, so a relation another document gave several is written as several records with
    its identifier (one relation described in several statements, as PROV allows); without
    an identifier, those would be several relations, and only the first value is written."""
    formal = [name for name, _ in attributes if name in record_class.FORMAL_ATTRIBUTES]
    repeated = {name for name in formal if formal.count(name) > 1}
    if not repeated:
        return [attributes]
    common = [(n, v) for n, v in attributes if n not in repeated]
    values = {name: [v for n, v in attributes if n == name] for name in sorted(repeated)}
    if identifier is None:
        return [common + [(name, items[0]) for name, items in values.items()]]
    return [common + [(name, items[min(i, len(items) - 1)]) for name, items in values.items()]
            for i in range(max(len(items) for items in values.values()))]


def _kinds(node: Node) -> list[str]:
    """The node's PROV kinds, its label first."""
    listed = node.properties.get(KINDS)
    others = [kind for kind in listed if kind in LABELS] if isinstance(listed, list) else []
    return list(dict.fromkeys([node.label, *others]))


def exportable(nodes: Iterable[Node], edges: Iterable[Edge]
               ) -> tuple[list[Node], list[Edge], dict[str, int]]:
    """The nodes and edges PROV can carry, and how many of the others were left out by kind.

    The journal refuses other labels and relation types at the door (`provgraph.journal.schema`);
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


def serialize(nodes: Iterable[Node], edges: Iterable[Edge], fmt: str,
              namespaces: Mapping[str, str] | None = None) -> str:
    """The graph as text in one of `FORMATS`; DocumentError for any other format name.

    Nodes of a label and edges of a type PROV has no counterpart for here are left out, with
    one warning line on stderr (`exportable`)."""
    if fmt not in FORMATS:
        raise DocumentError(f"unknown PROV format {fmt!r}; expected one of {', '.join(FORMATS)}")
    name, options = _prov_format(fmt, _SERIALIZERS)
    nodes, edges, skipped = exportable(nodes, edges)
    if skipped:
        from provgraph.ingestors import warn

        warn(f"export left out {skipped.get('nodes', 0)} node(s) of a label other than "
             f"Entity, Activity and Agent and {skipped.get('edges', 0)} edge(s) of a type other "
             "than the five PROV relations")
    with _quiet_rdflib(), warnings.catch_warnings(record=True) as caught:
        # `prov` warns of values a later release may reject, written as the graph holds them;
        # what cannot be written as it is (`Untagged`) is said below, one line each
        warnings.simplefilter("ignore", pm.ProvFutureRejectionWarning)
        warnings.simplefilter("always", Untagged)
        doc = to_document(nodes, edges, namespaces,
                          XML_JSON_DATATYPE if fmt == "xml" else JSON_DATATYPE)
        if fmt == "xml":
            text = _xml(doc)
        elif fmt == "ttl":
            text = _turtle(doc)
        else:
            text = doc.serialize(format=name, **options)
    assert text is not None  # no destination given: `prov` returns the text
    untagged = list(dict.fromkeys(str(w.message) for w in caught
                                  if issubclass(w.category, Untagged)))
    if untagged:
        from provgraph.ingestors import warn

        for message in untagged:
            warn(f"export: {message}")
    if fmt == "json":
        text = _interoperable_json(text)
    return text if text.endswith("\n") else text + "\n"


_FORMAL_NAMES = frozenset(str(name) for name in PROV_ATTRIBUTES)


def _interoperable_json(text: str) -> str:
    """PROV-JSON as ProvToolbox 2.2 reads it too: the ``prov`` and ``xsd`` prefixes declared
    (`prov` leaves them implied, and ProvToolbox then rejects ``xsd:int`` as an unknown name),
    and every value of an attribute other than a formal one (``prov:entity``...) in an array,
    as PROV-JSON allows (ProvToolbox 2.2 reads a lone value as nothing, or mangles it), a
    boolean as a typed value (ProvToolbox 2.2 reads a JSON ``false`` as the string "null")."""
    data = json.loads(text)
    data["prefix"] = {"prov": PROV.uri, "xsd": XSD.uri, **data.get("prefix", {})}
    for key, group in data.items():
        if key == "prefix" or not isinstance(group, dict):
            continue
        for records in group.values():
            for record in records if isinstance(records, list) else [records]:
                for name, value in record.items():
                    if name in _FORMAL_NAMES:
                        continue
                    values = value if isinstance(value, list) else [value]
                    record[name] = [{"$": "true" if v else "false", "type": "xsd:boolean"}
                                    if isinstance(v, bool) else v for v in values]
    return json.dumps(data, indent=2)


def _xml(doc: pm.ProvDocument) -> str:
    """PROV-XML as the schema and ProvToolbox read it: a revision is a ``wasDerivedFrom`` with
    ``prov:type`` ``prov:Revision``, never the ``wasRevisionOf`` element `prov` writes
    (valid, but unknown to ProvToolbox 2.2)."""
    from prov.serializers.provxml import FULL_NAMES_MAP, ProvXMLSerializer

    class Serializer(ProvXMLSerializer):
        def _derive_record_label(self, rec_type: pm.QualifiedName, attributes: list) -> str:
            return FULL_NAMES_MAP[rec_type]

    stream = io.StringIO()
    Serializer(doc).serialize(stream)
    return stream.getvalue()


def _turtle(doc: pm.ProvDocument) -> str:
    """PROV-O with the unqualified triple of every relation next to its qualified form
    (``:run prov:used :data`` as well as ``prov:qualifiedUsage [...]``): `prov` writes only
    the qualified form of a relation with attributes, which a query for ``prov:used`` misses."""
    from prov.serializers.provrdf import ProvRDFSerializer
    from rdflib import URIRef

    graph = ProvRDFSerializer(doc).encode_container(doc)
    for record in doc.get_records(pm.ProvRelation):
        ends = _RELATION_ENDS.get(type(record))
        if ends is None:
            continue
        edge_type, source_attr, target_attr = ends
        source, target = record.get_attribute(source_attr), record.get_attribute(target_attr)
        if len(source) == 1 and len(target) == 1:
            graph.add((URIRef(next(iter(source)).uri), URIRef(_UNQUALIFIED[edge_type]),
                       URIRef(next(iter(target)).uri)))
    return graph.serialize(format="turtle")


def _prov_format(
    fmt: str, table: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    """The `prov` serializer for `fmt`, checked up front: Turtle needs rdflib and PROV-XML lxml,
    both optional extras of `prov`, and a missing one should say so rather than surface as a
    parse error about the text."""
    if fmt not in table:
        raise DocumentError(f"unknown PROV format {fmt!r}; expected one of {', '.join(table)}")
    name, options = table[fmt]
    try:
        prov.serializers.get(name)
    except prov.serializers.DoNotExist as exc:
        raise DocumentError(
            f"the {fmt} format is not available: install prov with its extras, "
            f"pip install 'prov[rdf,xml]' ({exc})"
        ) from exc
    return name, options


# --------------------------------------------------------------------------- reading


@dataclass
class Translation:
    """A PROV document as provgraph's graph, and what could not come along."""

    nodes: list[Node]
    edges: list[Edge]
    skipped: Counter = field(default_factory=Counter)  # relations left out, by reason
    namespaces: dict[str, str] = field(default_factory=dict)  # prefixes the names use


class _Reader:
    """Attribute values as provgraph properties, keeping another tool's typing (`TYPES`)."""

    def __init__(self, names: Names):
        self.names = names

    def typed(self, name: pm.QualifiedName, value: Any) -> tuple[Any, str | None]:
        """(the property value, the datatype export needs to write it as it was, or None)."""
        if isinstance(value, bool | int | float | str):
            return value, None
        if isinstance(value, dt.datetime):
            return _format_time(value), _XSD_DATETIME
        if isinstance(value, pm.QualifiedName):
            return self.names.name(value), _XSD_QNAME
        if isinstance(value, pm.Literal):
            return self._literal(name, value)
        if isinstance(value, pm.Identifier):
            return value.uri, _XSD_ANYURI
        return str(value), None

    def _literal(self, name: pm.QualifiedName, literal: pm.Literal) -> tuple[Any, str | None]:
        """Typed literals the `prov` library left alone: ours (JSON), the XSD types it does not
        convert itself (``xsd:decimal``, ``xsd:long`` holding a small number), the others."""
        text = literal.value
        if literal.langtag:
            return text, "@" + literal.langtag
        datatype = literal.datatype.uri if literal.datatype is not None else None
        if datatype is None or datatype in (_XSD_STRING, _PROV_I18N):
            return text, None
        try:
            if datatype == JSON_DATATYPE.uri or (
                    datatype == XML_JSON_DATATYPE.uri and name.uri.startswith(NAMESPACE_URI)):
                return json.loads(text), None
            if datatype in _XSD_INTEGERS:
                number = int(text.strip())
                return number, self._unless(literal.datatype, canonical_xsd_datatype(number))
            if datatype in _XSD_FLOATS:
                return float(text.strip()), self._unless(literal.datatype, XSD["double"])
            if datatype == _XSD_BOOLEAN and text.strip() in ("true", "false", "1", "0"):
                return text.strip() in ("true", "1"), None
        except ValueError:
            pass  # not what its type says: kept as text, with its type
        return text, self.names.name(literal.datatype)

    def _unless(self, datatype: pm.QualifiedName, canonical: pm.QualifiedName | None
                ) -> str | None:
        """The datatype, unless it is the one export writes for the value anyway."""
        if canonical is not None and canonical.uri == datatype.uri:
            return None
        return self.names.name(datatype)


def _collapse(key: str, values: list[tuple[Any, str | None]]) -> dict[str, Any]:
    """A property (and its `TYPES` companion) from the values a document gave an attribute.

    One value stays a scalar; several (a PROV set) become a sorted list, homogeneous as the
    model wants (values of mixed types become their text, typed in the companion), with a
    companion list so that export writes them back as several values."""
    unique: list[tuple[Any, str | None]] = []
    for value, datatype in values:
        if not any(type(v) is type(value) and v == value and d == datatype
                   for v, d in unique):
            unique.append((value, datatype))  # typed: True and 1 are different values
    if len(unique) == 1:
        value, datatype = unique[0]
        return {key: value, **({key + TYPES: datatype} if datatype else {})}
    kinds = {type(value) for value, _ in unique}
    if len(kinds) != 1 or not kinds <= {str, int, float, bool}:
        unique = [(value, datatype) if isinstance(value, str) else _as_text(value, datatype)
                  for value, datatype in unique]
    unique.sort(key=lambda item: (item[0], item[1] or ""))
    return {key: [value for value, _ in unique],
            key + TYPES: [datatype or "" for _, datatype in unique]}


def _as_text(value: Any, datatype: str | None) -> tuple[str, str]:
    """A value as text, and the datatype that gives it back its type."""
    if isinstance(value, list | dict):
        return _json_text(value), "json"
    if datatype:
        return _lexical(value), datatype
    if isinstance(value, bool):
        return _lexical(value), "xsd:boolean"
    if isinstance(value, int):
        return str(value), "xsd:" + str(canonical_xsd_datatype(value).localpart)
    return _lexical(value), "xsd:double"


def _element_to_node(reader: _Reader, records: list[pm.ProvRecord]) -> Node:
    """One node from every record describing it (PROV lets a document describe an element in
    several statements, and declare one id as several kinds)."""
    found = {_ELEMENT_LABELS[type(record)] for record in records}
    kinds = [label for label in LABELS if label in found]  # in one order, whatever the format's
    collected: dict[str, list[tuple[Any, str | None]]] = {}
    for record in records:
        is_activity = type(record) is pm.ProvActivity
        for name, value in record.attributes:
            if is_activity and name in (_PROV_START, _PROV_END):
                key = "started" if name == _PROV_START else "ended"
                collected.setdefault(key, []).append((_format_time(value), None))
                continue
            key = "prov:label" if name == _PROV_LABEL else reader.names.name(name)
            collected.setdefault(key, []).append(reader.typed(name, value))
    properties: dict[str, Any] = {}
    labels = collected.pop("prov:label", None)
    if labels:  # the first label is the node's name, any others stay prov:label
        first, *rest = sorted(dict.fromkeys(labels), key=lambda v: (str(v[0]), v[1] or ""))
        properties.update(_collapse("name", [first]))
        if rest:
            properties.update(_collapse("prov:label", rest))
    for key, values in sorted(collected.items()):
        properties.update(_collapse(key, values))
    if len(kinds) > 1:
        properties[KINDS] = kinds
    identifier = records[0].identifier
    assert identifier is not None  # only identified records are grouped
    return Node(reader.names.name(identifier), kinds[0], properties)


def _relation_to_edge(reader: _Reader, records: list[pm.ProvRecord],
                      nodes: Mapping[str, Node]) -> Edge | None:
    """One edge from the records of one relation (one, or several sharing an identifier)."""
    edge_type, source_attr, target_attr = _RELATION_ENDS[type(records[0])]
    source = target = None
    formal = type(records[0]).FORMAL_ATTRIBUTES
    collected: dict[str, list[tuple[Any, str | None]]] = {}
    for record in records:
        for name, value in record.attributes:
            if name == source_attr:
                source = value
            elif name == target_attr:
                target = value
            elif name in formal:  # prov:time, prov:plan...: typed by PROV itself
                if isinstance(value, pm.Identifier):
                    collected.setdefault(reader.names.name(name), []).append(
                        (reader.names.name(value), None))
                elif isinstance(value, dt.datetime):
                    collected.setdefault(reader.names.name(name), []).append(
                        (_format_time(value), None))
            elif name == _PROV_ROLE:
                collected.setdefault(ROLE, []).append(reader.typed(name, value))
            else:
                collected.setdefault(reader.names.name(name), []).append(
                    reader.typed(name, value))
    if not isinstance(source, pm.QualifiedName) or not isinstance(target, pm.QualifiedName):
        return None  # PROV allows e.g. used(a, -); provgraph edges need both ends
    source_id, target_id = reader.names.name(source), reader.names.name(target)
    if edge_type == WAS_DERIVED_FROM and version_link(nodes.get(source_id),
                                                      nodes.get(target_id)):
        # implied: a derivation between two versions of one file is a revision
        collected["prov:type"] = [v for v in collected.get("prov:type", [])
                                  if v != ("prov:Revision", _XSD_QNAME)]
    properties: dict[str, Any] = {}
    for key, values in sorted(collected.items()):
        if values:
            properties.update(_collapse(key, values))
    identifier = records[0].identifier
    if identifier is not None:
        properties[RELATION_ID] = reader.names.name(identifier)
    return Edge(edge_type, source_id, target_id, properties)


def translate(doc: pm.ProvDocument, names: Names | None = None,
              reconcile: bool = False) -> Translation:
    """The nodes and edges a PROV document describes, and what is left out, counted.

    A document written by `to_document` comes back exactly. For one written by another tool
    this does its best instead of failing: bundles are flattened into the document; records
    of kinds provgraph has no edge for (wasInformedBy, actedOnBehalfOf...) and relations
    lacking an end are skipped and counted; names take the project's prefixes (`Names`);
    an attribute given several values becomes a sorted list. Two relations stating
    the same ends are two edges (told apart by `RELATION_ID`). With `reconcile` (PROV-O),
    a relation with nothing but its two ends that another relation of the same ends also
    states is the unqualified triple of that one, not a relation of its own.
    """
    names = names or Names()
    reader = _Reader(names)
    if doc.has_bundles():
        doc = doc.flattened()
    records = list(doc.get_records())
    _bind_declared(names, records)
    elements: dict[pm.QualifiedName, list[pm.ProvRecord]] = {}
    relations: dict[Any, list[pm.ProvRecord]] = {}
    skipped: Counter = Counter()
    left_out: set[Any] = set()
    for number, record in enumerate(records):
        record_type = type(record)
        if record_type in _ELEMENT_LABELS:
            if record.identifier is not None:
                elements.setdefault(record.identifier, []).append(record)
        elif record_type in _RELATION_ENDS:
            ends = tuple(value for _, value in record.formal_attributes[:2])
            key = (record_type, record.identifier, ends) if record.identifier is not None \
                else number  # one relation described in several statements: one edge
            relations.setdefault(key, []).append(record)
        elif isinstance(record, pm.ProvRelation):
            # one relation however many statements describe it (by id), or repeat it
            once = (record_type, record.identifier) if record.identifier is not None \
                else record
            if once not in left_out:
                left_out.add(once)
                skipped[PROV_N_MAP.get(record.get_type(), str(record.get_type()))] += 1
    nodes = {node.id: node for node in (_element_to_node(reader, group)
                                        for group in elements.values())}
    edges: list[Edge] = []
    for group in relations.values():
        edge = _relation_to_edge(reader, group, nodes)
        if edge is None:
            skipped[f"{PROV_N_MAP[group[0].get_type()]} lacking an end"] += 1
        else:
            edges.append(edge)
    edges = _distinct(edges, reconcile)
    return Translation(sorted(nodes.values(), key=lambda n: n.id),
                       sorted(edges, key=_edge_sort_key), skipped, dict(names.used))


def _bind_declared(names: Names, records: list[pm.ProvRecord]) -> None:
    """Bind the prefixes the document's names use before any name is made, the document's
    own prefixes first: a default namespace that is also a prefixed one then takes the
    prefix, not ``default``."""
    found: dict[str, pm.Namespace] = {}
    for record in records:
        for identifier in (record.identifier, *(n for n, _ in record.attributes),
                           *(v for _, v in record.attributes)):
            namespace = getattr(identifier, "namespace", None)
            if isinstance(namespace, pm.Namespace):
                found.setdefault(namespace.uri, namespace)
            datatype = getattr(identifier, "datatype", None)
            if isinstance(getattr(datatype, "namespace", None), pm.Namespace):
                found.setdefault(datatype.namespace.uri, datatype.namespace)
    for namespace in sorted(found.values(), key=lambda ns: (not ns.prefix, ns.prefix, ns.uri)):
        if not namespace.uri.startswith(NAMESPACE_URI):
            names.prefix_for(namespace)


def _distinct(edges: list[Edge], reconcile: bool) -> list[Edge]:
    """One edge per relation: relations sharing their ends are told apart by id (``_:`` and
    a digest of the attributes for one without), the very same statement made twice is one."""
    groups: dict[tuple[str, str, str], list[Edge]] = {}
    for edge in edges:
        groups.setdefault(edge.key, []).append(edge)
    kept: list[Edge] = []
    for group in groups.values():
        if reconcile and len(group) > 1:
            group = [e for e in group if e.properties] or group[:1]
        distinct: dict[str, Edge] = {}
        for edge in group:
            distinct.setdefault(json.dumps(edge.properties, sort_keys=True, default=str), edge)
        for text, edge in distinct.items():
            if len(distinct) > 1 and RELATION_ID not in edge.properties:
                digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
                edge = Edge(edge.type, edge.source, edge.target,
                            {**edge.properties, RELATION_ID: f"_:{digest}"})
            kept.append(edge)
    return kept


def from_document(doc: pm.ProvDocument) -> tuple[list[Node], list[Edge]]:
    """The nodes and edges a PROV document describes (`translate`, without the counts)."""
    translation = translate(doc)
    return translation.nodes, translation.edges


def parse(text: str, fmt: str, namespaces: Mapping[str, str] | None = None
          ) -> tuple[list[Node], list[Edge]]:
    """Read a PROV document in one of `READ_FORMATS` back into nodes and edges.

    Raises DocumentError (a ValueError) for an unknown format and for text the format's parser
    rejects, whatever exception the underlying parser (json, lxml, rdflib, the PROV-N parser)
    raised, so callers such as the CLI have one error type to report.
    """
    translation = translate(load(text, fmt).document, Names(namespaces), reconcile=fmt == "ttl")
    return translation.nodes, translation.edges


def deserialize(text: str, fmt: str) -> pm.ProvDocument:
    """The `ProvDocument` itself (`load`, without what it left out); errors as `parse`."""
    return load(text, fmt).document


@dataclass
class Loaded:
    """A document as the `prov` library read it, and what could not come along."""

    document: pm.ProvDocument
    skipped: Counter = field(default_factory=Counter)  # statements taken out, by kind
    losses: list[str] = field(default_factory=list)  # what `prov` dropped, one line each


def load(text: str, fmt: str) -> Loaded:
    """Read a document in one of `READ_FORMATS` through the `prov` library (errors as
    `parse`): PROV-Dictionary statements are taken out and counted first, and what `prov`
    warns of losing comes back as `losses`, while its other warnings (things it reads fine
    today and a later `prov` may not) are not repeated to users."""
    name, options = _prov_format(fmt, _DESERIALIZERS)
    skipped: Counter = Counter()
    try:
        text = _prepare(text, fmt, skipped)
        with warnings.catch_warnings(record=True) as caught, _quiet_rdflib():
            warnings.simplefilter("always")
            doc = pm.ProvDocument.deserialize(content=text, format=name, **options)
    except Exception as exc:
        raise DocumentError(f"not a valid {fmt} PROV document: {_one_line(str(exc))}") from exc
    return Loaded(doc, skipped, _losses(caught))


_LOSS = re.compile(r"\b(dropped|ignored|skipped|not representable|the last value is used)\b")
_FUTURE = re.compile(r"\.?\s*prov \d+\.\d+(\.\d+)? will .*$", re.S)


def _losses(caught: list[warnings.WarningMessage]) -> list[str]:
    """The warnings of `prov` that say something was lost, as one line each, without the
    `prov` release they are about."""
    lines = []
    for warning in caught:
        if not issubclass(warning.category, pm.ProvWarning | UserWarning) or issubclass(
                warning.category, DeprecationWarning):
            continue
        message = _one_line(_FUTURE.sub("", str(warning.message)))
        if _LOSS.search(message):
            lines.append(message)
    return list(dict.fromkeys(lines))


def _one_line(text: str) -> str:
    return " ".join(text.split())


# PROV-Dictionary (https://www.w3.org/TR/prov-dictionary/): relations `prov` cannot read.
_DICTIONARY = ("derivedByInsertionFrom", "derivedByRemovalFrom", "hadDictionaryMember")
_PROVN_OPAQUE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|'
                           r"'(?:[^'\\\n]|\\.)*'|<[^<>\s]*>|//[^\n]*|/\*.*?\*/", re.S)
_PROVN_DICTIONARY = re.compile(r"(?<![\w:.\\%-])(?:prov:)?(" + "|".join(_DICTIONARY)
                               + r")\s*\(")
_PROVN_XSD = re.compile(r"(\bprefix\s+xsd\s+<)(http://www\.w3\.org/2001/XMLSchema)(>)")


def _prepare(text: str, fmt: str, skipped: Counter) -> str:
    """The text `prov` can read: PROV-Dictionary statements out (counted), and in PROV-N a
    ``prefix xsd`` naming XML Schema without its ``#`` (as PROV-XML does) read as meant."""
    if fmt == "provn":
        if "XMLSchema>" in text:
            text = _PROVN_XSD.sub(r"\1\2#\3", text)
        if any(word in text for word in _DICTIONARY):
            text = _strip_provn(text, skipped)
    elif fmt == "json" and any(word in text for word in _DICTIONARY):
        text = _strip_json(text, skipped)
    elif fmt == "xml" and any(word in text for word in _DICTIONARY):
        text = _strip_xml(text, skipped)
    return text


def _strip_provn(text: str, skipped: Counter) -> str:
    """Blank out PROV-Dictionary statements, found outside strings, IRIs and comments, and
    keep every other character where it was (error positions stay right)."""
    masked = _PROVN_OPAQUE.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    spans = []
    for match in _PROVN_DICTIONARY.finditer(masked):
        depth, end = 0, None
        for index in range(match.end() - 1, len(masked)):
            if masked[index] in "([{":
                depth += 1
            elif masked[index] in ")]}":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        if end is None:
            break  # unbalanced: the parser says where
        spans.append((match.start(), end))
        skipped[match.group(1)] += 1
    for start, end in reversed(spans):
        text = text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]
    return text


def _strip_json(text: str, skipped: Counter) -> str:
    """PROV-JSON without the record groups `prov` does not know (PROV-Dictionary's)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text  # the parser says what is wrong
    if not isinstance(data, dict):
        return text

    def strip(container: dict) -> None:
        for key in list(container):
            if key in _DICTIONARY:
                group = container.pop(key)
                skipped[key] += len(group) if isinstance(group, dict | list) else 1
        bundles = container.get("bundle")
        if isinstance(bundles, dict):
            for bundle in bundles.values():
                if isinstance(bundle, dict):
                    strip(bundle)

    strip(data)
    return json.dumps(data)


def _strip_xml(text: str, skipped: Counter) -> str:
    """PROV-XML without the PROV-Dictionary statements `prov` does not know."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=parser)
    except etree.XMLSyntaxError:
        return text  # the parser says what is wrong
    for element in list(root.iter(f"{{{PROV.uri}}}*")):
        local = etree.QName(element).localname
        if local in _DICTIONARY and element.getparent() is not None:
            element.getparent().remove(element)
            skipped[local] += 1
    return etree.tostring(root, encoding="unicode")


@contextmanager
def _quiet_rdflib() -> Iterator[None]:
    """Keep rdflib's own chatter off the terminal: its warning that `Dataset.default_context`
    is deprecated (between rdflib and `prov`), and the traceback it logs for every literal it
    cannot convert to a Python value (it keeps the literal's text, so nothing is lost)."""
    logger = logging.getLogger("rdflib")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"rdflib\b")
            yield
    finally:
        logger.setLevel(level)
