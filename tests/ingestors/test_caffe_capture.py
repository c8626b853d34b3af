"""`prov caffe train` end to end, on every real log and solver of the shared test data, through
a `caffe` stand-in on PATH that replays the log on stderr as Caffe would have printed it."""

from __future__ import annotations

import math
import os
import re

import pytest
from caffe_stand_in import DATA, install_caffe
from graph import Graph

from provgraph.ingestors.caffe.log import parse_log

LOGS = sorted(p.name for p in (DATA / "logs").glob("*.log"))

#: Which shared solver goes with which log (a solver from the same project where there is one).
SOLVERS = {
    "bobhuynh_Intel__caffe.log": "bobhuynh_Intel__solver.prototxt",
    "qiexing_caffe-regression__caffe.log": "qiexing_caffe-regression__fkp_solver.prototxt",
}
DEFAULT_SOLVER = "BVLC_caffe__lenet_solver_rmsprop.prototxt"


@pytest.fixture
def caffe(repo, tmp_path):
    """PATH with the stand-in first; returns a function running `prov caffe train`."""
    bin_dir = install_caffe(tmp_path / "bin")

    def run(log: str, *command: str, solver: str = DEFAULT_SOLVER):
        text = (DATA / "solvers" / solver).read_text()
        repo.write("solver.prototxt", text)
        net = re.search(r'^\s*net\s*:\s*"([^"]+)"', text, re.M)
        if net and os.path.isabs(net.group(1)):
            net = None  # a path on the author's machine, outside any repository
        if net:  # the net file the solver names: a used input
            repo.write(net.group(1), 'name: "Net"\n')
        env = {"PATH": f"{bin_dir}{os.pathsep}{repo.env['PATH']}",
               "CAFFE_LOG": str(DATA / "logs" / log)}
        return repo.prov(*command, env=env), (net.group(1) if net else None)

    return run


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) if isinstance(x, float) and isinstance(y, float)
        and math.isnan(x) else x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("log", LOGS)
def test_every_shared_log_through_prov(repo, caffe, log):
    solver = SOLVERS.get(log, DEFAULT_SOLVER)
    proc, net = caffe(log, "caffe", "train", "--solver=solver.prototxt", solver=solver)

    raw = (DATA / "logs" / log).read_bytes()
    assert proc.stderr == raw.decode()  # the terminal sees exactly the log
    expected = parse_log(raw.decode(errors="replace").splitlines()).series()
    graph = Graph.of(repo)
    [run] = graph.activities()
    props = run.properties
    assert props["caffe.solver"] == "solver.prototxt"
    assert "caffe.base_lr" in props and isinstance(props["caffe.base_lr"], float)
    for key, value in expected.items():
        stored = props.get(f"caffe.{key}")
        if isinstance(value, list) and value and isinstance(value[0], float):
            assert same(stored, value), key
        elif value is not None and value != []:
            assert stored == value, key
    used = graph.used(run)
    assert "solver.prototxt@v1" in used
    if net:
        assert f"{net}@v1" in used
    snapshots = [n for n in graph.entities() if "caffe.snapshot_kind" in n.properties]
    # (old Caffe printed "binary proto fileexamples/..." without the space)
    named = re.findall(rb"Snapshotting (?:solver state )?to (?:binary proto file ?)?(\S+)", raw)
    relative = {os.fsdecode(p) for p in named if not p.startswith(b"/")}
    assert {n.properties["path"] for n in snapshots} == relative
    for node in snapshots:
        assert graph.generated(run).count(node.name) == 1
        assert node.properties["caffe.snapshot_kind"] in ("weights", "solverstate")
        assert isinstance(node.properties["caffe.snapshot_iteration"], int)


def test_the_lenet_run_in_detail(repo, caffe):
    proc, _ = caffe("lifeng14_caffe__lenet_train_complete.log", "caffe", "train",
                    "-solver", "solver.prototxt")
    assert proc.returncode == 0
    props = Graph.of(repo).activities()[0].properties
    assert props["caffe.type"] == "RMSProp" and props["caffe.lr_policy"] == "inv"
    assert props["caffe.optimization_done"] is True
    assert props["caffe.train.iteration"][:3] == [0, 100, 200]
    assert props["caffe.train.iteration"][-1] == 10000  # the final display line is kept
    assert len(props["caffe.test.iteration"]) == len(props["caffe.test.accuracy"])
    assert props["caffe.test.accuracy"][-1] > 0.98


@pytest.mark.parametrize("shell", [
    "caffe train --solver=solver.prototxt 2> train.log",
    "caffe train --solver=solver.prototxt 2>&1 | tee train.log",
    "caffe train --solver=solver.prototxt 2>&1",
])
def test_the_log_wherever_stderr_goes(repo, caffe, shell):
    proc, _ = caffe("lifeng14_caffe__lenet_train_complete.log", shell)
    assert proc.returncode == 0
    props = Graph.of(repo).activities()[0].properties
    assert props["caffe.optimization_done"] is True
    assert len(props["caffe.train.iteration"]) == 101
    if "train.log" in shell:
        assert "train.log@v1" in Graph.of(repo).generated(Graph.of(repo).activities()[0])


def test_a_fatal_start_is_recorded_with_its_reason(repo, caffe):
    proc, _ = caffe("lifeng14_caffe__lenet_train_fatal.log", "caffe", "train",
                    "--solver=solver.prototxt")
    assert proc.returncode == 1
    props = Graph.of(repo).activities()[0].properties
    assert props["caffe.fatal"].startswith("Cannot write to snapshot prefix 'examples/mnist/lenet'")
    assert props["caffe.run_end"] == ["failed"]
    assert props["caffe.optimization_done"] is False
    assert "caffe.train.iteration" not in props  # died before iteration 0


def test_series_reach_metrics_and_plot(repo, caffe):
    caffe("lifeng14_caffe__lenet_train_complete.log", "caffe", "train",
          "--solver=solver.prototxt")
    table = repo.ok("metrics", "latest").stdout
    assert "caffe.test.accuracy" in table and "caffe.train.loss" in table
    assert "caffe.train.run" not in table
    png = repo.path("curves.png")
    repo.ok("plot", "latest", "--metric", "test.accuracy", "-o", str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
