"""`diff` of two real runs of a training script: different command lines and parameters, an
input file edited between them (outside prov), inputs only one run used, a large file kept by
SHA-256 only, a binary file, different outputs and different metrics. The same answers on the
embedded index and on Neo4j."""

from __future__ import annotations

import json
import math

import pytest
from test_metrics import record_properties

from provgraph import gitio
from provgraph.queries.diff import diff
from provgraph.queries.metrics import series
from provgraph.queries.runs import find_run

NAN = math.nan

TRAIN = """\
import sys
params, data = sys.argv[1:3]
lr = open(params).read().split()[1]
rows = len(open(data).read().split())
for extra in sys.argv[3:]:  # notes and binaries: read too, so they are inputs
    open(extra, "rb").read()
open("model.json", "w").write('{"lr": %s, "rows": %d}\\n' % (lr, rows))
open("run-%s.txt" % lr, "w").write("done\\n")
"""

A_SERIES = {
    "train.base_lr": 0.1,
    "train.seed": NAN,  # NaN on both sides: no difference
    "caffe.train.iteration": [0, 100, 200],
    "caffe.train.loss": [2.0, 1.0, 0.8],
    "caffe.test.iteration": [0, 200],
    "caffe.test.accuracy": [0.5, 0.7],
    "caffe.test1.iteration": [0],
    "caffe.test1.accuracy": [0.3],
}
B_SERIES = {
    "train.base_lr": 0.01,
    "train.seed": NAN,
    "train.decay": "step",
    "caffe.train.iteration": [0, 100, 200, 300],
    "caffe.train.loss": [2.0, 0.9, 0.95, NAN],
    "caffe.test.iteration": [0, 200],
    "caffe.test.accuracy": [0.5, 0.8],
}


def two_runs(repo):
    """python3 train.py #1 and #2, differing in what they were given and what they made."""
    repo.write("train.py", TRAIN)
    repo.write("params.yaml", "lr: 0.1\nepochs: 3\n")
    repo.write("data.csv", "1\n2\n3\n")
    repo.write("notes-a.txt", "a\n")
    repo.write("notes-b.txt", "b\n")
    repo.path("labels.bin").write_bytes(b"\xff\xfe\x00\x01")
    repo.commit_all("inputs")
    repo.path("weights.bin").write_bytes(b"a" * 5000)  # untracked: kept by SHA-256 only
    large = {"PROV_LARGE_FILE_LIMIT": "1KB"}
    repo.ok("python3", "train.py", "params.yaml", "data.csv", "notes-a.txt", "weights.bin",
            "labels.bin", env=large)
    repo.write("params.yaml", "lr: 0.01\nepochs: 3\n")  # edited without prov
    repo.path("weights.bin").write_bytes(b"b" * 5000)
    repo.path("labels.bin").write_bytes(b"\xff\xfe\x00\x02")
    repo.ok("python3", "train.py", "params.yaml", "data.csv", "notes-b.txt", "weights.bin",
            "labels.bin", env=large)
    record_properties(repo, "#1", A_SERIES)
    record_properties(repo, "#2", B_SERIES)
    return repo


def git_reader(repo, asked: list[str]):
    def read_blob(digest: str) -> bytes | None:
        asked.append(digest)
        try:
            return gitio.run(["cat-file", "blob", digest], repo.root)
        except gitio.GitError:
            return None

    return read_blob


def outline(result) -> dict:
    """What a diff says, as plain data (NaN written as text, so it compares equal)."""
    def files(changes):
        return [(c.path, c.status, c.a and c.a.name, c.b and c.b.name, c.diff) for c in changes]

    return json.loads(json.dumps({
        "runs": [result.a.name, result.b.name, result.same_command],
        "parameters": [(p.name, p.a, p.b) for p in result.parameters],
        "inputs": files(result.inputs),
        "outputs": files(result.outputs),
        "metrics": [(m.name, m.a, m.b) for m in result.metrics],
        "only": [result.metrics_only_a, result.metrics_only_b],
    }, default=str).replace("NaN", '"NaN"'))


@pytest.fixture
def history(repo):
    return two_runs(repo)


def test_what_differs_between_two_runs(history):
    asked: list[str] = []
    with history.store() as store:
        a, b = find_run(store, "#1"), find_run(store, "#2")
        result = diff(store, a, b, git_reader(history, asked))
    assert not result.same_command
    changed = {p.name: (p.a, p.b) for p in result.parameters}
    assert changed["train.base_lr"] == (0.1, 0.01)
    assert changed["train.decay"] == (None, "step")
    assert changed["operands"] == (
        ["train.py", "params.yaml", "data.csv", "notes-a.txt", "weights.bin", "labels.bin"],
        ["train.py", "params.yaml", "data.csv", "notes-b.txt", "weights.bin", "labels.bin"])
    # never: what differs between any two runs, the command, the series and their iterations
    assert not changed.keys() & {"id", "name", "project", "started", "ended", "command",
                                 "train.seed", "caffe.train.loss", "caffe.train.iteration",
                                 "caffe.test1.accuracy", "caffe.test1.iteration"}

    inputs = {c.path: c for c in result.inputs}
    assert {path: c.status for path, c in inputs.items()} == {
        "data.csv": "same", "labels.bin": "changed", "notes-a.txt": "only-a",
        "notes-b.txt": "only-b", "params.yaml": "changed", "train.py": "same",
        "weights.bin": "changed"}
    params = inputs["params.yaml"]
    assert (params.a.name, params.b.name) == ("params.yaml@v1", "params.yaml@v2")
    assert params.a.properties["digest"] != params.b.properties["digest"]
    assert params.diff == ["--- params.yaml@v1", "+++ params.yaml@v2", "@@ -1,2 +1,2 @@",
                           "-lr: 0.1", "+lr: 0.01", " epochs: 3"]
    assert inputs["labels.bin"].diff is None  # not text
    weights = inputs["weights.bin"]
    assert weights.a.properties["digest"].startswith("sha256:") and weights.diff is None
    assert inputs["notes-a.txt"].b is None and inputs["notes-b.txt"].a is None
    # only git blob ids are read: never a large file's sha256
    assert asked and not any(d.startswith("sha256:") for d in asked)

    outputs = {c.path: (c.status, c.a and c.a.name, c.b and c.b.name) for c in result.outputs}
    assert outputs == {"model.json": ("changed", "model.json@v1", "model.json@v2"),
                       "run-0.1.txt": ("only-a", "run-0.1.txt@v1", None),
                       "run-0.01.txt": ("only-b", None, "run-0.01.txt@v1")}

    metrics = {m.name: m for m in result.metrics}
    assert list(metrics) == ["caffe.test.accuracy", "caffe.train.loss"]
    loss = metrics["caffe.train.loss"]
    assert (loss.a["final"], loss.b["final"], loss.b["final_iteration"]) == (0.8, 0.95, 200.0)
    assert (loss.a["best"], loss.b["best"], loss.b["best_iteration"]) == (0.8, 0.9, 100.0)
    assert loss.change("final") == pytest.approx(0.15)
    assert loss.change("best") == pytest.approx(0.1)
    assert metrics["caffe.test.accuracy"].change("final") == pytest.approx(0.1)
    assert (result.metrics_only_a, result.metrics_only_b) == (["caffe.test1.accuracy"], [])


def test_without_a_blob_reader_there_is_no_text_diff(history):
    with history.store() as store:
        result = diff(store, find_run(store, "#1"), find_run(store, "#2"))
    assert all(c.diff is None for c in result.inputs)
    assert [c.status for c in result.inputs if c.path == "params.yaml"] == ["changed"]


def test_a_run_against_itself(history):
    with history.store() as store:
        run = find_run(store, "latest")
        result = diff(store, run, run, git_reader(history, []))
    assert result.same_command and not result.parameters
    assert {c.status for c in result.inputs + result.outputs} == {"same"}
    assert all(m.change("final") == 0 for m in result.metrics)


def test_text_diffs_only_for_small_files(repo):
    repo.write("big.txt", "x\n" * 40000)  # 80 KB of text
    repo.commit_all()
    repo.ok("wc", "-l", "big.txt")
    repo.write("big.txt", "y\n" * 40000)
    repo.ok("wc", "-l", "big.txt")
    asked: list[str] = []
    with repo.store() as store:
        result = diff(store, find_run(store, "#1"), find_run(store, "#2"), git_reader(repo, asked))
    [big] = result.inputs
    assert (big.status, big.diff, asked) == ("changed", None, [])


def test_the_same_answers_on_neo4j(synced):
    from provgraph.config import Config
    from provgraph.remotes import neo4j as sync
    from provgraph.repo import Repository

    two_runs(synced)
    synced.ok("sync")
    r = Repository.discover(synced.root)
    answers = []
    for store in (synced.store(), sync.Target(Config(r.root, r.prov_dir)).store(r.project)):
        with store:
            a, b = find_run(store, "latest~1"), find_run(store, "#2")
            assert (a.name, find_run(store, "python3 train.py #1").id) == (
                "python3 train.py #1", a.id)
            answers.append((outline(diff(store, a, b, git_reader(synced, []))),
                            sorted(series(b)), [n for n in series(a)]))
    assert answers[0] == answers[1]
    assert answers[0][0]["inputs"][4][4][3:5] == ["-lr: 0.1", "+lr: 0.01"]
