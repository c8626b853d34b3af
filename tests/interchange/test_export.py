"""Round trips through the real `prov` library: the export is only useful if other PROV tools
can read it and provgraph can read it back without losing a list's order, a bool, or a key."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from prov.model import Literal, ProvDocument

from provgraph.interchange import export
from provgraph.interchange.export import (
    FORMATS,
    NAMESPACE_URI,
    decode_local,
    encode_local,
    from_document,
    parse,
    serialize,
    to_document,
)
from provgraph.model import (
    ACTIVITY,
    AGENT,
    ENTITY,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
)

PROJECT = "demo"


def _entity(node_id: str, path: str, version: int, **extra: object) -> Node:
    properties = {
        "name": f"{path}@{version}",
        "project": PROJECT,
        "path": path,
        "version": version,
        "digest": "sha256:" + node_id[-4:] * 16,
        "size": 1024 * version,
        **extra,
    }
    return Node(node_id, ENTITY, properties)


def _activity(node_id: str, command: str, started: str, ended: str, **extra: object) -> Node:
    words = command.split()
    properties = {
        "name": command,
        "project": PROJECT,
        "command": command,
        "utility": words[0],
        "options": [w for w in words[1:] if w.startswith("-")],
        "operands": [w for w in words[1:] if not w.startswith("-")],
        "exit_code": 0,
        "started": started,
        "ended": ended,
        "cwd": "/home/ada/work",
        "status": "done",
        **extra,
    }
    return Node(node_id, ACTIVITY, properties)


def sample_graph() -> tuple[list[Node], list[Edge]]:
    """2 agents, 3 activities, 5 entities and every edge type, with the awkward values."""
    agents = [
        Node("agt-00000000000000a1", AGENT, {"name": "Ada", "project": PROJECT,
                                              "email": "ada@example.org"}),
        Node("agt-00000000000000b2", AGENT, {"name": "Bob Smith", "project": PROJECT,
                                              "email": "bob@example.org"}),
    ]  # fmt: skip
    activities = [
        _activity(
            "act-1111111111111111",
            "caffe train --solver solver.prototxt",
            "2024-05-01T12:00:00.000000+00:00",  # microseconds of zero must survive
            "2024-05-01T12:30:15.123456+00:00",
            option_arguments=["solver.prototxt"],
            **{
                "caffe.base_lr": 0.01,
                "caffe.test.accuracy": [0.5, 0.25, 0.875, 0.125],  # not sorted, on purpose
                "caffe.test.iterations": [300, 100, 200],
                "caffe.test.loss/total": 1.75,  # a key with a slash
                "caffe.snapshot": True,
                "caffe.debug": False,
            },
        ),
        _activity(
            "act-2222222222222222",
            "sort -r -k 2 data.csv",
            "2024-05-02T08:00:00.500000+00:00",
            "2024-05-02T08:00:01.000001+00:00",
            option_arguments=["2"],
        ),
        _activity(
            "act-3333333333333333",
            "cp data.csv copy.csv",
            "2024-05-03T09:15:00.250000+00:00",
            "2024-05-03T09:15:00.750000+00:00",
            exit_code=1,
            status="failed",
            options=[],  # an empty list is still a list
        ),
    ]
    entities = [
        _entity("ent-000000000000e001", "solver.prototxt", 1, tags=["zeta", "alpha", "mid"]),
        _entity("ent-000000000000e002", "model.caffemodel", 1, **{"caffe.final_loss": 0.0625}),
        _entity("ent-000000000000e003", "data.csv", 1, executable=False),
        _entity("ent-000000000000e004", "data.csv", 2, lines=[3, 1, 2]),
        _entity("ent-000000000000e005", "copy.csv", 1, **{"notes with spaces": "x y"}),
    ]
    a1, a2, a3 = (a.id for a in activities)
    e1, e2, e3, e4, e5 = (e.id for e in entities)
    ada, bob = (a.id for a in agents)
    edges = [
        Edge(USED, a1, e1, {"role": "argument"}),
        Edge(WAS_GENERATED_BY, e2, a1),
        Edge(USED, a2, e3, {"role": "argument"}),
        Edge(WAS_GENERATED_BY, e4, a2),
        Edge(USED, a3, e4),
        Edge(WAS_GENERATED_BY, e5, a3),
        Edge(WAS_ASSOCIATED_WITH, a1, ada),
        Edge(WAS_ASSOCIATED_WITH, a2, ada),
        Edge(WAS_ASSOCIATED_WITH, a3, bob),
        Edge(WAS_ATTRIBUTED_TO, e2, ada),
        Edge(WAS_ATTRIBUTED_TO, e5, bob),
        Edge(WAS_DERIVED_FROM, e4, e3),
        Edge(WAS_DERIVED_FROM, e3, e1, {"missing": True}),  # changed outside provgraph
    ]
    # Deliberately out of order: export must sort.
    return [*entities, *agents, *activities[::-1]], edges[::-1]


def _canonical(nodes: list[Node], edges: list[Edge]) -> tuple[list, list]:
    """Comparable form that also pins Python types (True == 1 and 2 == 2.0 otherwise hide)."""

    def typed(value: object) -> object:
        if isinstance(value, list):
            return [typed(v) for v in value]
        return (type(value).__name__, value)

    return (
        sorted((n.id, n.label, {k: typed(v) for k, v in n.properties.items()}) for n in nodes),
        sorted(
            ((e.type, e.source, e.target), {k: typed(v) for k, v in e.properties.items()})
            for e in edges
        ),
    )


@pytest.fixture(autouse=True)
def _no_prov_warnings():
    """A warning from `prov` means our encoding leans on behaviour it plans to change."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(fmt: str) -> None:
    nodes, edges = sample_graph()
    text = serialize(nodes, edges, fmt)
    assert _canonical(*parse(text, fmt)) == _canonical(nodes, edges)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_list_order_and_types(fmt: str) -> None:
    nodes, edges = sample_graph()
    back = {n.id: n for n in parse(serialize(nodes, edges, fmt), fmt)[0]}
    train = back["act-1111111111111111"].properties
    assert train["caffe.test.accuracy"] == [0.5, 0.25, 0.875, 0.125]
    assert train["caffe.test.iterations"] == [300, 100, 200]
    assert all(type(v) is int for v in train["caffe.test.iterations"])
    assert train["options"] == ["--solver"]
    assert train["caffe.snapshot"] is True and train["caffe.debug"] is False
    assert type(train["exit_code"]) is int and type(train["caffe.base_lr"]) is float
    assert train["caffe.test.loss/total"] == 1.75
    assert train["started"] == "2024-05-01T12:00:00.000000+00:00"
    assert train["ended"] == "2024-05-01T12:30:15.123456+00:00"
    assert back["act-3333333333333333"].properties["options"] == []
    assert back["ent-000000000000e001"].properties["tags"] == ["zeta", "alpha", "mid"]
    assert back["ent-000000000000e001"].properties["version"] == 1
    assert back["ent-000000000000e003"].properties["executable"] is False
    derived = {e.key: e for e in parse(serialize(nodes, edges, fmt), fmt)[1]}
    missing = derived[(WAS_DERIVED_FROM, "ent-000000000000e003", "ent-000000000000e001")]
    assert missing.properties == {"missing": True}


def test_document_uses_prov_terms_and_our_namespace() -> None:
    nodes, edges = sample_graph()
    doc = to_document(nodes, edges)
    assert {ns.uri for ns in doc.namespaces} >= {NAMESPACE_URI}
    train_id = "provgraph:act-1111111111111111"
    activity = next(r for r in doc.get_records() if str(r.identifier) == train_id)
    assert activity.get_startTime().isoformat() == "2024-05-01T12:00:00+00:00"
    names = {str(name) for name, _ in activity.attributes}
    assert "prov:label" in names and "provgraph:name" not in names
    assert "provgraph:started" not in names and "provgraph:caffe.base_lr" in names
    assert "provgraph:caffe.test.loss%2Ftotal" in names
    relations = [r for r in doc.get_records() if r.is_relation()]
    assert len(relations) == len(edges) and all(r.identifier is None for r in relations)


def test_provn_output_has_the_expected_statements() -> None:
    nodes, edges = sample_graph()
    text = serialize(nodes, edges, "provn")
    assert text.startswith("document\n") and text.rstrip().endswith("endDocument")
    assert "prefix provgraph <https://provgraph.dev/ns#>" in text
    assert "entity(provgraph:ent-000000000000e001, [" in text
    assert "agent(provgraph:agt-00000000000000a1, [" in text
    assert (
        "activity(provgraph:act-2222222222222222, 2024-05-02T08:00:00.500000+00:00, "
        "2024-05-02T08:00:01.000001+00:00, [" in text
    )
    a1, a3 = "provgraph:act-1111111111111111", "provgraph:act-3333333333333333"
    e1, e2, e5 = (f"provgraph:ent-000000000000e00{i}" for i in (1, 2, 5))
    bob = "provgraph:agt-00000000000000b2"
    assert f"used({a1}, {e1}, -, [prov:role=\"argument\"])" in text  # PROV's own role
    assert f"wasGeneratedBy({e2}, {a1}, -)" in text
    assert f"wasAssociatedWith({a3}, {bob}, -)" in text
    assert f"wasAttributedTo({e5}, {bob})" in text
    derivations = [line.strip() for line in text.splitlines() if "wasDerivedFrom(" in line]
    assert len(derivations) == 2
    # a revision: data.csv@2 from data.csv@1; the other joins two files (not a version chain)
    e3, e4 = "provgraph:ent-000000000000e003", "provgraph:ent-000000000000e004"
    assert f"wasDerivedFrom({e4}, {e3}, -, -, -, [prov:type='prov:Revision'])" in derivations
    assert f"wasDerivedFrom({e3}, {e1}, -, -, -, [provgraph:missing=\"true\" %% xsd:boolean])" \
        in derivations
    assert 'prov:label="Bob Smith"' in text
    assert 'provgraph:tags="[\\"zeta\\", \\"alpha\\", \\"mid\\"]" %% provgraph:json' in text


def test_prov_json_structure() -> None:
    nodes, edges = sample_graph()
    data = json.loads(serialize(nodes, edges, "json"))
    for key in ("prefix", "entity", "activity", "agent", "used", "wasGeneratedBy",
                "wasAssociatedWith", "wasAttributedTo", "wasDerivedFrom"):  # fmt: skip
        assert key in data, key
    # the prefixes strict readers (ProvToolbox 2.2) need declared, not implied
    assert data["prefix"] == {"prov": "http://www.w3.org/ns/prov#",
                              "xsd": "http://www.w3.org/2001/XMLSchema#",
                              "provgraph": NAMESPACE_URI}
    assert len(data["entity"]) == 5 and len(data["activity"]) == 3 and len(data["agent"]) == 2
    train = data["activity"]["provgraph:act-1111111111111111"]
    assert train["prov:startTime"].startswith("2024-05-01T12:00:00")  # formal: one value
    # every other attribute's values in an array, booleans typed (as ProvToolbox 2.2 reads)
    assert train["prov:label"] == ["caffe train --solver solver.prototxt"]
    accuracy = train["provgraph:caffe.test.accuracy"]
    assert accuracy == [{"$": "[0.5, 0.25, 0.875, 0.125]", "type": "provgraph:json"}]
    assert train["provgraph:caffe.snapshot"] == [{"$": "true", "type": "xsd:boolean"}]
    assert train["provgraph:exit_code"] == [{"$": "0", "type": "xsd:int"}]
    assert train["provgraph:caffe.test.loss%2Ftotal"] == [{"$": "1.75", "type": "xsd:double"}]
    derivations = list(data["wasDerivedFrom"].values())
    revision = [{"$": "prov:Revision", "type": "xsd:QName"}]
    assert sorted(str(d.get("prov:type")) for d in derivations) == sorted([str(revision),
                                                                           "None"])
    assert sum(d.get("provgraph:missing") == [{"$": "true", "type": "xsd:boolean"}]
               for d in derivations) == 1
    used = data["used"].values()
    assert {"prov:activity", "prov:entity"} <= set(next(iter(used)))
    assert all(key.startswith("_:") for key in data["used"])  # relations carry no ids of ours


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_deterministic(fmt: str) -> None:
    nodes, edges = sample_graph()
    first = serialize(nodes, edges, fmt)
    assert serialize(list(reversed(nodes)), list(reversed(edges)), fmt) == first
    assert serialize(nodes, edges, fmt) == first


def test_export_is_identical_across_processes(tmp_path: Path) -> None:
    """Hash randomisation must not reach the output (rdflib orders triples itself)."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = {[str(Path(__file__).parent), *sys.path]!r}
        from test_export import sample_graph
        from provgraph.interchange.export import FORMATS, serialize
        nodes, edges = sample_graph()
        sys.stdout.write("".join(serialize(nodes, edges, fmt) for fmt in FORMATS))
        """
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        run = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_awkward_strings_and_keys_survive(fmt: str) -> None:
    properties = {
        "name": "weird",
        "project": PROJECT,
        "command": "printf '\x1b[1mbold\x1b[0m\\n'",  # control characters: not XML-legal
        "path": "caf\udce9.txt",  # undecodable file name via surrogateescape
        "text": "café ✓ \"quoted\" \\ 'single'\r\nnext line\ttab",
        "looks_like_json": '["not", "a", "list"]',
        "looks_like_a_time": "2024-05-01T12:00:00+00:00",
        "looks_like_a_name": "prov:Revision",
        "looks_like_a_bool": "true",
        "looks_like_an_int": "1",
        "empty": "",
        "one_item": [7],
        "bools": [True, False, True],
        "strings_with_controls": ["a\x00b", "c"],
        "big": 2**62,
        "huger": 2**70,
        "negative": -5,
        "float_integral": 2.0,
        "tiny": 1e-300,
        "a key/with:odd%chars (and spaces)": "v",
        "ünïcode.key": 1,
        "1starts-with-digit": "d",
        "-leading.dash.": "e",
        "_x0041_": "xml escape look-alike",
    }
    nodes = [Node("ent-odd%id/1", ENTITY, properties)]
    edges = [Edge(USED, "act-x", "ent-odd%id/1", {"role": "in put", "position": [2, 1]})]
    nodes.append(Node("act-x", ACTIVITY, {"name": "x", "started": "2024-05-01T12:00:00Z"}))
    back = parse(serialize(nodes, edges, fmt), fmt)
    assert _canonical(*back) == _canonical(nodes, edges)


@pytest.mark.parametrize(
    "started",
    [
        "2024-05-01T12:00:00+00:00",  # no microseconds: would come back with them
        "2024-05-01T12:00:00.000000Z",  # Z would come back as +00:00
        "2024-05-01T12:00:00.000000",  # naive is fine: comes back naive
        "2024-05-01T14:00:00.000000+02:00",
        "yesterday",
    ],
)
def test_times_that_prov_would_rewrite_stay_strings(started: str) -> None:
    nodes = [Node("act-t", ACTIVITY, {"name": "t", "started": started})]
    for fmt in FORMATS:
        (node,), _ = parse(serialize(nodes, [], fmt), fmt)
        assert node.properties["started"] == started, fmt


def test_local_name_encoding() -> None:
    assert encode_local("caffe.test.accuracy") == "caffe.test.accuracy"
    assert encode_local("caffe.test.loss/total") == "caffe.test.loss%2Ftotal"
    assert encode_local("a b%c") == "a%20b%25c"
    assert encode_local("é") == "%C3%A9"
    for name in ("a/b c", "100%", "é\udcff", "%41", "x:y"):
        assert decode_local(encode_local(name)) == name
    with pytest.raises(ValueError):
        encode_local("")


def test_unknown_format_is_a_value_error() -> None:
    nodes, edges = sample_graph()
    with pytest.raises(ValueError, match="unknown PROV format"):
        serialize(nodes, edges, "dot")
    with pytest.raises(ValueError, match="unknown PROV format"):
        parse("{}", "yaml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_unparseable_text_is_a_value_error(fmt: str) -> None:
    with pytest.raises(ValueError, match=f"not a valid {fmt} PROV document"):
        parse("this is not PROV at all {", fmt)


def test_unexportable_values_are_rejected() -> None:
    with pytest.raises(TypeError):
        to_document([Node("ent-1", ENTITY, {"when": object()})], [])
    with pytest.raises(ValueError):
        to_document([Node("x", "Plan", {})], [])
    with pytest.raises(ValueError):
        to_document([], [Edge("wasInformedBy", "a", "b")])


FOREIGN_PROV_JSON = {
    "prefix": {
        "ex": "http://example.org/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "provgraph": NAMESPACE_URI,
    },
    "entity": {
        "ex:article": {
            "prov:label": "An article",
            "prov:type": {"$": "ex:Document", "type": "prov:QUALIFIED_NAME"},
            "ex:wordCount": {"$": "1234", "type": "xsd:long"},
            "ex:score": {"$": "4.5", "type": "xsd:decimal"},
            "ex:lang": {"$": "hello", "lang": "en"},
            "ex:keywords": ["b", "a"],
        },
        "ex:draft": {},
        "provgraph:ent-shared": {"provgraph:path": "shared.txt"},
    },
    "activity": {
        "ex:compose": {
            "prov:startTime": "2011-11-16T16:05:00Z",
            "prov:endTime": "2011-11-16T16:06:00.5+01:00",
        },
        "ex:review": {},
    },
    "agent": {
        "ex:derek": {
            "prov:type": {"$": "prov:Person", "type": "prov:QUALIFIED_NAME"},
            "foaf:givenName": "Derek",
        }
    },
    "used": {
        "_:u1": {"prov:activity": "ex:compose", "prov:entity": "ex:draft", "prov:role": "input"},
        "_:u2": {"prov:activity": "ex:review"},
    },
    "wasGeneratedBy": {
        "ex:gen1": {
            "prov:entity": "ex:article",
            "prov:activity": "ex:compose",
            "prov:time": "2011-11-16T16:06:00Z",
        }
    },
    "wasAssociatedWith": {
        "_:a1": {"prov:activity": "ex:compose", "prov:agent": "ex:derek", "prov:plan": "ex:recipe"}
    },
    "wasDerivedFrom": {
        "_:d1": {
            "prov:generatedEntity": "ex:article",
            "prov:usedEntity": "ex:draft",
            "prov:type": {"$": "prov:Quotation", "type": "prov:QUALIFIED_NAME"},
        }
    },
    "wasInformedBy": {"_:i1": {"prov:informed": "ex:review", "prov:informant": "ex:compose"}},
    "actedOnBehalfOf": {"_:b1": {"prov:delegate": "ex:derek", "prov:responsible": "ex:derek"}},
}


def test_foreign_prov_json_imports_sensibly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what the other tool wrote is its own business
        nodes, edges = parse(json.dumps(FOREIGN_PROV_JSON), "json")
    by_id = {n.id: n for n in nodes}
    assert set(by_id) == {
        "ex:article", "ex:draft", "ent-shared", "ex:compose", "ex:review", "ex:derek",
    }  # fmt: skip
    assert by_id["ent-shared"].properties == {"path": "shared.txt"}  # our namespace: bare
    article = by_id["ex:article"]
    assert article.label == ENTITY
    assert article.properties["name"] == "An article"
    # another tool's typing is kept beside the value (`TYPES`), for export
    assert article.properties["prov:type"] == "ex:Document"
    assert article.properties["prov:type^^"] == "xsd:QName"
    assert article.properties["ex:wordCount"] == 1234
    assert article.properties["ex:wordCount^^"] == "xsd:long"  # small, but typed long
    assert article.properties["ex:score"] == 4.5
    assert article.properties["ex:score^^"] == "xsd:decimal"
    assert article.properties["ex:lang"] == "hello"
    assert article.properties["ex:lang^^"] == "@en"
    assert article.properties["ex:keywords"] == ["a", "b"]  # a PROV set: sorted
    assert article.properties["ex:keywords^^"] == ["", ""]  # ... of two values, not a list
    compose = by_id["ex:compose"]
    assert compose.label == ACTIVITY
    assert compose.properties["started"] == "2011-11-16T16:05:00.000000+00:00"
    assert compose.properties["ended"] == "2011-11-16T16:06:00.500000+01:00"
    derek = by_id["ex:derek"]
    assert derek.label == AGENT
    assert derek.properties == {"foaf:givenName": "Derek", "prov:type": "prov:Person",
                                "prov:type^^": "xsd:QName"}
    assert [e.key for e in edges] == [
        (USED, "ex:compose", "ex:draft"),
        (WAS_ASSOCIATED_WITH, "ex:compose", "ex:derek"),
        (WAS_DERIVED_FROM, "ex:article", "ex:draft"),
        (WAS_GENERATED_BY, "ex:article", "ex:compose"),
    ]  # used without an entity, wasInformedBy and actedOnBehalfOf are skipped
    props = {e.type: e.properties for e in edges}
    assert props[USED] == {"role": "input"}  # PROV's role is the edge's role
    assert props[WAS_ASSOCIATED_WITH] == {"prov:plan": "ex:recipe"}
    assert props[WAS_DERIVED_FROM] == {"prov:type": "prov:Quotation",  # not a revision: kept
                                       "prov:type^^": "xsd:QName"}
    assert props[WAS_GENERATED_BY] == {"prov:time": "2011-11-16T16:06:00.000000+00:00",
                                       "id": "ex:gen1"}  # the relation's own identifier


def test_from_document_merges_split_descriptions_and_bundles() -> None:
    doc = ProvDocument()
    ex = doc.add_namespace("ex", "http://example.org/")
    doc.entity(ex["e"], {ex["a"]: 1, "prov:label": "first"})
    doc.entity(ex["e"], {ex["a"]: True, ex["b"]: Literal("[1, 2]", datatype=export.JSON_DATATYPE)})
    bundle = doc.bundle(ex["b1"])
    bundle.activity(ex["act"])
    bundle.used(ex["act"], ex["e"])
    nodes, edges = from_document(doc)
    by_id = {n.id: n for n in nodes}
    assert by_id["ex:e"].properties["ex:a"] == ["1", "true"]  # mixed types: as JSON text
    assert by_id["ex:e"].properties["name"] == "first"
    assert by_id["ex:e"].properties["ex:b"] == [1, 2]
    assert by_id["ex:act"].label == ACTIVITY
    assert [e.key for e in edges] == [(USED, "ex:act", "ex:e")]
