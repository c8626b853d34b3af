"""`prov sql` is read-only by construction (issue 10, reproduction 4): the index attached
READ_ONLY to a sandboxed DuckDB, so no statement writes a file, reads one, installs or loads
an extension, or changes a setting. Each is tried through the real `prov`; each fails in one
line, writes nothing, and shows no secret. What `prov sql --help` documents keeps working.
"""

from __future__ import annotations

import json

import pytest

SECRET = "hunter2-sql-secret"


@pytest.fixture
def indexed(repo):
    repo.write("data.csv", "1,cat\n")
    repo.ok("cp", "data.csv", "copy.csv")
    repo.ok("config", "set", "neo4j.password", SECRET)
    assert SECRET in repo.read(".git/prov/config.json")
    repo.ok("log")  # the index is caught up
    return repo


def refused(repo, query: str) -> str:
    proc = repo.prov("sql", query)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("prov: SQL: "), proc.stderr
    assert "Traceback" not in proc.stderr and SECRET not in proc.stdout + proc.stderr
    assert "root:" not in proc.stdout
    return proc.stderr.strip()


def refused_access(target: str) -> str:
    return (f"prov: SQL: prov sql reads the index only, and writes nothing: access to {target} "
            "is refused")


@pytest.mark.parametrize(("query", "target"), [
    ("select * from read_text('.git/prov/config.json')", ".git/prov/config.json"),
    ("select * from read_json('.git/prov/config.json')", ".git/prov/config.json"),
    ("select * from read_csv('/etc/passwd')", "/etc/passwd"),
    ("select * from read_blob('/etc/passwd')", "/etc/passwd"),
    ("select * from glob('/etc/*')", "/etc/*"),
    ("select * from sniff_csv('/etc/passwd')", "/etc/passwd"),
    ("select * from '/etc/passwd'", "/etc/passwd"),  # a replacement scan
    ("select * from query('select * from read_text(''/etc/passwd'')')", "/etc/passwd"),
])
def test_no_file_is_read(indexed, query, target):
    assert refused(indexed, query) == refused_access(target)


def test_no_file_is_written(indexed, tmp_path):
    out = tmp_path / "x.csv"
    assert refused(indexed, f"COPY (SELECT * FROM nodes) TO '{out}'") == refused_access(out)
    exported = tmp_path / "exp"
    message = refused(indexed, f"EXPORT DATABASE '{exported}'")
    assert message.startswith(refused_access(exported).split(" is refused")[0])
    attached = tmp_path / "x.db"
    assert refused(indexed, f"ATTACH '{attached}' AS x") == refused_access(attached)
    assert refused(indexed, f"COPY nodes FROM '{indexed.path('data.csv')}'").startswith(
        "prov: SQL: ")
    assert {p.name for p in tmp_path.iterdir()} == {"home", "repo"}  # nothing new here


def test_the_index_is_not_changed(indexed):
    before = indexed.ok("sql", "SELECT count(*) AS n FROM nodes", "--json").stdout
    for query in ("DELETE FROM nodes", "CREATE TABLE x (i INTEGER)",
                  "INSERT INTO meta VALUES ('k', '1')", "DROP VIEW activities",
                  "UPDATE nodes SET name = 'forged'"):
        assert "read-only mode" in refused(indexed, query)
    assert indexed.ok("sql", "SELECT count(*) AS n FROM nodes", "--json").stdout == before


@pytest.mark.parametrize("query", ["INSTALL httpfs", "FORCE INSTALL httpfs", "LOAD httpfs",
                                   "INSTALL h3 FROM community"])
def test_no_extension_is_installed_or_loaded(indexed, query):
    assert refused(indexed, query) == ("prov: SQL: prov sql installs and loads no extensions "
                                       "(those built into DuckDB work)")


@pytest.mark.parametrize(("query", "setting"), [
    ("SET enable_external_access = true", "enable_external_access"),
    ("SET lock_configuration = false", "lock_configuration"),
    ("RESET lock_configuration", "lock_configuration"),
    ("SET allowed_directories = ['/']", "allowed_directories"),
    ("SET autoinstall_known_extensions = true", "autoinstall_known_extensions"),
    ("PRAGMA enable_profiling", "enable_profiling"),
    ("SET profiling_output = '/tmp/profile.txt'", "profiling_output"),
    ("CALL enable_logging(storage = 'file', storage_path = '/tmp/logs')", "enable_logging"),
])
def test_no_setting_is_changed(indexed, query, setting):
    assert refused(indexed, query) == f"prov: SQL: prov sql cannot change DuckDB's settings " \
                                      f"({setting})"


def test_what_can_be_read_holds_no_secret(indexed):
    assert refused(indexed, "SELECT getenv('HOME')").startswith(
        "prov: SQL: Catalog Error: Scalar Function with name getenv does not exist")
    settings = indexed.ok("sql", "SELECT name, value FROM duckdb_settings()", "--json").stdout
    assert SECRET not in settings
    found = {s["name"]: s["value"] for s in json.loads(settings)}
    assert found["enable_external_access"] == "false"
    assert found["lock_configuration"] == "true"
    assert found["autoload_known_extensions"] == "false"
    version = json.loads(indexed.ok("sql", "CALL pragma_version()", "--json").stdout)
    assert version[0]["library_version"].startswith("v")


def test_the_documented_queries_work(indexed):
    rows = json.loads(indexed.ok("sql", "SELECT name, properties->>'exit_code' AS code "
                                        "FROM activities", "--json").stdout)
    assert rows == [{"name": "cp #1", "code": "0"}]
    for table in ("nodes", "edges", "entities", "activities", "agents", "main.nodes"):
        indexed.ok("sql", f"SELECT * FROM {table}")
    out = indexed.ok("sql", "SELECT path, version FROM entities ORDER BY path", "--csv").stdout
    assert out.splitlines() == ["path,version", "copy.csv,1", "data.csv,1"]
    table = indexed.ok("sql", "SELECT label, count(*) AS n FROM nodes GROUP BY label "
                              "ORDER BY label").stdout
    assert "Activity" in table and "Entity" in table
    assert not any(indexed.path(".git/prov/sql-tmp").glob("*"))  # no spill folder left
