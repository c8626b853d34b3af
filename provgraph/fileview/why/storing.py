"""Storing the lineage of a written view file in the embedded index
(`.git/prov/index.duckdb`), in two tables the indexer never touches (see the package's
docstring), and reading files back the way the view read them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from provgraph import gitio
from provgraph.errors import StoreUnavailable
from provgraph.fileview.tables import sql_literal
from provgraph.fileview.why.rewriting import OUTPUT_TABLE, Rewritten
from provgraph.fileview.why.running import drop_numbered, file_stat, lineage_sql

LINEAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS fileview_lineage_outputs (
    output_id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL,
    oid VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    created VARCHAR NOT NULL,
    sql VARCHAR NOT NULL,
    shape VARCHAR NOT NULL,
    inputs JSON NOT NULL,
    output JSON NOT NULL,
    rows BIGINT NOT NULL,
    pairs BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS fileview_lineage (
    output_id INTEGER NOT NULL,
    output_row BIGINT NOT NULL,
    input SMALLINT NOT NULL,
    source_row BIGINT NOT NULL
);
"""


@dataclass
class Recorded:
    output_id: int
    rows: int
    pairs: int


def digest_of(path: str, like: str, object_format: str = "sha1") -> str:
    """The digest of a file in the form of `like` (`sha256:...` or a git blob id)."""
    if like.startswith("sha256:"):
        from provgraph.capture.snapshot import file_sha256

        return "sha256:" + file_sha256(path)
    return gitio.hash_file(path, object_format)[0]


def index_path(repo) -> str:
    return repo.prov_path("index.duckdb")


def record(con, plan: Rewritten, repo, output: str, *, written: str | None = None,
           query: str | None = None, output_scan: str | None = None,
           scratch: str | None = None, index_con=None) -> Recorded | None:
    """Store the lineage of the prepared, written view file `output` (a repository path) in
    the embedded index. Call after `prepare` (given `root`) and after the file is written.
    Returns None when `prepare` fell back to the original query.

    `written`: where the file is now, if not yet at `output` (a temporary file about to be
    moved there). `query`: the view's SQL as its user wrote it (shown by `explain`; default:
    the query rewritten). `output_scan`: SQL reading the written file back (default: by its
    extension, CSV with a header). `scratch`: a folder `con` may write to, when `con` is
    sandboxed (provgraph.sandbox: it cannot open the index): the pairs go through a Parquet
    file there to a connection of provgraph's own (`index_con`, an in-memory DuckDB the
    caller closes; by default one made here), which costs ~20 ms per 400,000 pairs.
    """
    if plan.error:
        return None
    full = written or os.path.join(repo.root, output)
    oid, sha = gitio.hash_file(full, repo.object_format, sha256=True)
    st = os.stat(full)
    hashed = plan.hashing.result() if plan.hashing is not None else {}
    inputs = []
    for inp in plan.inputs:
        version = plan.versions.get(inp.path) or {"stat": file_stat(repo.root, inp.path)}
        digest = version.get("digest") or hashed.get(inp.path)
        source = os.path.join(repo.root, inp.path)
        if digest is None and os.path.isfile(source):  # `prepare` was not given the root
            digest = gitio.hash_file(source, repo.object_format)[0]
        inputs.append({"alias": inp.alias, "relation": inp.relation, "path": inp.path,
                       "digest": digest, "stat": version.get("stat"),
                       "scan": plan.scans.get(inp.relation)})
    out = {"columns": plan.columns, "scan": output_scan or default_scan(output),
           "stat": [st.st_size, st.st_mtime_ns]}
    rows = con.execute(f"SELECT count(*) FROM {OUTPUT_TABLE}").fetchone()[0]
    repo.ensure_prov_dir()
    pairs_sql, handoff, own = lineage_sql(plan), None, None
    if scratch is not None:
        import duckdb

        handoff = os.path.join(scratch, f"lineage-{os.urandom(4).hex()}.parquet")
        con.execute(f"COPY ({pairs_sql}) TO {sql_literal(handoff)} (FORMAT parquet)")
        pairs_sql = f"SELECT * FROM read_parquet({sql_literal(handoff)})"
        if index_con is None:
            index_con = own = duckdb.connect()
    try:
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        output_id, pairs = _store(index_con if scratch is not None else con, index_path(repo),
                                  pairs_sql, [output, oid, sha, created, query or plan.original,
                                              plan.shape, json.dumps(inputs), json.dumps(out),
                                              rows])
    finally:
        if own is not None:
            own.close()
        if handoff is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(handoff)
    con.execute(f"DROP TABLE IF EXISTS {OUTPUT_TABLE}")
    drop_numbered(con, plan)
    return Recorded(output_id, rows, pairs)


def _store(con, path: str, pairs_sql: str, values: list[Any]) -> tuple[int, int]:
    """Write one output's pairs (`pairs_sql`: output_row, input, source_row) and its row of
    `fileview_lineage_outputs` (`values`: path ... rows) into the index at `path`, attached to
    `con`; return (output_id, pairs)."""
    output, oid = values[0], values[1]
    schema = "__prov_index"
    attach(con, path, schema)
    try:
        con.execute("BEGIN")
        try:
            for statement in LINEAGE_SCHEMA.replace("TABLE IF NOT EXISTS ",
                                                    f"TABLE IF NOT EXISTS {schema}.").split(";"):
                if statement.strip():
                    con.execute(statement)
            old = [r[0] for r in con.execute(
                f"SELECT output_id FROM {schema}.fileview_lineage_outputs "
                "WHERE path = ? AND oid = ?", [output, oid]).fetchall()]
            if old:  # the same bytes again: the newest run's lineage replaces the older one
                con.execute(f"DELETE FROM {schema}.fileview_lineage WHERE output_id IN "
                            "(SELECT unnest(?))", [old])
                con.execute(f"DELETE FROM {schema}.fileview_lineage_outputs WHERE output_id IN "
                            "(SELECT unnest(?))", [old])
            output_id = con.execute(
                f"SELECT coalesce(max(output_id), 0) + 1 FROM {schema}.fileview_lineage_outputs"
            ).fetchone()[0]
            pairs = con.execute(f"INSERT INTO {schema}.fileview_lineage SELECT ?, * FROM "
                                f"({pairs_sql})", [output_id]).fetchone()[0]
            con.execute(
                f"INSERT INTO {schema}.fileview_lineage_outputs VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [output_id, *values, pairs])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DETACH {schema}")
    return output_id, pairs


def attach(con, path: str, schema: str, read_only: bool = False,
            timeout: float = 120.0) -> None:
    """ATTACH the index, waiting while another process writes it (DuckDB allows one)."""
    import duckdb

    deadline = time.monotonic() + timeout
    delay = 0.005
    mode = " (READ_ONLY)" if read_only else ""
    while True:
        try:
            con.execute(f"ATTACH {sql_literal(path)} AS {schema}{mode}")
            return
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise StoreUnavailable(f"cannot open the index {path}: "
                                       f"{str(exc).splitlines()[0]}") from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.2)



def default_scan(path: str, header: bool | None = True) -> str:
    """How a file is read back by default, by its extension (`header`: for CSV/TSV, None to
    let DuckDB's sniffer decide)."""
    name = path.lower()
    for suffix in (".gz", ".gzip", ".zst", ".zstd"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return f"SELECT * FROM read_parquet({sql_literal(path)})"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return f"SELECT * FROM read_json({sql_literal(path)}, format = 'auto')"
    options = [f"{sql_literal(path)}"]
    if name.endswith((".tsv", ".tab")):
        options.append("delim = '\t'")
    if header is not None:
        options.append(f"header = {str(header).lower()}")
    return f"SELECT * FROM read_csv({', '.join(options)})"
