"""`prov runs` on real Caffe stand-in runs (real logs replayed) with different `base_lr`, and on
Python runs given parameters, tags and a sweep through the activity-properties hook; the table
is the same on both indexes."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from caffe_stand_in import DATA, install_caffe
from conftest import Repo, module_repo
from graph import either_store

from provgraph.errors import ProvError
from provgraph.queries.filters import Filters
from provgraph.queries.runtable import runs, short_names

SOLVER = "BVLC_caffe__lenet_solver_rmsprop.prototxt"
ALICE_LOG = "lifeng14_caffe__lenet_train_complete.log"
BOB_LOG = "provgraph__nvcaffe_0.16_lenet.log"

TRAIN = "import sys\nopen('model.txt', 'w').write(' '.join(sys.argv[1:]))\n"


def accuracy(log: str) -> tuple[float, float]:
    """The final and best test accuracy the log prints, read from its text."""
    text = (DATA / "logs" / log).read_text(errors="replace")
    values = [float(v) for v in re.findall(r"Test net output #0: accuracy = (\S+)", text)]
    return values[-1], max(values)


@pytest.fixture(scope="module")
def bench(tmp_path_factory, neo4j_uri: str) -> Repo:
    """Alice trains (base_lr 0.01); Bob edits the solver outside prov (0.001) and trains; then
    two Python trials of sweep s1 with their own tags."""
    bin_dir = install_caffe(tmp_path_factory.mktemp("bench-bin"))
    repo = module_repo(tmp_path_factory, "bench", path=str(bin_dir))
    root = repo.root
    shutil.copy(DATA / "solvers" / SOLVER, root / "solver.prototxt")
    assert "base_lr: 0.01\n" in repo.read("solver.prototxt")
    repo.write("examples/mnist/lenet_train_test.prototxt", 'name: "LeNet"\n')
    repo.write("train.py", TRAIN)
    repo.commit_all("start")
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    repo.ok("caffe", "train", "--solver=solver.prototxt",
            env={"CAFFE_LOG": str(DATA / "logs" / ALICE_LOG)})
    repo.write("solver.prototxt", repo.read("solver.prototxt").replace("base_lr: 0.01\n",
                                                                      "base_lr: 0.001\n"))
    repo.ok("caffe", "train", "--solver=solver.prototxt",
            env={"CAFFE_LOG": str(DATA / "logs" / BOB_LOG),
                 "PROV_AGENT": "Bob <bob@example.com>"})
    for trial, lr in enumerate(("0.1", "0.01")):
        properties = {"sweep": "s1", "sweep.trial": trial, "tags": ["s1", f"t{trial}"]}
        repo.ok("python3", "train.py", "--lr", lr, "--epochs", "3",
                env={"PROV_ACTIVITY_PROPERTIES": json.dumps(properties)})
    repo.ok("sync")
    return repo


@pytest.fixture(params=["embedded", "neo4j"])
def store(request, bench):
    with either_store(bench, request.param) as s:
        yield s


def test_caffe_runs_show_the_differing_base_lr_and_accuracy(store):
    table = runs(store, Filters(command="caffe train*"))
    assert [row.run.name for row in table.rows] == ["caffe train #2", "caffe train #1"]
    assert table.parameters == ["caffe.base_lr"]
    bob, alice = table.rows
    assert (alice.value("caffe.base_lr"), bob.value("caffe.base_lr")) == (0.01, 0.001)
    for row, log in ((alice, ALICE_LOG), (bob, BOB_LOG)):
        final, best = accuracy(log)
        assert row.value("caffe.test.accuracy:final") == pytest.approx(final)
        assert row.value("caffe.test.accuracy:best") == pytest.approx(best)
        assert row.metrics["caffe.test.accuracy"]["goal"] == "max"
    assert "caffe.test.accuracy" in table.series and "caffe.train.loss" in table.series
    assert table.goals["caffe.train.loss"] == "min"
    assert table.columns[:3] == ["run", "status", "caffe.base_lr"]
    assert table.columns[-1] == "tags"
    assert "caffe.test.accuracy:final" in table.columns
    # outcomes of a run and its series bookkeeping are not parameters
    assert "caffe.final_iteration" not in alice.parameters
    assert not any(k.startswith("caffe.train.") for k in alice.parameters)
    assert alice.parameters["caffe.lr_policy"] == "inv"


def test_all_columns_single_rows_sort_and_best(store):
    every = runs(store, Filters(command="caffe train*"), all_columns=True)
    assert {"caffe.base_lr", "caffe.lr_policy", "caffe.max_iter"} <= set(every.parameters)
    one = runs(store, Filters(command="caffe train*", agents=["Bob"]))
    assert one.parameters == every.parameters  # a single row: nothing to compare, all shown
    ascending = runs(store, Filters(command="caffe train*"), sort="caffe.base_lr")
    assert [r.value("caffe.base_lr") for r in ascending.rows] == [0.001, 0.01]
    descending = runs(store, Filters(command="caffe train*"), sort="-accuracy:best")
    bests = [r.value("caffe.test.accuracy:best") for r in descending.rows]
    assert bests == sorted(bests, reverse=True)
    lowest = runs(store, Filters(command="caffe train*"), best_min=("accuracy",))
    for row, log in zip(lowest.rows, (BOB_LOG, ALICE_LOG), strict=True):
        text = (DATA / "logs" / log).read_text(errors="replace")
        values = [float(v) for v in re.findall(r"Test net output #0: accuracy = (\S+)", text)]
        assert row.value("caffe.test.accuracy:best") == pytest.approx(min(values))
    assert lowest.goals["caffe.test.accuracy"] == "min"
    with pytest.raises(ProvError, match="no column nothing to sort by"):
        runs(store, Filters(command="caffe*"), sort="nothing")


def test_sweep_rows_params_and_tags(store):
    table = runs(store, Filters(sweep="s1"))
    assert [r.value("python.args.lr") for r in table.rows] == [0.01, 0.1]
    assert table.parameters == ["python.args.lr"]  # epochs is the same in both
    assert [r.value("tags") for r in table.rows] == ["s1, t1", "s1, t0"]
    assert [r.tags for r in table.rows] == [["s1", "t1"], ["s1", "t0"]]
    assert runs(store, Filters(sweep="s1", tags=["t0"])).rows[0].value("python.args.lr") == 0.1
    assert runs(store, Filters(sweep="s2")).rows == []
    mixed = runs(store, Filters(where="status = 'ok'"))
    assert "caffe.base_lr" in mixed.parameters and "python.args.lr" in mixed.parameters


def test_the_question_is_one_command(bench):
    """Every parameter combination tried for this script, with its accuracy."""
    proc = bench.ok("runs", "--command", "caffe train*", "--csv")
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [(r["run"], float(r["caffe.base_lr"])) for r in rows] == [
        ("caffe train #2", 0.001), ("caffe train #1", 0.01)]
    assert [float(r["caffe.test.accuracy:final"]) for r in rows] == [
        accuracy(BOB_LOG)[0], accuracy(ALICE_LOG)[0]]
    assert list(rows[0])[:5] == ["id", "run", "status", "caffe.base_lr",
                                 "caffe.test.accuracy:final"]


def test_json_is_the_api_to_dict(bench):
    import provgraph

    proc = bench.ok("runs", "--sweep", "s1", "--sort", "python.args.lr", "--json")
    with provgraph.open_project(bench.root) as project:
        expected = project.runs(sweep="s1", sort="python.args.lr").to_dict()
    assert json.loads(proc.stdout) == json.loads(json.dumps(expected, sort_keys=True))
    first = json.loads(proc.stdout)["runs"][0]
    assert first["parameters"]["python.args.lr"] == 0.01
    assert first["tags"] == ["s1", "t1"] and first["status"] == "ok"


def test_piped_text_is_plain_full_names(bench):
    proc = bench.ok("runs", "--command", "caffe train*")
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["run", "status", "caffe.base_lr",
                                    "caffe.test.accuracy:final"]
    assert "0.001" in lines[1] and "caffe train #2" in lines[1]
    assert "\x1b" not in proc.stdout and "│" not in proc.stdout and "─" not in proc.stdout


def test_on_a_terminal_the_table_fits(bench):
    from conftest import PROV
    from terminal import on_a_terminal

    env = {**bench.env, "COLUMNS": "72", "LINES": "40", "TERM": "xterm"}
    output, code = on_a_terminal([PROV, "runs", "--command", "caffe train*"], str(bench.root),
                                 env)
    assert code == 0
    text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", output).decode()
    table = [line for line in text.splitlines() if "caffe train #" in line]
    assert len(table) == 2
    assert all(len(line) <= 72 for line in table)
    assert "base_lr" in text and "accuracy:final" in text
    assert "not shown, for want of width" in text


def test_bad_input_is_one_line(bench):
    for args, message in (
        (["--sort", "nothing"], "prov: no column nothing to sort by"),
        (["--where", "caffe.base_lr <"], "prov: --where: cannot parse"),
        (["--best-max", "nothing"], "prov: no series nothing"),
        (["--status", "fine"], "prov: unknown status 'fine'"),
    ):
        proc = bench.prov("runs", *args)
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message), proc.stderr


def test_short_names():
    assert short_names(["caffe.test.accuracy", "caffe.test.loss", "caffe.train.loss"]) == {
        "caffe.test.accuracy": "accuracy", "caffe.test.loss": "test.loss",
        "caffe.train.loss": "train.loss"}


def test_cli_options(bench):
    header = lambda *a: next(csv.reader(io.StringIO(  # noqa: E731
        bench.ok("runs", "--command", "caffe train*", "--csv", *a).stdout)))
    assert "caffe.lr_policy" not in header()
    assert {"caffe.lr_policy", "caffe.max_iter"} <= set(header("--all-columns"))
    table = json.loads(bench.ok("runs", "--command", "caffe train*", "--json",
                                "--best-min", "accuracy", "--best-max", "train.loss").stdout)
    assert table["goals"]["caffe.test.accuracy"] == "min"
    assert table["goals"]["caffe.train.loss"] == "max"
    newest = json.loads(bench.ok("runs", "-n", "1", "--json").stdout)["runs"]
    assert [r["name"] for r in newest] == ["python3 train.py #4"]
    rows = json.loads(bench.ok("runs", "--command", "caffe*", "--sort", "-caffe.base_lr",
                               "--json").stdout)["runs"]
    assert [r["parameters"]["caffe.base_lr"] for r in rows] == [0.01, 0.001]
    assert bench.ok("runs", "--sweep", "nothing").stdout.strip() == "No run matches."
    proc = bench.prov("runs", "--json", "--csv")
    assert proc.returncode == 2 and "--json and --csv do not go together" in proc.stderr
