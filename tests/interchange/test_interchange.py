"""W3C PROV that strict tools accept, imports that lose nothing (issue 12, section 4): the PROV-XML
schema the `prov` library ships, ProvToolbox 0.9 and 2.2 (built from Maven Central), rdflib
SPARQL over the Turtle, the `prov` library's and ProvToolbox's own documents, and two projects
sharing one Neo4j database."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections import Counter
from pathlib import Path

import prov
import prov.model as pm
import pytest
from lxml import etree
from test_import import TRAIN, neo4j_store, project
from toolbox import ProvToolbox

from provgraph.interchange.export import load, parse
from provgraph.interchange.importer import detect_format, kinds_of, read

DATA = Path(__file__).parents[1] / "data" / "prov"
DOCUMENTS = sorted(p for p in DATA.glob("*/*") if p.suffix != ".md")
PRIMER = DATA / "xml" / "prov_primer_complete_example.xml"
KEPT = {pm.ProvEntity, pm.ProvActivity, pm.ProvAgent, pm.ProvUsage, pm.ProvGeneration,
        pm.ProvAssociation, pm.ProvAttribution, pm.ProvDerivation}


@pytest.fixture
def captured(repo_factory):
    """Real captures: a version chain, two agents, a change made outside prov."""
    a = repo_factory("a")
    a.write("train.py", TRAIN)
    a.write("raw.csv", "3\n1\n2\n")
    a.write("params.yaml", "lr: 0.1\n")
    a.commit_all("inputs")
    a.ok("sort", "-r", "-o", "sorted.csv", "raw.csv")
    a.ok("python3", "train.py", "params.yaml", "sorted.csv")
    a.write("params.yaml", "lr: 0.05\n")  # outside prov
    a.ok("python3", "train.py", "params.yaml", "sorted.csv",
         env={"PROV_AGENT": "Bob <bob@example.com>"})
    # annotations are attributes of their targets (docs/annotations.md): lists, numbers,
    # booleans, text the strict readers must accept too
    a.ok("tag", "latest", "best", "v1")
    a.ok("note", "sorted.csv", "sorted <by> 'sort -r' & kept")
    a.ok("set", "latest", "score=0.93", "epochs=12", "reviewed=true", "owner=Bob")
    a.ok("set", "bob@example.com", "team=vision")
    return a


@pytest.fixture
def primer(repo_factory):
    """The W3C PROV primer's complete example, imported."""
    b = repo_factory("primer")
    b.ok("import", str(PRIMER))
    return b


def exported(repo, fmt: str, folder: Path) -> Path:
    path = folder / f"{repo.root.name}.{fmt}"
    repo.ok("export", "--format", fmt, "-o", str(path))
    return path


def namespaces(repo) -> dict[str, str]:
    with repo.store() as store:
        return store.meta("namespaces", {})


def normalised(nodes, edges):
    """Nodes and edges to compare across tools: ProvToolbox keeps times to the millisecond,
    and 0.9 gives a time without a zone its JVM's (UTC: `toolbox.ProvToolbox`)."""
    def ms(value):
        if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", value):
            return value[:23] + (value[26:] or "+00:00")
        return value

    return ({n.id: (n.label, {k: ms(v) for k, v in n.properties.items()}) for n in nodes},
            {e.identity: {k: ms(v) for k, v in e.properties.items()} for e in edges})


# ------------------------------------------------------------------------ PROV-XML schema


def test_prov_xml_export_is_valid_against_the_w3c_schema(captured, primer, tmp_path):
    xsd = Path(prov.__file__).parent / "tests" / "schemas" / "prov.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    for repo in (captured, primer):
        document = etree.parse(str(exported(repo, "xml", tmp_path)))
        assert schema.validate(document), [e.message for e in schema.error_log][:3]
        # a list is one value in document order, typed so the schema knows it
        assert "provgraph:json" not in etree.tostring(document, encoding="unicode")
    text = exported(captured, "xml", tmp_path).read_text()
    assert '<prov:wasRevisionOf' not in text and "<prov:wasDerivedFrom" in text
    assert ('<provgraph:operands xsi:type="xsd:normalizedString">'
            '["train.py", "params.yaml", "sorted.csv"]</provgraph:operands>') in text


# ------------------------------------------------------------------------ ProvToolbox


@pytest.fixture(scope="module", params=["0.9", "2.2"])
def toolbox(request):
    tool = ProvToolbox(request.param)
    yield tool
    tool.close()


def test_provtoolbox_reads_the_exports_and_writes_the_same_graph_back(toolbox, captured, primer,
                                                                     tmp_path):
    for repo in (captured, primer):
        bound = namespaces(repo)
        ours = normalised(*parse(exported(repo, "json", tmp_path).read_text(), "json", bound))
        assert ours[0] and ours[1]
        for fmt in ("json", "provn", "xml"):
            source = exported(repo, fmt, tmp_path)
            for out in ("json", "provn"):
                target = tmp_path / f"{repo.root.name}-{fmt}-by-provtoolbox.{out}"
                assert toolbox.convert(source, target).startswith("ok "), (fmt, out)
                assert normalised(*parse(target.read_text(), out, bound)) == ours, (fmt, out)
            # ProvToolbox's own PROV-XML escapes "_" in element names ("exit__code"), which it
            # alone reads back: through it again, the graph is the same (ProvToolbox 0.9 drops
            # from its own PROV-XML a value typed outside XML Schema, provgraph:json as our
            # PROV-JSON and PROV-N type a list, so that hop starts from our PROV-XML there)
            if toolbox.version.startswith("0.9") and fmt != "xml":
                continue
            xml, again = tmp_path / "by-provtoolbox.xml", tmp_path / "again.json"
            assert toolbox.convert(source, xml).startswith("ok ")
            assert toolbox.convert(xml, again).startswith("ok ")
            assert normalised(*parse(again.read_text(), "json", bound)) == ours, fmt
        if toolbox.version.startswith("0.9"):  # 2.2 no longer reads Turtle
            answer = toolbox.convert(exported(repo, "ttl", tmp_path))
            assert answer.startswith("ok "), answer


# ------------------------------------------------------------------------ Turtle, SPARQL


def test_turtle_states_the_unqualified_relations_and_roles(captured, primer, tmp_path):
    from rdflib import Graph

    for repo in (captured, primer):
        graph = Graph().parse(str(exported(repo, "ttl", tmp_path)), format="turtle")
        with repo.store() as store:
            edges, nodes = store.all_edges(), {n.id: n for n in store.all_nodes()}
        assert edges
        names = {node_id: node_id for node_id in nodes}
        uris = {}
        bound = namespaces(repo)
        for node_id in names:
            prefix, _, local = node_id.partition(":")
            uris[node_id] = (bound[prefix] + local if prefix in bound and local
                             else "https://provgraph.dev/ns#" + node_id)
        for edge in edges:
            found = graph.query(
                "PREFIX prov: <http://www.w3.org/ns/prov#> "
                f"ASK {{ <{uris[edge.source]}> prov:{edge.type} <{uris[edge.target]}> }}")
            assert found.askAnswer, edge
        roles = Counter(str(row.role) for row in graph.query(
            "PREFIX prov: <http://www.w3.org/ns/prov#> "
            "SELECT ?role WHERE { ?a prov:qualifiedUsage|prov:qualifiedAssociation ?q . "
            "?q prov:hadRole ?role }"))
        assert sum(roles.values()) == sum(1 for e in edges if e.properties.get("role")
                                          and e.type in ("used", "wasAssociatedWith"))
        assert roles
    # the primer's roles, each where it was
    graph = Graph().parse(str(exported(primer, "ttl", tmp_path)), format="turtle")
    rows = {(str(row.a).rsplit("/", 1)[-1], str(row.e).rsplit("/", 1)[-1]) for row in graph.query(
        "PREFIX prov: <http://www.w3.org/ns/prov#> SELECT ?a ?e WHERE { ?a prov:used ?e ; "
        "prov:qualifiedUsage [ prov:entity ?e ; prov:hadRole ?role ] }")}
    assert ("compose1", "dataset1") in {(a.split("#")[-1], e.split("#")[-1]) for a, e in rows}


# ------------------------------------------------------------------------ other tools' documents


def prov_counts(path: Path) -> tuple[Counter, Counter]:
    """Nodes by kind and relations as the `prov` library reads the document (a relation once
    however many statements describe it, by id or word for word), and the PROV-Dictionary
    statements it cannot read, which provgraph takes out first."""
    text = path.read_text()
    fmt = detect_format(str(path), text)
    dictionary: Counter = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "jsonld":
            doc = load(text, fmt).document
        else:
            try:
                doc = pm.ProvDocument.deserialize(content=text, format=fmt)
            except Exception:
                loaded = load(text, fmt)
                doc, dictionary = loaded.document, loaded.skipped
                assert dictionary, path
    if doc.has_bundles():
        doc = doc.flattened()
    counts: Counter = Counter()
    for cls, label in ((pm.ProvEntity, "Entity"), (pm.ProvActivity, "Activity"),
                       (pm.ProvAgent, "Agent")):
        counts[label] = len({r.identifier for r in doc.get_records(cls)})
    relations = list(doc.get_records(pm.ProvRelation))
    counts["relations"] = (len({(type(r), r.identifier) for r in relations if r.identifier})
                           + len({r for r in relations if not r.identifier})
                           + sum(dictionary.values()))
    return +counts, dictionary


@pytest.mark.parametrize("path", DOCUMENTS, ids=[f"{p.parent.name}/{p.name}" for p in DOCUMENTS])
def test_other_tools_documents_import_with_the_prov_librarys_counts(path):
    want, dictionary = prov_counts(path)
    document = read(path)
    got: Counter = Counter()
    for node in document.nodes:
        got.update(kinds_of(node))
    got["relations"] = len(document.edges) + sum(document.skipped.values())
    assert +got == want, dict(document.skipped)
    for kind, count in dictionary.items():
        assert document.skipped[kind] == count


def test_prov_import_says_every_skipped_relation(repo):
    family = DATA / "provtoolbox" / "prov-family.provn"
    out = repo.ok("import", str(family))
    want, _ = prov_counts(family)
    summary = json.loads(repo.ok("import", "--json", str(family)).stdout)
    assert summary["entities"] == want["Entity"] and summary["agents"] == want["Agent"]
    assert summary["relations"] + sum(summary["skipped"].values()) == want["relations"]
    assert summary["skipped"]["derivedByInsertionFrom"] == 12  # PROV-Dictionary
    said = re.search(r"; skipped (.*)\.$", out.stdout.strip()).group(1)
    assert sorted(said.split(", ")) == sorted(f"{n} {k}" for k, n in summary["skipped"].items())
    assert out.stderr == ""


def test_the_primer_keeps_every_relation_and_role_and_exports_as_it_was(primer, tmp_path):
    original = pm.ProvDocument.deserialize(source=str(PRIMER), format="xml")
    wanted = {r for r in original.get_records() if type(r) in KEPT
              and all(value for _, value in r.formal_attributes[:2])}
    roles = sum(1 for r in wanted if r.get_attribute(pm.PROV_ROLE))
    with primer.store() as store:
        assert sum(1 for e in store.all_edges() if e.properties.get("role")) == roles > 0
    for fmt in ("json", "xml", "provn"):
        again = pm.ProvDocument.deserialize(source=str(exported(primer, fmt, tmp_path)),
                                            format=fmt)
        written = set()
        for record in again.get_records():
            attributes = [(k, v) for k, v in record.attributes if str(k) != "provgraph:project"]
            written.add(type(record)(again, record.identifier, attributes))
        assert not wanted - written, (fmt, sorted(map(str, wanted - written))[:3])
        text = exported(primer, fmt, tmp_path).read_text()
        assert "%3A" not in text  # names in their own namespaces


def test_an_agent_that_is_also_an_entity_is_one_node_of_both_kinds(repo, tmp_path):
    path = tmp_path / "both.provn"
    path.write_text("""\
document
  prefix ex <http://example.org/>
  prefix xsd <http://www.w3.org/2001/XMLSchema>
  entity(ex:bob, [ex:height = "180" %% xsd:int])
  agent(ex:bob, [prov:type = 'prov:Person'])
  entity(ex:report)
  activity(ex:write)
  wasAttributedTo(ex:report, ex:bob)
  used(ex:write, ex:bob, -)
  derivedByInsertionFrom(ex:d2, ex:d1, {("k", ex:report)})
endDocument
""")
    out = repo.ok("import", str(path)).stdout
    assert out.strip().endswith(f"relations from {path}; skipped 1 derivedByInsertionFrom.")
    with repo.store() as store:
        bob = store.node("ex:bob")
        assert bob.properties["labels"] == ["Entity", "Agent"]
        assert bob.properties["ex:height"] == 180 and bob.properties["prov:type"] == "prov:Person"
        assert {(e.type, e.source, e.target) for e in store.all_edges()} == {
            ("wasAttributedTo", "ex:report", "ex:bob"), ("used", "ex:write", "ex:bob")}
    text = exported(repo, "provn", tmp_path).read_text()
    assert re.search(r"^\s*entity\(ex:bob\b", text, re.M) and re.search(r"^\s*agent\(ex:bob\b",
                                                                       text, re.M)


def test_prov_jsonld_is_read(repo):
    path = DATA / "jsonld" / "submission-example-3.jsonld"
    want, _ = prov_counts(path)
    summary = json.loads(repo.ok("import", "--json", str(path)).stdout)
    assert summary["format"] == "jsonld"
    assert (summary["entities"], summary["activities"], summary["agents"]) == (
        want["Entity"], want["Activity"], want["Agent"])
    assert summary["relations"] + sum(summary["skipped"].values()) == want["relations"]


FOREIGN = """\
document
  prefix ex <http://example.org/>
  entity(ex:raw)
  entity(ex:report, [prov:type = 'ex:Document'])
  activity(ex:clean)
  used(ex:u1; ex:clean, ex:raw, -, [prov:role = 'ex:input'])
  used(ex:u2; ex:clean, ex:raw, -, [prov:role = 'ex:reference'])
  wasGeneratedBy(ex:report, ex:clean, -)
  wasDerivedFrom(ex:report, ex:raw)
endDocument
"""


def test_re_export_writes_another_tools_names_and_types_as_they_were(repo, tmp_path):
    path = tmp_path / "foreign.provn"
    path.write_text(FOREIGN)
    repo.ok("import", str(path))
    data = json.loads(exported(repo, "json", tmp_path).read_text())
    assert data["prefix"]["ex"] == "http://example.org/"
    assert set(data["activity"]) == {"ex:clean"}
    assert data["entity"]["ex:report"]["prov:type"] == [{"$": "ex:Document", "type": "xsd:QName"}]
    [derivation] = data["wasDerivedFrom"].values()
    assert "prov:type" not in derivation  # not made a revision
    roles = sorted(u["prov:role"][0]["$"] for u in data["used"].values())
    assert roles == ["ex:input", "ex:reference"]  # two relations of the same ends, both kept
    assert set(data["used"]) == {"ex:u1", "ex:u2"}


def test_imported_derivations_are_followed_and_activities_print_what_they_say(repo, tmp_path):
    path = tmp_path / "foreign.provn"
    path.write_text(FOREIGN)
    repo.ok("import", str(path))
    lineage = repo.ok("lineage", "ex:report").stdout
    assert "derived from" in lineage and "ex:raw" in lineage
    assert "exit None" not in lineage and "$ \n" not in lineage + "\n"
    segment = repo.prov("segment", "--src", "ex:raw", "--dst", "ex:report")
    assert segment.returncode == 0, segment.stderr
    assert "ex:raw" in segment.stdout and "ex:report" in segment.stdout
    log = repo.ok("log").stdout
    assert "ex:clean" in log and "None" not in log
    assert not [line for line in log.splitlines() if line.strip() == "$"]


def test_what_prov_drops_or_may_reject_is_one_line_each_in_provgraphs_voice(repo, tmp_path):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({
        "prefix": {"ex": "http://example.org/"},
        "entity": {
            "ex:e1": {"ex:note": None, "ex:n": [1, None],
                      "ex:lang": {"$": "hi", "lang": "not a tag!"},
                      "ex:ref": {"$": "nope:thing", "type": "xsd:QName"}},
            "ex:e2": {"ex:when": {"$": "2020-01-01T00:00:00+15:00", "type": "xsd:dateTime"}},
        },
    }))
    proc = repo.ok("import", str(path))
    lines = proc.stderr.splitlines()
    assert lines == [
        f"prov: warning: {path}: record 'ex:e1', attribute 'ex:note': the value is null and is "
        "dropped",
        f"prov: warning: {path}: record 'ex:e1', attribute 'ex:n': the value is null and is "
        "dropped",
    ]  # a language tag, a name or an offset prov 3.3 may reject is kept, nothing to say
    for fmt in ("json", "provn", "ttl", "xml"):
        export = repo.ok("export", "--format", fmt)  # a tag no format can state: said, once
        assert export.stderr.splitlines() == [
            "prov: warning: export: the language tag 'not a tag!' of 'hi' is not a BCP 47 "
            "tag: written without it"], fmt


# ------------------------------------------------------------------------ a shared Neo4j


def test_two_projects_sharing_neo4j_import_each_others_exports_untouched(repo_factory, captured,
                                                                        neo4j_uri, tmp_path):
    a = captured
    b = repo_factory("b")
    b.ok("import", str(PRIMER))
    for repo in (a, b):
        repo.ok("config", "set", "neo4j.uri", neo4j_uri)
        repo.ok("sync")

    def graphs():
        found = {}
        for repo in (a, b):
            with neo4j_store(repo) as neo4j:
                found[repo.root.name] = normalised(neo4j.all_nodes(), neo4j.all_edges())
        return found

    before = graphs()
    a_export, b_export = exported(a, "json", tmp_path), exported(b, "json", tmp_path)
    a.ok("import", str(b_export))
    b.ok("import", str(a_export))
    for repo in (a, b):
        repo.ok("sync")
    after = graphs()
    for name, (nodes, edges) in before.items():
        other_nodes, other_edges = after[name]
        # each keeps every node and edge it had, as it was, in its own project
        assert {k: other_nodes[k] for k in nodes} == nodes
        assert {k: other_edges[k] for k in edges} == edges
    with a.store() as embedded, neo4j_store(a) as neo4j:
        assert normalised(neo4j.all_nodes(), neo4j.all_edges()) == \
            normalised(embedded.all_nodes(), embedded.all_edges())
        shared = next(n.id for n in embedded.all_nodes() if n.id.startswith("ent-"))
        rows = neo4j.run("MATCH (n:Entity {id: $id}) RETURN n.project AS project", id=shared)
        assert sorted(r["project"] for r in rows) == sorted([project(a), project(b)])
    assert a.ok("log", "--json").stdout.count('"id"') >= 3
    assert os.path.exists(b_export)
