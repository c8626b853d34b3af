"""`prov CMD` in a real repository: the graph it records and what it leaves untouched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

from conftest import PROV
from graph import Graph

PREPARE = """\
import sys
rows = open(sys.argv[1]).read().splitlines()
open(sys.argv[2], "w").write("\\n".join(r.upper() for r in rows) + "\\n")
print("prepared", len(rows))
"""


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_a_python_script_becomes_an_activity_with_its_files(repo):
    repo.write("prepare.py", PREPARE)
    repo.write("raw.csv", "a,1\nb,2\n")
    repo.commit_all("data")

    proc = repo.ok("python3", "prepare.py", "raw.csv", "clean.csv")

    assert proc.stdout == "prepared 2\n"
    graph = Graph.of(repo)
    [activity] = graph.activities()
    props = activity.properties
    assert activity.name == "python3 prepare.py #1"
    assert props["command"] == "python3 prepare.py raw.csv clean.csv"
    assert props["utility"] == "python3"
    assert props["operands"] == ["prepare.py", "raw.csv", "clean.csv"]
    assert props["exit_code"] == 0
    assert props["cwd"] == "."
    assert props["started"] <= props["ended"]
    assert graph.used(activity) == ["prepare.py@v1", "raw.csv@v1"]
    assert graph.generated(activity) == ["clean.csv@v1"]
    clean = graph.node("clean.csv@v1").properties
    content = repo.path("clean.csv").read_bytes()
    assert clean["digest"] == blob_id(content)
    assert clean["size"] == len(content)
    assert clean["path"] == "clean.csv" and clean["version"] == 1
    [alice] = graph.agents()
    assert (alice.name, alice.properties["email"]) == ("Alice", "alice@example.com")
    assert graph.targets(activity, "wasAssociatedWith") == ["Alice"]
    assert graph.targets(graph.node("clean.csv@v1"), "wasAttributedTo") == ["Alice"]
    assert {n.properties["project"] for n in graph.nodes.values()} == {
        repo.git("rev-list", "--max-parents=0", "HEAD").strip()[:12]}


def test_posix_arguments_are_recorded_and_outputs_are_not_used(repo):
    repo.write("clean.csv", "b\na\n")
    repo.write("sorted.csv", "stale\n")
    repo.commit_all()

    repo.ok("sort", "-o", "sorted.csv", "clean.csv")

    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert activity.properties["options"] == ["-o"]
    assert activity.properties["option_arguments"] == ["sorted.csv"]
    assert activity.properties["operands"] == ["clean.csv"]
    assert graph.used(activity) == ["clean.csv@v1"]
    assert graph.generated(activity) == ["sorted.csv@v2"]
    assert repo.read("sorted.csv") == "a\nb\n"


def test_versions_chain_and_in_place_edits_use_the_previous_version(repo):
    repo.write("solver.prototxt", "base_lr: 0.01\n")
    repo.commit_all()

    repo.ok("sed", "-i", "s/0.01/0.001/", "solver.prototxt")

    graph = Graph.of(repo)
    [sed] = graph.activities()
    assert graph.used(sed) == ["solver.prototxt@v1"]
    assert graph.generated(sed) == ["solver.prototxt@v2"]
    derivation = graph.edge("wasDerivedFrom", "solver.prototxt@v2", "solver.prototxt@v1")
    assert derivation is not None and not derivation.properties.get("missing")


def test_a_change_made_without_prov_is_a_missing_derivation(repo):
    repo.write("params.yaml", "lr: 0.1\n")
    repo.commit_all()
    repo.ok("cat", "params.yaml")
    repo.write("params.yaml", "lr: 0.05\n")  # vim, outside prov

    repo.ok("cat", "params.yaml")

    graph = Graph.of(repo)
    first, second = graph.activities()
    assert graph.used(first) == ["params.yaml@v1"]
    assert graph.used(second) == ["params.yaml@v2"]
    edge = graph.edge("wasDerivedFrom", "params.yaml@v2", "params.yaml@v1")
    assert edge is not None and edge.properties["missing"] is True
    assert graph.sources(graph.node("params.yaml@v2"), "wasGeneratedBy") == []
    assert graph.targets(graph.node("params.yaml@v2"), "wasGeneratedBy") == []


def test_changes_nobody_used_are_still_versions(repo):
    repo.write("notes.txt", "one\n")
    repo.commit_all()
    repo.ok("true")
    repo.write("notes.txt", "two\n")
    repo.write("new.txt", "fresh\n")

    repo.ok("true")

    graph = Graph.of(repo)
    assert [n.name for n in graph.entities()] == ["new.txt@v1", "notes.txt@v1", "notes.txt@v2"]
    assert graph.edge("wasDerivedFrom", "notes.txt@v2", "notes.txt@v1").properties["missing"]


def test_deleted_files_are_recorded_on_the_activity(repo):
    repo.write("old.txt", "bye\n")
    repo.commit_all()

    repo.ok("rm", "old.txt")

    [activity] = Graph.of(repo).activities()
    assert activity.properties["deleted"] == ["old.txt"]


def test_prov_agent_overrides_git_identity(repo):
    repo.write("f.txt", "x\n")
    repo.ok("cp", "f.txt", "g.txt", env={"PROV_AGENT": "Bob <bob@example.com>"})
    repo.ok("cp", "f.txt", "h.txt", env={"PROV_AGENT": "carol"})

    graph = Graph.of(repo)
    bob, carol = graph.activities()
    assert graph.targets(bob, "wasAssociatedWith") == ["Bob"]
    assert graph.targets(graph.node("g.txt@v1"), "wasAttributedTo") == ["Bob"]
    assert graph.targets(carol, "wasAssociatedWith") == ["carol"]
    assert graph.node("Bob").properties["email"] == "bob@example.com"


def test_the_users_git_state_is_exactly_as_without_prov(repo):
    repo.write("tracked.txt", "v1\n")
    repo.write("data/input.csv", "1\n")
    repo.commit_all()
    repo.write("tracked.txt", "v2\n")
    repo.git("add", "tracked.txt")  # staged
    repo.write("tracked.txt", "v3\n")  # and modified again
    repo.write("untracked.txt", "u\n")
    repo.write(".gitignore", "*.log\n")
    repo.write("debug.log", "ignored\n")
    repo.write("stash-me.txt", "s\n")
    repo.git("stash", "push", "-u", "-m", "keep", "--", "stash-me.txt")

    def state():
        index = hashlib.sha256(repo.path(".git/index").read_bytes()).hexdigest()
        return (
            repo.git("status", "--porcelain=v2", "--untracked-files=all", "--branch"),
            index,
            repo.git("rev-parse", "HEAD"),
            repo.git("branch", "-a", "-v"),
            repo.git("stash", "list"),
            repo.git("log", "--oneline"),
            repo.git("diff", "--cached"),
            sorted(p.name for p in repo.root.iterdir()),
        )

    before = state()
    repo.ok("cat", "data/input.csv")
    repo.ok("true")
    repo.ok("sh -c 'cat tracked.txt untracked.txt > /dev/null'")
    after = state()

    assert after == before
    assert repo.git("for-each-ref", "refs/prov/").count("refs/prov/journal/") == 1
    assert not repo.git("ls-files", "--others", "--exclude-standard").count(".git/prov")


def test_ignored_files_a_command_writes_are_recorded_by_digest_not_copied(repo):
    repo.write(".gitignore", "cache/\n")
    repo.commit_all()

    repo.ok("sh", "-c", "mkdir -p cache && echo x > cache/tmp.bin && echo y > out.txt")

    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert graph.generated(activity) == ["cache/tmp.bin@v1", "out.txt@v1"]
    [ignored] = [n for n in graph.entities() if n.properties["path"] == "cache/tmp.bin"]
    assert ignored.properties["ignored"] is True
    assert ignored.properties["digest"] == "sha256:" + hashlib.sha256(b"x\n").hexdigest()
    # git never got the content: no blob of it in the object store
    assert subprocess.run(["git", "cat-file", "-e", blob_id(b"x\n")], cwd=repo.root,
                          env=repo.env).returncode != 0


def test_ignored_files_are_skipped_when_the_setting_says_so(repo):
    repo.write(".gitignore", "cache/\n")
    repo.write(".prov.toml", '[capture]\nignored = "skip"\n')
    repo.commit_all()

    repo.ok("sh", "-c", "mkdir -p cache && echo x > cache/tmp.bin && echo y > out.txt")

    [activity] = Graph.of(repo).activities()
    assert Graph.of(repo).generated(activity) == ["out.txt@v1"]

def test_record_is_a_commit_holding_the_record_and_naming_the_snapshots(repo):
    repo.write("in.txt", "1\n")
    repo.ok("cp", "in.txt", "out.txt")

    ref = repo.git("for-each-ref", "--format=%(refname)", "refs/prov/journal/").strip()
    record = json.loads(repo.git("show", f"{ref}:record.json"))
    assert record["command"] == "cp in.txt out.txt"
    assert repo.git("ls-tree", "--name-only", ref).split() == ["record.json"]
    assert repo.git("show", f"{record['after']}:out.txt") == "1\n"
    assert repo.git("ls-tree", "--name-only", record["before"]).split() == ["README.md",
                                                                           "in.txt"]
    content = ref.replace("refs/prov/journal/", "refs/prov/content/")
    assert repo.git("ls-tree", "--name-only", content).split() == ["after", "before"]


def test_the_capture_path_imports_nothing_heavy(repo):
    proc = repo.prov("true", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "provgraph" in imported
    assert not imported & {"duckdb", "networkx", "neo4j", "click", "rich", "prov", "sqlglot"}


def test_many_files_first_snapshot_reuses_the_users_stat_cache(repo):
    for i in range(300):
        repo.write(f"d{i % 10}/f{i}.txt", f"{i}\n")
    repo.commit_all()

    repo.ok("true")
    repo.write("d3/f3.txt", "changed\n")
    repo.ok("true")

    graph = Graph.of(repo)
    assert [n.name for n in graph.entities()] == ["d3/f3.txt@v1", "d3/f3.txt@v2"]


def test_subfolder_commands_record_paths_from_the_root(repo):
    repo.write("sub/in.txt", "x\n")
    repo.commit_all()

    subprocess.run(["true"])
    repo.ok("cp", "in.txt", "out.txt", cwd=repo.path("sub"))

    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert activity.properties["cwd"] == "sub"
    assert graph.used(activity) == ["sub/in.txt@v1"]
    assert graph.generated(activity) == ["sub/out.txt@v1"]
    assert os.path.exists(repo.path("sub/out.txt"))


def test_an_argument_that_is_not_utf8_is_recorded_as_its_escape(repo):
    argument = os.fsdecode(b"a\x9bb")  # a C1 byte, not UTF-8
    proc = subprocess.run([PROV, "echo", argument], cwd=repo.root, env=repo.env,
                          capture_output=True)
    assert proc.returncode == 0 and proc.stdout == b"a\x9bb\n"  # the command saw its bytes
    [activity] = Graph.of(repo).activities()
    assert activity.properties["command"] == "echo 'a\\x9bb'"
    log = repo.ok("log").stdout
    assert "a\\x9bb" in log and "\x9b" not in log
    assert "quarantined" not in repo.ok("status").stdout


def test_a_file_another_program_keeps_rewriting_does_not_fail_the_snapshot(repo):
    """git reads a small file that shrinks under it ("short read while indexing"): the
    snapshot is taken again instead of the capture failing."""
    repo.write("busy.txt", "")
    repo.commit_all()
    writer = subprocess.Popen(["python3", "-c", (
        "import time\nend = time.time() + 60\n"
        "while time.time() < end:\n"
        "    open('busy.txt', 'w').write('x' * 20_000)\n")], cwd=repo.root)
    try:
        codes = [repo.prov("true").returncode for _ in range(30)]
    finally:
        writer.kill()
        writer.wait()
    assert codes == [0] * 30
    assert len(Graph.of(repo).activities()) == 30


def test_properties_provgraph_gives_an_activity_are_recorded_and_not_inherited(repo):
    """A sweep's trial or a rerun is `prov CMD` run as a process with its own activity
    properties: they land on that activity, win over an ingestor's, and a `prov` the command
    runs in turn does not inherit them."""
    given = json.dumps({"rerun_of": "act-x", "sweep": "s1", "utility": "given"})
    repo.ok("sh", "-c", f"{PROV} true", env={"PROV_ACTIVITY_PROPERTIES": given})
    by_command = {a.properties["command"]: a.properties for a in Graph.of(repo).activities()}
    outer = by_command[f"sh -c '{PROV} true'"]
    assert (outer["rerun_of"], outer["sweep"], outer["utility"]) == ("act-x", "s1", "given")
    inner = by_command["true"]
    assert "rerun_of" not in inner and "sweep" not in inner


def test_properties_that_are_not_a_json_object_of_scalars_are_one_line(repo):
    proc = repo.prov("true", env={"PROV_ACTIVITY_PROPERTIES": '{"a": {"b": 1}}'})
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0
    assert "PROV_ACTIVITY_PROPERTIES" in proc.stderr and "Traceback" not in proc.stderr
