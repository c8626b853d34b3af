"""Record-level why-provenance: the input rows behind each row of a view's file.

Each test builds a repository with CSV files, runs a view through `why.rewrite`/`prepare`/
`record` the way `prov fileview -c` does, and checks `why.explain` against brute force: the
input rows that satisfy the query for that output row, found in pure Python.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import subprocess
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.fileview import why
from provgraph.repo import Repository


@pytest.fixture
def repo(repo_factory) -> Repository:
    """A real git repository (one commit), as the library sees it."""
    return Repository.discover(repo_factory("work").root)


def write_csv(repo: Repository, name: str, header: list[str] | None, rows: list[tuple]) -> str:
    with open(os.path.join(repo.root, name), "w", newline="") as handle:
        out = csv.writer(handle)
        if header:
            out.writerow(header)
        out.writerows(rows)
    return name


def materialize(repo: Repository, sql: str, inputs: dict[str, tuple[str, bool]],
                output: str = "results.csv", threads: int | None = None):
    """What `prov fileview -c` does: one view per input (`name` -> (file, has header)), the
    rewritten query into a temporary table, the file written from it, the lineage recorded.
    Returns the plan, or the Unsupported reason (the view is then written without lineage)."""
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    for name, (path, header) in inputs.items():
        location = os.path.join(repo.root, path)
        options = "header = true" if header else "header = false"
        if not header:
            with open(location) as handle:
                width = len(handle.readline().split(","))
            options += ", names = [" + ", ".join(f"'_c{i}'" for i in range(width)) + "]"
        con.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM '
                    f"read_csv('{location}', {options})")
    plan = why.rewrite(sql, {name: path for name, (path, _) in inputs.items()})
    query = why.prepare(con, plan) if isinstance(plan, why.Rewritten) else sql
    con.execute(f"COPY ({query}) TO '{os.path.join(repo.root, output)}' (HEADER true)")
    if isinstance(plan, why.Rewritten):
        why.record(con, plan, repo, output)
    con.close()
    return plan


def output_rows(repo: Repository, output: str = "results.csv") -> list[dict]:
    with open(os.path.join(repo.root, output), newline="") as handle:
        return list(csv.DictReader(handle))


def explained(repo: Repository, row: int, output: str = "results.csv"
              ) -> dict[str, set[int]]:
    """Input rows of output row `row`, by alias."""
    found: dict[str, set[int]] = defaultdict(set)
    for source in why.explain(repo, output, row).sources:
        found[source.alias].add(source.row)
    return dict(found)


@pytest.fixture(params=["lists", "keys"])
def grouping(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of finding a group's rows: lists of row numbers built by the aggregate
    (in memory), and joining the rows back to the output by group key (spills to disk; taken
    when the lists might not fit in DuckDB's memory limit)."""
    if request.param == "keys":
        monkeypatch.setattr(why.running, "_lists_too_big", lambda *_: True)
    return request.param


def make_tables(seed: int, n: int = 60) -> tuple[list[tuple], list[tuple]]:
    """Orders (id, customer, amount) and customers (customer, region), with repeated keys,
    customers without orders and orders of unknown customers."""
    rnd = random.Random(seed)
    customers = [(f"c{i}", rnd.choice(["north", "south", "east"])) for i in range(12)]
    customers.append(("c3", "west"))  # a duplicate key: one order joins two customers
    orders = [(i, f"c{rnd.randrange(15)}", rnd.randrange(1, 100)) for i in range(n)]
    return orders, customers


# -- joins and aggregates against brute force ---------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_group_by_over_a_join_gives_every_row_of_the_group(repo: Repository, seed: int,
                                                           grouping: str):
    orders, customers = make_tables(seed)
    write_csv(repo, "orders.csv", ["id", "customer", "amount"], orders)
    write_csv(repo, "customers.csv", ["customer", "region"], customers)
    sql = ("select c.region, count(*) as n, sum(o.amount) as total from o, c "
           "where o.customer = c.customer and o.amount > 20 group by c.region "
           "having count(*) > 1 order by total desc")
    plan = materialize(repo, sql, {"o": ("orders.csv", True), "c": ("customers.csv", True)})
    assert plan.shape == "aggregate"

    groups: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for (i, order), (j, customer) in itertools.product(enumerate(orders, 1),
                                                         enumerate(customers, 1)):
        if order[1] == customer[0] and order[2] > 20:
            groups[customer[1]]["o"].add(i)
            groups[customer[1]]["c"].add(j)
    rows = output_rows(repo)
    assert rows and {r["region"] for r in rows} <= set(groups)
    for number, row in enumerate(rows, 1):
        assert explained(repo, number) == groups[row["region"]]
        assert int(row["n"]) == sum(1 for o in orders for c in customers
                                    if o[1] == c[0] and o[2] > 20 and c[1] == row["region"])


@pytest.mark.parametrize("seed", [4, 5])
def test_join_rows_are_the_pair_that_made_them(repo: Repository, seed: int):
    orders, customers = make_tables(seed)
    write_csv(repo, "orders.csv", ["id", "customer", "amount"], orders)
    write_csv(repo, "customers.csv", ["customer", "region"], customers)
    sql = ("select o.id, c.region, o.amount from o join c on o.customer = c.customer "
           "where c.region != 'east' order by o.amount desc, o.id, c.region")
    plan = materialize(repo, sql, {"o": ("orders.csv", True), "c": ("customers.csv", True)})
    assert plan.shape == "select-project-join"

    expected = sorted(
        ((o[2], o[0], c[1]), i, j)
        for (i, o), (j, c) in itertools.product(enumerate(orders, 1), enumerate(customers, 1))
        if o[1] == c[0] and c[1] != "east")
    rows = output_rows(repo)
    assert len(rows) == len(expected)
    seen = set()
    for number, row in enumerate(rows, 1):
        explanation = why.explain(repo, "results.csv", number)
        pair = explained(repo, number)
        (i,), (j,) = pair["o"], pair["c"]
        assert orders[i - 1][1] == customers[j - 1][0]  # the pair satisfies the join
        assert (str(orders[i - 1][0]), customers[j - 1][1], str(orders[i - 1][2])) == \
            (row["id"], row["region"], row["amount"])  # and makes exactly this row
        assert explanation.values == {"id": orders[i - 1][0], "region": customers[j - 1][1],
                                      "amount": orders[i - 1][2]}
        seen.add((i, j))
    assert seen == {(i, j) for _, i, j in expected}  # every matching pair, once


def test_the_papers_query_on_headerless_files(repo: Repository, grouping: str):
    rnd = random.Random(7)
    test = [(i, round(rnd.random(), 3), rnd.randrange(4)) for i in range(200)]
    pred = [(i, round(rnd.random(), 3), label if rnd.random() < 0.8 else rnd.randrange(4))
            for i, _, label in test]
    rnd.shuffle(pred)
    write_csv(repo, "testfile.csv", None, test)
    write_csv(repo, "predfile.csv", None, pred)
    sql = ("select t._c2 as label, count(*) as err_cnt from testfile as t, predfile as r "
           "where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2")
    materialize(repo, sql, {"testfile": ("testfile.csv", False),
                            "predfile": ("predfile.csv", False)}, threads=4)
    for number, row in enumerate(output_rows(repo), 1):
        label = int(row["label"])
        expected_t = {i for i, t in enumerate(test, 1) for p in pred
                      if t[0] == p[0] and t[2] != p[2] and t[2] == label}
        expected_r = {j for j, p in enumerate(pred, 1) for t in test
                      if t[0] == p[0] and t[2] != p[2] and t[2] == label}
        assert explained(repo, number) == {"t": expected_t, "r": expected_r}
        assert int(row["err_cnt"]) == len(expected_t)
        explanation = why.explain(repo, "results.csv", number)
        for source in explanation.sources:  # the values are the file's line, no header
            lines = (test if source.alias == "t" else pred)
            assert tuple(source.values.values()) == lines[source.row - 1]


def test_distinct_aggregate_without_group_and_outer_join(repo: Repository, grouping: str):
    orders, customers = make_tables(9)
    write_csv(repo, "orders.csv", ["id", "customer", "amount"], orders)
    write_csv(repo, "customers.csv", ["customer", "region"], customers)
    inputs = {"o": ("orders.csv", True), "c": ("customers.csv", True)}

    materialize(repo, "select distinct region from c order by region", inputs)
    for number, row in enumerate(output_rows(repo), 1):
        assert explained(repo, number) == {
            "c": {j for j, c in enumerate(customers, 1) if c[1] == row["region"]}}

    # ROLLUP: a row per region, each with its customers, and a total row with all of them
    plan = materialize(repo, "select region, count(*) as n from c group by rollup (region) "
                             "order by region nulls last", inputs)
    if grouping == "keys":  # its groups cannot be joined back by key: no why-provenance
        assert "ROLLUP" in plan.reason and len(output_rows(repo)) == 5
    else:
        for number, row in enumerate(output_rows(repo), 1):
            assert explained(repo, number) == {
                "c": {j for j, c in enumerate(customers, 1) if row["region"] in ("", c[1])}}

    materialize(repo, "select max(amount) as top from o where amount < 50", inputs)
    assert explained(repo, 1) == {"o": {i for i, o in enumerate(orders, 1) if o[2] < 50}}

    # an order of an unknown customer is padded with NULLs: only the order made that row
    materialize(repo, "select o.id, c.region from o left join c on o.customer = c.customer "
                      "order by o.id, c.region", inputs)
    for number, row in enumerate(output_rows(repo), 1):
        pair = explained(repo, number)
        (i,) = pair["o"]
        assert str(orders[i - 1][0]) == row["id"]
        if row["region"]:
            (j,) = pair["c"]
            assert customers[j - 1][1] == row["region"]
        else:
            assert "c" not in pair


def test_three_files_grouped_by_an_expression(repo: Repository, grouping: str):
    orders, customers = make_tables(13, n=80)
    regions = [("north", "cold"), ("south", "warm"), ("east", "warm"), ("west", "cold")]
    write_csv(repo, "orders.csv", ["id", "customer", "amount"], orders)
    write_csv(repo, "customers.csv", ["customer", "region"], customers)
    write_csv(repo, "regions.csv", ["region", "climate"], regions)
    sql = ("select g.climate, o.amount % 2 = 0 as even, count(distinct o.customer) as k "
           "from o join c on o.customer = c.customer join g on c.region = g.region "
           "where o.amount between 10 and 90 group by 1, 2 having count(*) >= 2 "
           "order by 1, 2")
    materialize(repo, sql, {"o": ("orders.csv", True), "c": ("customers.csv", True),
                            "g": ("regions.csv", True)})
    rows = output_rows(repo)
    assert rows
    for number, row in enumerate(rows, 1):
        expected: dict[str, set[int]] = defaultdict(set)
        for (i, o), (j, c), (k, g) in itertools.product(
                enumerate(orders, 1), enumerate(customers, 1), enumerate(regions, 1)):
            if (o[1] == c[0] and c[1] == g[0] and 10 <= o[2] <= 90 and g[1] == row["climate"]
                    and str(o[2] % 2 == 0).lower() == row["even"]):
                expected["o"].add(i)
                expected["c"].add(j)
                expected["g"].add(k)
        assert explained(repo, number) == expected


def test_only_the_columns_the_query_names_are_numbered(repo: Repository, grouping: str):
    """Rows are numbered in a copy holding only the columns the query can read; a query that
    can read every column (`*`, NATURAL JOIN, a row as a value) gets every column."""
    rnd = random.Random(5)
    wide = [tuple(rnd.randrange(4) for _ in range(6)) for _ in range(120)]
    names = ["a", "b", "c", "d", "e", "f"]
    write_csv(repo, "wide.csv", names, wide)
    pairs = [(k, rnd.randrange(3)) for k in range(4)] + [(0, 9)]
    write_csv(repo, "keys.csv", ["a", "w"], pairs)
    inputs = {"w": ("wide.csv", True), "k": ("keys.csv", True)}
    plan = materialize(repo, "select a, count(*) as n from w where f > 1 group by a "
                             "order by a", inputs)
    assert plan.names is not None and not {"b", "c", "d", "e"} & plan.names
    for number, row in enumerate(output_rows(repo), 1):
        assert explained(repo, number) == {"w": {i for i, r in enumerate(wide, 1)
                                                 if r[5] > 1 and str(r[0]) == row["a"]}}
    # NATURAL JOIN joins on every shared name (here `a`): all columns are copied
    plan = materialize(repo, "select w.b, sum(k.w) as s from w natural join k group by w.b "
                             "order by w.b", inputs)
    assert plan.names is None
    for number, row in enumerate(output_rows(repo), 1):
        expected: dict[str, set[int]] = defaultdict(set)
        for (i, r), (j, p) in itertools.product(enumerate(wide, 1), enumerate(pairs, 1)):
            if r[0] == p[0] and str(r[1]) == row["b"]:
                expected["w"].add(i)
                expected["k"].add(j)
        assert explained(repo, number) == expected
    plan = materialize(repo, "select k.w, w.e from w join k using (a) where w.d = 3 "
                             "order by all", inputs)
    assert "e" in plan.names and "c" not in plan.names
    for number, row in enumerate(output_rows(repo), 1):
        found = explained(repo, number)
        (i,), (j,) = found["w"], found["k"]
        assert wide[i - 1][0] == pairs[j - 1][0] and wide[i - 1][3] == 3
        assert (str(pairs[j - 1][1]), str(wide[i - 1][4])) == (row["w"], row["e"])


def test_json_lines_and_parquet_rows(repo: Repository, views):
    """Row N of a JSON-lines file is its N-th record; of a Parquet file its N-th row."""
    records = [{"k": i % 3, "v": i} for i in range(12)]
    Path(repo.root, "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT i % 4 AS k, i * 10 AS w FROM range(20) r(i) ORDER BY i) "
                f"TO '{Path(repo.root, 'b.parquet')}' (FORMAT parquet)")
    con.close()
    materialize_as_the_core_does(
        repo, "joined.csv", "select a.k, sum(a.v) as v, count(b.w) as n from {a.jsonl} as a "
                            "left join {b.parquet} as b on a.k = b.k group by a.k order by a.k")
    for number, row in enumerate(output_rows(repo, "joined.csv"), 1):
        found = why.explain(repo, "joined.csv", number)
        k = int(row["k"])
        assert {s.row for s in found.sources if s.file == "a.jsonl"} == \
            {i + 1 for i, r in enumerate(records) if r["k"] == k}
        assert {s.row for s in found.sources if s.file == "b.parquet"} == \
            {i + 1 for i in range(20) if i % 4 == k}
        for source in found.sources:
            if source.file == "a.jsonl":
                assert source.values == records[source.row - 1]
            else:
                assert source.values == {"k": (source.row - 1) % 4, "w": (source.row - 1) * 10}


def test_self_join_and_star(repo: Repository):
    rows = [(i, i % 3) for i in range(10)]
    write_csv(repo, "pairs.csv", ["a", "b"], rows)
    materialize(repo, "select * from x as p join x as q on p.b = q.b and p.a < q.a "
                      "order by p.a, q.a", {"x": ("pairs.csv", True)})
    out = output_rows(repo)
    # what DuckDB writes for the plain query (repeated names made unique), and nothing more
    assert list(out[0]) == ["a", "b", "a_1", "b_1"]
    for number, row in enumerate(out, 1):
        pair = explained(repo, number)
        p_a, _, q_a, _ = row.values()
        assert pair == {"p": {int(p_a) + 1}, "q": {int(q_a) + 1}}


def test_headers_on_and_off_count_data_rows(repo: Repository, grouping: str):
    """Row N is the N-th data row: line N+1 of a file with a header, line N without."""
    data = [(i, f"w{i % 4}") for i in range(30)]
    write_csv(repo, "with.csv", ["n", "word"], data)
    write_csv(repo, "without.csv", None, data)
    materialize(repo, "select word, count(*) as k from w group by word order by word",
                {"w": ("with.csv", True)}, output="a.csv")
    materialize(repo, "select _c1 as word, count(*) as k from w group by word order by word",
                {"w": ("without.csv", False)}, output="b.csv")
    for number in range(1, 5):
        a = why.explain(repo, "a.csv", number)
        b = why.explain(repo, "b.csv", number)
        assert [s.row for s in a.sources] == [s.row for s in b.sources]
        with_lines = Path(repo.root, "with.csv").read_text().splitlines()
        without_lines = Path(repo.root, "without.csv").read_text().splitlines()
        for source in a.sources:
            assert with_lines[source.row] == f"{source.values['n']},{source.values['word']}"
        for source in b.sources:
            assert without_lines[source.row - 1] == \
                f"{source.values['_c0']},{source.values['_c1']}"


def test_row_numbers_follow_the_file_with_parallel_reads(repo: Repository):
    """A file DuckDB reads on many threads: row numbers are still the file's order."""
    n = 300_000
    with open(os.path.join(repo.root, "big.csv"), "w") as handle:
        handle.write("k,v\n")
        handle.writelines(f"{(i * 7919) % n},{i % 1000}\n" for i in range(n))
    materialize(repo, "select k, v from big where v = 999 order by k",
                {"big": ("big.csv", True)}, threads=8)
    out = output_rows(repo)
    assert len(out) == n // 1000
    for number in (1, len(out) // 2, len(out)):
        (source,) = why.explain(repo, "results.csv", number).sources
        i = source.row - 1
        assert (str((i * 7919) % n), str(i % 1000)) == (out[number - 1]["k"],
                                                       out[number - 1]["v"])


# -- shapes without why-provenance -------------------------------------------------------------


@pytest.mark.parametrize(("sql", "reason"), [
    ("select a from t union select a from r", "set operation (UNION)"),
    ("select a from t except select a from r", "set operation (EXCEPT)"),
    ("select a from t where a in (select a from r)", "subquery"),
    ("select a from t where exists (select 1 from r where r.a = t.a)", "subquery"),
    ("with x as (select a from t) select a from x", "common table expression"),
    ("select a, sum(a) over (order by a) from t", "window function"),
    ("select a from t qualify row_number() over (partition by a) = 1", "window function"),
    ("select * from t semi join r using (a)", "SEMI join"),
    ("select * from t anti join r using (a)", "ANTI join"),
    ("select * from t asof join r on t.a >= r.a", "ASOF join"),
    ("select distinct count(*) from t group by a", "DISTINCT to aggregated rows"),
    ("select distinct on (a) a from t", "DISTINCT ON"),
    ("select unnest([a, a]) from t", "UNNEST"),
    ("select * from range(10)", "not a file of the repository"),
    ("select * from t, other", "other, which is not a file"),
    ("select 1", "reads no file"),
    ("select __prov_rid_0 from t", "reserved"),
])
def test_unsupported_shapes_say_why(sql: str, reason: str):
    plan = why.rewrite(sql, {"t": "t.csv", "r": "r.csv"})
    assert isinstance(plan, why.Unsupported), plan
    assert reason in plan.reason
    assert plan.message.startswith("why-provenance is unavailable for this view: ")


def test_an_unsupported_view_still_works_and_why_says_so(repo: Repository):
    write_csv(repo, "t.csv", ["a"], [(1,), (2,)])
    plan = materialize(repo, "select a from t union all select a + 10 from t",
                       {"t": ("t.csv", True)})
    assert isinstance(plan, why.Unsupported)
    assert [r["a"] for r in output_rows(repo)] == ["1", "2", "11", "12"]
    with pytest.raises(ProvError, match=r"no record-level provenance for results\.csv"):
        why.explain(repo, "results.csv", 1)


# -- versions, errors and the index -------------------------------------------------------------


def test_changed_input_values_come_from_the_version_the_view_read(repo: Repository):
    write_csv(repo, "t.csv", ["a", "b"], [(1, "x"), (2, "y"), (3, "x")])
    subprocess.run(["git", "add", "t.csv"], cwd=repo.root, check=True)
    subprocess.run(["git", "commit", "-qm", "t"], cwd=repo.root, check=True)
    materialize(repo, "select b, sum(a) as s from t group by b order by b",
                {"t": ("t.csv", True)})
    write_csv(repo, "t.csv", ["a", "b"], [(100, "z")])  # the input changes afterwards
    explanation = why.explain(repo, "results.csv", 1)
    assert [(s.row, s.values) for s in explanation.sources] == [
        (1, {"a": 1, "b": "x"}), (3, {"a": 3, "b": "x"})]
    assert explanation.values == {"b": "x", "s": 4}


def test_errors_are_one_clear_line(repo: Repository):
    write_csv(repo, "t.csv", ["a"], [(1,), (2,)])
    with pytest.raises(NotFound, match=r"results\.csv does not exist"):
        why.explain(repo, "results.csv", 1)
    with pytest.raises(NotFound, match=r"no record-level provenance for t\.csv: no file view"):
        why.explain(repo, "t.csv", 1)
    materialize(repo, "select a from t", {"t": ("t.csv", True)})
    with pytest.raises(BadInput, match="has 2 rows: --row must be between 1 and 2"):
        why.explain(repo, "results.csv", 3)
    Path(repo.root, "results.csv").write_text("a\n5\n")  # not what the view wrote
    with pytest.raises(NotFound, match="no record-level provenance for results"):
        why.explain(repo, "results.csv", 1)


def test_lineage_survives_an_index_rebuild(repo: Repository):
    from provgraph.journal.indexer import open_index

    write_csv(repo, "t.csv", ["a"], [(1,), (2,)])
    materialize(repo, "select a * 2 as d from t where a > 1", {"t": ("t.csv", True)})
    open_index(repo, rebuild=True).close()
    assert [s.row for s in why.explain(repo, "results.csv", 1).sources] == [2]


def test_rewritten_query_keeps_the_views_columns_and_order(repo: Repository):
    write_csv(repo, "t.csv", ["a", "b"], [(3, 1), (1, 2), (2, 1)])
    materialize(repo, "select t.*, a + b as c from t order by a desc limit 2",
                {"t": ("t.csv", True)})
    assert output_rows(repo) == [{"a": "3", "b": "1", "c": "4"}, {"a": "2", "b": "1", "c": "3"}]
    assert [s.row for s in why.explain(repo, "results.csv", 2).sources] == [3]


# -- with the file views' own tables, and through `prov` -----------------------------------------


@pytest.fixture
def views(monkeypatch: pytest.MonkeyPatch):
    """The file views, writing SQL views through why.write_view (as `prov fileview` does once
    provgraph.cli.fileview_why is loaded), for this test only."""
    from provgraph.fileview import evaluate

    monkeypatch.setattr(evaluate, "SQL_WRITERS", [])
    why.install()
    return evaluate


def materialize_as_the_core_does(repo: Repository, name: str, query: str):
    """`prov fileview -c -n NAME -q QUERY`, in-process: `{path}` placeholders compiled to
    `__fv_i` relations with their header detection, the activity recorded, the file written
    by why.write_view."""
    import provgraph.fileview as fv

    view = fv.definition(repo, name, query=query, cwd=repo.root)
    return fv.define(repo, view, materialize=True)


PAPER = ("select t._c2 as label, count(*) as err_cnt from {testfile.csv} as t, "
         "{predfile.csv} as r where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2")


def paper_files(repo: Repository, n: int = 300, seed: int = 11) -> tuple[list, list]:
    rnd = random.Random(seed)
    test = [(i, round(rnd.random(), 3), rnd.randrange(5)) for i in range(n)]
    pred = [(i, round(rnd.random(), 3), label if rnd.random() < 0.7 else rnd.randrange(5))
            for i, _, label in test]
    rnd.shuffle(pred)
    write_csv(repo, "testfile.csv", None, test)
    write_csv(repo, "predfile.csv", None, pred)
    return test, pred


def check_paper_rows(repo: Repository, test: list, pred: list, explain) -> None:
    rows = output_rows(repo)
    assert rows
    for number, row in enumerate(rows, 1):
        label = int(row["label"])
        errors = [(i, j) for i, t in enumerate(test, 1) for j, p in enumerate(pred, 1)
                  if t[0] == p[0] and t[2] != p[2] and t[2] == label]
        found = explain(number)
        assert {(s["file"], s["row"]) for s in found["sources"]} == \
            {("testfile.csv", i) for i, _ in errors} | {("predfile.csv", j) for _, j in errors}
        assert int(row["err_cnt"]) == len(errors) == found["values"]["err_cnt"]
        for source in found["sources"]:
            line = (test if source["file"] == "testfile.csv" else pred)[source["row"] - 1]
            assert tuple(source["values"].values()) == line


def test_the_papers_command_through_the_file_views(repo: Repository, views):
    test, pred = paper_files(repo)
    materialize_as_the_core_does(repo, "results.csv", PAPER)
    check_paper_rows(repo, test, pred,
                     lambda n: why.explain(repo, "results.csv", n).as_dict())


def test_views_without_lineage_say_why(repo: Repository, views, monkeypatch):
    """Through the file views' own materialization: an unsupported query, a script, a file
    changed since: `why` names the reason."""
    import provgraph.fileview as fv

    write_csv(repo, "t.csv", ["a"], [(1,), (2,)])
    for name, kind in (("u.csv", "query"), ("s.txt", "script")):
        text = ("select a from {t.csv} union select a + 1 from {t.csv}" if kind == "query"
                else "sort")
        view = fv.definition(repo, name, cwd=repo.root, **{kind: text},
                             **({"stdin": ["t.csv"]} if kind == "script" else {}))
        fv.define(repo, view, materialize=True)
    with pytest.raises(ProvError, match=r"u\.csv: why-provenance is unavailable for this "
                                        r"view: it is a set operation \(UNION\)"):
        why.explain(repo, "u.csv", 1)
    with pytest.raises(ProvError, match=r"s\.txt: it is a script view"):
        why.explain(repo, "s.txt", 1)
    monkeypatch.setenv("PROV_FILEVIEW_WHY", "0")
    materialize_as_the_core_does(repo, "off.csv", "select a from {t.csv}")
    with pytest.raises(ProvError, match="the view wrote it with why-provenance off"):
        why.explain(repo, "off.csv", 1)
    monkeypatch.setenv("PROV_FILEVIEW_WHY", "1")
    materialize_as_the_core_does(repo, "off.csv", "select a from {t.csv} where a > 1")
    assert [s.row for s in why.explain(repo, "off.csv", 1).sources] == [2]


def test_prov_fileview_why_end_to_end(repo_factory):
    """`prov fileview -c` then `prov fileview why`, as a user runs them."""
    r = repo_factory()
    root = Repository.discover(r.root)
    test, pred = paper_files(root)
    r.commit_all("data")
    r.ok("fileview", "-c", "-n=results.csv", f"-q={PAPER}")
    help_text = r.ok("fileview", "--help").stdout
    if "why" not in help_text.split("Commands:")[-1]:
        pytest.skip("`prov fileview why` is not registered yet (cli/app.py imports "
                    "provgraph.cli.fileview_why)")
    first = r.prov("fileview", "why", "results.csv", "--row", "1", "--json")
    if "no record-level provenance" in first.stderr:
        pytest.skip("`prov fileview -c` does not record why-provenance yet")

    def explain(n: int) -> dict:
        return json.loads(r.ok("fileview", "why", "results.csv", "--row", str(n),
                               "--json").stdout)

    check_paper_rows(r, test, pred, explain)
    table = r.ok("fileview", "why", "results.csv", "--row", "1", "--limit", "2").stdout
    assert "testfile.csv" in table and "predfile.csv" in table and "more rows" in table
    bad = r.prov("fileview", "why", "results.csv", "--row", "99")
    assert bad.returncode == 1 and bad.stderr.startswith("prov: results.csv has ")
    assert "Traceback" not in bad.stderr


def test_the_inputs_versions_are_the_ones_the_graph_names(repo_factory):
    """The lineage names each input by the digest of the version the activity used (a git
    blob id, or `sha256:...` for a large file), taken from the before-snapshot, not hashed
    again; `why` then reads the rows from the file while it is that version."""
    import duckdb as db

    r = repo_factory()
    root = Repository.discover(r.root)
    test, pred = paper_files(root)  # not committed: the view's snapshot is their first
    big = str(os.path.getsize(os.path.join(r.root, "predfile.csv")) - 1)
    r.ok("fileview", "-c", "-n=results.csv", f"-q={PAPER}",
         env={"PROV_LARGE_FILE_LIMIT": big})  # predfile.csv is a large file, testfile not
    from graph import Graph

    graph = Graph.of(r)
    [activity] = [a for a in graph.activities() if a.properties.get("subcommand") == "fileview"]
    used = {graph.nodes[e.target].properties["path"]: graph.nodes[e.target].properties["digest"]
            for e in graph.edges if e.type == "used" and e.source == activity.id}
    con = db.connect(os.path.join(r.root, ".git", "prov", "index.duckdb"), read_only=True)
    [(inputs,)] = con.execute("SELECT inputs FROM fileview_lineage_outputs").fetchall()
    con.close()
    recorded = {i["path"]: i["digest"] for i in json.loads(inputs)}
    assert recorded == used
    assert recorded["predfile.csv"].startswith("sha256:")
    assert not recorded["testfile.csv"].startswith("sha256:")

    def explain(n: int) -> dict:
        return json.loads(r.ok("fileview", "why", "results.csv", "--row", str(n),
                               "--json").stdout)

    check_paper_rows(r, test, pred, explain)


def test_why_reads_path_at_version_as_prov_show_does(repo_factory):
    """`prov fileview why PATH@vN` names an older version of the view's file, from any folder,
    with the same reading of `@vN` as `prov show` (queries.nodes.split_version)."""
    from provgraph.queries.nodes import split_version

    assert split_version("a@vb@v2") == ("a@vb", 2)
    assert split_version("results.csv@v") == ("results.csv@v", None)
    assert split_version("@v3") == ("@v3", None)
    r = repo_factory()
    root = Repository.discover(r.root)
    write_csv(root, "t.csv", ["a"], [(1,), (2,), (3,)])
    os.makedirs(os.path.join(r.root, "sub"))
    r.commit_all("data")
    r.ok("fileview", "-c", "-n=results.csv", "-q=select a from {t.csv} where a > 1")
    write_csv(root, "t.csv", ["a"], [(5,), (1,), (7,)])
    r.ok("sh", "-c", "true")  # the edit of t.csv is recorded; the view is stale
    r.ok("fileview", "refresh", "results.csv")
    sub = Path(r.root) / "sub"

    def rows(reference: str) -> list[int]:
        found = json.loads(r.ok("fileview", "why", reference, "--row", "1", "--json",
                                cwd=sub).stdout)
        return [s["row"] for s in found["sources"]]

    assert rows("../results.csv@v1") == [2]  # a = 2, the second row of t.csv then
    assert rows("../results.csv@v2") == [1]  # a = 5, its first row now
    assert rows("../results.csv") == [1]
    shown = r.ok("show", "../results.csv@v1", "--json", cwd=sub).stdout
    assert "results.csv@v1" in shown
    missing = r.prov("fileview", "why", "../results.csv@v9", "--row", "1", cwd=sub)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines() == ["prov: no version 9 of results.csv is recorded"]


def test_view_files_are_named_by_gits_own_blob_ids(repo: Repository):
    """why-provenance names a version by gitio.hash_file, which must agree with git (the
    graph's digests come from git) and with sha256 (large files are named by it)."""
    import hashlib

    from provgraph import gitio

    data = os.urandom(3 << 20) + b"tail\n"  # several read chunks
    path = os.path.join(repo.root, "big.bin")
    with open(path, "wb") as handle:
        handle.write(data)
    git = subprocess.run(["git", "hash-object", "--no-filters", path], cwd=repo.root,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert gitio.hash_file(path, repo.object_format) == (git, None)
    assert gitio.hash_file(path, repo.object_format, sha256=True) == (
        git, "sha256:" + hashlib.sha256(data).hexdigest())
    assert why.digest_of(path, git, repo.object_format) == git
    assert why.digest_of(path, "sha256:0", repo.object_format) == \
        "sha256:" + hashlib.sha256(data).hexdigest()
