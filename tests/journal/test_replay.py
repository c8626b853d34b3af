"""Unit tests of the replay (provgraph/journal/replay.py), in-process, step by step of the story
its docstring tells.

Records are written the way `prov CMD` writes them, with before- and after-snapshots taken by
the real Snapshotter of a real repository, and resolved by git (`indexer.resolve`); each test
then names the exact nodes and edges the replay must make.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from provgraph.capture.snapshot import Snapshotter
from provgraph.journal.indexer import order_key, resolve
from provgraph.journal.records import Entry
from provgraph.journal.replay import Replay
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
    agent_id,
    entity_id,
)
from provgraph.repo import Repository
from tests.conftest import Repo

ALICE = {"name": "Alice", "email": "alice@example.com"}


class Story:
    """Captures written by hand around real snapshots: run `before()`, change files, `after()`."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self.repository = Repository.discover(repo.root)
        self.repository.ensure_prov_dir()
        self.snapshots = Snapshotter(self.repository, 1000)
        self.project = self.repository.project
        self.records: list[dict[str, Any]] = []
        self.last: str | None = None  # the latest after-snapshot
        self.clock = 0

    def _time(self) -> str:
        self.clock += 1
        return f"2026-01-01T00:00:{self.clock:02d}.000000Z"

    def before(self, command: str, used: list[str] = ()) -> dict[str, Any]:
        snap = self.snapshots.take()
        at = self._time()
        return {"id": f"act-{len(self.records) + 1:016x}", "command": command, "cwd": ".",
                "agent": ALICE, "activity": {}, "used": [{"path": p, "role": "argument"}
                                                         for p in used],
                "named": [], "prev": self.last, "before": snap.tree, "before_at": at,
                "before_done": at, "started": at}

    def after(self, record: dict[str, Any], exit_code: int = 0) -> dict[str, Any]:
        snap = self.snapshots.take()
        record.update(after=snap.tree, after_at=self._time(), ended=self._time(),
                      exit_code=exit_code, status="ok" if exit_code == 0 else "failed")
        if snap.large:
            record["large"] = {p: f._asdict() for p, f in snap.large.items()}
        self.records.append(record)
        self.last = snap.tree
        return record

    def blob(self, path: str) -> str:
        return self.repo.git("hash-object", "--", path).strip()

    def entity(self, path: str, origin: str, digest: str | None = None) -> str:
        return entity_id(self.project, path, digest or self.blob(path), origin)

    def replay(self, records: list[dict[str, Any]] | None = None
               ) -> tuple[dict[str, Node], list[Edge]]:
        """Nodes by id (the last word on each) and every edge, in the order made."""
        records = sorted(records or self.records, key=order_key)
        replay = Replay(self.project)
        nodes: dict[str, Node] = {}
        edges: list[Edge] = []
        for item in resolve(self.repository, [Entry("", "", r) for r in records]):
            made, drawn = replay.apply(item)
            nodes.update((n.id, n) for n in made)
            edges += drawn
        return nodes, edges


@pytest.fixture
def story(repo: Repo) -> Story:
    return Story(repo)


def _edges(edges: list[Edge], kind: str | None = None) -> set[tuple[str, str, str]]:
    return {(e.type, e.source, e.target) for e in edges if kind in (None, e.type)}


def _props(edges: list[Edge], kind: str, source: str, target: str) -> dict[str, Any]:
    found = [e.properties for e in edges if (e.type, e.source, e.target) == (kind, source,
                                                                             target)]
    assert len(found) == 1, found
    return found[0]


def test_a_capture_uses_its_inputs_and_generates_its_outputs(story: Story) -> None:
    story.repo.write("data.csv", "x\n1\n")
    record = story.before("python make.py data.csv", used=["data.csv"])
    story.repo.write("out.txt", "result\n")
    story.after(record)

    nodes, edges = story.replay()

    data = story.entity("data.csv", "")  # simply there when provgraph met it
    out = story.entity("out.txt", record["id"])
    agent = agent_id(story.project, "Alice", "alice@example.com")
    activity = record["id"]
    assert set(nodes) == {data, out, agent, activity}  # README.md: nobody used or changed it
    assert _edges(edges) == {
        (USED, activity, data),
        (WAS_GENERATED_BY, out, activity),
        (WAS_ATTRIBUTED_TO, out, agent),
        (WAS_ASSOCIATED_WITH, activity, agent),
    }  # no wasDerivedFrom from an output to an input
    assert _props(edges, USED, activity, data) == {"role": "argument"}
    assert nodes[data].label == ENTITY
    assert nodes[data].properties == {
        "name": "data.csv@v1", "project": story.project, "path": "data.csv", "version": 1,
        "digest": story.blob("data.csv"), "size": 4}
    assert nodes[out].properties["name"] == "out.txt@v1"
    assert nodes[out].properties["digest"] == story.blob("out.txt")
    assert nodes[agent].label == AGENT
    assert nodes[agent].properties == {"name": "Alice", "email": "alice@example.com",
                                       "project": story.project}
    act = nodes[activity]
    assert act.label == ACTIVITY
    assert {k: act.properties.get(k) for k in ("name", "utility", "command", "status",
                                               "exit_code", "cwd", "started", "ended")} == {
        "name": "python #1", "utility": "python", "command": "python make.py data.csv",
        "status": "ok", "exit_code": 0, "cwd": ".", "started": record["started"],
        "ended": record["ended"]}
    assert "deleted" not in act.properties


def test_each_change_is_a_new_version_derived_from_the_one_it_replaced(story: Story) -> None:
    first = story.before("make")
    story.repo.write("out.txt", "one\n")
    story.after(first)
    v1 = story.entity("out.txt", first["id"])
    second = story.before("make")
    story.repo.write("out.txt", "two\n")
    story.after(second)
    v2 = story.entity("out.txt", second["id"])

    nodes, edges = story.replay()

    assert [nodes[v].properties["name"] for v in (v1, v2)] == ["out.txt@v1", "out.txt@v2"]
    assert _edges(edges, WAS_DERIVED_FROM) == {(WAS_DERIVED_FROM, v2, v1)}
    assert _props(edges, WAS_DERIVED_FROM, v2, v1) == {}  # provgraph saw this change made
    assert (WAS_GENERATED_BY, v2, second["id"]) in _edges(edges)
    assert nodes[second["id"]].properties["name"] == "make #2"


def test_a_change_made_outside_prov_is_derived_with_missing_true(story: Story) -> None:
    story.repo.write("data.csv", "x\n1\n")
    first = story.before("python train.py data.csv", used=["data.csv"])
    story.after(first)
    old = story.entity("data.csv", "")
    story.repo.write("data.csv", "x\n1\n2\n")  # an editor, no prov
    second = story.before("python train.py data.csv", used=["data.csv"])
    story.after(second)
    edited = story.entity("data.csv", f"seen:{second['id']}")

    nodes, edges = story.replay()

    assert nodes[edited].properties["name"] == "data.csv@v2"
    assert _props(edges, WAS_DERIVED_FROM, edited, old) == {"missing": True}
    assert not [e for e in edges if e.type == WAS_GENERATED_BY and e.source == edited]
    assert _edges(edges, USED) == {(USED, first["id"], old), (USED, second["id"], edited)}


def test_a_file_first_met_already_edited_gets_its_earlier_version_too(story: Story) -> None:
    """The first record's previous snapshot knew the file; it changed outside prov since:
    both versions are materialized, the edit derived with missing: true."""
    story.repo.write("config.yml", "lr: 0.1\n")
    story.after(story.before("true"))
    old_blob = story.blob("config.yml")
    story.repo.write("config.yml", "lr: 0.01\n")
    record = story.before("python train.py", used=["config.yml"])
    story.after(record)

    nodes, edges = story.replay()

    old = story.entity("config.yml", "", old_blob)
    new = story.entity("config.yml", f"seen:{record['id']}")
    assert [nodes[i].properties["version"] for i in (old, new)] == [1, 2]
    assert _props(edges, WAS_DERIVED_FROM, new, old) == {"missing": True}
    assert (USED, record["id"], new) in _edges(edges)


def test_a_deletion_is_noted_on_the_activity_and_ends_the_version(story: Story) -> None:
    story.repo.write("tmp.txt", "scratch\n")
    story.repo.write("data.csv", "x\n")
    record = story.before("rm tmp.txt", used=["tmp.txt"])
    used = story.entity("tmp.txt", "")
    os.unlink(story.repo.path("tmp.txt"))
    story.after(record)
    story.repo.write("tmp.txt", "again\n")
    again = story.before("touch")
    story.repo.write("tmp.txt", "made again\n")
    story.after(again)

    nodes, edges = story.replay()

    assert nodes[record["id"]].properties["deleted"] == ["tmp.txt"]
    assert (USED, record["id"], used) in _edges(edges)
    # Made again outside prov (a first version after the deletion: no lineage to the old
    # one), then changed by `touch`, which derives from that one.
    outside = entity_id(story.project, "tmp.txt", _hash_text(story.repo, "again\n"), "")
    made = story.entity("tmp.txt", again["id"])
    assert [nodes[i].properties["name"] for i in (outside, made)] == ["tmp.txt@v2",
                                                                        "tmp.txt@v3"]
    assert _edges(edges, WAS_DERIVED_FROM) == {(WAS_DERIVED_FROM, made, outside)}


def _hash_text(repo: Repo, text: str) -> str:
    path = repo.root.parent / "hash-input"
    path.write_text(text)
    return repo.git("hash-object", "--no-filters", "--", str(path)).strip()


def test_a_move_by_a_command_deletes_the_old_path_and_generates_the_new(story: Story) -> None:
    story.repo.write("raw/a.csv", "x\n")
    record = story.before("mv raw/a.csv data/a.csv", used=["raw/a.csv"])
    source = story.entity("raw/a.csv", "")
    blob = story.blob("raw/a.csv")
    os.makedirs(story.repo.path("data"))
    os.rename(story.repo.path("raw/a.csv"), story.repo.path("data/a.csv"))
    story.after(record)

    nodes, edges = story.replay()

    moved = entity_id(story.project, "data/a.csv", blob, record["id"])
    assert nodes[record["id"]].properties["deleted"] == ["raw/a.csv"]
    assert nodes[moved].properties["name"] == "data/a.csv@v1"
    assert nodes[moved].properties["digest"] == blob
    assert _edges(edges) >= {(USED, record["id"], source), (WAS_GENERATED_BY, moved,
                                                             record["id"])}
    assert _edges(edges, WAS_DERIVED_FROM) == set()  # used/wasGeneratedBy says it


def test_a_move_made_outside_prov_is_a_deletion_and_a_version_first_met(story: Story) -> None:
    story.repo.write("a.txt", "content\n")
    story.after(story.before("true"))
    os.rename(story.repo.path("a.txt"), story.repo.path("b.txt"))
    record = story.before("cat b.txt", used=["b.txt"])
    story.after(record)

    nodes, edges = story.replay()

    moved = story.entity("b.txt", "")
    assert nodes[moved].properties["name"] == "b.txt@v1"
    assert _edges(edges, USED) == {(USED, record["id"], moved)}
    assert _edges(edges, WAS_DERIVED_FROM) == set()
    assert not [n for n in nodes.values() if n.properties.get("path") == "a.txt"]


def test_an_unchanged_output_used_later_is_the_same_version(story: Story) -> None:
    first = story.before("make")
    story.repo.write("out.txt", "one\n")
    story.after(first)
    second = story.before("wc out.txt", used=["out.txt"])
    story.after(second)

    nodes, edges = story.replay()

    out = story.entity("out.txt", first["id"])
    assert _edges(edges, USED) == {(USED, second["id"], out)}
    assert [n.id for n in nodes.values() if n.label == ENTITY] == [out]


def test_a_mode_change_alone_is_not_a_new_version(story: Story) -> None:
    story.repo.write("run.sh", "echo hi\n")
    first = story.before("make")
    story.after(first)
    second = story.before("chmod +x run.sh")
    os.chmod(story.repo.path("run.sh"), 0o755)
    story.after(second)

    nodes, _ = story.replay()

    assert [n for n in nodes.values() if n.label == ENTITY] == []
    assert nodes[second["id"]].properties["name"] == "chmod #2"


def test_a_large_file_is_known_by_its_sha256(story: Story) -> None:
    import hashlib

    record = story.before("python train.py")
    content = b"w" * 5000
    Path(story.repo.path("model.bin")).write_bytes(content)
    story.after(record)

    nodes, _ = story.replay()

    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    model = entity_id(story.project, "model.bin", digest, record["id"])
    assert {k: nodes[model].properties.get(k) for k in ("digest", "size", "large")} == {
        "digest": digest, "size": 5000, "large": True}


def test_ids_and_versions_are_the_same_on_every_replay(story: Story) -> None:
    story.repo.write("data.csv", "x\n")
    first = story.before("python make.py", used=["data.csv"])
    story.repo.write("out.txt", "one\n")
    story.after(first)
    story.repo.write("data.csv", "x\n2\n")
    second = story.before("python make.py", used=["data.csv"])
    story.repo.write("out.txt", "two\n")
    os.unlink(story.repo.path("data.csv"))
    story.after(second)

    once = story.replay()
    again = story.replay()
    shuffled = story.replay(list(reversed(story.records)))  # replayed in the order they ended

    assert once == again == shuffled
    assert len(once[0]) == 7  # 2 activities, 1 agent, data.csv v1 v2, out.txt v1 v2
    assert sorted(n.properties["name"] for n in once[0].values() if n.label == ENTITY) == [
        "data.csv@v1", "data.csv@v2", "out.txt@v1", "out.txt@v2"]


def test_a_view_definition_makes_no_nodes(story: Story) -> None:
    record = story.before("make")
    story.after(record)
    view = {"kind": "view", "id": "view-1", "ended": "2026-01-01T00:01:00.000000Z"}

    nodes, _ = story.replay([record, view])

    assert set(nodes) == {record["id"], agent_id(story.project, "Alice",
                                                 "alice@example.com")}
    assert nodes[record["id"]].properties["name"] == "make #1"  # views do not count


def test_an_imported_graph_is_taken_as_it_is_in_this_project(story: Story) -> None:
    record = {"kind": "graph", "id": "imp-1", "ended": "2026-01-01T00:01:00.000000Z",
              "nodes": [{"id": "ex:paper", "label": ENTITY,
                         "properties": {"name": "paper", "meta": {"doi": "10.1/x"}}}],
              "edges": [{"type": WAS_DERIVED_FROM, "source": "ex:paper", "target": "ex:data",
                         "properties": {}}]}

    nodes, edges = story.replay([record])

    assert nodes == {"ex:paper": Node("ex:paper", ENTITY, {
        "name": "paper", "meta.doi": "10.1/x", "project": story.project})}
    assert edges == [Edge(WAS_DERIVED_FROM, "ex:paper", "ex:data", {})]


def test_a_failed_command_still_generates_what_it_wrote(story: Story) -> None:
    record = story.before("python train.py")
    story.repo.write("partial.csv", "1\n")
    story.after(record, exit_code=1)

    nodes, edges = story.replay()

    out = story.entity("partial.csv", record["id"])
    assert (WAS_GENERATED_BY, out, record["id"]) in _edges(edges)
    assert {k: nodes[record["id"]].properties[k] for k in ("status", "exit_code")} == {
        "status": "failed", "exit_code": 1}


def test_a_traced_command_generates_only_what_it_wrote(story: Story) -> None:
    """A complete trace decides: a change it did not see the command make was made by another
    process while it ran, a version with no activity."""
    record = story.before("python make.py")
    story.repo.write("out.txt", "mine\n")
    story.repo.write("other.txt", "someone else's\n")
    record["trace"] = {"complete": True, "written": {"out.txt": False}, "last_write": {}}
    story.after(record)

    nodes, edges = story.replay()

    out = story.entity("out.txt", record["id"])
    other = story.entity("other.txt", "")
    assert nodes[other].properties["name"] == "other.txt@v1"
    assert _edges(edges, WAS_GENERATED_BY) == {(WAS_GENERATED_BY, out, record["id"])}


def test_a_traced_rewrite_with_the_same_bytes_is_a_new_version(story: Story) -> None:
    story.repo.write("out.txt", "same\n")
    record = story.before("python make.py")
    story.repo.write("out.txt", "same\n")
    record["trace"] = {"complete": True, "written": {"out.txt": True}, "last_write": {}}
    story.after(record)

    nodes, edges = story.replay()

    old = story.entity("out.txt", "")
    new = story.entity("out.txt", record["id"])
    assert [nodes[i].properties["name"] for i in (old, new)] == ["out.txt@v1", "out.txt@v2"]
    assert _edges(edges) >= {(WAS_GENERATED_BY, new, record["id"]),
                             (WAS_DERIVED_FROM, new, old)}
    assert _props(edges, WAS_DERIVED_FROM, new, old) == {}
