"""`prov summarize`: segments merged into one picture, with frequencies (docs/operators.md).

The first part builds segments by hand to pin the algorithm down (keys, radius, the path
constraint, the outputs); the second captures the team example of the note with real `prov`
commands and summarizes it from the command line, on both indexes.
"""

from __future__ import annotations

import doctest
import json
import re

import pydot
import pytest

from provgraph.errors import ProvError
from provgraph.model import ACTIVITY, AGENT, ENTITY, Edge, Node
from provgraph.queries import summarize as summarize_module
from provgraph.queries.segment import Segment
from provgraph.queries.summarize import Abstraction, summarize

# -- segments built by hand -----------------------------------------------------------------


def entity(path: str, version: int = 1) -> Node:
    return Node(f"ent-{path}@v{version}", ENTITY,
                {"path": path, "version": version, "name": f"{path}@v{version}"})


def pipeline(*steps: tuple[str, str, list[Node], list[Node]], agent: str | None = None
             ) -> Segment:
    """A segment of activities (id, "utility subcommand", used, generated)."""
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    who = Node(f"agt-{agent}", AGENT, {"name": agent}) if agent else None
    if who:
        nodes[who.id] = who
    for act_id, command, used, generated in steps:
        utility, _, sub = command.partition(" ")
        props = {"utility": utility, "name": f"{command} #{act_id}"}
        if sub:
            props["subcommand"] = sub
        nodes[act_id] = Node(act_id, ACTIVITY, props)
        for e in used:
            nodes[e.id] = e
            edges.append(Edge("used", act_id, e.id))
        for e in generated:
            nodes[e.id] = e
            edges.append(Edge("wasGeneratedBy", e.id, act_id))
            if who:
                edges.append(Edge("wasAttributedTo", e.id, who.id))
        if who:
            edges.append(Edge("wasAssociatedWith", act_id, who.id))
    sources = [n for n in nodes if n.startswith("ent-")][:1]
    return Segment(sources, [steps[-1][3][0].id], nodes, edges, core=set(nodes))


def training(run: int, solver_version: int = 1, agent: str | None = None) -> Segment:
    """`python train.py faces.csv train_val.prototxt solver.prototxt` (case 5's shape)."""
    inputs = [entity("faces.csv"), entity("train_val.prototxt"),
              entity("solver.prototxt", solver_version), entity("train.py")]
    return pipeline((f"act-{run}", "python train.py", inputs,
                     [entity("weights.caffemodel", run), entity("train.log", run)]), agent=agent)


def shape(summary) -> tuple[list[tuple[str, int]], list[tuple[str, str, str, int]]]:
    return ([(n.id, n.count) for n in summary.nodes],
            [(e.source, e.type, e.target, e.count) for e in summary.edges])


def test_the_module_example_runs():
    assert doctest.testmod(summarize_module).failed == 0


def test_two_training_runs_summarize_to_one_run():
    """Case 5 by hand: 7 vertices, 6 edges, each in 2 of 2 segments, compaction 7/14."""
    s = summarize([training(1), training(2, solver_version=2)])
    assert s.segments == 2 and s.vertices == 14 and s.compaction == 0.5
    assert sorted(n.label for n in s.nodes) == sorted([
        "faces.csv", "train_val.prototxt", "solver.prototxt", "train.py", "python train.py",
        "weights.caffemodel", "train.log"])
    assert {n.count for n in s.nodes} == {2}
    assert sorted(e.type for e in s.edges) == ["used"] * 4 + ["wasGeneratedBy"] * 2
    assert {(e.count, e.frequency) for e in s.edges} == {(2, 1.0)}
    python = next(n for n in s.nodes if n.label == "python train.py")
    assert python.kind == ACTIVITY and python.members == [(0, "act-1"), (1, "act-2")]


def test_identical_segments_summarize_to_one_segment():
    """Case 7: three identical training segments: every vertex and edge 3/3."""
    segments = [training(run) for run in (1, 2, 3)]
    s = summarize(segments)
    assert len(s.nodes) == len(segments[0].nodes) == 7
    assert len(s.edges) == len(segments[0].edges)
    assert {n.count for n in s.nodes} == {e.count for e in s.edges} == {3}
    assert {e.frequency for e in s.edges} == {1.0}
    assert s.compaction == pytest.approx(7 / 21)


def clean_segments() -> list[Segment]:
    return [pipeline(("act-a", "clean", [entity("raw.csv")], [entity("train.csv")])),
            pipeline(("act-b", "clean", [entity("test_raw.csv")], [entity("test.csv")]))]


def test_path_constraint_keeps_the_two_cleans_apart():
    """Case 6: merging the two `clean` activities would invent test.csv <- clean <- raw.csv."""
    s = summarize(clean_segments())
    assert len(s.nodes) == 6
    assert sorted(n.id for n in s.nodes if n.kind == ACTIVITY) == ["clean", "clean#2"]
    assert {n.count for n in s.nodes} == {1}
    paths = {(e.source, e.target) for e in s.edges}
    assert ("test.csv", "clean#2") in paths and ("clean#2", "test_raw.csv") in paths
    assert ("train.csv", "clean") in paths and ("clean", "raw.csv") in paths


def test_without_the_path_constraint_the_cleans_merge():
    s = summarize(clean_segments(), path_length=1)
    assert [n.id for n in s.nodes if n.kind == ACTIVITY] == ["clean"]
    assert len(s.nodes) == 5


def test_a_third_clean_joins_the_one_it_agrees_with():
    again = pipeline(("act-c", "clean", [entity("raw.csv")], [entity("train.csv", 2)]))
    s = summarize([*clean_segments(), again])
    counts = {n.id: n.count for n in s.nodes}
    assert counts["clean"] == 2 and counts["clean#2"] == 1 and counts["train.csv"] == 2
    assert len(s.nodes) == 6


def test_a_longer_invented_path_is_caught():
    """Every two-edge piece occurs somewhere, but a <- X <- b <- Y <- e occurs nowhere."""
    x, y = "X", "Y"
    first = pipeline(("act-y1", y, [entity("c")], [entity("b")]),
                     ("act-x1", x, [entity("b")], [entity("a")]))
    second = pipeline(("act-y2", y, [entity("e")], [entity("b", 2)]),
                      ("act-x2", x, [entity("b", 2)], [entity("d")]))
    s = summarize([first, second], path_length=4)
    shown = _paths(s, 4)
    assert ("a", "X", "b", "Y", "e") not in shown and ("d", "X", "b", "Y", "c") not in shown
    assert ("a", "X", "b", "Y", "c") in shown
    loose = summarize([first, second])  # the default checks two edges: one derivation step
    assert ("a", "X", "b", "Y", "e") in _paths(loose, 4)
    assert len(loose.nodes) == 7 < len(s.nodes)


def _paths(summary, length: int) -> set[tuple[str, ...]]:
    """Labels along the summary's derivation paths of `length` edges."""
    out: dict[str, list[str]] = {}
    for e in summary.edges:
        out.setdefault(e.source, []).append(e.target)
    label = {n.id: n.label for n in summary.nodes}
    paths = [(n.id,) for n in summary.nodes]
    for _ in range(length):
        paths = [(*p, t) for p in paths for t in out.get(p[-1], [])]
    return {tuple(label[v] for v in p) for p in paths}


def test_no_summary_path_is_invented_across_many_segments():
    """Every summary path of up to four edges is the labels of a path of some segment."""
    import random

    rng = random.Random(7)
    segments = []
    for i in range(40):
        a, b = rng.choice("ABC"), rng.choice("ABC")
        segments.append(pipeline(
            (f"act-{i}a", f"step{a}", [entity(rng.choice("pqr"), i)], [entity("mid", i)]),
            (f"act-{i}b", f"step{b}", [entity("mid", i)], [entity(rng.choice("xyz"), i)])))
    occurring = set()
    for seg in segments:
        one = summarize([seg], path_length=1)
        for length in (2, 3, 4):
            occurring |= _paths(one, length)
    for limit in (2, 3, 4):
        s = summarize(segments, path_length=limit)
        for length in range(2, limit + 1):
            assert _paths(s, length) <= occurring
        assert len(s.nodes) < sum(len(seg.nodes) for seg in segments) / 4


def test_radius_keeps_vertices_with_different_neighbourhoods_apart():
    train = pipeline(("act-t", "python train.py", [entity("config.yaml")], [entity("model")]))
    evaluate = pipeline(("act-e", "python eval.py", [entity("config.yaml")],
                         [entity("score")]))
    flat = summarize([train, evaluate], radius=0)
    assert [n.id for n in flat.nodes if n.label == "config.yaml"] == ["config.yaml"]
    assert len(flat.nodes) == 5
    typed = summarize([train, evaluate], radius=1)
    assert [n.id for n in typed.nodes if n.label == "config.yaml"] == [
        "config.yaml", "config.yaml#2"]
    assert len(typed.nodes) == 6
    # runs alike at radius 1 still merge
    assert len(summarize([training(1), training(2)], radius=1).nodes) == 7
    # radius 2 sees the other inputs of the run: solver versions do not matter, paths do
    assert len(summarize([training(1), training(2, solver_version=2)], radius=2).nodes) == 7


def test_radius_counts_sets_of_neighbours_not_how_many():
    one = pipeline(("act-1", "cat", [entity("a.txt")], [entity("out.txt")]))
    two = pipeline(("act-2", "cat", [entity("a.txt"), entity("b.txt")], [entity("out.txt", 2)]))
    s = summarize([one, two], radius=1)
    cats = [n for n in s.nodes if n.label == "cat"]
    assert len(cats) == 2  # different inputs, different types


def test_keys_choose_the_properties_that_name_vertices():
    train = pipeline(("act-t", "python train.py", [entity("data.csv")], [entity("model")]))
    plot = pipeline(("act-p", "python plot.py", [entity("data.csv", 2)], [entity("acc.png")]))
    default = summarize([train, plot])
    assert sorted(n.label for n in default.nodes if n.kind == ACTIVITY) == [
        "python plot.py", "python train.py"]
    assert [n.count for n in default.nodes if n.label == "data.csv"] == [2]
    by_utility = summarize([train, plot], Abstraction.of(activity="utility"))
    assert [(n.label, n.count) for n in by_utility.nodes if n.kind == ACTIVITY] == [
        ("python", 2)]
    by_version = summarize([train, plot], Abstraction.of(entity="path,version"))
    assert sorted(n.label for n in by_version.nodes if n.kind == ENTITY) == [
        "acc.png 1", "data.csv 1", "data.csv 2", "model 1"]
    by_name = summarize([train, plot], Abstraction.of(entity="name"))
    assert "data.csv@v2" in {n.label for n in by_name.nodes}
    one_entity = summarize([train], Abstraction.of(entity=""), path_length=1)
    assert [n.label for n in one_entity.nodes if n.kind == ENTITY] == ["Entity"]


def test_agents_are_one_agent_unless_a_key_says_otherwise():
    segments = [training(1, agent="Alice"), training(2, agent="Bob")]
    s = summarize(segments)
    assert [(n.id, n.count) for n in s.nodes if n.kind == AGENT] == [("Agent", 2)]
    assert {e.type for e in s.edges} >= {"wasAssociatedWith", "wasAttributedTo"}
    named = summarize(segments, Abstraction.of(agent="name"))
    assert sorted((n.id, n.count) for n in named.nodes if n.kind == AGENT) == [
        ("Alice", 1), ("Bob", 1)]
    # the agents are no derivation: the runs still merge
    assert [n.count for n in named.nodes if n.label == "python train.py"] == [2]


def test_a_key_no_vertex_has_is_an_error():
    with pytest.raises(ProvError, match=r"--entity-key pth: no entity .* \(they have: .*path"):
        summarize([training(1)], Abstraction.of(entity="pth"))
    with pytest.raises(ProvError, match="--agent-key"):
        summarize([training(1, agent="Alice")], Abstraction.of(agent="nme"))
    summarize([training(1)], Abstraction.of(agent="nme"))  # no agent there: nothing to name
    with pytest.raises(ProvError, match="radius"):
        summarize([training(1)], radius=-1)


def test_no_segments_and_empty_segments():
    empty = Segment(["x"], ["y"])
    s = summarize([empty, empty])
    assert s.to_dict() == {"segments": 2, "compaction": None, "nodes": [], "edges": []}
    assert summarize([]).to_dict()["segments"] == 0


# -- outputs ----------------------------------------------------------------------------------


def test_json_follows_the_contract():
    data = json.loads(json.dumps(summarize([training(1), training(2)]).to_dict()))
    assert set(data) == {"segments", "compaction", "nodes", "edges"}
    assert data["segments"] == 2 and data["compaction"] == 0.5
    for node in data["nodes"]:
        assert set(node) == {"id", "kind", "label", "count"}
    for edge in data["edges"]:
        assert set(edge) == {"source", "target", "type", "count", "frequency"}
        assert edge["frequency"] == edge["count"] / 2
    ids = {n["id"] for n in data["nodes"]}
    assert len(ids) == len(data["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in data["edges"])
    assert {"source": "python train.py", "target": "faces.csv", "type": "used", "count": 2,
            "frequency": 1.0} in data["edges"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's use of pyparsing
def test_dot_parses_with_every_vertex_and_edge():
    segments = [*clean_segments(), training(1, agent='Al "the" \\ Bob')]
    s = summarize(segments, Abstraction.of(agent="name"))
    [graph] = pydot.graph_from_dot_data(s.to_dot())
    names = {n.get_name().strip('"') for n in graph.get_nodes()} - {"node", "edge", "graph"}
    assert names >= {n.id for n in s.nodes if '"' not in n.id}
    assert len(names) == len(s.nodes)
    assert len(graph.get_edges()) == len(s.edges)
    clean = graph.get_node('"clean#2"')[0]
    assert clean.get("shape") == "box" and clean.get("label") == '"clean\\n1/3"'


def test_mermaid_has_a_vertex_and_an_arrow_for_each():
    s = summarize(clean_segments())
    text = s.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "flowchart BT"
    assert sum(bool(re.match(r'  n\d+(\(\[|\[|\[/)"', line)) for line in lines) == 6
    assert sum(" -->|" in line for line in lines) == len(s.edges) == 4
    assert '  n4["clean<br/>1/2"]' in lines or '  n5["clean<br/>1/2"]' in lines
    assert "classDef activity" in text
    quoted = summarize([pipeline(("act-q", 'echo "<x>|y"', [entity("a")], [entity("b")]))])
    assert "echo #quot;#lt;x#gt;|y#quot;" in quoted.to_mermaid()


# -- the team example, captured with real `prov` commands ------------------------------------

NO_AGENTS = ("--exclude-edges", "wasAssociatedWith,wasAttributedTo")


def summary_json(repo, *args: str) -> dict:
    return json.loads(repo.ok("summarize", *args, "--format", "json").stdout)


CASE_5 = ("--src", "faces.csv", "--dst", "weights.caffemodel@*", *NO_AGENTS, "--radius", "0")


def test_case_5_two_training_runs(team):
    data = summary_json(team, *CASE_5)
    assert data["segments"] == 2 and data["compaction"] == 0.5
    assert sorted((n["label"], n["kind"], n["count"]) for n in data["nodes"]) == [
        ("faces.csv", "Entity", 2), ("python3 train.py", "Activity", 2),
        ("solver.prototxt", "Entity", 2), ("train.log", "Entity", 2),
        ("train.py", "Entity", 2), ("train_val.prototxt", "Entity", 2),
        ("weights.caffemodel", "Entity", 2)]
    assert sorted((e["type"], e["count"], e["frequency"]) for e in data["edges"]) == (
        [("used", 2, 1.0)] * 4 + [("wasGeneratedBy", 2, 1.0)] * 2)
    assert {"source": "weights.caffemodel", "target": "python3 train.py",
            "type": "wasGeneratedBy", "count": 2, "frequency": 1.0} in data["edges"]


def test_case_5_the_same_on_both_indexes(team):
    from graph import neo4j_store

    from provgraph.queries.nodes import resolve
    from provgraph.queries.segment import Criteria, segment

    criteria = Criteria(exclude_edges=frozenset({"wasAssociatedWith", "wasAttributedTo"}))
    answers = []
    with team.store() as embedded, neo4j_store(team) as neo4j:
        for store in (embedded, neo4j):
            src = [n.id for n in resolve(store, "faces.csv")]
            segments = [segment(store, src, [d.id], criteria)
                        for d in resolve(store, "weights.caffemodel@*")]
            answers.append(summarize(segments).to_dict())
    assert answers[0] == answers[1]
    assert answers[0] == summary_json(team, *CASE_5)
    assert summary_json(team, *CASE_5, "--neo4j") == answers[0]


def test_with_context_agents_are_one_agent_or_each_by_name(team):
    data = summary_json(team, "--src", "faces.csv", "--dst", "weights.caffemodel@*")
    assert [(n["id"], n["count"]) for n in data["nodes"] if n["kind"] == "Agent"] == [
        ("Agent", 2)]
    assert data["compaction"] == 8 / 16
    named = summary_json(team, "--src", "faces.csv", "--dst", "weights.caffemodel@*",
                         "--agent-key", "name")
    assert sorted((n["id"], n["count"]) for n in named["nodes"] if n["kind"] == "Agent") == [
        ("Alice", 1), ("Bob", 1)]
    assert {"source": "python3 train.py", "target": "Bob", "type": "wasAssociatedWith",
            "count": 1, "frequency": 0.5} in named["edges"]


def test_saved_segments_summarize_as_computed_ones(team):
    for name, version in (("alice-run", 1), ("bob-run", 2)):
        team.ok("segment", "--src", "faces.csv", "--dst", f"weights.caffemodel@v{version}",
                *NO_AGENTS, "--save", name)
    saved = summary_json(team, "--segments", "alice-run,bob-run")
    assert saved == summary_json(team, *CASE_5)
    assert summary_json(team, "--segments", "alice-run", "--segments", "bob-run") == saved


def test_through_the_edit_the_versions_of_the_solver_stay_apart(team):
    """Case 3's segment: solver.prototxt@v2 <- sed <- solver.prototxt@v1 in one segment; one
    `solver.prototxt` vertex would show a loop that no segment has."""
    data = summary_json(team, "--src", "solver.prototxt@v1", "--dst", "weights.caffemodel",
                        "--no-context")
    assert sorted(n["id"] for n in data["nodes"]) == [
        "python3 train.py", "sed", "solver.prototxt", "solver.prototxt#2", "weights.caffemodel"]
    merged = summary_json(team, "--src", "solver.prototxt@v1", "--dst", "weights.caffemodel",
                          "--no-context", "--path-length", "1")
    assert len(merged["nodes"]) == 4
    by_version = summary_json(team, "--src", "solver.prototxt@v1", "--dst",
                              "weights.caffemodel", "--no-context", "--entity-key", "name")
    assert {"solver.prototxt@v1", "solver.prototxt@v2"} <= {n["id"] for n in by_version["nodes"]}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's use of pyparsing
def test_text_dot_and_mermaid(team):
    text = team.ok("summarize", *CASE_5).stdout
    assert "summary of 2 segments: 7 vertices for 14 segment vertices, compaction 0.50" in text
    assert re.search(r"python3 train.py +│ +used +│ +faces.csv +│ +2/2 \(100%\)", text)
    [graph] = pydot.graph_from_dot_data(team.ok("summarize", *CASE_5, "--format", "dot").stdout)
    assert len(graph.get_edges()) == 6
    assert graph.get_node('"python3 train.py"')[0].get("label") == '"python3 train.py\\n2/2"'
    mermaid = team.ok("summarize", *CASE_5, "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart BT\n") and mermaid.count(" -->|") == 6
    assert '["python3 train.py<br/>2/2"]' in mermaid


def test_case_6_two_cleans_from_real_commands(repo):
    repo.write("clean.py", "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read())\n")
    repo.write("raw.csv", "1,2\n")
    repo.write("test_raw.csv", "3,4\n")
    repo.commit_all("data")
    repo.ok("python3", "clean.py", "raw.csv", "train.csv")
    repo.ok("python3", "clean.py", "test_raw.csv", "test.csv")
    args = ("--src", "raw.csv", "test_raw.csv", "--dst", "train.csv", "test.csv",
            "--no-context")
    data = summary_json(repo, *args)
    assert data["segments"] == 2 and len(data["nodes"]) == 6
    assert sorted(n["id"] for n in data["nodes"] if n["kind"] == "Activity") == [
        "python3 clean.py", "python3 clean.py#2"]
    assert len(summary_json(repo, *args, "--path-length", "1")["nodes"]) == 5


def test_case_7_identical_runs_summarize_to_one(repo):
    repo.write("train.py", "import sys, time\nmodel = open(sys.argv[1]).read() + str(time.time())\n"
                           "open('model.bin', 'w').write(model)\n")
    repo.write("data.csv", "1\n")
    repo.commit_all("data")
    for _ in range(3):
        repo.ok("python3", "train.py", "data.csv")
    data = summary_json(repo, "--src", "data.csv", "--dst", "model.bin@*")
    assert data["segments"] == 3
    assert sorted(n["label"] for n in data["nodes"]) == [
        "Agent", "data.csv", "model.bin", "python3 train.py", "train.py"]
    assert {n["count"] for n in data["nodes"]} == {e["count"] for e in data["edges"]} == {3}
    assert {e["frequency"] for e in data["edges"]} == {1.0}
    assert data["compaction"] == pytest.approx(1 / 3)  # the size of one of the three segments


@pytest.mark.parametrize(("args", "message"), [
    (("--segments", "nosuch"), "prov: no saved segment 'nosuch'"),
    (("--src", "faces.csv", "--dst", "weights.caffemodel", "--entity-key", "pth"),
     "prov: --entity-key pth: no entity of the segments has that property"),
    (("--segments", "x", "--src", "faces.csv"), "prov: give either --segments or --src/--dst"),
    (("--segments", "x", "--hops", "2"), "prov: --hops shapes segments computed from"),
    (("--src", "faces.csv"), "prov: give --segments NAME,... or --src NODE... --dst NODE..."),
    (("--src", "faces.csv", "--dst", "nosuch.txt"), "prov: no recorded file nosuch.txt"),
])
def test_errors_are_one_line(team, args, message):
    proc = team.prov("summarize", *args)
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1
    assert proc.stdout == ""
