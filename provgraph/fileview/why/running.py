"""Running a rewritten query once on the view's DuckDB connection, into a temporary table
the view's file is then written from, so output row N and the lineage of row N come from the
same run; and the (output row, input, input row) pairs of that table.
"""

from __future__ import annotations

import os
import re

from sqlglot import exp

from provgraph import gitio
from provgraph.fileview.why.rewriting import (
    KEY,
    LINEAGE,
    OUTPUT_TABLE,
    PREFIX,
    RID,
    Refuse,
    Rewritten,
    is_aggregate_call,
    numbered_table,
)


def prepare(con, plan: Rewritten, scans: dict[str, str] | None = None, root: str | None = None,
            digests: dict[str, str] | None = None) -> str:
    """Run the rewritten query once, into a temporary table; return the SELECT that yields
    the view's rows, in the order the lineage numbers them (write the file from it).

    `con` is the DuckDB connection on which the query's relations are defined (file scans, in
    file order: insertion order is kept while this runs). `scans` gives, by relation name, a
    SELECT reading each file (kept to show the input rows' values later); by default, the
    relation's view definition. `root`: the repository's folder (the inputs' paths are
    relative to it). `digests`: the version of each input path as the graph names it (the
    entity's `digest`: its git blob id, or `sha256:...` for a large file); those not given
    are hashed meanwhile, on another thread.

    Should DuckDB refuse the rewritten query where it accepts the original (a shape this
    module misjudged), the original is returned: the view works, without why-provenance
    (`plan.error` says why).
    """
    import duckdb

    if root is not None:
        paths = sorted({i.path for i in plan.inputs})
        plan.versions = {p: {"digest": (digests or {}).get(p), "stat": file_stat(root, p)}
                         for p in paths}
        missing = [p for p in paths if plan.versions[p]["digest"] is None]
        if missing:
            plan.hashing = _hash_in_background(root, missing)
    keep_insertion_order(con)
    plan.scans = {inp.relation: (scans or {}).get(inp.relation) or _scan_of(con, inp.relation)
                  for inp in plan.inputs}
    names = [d[0] for d in con.execute(f"SELECT * FROM ({plan.original}) LIMIT 0").description]
    try:
        _number_inputs(con, plan)
        if plan.shape == "aggregate" and _lists_too_big(con, plan, root):
            _prepare_keyed(con, plan)
        else:
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {OUTPUT_TABLE} AS {plan.sql}")
            except duckdb.OutOfMemoryException:
                if plan.shape != "aggregate":
                    raise
                _prepare_keyed(con, plan)  # the groups' row lists did not fit: spill instead
    except (duckdb.BinderException, duckdb.ParserException,
            duckdb.NotImplementedException, Refuse) as exc:
        plan.error = (f"DuckDB refused the query rewritten for why-provenance "
                      f"({str(exc).splitlines()[0]})" if not isinstance(exc, Refuse)
                      else str(exc))
        return plan.original
    stored = [d[0] for d in con.execute(f"SELECT * FROM {OUTPUT_TABLE} LIMIT 0").description]
    plan.columns, plan.output_columns = names, stored
    columns = ", ".join(f"{sql_identifier(s)} AS {sql_identifier(n)}" for s, n in zip(stored, names,
                                                                        strict=False))
    return f"SELECT {columns} FROM {OUTPUT_TABLE}"


def keep_insertion_order(con) -> None:
    """Rows in file order (DuckDB's default, which the file views' connections are opened
    with: their configuration is locked, so it is set only where it is off)."""
    if not con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]:
        con.execute("SET preserve_insertion_order = true")


def _number_inputs(con, plan: Rewritten) -> None:
    """Copy each input relation into a table, in file order: its rowid is then the row's
    number. A copy is read in parallel (with insertion order preserved) and spills past the
    memory limit; `row_number() OVER ()` over the scan numbers the rows on one thread, which
    made why-provenance cost ~1.5x the view's own command instead of ~1.25x."""
    done: set[str] = set()
    for inp in plan.inputs:
        table = numbered_table(inp.relation, plan.inputs)
        if table not in done:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {sql_identifier(table)} AS "
                        f"SELECT {_copied(con, inp.relation, plan.names)} "
                        f"FROM {sql_identifier(inp.relation)}")
            done.add(table)


def _copied(con, relation: str, names: frozenset[str] | None) -> str:
    """The columns of `relation` the query may read: copying a wide file whole for a query
    of two of its columns would cost time and memory for nothing."""
    if names is None:
        return "*"
    described = con.execute(f"DESCRIBE SELECT * FROM {sql_identifier(relation)}").fetchall()
    columns = [row[0] for row in described if row[0].lower() in names]
    if len(columns) == len(described):
        return "*"
    return ", ".join(map(sql_identifier, columns)) or f'true AS "{PREFIX}row"'


def drop_numbered(con, plan: Rewritten) -> None:
    for table in {numbered_table(inp.relation, plan.inputs) for inp in plan.inputs}:
        con.execute(f"DROP TABLE IF EXISTS {sql_identifier(table)}")


def _lists_too_big(con, plan: Rewritten, root: str | None) -> bool:
    """Whether the groups' lists of row numbers (held in memory: DuckDB does not spill a
    list aggregate) might not fit in a quarter of the memory limit. Estimated from the inputs'
    sizes: ~40 bytes of list and hash set per row, a row per ~20 bytes of file. An estimate
    that is wrong the other way ends in DuckDB's out-of-memory error, which `prepare` turns
    into the keyed path too, after the lost work."""
    if root is None:
        return False
    size = sum(os.path.getsize(os.path.join(root, p)) for p in {i.path for i in plan.inputs}
               if os.path.isfile(os.path.join(root, p)))
    return 2 * size > _memory_limit(con) / 4


_UNITS = {"": 1, "b": 1, "kb": 1e3, "kib": 2**10, "mb": 1e6, "mib": 2**20, "gb": 1e9,
          "gib": 2**30, "tb": 1e12, "tib": 2**40}


def _memory_limit(con) -> float:
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    found = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", str(text))
    if not found or found.group(2).lower() not in _UNITS:
        return float("inf")
    return float(found.group(1)) * _UNITS[found.group(2).lower()]


def _prepare_keyed(con, plan: Rewritten) -> None:
    """The aggregate without row lists: the output gets its group keys as extra columns, and
    the pairs come later from joining the numbered, filtered input rows to the output by
    key (`lineage_sql`): a second pass over the inputs, but every step of it can spill."""
    columns: set[str] = set()
    for inp in plan.inputs:
        rows = con.execute(f"DESCRIBE SELECT * FROM {sql_identifier(inp.relation)}").fetchall()
        columns |= {r[0].lower() for r in rows}
    output, base = _keyed(plan, columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {OUTPUT_TABLE} AS {output}")
    plan.keyed = base


def _keyed(plan: Rewritten, input_columns: set[str]) -> tuple[str, str]:
    """(the output query with its group keys as columns KEY_j, the numbered input rows after
    WHERE with the same keys)."""
    select = plan.grouped.copy()
    items = list(select.expressions)
    if any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
           for e in items):
        raise Refuse("its groups are too big to list in memory, and with `*` their keys "
                      "cannot be spelled out")

    def bare(e: exp.Expression) -> exp.Expression:
        return (e.this if isinstance(e, exp.Alias) else e).copy()

    group = select.args.get("group")
    if select.args.get("distinct"):
        keys = [bare(e) for e in items]
    elif group is None:
        keys = []  # one group: every row
    elif group.args.get("all"):
        keys = [bare(e) for e in items if not any(is_aggregate_call(n) for n in e.walk())]
    else:
        if any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup")) or any(
                isinstance(g, (exp.Rollup, exp.Cube, exp.GroupingSets))
                for g in group.expressions):
            raise Refuse("its groups are too big to list in memory, and ROLLUP, CUBE and "
                          "GROUPING SETS groups cannot be joined back by key")
        aliases = {e.alias.lower(): e.this for e in items if isinstance(e, exp.Alias)}
        keys = []
        for g in group.expressions:
            if isinstance(g, exp.Literal) and not g.is_string:  # GROUP BY 1
                keys.append(bare(items[int(g.this) - 1]))
            elif (isinstance(g, exp.Column) and not g.table and g.name.lower() in aliases
                  and g.name.lower() not in input_columns):  # GROUP BY an output alias
                keys.append(aliases[g.name.lower()].copy())
            else:
                keys.append(g.copy())
    key_names = [KEY.format(j) for j in range(len(keys))]
    output = select.copy()
    for key, name in zip(keys, key_names, strict=True):
        output.append("expressions", exp.alias_(key.copy(), name, quoted=True))
    base = exp.Select(expressions=[
        *(exp.alias_(key, name, quoted=True) for key, name in zip(keys, key_names, strict=True)),
        *(exp.alias_(exp.column(RID.format(i), table=inp.alias, quoted=True), RID.format(i),
                     quoted=True) for i, inp in enumerate(plan.inputs))])
    base.set("from_", select.args["from_"].copy())
    base.set("joins", [j.copy() for j in select.args.get("joins") or []])
    if select.args.get("where") is not None:
        base.set("where", select.args["where"].copy())
    return output.sql(dialect="duckdb"), base.sql(dialect="duckdb")


def file_stat(root: str, path: str) -> list[int] | None:
    """Size and modification time: the file is taken as unchanged while both are."""
    try:
        st = os.stat(os.path.join(root, path))
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _hash_in_background(root: str, paths: list[str]):
    """Git blob ids of files, worked out on a thread (hashlib lets go of the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    def work() -> dict[str, str | None]:
        object_format = _object_format(root)
        found: dict[str, str | None] = {}
        for path in paths:
            full = os.path.join(root, path)
            found[path] = gitio.hash_file(full, object_format)[0] if os.path.isfile(full) else None
        return found

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier: relation and column names come from the user's
    files, and a quoted one is never read as a keyword."""
    return '"' + name.replace('"', '""') + '"'


_VIEW = re.compile(r'^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+'
                   r'(?:"(?:[^"]|"")*"|\S+)\s+AS\s+(.*?)[;\s]*$', re.S | re.I)


def _scan_of(con, relation: str) -> str | None:
    """The SQL behind a relation (a view over a file), as DuckDB keeps it: to read the same
    rows the same way later."""
    row = con.execute("SELECT sql FROM duckdb_views() WHERE lower(view_name) = lower(?) "
                      "ORDER BY temporary DESC LIMIT 1", [relation]).fetchone()
    found = _VIEW.match(row[0]) if row and row[0] else None
    return found.group(1) if found else None


def lineage_sql(plan: Rewritten) -> str:
    """(output_row, input, source_row) pairs of the prepared output.

    Each pair once: an output row of a select-project-join query has one row of each input,
    a group has the distinct rows of each. In output-row order per input, not sorted
    further: sorting costs more time than the little space it would save."""
    k = len(plan.inputs)
    if plan.keyed is not None:
        keys = [c for c in plan.output_columns if c.startswith(KEY.format(""))]
        on = " AND ".join(f"o.{sql_identifier(c)} IS NOT DISTINCT FROM b.{sql_identifier(c)}"
                          for c in keys)
        fields = ", ".join(f'b.{sql_identifier(RID.format(i))} AS "{i}"' for i in range(k))
        join = f"JOIN ({plan.keyed}) AS b ON {on}" if keys else f"CROSS JOIN ({plan.keyed}) AS b"
        combos = f"SELECT o.rowid + 1 AS output_row, {fields} FROM {OUTPUT_TABLE} AS o {join}"
        names = ", ".join(f'"{i}"' for i in range(k))
        distinct = "DISTINCT " if k > 1 else ""  # one input: a row is in one group only
        return (f"SELECT {distinct}output_row, CAST(input AS SMALLINT) AS input, source_row "
                f"FROM (UNPIVOT ({combos}) ON {names} INTO NAME input VALUE source_row)")
    parts = []
    for i in range(k):
        if plan.shape == "aggregate":
            rows = f"unnest({sql_identifier(LINEAGE.format(i))})"
        else:
            rows = sql_identifier(RID.format(i))
        parts.append(f"SELECT rowid + 1 AS output_row, CAST({i} AS SMALLINT) AS input, "
                     f"{rows} AS source_row FROM {OUTPUT_TABLE}")
    return (f"SELECT output_row, input, source_row FROM ({' UNION ALL '.join(parts)}) "
            "WHERE source_row IS NOT NULL")


def _object_format(root: str) -> str:
    """sha1 or sha256: the blob ids must match the repository's own."""
    try:
        return gitio.run(["rev-parse", "--show-object-format"], root).decode().strip()
    except Exception:
        return "sha1"
