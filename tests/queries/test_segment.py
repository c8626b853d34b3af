"""`prov segment`: the cases of docs/operators.md on the team example, on both indexes, and
the command line around them."""

from __future__ import annotations

import json

import pytest

from provgraph.queries.nodes import resolve
from provgraph.queries.segment import Criteria, Predicate, segment


@pytest.fixture(params=["embedded", "search", "neo4j"])
def store(request, team):
    if request.param == "embedded":
        with team.store() as s:
            yield s
    elif request.param == "search":
        from provgraph.stores.adjacency import SearchIndex

        with team.store() as s, SearchIndex.beside(s) as search:
            yield search
    else:
        from graph import neo4j_store

        with neo4j_store(team) as s:
            yield s


def run(store, src: list[str], dst: list[str], **criteria):
    ids = lambda refs: [n.id for ref in refs for n in resolve(store, ref)]  # noqa: E731
    return segment(store, ids(src), ids(dst), Criteria(**criteria))


def names(seg) -> set[str]:
    return {n.name for n in seg.nodes.values() if n.label != "Activity"}


def activities(seg, team) -> set[str]:
    short = {v: k for k, v in team.activities.items()}
    return {short[i] for i, n in seg.nodes.items() if n.label == "Activity"}


def test_case_1_core_only(store, team):
    seg = run(store, ["faces.csv"], ["weights.caffemodel"], context=False)
    assert names(seg) == {"faces.csv@v1", "weights.caffemodel@v2"}
    assert activities(seg, team) == {"a3"}
    assert seg.core == set(seg.nodes)
    assert {e.type for e in seg.edges} == {"used", "wasGeneratedBy"}


def test_case_2_with_context(store, team):
    seg = run(store, ["faces.csv"], ["weights.caffemodel"])
    assert names(seg) == {"faces.csv@v1", "weights.caffemodel@v2", "train_val.prototxt@v1",
                          "solver.prototxt@v2", "train.log@v2", "train.py@v1", "Bob"}
    assert activities(seg, team) == {"a3"}
    assert len(seg.core) == 3
    ids = set(seg.nodes)
    assert all(e.source in ids and e.target in ids for e in seg.edges)
    assert ("wasAssociatedWith", team.activities["a3"]) in {(e.type, e.source) for e in seg.edges}


def test_case_3_through_an_edit(store, team):
    seg = run(store, ["solver.prototxt@v1"], ["weights.caffemodel"], context=False)
    assert names(seg) == {"weights.caffemodel@v2", "solver.prototxt@v2", "solver.prototxt@v1"}
    assert activities(seg, team) == {"a3", "a2"}


def test_case_4_excluding_the_log(store, team):
    seg = run(store, ["faces.csv"], ["acc.png"], context=False,
              exclude_nodes=(Predicate.parse("path=*.log"),))
    assert not seg and seg.nodes == {} and seg.edges == []
    seg = run(store, ["faces.csv"], ["acc.png"], context=False)
    assert names(seg) == {"faces.csv@v1", "train.log@v2", "acc.png@v1"}
    assert activities(seg, team) == {"a3", "a4"}


def test_hops_bound_the_activities_on_a_path(store, team):
    assert not run(store, ["faces.csv"], ["acc.png"], hops=1)
    assert activities(run(store, ["faces.csv"], ["acc.png"], hops=2), team) == {"a3", "a4"}


def test_every_version_and_an_agent_excluded(store, team):
    seg = run(store, ["faces.csv"], ["weights.caffemodel@*"], context=False)
    assert activities(seg, team) == {"a1", "a3"}
    seg = run(store, ["faces.csv"], ["weights.caffemodel@*"],
              exclude_nodes=(Predicate.parse("agent=bob"),))
    assert activities(seg, team) == {"a1"}
    assert "Bob" not in names(seg) and "Alice" in names(seg)


def test_excluded_edge_types_are_absent(store, team):
    seg = run(store, ["faces.csv"], ["weights.caffemodel"],
              exclude_edges=frozenset({"wasAssociatedWith", "wasAttributedTo"}))
    assert "Bob" not in names(seg)
    assert {e.type for e in seg.edges} == {"used", "wasGeneratedBy"}
    assert not run(store, ["faces.csv"], ["weights.caffemodel"],
                   exclude_edges=frozenset({"used"}))


def test_time_window(store, team):
    with team.store() as embedded:
        a3 = embedded.node(team.activities["a3"]).properties
    seg = run(store, ["faces.csv"], ["weights.caffemodel@*"], context=False,
              since=a3["started"])
    assert activities(seg, team) == {"a3"}
    seg = run(store, ["faces.csv"], ["weights.caffemodel@*"], context=False,
              until=a3["started"])
    assert activities(seg, team) == {"a1"}


def test_follow_revisions(store, team):
    # v2 of the weights came from a3, not from v1: only revisions link them
    assert not run(store, ["weights.caffemodel@v1"], ["weights.caffemodel@v2"])
    seg = run(store, ["weights.caffemodel@v1"], ["weights.caffemodel@v2"], context=False,
              follow_revisions=True)
    assert names(seg) == {"weights.caffemodel@v1", "weights.caffemodel@v2"}
    assert [e.type for e in seg.edges] == ["wasDerivedFrom"]


def test_both_indexes_give_identical_segments(team):
    from graph import neo4j_store

    cases = [(["faces.csv"], ["weights.caffemodel@*"], {}),
             (["solver.prototxt@*"], ["acc.png"], {"hops": 3}),
             (["faces.csv", "train.py"], ["acc.png"], {"context": False})]
    with team.store() as embedded, neo4j_store(team) as neo4j:
        for src, dst, criteria in cases:
            a, b = run(embedded, src, dst, **criteria), run(neo4j, src, dst, **criteria)
            assert a.to_dict() == b.to_dict()


# -- the command line ------------------------------------------------------------------------


def test_text_tree(team):
    out = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png").stdout
    assert out.splitlines()[0].startswith("segment: 5 vertices on derivation paths")
    assert "acc.png@v1\n└── generated by python3 plot.py #4 (Alice" in out
    assert "used faces.csv@v1 (source)" in out
    assert "train_val.prototxt@v1 (context)" in out


def test_several_nodes_after_one_option(team):
    one = team.ok("segment", "--src", "faces.csv", "solver.prototxt@v1", "--dst",
                  "weights.caffemodel", "--format", "json").stdout
    two = team.ok("segment", "--src", "faces.csv", "--src", "solver.prototxt@v1", "--dst",
                  "weights.caffemodel", "--format", "json").stdout
    assert one == two


def test_json_is_a_prov_document(team):
    from provgraph.interchange.export import parse

    out = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png", "--no-context",
                  "--format", "json").stdout
    doc = json.loads(out)
    assert set(doc) >= {"prefix", "entity", "activity"}
    nodes, edges = parse(out, "json")
    assert {n.name for n in nodes} == {"faces.csv@v1", "train.log@v2", "acc.png@v1",
                                       "python3 train.py #3", "python3 plot.py #4"}
    assert len(edges) == 4


def test_dot_and_mermaid(team):
    dot = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png", "--format", "dot").stdout
    assert dot.startswith('digraph "segment" {') and dot.rstrip().endswith("}")
    assert '[label="wasGeneratedBy"]' in dot and "shape=box" in dot
    mermaid = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png", "--format",
                      "mermaid").stdout
    assert mermaid.startswith("flowchart BT\n")
    assert "-->|used|" in mermaid


def test_empty_segment_is_an_answer(team):
    proc = team.ok("segment", "--src", "acc.png", "--dst", "faces.csv")
    assert proc.stdout.startswith("empty segment")


def test_unknown_node_is_one_line(team):
    proc = team.prov("segment", "--src", "nope.csv", "--dst", "acc.png")
    assert proc.returncode == 1
    assert proc.stderr == "prov: no recorded file nope.csv (provgraph knows files a command " \
                          "used, made or that changed between commands)\n"
    proc = team.prov("segment", "--src", "faces.csv@v7", "--dst", "acc.png")
    assert proc.stderr == "prov: faces.csv has no version 7 (latest is v1)\n"
    proc = team.prov("segment", "--dst", "acc.png")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "--src" in proc.stderr
    for bad in (["--exclude-node", "nokey"], ["--exclude-edges", "usedd"],
                ["--since", "yesterday"]):
        proc = team.prov("segment", "--src", "faces.csv", "--dst", "acc.png", *bad)
        assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, bad


def test_save_and_reload(team):
    from provgraph.queries.segment import load
    from provgraph.repo import Repository

    team.ok("segment", "--src", "faces.csv", "--dst", "weights.caffemodel", "--save", "bob-run")
    seg = load(Repository.discover(team.root), "bob-run")
    assert names(seg) >= {"faces.csv@v1", "weights.caffemodel@v2", "Bob"}
    proc = team.prov("segment", "--src", "faces.csv", "--dst", "acc.png", "--save", "../x")
    assert proc.returncode == 1 and "segment name" in proc.stderr


def test_on_neo4j_from_the_command_line(team):
    local = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png", "--format", "json")
    remote = team.ok("segment", "--src", "faces.csv", "--dst", "acc.png", "--format", "json",
                     "--neo4j")
    assert json.loads(local.stdout) == json.loads(remote.stdout)


def test_segments_of_provenance_captured_elsewhere(repo, tmp_path):
    """A PROV-JSON document from another tool: its ids name the ends of the segment."""
    doc = {
        "prefix": {"ex": "http://example.org/"},
        "entity": {"ex:raw": {}, "ex:clean": {}, "ex:model": {}, "ex:notes": {}},
        "activity": {"ex:prepare": {}, "ex:fit": {}},
        "used": {"_:u1": {"prov:activity": "ex:prepare", "prov:entity": "ex:raw"},
                 "_:u2": {"prov:activity": "ex:fit", "prov:entity": "ex:clean"},
                 "_:u3": {"prov:activity": "ex:fit", "prov:entity": "ex:notes"}},
        "wasGeneratedBy": {"_:g1": {"prov:entity": "ex:clean", "prov:activity": "ex:prepare"},
                           "_:g2": {"prov:entity": "ex:model", "prov:activity": "ex:fit"}},
    }
    path = tmp_path / "other-tool.json"
    path.write_text(json.dumps(doc))
    repo.ok("import", str(path))
    out = repo.ok("segment", "--src", "ex:raw", "--dst", "ex:model", "--format", "json").stdout
    from provgraph.interchange.export import parse

    nodes, edges = parse(out, "json")
    assert {n.id for n in nodes} == {"ex:raw", "ex:clean", "ex:model", "ex:notes",
                                     "ex:prepare", "ex:fit"}
    assert len(edges) == 5
    no_context = repo.ok("segment", "--src", "ex:raw", "--dst", "ex:model", "--no-context",
                         "--format", "json").stdout
    assert "ex:notes" not in {n.id for n in parse(no_context, "json")[0]}


def test_the_readme_examples(team):
    """The README's `prov segment` session, run on the same team history (times masked)."""
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    section = readme.split("## How was this derived from that: `prov segment`")[1]
    block = re.search(r"```console\n(.*?)```", section, re.S)[1]
    sessions = re.split(r"^\$ ", block, flags=re.M)[1:]
    assert len(sessions) == 3

    def masked(text: str) -> str:
        return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "TIME", text)

    for session in sessions:
        command, _, expected = session.partition("\n")
        args = shlex.split(command)
        assert args[0] == "prov"
        assert masked(team.ok(*args[1:]).stdout) == masked(expected)


def test_the_search_index_follows_captures_and_rebuilds(repo):
    """The SQLite copy the walks read takes each new capture, and starts over after a rebuild."""
    repo.write("a.txt", "1\n")
    repo.commit_all("a")
    repo.ok("cp", "a.txt", "b.txt")
    first = repo.ok("segment", "--src", "a.txt", "--dst", "b.txt", "--no-context").stdout
    assert "b.txt@v1" in first
    repo.ok("cp", "b.txt", "c.txt")
    second = repo.ok("segment", "--src", "a.txt", "--dst", "c.txt", "--no-context").stdout
    assert "c.txt@v1" in second and "cp #2" in second
    repo.ok("rebuild")
    assert repo.ok("segment", "--src", "a.txt", "--dst", "c.txt", "--no-context").stdout == second
    (repo.root / ".git" / "prov" / "index.duckdb").unlink()  # a new index: a new copy
    assert repo.ok("segment", "--src", "a.txt", "--dst", "c.txt", "--no-context").stdout == second
