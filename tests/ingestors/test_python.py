"""Python scripts: their code, their parameters, and the files they really read."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from graph import Graph

from provgraph.capture.tracing import LIBRARY, audit_env, make_trace_file, read_trace, unavailable
from provgraph.ingestors.python import parse_options

TRAIN = """\
import argparse, subprocess, sys
from helpers import load
import pkg.util
from pkg import models
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--epochs", type=int)
parser.add_argument("--augment", action="store_true")
parser.add_argument("--name")
args = parser.parse_args()
rows = load("data/" + "train.csv")          # a name the command line never shows
open("model.json", "w").write(str(len(rows)))
open("notes.txt", "a").write("written, never read\\n")
open("/etc/hostname").read() if False else None
subprocess.run([sys.executable, "-c", "open('extra.txt').read()"], check=True)
"""


def setup_project(repo):
    repo.write("train.py", TRAIN)
    repo.write("helpers.py", "def load(path):\n    return open(path).read().split()\n")
    repo.write("pkg/__init__.py", "")
    repo.write("pkg/util.py", "from . import helpers2\n")
    repo.write("pkg/helpers2.py", "X = 1\n")
    repo.write("pkg/models.py", "import json\n")
    repo.write("data/train.csv", "1\n2\n3\n")
    repo.write("extra.txt", "x\n")
    repo.write("unrelated.txt", "never opened\n")
    repo.write("notes.txt", "")
    repo.commit_all("project")


def test_code_parameters_and_real_reads(repo):
    setup_project(repo)

    repo.ok("python3", "train.py", "--lr", "0.1", "--epochs=5", "--augment", "--name", "run a")

    graph = Graph.of(repo)
    [run] = graph.activities()
    assert graph.used(run) == [
        "data/train.csv@v1", "extra.txt@v1", "helpers.py@v1", "pkg/__init__.py@v1",
        "pkg/helpers2.py@v1", "pkg/models.py@v1", "pkg/util.py@v1", "train.py@v1"]
    props = run.properties
    assert props["python.script"] == "train.py"
    assert (props["python.args.lr"], props["python.args.epochs"]) == (0.1, 5)
    assert (props["python.args.augment"], props["python.args.name"]) == (True, "run a")
    roles = {graph.nodes[e.target].name: e.properties["role"] for e in graph.edges
             if e.type == "used"}
    assert roles["data/train.csv@v1"] == "read"
    assert roles["pkg/util.py@v1"] == "code"
    assert graph.generated(run) == ["model.json@v1", "notes.txt@v2"]


def test_python_dash_m_and_the_users_own_sitecustomize(repo, tmp_path):
    repo.write("tools/__init__.py", "")
    repo.write("tools/report.py", "print(open('input.txt').read().strip())\n")
    repo.write("input.txt", "hello\n")
    repo.commit_all()
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['MINE'] = 'ran'\n")

    proc = repo.ok("python3", "-m", "tools.report", env={"PYTHONPATH": str(own)})
    assert proc.stdout == "hello\n"
    repo.ok("python3", "-c", "import os; assert os.environ.get('MINE') == 'ran'",
            env={"PYTHONPATH": str(own)})

    graph = Graph.of(repo)
    first = graph.activities()[0]
    assert first.properties["python.module"] == "tools.report"
    assert graph.used(first) == ["input.txt@v1", "tools/__init__.py@v1", "tools/report.py@v1"]


def test_an_unreadable_audit_does_not_break_the_script(repo):
    repo.write("t.py", "import sys; sys.exit(3)\n")
    proc = repo.prov("python3", "-I", "t.py")  # isolated mode: no sitecustomize, no audit
    assert proc.returncode == 3
    [run] = Graph.of(repo).activities()
    assert Graph.of(repo).used(run) == ["t.py@v1"]


FIT = """\
import os
here = os.path.dirname(os.path.abspath(__file__))  # the same files from any folder
data = open(os.path.join(here, "data.csv")).read()
open(os.path.join(here, "..", "out.txt"), "w").write(data)
"""


def test_a_script_is_named_from_the_repository_root_whatever_the_folder(repo):
    repo.write("src/fit.py", FIT)
    repo.write("src/data.csv", "1\n")
    repo.write("notes/keep.txt", "k\n")
    repo.commit_all()
    repo.ok("python3", "src/fit.py")
    repo.ok("python3", "fit.py", cwd=repo.path("src"))
    repo.ok("python3", "../src/fit.py", cwd=repo.path("notes"))
    repo.ok("python3", os.path.join(repo.root, "src", "fit.py"))
    repo.ok("python3", "-c", "print(1)")
    runs = Graph.of(repo).activities()
    assert [a.properties.get("python.script") for a in runs] == ["src/fit.py"] * 4 + [None]
    assert [a.properties.get("subcommand") for a in runs[:4]] == ["src/fit.py"] * 4
    assert [a.name for a in runs[:4]] == [f"python3 src/fit.py #{n}" for n in (1, 2, 3, 4)]
    assert runs[1].properties["operands"] == ["fit.py"]  # the command line as typed
    summary = json.loads(repo.ok("summarize", "--src", "src/data.csv", "--dst", "out.txt@*",
                                 "--format", "json").stdout)
    assert summary["segments"] == 4
    [run] = [n for n in summary["nodes"] if n["kind"] == "Activity"]  # one script, one class
    assert (run["label"], run["count"]) == ("python3 src/fit.py", 4)


def test_a_script_outside_the_repository_keeps_its_name_as_typed(repo, tmp_path):
    elsewhere = tmp_path / "tools" / "tool.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text("print('hi')\n")
    repo.ok("python3", "../tools/tool.py", cwd=repo.root)
    [run] = Graph.of(repo).activities()
    assert run.properties["python.script"] == run.properties["subcommand"] == "../tools/tool.py"


def test_parse_options():
    assert parse_options(["data.csv", "--lr", "1e-3", "-v", "--layers", "3", "--layers", "4",
                          "--dry-run", "--", "--not-an-option"]) == {
        "lr": 0.001, "v": True, "layers": [3, 4], "dry_run": True}
    assert parse_options(["--offset", "-5", "--flag", "--x=a=b"]) == {
        "offset": -5, "flag": True, "x": "a=b"}


def test_parameters_are_queryable(repo):
    repo.write("s.py", "pass\n")
    for lr in ("0.1", "0.01"):
        repo.ok("python3", "s.py", "--lr", lr)
    rows = json.loads(repo.ok(
        "sql", "SELECT properties->>'$.\"python.args.lr\"' AS lr FROM activities ORDER BY started",
        "--json").stdout)
    assert rows == [{"lr": "0.1"}, {"lr": "0.01"}]


def _python_with_hook(tmp_path, preload: bool) -> tuple[list[str], list]:
    """Run a Python reading a file with the audit hook's environment (and the interposer
    when `preload`); what the hook and the trace wrote down."""
    (tmp_path / "data.txt").write_text("x\n")
    trace, audit = tmp_path / "trace", tmp_path / "reads.txt"
    make_trace_file(str(trace))
    env = {**os.environ, **audit_env(str(audit)), "PROV_TRACE_FILE": str(trace),
           "PROV_TRACE_ROOTS": str(tmp_path)}
    if preload:
        env["LD_PRELOAD"] = LIBRARY
    else:
        env.pop("LD_PRELOAD", None)
    subprocess.run([sys.executable, "-c", "open('data.txt').read()"], cwd=tmp_path, env=env,
                   check=True)
    lines = audit.read_text().splitlines() if audit.exists() else []
    return lines, [e.path for e in read_trace(str(trace)).events if e.op == "O"]


def test_the_audit_hook_stands_aside_where_the_interposer_sees_the_reads(tmp_path):
    if unavailable():
        pytest.skip(unavailable())
    hook, traced = _python_with_hook(tmp_path, preload=True)
    assert hook == [] and traced == [str(tmp_path / "data.txt")]


def test_the_audit_hook_records_a_python_the_interposer_is_not_in(tmp_path):
    hook, traced = _python_with_hook(tmp_path, preload=False)
    assert [line.split("\0")[1] for line in hook] == ["data.txt"] and traced == []
