"""The README's lifecycle story runs as written (examples/lifecycle/run.sh): Alice trains (a
Caffe stand-in that writes a real Caffe log), Bob edits solver.prototxt outside prov and
trains; `prov runs` compares them, `prov stale` says why the weights are stale after the
training data changes, `prov rerun` brings them up to date, and a template of Bob's run swept
over base_lr gives three more runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import PROV

SCRIPT = Path(__file__).parent.parent / "examples" / "lifecycle" / "run.sh"


def test_the_lifecycle_story_runs_as_the_readme_tells_it(tmp_path):
    work = tmp_path / "lifecycle"
    env = {**os.environ, "PATH": f"{Path(PROV).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PROV_AGENT", None)
    proc = subprocess.run(["bash", str(SCRIPT), str(work)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert ("snapshots/faces_iter_500.caffemodel <- caffe train #2 <- data/train.csv changed "
            "outside prov") in out
    assert "prov stale: 0 stale outputs" in out

    def runs(*args: str) -> list[dict]:
        found = subprocess.run([PROV, "runs", "--json", *args], cwd=work, env=env,
                               capture_output=True, text=True, check=True)
        return json.loads(found.stdout)["runs"]

    by_name = {run["name"]: run for run in runs()}
    alice, bob = by_name["caffe train #1"], by_name["caffe train #2"]
    assert (alice["parameters"]["caffe.base_lr"], bob["parameters"]["caffe.base_lr"]) == (
        0.01, 0.001)
    bobs = subprocess.run([PROV, "log", "--agent", "bob@example.com", "--json"], cwd=work,
                          env=env, capture_output=True, text=True, check=True)
    assert [entry["name"] for entry in json.loads(bobs.stdout)] == ["caffe train #2"]
    accuracy = {name: run["metrics"]["caffe.test.accuracy"]["final"]
                for name, run in by_name.items()}
    assert accuracy["caffe train #1"] > accuracy["caffe train #2"] > 0  # from the logs
    rerun = by_name["caffe train #3"]
    assert rerun["parameters"]["caffe.base_lr"] == 0.001
    swept = [run for run in runs() if run["name"] not in (
        "caffe train #1", "caffe train #2", "caffe train #3")]
    assert sorted(run["parameters"]["caffe.base_lr"] for run in swept) == [0.001, 0.01, 0.1]
    [sweep] = {tag for run in swept for tag in run["tags"]}
    assert f"== prov runs --sweep {sweep}" in out
    assert sorted(run["name"] for run in runs("--sweep", sweep)) == sorted(
        run["name"] for run in swept)
    status = subprocess.run(["git", "status", "--short"], cwd=work, capture_output=True,
                            text=True, check=True).stdout
    assert "solver.prototxt" in status  # Bob's edit, as he left it: the sweep put it back
    assert (work / "solver.prototxt").read_text().count("base_lr: 0.001") == 1
