"""Finding runs and reading their series, on real captures: activities come from real commands
run under `prov`; their series come in as provenance imported through the journal (the path
ingestors' and imported documents' properties take)."""

from __future__ import annotations

import math

import pytest

from provgraph.errors import ProvError
from provgraph.journal.records import Journal
from provgraph.model import Node
from provgraph.queries.metrics import Series, curves, goal, resolve, series, summary
from provgraph.queries.runs import find_run
from provgraph.repo import Repository

NAN = math.nan


def record_properties(repo, reference: str, properties: dict) -> str:
    """Give the run `reference` more properties (series, parameters), as an import would:
    a graph record in the journal holding the activity with its properties merged in."""
    with repo.store() as store:
        run = find_run(store, reference)
    merged = {k: v for k, v in run.properties.items() if k != "project"} | properties
    Journal(Repository.discover(repo.root)).append_graph(
        [{"id": run.id, "label": "Activity", "properties": merged}], [], source="test")
    return run.id


def import_activity(repo, node_id: str, name: str, ended: str, properties: dict | None = None):
    """An activity recorded elsewhere (a Caffe run imported from its log)."""
    Journal(Repository.discover(repo.root)).append_graph(
        [{"id": node_id, "label": "Activity",
          "properties": {"name": name, "command": name.split(" #")[0], "started": ended,
                         "ended": ended, **(properties or {})}}], [], source="test")


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


@pytest.fixture
def three(repo):
    """touch #1, cp #2, sort #3, in that order."""
    repo.ok("touch", "a.txt")
    repo.ok("cp", "a.txt", "b.txt")
    repo.ok("sort", "-o", "c.txt", "b.txt")
    return repo


def test_a_run_by_every_form_of_reference(three):
    with three.store() as store:
        newest = store.activities()
        assert [a.name for a in newest] == ["sort #3", "cp #2", "touch #1"]
        assert find_run(store, "latest").name == "sort #3"
        assert find_run(store, "latest~0").name == "sort #3"
        assert find_run(store, "latest~1").name == "cp #2"
        assert find_run(store, "latest~2").name == "touch #1"
        assert find_run(store, "#2").name == "cp #2"
        assert find_run(store, " #1 ").name == "touch #1"
        assert find_run(store, "cp #2").id == newest[1].id
        assert find_run(store, newest[2].id).name == "touch #1"


def test_unknown_and_wrong_references_are_one_line_errors(three):
    with three.store() as store:
        cases = {
            "latest~3": "no run latest~3: 3 activities are recorded",
            "#9": "no run #9",
            "cp #3": "no run cp #3",
            "act-0000000000000000": "no activity with id act-0000000000000000",
            "": "no run given",
            "latest~x": "no run latest~x",
        }
        for reference, expected in cases.items():
            with pytest.raises(ProvError) as exc:
                find_run(store, reference)
            assert one_line(exc).startswith(expected), (reference, str(exc.value))
        entity = store.entity("a.txt")
        with pytest.raises(ProvError) as exc:
            find_run(store, entity.id)
        assert one_line(exc) == f"{entity.id} is an entity (a.txt@v1), not a run"


def test_no_activity_at_all(repo):
    with repo.store() as store, pytest.raises(ProvError) as exc:
        find_run(store, "latest")
    assert one_line(exc) == "no run latest: 0 activities are recorded"


def test_ambiguous_references_name_every_candidate(three):
    import_activity(three, "caffe-run-a", "caffe train #2", "2020-01-01T00:00:00+00:00")
    import_activity(three, "caffe-run-b", "caffe train #14", "2020-01-02T00:00:00+00:00")
    import_activity(three, "caffe-run-c", "caffe train #14", "2020-01-03T00:00:00+00:00")
    with three.store() as store:
        cp = find_run(store, "cp #2")
        with pytest.raises(ProvError) as exc:
            find_run(store, "#2")
        assert one_line(exc) == (f"#2 is ambiguous: cp #2 ({cp.id}), caffe train #2 (caffe-run-a)"
                                 "; give an id")
        with pytest.raises(ProvError) as exc:
            find_run(store, "caffe train #14")
        assert "caffe train #14 (caffe-run-b), caffe train #14 (caffe-run-c)" in one_line(exc)
        # an imported activity is found by its id and its name too
        assert find_run(store, "caffe-run-b").name == "caffe train #14"
        assert find_run(store, "caffe train #2").id == "caffe-run-a"
        # imported runs ended long ago: latest is still the newest capture
        assert find_run(store, "latest").name == "sort #3"
        assert find_run(store, "latest~5").id == "caffe-run-a"


SERIES = {
    "caffe.base_lr": 0.01,
    "caffe.train.iteration": [0, 100, 200, 300],
    "caffe.train.loss": [2.5, 1.5, NAN, 0.9],
    "caffe.train.lr": [0.01, 0.01, 0.001, 0.001],
    "caffe.test.iteration": [0, 200, 400],
    "caffe.test.accuracy": [0.1, 0.6, NAN],
    "caffe.test1.iteration": [0, 200, 400],
    "caffe.test1.accuracy": [0.2, None, 0.7],  # null: kept as JSON text by the graph
    "caffe.train.output.loss": [2.4, 1.4, 1.0, 0.8],  # a name with dots
    "caffe.train.run": [0, 0, 1, 1],  # bookkeeping, but a list against iteration all the same
    "metrics.iteration": [10, 20, 30],  # groups nest: metrics.loss.* belongs to metrics.loss
    "metrics.loss.iteration": [1, 2, 3],
    "metrics.loss.value": [3.0, 2.0, 2.5],
    # no series: another length, not numbers, no iteration beside it
    "caffe.test.short": [1.0],
    "caffe.test.names": ["a", "b", "c"],
    "other.values": [1.0, 2.0, 3.0],
}


def test_series_of_a_run(three):
    record_properties(three, "#3", SERIES)
    with three.store() as store:
        run = find_run(store, "#3")
    found = series(run)
    # caffe.train.run numbers the solver runs of the rows: bookkeeping, not a series
    assert list(found) == ["caffe.test.accuracy", "caffe.test1.accuracy", "caffe.train.loss",
                           "caffe.train.lr", "caffe.train.output.loss", "metrics.loss.value"]
    assert found["caffe.train.output.loss"].group == "caffe.train"
    assert found["caffe.train.output.loss"].goal == "min"
    loss = found["caffe.train.loss"]
    assert (loss.group, loss.iterations) == ("caffe.train", [0.0, 100.0, 200.0, 300.0])
    assert loss.values[:2] == [2.5, 1.5] and math.isnan(loss.values[2])
    assert math.isnan(found["caffe.test1.accuracy"].values[1])
    assert found["metrics.loss.value"].group == "metrics.loss"
    assert found["metrics.loss.value"].iterations == [1.0, 2.0, 3.0]


def test_summaries_ignore_missing_values_but_count_them(three):
    record_properties(three, "#3", SERIES)
    with three.store() as store:
        found = series(find_run(store, "latest"))
    assert summary(found["caffe.train.loss"]) == {
        "count": 4, "missing": 1, "goal": "min", "first": 2.5, "first_iteration": 0.0,
        "final": 0.9, "final_iteration": 300.0, "best": 0.9, "best_iteration": 300.0,
        "min": 0.9, "max": 2.5}
    accuracy = summary(found["caffe.test.accuracy"])  # the last value is missing
    assert (accuracy["goal"], accuracy["count"], accuracy["missing"]) == ("max", 3, 1)
    assert (accuracy["final"], accuracy["final_iteration"]) == (0.6, 200.0)
    assert (accuracy["best"], accuracy["best_iteration"]) == (0.6, 200.0)
    lr = summary(found["caffe.train.lr"])  # the first iteration reaching the best
    assert (lr["goal"], lr["best"], lr["best_iteration"]) == ("min", 0.001, 200.0)
    metric = summary(found["metrics.loss.value"])  # a loss by its group's name
    assert (metric["goal"], metric["best"], metric["best_iteration"], metric["final"]) == (
        "min", 2.0, 2.0, 2.5)
    test1 = summary(found["caffe.test1.accuracy"])
    assert (test1["count"], test1["missing"], test1["best"], test1["min"]) == (3, 1, 0.7, 0.2)


def test_a_series_with_no_value_at_all():
    empty = Series("caffe.test.accuracy", "caffe.test", [0.0, 1.0, NAN], [NAN, NAN, 0.5])
    info = summary(empty)
    assert (info["count"], info["missing"], info["best"], info["final"]) == (3, 3, None, None)
    assert summary(Series("a.x", "a", [], []))["count"] == 0
    assert series(Node("act-x", "Activity", {"a.iteration": "[1, 2]", "a.x": "[null, 3]"})
                  )["a.x"].iterations == [1.0, 2.0]


@pytest.mark.parametrize(("name", "expected"), [
    ("caffe.train.loss", "min"), ("caffe.test.accuracy", "max"), ("caffe.train.lr", "min"),
    ("metrics.val_loss.value", "min"), ("metrics.top-1-error.value", "min"),
    ("keras.trainLoss", "min"), ("metrics.rmse.value", "min"), ("lm.eval.perplexity", "min"),
    ("metrics.f1.value", "max"), ("caffe.test.mAP", "max"), ("metrics.accuracy.value", "max"),
])
def test_which_way_is_best(name, expected):
    assert goal(name) == expected


NAMES = ["caffe.test.accuracy", "caffe.test1.accuracy", "caffe.train.loss", "metrics.loss.value",
         "metrics.rmse.value"]


@pytest.mark.parametrize(("typed", "meant"), [
    ("caffe.test.accuracy", "caffe.test.accuracy"), ("test.accuracy", "caffe.test.accuracy"),
    ("test1.accuracy", "caffe.test1.accuracy"), ("train.loss", "caffe.train.loss"),
    ("metrics.loss", "metrics.loss.value"), ("rmse", "metrics.rmse.value"),
    ("metrics.loss.value", "metrics.loss.value"),
])
def test_a_metric_by_its_name_or_a_unique_suffix(typed, meant):
    assert resolve(typed, NAMES) == meant


def test_an_ambiguous_or_unknown_metric_is_a_one_line_error():
    with pytest.raises(ProvError) as exc:
        resolve("accuracy", NAMES)
    assert one_line(exc) == ("metric accuracy is ambiguous: caffe.test.accuracy, "
                             "caffe.test1.accuracy (give more of the name)")
    with pytest.raises(ProvError) as exc:
        resolve("loss", NAMES)
    assert "caffe.train.loss, metrics.loss.value" in one_line(exc)
    with pytest.raises(ProvError) as exc:
        resolve("rain.loss", NAMES)  # suffixes are whole segments
    assert one_line(exc).startswith("no series rain.loss: the runs have caffe.test.accuracy, ")
    with pytest.raises(ProvError) as exc:
        resolve("loss", [])
    assert one_line(exc) == "no series loss: the runs have no series"


def test_curves_of_several_runs(three):
    record_properties(three, "#3", SERIES)
    record_properties(three, "#2", {"caffe.train.iteration": [0, 100],
                                    "caffe.train.loss": [3.0, 2.0],
                                    "caffe.test.iteration": [0], "caffe.test.accuracy": [NAN]})
    with three.store() as store:
        runs = [find_run(store, "#2"), find_run(store, "#3")]
    drawn, skipped = curves(runs, ["train.loss", "test1.accuracy", "caffe.train.loss",
                                   "test.accuracy"])
    assert [(c.label, c.iterations, c.values) for c in drawn] == [
        ("cp #2: caffe.train.loss", [0.0, 100.0], [3.0, 2.0]),
        ("sort #3: caffe.train.loss", [0.0, 100.0, 300.0], [2.5, 1.5, 0.9]),  # NaN left out
        ("sort #3: caffe.test1.accuracy", [0.0, 400.0], [0.2, 0.7]),
        ("sort #3: caffe.test.accuracy", [0.0, 200.0], [0.1, 0.6]),
    ]
    assert [(run.name, metric, reason) for run, metric, reason in skipped] == [
        ("cp #2", "caffe.test1.accuracy", "has no series"),
        ("cp #2", "caffe.test.accuracy", "has no value in the series"),
    ]
