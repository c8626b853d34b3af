"""File views reach no file but their declared inputs (DuckDB's sandbox), and read and write
only inside the work tree (symbolic links followed).

Each escape of issue 10 (reproduction 3) is tried through the real `prov`, both while a view
is materialized (`prov fileview -c`) and when a definition already in the journal is
evaluated (`prov fileview cat`, `refresh`): one line on stderr, exit 1, nothing written
outside the repository, no secret on stdout or in a file, and no record in the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from graph import Graph

from provgraph.repo import Repository

SECRET = "hunter2-sandbox-secret"


@pytest.fixture
def data(repo):
    repo.write("d.csv", "a,b\n1,x\n2,y\n")
    repo.commit_all("data")
    repo.ok("config", "set", "neo4j.password", SECRET)  # .git/prov/config.json holds it
    assert SECRET in repo.read(".git/prov/config.json")
    return repo


def journal(repo) -> list[str]:
    """Every journal commit, all chains: a refused view must add none."""
    tips = repo.git("for-each-ref", "--format=%(objectname)", "refs/prov/journal").split()
    return repo.git("rev-list", *tips).split() if tips else []


def refused(repo, *args: str) -> str:
    """`prov fileview ARGS` fails in one line, records nothing, and leaks no secret."""
    before = journal(repo)
    proc = repo.prov("fileview", *args)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("prov: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "root:" not in proc.stdout  # no line of /etc/passwd
    assert journal(repo) == before
    assert not any(repo.path(".git/prov/fileview/tmp").glob("*")), "scratch left behind"
    return proc.stderr.strip()


def outside_input(path: str) -> str:
    return (f"prov: the query reads {path}, which is not one of its inputs: a view reads only "
            "the files it names as {path} (nothing was written)")


ESCAPES = [
    # (query, the file DuckDB was refused)
    ("select * from {d.csv} t, lateral read_csv('/etc/passwd') x", "/etc/passwd"),
    ("select * from {d.csv} t, lateral read_csv('/etc/shadow') x", "/etc/shadow"),
    ("select x.* from {d.csv} t, lateral read_json('.git/prov/config.json') x",
     ".git/prov/config.json"),
    ("select x.* from {d.csv} t, lateral read_text('.git/prov/config.json') x",
     ".git/prov/config.json"),
    ("select x.* from {d.csv} t, lateral read_blob('/etc/passwd') x", "/etc/passwd"),
    ("select x.* from {d.csv} t, lateral glob('/etc/*') x", "/etc/*"),
    ("select x.* from {d.csv} t, lateral sniff_csv('/etc/passwd') x", "/etc/passwd"),
    ("select x.* from {d.csv} t, lateral read_csv(['d.csv', '/etc/passwd']) x", "/etc/passwd"),
    ("select x.* from {d.csv} t, lateral parquet_metadata('/etc/passwd') x", "/etc/passwd"),
    # a CTE named like a file, out of scope where the name is read: a replacement scan
    ('select * from (with "/etc/passwd" as (select 1) select 1) s, "/etc/passwd"',
     "/etc/passwd"),
]


@pytest.mark.parametrize(("query", "target"), ESCAPES, ids=[q for q, _ in ESCAPES])
def test_a_materialized_view_reads_nothing_but_its_inputs(data, query, target):
    assert refused(data, "-c", "-n", "out.csv", "-q", query) == outside_input(target)
    assert not data.path("out.csv").exists()
    assert data.git("status", "--porcelain") == ""
    assert Graph.of(data).activities() == []


def plant(repo, name: str, **definition) -> None:
    """A definition in this clone's journal as a record holds it, without the checks that
    `prov fileview -n` makes: what a damaged journal, a Python script or another provgraph
    could leave there (pulled ones are in test_view_trust.py)."""
    from provgraph.fileview import views

    r = Repository.discover(repo.root)
    views.append_definition(r, {"name": name, "cwd": ".", "kind": "sql", "dialect": "duckdb",
                                "header": None, "format": "csv", **definition},
                            {"name": "Alice", "email": "alice@example.com"}, "planted")


@pytest.mark.parametrize(("query", "target"), ESCAPES[:4] + ESCAPES[-1:],
                         ids=[q for q, _ in ESCAPES[:4] + ESCAPES[-1:]])
def test_a_stored_definition_is_evaluated_in_the_sandbox_too(data, query, target):
    plant(data, "v.csv", query=query, inputs=["d.csv"])
    assert refused(data, "cat", "v.csv") == outside_input(target)
    message = refused(data, "refresh", "v.csv")  # materializing the virtual view
    assert message == "prov: v.csv: " + outside_input(target).removeprefix("prov: ")
    assert not data.path("v.csv").exists()


@pytest.mark.parametrize("query", [
    "copy (select * from {d.csv}) to '/tmp/x.csv'",
    "select * from {d.csv}; copy (select 1) to '/tmp/x.csv'",
    "attach '/tmp/x.db'",
    "install httpfs",
    "set enable_external_access = true",
])
def test_statements_are_not_views(data, query):
    message = refused(data, "-c", "-n", "out.csv", "-q", query)
    assert message.startswith(("prov: a view is a query", "prov: a view is one query",
                               "prov: SQL syntax error"))


def test_functions_that_do_not_exist_or_leak_nothing(data):
    message = refused(data, "-c", "-n", "out.csv", "-q", "select getenv('HOME') from {d.csv}")
    assert message.startswith("prov: SQL error: Catalog Error: Scalar Function with name "
                              "getenv does not exist")
    # settings can be read, not changed: they name the inputs, never a secret
    data.ok("fileview", "-c", "-n", "settings.csv", "-q",
            "select name, value from {d.csv} t, lateral duckdb_settings() s "
            "where name in ('enable_external_access', 'lock_configuration', "
            "'autoinstall_known_extensions', 'autoload_known_extensions', "
            "'allow_community_extensions') group by all order by name")
    assert data.read("settings.csv") == (
        "name,value\nallow_community_extensions,false\nautoinstall_known_extensions,false\n"
        "autoload_known_extensions,false\nenable_external_access,false\n"
        "lock_configuration,true\n")


def test_a_committed_symlink_to_etc_is_not_followed(data):
    os.symlink("/etc", data.path("etcdir"))
    os.symlink("/etc/passwd", data.path("pw.csv"))
    data.commit_all("links")
    assert refused(data, "-c", "-n", "out.csv", "-q", "select * from {etcdir/passwd:csv}") == (
        "prov: input etcdir/passwd leads outside the work tree through a symbolic link (to "
        "/etc/passwd); a view reads only files of the repository")
    assert refused(data, "-c", "-n", "out.csv", "-q", "select * from {pw.csv}") == (
        "prov: input pw.csv leads outside the work tree through a symbolic link (to "
        "/etc/passwd); a view reads only files of the repository")
    assert refused(data, "-c", "-n", "out.txt", "-s", "cat {pw.csv}").startswith(
        "prov: input pw.csv leads outside the work tree")
    assert refused(data, "-c", "-n", "out.txt", "-s", "cat", "-i", "pw.csv").startswith(
        "prov: input pw.csv leads outside the work tree")
    assert not data.path("out.csv").exists() and not data.path("out.txt").exists()


def test_an_output_through_a_symlink_is_not_written(data, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, data.path("outlink"))
    data.write("sub/keep.txt", "x\n")
    os.symlink("sub", data.path("inlink"))
    data.commit_all("links")
    assert refused(data, "-c", "-n", "outlink/x.csv", "-q", "select * from {d.csv}") == (
        f"prov: the output outlink/x.csv leads outside the work tree through a symbolic link "
        f"(to {outside}/x.csv); nothing was written")
    assert refused(data, "-n", "outlink/x.csv", "-q", "select * from {d.csv}").startswith(
        "prov: the output outlink/x.csv leads outside the work tree")
    assert refused(data, "-c", "-n", "outlink/x.txt", "-s", "echo hi").startswith(
        "prov: the output outlink/x.txt leads outside the work tree")
    assert refused(data, "-c", "-n", "inlink/x.csv", "-q", "select * from {d.csv}") == (
        "prov: the output inlink/x.csv is reached through a symbolic link (it is sub/x.csv): "
        "name the file itself (nothing was written)")
    assert list(outside.iterdir()) == [] and not data.path("sub/x.csv").exists()


def test_a_link_inside_the_tree_reads_and_records_its_target(data):
    data.write("runs/3.csv", "a,b\n7,z\n")
    os.symlink("runs/3.csv", data.path("latest.csv"))
    data.commit_all("runs")
    data.ok("fileview", "-c", "-n", "out.csv", "-q", "select latest.a from {latest.csv}")
    assert data.read("out.csv") == "a\n7\n"
    graph = Graph.of(data)
    [made] = graph.activities()
    assert graph.used(made) == ["runs/3.csv@v1"]  # what was read, not the link
    assert made.properties["fileview.inputs"] == ["runs/3.csv"]


@pytest.mark.parametrize(("fields", "message"), [
    ({"cwd": "../.."}, "the view's folder '../..' is not a folder of the repository"),
    ({"header": "true) x, read_text('/etc/passwd'"}, "v.csv: header is true, false or null"),
    ({"format": "csv) TO '/tmp/evil.csv' (FORMAT csv"},
     "v.csv: unknown output format \"csv) TO '/tmp/evil.csv' (FORMAT csv\""),
    ({"kind": "script", "script": "cat", "stdin": ["/etc/passwd"]},
     "input /etc/passwd is outside the repository"),
    ({"kind": "script", "script": "cat", "stdin": ["pw.csv"]},
     "input pw.csv leads outside the work tree through a symbolic link (to /etc/passwd); a "
     "view reads only files of the repository"),
])
def test_a_stored_definition_is_checked_field_by_field(data, fields, message):
    """(The journal's own validation may set such a record aside before any view sees it;
    the views check it all the same.)"""
    import provgraph.fileview as fv
    from provgraph.errors import ProvError
    from provgraph.fileview.evaluate import Evaluation

    os.symlink("/etc/passwd", data.path("pw.csv"))
    definition = {"query": "select * from {d.csv}", "inputs": ["d.csv"], **fields}
    plant(data, "v.csv", **definition)
    r = Repository.discover(data.root)
    if "v.csv" in fv.list_views(r):
        assert refused(data, "refresh", "v.csv") == f"prov: v.csv: {message}"
        assert refused(data, "cat", "v.csv") == f"prov: {message}"
    stored = fv.show(r, "v.csv").definition if "v.csv" in fv.list_views(r) else {
        "name": "v.csv", "cwd": ".", "kind": "sql", "dialect": "duckdb", "header": None,
        "format": "csv", **definition}
    with pytest.raises(ProvError) as raised:
        Evaluation(r, stored).prepare()
    assert str(raised.value) == message
    assert not Path("/tmp/evil.csv").exists() and not data.path("v.csv").exists()
    assert not any(data.path(".git/prov/fileview/tmp").glob("*"))


@pytest.mark.parametrize("name", ["../evil.csv", ".git/hooks/pre-commit", "/tmp/evil.csv",
                                  "a/../../evil.csv", "outlink/evil.csv"])
def test_a_stored_definition_writes_only_inside_the_work_tree(data, tmp_path, name):
    """A name no `prov fileview -n` would record (a pulled record says what its author
    wrote): evaluating it is refused, and nothing is written. (The journal's own validation
    may set the record aside before any view sees it; the views check it all the same.)"""
    import provgraph.fileview as fv
    from provgraph.errors import ProvError
    from provgraph.fileview import materialize

    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, data.path("outlink"))
    definition = {"name": name, "cwd": ".", "kind": "sql", "dialect": "duckdb",
                  "header": None, "format": "csv", "query": "select * from {d.csv}",
                  "inputs": ["d.csv"]}
    plant(data, name, **{k: v for k, v in definition.items() if k != "name"})
    r = Repository.discover(data.root)
    before = journal(data)
    if name in fv.list_views(r):
        [done] = fv.refresh(r, [name])
        assert done.action.startswith("failed: the output ") and done.result is None
        assert "nothing was written" in done.action
        with pytest.raises(ProvError, match=r"^the output "):
            fv.cat(r, name)
    with pytest.raises(ProvError, match=r"^the output ") as raised:
        materialize.materialize(r, dict(definition))
    assert "nothing was written" in str(raised.value)
    assert journal(data) == before
    assert not Path("/tmp/evil.csv").exists() and not (tmp_path / "evil.csv").exists()
    assert not data.path(".git/hooks/pre-commit").exists() and list(outside.iterdir()) == []


def test_the_sandbox_leaves_legitimate_views_alone(data):
    """Compressed inputs and why-provenance (lineage handed to the index through the scratch
    folder) work; spilling past the memory limit: tests/fileview/test_big_files.py."""
    rows = "".join(f"{i},{'cat' if i % 3 else 'dog'}\n" for i in range(60_000))
    data.write("big.csv", "id,label\n" + rows)
    subprocess.run(["gzip", "-k", str(data.path("big.csv"))], check=True)
    data.ok("fileview", "-c", "-n", "counts.csv", "-q",
            "select t.label, count(*) as n from {big.csv.gz} t, {big.csv} r "
            "where t.id = r.id group by t.label order by t.label")
    assert data.read("counts.csv") == "label,n\ncat,40000\ndog,20000\n"
    why = json.loads(data.ok("fileview", "why", "counts.csv", "--row", "2", "--json").stdout)
    assert {i["file"]: i["rows"] for i in why["inputs"]} == {"big.csv.gz": 20000,
                                                             "big.csv": 20000}
    assert not any(data.path(".git/prov/fileview/tmp").glob("*"))
