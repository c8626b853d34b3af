"""Files larger than the memory DuckDB may use: views stream and spill under `.git/prov/`."""

from __future__ import annotations

import os

import duckdb

from provgraph.fileview import engine
from provgraph.repo import Repository

PAPER_QUERY = ("select t._c2 as label, count(*) as err_cnt, max(t._c1) as last "
               "from {testfile.csv} as t, {predfile.csv} as r "
               "where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2 order by label")


def test_the_memory_limit_and_spill_folder_are_set(repo):
    r = Repository.discover(repo.root)
    scratch = engine.scratch_dir(r)
    assert os.path.dirname(scratch) == r.prov_path("fileview/tmp")
    con = engine.connect(r, "200MB", reads=[], scratch=scratch)
    limit, temp = con.execute("select current_setting('memory_limit'), "
                              "current_setting('temp_directory')").fetchone()
    assert limit.startswith("190")  # 200 MB in MiB
    assert temp == scratch  # spill files go to the evaluation's own folder
    assert engine.memory_limit("25%").endswith("MiB")
    repo.write(".prov.toml", '[fileview]\nmemory_limit = "100MB"\n')
    con = engine.connect(r, reads=[], scratch=scratch)
    assert con.execute("select current_setting('memory_limit')").fetchone()[0].startswith("95")
    repo.ok("config", "set", "fileview.memory_limit", "300MB")  # this clone's own setting
    con = engine.connect(r, reads=[], scratch=scratch)
    assert con.execute("select current_setting('memory_limit')").fetchone()[0].startswith("286")
    engine.remove_scratch(scratch)


def test_inputs_larger_than_the_memory_limit(repo):
    rows = 2_000_000  # two files of ~55 MB each, joined under a 100 MB limit
    con = duckdb.connect()
    for name, seed in (("testfile.csv", "0"), ("predfile.csv", "1")):
        con.execute(f"""copy (select i, 'img' || i || '.jpg',
                        ['cat', 'dog', 'bird', 'fish', 'horse'][1 + (hash(i, {seed}) % 5)::BIGINT]
                        from range({rows}) t(i)) to '{repo.path(name)}'
                        (format csv, header false)""")
    size = repo.path("testfile.csv").stat().st_size + repo.path("predfile.csv").stat().st_size
    assert size > 100_000_000

    proc = repo.ok("fileview", "--memory-limit", "100MB", "-c", "-n", "results.csv",
                   "-q", PAPER_QUERY)
    assert "(5 rows)" in proc.stderr

    query = PAPER_QUERY
    for name in ("testfile.csv", "predfile.csv"):
        scan = f"read_csv('{repo.path(name)}', header=false, names=['_c0', '_c1', '_c2'])"
        query = query.replace("{" + name + "}", scan)
    expected = con.execute(query).fetchall()  # DuckDB with no memory limit
    got = [line.split(",") for line in repo.read("results.csv").splitlines()[1:]]
    assert [(label, int(n), last) for label, n, last in got] == expected
    assert sum(n for _, n, _ in expected) > rows // 2
    assert not any(repo.path(".git/prov/fileview/tmp").iterdir())  # no leftovers, no spill
