"""`prov metrics`, `prov plot` and `prov diff` through the real `prov` executable, on real runs
of a training script whose series come in through the journal as imported provenance."""

from __future__ import annotations

import json
import math
import re

import pytest

from provgraph.journal.records import Journal
from provgraph.queries.runs import find_run
from provgraph.repo import Repository

NAN = math.nan

TRAIN = """\
import sys
params, data = sys.argv[1:3]
lr = open(params).read().split()[1]
open("model.json", "w").write('{"lr": %s, "rows": %d}\\n' % (lr, len(open(data).read().split())))
"""

FIRST = {
    "train.base_lr": 0.1,
    "caffe.train.iteration": [0, 100, 200, 300],
    "caffe.train.loss": [2.5, 1.5, NAN, 0.9],
    "caffe.test.iteration": [0, 150, 300],
    "caffe.test.accuracy": [0.2, 0.5, 0.6],
    "caffe.test1.iteration": [0, 300],
    "caffe.test1.accuracy": [0.1, 0.4],
}
SECOND = {
    "train.base_lr": 0.01,
    "caffe.train.iteration": [0, 100, 200, 300],
    "caffe.train.loss": [2.4, 1.2, 0.7, 0.75],
    "caffe.test.iteration": [0, 150, 300],
    "caffe.test.accuracy": [0.25, 0.55, 0.7],
}


def record_properties(repo, reference: str, properties: dict) -> None:
    """Give a run more properties as imported provenance would (a graph record)."""
    with repo.store() as store:
        run = find_run(store, reference)
    merged = {k: v for k, v in run.properties.items() if k != "project"} | properties
    Journal(Repository.discover(repo.root)).append_graph(
        [{"id": run.id, "label": "Activity", "properties": merged}], [], source="test")


def one_line_error(proc) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("prov: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr.strip()


def no_nan(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def runs(repo):
    """python3 train.py #1 and #2 (another learning rate, one more argument), touch #3."""
    repo.write("train.py", TRAIN)
    repo.write("params.yaml", "lr: 0.1\nepochs: 3\n")
    repo.write("data.csv", "1\n2\n3\n")
    repo.commit_all("inputs")
    repo.ok("python3", "train.py", "params.yaml", "data.csv")
    repo.write("params.yaml", "lr: 0.01\nepochs: 3\n")  # edited without prov
    repo.ok("python3", "train.py", "params.yaml", "data.csv", "fast")
    repo.ok("touch", "done.txt")
    record_properties(repo, "#1", FIRST)
    record_properties(repo, "#2", SECOND)
    return repo


def rows(table: str) -> dict[str, list[str]]:
    """The rows of a printed table, by their first cell."""
    found = {}
    for line in table.splitlines():
        cells = [c.strip() for c in re.split("[│┃]", line)[1:-1]]
        if cells:
            found[cells[0]] = cells[1:]
    return found


def test_metrics_table(runs):
    out = runs.ok("metrics", "#1").stdout
    assert out.startswith("python3 train.py #1 act-")
    assert "$ python3 train.py params.yaml data.csv\n" in out
    table = rows(out)
    assert table["series"] == ["count", "first", "final", "best", "at iteration", "min", "max"]
    assert table["caffe.train.loss"] == ["4 (1 missing)", "2.5", "0.9", "↓ 0.9", "300", "0.9",
                                         "2.5"]
    assert table["caffe.test.accuracy"] == ["3", "0.2", "0.6", "↑ 0.6", "300", "0.2", "0.6"]
    assert list(table) == ["series", "caffe.test.accuracy", "caffe.test1.accuracy",
                           "caffe.train.loss"]
    assert runs.ok("metrics", "latest~1").stdout.count("caffe.") == 2


def test_metrics_json(runs):
    doc = no_nan(runs.ok("metrics", "python3 train.py #1", "--json").stdout)
    assert doc["run"]["name"] == "python3 train.py #1"
    assert doc["run"]["command"] == "python3 train.py params.yaml data.csv"
    loss = doc["series"]["caffe.train.loss"]
    assert loss["group"] == "caffe.train" and loss["goal"] == "min"
    assert loss["iterations"] == [0.0, 100.0, 200.0, 300.0]
    assert loss["values"] == [2.5, 1.5, None, 0.9]
    assert loss["summary"] == {"count": 4, "missing": 1, "goal": "min", "first": 2.5,
                               "first_iteration": 0.0, "final": 0.9, "final_iteration": 300.0,
                               "best": 0.9, "best_iteration": 300.0, "min": 0.9, "max": 2.5}
    assert sorted(doc["series"]) == ["caffe.test.accuracy", "caffe.test1.accuracy",
                                     "caffe.train.loss"]


def test_a_run_without_series_says_so(runs):
    proc = runs.ok("metrics", "latest")
    assert proc.stdout.startswith("touch #3 act-")
    assert "No series recorded for this run" in proc.stdout and not proc.stderr
    assert no_nan(runs.ok("metrics", "latest", "--json").stdout)["series"] == {}


TAB = {"blue": (31, 119, 180), "orange": (255, 127, 14), "green": (44, 160, 44),
       "red": (214, 39, 40)}


def test_plot_to_png(runs):
    from matplotlib.image import imread

    proc = runs.ok("plot", "#1", "#2", "--metric", "train.loss", "--metric", "test.accuracy",
                   "-o", "curves.png")
    assert proc.stdout == "" and proc.stderr == ""
    data = runs.path("curves.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = imread(str(runs.path("curves.png")))[:, :, :3] * 255
    height, width, _ = image.shape
    assert (width, height) == (900, 550)
    # four curves (two runs, two series), in the first four colours of the cycle, each a line
    # running across the plot
    for name, colour in TAB.items():
        mask = (abs(image - colour) < 8).all(axis=2)
        columns = set(mask.nonzero()[1])
        assert mask.sum() > 300 and len(columns) > width // 2, (name, mask.sum(), len(columns))


def test_plot_in_the_terminal(runs):
    proc = runs.ok("plot", "#1", "#2", "--metric", "caffe.train.loss")
    out = proc.stdout
    assert "python3 train.py #1: caffe.train.loss" in out
    assert "python3 train.py #2: caffe.train.loss" in out
    assert "iteration" in out and "\x1b[" not in out  # piped: no colours
    lines = out.splitlines()
    assert len(lines) == 31 and max(len(line) for line in lines) == 100  # 100 x 30, and a newline
    # without colours, each curve has its own mark: in the legend, and drawn many times
    assert "• python3 train.py #1: caffe.train.loss" in out
    assert "+ python3 train.py #2: caffe.train.loss" in out
    assert out.count("•") > 30 and out.count("+") > 30
    assert not proc.stderr


def test_a_metric_by_suffix_and_a_run_that_lacks_it(runs):
    proc = runs.ok("plot", "#1", "#2", "--metric", "test1.accuracy")
    assert "python3 train.py #1: caffe.test1.accuracy" in proc.stdout
    assert "#2: caffe" not in proc.stdout
    assert proc.stderr == ("prov: warning: python3 train.py #2 has no series "
                           "caffe.test1.accuracy; skipped\n")


def test_plot_errors_are_one_line(runs):
    assert one_line_error(runs.prov("plot", "#1", "--metric", "accuracy")) == (
        "prov: metric accuracy is ambiguous: caffe.test.accuracy, caffe.test1.accuracy "
        "(give more of the name)")
    assert one_line_error(runs.prov("plot", "#1")) == (
        "prov: name the series to draw with --metric NAME (the runs have caffe.test.accuracy, "
        "caffe.test1.accuracy, caffe.train.loss)")
    assert one_line_error(runs.prov("plot", "latest", "--metric", "loss")) == (
        "prov: no series loss: the runs have no series")
    assert one_line_error(runs.prov("plot", "#1", "--metric", "rain.loss")).startswith(
        "prov: no series rain.loss: the runs have caffe.test.accuracy")
    record_properties(runs, "#3", {"x.iteration": [0, 1], "x.loss": [NAN, NAN]})
    assert one_line_error(runs.prov("plot", "#3", "#2", "--metric", "x.loss")) == (
        "prov: nothing to plot: no run has a value in x.loss")
    proc = runs.prov("plot", "#1", "--metric", "loss", "-o", "missing/folder/curves.png")
    assert one_line_error(proc).startswith("prov: cannot write missing/folder/curves.png")


def test_plot_to_png_without_matplotlib(runs, tmp_path):
    shadow = tmp_path / "no-matplotlib" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    env = {"PYTHONPATH": str(shadow.parent)}
    proc = runs.prov("plot", "#1", "--metric", "train.loss", "-o", "curves.png", env=env)
    assert one_line_error(proc) == (
        "prov: writing a PNG needs matplotlib: pip install 'provgraph[plot]'")
    assert not runs.path("curves.png").exists()
    # the terminal chart needs only plotext
    assert "caffe.train.loss" in runs.ok("plot", "#1", "--metric", "train.loss", env=env).stdout


def test_diff_as_text(runs):
    out = runs.ok("diff", "#1", "#2").stdout
    lines = out.splitlines()
    assert lines[0].startswith("A  python3 train.py #1  act-")
    assert lines[1].startswith("B  python3 train.py #2  act-")
    assert "  - python3 train.py params.yaml data.csv" in lines
    assert "  + python3 train.py params.yaml data.csv fast" in lines
    squeezed = [" ".join(line.split()) for line in lines]  # columns aligned to the widest
    assert "train.base_lr 0.1 → 0.01" in squeezed
    assert "params.params.yaml.lr 0.1 → 0.01" in squeezed  # the version of params.yaml each read
    assert any(line.startswith("  operands") and line.endswith('"data.csv", "fast"]')
               for line in lines)
    inputs = out[out.index("\ninputs\n"):out.index("\noutputs\n")]
    assert "  = data.csv@v1 (same content)" in inputs
    assert "  = train.py@v1 (same content)" in inputs
    assert "  ~ params.yaml@v1 → params.yaml@v2 (digest " in inputs
    assert "      -lr: 0.1\n      +lr: 0.01\n       epochs: 3\n" in inputs
    outputs = out[out.index("\noutputs\n"):out.index("\nmetrics\n")]
    assert "  ~ model.json@v1 → model.json@v2 (digest " in outputs
    table = rows(out[out.index("\nmetrics\n"):])
    assert table["series"] == ["final A", "final B", "change", "best A", "best B", "change"]
    assert table["caffe.train.loss"] == ["0.9", "0.75", "-0.15", "0.9 @300", "0.7 @200", "-0.2"]
    assert table["caffe.test.accuracy"][:3] == ["0.6", "0.7", "+0.1"]
    assert "  only in A: caffe.test1.accuracy" in lines


def test_diff_as_json(runs):
    doc = no_nan(runs.ok("diff", "latest~2", "latest~1", "--json").stdout)
    assert (doc["a"]["name"], doc["b"]["name"]) == ("python3 train.py #1", "python3 train.py #2")
    assert doc["command"] == {"same": False, "a": "python3 train.py params.yaml data.csv",
                              "b": "python3 train.py params.yaml data.csv fast",
                              "shell": {"a": False, "b": False}}
    parameters = {p["name"]: (p["a"], p["b"]) for p in doc["parameters"]}
    assert parameters["train.base_lr"] == (0.1, 0.01)
    assert "caffe.train.loss" not in parameters and "started" not in parameters
    inputs = {f["path"]: f for f in doc["inputs"]}
    assert {p: f["status"] for p, f in inputs.items()} == {
        "data.csv": "same", "params.yaml": "changed", "train.py": "same"}
    params = inputs["params.yaml"]
    assert (params["a"]["version"], params["b"]["version"]) == (1, 2)
    assert params["a"]["digest"] != params["b"]["digest"]
    assert "-lr: 0.1" in params["diff"] and "+lr: 0.01" in params["diff"]
    assert [(f["path"], f["status"]) for f in doc["outputs"]] == [("model.json", "changed")]
    metrics = {m["name"]: m for m in doc["metrics"]}
    assert metrics["caffe.train.loss"]["a"]["final"] == 0.9
    assert metrics["caffe.train.loss"]["b"]["best_iteration"] == 200.0
    assert metrics["caffe.train.loss"]["final_change"] == pytest.approx(-0.15)
    assert (doc["metrics_only_a"], doc["metrics_only_b"]) == (["caffe.test1.accuracy"], [])


def test_diff_limits_text_diffs_and_says_how_a_command_ran(repo):
    repo.write("data.csv", "".join(f"{i},a\n" for i in range(400)))
    repo.commit_all()
    repo.ok("wc", "-l", "data.csv")  # run directly
    repo.write("data.csv", "".join(f"{i},b\n" for i in range(400)))  # every line changes
    repo.ok("wc -l data.csv")  # the same command, under the shell
    out = repo.ok("diff", "#1", "#2").stdout
    lines = out.splitlines()
    assert "  the same: wc -l data.csv" in lines
    assert "  run directly in A, under the shell in B" in lines
    parameters = out[out.index("\nparameters\n"):out.index("\ninputs\n")]
    assert "shell" not in parameters and "no difference" in parameters
    shown = [line for line in lines if line.startswith("      ")]
    assert shown[:3] == ["      --- data.csv@v1", "      +++ data.csv@v2",
                         "      @@ -1,400 +1,400 @@"]
    assert len(shown) == 2 + 20 + 1  # header, the default 20 lines, what was left out
    assert shown[-1] == "      … 781 more lines (--diff-lines 801 shows all)"
    five = repo.ok("diff", "#1", "#2", "--diff-lines", "5").stdout.splitlines()
    assert [line for line in five if line.startswith("      ")][-2:] == [
        "      -3,a", "      … 796 more lines (--diff-lines 801 shows all)"]
    none = repo.ok("diff", "#1", "#2", "--diff-lines", "0").stdout.splitlines()
    assert [line for line in none if line.startswith("      ")] == [
        "      … 801 more lines (--diff-lines 801 shows all)"]
    whole = repo.ok("diff", "#1", "#2", "--diff-lines", "801").stdout
    assert "more line" not in whole and "      +399,b" in whole.splitlines()
    doc = json.loads(repo.ok("diff", "#1", "#2", "--json").stdout)
    assert doc["command"]["shell"] == {"a": False, "b": True}
    assert len(doc["inputs"][0]["diff"]) == 2 + 801 and "diff_lines_omitted" not in doc[
        "inputs"][0]
    cut = json.loads(repo.ok("diff", "#1", "#2", "--json", "--diff-lines", "3").stdout)
    assert len(cut["inputs"][0]["diff"]) == 2 + 3
    assert cut["inputs"][0]["diff_lines_omitted"] == 798
    assert "default 20" in repo.ok("diff", "--help").stdout


@pytest.mark.parametrize("args", [
    ("metrics", "#9"),
    ("metrics", "no such run"),
    ("metrics", "latest~5"),
    ("plot", "#9", "--metric", "loss"),
    ("diff", "#1", "#9"),
    ("diff", "act-0000000000000000", "#1"),
])
def test_unknown_runs_are_one_line_errors(runs, args):
    message = one_line_error(runs.prov(*args))
    assert message.startswith(("prov: no run ", "prov: no activity with id "))
