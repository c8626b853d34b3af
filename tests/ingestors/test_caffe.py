"""The Caffe ingestor's hooks, with hand-built contexts over copies of the real test data."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from provgraph.capture.shell import parse_pipeline
from provgraph.ingestors.caffe.ingestor import (
    CaffeIngestor,
    caffe_flags,
    homogeneous,
    log_source,
    solver_properties,
)

DATA = Path(__file__).parents[1] / "data" / "caffe"
SOLVERS, LOGS = DATA / "solvers", DATA / "logs"
RMSPROP = "BVLC_caffe__lenet_solver_rmsprop.prototxt"
LENET_LOG = "lifeng14_caffe__lenet_train_complete.log"
INTEL_LOG = "bobhuynh_Intel__caffe.log"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root with a working folder `exp` holding a solver copy."""
    root = tmp_path / "repo"
    (root / "exp").mkdir(parents=True)
    shutil.copy(SOLVERS / RMSPROP, root / "exp" / "solver.prototxt")
    return root


def context(root: Path, argv: list[str], **extra) -> dict:
    base = {"command": " ".join(argv), "argv": argv, "cwd": str(root / "exp"),
            "root": str(root), "redirects": [], "commands": [argv]}
    base.update(extra)
    return base


def after_context(root: Path, argv: list[str], stderr: Path | None, **extra) -> dict:
    streams = {"stderr": str(stderr)} if stderr is not None else {}
    return context(root, argv, exit_code=0, streams=streams, changes=[], **extra)


def captured(root: Path, log: str | None) -> Path:
    """The framework's copy of stderr: a real log, or empty when stderr went elsewhere."""
    path = root.parent / "captured-stderr"
    if log is None:
        path.write_bytes(b"")
    else:
        shutil.copy(LOGS / log, path)
    return path


TRAIN = ["caffe", "train", "--solver=solver.prototxt"]


# --- which commands --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "matches"),
    [
        ("caffe train --solver=s.prototxt", True),
        ("./build/tools/caffe train -solver s.prototxt", True),
        ("caffe.bin test -model m -weights w", True),
        ("/opt/caffe/bin/caffe time -model m", True),
        ("mpirun -n 2 caffe train -solver s", True),
        ("caffe device_query -gpu 0", False),
        ("caffeine train", False),
        ("python caffe_train.py", False),
        ("mycaffe train", False),
    ],
)
def test_pattern(command: str, matches: bool) -> None:
    assert bool(CaffeIngestor.pattern.search(command)) is matches


@pytest.mark.parametrize(
    ("argv", "subcommand", "flags"),
    [
        (["caffe", "train", "-solver", "s.pt"], "train", {"solver": ["s.pt"]}),
        (["caffe", "train", "--solver", "s.pt"], "train", {"solver": ["s.pt"]}),
        (["caffe", "train", "-solver=s.pt"], "train", {"solver": ["s.pt"]}),
        (["caffe", "train", "--solver=s.pt"], "train", {"solver": ["s.pt"]}),
        (["caffe", "-solver", "s.pt", "train"], "train", {"solver": ["s.pt"]}),
        (["caffe", "train", "-solver", "s.pt", "-weights", "a.caffemodel,b.caffemodel",
          "-gpu", "all"], "train",
         {"solver": ["s.pt"], "weights": ["a.caffemodel,b.caffemodel"], "gpu": ["all"]}),
        (["caffe", "train", "--solver=s.pt", "--snapshot=x_iter_10.solverstate"], "train",
         {"solver": ["s.pt"], "snapshot": ["x_iter_10.solverstate"]}),
        (["caffe", "test", "-model", "m.pt", "-weights", "w", "-iterations", "100"], "test",
         {"model": ["m.pt"], "weights": ["w"], "iterations": ["100"]}),
        (["caffe", "train", "-alsologtostderr", "-solver", "s.pt"], "train",
         {"alsologtostderr": [""], "solver": ["s.pt"]}),
        (["caffe", "train", "--", "-solver", "s.pt"], "train", {}),
        (["mpirun", "-np", "4", "caffe", "train", "-solver", "s.pt"], "train",
         {"solver": ["s.pt"]}),
        (["caffe"], None, {}),
        (["python", "train.py"], None, {}),
    ],
)
def test_caffe_flags(argv: list[str], subcommand: str | None, flags: dict) -> None:
    assert caffe_flags(argv) == (subcommand, flags)


# --- before ----------------------------------------------------------------------------


def test_before_reads_the_solver_into_hyper_parameters(repo: Path) -> None:
    fragment = CaffeIngestor().before(context(repo, TRAIN))
    activity = fragment["activity"]
    assert activity["solver"] == "solver.prototxt"
    assert activity["base_lr"] == 0.01 and activity["lr_policy"] == "inv"
    assert activity["gamma"] == 0.0001 and activity["power"] == 0.75
    assert activity["momentum"] == 0.0 and activity["weight_decay"] == 0.0005
    assert activity["max_iter"] == 10000 and activity["type"] == "RMSProp"
    assert activity["rms_decay"] == 0.98 and activity["test_iter"] == 100
    assert activity["net"] == "examples/mnist/lenet_train_test.prototxt"
    assert "solver_error" not in activity
    assert not any(key.startswith("caffe.") for key in activity)  # the framework prefixes
    # Caffe opens the net relative to its working directory, not the solver's folder
    assert fragment["inputs"] == ["solver.prototxt", "examples/mnist/lenet_train_test.prototxt"]


@pytest.mark.parametrize(
    ("solver", "expected"),
    [
        ("qiexing_caffe-regression__fkp_solver.prototxt",
         {"type": "Nesterov", "base_lr": 0.001, "max_iter": 1000000, "test_iter": 1}),
        ("bobhuynh_Intel__solver.prototxt",
         {"type": "SGD", "weight_decay": 2.0e-4, "clip_gradients": -1.0, "power": 0.5}),
        ("ducha-aiki_caffenet-benchmark__solver_bn2.prototxt",
         {"type": "SGD", "lr_policy": "step", "stepsize": 2000, "test_interval": 1000}),
    ],
)
def test_before_on_each_shared_solver(repo: Path, solver: str, expected: dict) -> None:
    shutil.copy(SOLVERS / solver, repo / "exp" / "solver.prototxt")
    activity = CaffeIngestor().before(context(repo, TRAIN))["activity"]
    for key, value in expected.items():
        assert activity[key] == value and type(activity[key]) is type(value), key
    assert "solver_type" not in activity


def test_before_collects_every_input_flag(repo: Path) -> None:
    (repo / "exp" / "solver.prototxt").write_text(
        'train_net: "nets/train.prototxt"\ntest_net: "nets/test_a.prototxt"\n'
        'test_net: "nets/test_b.prototxt"\ntest_iter: 10\ntest_iter: 20\nbase_lr: 1\n'
        "test_state { stage: 'a' }\ntest_state { stage: 'b' level: 2 }\n"
        'train_state { level: 1 stage: "x" stage: "y" }\n'
        "net_param { name: 'Inline' layer { name: 'data' } }\n")
    argv = ["caffe", "train", "-solver", "solver.prototxt", "-weights", "a.caffemodel,b.caffemodel",
            "--snapshot=x_iter_10.solverstate"]
    fragment = CaffeIngestor().before(context(repo, argv))
    assert fragment["inputs"] == [
        "solver.prototxt", "a.caffemodel", "b.caffemodel", "x_iter_10.solverstate",
        "nets/train.prototxt", "nets/test_a.prototxt", "nets/test_b.prototxt"]
    activity = fragment["activity"]
    assert activity["test_iter"] == [10, 20] and activity["base_lr"] == 1.0
    assert activity["test_net"] == ["nets/test_a.prototxt", "nets/test_b.prototxt"]
    assert activity["test_state.0.stage"] == "a" and activity["test_state.1.level"] == 2
    assert activity["train_state.stage"] == ["x", "y"]
    assert activity["net_param.name"] == "Inline"
    assert not any(key.startswith("net_param.layer") for key in activity)
    assert activity["type"] == "SGD"  # no type at all


def test_before_with_a_missing_solver_is_not_an_error(repo: Path) -> None:
    argv = ["caffe", "train", "-solver", "nowhere.prototxt", "-weights", "w.caffemodel"]
    fragment = CaffeIngestor().before(context(repo, argv))
    assert fragment["inputs"] == ["nowhere.prototxt", "w.caffemodel"]
    assert fragment["activity"]["solver"] == "nowhere.prototxt"
    assert fragment["activity"]["solver_error"] == \
        "cannot read nowhere.prototxt: No such file or directory"


def test_before_with_an_unparsable_solver_says_where(repo: Path) -> None:
    (repo / "exp" / "solver.prototxt").write_text('net: "n.prototxt"\nbase_lr 0.1\n')
    fragment = CaffeIngestor().before(context(repo, TRAIN))
    assert fragment["activity"]["solver_error"] == \
        "solver.prototxt: line 2: expected ':' after 'base_lr'"
    assert fragment["inputs"] == ["solver.prototxt"]


def test_before_caffe_test_and_time(repo: Path) -> None:
    argv = ["caffe", "test", "-model", "m.prototxt", "-weights", "w.caffemodel"]
    assert CaffeIngestor().before(context(repo, argv)) == {
        "activity": {}, "inputs": ["w.caffemodel", "m.prototxt"]}
    assert CaffeIngestor().before(context(repo, ["caffe", "time"])) is None


def test_solver_properties_are_flat_and_homogeneous() -> None:
    properties = solver_properties({
        "a": {"b": {"c": 1}}, "mixed": [1, 2.5], "odd": [1, "x", True], "flags": [True],
        "empty": [], "s": "x",
    })
    assert properties == {"a.b.c": 1, "mixed": [1.0, 2.5], "odd": ["1", "x", "true"],
                          "flags": [True], "empty": [], "s": "x"}
    assert homogeneous([1, 2]) == [1, 2] and homogeneous([math.inf, 1]) == [math.inf, 1.0]


# --- after -----------------------------------------------------------------------------


def test_after_reads_the_captured_stderr(repo: Path) -> None:
    stderr = captured(repo, LENET_LOG)
    fragment = CaffeIngestor().after(after_context(repo, TRAIN, stderr))
    activity = fragment["activity"]
    assert activity["train.iteration"][:3] == [0, 100, 200] and len(activity["train.loss"]) == 101
    assert activity["train.lr"][1] == 0.00992565
    assert activity["test.accuracy"][-1] == 0.9906
    assert activity["runs"] == 1 and activity["optimization_done"] is True
    assert activity["stopped_early"] is False and activity["nan"] is False
    assert activity["final_iteration"] == 10000 and "resumed_from" not in activity
    # snapshots are relative to caffe's working directory, entities to the repository root
    assert fragment["entities"] == {
        "exp/examples/mnist/lenet_iter_5000.caffemodel":
            {"snapshot_kind": "weights", "snapshot_iteration": 5000},
        "exp/examples/mnist/lenet_iter_5000.solverstate":
            {"snapshot_kind": "solverstate", "snapshot_iteration": 5000},
        "exp/examples/mnist/lenet_iter_10000.caffemodel":
            {"snapshot_kind": "weights", "snapshot_iteration": 10000},
        "exp/examples/mnist/lenet_iter_10000.solverstate":
            {"snapshot_kind": "solverstate", "snapshot_iteration": 10000},
    }


def shell_context(root: Path, text: str, stderr: Path | None, **extra) -> dict:
    """The after-hook context of `prov 'TEXT'`, built as capture.py builds it: the words of
    each command, and the pipeline's redirections without the `>&` duplications."""
    pipeline = parse_pipeline(text)
    commands = [c.argv for c in pipeline if c.argv]
    redirects = [{"op": r.op, "fd": r.fd, "target": r.target} for c in pipeline
                 for r in c.redirects if r.op not in (">&", "<&", "<<<")]
    argv = next(words for words in commands if CaffeIngestor.pattern.search(" ".join(words)))
    ctx = after_context(root, argv, stderr, command=text, commands=commands,
                        redirects=redirects)
    ctx.update(extra)
    return ctx


@pytest.mark.parametrize(
    "text",
    [
        "caffe train --solver=solver.prototxt 2> logs/train.log",
        "caffe train --solver=solver.prototxt > logs/train.log 2>&1",
        "caffe train --solver=solver.prototxt &> logs/train.log",
        "caffe train --solver=solver.prototxt >& logs/train.log",
        "GLOG_logtostderr=1 caffe train --solver=solver.prototxt 2>$LOGDIR/train.log",
        "caffe train --solver=solver.prototxt 2>&1 1>/dev/null 2>logs/train.log",
    ],
)
def test_after_reads_the_file_stderr_was_redirected_to(repo: Path, text: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGDIR", "logs")
    (repo / "exp" / "logs").mkdir()
    shutil.copy(LOGS / LENET_LOG, repo / "exp" / "logs" / "train.log")
    ctx = shell_context(repo, text, captured(repo, None))
    assert log_source(ctx) == (str(repo / "exp" / "logs" / "train.log"), False)
    activity = CaffeIngestor().after(ctx)["activity"]
    assert activity["train.iteration"][-1] == 10000 and activity["optimization_done"] is True


@pytest.mark.parametrize(
    "text",
    [
        "caffe train --solver=solver.prototxt 2>&1 > out.txt",  # stderr went to stdout first
        "caffe train --solver=solver.prototxt > out.txt",
        "caffe train --solver=solver.prototxt | tee out.txt",  # only stdout goes down the pipe
    ],
)
def test_after_ignores_a_file_that_does_not_get_stderr(repo: Path, text: str) -> None:
    shutil.copy(LOGS / LENET_LOG, repo / "exp" / "out.txt")
    stderr = captured(repo, "lifeng14_caffe__lenet_train_fatal.log")
    ctx = shell_context(repo, text, stderr)
    assert log_source(ctx) == (str(stderr), False)
    assert CaffeIngestor().after(ctx)["activity"]["fatal"].startswith("Cannot write")


@pytest.mark.parametrize(
    "text",
    [
        "caffe train --solver=solver.prototxt 2>&1 | tee train.log",
        "caffe train --solver=solver.prototxt |& tee train.log",
        "caffe train --solver=solver.prototxt 2>&1 | tee -i train.log copy.log",
        "caffe train --solver=solver.prototxt 2>&1 | grep -v Waiting | tee -- train.log",
        "./build/tools/caffe train --solver=solver.prototxt 2>&1 | tee train.log",
    ],
)
def test_after_reads_the_tee_file(repo: Path, text: str) -> None:
    shutil.copy(LOGS / LENET_LOG, repo / "exp" / "train.log")
    ctx = shell_context(repo, text, captured(repo, None),
                        changes=[{"path": "exp/train.log", "status": "A"}])
    assert log_source(ctx) == (str(repo / "exp" / "train.log"), False)
    assert CaffeIngestor().after(ctx)["activity"]["test.iteration"][-1] == 10000


def test_context_redirects_are_used_when_the_command_is_not_shell_syntax(repo: Path) -> None:
    shutil.copy(LOGS / LENET_LOG, repo / "exp" / "train.log")
    ctx = after_context(repo, TRAIN, captured(repo, None), command="(caffe train) 2> train.log",
                        redirects=[{"op": ">", "fd": 2, "target": "train.log"}])
    assert log_source(ctx) == (str(repo / "exp" / "train.log"), False)


APPENDS = [
    "caffe train --solver=solver.prototxt 2>> train.log",
    "caffe train --solver=solver.prototxt >> train.log 2>&1",
    "caffe train --solver=solver.prototxt &>> train.log",
    "caffe train --solver=solver.prototxt 2>&1 | tee -a train.log",
    "caffe train --solver=solver.prototxt 2>&1 | tee --append train.log",
]


@pytest.mark.parametrize("text", APPENDS)
def test_an_appended_log_gives_only_what_this_command_wrote(repo: Path, text: str) -> None:
    """The before hook notes the file's size; the after hook reads what was added since."""
    log = repo / "exp" / "train.log"
    shutil.copy(LOGS / INTEL_LOG, log)  # two runs of earlier commands
    ingestor = CaffeIngestor()
    ingestor.before(shell_context(repo, text, None))
    with open(log, "ab") as file:
        file.write((LOGS / LENET_LOG).read_bytes())  # what this command appends
    ctx = shell_context(repo, text, captured(repo, None),
                        changes=[{"path": "exp/train.log", "status": "M"}])
    assert log_source(ctx) == (str(log), True)
    activity = ingestor.after(ctx)["activity"]
    assert activity["runs"] == 1 and activity["run_end"] == ["done"]
    assert activity["train.iteration"][0] == 0 and activity["final_iteration"] == 10000
    assert "resumed_from" not in activity


@pytest.mark.parametrize(("text", "status", "runs"), [
    *[(text, "M", 1) for text in APPENDS],
    (APPENDS[0], "A", 2),  # the file is new: all of it is this command's
    ("caffe train --solver=solver.prototxt 2> train.log", "M", 2),  # truncated, not appended
])
def test_an_appended_log_without_a_before_size_keeps_the_last_process(
        repo: Path, text: str, status: str, runs: int) -> None:
    """When the size could not be noted (no before hook), the runs logged by the process
    that wrote last are this command's."""
    shutil.copy(LOGS / INTEL_LOG, repo / "exp" / "train.log")
    ctx = shell_context(repo, text, captured(repo, None),
                        changes=[{"path": "exp/train.log", "status": status}])
    activity = CaffeIngestor().after(ctx)["activity"]
    assert activity["runs"] == runs
    assert activity["train.iteration"][0] == (10 if runs == 1 else 0)
    assert activity["stopped_early"] is (runs == 2)
    assert activity["resumed_from"][0].endswith("snapshot_iter_10.solverstate")


def test_after_skips_snapshots_outside_the_repository(repo: Path) -> None:
    fragment = CaffeIngestor().after(after_context(repo, TRAIN, captured(repo, INTEL_LOG)))
    assert "entities" not in fragment  # /workspace/... is not in the repository
    assert fragment["activity"]["run_end"] == ["stopped", "done"]


def test_after_with_no_log_at_all(repo: Path) -> None:
    assert CaffeIngestor().after(after_context(repo, TRAIN, None)) is None
    # stderr went to the terminal through stdout (`2>&1`): the captured stream is empty
    assert CaffeIngestor().after(after_context(repo, TRAIN, captured(repo, None))) is None
    ctx = after_context(repo, TRAIN, None,
                        redirects=[{"op": ">", "fd": 2, "target": "missing.log"}])
    assert CaffeIngestor().after(ctx) is None


def test_after_caffe_test_keeps_only_a_fatal_error(repo: Path) -> None:
    argv = ["caffe", "test", "-model", "m.prototxt"]
    assert CaffeIngestor().after(after_context(repo, argv, captured(repo, LENET_LOG))) is None
    stderr = captured(repo, "lifeng14_caffe__lenet_train_fatal.log")
    fragment = CaffeIngestor().after(after_context(repo, argv, stderr))
    assert fragment == {"activity": {"fatal": "Cannot write to snapshot prefix "
                                              "'examples/mnist/lenet'.  Make sure that the "
                                              "directory exists and is writeable."}}


@pytest.mark.parametrize("log", sorted(p.name for p in LOGS.glob("*.log")))
def test_after_on_every_shared_log(repo: Path, log: str) -> None:
    fragment = CaffeIngestor().after(after_context(repo, TRAIN, captured(repo, log)))
    activity = fragment["activity"]
    for key, value in activity.items():
        assert isinstance(value, bool | int | float | str | list), key
        if isinstance(value, list):
            assert len({type(item) for item in value}) <= 1, key
    assert activity["runs"] >= 1
