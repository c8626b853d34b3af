"""The Cypher queries the README shows, run on the real server against a real history."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = (Path(__file__).parent.parent.parent / "README.md").read_text()
QUERIES = {block.splitlines()[0].removeprefix("// ").strip(): block
           for block in re.findall(r"```cypher\n(.*?)```", README, re.S)}

NOISY = """\
import random, sys
rows = open(sys.argv[1]).read().split()
open("sample.txt", "w").write(random.choice(rows) + str(random.random()) + "\\n")
"""
TRAIN = """\
import sys
lr = sys.argv[sys.argv.index("--lr") + 1]
open("model.txt", "w").write(open(sys.argv[1]).read() + lr + "\\n")
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory, neo4j_uri):
    """Run every README query once, on one history (captures are the slow part)."""
    from conftest import Repo, git_env

    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text("[user]\n\tname = Alice\n\temail = alice@example.com\n")
    root = tmp_path_factory.mktemp("history")
    repo = Repo(root, git_env(home))
    repo.git("init", "-q")
    repo.write("data.csv", "1\n2\n3\n")
    repo.write("README.md", f"{root}\n")  # a project of its own on the shared server
    repo.write("noisy.py", NOISY)
    repo.write("train.py", TRAIN)
    repo.commit_all("start")
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    repo.ok("config", "set", "neo4j.autosync", "false")
    repo.ok("python3", "noisy.py", "data.csv")
    repo.ok("python3", "noisy.py", "data.csv")
    repo.ok("python3", "train.py", "data.csv", "--lr", "0.1")
    repo.ok("python3", "train.py", "data.csv", "--lr", "0.01",
            env={"PROV_AGENT": "Bob <bob@example.com>"})
    repo.ok("python3", "train.py", "data.csv", "--lr", "0.1")
    repo.ok("sort", "-o", "sorted.csv", "data.csv")
    repo.ok("cat sorted.csv | head -2 > top.txt")
    from caffe_stand_in import DATA, install_caffe

    solver = DATA / "solvers" / "BVLC_caffe__lenet_solver_rmsprop.prototxt"
    repo.write("solver.prototxt", solver.read_text())
    bin_dir = install_caffe(root.parent / f"{root.name}-bin")
    repo.ok("caffe", "train", "--solver=solver.prototxt", env={
        "PATH": f"{bin_dir}:{repo.env['PATH']}",
        "CAFFE_LOG": str(DATA / "logs" / "lifeng14_caffe__lenet_train_complete.log")})
    params = {"the loss and accuracy series of a training run": [],
              "every parameter combination tried for a script": ["script=train.py"],
              "who last changed a file, and with what command": ["path=model.txt"],
              "every file derived from a given data file": ["path=data.csv"],
              "runs whose output changed while their inputs did not": []}
    assert set(params) <= set(QUERIES), sorted(QUERIES)
    results = {}
    for title, values in params.items():
        args = [arg for value in values for arg in ("--param", value)]
        results[title] = json.loads(repo.ok("cypher", QUERIES[title], *args, "--json").stdout)
    return results


def test_the_loss_and_accuracy_series_of_a_training_run(answers):
    [row] = answers["the loss and accuracy series of a training run"]
    assert row["run"] == "caffe train #8"
    assert row["base_lr"] == 0.01
    assert row["iteration"][:3] == [0, 100, 200] and row["iteration"][-1] == 10000
    assert len(row["loss"]) == len(row["iteration"]) == 101
    assert row["loss"][0] > row["loss"][-1]
    assert len(row["accuracy"]) == len(row["test_iteration"]) == 21
    assert row["accuracy"][-1] > 0.98


def test_every_parameter_combination(answers):
    assert answers["every parameter combination tried for a script"] == [
        {"arguments": ["train.py", "data.csv", "--lr", "0.1"], "runs": 2, "exit_codes": [0, 0]},
        {"arguments": ["train.py", "data.csv", "--lr", "0.01"], "runs": 1, "exit_codes": [0]},
    ]


def test_who_last_changed_a_file(answers):
    [row] = answers["who last changed a file, and with what command"]
    assert (row["version"], row["agent"], row["command"]) == (
        "model.txt@v3", "Alice", "python3 train.py data.csv --lr 0.1")
    assert row["at"].startswith("20")


def test_every_file_derived_from_a_data_file(answers):
    assert answers["every file derived from a given data file"] == [
        {"file": "model.txt", "versions": [1, 2, 3]},
        {"file": "sample.txt", "versions": [1, 2]},
        {"file": "sorted.csv", "versions": [1]},
        {"file": "top.txt", "versions": [1]},
    ]


def test_runs_whose_output_changed_while_inputs_did_not(answers):
    # the noisy script twice on the same data; train.py with the same --lr gave the same model
    assert answers["runs whose output changed while their inputs did not"] == [
        {"first": "python3 noisy.py #1", "second": "python3 noisy.py #2",
         "changed": ["sample.txt"]}]
