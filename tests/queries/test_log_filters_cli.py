"""`prov log` with filters, as a user types it: real captures, real `prov` processes."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def work(repo):
    """touch data/a.csv #2, sort (Bob) #3, false #4; named by command."""
    repo.ok("mkdir", "-p", "data/raw")
    repo.ok("touch", "data/raw/a.csv")
    repo.ok("sort", "-o", "sorted.csv", "data/raw/a.csv",
            env={"PROV_AGENT": "Bob <bob@example.com>",
                 "PROV_ACTIVITY_PROPERTIES": json.dumps({"tags": ["keep"], "params.x": 2})})
    assert repo.prov("false").returncode == 1
    return repo


def commands(proc) -> list[str]:
    return [e["properties"]["command"] for e in json.loads(proc.stdout)]


def test_filters_on_the_command_line(work):
    log = lambda *a: commands(work.ok("log", "--json", *a))  # noqa: E731
    assert log("data") == ["sort -o sorted.csv data/raw/a.csv", "touch data/raw/a.csv"]
    assert log("data/raw/a.csv", "sorted.csv") == log("data")
    assert log("sorted.csv") == ["sort -o sorted.csv data/raw/a.csv"]
    assert log("--agent", "bob@example.com") == ["sort -o sorted.csv data/raw/a.csv"]
    assert log("--command", "t*") == ["touch data/raw/a.csv"]
    assert log("--status", "failed") == ["false"]
    assert log("--status", "ok", "-n", "1") == ["sort -o sorted.csv data/raw/a.csv"]
    assert log("--tag", "keep") == ["sort -o sorted.csv data/raw/a.csv"]
    assert log("--where", "params.x >= 2") == ["sort -o sorted.csv data/raw/a.csv"]
    assert log("--where", "utility in ('touch', 'false')") == ["false", "touch data/raw/a.csv"]
    assert log("--since", "1h", "--until", "now", "--command", "f*") == ["false"]
    assert log("--since", "2999-01-01") == []
    assert log("--where", "exit_code = 0", "--agent", "Bob", "sorted.csv") == [
        "sort -o sorted.csv data/raw/a.csv"]
    assert log() == ["false", "sort -o sorted.csv data/raw/a.csv", "touch data/raw/a.csv",
                     "mkdir -p data/raw"]


def test_paths_are_typed_from_the_current_folder(work):
    proc = work.ok("log", "--json", "a.csv", cwd=work.path("data/raw"))
    assert commands(proc) == ["sort -o sorted.csv data/raw/a.csv", "touch data/raw/a.csv"]
    proc = work.ok("log", "--json", ".", cwd=work.path("data"))
    assert commands(proc) == ["sort -o sorted.csv data/raw/a.csv", "touch data/raw/a.csv"]


def test_text_output_and_no_match(work):
    proc = work.ok("log", "--tag", "keep")
    assert "sort -o sorted.csv data/raw/a.csv" in proc.stdout
    assert "touch" not in proc.stdout
    assert work.ok("log", "--tag", "nothing").stdout.strip() == "No activity matches."


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "a ="], "prov: --where: cannot parse 'a ='"),
    (["--where", ""], "prov: --where: empty expression"),
    (["--where", "lower(command) = 'x'"], "prov: --where: the function lower() is not allowed"),
    (["--where", "x in (select id from nodes)"], "prov: --where: a subquery is not allowed"),
    (["--where", "exit_code = 0; drop table nodes"], "prov: --where: ';' is not allowed"),
    (["--status", "done"], "prov: unknown status 'done': give one of ok, failed, interrupted"),
    (["--since", "last tuesday"], "prov: 'last tuesday' is not a time"),
    (["/elsewhere"], "prov: /elsewhere: not inside the repository"),
])
def test_bad_input_is_one_line(work, args, message):
    proc = work.prov("log", *args)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(message), proc.stderr
    assert work.ok("log", "--json").stdout.count('"command"') == 4  # nothing changed


def test_the_python_api_takes_the_same_filters(work):
    import provgraph

    with provgraph.open_project(work.root) as project:
        assert [e.activity.properties["command"] for e in project.log(tags=["keep"])] == [
            "sort -o sorted.csv data/raw/a.csv"]
        assert [e.activity.name for e in project.log(1, paths=["data"], status="ok")] == [
            "sort #3"]
        assert project.log(where="params.x = 3") == []
        with pytest.raises(provgraph.errors.BadInput):
            project.log(where="x = (select 1)")
