"""The Caffe log reader, on every real log of the shared test data and on synthetic corners.

Where BVLC's tools/extra/parse_log.py is right (its `*.ref_*.csv` beside each log), we
match it value for value; where it is wrong, a test below says how and what we do instead.
"""

from __future__ import annotations

import csv
import math
import random
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provgraph.ingestors.caffe.log import CaffeLog, TestRow, TrainRow, parse_log

LOGS = Path(__file__).parents[1] / "data" / "caffe" / "logs"
INTEL = "bobhuynh_Intel__caffe.log"
LENET = "lifeng14_caffe__lenet_train_complete.log"
FATAL = "lifeng14_caffe__lenet_train_fatal.log"
QIEXING = "qiexing_caffe-regression__caffe.log"
PR5772 = "BVLC_caffe_pr5772__train.log"
NAN_LOG = "HoldenCaulfieldRye_caffe__clamp_fc7_rb_nan.log"
NVCAFFE = "provgraph__nvcaffe_0.16_lenet.log"  # written by us, in NVIDIA Caffe's format
BVLC_2014 = "provgraph__bvlc_2014_lenet.log"  # written by us, in BVLC Caffe's of 2014
INTEL_SNAPSHOTS = "/workspace/dlsdk/jobs/caffe/models/b5143a70-cfeb-433e-b066-800d9d8263f9"

# What each real log holds. final_loss: the iteration of the `Iteration N, loss = X` line
# Caffe prints after the last step, which BVLC's parser never records.
EXPECTED = {
    LENET: {
        "train_rows": 101, "test_rows": 21, "first": 0, "final_iteration": 10000,
        "run_end": ["done"], "nan": False, "snapshots": 4, "resumed_from": [],
        "fatal": None, "final_loss": [10000], "test_nets": [0],
    },
    FATAL: {
        "train_rows": 0, "test_rows": 0, "first": None, "final_iteration": None,
        "run_end": ["failed"], "nan": False, "snapshots": 0, "resumed_from": [],
        "fatal": "Cannot write to snapshot prefix 'examples/mnist/lenet'.  Make sure that the "
                 "directory exists and is writeable.",
        "final_loss": [], "test_nets": [],
    },
    QIEXING: {
        "train_rows": 201, "test_rows": 41, "first": 0, "final_iteration": 20000,
        "run_end": ["done"], "nan": False, "snapshots": 8, "resumed_from": [],
        "fatal": None, "final_loss": [20000], "test_nets": [0],
    },
    PR5772: {
        "train_rows": 2, "test_rows": 0, "first": 0, "final_iteration": 100,
        "run_end": ["cut"], "nan": False, "snapshots": 0, "resumed_from": [],
        "fatal": None, "final_loss": [], "test_nets": [],
    },
    INTEL: {
        "train_rows": 481, "test_rows": 0, "first": 0, "final_iteration": 960,
        "run_end": ["stopped", "done"], "nan": False, "snapshots": 62,
        "resumed_from": [f"{INTEL_SNAPSHOTS}/snapshot_iter_10.solverstate"],
        "fatal": None, "final_loss": [960], "test_nets": [],
    },
    NAN_LOG: {
        "train_rows": 110, "test_rows": 111, "first": 0, "final_iteration": 110,
        "run_end": ["cut"], "nan": True, "snapshots": 0, "resumed_from": [],
        "fatal": None, "final_loss": [], "test_nets": [0],
    },
    NVCAFFE: {
        "train_rows": 7, "test_rows": 4, "first": 0, "final_iteration": 300,
        "run_end": ["done"], "nan": False, "snapshots": 2, "resumed_from": [],
        "fatal": None, "final_loss": [300], "test_nets": [0],
    },
    BVLC_2014: {
        "train_rows": 10, "test_rows": 3, "first": 100, "final_iteration": 1000,
        "run_end": ["done"], "nan": False, "snapshots": 2, "resumed_from": [],
        "fatal": None, "final_loss": [], "test_nets": [0],
    },
}


def read(name: str) -> CaffeLog:
    with open(LOGS / name, encoding="utf-8", errors="replace") as file:
        return parse_log(file)


def ref_rows(name: str, phase: str) -> list[dict[str, float]]:
    path = LOGS / name.replace(".log", f".ref_{phase}.csv")
    with open(path, newline="") as file:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(file)]


def ref_names(phase: str) -> list[str]:
    return sorted(p.name.replace(f".ref_{phase}.csv", ".log")
                  for p in LOGS.glob(f"*.ref_{phase}.csv"))


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def assert_series_shape(series: dict) -> None:
    """Every group's lists are as long as its iteration list, and each list holds one type."""
    assert not any(key.startswith("caffe.") for key in series)
    groups = {key.rsplit(".", 1)[0] for key in series if key.endswith(".iteration")}
    for key, value in series.items():
        if isinstance(value, list):
            assert len({type(item) for item in value}) <= 1, key
            group = next((g for g in groups if key.startswith(g + ".")), None)
            if group is not None:
                assert len(value) == len(series[f"{group}.iteration"]), key


# --- every real log ---------------------------------------------------------------------


def test_every_shared_log_is_in_the_table() -> None:
    assert sorted(p.name for p in LOGS.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_log(name: str) -> None:
    expected = EXPECTED[name]
    log = read(name)
    assert len(log.train) == expected["train_rows"]
    assert len(log.test) == expected["test_rows"]
    assert [run.end for run in log.runs] == expected["run_end"]
    assert len(log.snapshots) == expected["snapshots"]
    assert log.fatal == expected["fatal"]
    series = log.series()
    assert_series_shape(series)
    assert series["runs"] == len(expected["run_end"])
    assert series["run_end"] == expected["run_end"]
    assert series["optimization_done"] is (expected["run_end"][-1] == "done")
    assert series["stopped_early"] is any(end != "done" for end in expected["run_end"])
    assert series["nan"] is expected["nan"]
    assert series.get("resumed_from", []) == expected["resumed_from"]
    assert series.get("final_iteration") == expected["final_iteration"]
    assert series.get("fatal") == expected["fatal"]
    if expected["train_rows"]:
        assert series["train.iteration"][0] == expected["first"]
        assert len(series["train.loss"]) == expected["train_rows"]
    else:
        assert not any(key.startswith("train.") for key in series)
    assert sorted({row.net for row in log.test}) == expected["test_nets"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_crlf_and_bytes_decoded_with_replace_read_the_same(name: str) -> None:
    raw = (LOGS / name).read_bytes()
    plain = read(name).series()
    crlf = raw.replace(b"\n", b"\r\n").decode("utf-8", errors="replace")
    assert_same_series(parse_log(crlf.splitlines(keepends=True)).series(), plain)
    assert_same_series(parse_log(raw.splitlines(keepends=True)).series(), plain)  # bytes lines


def assert_same_series(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key, value in expected.items():
        if isinstance(value, list):
            assert all(same(a, b) if isinstance(a, float) else a == b
                       for a, b in zip(got[key], value, strict=True)), key
        else:
            assert got[key] == value, key


# --- every point printed is in the series, once --------------------------------------------
#
# The oracle below reads a log with plain string splitting, line kind by line kind, sharing
# nothing with the reader: what it counts must be in the series, each point once, at its
# iteration, and nothing else may be.

TRAIN_OWN = {"iteration", "run", "loss", "lr", "speed"}  # docs/caffe.md: `train.output.<name>`


class Printed:
    """What a log prints: each series' points as (iteration, value) in log order, the
    iteration of each row, and the number of snapshots."""

    def __init__(self) -> None:
        self.points: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.train_iterations: list[int] = []
        self.test_iterations: dict[str, list[int]] = defaultdict(list)
        self.snapshots = 0


def printed_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # `-nan`, `1.#QNAN`, `1.#INF`
        if "nan" in text.lower():
            return math.nan
        return -math.inf if text.startswith("-") else math.inf


def glog_message(line: str) -> str:
    return line.split("] ", 1)[1].strip() if "] " in line else line.strip()


def read_printed(name: str) -> Printed:
    printed = Printed()
    train: tuple[int, dict[str, int]] | None = None  # the open display block, names seen
    test: tuple[str, int, dict[str, int]] | None = None  # the open test block
    last: tuple[str, int] | None = None  # the last display or lr line not yet paired

    def output(prefix: str, iteration: int, seen: dict[str, int], name: str, rest: str,
               own: set[str]) -> None:
        seen[name] = seen.get(name, 0) + 1
        key = name if seen[name] == 1 else f"{name}#{seen[name]}"
        key = f"output.{key}" if key in own else key
        printed.points[f"{prefix}.{key}"].append((iteration, printed_number(rest.split()[0])))
        if "(* " in rest:  # `V (* W = Z loss)`
            weight, weighted = rest.split("(* ", 1)[1].split(" = ")
            if float(weight) != 1:
                printed.points[f"{prefix}.{key}.weighted"].append(
                    (iteration, printed_number(weighted.split()[0])))

    for line in (LOGS / name).read_text(encoding="utf-8", errors="replace").splitlines():
        text = glog_message(line)
        kind = ("display" if ", loss = " in text else "lr" if ", lr = " in text
                else "testing" if ", Testing net" in text else None)
        if text.startswith("Iteration ") and kind:
            iteration = int(text.split()[1].rstrip(","))
            if kind == "testing":
                net = int(text.split("(#")[1].rstrip(")")) if "(#" in text else 0
                prefix = "test" if net == 0 else f"test{net}"
                printed.test_iterations[prefix].append(iteration)
                test = (prefix, iteration, {})
                continue
            if last is not None and last[1] == iteration and last[0] != kind:
                last = None  # display N and lr N, in either order: one row
            else:
                printed.train_iterations.append(iteration)
                last = (kind, iteration)
            if kind == "lr":
                value = text.split(", lr = ")[1].split(",")[0]
                printed.points["train.lr"].append((iteration, printed_number(value)))
                continue
            train = (iteration, {})
            printed.points["train.loss"].append(
                (iteration, printed_number(text.rsplit(" = ", 1)[1])))
            if " iter/s" in text:
                speed = text.split("(", 1)[1].split(" iter/s")[0]
                printed.points["train.speed"].append((iteration, printed_number(speed)))
        elif "Train net output #" in text:
            assert train is not None, line
            name, rest = text.split(": ", 1)[1].split(" = ", 1)
            output("train", train[0], train[1], name, rest, TRAIN_OWN)
        elif "Test net output #" in text:
            assert test is not None, line
            name, rest = text.split(": ", 1)[1].split(" = ", 1)
            output(test[0], test[1], test[2], name, rest, {"iteration"})
        elif text.startswith(("Test loss: ", "Test score #")):  # 2014
            assert test is not None, line
            label, rest = text.split(": ", 1)
            name = "loss" if label == "Test loss" else "score" + label[len("Test score "):]
            output(test[0], test[1], test[2], name, rest, {"iteration"})
        elif text.startswith("Snapshotting ") and " to " in text:
            printed.snapshots += 1
    return printed


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_printed_point_is_in_the_series_once(name: str) -> None:
    printed = read_printed(name)
    log = read(name)
    series = log.series()
    # one row per display iteration (its display and lr lines), one per test block
    assert series.get("train.iteration", []) == printed.train_iterations
    groups = sorted(key[: -len(".iteration")] for key in series if key.endswith(".iteration"))
    assert groups == sorted({*printed.test_iterations, *(["train"] if printed.train_iterations
                                                          else [])})
    for prefix, iterations in printed.test_iterations.items():
        assert series[f"{prefix}.iteration"] == iterations
    # each printed value at its iteration, in order, once; and no series nobody printed
    assert {key for key, value in series.items() if isinstance(value, list) and "." in key
            and not key.endswith((".iteration", ".run"))} == set(printed.points)
    for key, points in printed.points.items():
        column = list(zip(series[key.split(".", 1)[0] + ".iteration"], series[key], strict=True))
        assert [p for p in column if not math.isnan(p[1])] == \
            [p for p in points if not math.isnan(p[1])], key
        for iteration, value in points:
            if math.isnan(value):
                assert any(i == iteration and math.isnan(v) for i, v in column), key
    assert len(log.snapshots) == printed.snapshots
    assert sum(map(len, printed.points.values())) > 0 or name == FATAL  # the oracle saw points


# --- BVLC's parse_log.py where it is right: same iterations, same values ------------------


def test_the_reference_csvs_are_the_ones_the_readme_lists() -> None:
    assert ref_names("train") == sorted([INTEL, LENET, QIEXING])
    assert ref_names("test") == sorted([NAN_LOG, LENET, QIEXING])


@pytest.mark.parametrize("name", ref_names("train"))
def test_train_rows_match_bvlc_and_add_the_final_loss_line(name: str) -> None:
    log = read(name)
    ours = {row.iteration: row for row in log.train}
    assert len(ours) == len(log.train)  # one row per display iteration
    reference = ref_rows(name, "train")
    bvlc_iterations = [int(row["NumIters"]) for row in reference]
    # BVLC misses exactly the `Iteration N, loss = X` line Caffe prints after the last step,
    # which has no `Train net output` lines under it; we keep it as a row with its loss.
    missing = [row.iteration for row in log.train if row.iteration not in bvlc_iterations]
    assert missing == EXPECTED[name]["final_loss"]
    assert [row.iteration for row in log.train if row.iteration in bvlc_iterations] == \
        bvlc_iterations
    final = ours[missing[0]]
    assert not math.isnan(final.loss) and final.outputs == {}
    columns = [c for c in reference[0] if c not in ("NumIters", "Seconds", "LearningRate")]
    assert columns  # e.g. loss; accuracy, loss, loss1/loss, loss2/loss
    for row in reference:
        mine = ours[int(row["NumIters"])]
        for column in columns:
            assert mine.outputs[column] == row[column], (row["NumIters"], column)


@pytest.mark.parametrize("name", ref_names("train"))
def test_lr_is_on_its_own_row_where_bvlc_lags_one_display(name: str) -> None:
    """BVLC gives each row the lr printed *before* it: that of the previous display.

    `Iteration N, lr = X` follows the outputs of display N, so X is row N's lr. BVLC's row k
    holds our lr of row k-1; its first row copies its second (fix_initial_nan_learning_rate).
    """
    log = read(name)
    lr = {row.iteration: row.lr for row in log.train}
    reference = ref_rows(name, "train")
    iterations = [int(row["NumIters"]) for row in reference]
    for k in range(1, len(reference)):
        assert reference[k]["LearningRate"] == lr[iterations[k - 1]]
    assert reference[0]["LearningRate"] == reference[1]["LearningRate"]
    with open(LOGS / name) as file:
        printed = [line for line in file if ", lr = " in line]
    assert len(printed) == sum(not math.isnan(value) for value in lr.values())
    for line in printed:
        iteration = int(line.split("Iteration ")[1].split(",")[0])
        assert lr[iteration] == float(line.rsplit("= ", 1)[1])


def test_lr_differs_from_bvlc_where_the_rate_changes() -> None:
    log = read(LENET)
    lr = {row.iteration: row.lr for row in log.train}
    reference = {int(r["NumIters"]): r["LearningRate"] for r in ref_rows(LENET, "train")}
    assert lr[100] == 0.00992565 and reference[100] == 0.01  # BVLC: iteration 0's lr
    assert lr[9900] == 0.00596843 and reference[9900] == 0.00599102
    assert sum(lr[i] != reference[i] for i in reference) == 99  # all but iterations 0 and 100


@pytest.mark.parametrize("name", [LENET, QIEXING])
def test_test_rows_match_bvlc(name: str) -> None:
    log = read(name)
    reference = ref_rows(name, "test")
    assert [row.iteration for row in log.test] == [int(r["NumIters"]) for r in reference]
    columns = [c for c in reference[0] if c not in ("NumIters", "Seconds", "LearningRate")]
    for mine, row in zip(log.test, reference, strict=True):
        assert list(mine.outputs) == columns
        for column in columns:
            assert mine.outputs[column] == row[column]


def test_final_rows_of_lenet() -> None:
    series = read(LENET).series()
    assert series["train.iteration"][-2:] == [9900, 10000]
    assert series["train.loss"][-2:] == [0.00291851, 0.00313682]  # the display (smoothed) loss
    assert series["train.output.loss"][-2] == 0.00291857  # the raw net output, as BVLC's
    assert math.isnan(series["train.output.loss"][-1])
    assert math.isnan(series["train.lr"][-1])  # no lr is printed after the last step
    assert series["test.iteration"][-1] == 10000
    assert series["test.accuracy"][-1] == 0.9906 and series["test.loss"][-1] == 0.026951
    assert "test.loss.weighted" not in series  # weight 1


# --- BVLC's parse_log.py where it is wrong -------------------------------------------------


def test_outputs_sharing_a_name_stay_in_one_test_row() -> None:
    """BVLC turns a test with four outputs named `accuracy` into four rows (and keeps only
    the last value for iteration 0); we keep one row per test, accuracy, accuracy#2, ..."""
    log = read(NAN_LOG)
    reference = ref_rows(NAN_LOG, "test")
    assert len(reference) == 1 + 4 * 109  # BVLC: iteration 0 once, then four rows each
    assert [row.iteration for row in log.test] == list(range(111))
    names = ["accuracy", "accuracy#2", "accuracy#3", "accuracy#4"]
    assert list(log.test[0].outputs) == ["loss", *names]  # `Test loss:` comes first
    assert log.test[0].outputs["accuracy#4"] == reference[0]["accuracy"] == 0.942729
    assert log.test[0].outputs["accuracy"] == 0.983622  # BVLC lost this and two more
    for iteration in range(1, 110):
        rows = reference[1 + 4 * (iteration - 1) : 1 + 4 * iteration]
        assert {int(r["NumIters"]) for r in rows} == {iteration}
        mine = log.test[iteration].outputs
        assert [mine[n] for n in names] == [r["accuracy"] for r in rows]
    series = log.series()
    assert series["test.accuracy#2"][107] == 3.55111e-40


def test_a_test_cut_off_mid_block_keeps_its_row() -> None:
    """The file ends right after `Iteration 110, Testing net (#0)`: a row with no output."""
    log = read(NAN_LOG)
    last = log.test[-1]
    assert (last.iteration, last.net, last.outputs) == (110, 0, {})
    series = log.series()
    assert all(math.isnan(series[key][-1]) for key in series
               if key.startswith("test.") and key != "test.iteration")


def test_train_losses_without_train_net_output_lines_are_kept() -> None:
    """2014 logs print no `Train net output`: BVLC writes no train CSV at all for them."""
    assert not (LOGS / NAN_LOG.replace(".log", ".ref_train.csv")).exists()
    series = read(NAN_LOG).series()
    assert series["train.iteration"] == list(range(110))
    assert series["train.loss"][:3] == [0.349236, 0.357817, 0.481181]
    assert series["train.lr"] == [0.001] * 110
    first_nan = next(i for i, loss in enumerate(series["train.loss"]) if math.isnan(loss))
    assert first_nan == 64 and all(math.isnan(x) for x in series["train.loss"][64:])
    assert series["nan"] is True
    assert math.isnan(series["test.loss"][64]) and series["test.loss"][63] == 75.3309


def test_a_log_ending_with_a_blank_line_is_read() -> None:
    """BVLC crashes on the trailing blank line of this log and writes no CSV at all."""
    assert (LOGS / PR5772).read_bytes().endswith(b"\n\n")
    assert not list(LOGS.glob(PR5772.replace(".log", ".ref_*.csv")))
    series = read(PR5772).series()
    assert series["train.iteration"] == [0, 100]
    assert series["train.loss"] == [2.40473, 0.224371]
    assert series["train.speed"] == [-1.02432e-37, 4.71409]  # as printed, garbage at 0
    assert series["train.lr"] == [0.01, 0.00992565]
    assert series["train.output.loss"] == [2.40473, 0.224371]
    assert "train.output.loss.weighted" not in series  # (* 1 = ...): the raw value again
    assert series["run_end"] == ["cut"] and series["stopped_early"] is True


def test_a_lone_first_row_is_kept() -> None:
    """BVLC appends a row only when the next one starts (or a later row fills up the same
    columns), so a log with a single display row gives it nothing; we keep the row."""
    lines = (LOGS / PR5772).read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if "Iteration 100 (" in line)
    log = parse_log(lines[:cut])
    assert [(row.iteration, row.loss, row.lr) for row in log.train] == [(0, 2.40473, 0.01)]
    assert log.train[0].outputs == {"loss": 2.40473}


# --- other releases: NVIDIA Caffe, BVLC Caffe of 2014 (logs we wrote, see the data README) ---


def test_nvidia_caffe_rows_with_the_elapsed_time_are_kept() -> None:
    """NVIDIA Caffe prints its first iterations as `Iteration 0 (5.50154 s), loss = X`: the
    elapsed time, not a speed. The rows are kept (speed NaN) and their outputs stay theirs."""
    series = read(NVCAFFE).series()
    assert series["train.iteration"] == [0, 1, 2, 100, 200, 299, 300]
    assert series["train.loss"] == [2.33712, 2.26043, 2.19417, 0.301882, 0.157213, 0.109875,
                                    0.102648]
    assert series["train.output.loss"][:2] == [2.33712, 2.18374]
    assert "train.loss#2" not in series  # iteration 1's output is not iteration 0's
    speed = series["train.speed"]
    assert math.isnan(speed[0]) and math.isnan(speed[1]) and speed[2:6] == [296.5, 373.72,
                                                                              396.94, 402.03]
    lr = series["train.lr"]  # `Iteration N, lr = X, m = 0.9`: X
    assert [lr[i] for i in (0, 3, 4)] == [0.01, 0.00992565, 0.00985258]
    assert sum(not math.isnan(x) for x in lr) == 3
    assert series["test.iteration"] == [0, 100, 200, 300]
    assert series["test.accuracy"] == [0.0859375, 0.9453, 0.9641, 0.9712]


def test_bvlc_2014_one_row_per_iteration_and_the_test_before_training() -> None:
    """2014: `Iteration N, lr = X` on the line before `Iteration N, loss = Y` is one row, and
    the test Caffe ran before the first step (`Iteration 0, Testing net`) is kept."""
    log = read(BVLC_2014)
    series = log.series()
    assert series["train.iteration"] == list(range(100, 1001, 100))
    assert not any(math.isnan(x) for x in series["train.loss"] + series["train.lr"])
    assert series["train.lr"][:2] == [0.00992565, 0.00985258]
    assert series["train.loss"][:2] == [0.296804, 0.173473]
    assert series["test.iteration"] == [0, 500, 1000]
    assert series["test.score#0"] == [0.1031, 0.9718, 0.9812]
    assert series["test.score#1"] == [2.30259, 0.0881153, 0.0583452]
    assert [(s.iteration, s.kind, s.path) for s in log.snapshots] == [
        (1000, "weights", "examples/mnist/lenet_iter_1000"),
        (1000, "solverstate", "examples/mnist/lenet_iter_1000.solverstate"),
    ]


# --- runs, snapshots, resumption -----------------------------------------------------------


def test_two_runs_in_one_log_stopped_then_resumed() -> None:
    log = read(INTEL)
    first, second = log.runs
    assert (first.pid, first.end, first.resumed_from) == (822, "stopped", None)
    assert (second.pid, second.end) == (861, "done")
    assert second.resumed_from == f"{INTEL_SNAPSHOTS}/snapshot_iter_10.solverstate"
    series = log.series()
    assert series["train.run"] == [0] * 5 + [1] * 476
    assert series["train.iteration"][:7] == [0, 2, 4, 6, 8, 10, 12]
    assert series["train.loss"][5] == 1.55511  # the first display after resuming
    assert series["train.lr"][5] == 0.00994778
    first_snapshots = [s for s in log.snapshots if s.run == 0]
    assert [(s.iteration, s.kind) for s in first_snapshots] == [
        (10, "weights"), (10, "solverstate")]
    assert first_snapshots[0].path == f"{INTEL_SNAPSHOTS}/snapshot_iter_10.caffemodel"
    assert [s.iteration for s in log.snapshots[2::2]] == list(range(32, 961, 32))


def test_weighted_outputs_keep_the_raw_value_and_the_weighted_one() -> None:
    series = read(INTEL).series()
    assert series["train.loss1/loss"][0] == 4.33379
    assert series["train.loss1/loss.weighted"][0] == 1.30014  # (* 0.3 = 1.30014 loss)
    assert series["train.loss2/loss.weighted"][0] == 0.5193
    assert series["train.accuracy"][0] == 0.28125
    assert "train.accuracy.weighted" not in series  # printed without a weight
    assert "train.output.loss.weighted" not in series  # weight 1
    assert series["train.output.loss"][0] == 1.28882  # net output `loss`, not the display's
    assert series["train.loss"][0] == 3.10825


def test_last_process_keeps_the_runs_of_the_last_writer() -> None:
    part = read(INTEL).last_process()
    assert len(part.runs) == 1 and part.runs[0].index == 0 and part.runs[0].pid == 861
    series = part.series()
    assert series["runs"] == 1 and series["run_end"] == ["done"]
    assert series["stopped_early"] is False and series["optimization_done"] is True
    assert series["train.iteration"][0] == 10 and len(series["train.iteration"]) == 476
    assert set(series["train.run"]) == {0}
    assert len(part.snapshots) == 60 and {s.run for s in part.snapshots} == {0}
    assert series["resumed_from"] == [f"{INTEL_SNAPSHOTS}/snapshot_iter_10.solverstate"]
    single = read(LENET)
    assert single.last_process().series()["train.iteration"] == \
        single.series()["train.iteration"]


def test_snapshots_with_and_without_a_space_before_the_path() -> None:
    log = read(QIEXING)  # 2015 printed `binary proto fileexamples/...`
    assert [(s.iteration, s.kind, s.path) for s in log.snapshots[:2]] == [
        (5000, "weights", "examples/kaggle_prototxt/model/fkp_iter_5000.caffemodel"),
        (5000, "solverstate", "examples/kaggle_prototxt/model/fkp_iter_5000.solverstate"),
    ]


# --- synthetic corners -------------------------------------------------------------------

P = "I0101 10:00:00.000000  4242 solver.cpp:228] "


def glog(*messages: str) -> list[str]:
    return [P + message + "\n" for message in messages]


@pytest.mark.parametrize(
    ("line", "iteration", "loss", "speed"),
    [
        ("Iteration 100, loss = 0.3", 100, 0.3, None),
        ("Iteration 100 (1.23 iter/s, 81.3s/100 iters), loss = 0.3", 100, 0.3, 1.23),
        ("Iteration 20 (0 iter/s, 0.05s/20 iters), loss = 1e-05", 20, 1e-05, 0.0),
        ("Iteration 7 (inf iter/s, 0s/1 iters), loss = 2", 7, 2.0, math.inf),
        ("Iteration 5, loss = -nan", 5, math.nan, None),
        ("Iteration 5, loss = 1.#QNAN", 5, math.nan, None),
        ("Iteration 5, loss = 1.#INF", 5, math.inf, None),
        ("Iteration 5, loss = inf", 5, math.inf, None),
        ("Iteration 5, loss = 0.25\r", 5, 0.25, None),
        ("Iteration 5, loss = 0.25I0101 10:00:00.1 4242 x.cpp:1] garbled", 5, 0.25, None),
        # NVIDIA Caffe: the elapsed time (not a speed) for the first iterations; 0.17 adds epochs
        ("Iteration 0 (5.50154 s), loss = 6.92188", 0, 6.92188, None),
        ("Iteration 1 (0.0183 s), 0/30ep, loss = 6.9", 1, 6.9, None),
        ("Iteration 100 (9.8 iter/s, 10.2s/100 iter), 0.5/30ep, loss = 2.1", 100, 2.1, 9.8),
        ("Iteration 2 (296.5 iter/s, 0.00337268s/100 iter), loss = 2.19417", 2, 2.19417, 296.5),
    ],
)
def test_display_line_formats(line: str, iteration: int, loss: float, speed: float | None
                              ) -> None:
    (row,) = parse_log([P + line + "\n"]).train
    assert row.iteration == iteration
    assert same(row.loss, loss)
    assert same(row.speed, math.nan if speed is None else speed)


def test_lr_without_display_line_gets_its_own_row() -> None:
    log = parse_log(glog("Iteration 0, loss = 1", "Iteration 0, lr = 0.1",
                         "Iteration 50, lr = 0.05"))
    assert [(r.iteration, r.lr) for r in log.train] == [(0, 0.1), (50, 0.05)]
    assert math.isnan(log.train[1].loss)


def test_lr_before_its_display_line_is_the_same_row() -> None:
    """2014: `Iteration N, lr` comes first; it opens row N and the display line fills it in."""
    log = parse_log(glog("Iteration 100, lr = 0.1", "Iteration 100, loss = 1",
                         "Iteration 200, lr = 0.09", "Iteration 300, loss = 0.5",
                         "Iteration 300, lr = 0.08", "Iteration 400, lr = 0.07",
                         "Iteration 400, loss = nan"))
    rows = [(r.iteration, r.loss, r.lr) for r in log.train]
    assert [row[0] for row in rows] == [100, 200, 300, 400]
    assert rows[0] == (100, 1.0, 0.1) and rows[2] == (300, 0.5, 0.08)
    assert math.isnan(rows[1][1]) and rows[1][2] == 0.09  # an lr line alone keeps its row
    assert math.isnan(rows[3][1]) and rows[3][2] == 0.07 and log.runs[0].nan


def test_nvidia_caffe_0_17_lines() -> None:
    """Epochs before the loss, and momentum, weight decay and gradient scale after the lr."""
    log = parse_log(glog(
        "Iteration 0 (4.1 s), 0/30ep, loss = 6.9",
        "    Train net output #0: loss = 6.9 (* 1 = 6.9 loss)",
        "Iteration 0, lr = 0.02, m = 0.9, wd = 0.0005, gs = 1",
        "Iteration 100 (9.8 iter/s, 10.2s/100 iter), 0.5/30ep, loss = 2.1",
        "    Train net output #0: loss = 2.05 (* 1 = 2.05 loss)",
        "Iteration 100, lr = 0.0198, m = 0.9, wd = 0.0005, gs = 1",
    ))
    series = log.series()
    assert series["train.iteration"] == [0, 100]
    assert series["train.loss"] == [6.9, 2.1] and series["train.lr"] == [0.02, 0.0198]
    assert series["train.output.loss"] == [6.9, 2.05]
    assert math.isnan(series["train.speed"][0]) and series["train.speed"][1] == 9.8


def test_an_lr_row_is_not_completed_across_runs() -> None:
    log = parse_log(glog("Iteration 100, lr = 0.1", "Solving LeNet", "Iteration 100, loss = 1"))
    assert [(r.iteration, r.run) for r in log.train] == [(100, 0), (100, 1)]


def test_duplicate_train_output_names_and_reserved_names() -> None:
    log = parse_log(glog(
        "Iteration 10, loss = 1.5",
        "    Train net output #0: loss = 1 (* 1 = 1 loss)",
        "    Train net output #1: loss = 2 (* 0.5 = 1 loss)",
        "    Train net output #2: lr = 7",
        "    Train net output #3: acc/top-1 = 0.5",
        "    Train net output #4: loss = 3",
        "Iteration 10, lr = 0.01",
    ))
    (row,) = log.train
    assert row.outputs == {"loss": 1.0, "loss#2": 2.0, "lr": 7.0, "acc/top-1": 0.5,
                           "loss#3": 3.0}
    assert row.weighted == {"loss#2": 1.0}  # only where the weight is not 1
    series = log.series()
    assert series["train.loss"] == [1.5] and series["train.lr"] == [0.01]
    assert series["train.output.loss"] == [1.0] and series["train.output.lr"] == [7.0]
    assert series["train.loss#2"] == [2.0] and series["train.loss#2.weighted"] == [1.0]
    assert series["train.acc/top-1"] == [0.5] and series["train.loss#3"] == [3.0]


def test_two_test_nets_make_two_series_groups() -> None:
    log = parse_log(glog(
        "Iteration 0, Testing net (#0)",
        "    Test net output #0: accuracy = 0.5",
        "Iteration 0, Testing net (#1)",
        "    Test net output #0: accuracy = 0.25",
        "    Test net output #1: top-5/acc = 0.75",
        "Iteration 0, loss = 2",
        "Iteration 100, Testing net (#0)",
        "    Test net output #0: accuracy = 0.6",
        "Iteration 100, Testing net (#1)",
        "    Test net output #0: iteration = 9",
    ))
    series = log.series()
    assert series["test.iteration"] == [0, 100] and series["test.accuracy"] == [0.5, 0.6]
    assert series["test1.iteration"] == [0, 100]
    assert series["test1.accuracy"][0] == 0.25 and math.isnan(series["test1.accuracy"][1])
    assert series["test1.top-5/acc"][0] == 0.75
    assert series["test1.output.iteration"][1] == 9.0
    assert "test.run" not in series  # train.run tells the runs apart
    assert_series_shape(series)


def test_2014_test_scores() -> None:
    log = parse_log(glog("Iteration 100, Testing net (#0)", "Test score #0: 0.9",
                         "Test score #1: 0.3", "Iteration 100, loss = 0.2"))
    assert log.test[0].outputs == {"score#0": 0.9, "score#1": 0.3}
    assert log.series()["test.score#1"] == [0.3]


def test_2014_testing_lines_without_a_net_number() -> None:
    """The first 2014 releases had one test net and printed `Iteration N, Testing net`: the
    block is net 0 at iteration N, also before any training line and between displays."""
    log = parse_log(glog("Solving LeNet", "Iteration 0, Testing net", "Test score #0: 0.1",
                         "Iteration 100, lr = 0.01", "Iteration 100, loss = 0.3",
                         "Iteration 150, Testing net", "Test score #0: 0.9"))
    series = log.series()
    assert series["test.iteration"] == [0, 150]
    assert series["test.score#0"] == [0.1, 0.9]
    assert [row.net for row in log.test] == [0, 0]


def test_skipped_lines_lose_no_point() -> None:
    """glog headers, W/E lines, stack traces, Python logging and prototxt echoes in between."""
    noise = [
        "Log file created at: 2015/08/21 09:21:08\n",
        "Running on machine: host\n",
        "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n",
        "W0101 10:00:00.000000  4242 net.cpp:1] Iteration is not a point\n",
        "E0101 10:00:00.000000  4242 upgrade_proto.cpp:636] Input NetParameter\n",
        "INFO:root:Iteration 3 of my wrapper, loss: 5\n",
        "2017-01-01 10:00:00,000 - train.py - INFO - epoch 1\n",
        "    @     0x7fa7d8316e6d  (unknown)\n",
        "  base_lr: 0.01\n",
        "layer {\n",
        "}\n",
        "\n",
        "\x00\ufffd\ufffd garbage \x1b[31m\n",
    ]
    original = (LOGS / LENET).read_text().splitlines(keepends=True)
    mixed = [piece for line in original for piece in (line, *random.Random(1).sample(noise, 3))]
    assert_same_series(parse_log(mixed).series(), read(LENET).series())


def test_run_boundaries_and_ends() -> None:
    log = parse_log([*glog(
        "Initializing solver from parameters: ",
        "Starting Optimization",  # still the same start-up
        "Solving LeNet",
        "Iteration 0, loss = 2",
        "Snapshotting to binary proto file a_iter_0.caffemodel",
        # a new process started: the first run ended with no word (killed): cut
        "Initializing solver from parameters: ",
        "Solving LeNet",
        "Restoring previous solver status from a_iter_0.solverstate",
        "Iteration 0, loss = 1.9",
        "Optimization stopped early.",
        "Optimization Done.",  # caffe.cpp says Done even after a stop
        "Starting Optimization",
        "Iteration 5, loss = 1",
        "Optimization Done.",
        "Solving LeNet",
        "Iteration 0, loss = nan",
    ), "F0101 10:00:01.000000  4242 syncedmem.cpp:56] Check failed: error == cudaSuccess\n",
        "*** Check failure stack trace: ***\n"])
    assert [run.end for run in log.runs] == ["cut", "stopped", "done", "failed"]
    assert [run.resumed_from for run in log.runs] == [None, "a_iter_0.solverstate", None, None]
    assert [run.nan for run in log.runs] == [False, False, False, True]
    assert [run.net for run in log.runs] == ["LeNet", "LeNet", None, "LeNet"]
    assert [row.run for row in log.train] == [0, 1, 2, 3]
    series = log.series()
    assert series["runs"] == 4 and series["optimization_done"] is False
    assert series["stopped_early"] is True and series["nan"] is True
    assert series["fatal"] == "Check failed: error == cudaSuccess"
    assert series["final_iteration"] == 0


def test_snapshot_forms() -> None:
    log = parse_log(glog(
        "Iteration 40, loss = 1",
        "Snapshotting to binary proto file out/a_iter_50.caffemodel",
        "Snapshotting solver state to binary proto file out/a_iter_50.solverstate",
        "Snapshotting to HDF5 file out/a_iter_60.caffemodel.h5",
        "Snapshotting solver state to HDF5 file out/a_iter_60.solverstate.h5",
        "Snapshotting to out/old_iter_70",  # 2014: no kind of file, no extension
        "Snapshotting solver state to out/old_iter_70.solverstate",
        "Snapshotting to binary proto file out/with space_iter_80.caffemodel\r",
    ))
    assert [(s.iteration, s.kind, s.path) for s in log.snapshots] == [
        (50, "weights", "out/a_iter_50.caffemodel"),
        (50, "solverstate", "out/a_iter_50.solverstate"),
        (60, "weights", "out/a_iter_60.caffemodel.h5"),
        (60, "solverstate", "out/a_iter_60.solverstate.h5"),
        (40, "weights", "out/old_iter_70"),  # no `_iter_N.` suffix: the last iteration seen
        (70, "solverstate", "out/old_iter_70.solverstate"),
        (80, "weights", "out/with space_iter_80.caffemodel"),
    ]


def test_fatal_signal_marks_the_run_failed() -> None:
    log = parse_log([
        *glog("Solving X", "Iteration 0, loss = 1"),
        "*** Aborted at 1491234567 (unix time) try \"date -d @1491234567\" ***\n",
        "*** SIGSEGV (@0x0) received by PID 4242 (TID 0x7f) from PID 0; stack trace: ***\n",
    ])
    assert log.runs[0].end == "failed" and log.fatal == "SIGSEGV"


def test_empty_and_test_only_logs() -> None:
    empty = parse_log([]).series()
    assert empty == {"runs": 0, "optimization_done": False, "stopped_early": False,
                     "nan": False}
    only_test = parse_log(glog("    Test net output #0: accuracy = 0.5")).series()
    assert only_test["runs"] == 0 and "test.iteration" not in only_test  # no iteration known


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=120), max_size=40))
def test_never_raises_on_random_text(lines: list[str]) -> None:
    assert_series_shape(parse_log(lines).series())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(EXPECTED)), st.integers(min_value=0), st.binary(max_size=40))
def test_never_raises_on_cut_and_garbled_real_logs(name: str, cut: int, junk: bytes) -> None:
    raw = (LOGS / name).read_bytes()
    cut %= len(raw) + 1
    text = (raw[:cut] + junk + raw[cut:cut + 2000]).decode("utf-8", errors="replace")
    log = parse_log(text.splitlines(keepends=True))
    assert_series_shape(log.series())
    assert_series_shape(log.last_process().series())


def test_never_raises_on_odd_iterables() -> None:
    def failing():
        yield P + "Iteration 1, loss = 1\n"
        raise OSError("disk gone")

    assert len(parse_log(failing()).train) == 1
    assert parse_log([None, 3, b"\xff\xfe", P + "Iteration 2, loss = 1"]).train[0].iteration == 2
    huge = P + "Iteration " + "9" * 5000 + ", loss = 1"
    assert parse_log([huge]).train == []


def test_row_classes_are_plain_and_readable() -> None:
    log = read(LENET)
    assert isinstance(log.train[0], TrainRow) and isinstance(log.test[0], TestRow)
    assert "iteration=0" in repr(log.train[0]) and "net=0" in repr(log.test[0])
    assert not hasattr(TrainRow, "__dataclass_fields__")
