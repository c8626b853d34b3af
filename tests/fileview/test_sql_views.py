"""SQL file views: the paper's command, checked against SQLite computing the same query;
headers, Parquet, JSON lines, compression, output formats, dialects, lineage, the activity."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import sqlite3

import duckdb
import pytest
from graph import Graph

PAPER_QUERY = ("select t._c2 as label, count(*) as err_cnt from {testfile.csv} as t, "
               "{predfile.csv} as r where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2")
LABELS = ["cat", "dog", "bird", "fish", "horse"]


def make_predictions(repo, rows: int = 3000, seed: int = 7) -> None:
    """A test set and a classifier's predictions, headerless, as in the paper."""
    rng = random.Random(seed)
    truth = [(i, f"img{i}.jpg", rng.choice(LABELS)) for i in range(rows)]
    predicted = [(i, name, label if rng.random() < 0.7 else rng.choice(LABELS))
                 for i, name, label in truth]
    rng.shuffle(predicted)
    repo.write("testfile.csv", "".join(f"{i},{n},{label}\n" for i, n, label in truth))
    repo.write("predfile.csv", "".join(f"{i},{n},{label}\n" for i, n, label in predicted))


def sqlite_answer(repo, query: str, tables: dict[str, str], header: bool = False) -> list:
    """The paper's approach, independently: load the files with the csv module into an
    in-memory SQLite, then run the query with the placeholders as table names."""
    db = sqlite3.connect(":memory:")
    for placeholder, path in tables.items():
        with open(repo.path(path), newline="") as handle:
            rows = list(csv.reader(handle))
        names = rows[0] if header else [f"_c{i}" for i in range(len(rows[0]))]
        rows = rows[1:] if header else rows
        table = placeholder.replace(".", "_")
        db.execute(f"create table {table} ({', '.join(names)})")
        db.executemany(f"insert into {table} values ({', '.join('?' * len(names))})",
                       [[int(v) if v.lstrip("-").isdigit() else v for v in r] for r in rows])
        query = query.replace("{" + placeholder + "}", table)
    return db.execute(query).fetchall()


def read_csv(repo, name: str) -> list[tuple]:
    with open(repo.path(name), newline="") as handle:
        rows = list(csv.reader(handle))
    return [tuple(int(v) if v.lstrip("-").isdigit() else v for v in row) for row in rows]


def test_the_papers_command_verbatim(repo):
    make_predictions(repo)
    repo.commit_all("data")
    # what the shell hands over for -n='results.csv' -q='...'
    proc = repo.ok("fileview", "-c", "-n=results.csv", f"-q={PAPER_QUERY}")
    assert "Wrote results.csv (5 rows)" in proc.stderr

    rows = read_csv(repo, "results.csv")
    assert rows[0] == ("label", "err_cnt")
    expected = sqlite_answer(repo, PAPER_QUERY, {"testfile.csv": "testfile.csv",
                                                 "predfile.csv": "predfile.csv"})
    assert sorted(rows[1:]) == sorted(expected)
    assert sum(n for _, n in expected) > 500  # the query found the errors it should


def test_the_materialization_is_an_activity_with_versions_sql_engine_and_lineage(repo):
    make_predictions(repo, rows=500)
    repo.ok("fileview", "-c", "-n", "results.csv", "-q", PAPER_QUERY)

    graph = Graph.of(repo)
    [activity] = graph.activities()
    props = activity.properties
    assert activity.name == "prov fileview #1"
    assert props["command"] == f"prov fileview -c -n results.csv -q '{PAPER_QUERY}'"
    assert (props["utility"], props["subcommand"], props["status"]) == ("prov", "fileview", "ok")
    assert graph.used(activity) == ["predfile.csv@v1", "testfile.csv@v1"]
    assert graph.generated(activity) == ["results.csv@v1"]
    assert props["fileview.sql"] == PAPER_QUERY
    assert props["fileview.engine"] == "duckdb"
    assert props["fileview.engine_version"] == duckdb.__version__
    assert "FROM __fv_0 AS t, __fv_1 AS r" in props["fileview.duckdb_sql"]
    assert props["fileview.columns"] == ["label", "err_cnt"]
    assert props["fileview.lineage.label"] == ["testfile.csv._c2"]
    assert "fileview.lineage.err_cnt" not in props  # count(*) reads no column's values
    assert props["fileview.inputs"] == ["testfile.csv", "predfile.csv"]
    assert props["fileview.rows"] == 5
    edge = graph.edge("used", activity.name, "testfile.csv@v1")
    assert edge.properties["role"] == "input"

    log = repo.ok("log", "-n", "1").stdout
    assert "prov fileview -c -n results.csv -q 'select t._c2" in log
    assert "generated  results.csv@v1" in log


def test_lineage_follows_ctes_joins_and_expressions(repo):
    repo.write("a.csv", "id,name,city\n1,ann,rome\n2,bob,oslo\n")
    repo.write("b.csv", "id,score\n1,10\n2,20\n")
    query = ("with s as (select id, score * 2 as double from {b.csv}) "
             "select upper(a.name) || '@' || a.city as who, s.double, a.id "
             "from {a.csv} as a join s on a.id = s.id")
    repo.ok("fileview", "-c", "-n", "out.csv", "-q", query)

    [activity] = Graph.of(repo).activities()
    props = activity.properties
    assert props["fileview.lineage.who"] == ["a.csv.city", "a.csv.name"]
    assert props["fileview.lineage.double"] == ["b.csv.score"]
    assert props["fileview.lineage.id"] == ["a.csv.id"]
    assert read_csv(repo, "out.csv") == [("who", "double", "id"), ("ANN@rome", 20, 1),
                                         ("BOB@oslo", 40, 2)]


def test_headers_detected_or_said(repo):
    repo.write("named.csv", "id,label\n1,cat\n2,dog\n3,cat\n")
    repo.write("bare.csv", "1,cat\n2,dog\n3,cat\n")
    repo.write("words.csv", "img1,cat\nimg2,dog\nimg3,cat\n")  # all text, no header
    repo.write("names.csv", "image,label\nimg1,cat\nimg2,dog\nimg3,cat\n")  # all text, header

    assert repo.ok("fileview", "-n", "v1.csv", "-q", "select label from {named.csv} order by id")
    assert repo.ok("fileview", "cat", "v1.csv").stdout.split() == ["label", "cat", "dog", "cat"]
    repo.ok("fileview", "-n", "v2.csv", "-q", "select _c1 from {bare.csv} order by _c0")
    assert repo.ok("fileview", "cat", "v2.csv").stdout.split() == ["_c1", "cat", "dog", "cat"]
    repo.ok("fileview", "-n", "v3.csv", "-q", "select count(*) as n from {words.csv}")
    assert repo.ok("fileview", "cat", "v3.csv").stdout.split() == ["n", "3"]
    repo.ok("fileview", "-n", "v4.csv", "-q", "select label from {names.csv} order by image")
    assert repo.ok("fileview", "cat", "v4.csv").stdout.split() == ["label", "cat", "dog", "cat"]

    # said per file, or for every input
    repo.ok("fileview", "-n", "v5.csv", "-q", "select count(*) as n from {named.csv:noheader}")
    assert repo.ok("fileview", "cat", "v5.csv").stdout.split() == ["n", "4"]
    repo.ok("fileview", "-n", "v6.csv", "-q", "select * from {bare.csv:header}")
    assert repo.ok("fileview", "cat", "v6.csv").stdout.splitlines()[0] == "1,cat"
    repo.ok("fileview", "-n", "v7.csv", "--no-header", "-q",
            "select count(*) as n from {names.csv}")
    assert repo.ok("fileview", "cat", "v7.csv").stdout.split() == ["n", "4"]
    repo.ok("fileview", "-n", "v8.csv", "--no-header", "-q",
            "select count(*) as n from {names.csv:header}")
    assert repo.ok("fileview", "cat", "v8.csv").stdout.split() == ["n", "3"]


def test_parquet_json_lines_tsv_and_compressed_inputs(repo):
    con = duckdb.connect()
    con.execute(f"copy (select range as id, 'p' || range as name from range(5)) "
                f"to '{repo.path('p.parquet')}' (format parquet)")
    repo.write("j.jsonl", "".join(json.dumps({"id": i, "score": i * 1.5}) + "\n"
                                  for i in range(5)))
    repo.write("t.tsv", "id\tcolour\n0\tred\n1\tblue\n2\tgreen\n")
    repo.path("g.csv.gz").write_bytes(gzip.compress(b"0,x\n1,y\n2,z\n3,w\n"))
    con.execute(f"copy (select * from (values (3, 'q'), (4, 'r'))) to '{repo.path('z.csv.zst')}' "
                "(format csv, header false, compression zstd)")
    query = ("select p.name, j.score, t.colour, g._c1 as g, z._c1 as z "
             "from {p.parquet} as p join {j.jsonl} as j on p.id = j.id "
             "left join {t.tsv} as t on t.id = p.id left join {g.csv.gz} as g on g._c0 = p.id "
             "left join {z.csv.zst} as z on z._c0 = p.id order by p.id")
    repo.ok("fileview", "-c", "-n", "all.csv", "-q", query)

    assert repo.read("all.csv").splitlines() == [
        "name,score,colour,g,z", "p0,0.0,red,x,", "p1,1.5,blue,y,", "p2,3.0,green,z,",
        "p3,4.5,,w,q", "p4,6.0,,,r"]
    [activity] = Graph.of(repo).activities()
    assert Graph.of(repo).used(activity) == ["g.csv.gz@v1", "j.jsonl@v1", "p.parquet@v1",
                                             "t.tsv@v1", "z.csv.zst@v1"]


@pytest.mark.parametrize("name", ["out.tsv", "out.parquet", "out.json", "out.jsonl",
                                  "out.csv.gz", "out.data"])
def test_output_format_follows_the_name(repo, name):
    repo.write("in.csv", "id,label\n1,cat\n2,dog\n")
    args = ["--format", "csv"] if name == "out.data" else []
    repo.ok("fileview", "-c", "-n", name, *args, "-q",
            "select id, label from {in.csv} order by id")

    con = duckdb.connect()
    path = str(repo.path(name))
    if name.endswith(".parquet"):
        assert con.execute(f"select * from read_parquet('{path}')").fetchall() == [
            (1, "cat"), (2, "dog")]
    elif name.endswith(".jsonl"):
        assert [json.loads(x) for x in repo.read(name).splitlines()] == [
            {"id": 1, "label": "cat"}, {"id": 2, "label": "dog"}]
    elif name.endswith(".json"):
        assert json.loads(repo.read(name)) == [{"id": 1, "label": "cat"},
                                               {"id": 2, "label": "dog"}]
    elif name.endswith(".gz"):
        assert gzip.decompress(repo.path(name).read_bytes()).decode().splitlines() == [
            "id,label", "1,cat", "2,dog"]
    elif name.endswith(".tsv"):
        assert repo.read(name).splitlines() == ["id\tlabel", "1\tcat", "2\tdog"]
    else:
        assert repo.read(name).splitlines() == ["id,label", "1,cat", "2,dog"]


SQLITE_QUERY = ("select t._c1 || '/' || ifnull(t._c3, 'none') as tagged, substr(t._c2, 1, 2) "
                "as prefix from {rows.csv} as t where t._c0 % 7 = 1 order by t._c0 "
                "limit 5 offset 2")
POSTGRES_QUERY = ("select t._c0::text || ':' || t._c2 as k, count(*)::int as n, "
                  "coalesce(max(t._c3), 'none') as m from {rows.csv} as t "
                  "where t._c1 ilike 'A%' group by 1 order by 1 limit 4 offset 1")


def test_sqlite_and_postgres_flavours_are_transpiled(repo):
    rng = random.Random(3)
    out = io.StringIO()
    for i in range(400):
        extra = rng.choice(["", "x", "y"])
        out.write(f"{i},{rng.choice(['ann', 'Abe', 'bo'])},{rng.choice(LABELS)},{extra}\n")
    repo.write("rows.csv", out.getvalue())

    repo.ok("fileview", "-c", "-n", "s.csv", "--dialect", "sqlite", "-q", SQLITE_QUERY)
    db = sqlite3.connect(":memory:")
    db.execute("create table rows_csv (_c0 integer, _c1, _c2, _c3)")
    rows = [[int(r[0]), r[1], r[2], r[3] or None] for r in csv.reader(io.StringIO(out.getvalue()))]
    db.executemany("insert into rows_csv values (?, ?, ?, ?)", rows)
    expected = db.execute(SQLITE_QUERY.replace("{rows.csv}", "rows_csv")).fetchall()
    assert read_csv(repo, "s.csv")[1:] == [tuple(r) for r in expected]
    assert len(expected) == 5
    [activity] = Graph.of(repo).activities()
    assert "COALESCE(t._c3, 'none')" in activity.properties["fileview.duckdb_sql"]
    assert activity.properties["fileview.dialect"] == "sqlite"

    repo.ok("fileview", "-c", "-n", "p.csv", "--dialect", "postgres", "-q", POSTGRES_QUERY)
    got = read_csv(repo, "p.csv")
    assert got[0] == ("k", "n", "m") and len(got) == 5
    pg = ("select cast(_c0 as text) || ':' || _c2 as k, count(*) as n, "
          "coalesce(max(_c3), 'none') as m from rows_csv where _c1 like 'A%' "
          "group by 1 order by 1 limit 4 offset 1")
    assert got[1:] == [tuple(r) for r in db.execute(pg).fetchall()]
    assert "command" in Graph.of(repo).activities()[-1].properties


def test_a_view_reads_only_its_placeholders(repo):
    repo.write("a.csv", "x\n1\n")
    for query, message in [
        ("select * from other", "unknown table other"),
        ("select * from read_csv('a.csv')", "read_csv(...) reads data provgraph cannot record"),
        ("select * from 'a.csv'", "unknown table"),
        ("select 1; select 2", "a view is one query; found 2 statements"),
        ("create table x as select 1", "a view is a query (SELECT ...), not CREATE"),
    ]:
        proc = repo.prov("fileview", "-c", "-n", "o.csv", "-q", query)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr
    assert not repo.path("o.csv").exists()
    # its own CTEs and range() are fine; so are braces inside strings and comments
    repo.ok("fileview", "-c", "-n", "o.csv", "-q",
            "with c as (select x from {a.csv}) -- not {b.csv}\n"
            "select x, '{x}' as s, r.range as r from c, range(2) as r order by r")
    assert repo.read("o.csv").splitlines() == ["x,s,r", "1,{x},0", "1,{x},1"]


def test_syntax_errors_point_at_the_token_as_written(repo):
    repo.write("testfile.csv", "1,a,b\n")
    proc = repo.prov("fileview", "-c", "-n", "r.csv", "-q",
                     "select t._c2 as label, count(*) as err_cnt form {testfile.csv} as t")
    assert proc.returncode == 1
    assert proc.stderr == ("prov: SQL syntax error at line 1, col 44 near 'form': "
                           "unexpected token\n")
    proc = repo.prov("fileview", "-c", "-n", "r.csv", "-q",
                     "select *\nfrom {testfile.csv} as t\nwhere t._c0 = = 1")
    assert proc.returncode == 1
    assert proc.stderr.startswith("prov: SQL syntax error at line 3, col ")
    assert proc.stderr.count("\n") == 1
    proc = repo.prov("fileview", "-c", "-n", "r.csv", "-q",
                     "select nope from {testfile.csv}")
    assert proc.stderr.startswith("prov: SQL error: Binder Error: Referenced column")
    assert proc.stderr.count("\n") == 1
    assert not repo.path("r.csv").exists()
    assert Graph.of(repo).activities() == []


def test_a_registered_writer_may_take_over_writing(repo, monkeypatch):
    """The extension point record-level why-provenance uses (evaluate.register_writer)."""
    import provgraph.fileview as fv
    from provgraph.fileview import evaluate
    from provgraph.repo import Repository

    repo.write("in.csv", "id\n1\n2\n")
    seen = []

    def declines(evaluation, tmp):
        seen.append(("declined", evaluation.compiled.sql))
        return None

    def writes(evaluation, tmp):
        evaluation.con.execute(f"COPY (SELECT count(*) AS n FROM ({evaluation.compiled.sql})) "
                               f"TO '{tmp}' (FORMAT csv, HEADER true)")
        seen.append(("wrote", evaluation.format))
        return 1

    monkeypatch.setattr(evaluate, "SQL_WRITERS", [])
    evaluate.register_writer(declines)
    evaluate.register_writer(writes)
    evaluate.register_writer(writes)  # once is enough
    r = Repository.discover(repo.root)
    view = fv.definition(r, "n.csv", query="select id from {in.csv}", cwd=str(repo.root))
    made = fv.define(r, view, materialize=True).materialized
    assert seen == [("declined", 'SELECT id FROM __fv_0 AS "in"'), ("wrote", "csv")]
    assert made.rows == 1 and repo.read("n.csv") == "n\n2\n"
    assert Graph.of(repo).generated(Graph.of(repo).activities()[0]) == ["n.csv@v1"]
