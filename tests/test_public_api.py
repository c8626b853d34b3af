"""The Python API (provgraph/__init__.py, provgraph/project.py, docs/api.md): its names stay,
its examples run, and each command's --json is the library object's to_dict()."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import pytest

import provgraph
import provgraph.project

#: The public names scripts rely on; removing one breaks them (add, never remove).
PUBLIC = {"__version__", "Project", "open_project", "open_store", "ProvError", "NotFound",
          "BadInput", "GitError", "StoreUnavailable", "DocumentError", "ShellSyntaxError",
          "PrototxtError", "Node", "Edge", "Store"}
PROJECT_METHODS = {"capture", "import_document", "log", "find", "show", "status", "run",
                   "lineage", "segment", "summarize", "metrics", "diff", "export", "close",
                   "store", "root"}


def test_every_public_name_is_there_and_nothing_leaks():
    assert set(provgraph.__all__) >= PUBLIC
    for name in provgraph.__all__:
        assert getattr(provgraph, name) is not None, name
    assert not {"annotations", "TYPE_CHECKING", "importlib"} & set(provgraph.__all__)
    with pytest.raises(AttributeError):
        provgraph.no_such_name  # noqa: B018
    assert set(dir(provgraph.Project)) >= PROJECT_METHODS


def test_importing_provgraph_loads_nothing_heavy():
    code = ("import sys, provgraph; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('duckdb', 'click', 'rich', 'sqlglot', 'neo4j', 'prov')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_docs_api_names_every_public_name():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "api.md").read_text()
    missing = [name for name in PUBLIC | {f"Project.{m}" for m in PROJECT_METHODS}
               if f"`{name}" not in text]
    assert not missing, missing


def test_the_module_example_runs(repo):
    repo.write("data.csv", "a,b\n1,2\n")
    repo.commit_all("data")
    failures, tried = doctest.testmod(provgraph.project, extraglobs={"example": repo.root},
                                      optionflags=doctest.ELLIPSIS)
    assert (failures, tried) == (0, 2)


@pytest.fixture
def runs(repo):
    repo.write("train.py", "import sys\nlr = sys.argv[1]\nprint('loss: 0.5')\n"
                           "open('model.txt', 'w').write(lr)\n")
    repo.write(".prov.toml", "[[metrics]]\nmatch = 'train'\nloss = 'loss: ([0-9.]+)'\n")
    repo.commit_all("train")
    repo.ok("trust")
    repo.ok("python3", "train.py", "0.1")
    repo.ok("python3", "train.py", "0.2")
    return repo


def _json(repo, *args):
    return json.loads(repo.ok(*args, "--json").stdout)


def test_each_commands_json_is_the_library_objects_to_dict(runs):
    with provgraph.open_project(runs.root) as project:
        log = [entry.to_dict() for entry in project.log()]
        lineage = project.lineage("model.txt").to_dict()
        metrics = project.metrics("latest").to_dict()
        diff = project.diff("#1", "#2").to_dict()
        shown = project.show("model.txt").to_dict()
        run = project.show("#1").to_dict()
        status = project.status().to_dict()
    assert _json(runs, "log") == json.loads(json.dumps(log, default=str))
    assert _json(runs, "lineage", "model.txt") == json.loads(json.dumps(lineage, default=str))
    assert _json(runs, "metrics", "latest") == json.loads(json.dumps(metrics, default=str))
    assert _json(runs, "diff", "#1", "#2") == json.loads(json.dumps(diff, default=str))
    assert _json(runs, "show", "model.txt") == json.loads(json.dumps(shown, default=str))
    assert _json(runs, "show", "#1") == json.loads(json.dumps(run, default=str))
    assert _json(runs, "status") == json.loads(json.dumps(status, default=str))
    assert "wasGeneratedBy" in [e["type"] for e in shown["out"]]
    assert status["journal"]["records"] >= 2 and status["index"]["pending"] == 0
    assert metrics["series"]["metrics.loss.value"]["values"] == [0.5]
    assert diff["parameters"] == [{"name": "operands", "a": ["train.py", "0.1"],
                                   "b": ["train.py", "0.2"]}]


def test_capture_from_python_is_recorded_like_the_cli(repo):
    with provgraph.open_project(repo.root) as project:
        outcome = project.capture(["sh", "-c", "echo hi > out.txt; exit 3"])
        assert outcome.exit_code == 3
        [entry] = project.log()
        assert [n.name for n in entry.generated] == ["out.txt@v1"]
        assert entry.activity.properties["exit_code"] == 3
        with pytest.raises(provgraph.NotFound):
            project.find("no-such-file.txt")
        os.remove(os.path.join(repo.root, "out.txt"))
        assert project.show("out.txt").gone.how == "not in the work tree"
        with pytest.raises(provgraph.ProvError):
            project.run("#9")
    assert json.loads(repo.ok("log", "--json").stdout)[0]["id"] == entry.activity.id


def test_the_readme_python_example_runs(repo, capsys):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    repo.write("train.py", "print('loss: 0.25')\nopen('model.json', 'w').write('{}')\n")
    repo.write("params.yaml", "lr: 0.1\n")
    repo.commit_all("train")
    exec(compile(code.replace('"my-analysis"', repr(str(repo.root))), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "python3 train.py #1 ['model.json@v1']" in printed


def test_the_package_docstring_example_runs(repo):
    code = provgraph.__doc__.split("    import provgraph\n", 1)[1].split("\n\n", 1)[0]
    code = "import provgraph\n" + "\n".join(line[4:] for line in code.splitlines())
    repo.write("train.py", "import sys\nprint('loss: 0.5')\nopen('model.json', 'w').write('{}')\n")
    repo.commit_all("train")
    exec(compile(code.replace('"my-analysis"', repr(str(repo.root))), "provgraph", "exec"), {})
    with provgraph.open_project(repo.root) as project:
        assert [e.activity.name for e in project.log()] == ["python3 train.py #1"]
