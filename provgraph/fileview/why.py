"""Record-level why-provenance of a file view: which input rows made output row N.

The why-provenance of an output row (Buneman, Khanna and Tan, "Why and Where: A
Characterization of Data Provenance", ICDT 2001; Cui, Widom and Wiener's lineage for
aggregates, TODS 2000), as input rows:

- select-project-join (filters, inner and outer joins, ORDER BY, LIMIT): the one row of
  each joined file that the output row was built from (a file an outer join padded with
  NULLs contributes no row);
- GROUP BY aggregates (HAVING, ROLLUP/CUBE/GROUPING SETS too), SELECT DISTINCT, and
  aggregates without GROUP BY: every row of each file that falls into the output row's
  group after WHERE (for a join: that is part of a joined combination of the group).

It is computed by rewriting the query with sqlglot so that every input relation carries its
row number (the file's rows are copied into a table in file order, and its `rowid + 1` is
the 1-based data row, the header not counted) and the output carries those numbers along:
as extra columns for select-project-join, as one `list(DISTINCT ...)` per input and group
otherwise. The rewritten query runs once, into a temporary table; the view's file is written
from that table, so output row N of the file and the lineage of row N come from the same run,
whatever order DuckDB would have chosen on another run.

The lineage is kept in the embedded index (`.git/prov/index.duckdb`) as (output row, input,
input row) pairs, in two tables the indexer never touches (a `prov rebuild` empties only the
graph's tables, and a schema migration drops only those):

- `fileview_lineage_outputs(output_id, path, oid, sha256, created, sql, shape, inputs JSON,
  output JSON, rows, pairs)`: one per materialized version of a view's file (by git blob id);
- `fileview_lineage(output_id, output_row, input, source_row)`: in output-row order per
  input, so a `why --row N` reads few blocks.

    >>> plan = rewrite("select t.a, count(*) from t group by t.a", {"t": "t.csv"})
    >>> plan.shape
    'aggregate'
    >>> rewrite("select a from t union select a from r", {"t": "t.csv", "r": "r.csv"}).message
    ... # doctest: +ELLIPSIS
    'why-provenance is unavailable for this view: it is a set operation (UNION); ...'
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import json
import os
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from provgraph.errors import ProvError
from provgraph.fileview.tables import sql_literal

RID = "__prov_rid_{}"  # an input's row number, carried through the query
LINEAGE = "__prov_lineage_{}"  # per group: the distinct row numbers of input i
NUMBERED = "__prov_numbered_{}"  # an input relation's rows, in file order: rowid + 1
KEY = "__prov_key_{}"  # the keyed path: the output's group keys
OUTPUT_TABLE = "__prov_why_output"  # the rewritten query's result: the view's rows, numbered
PREFIX = "__prov_"
SCOPE = "why-provenance covers select-project-join queries and GROUP BY aggregates"

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


@dataclass(frozen=True)
class Input:
    """One relation the query reads: its name (or alias) in the query, and its file."""

    alias: str
    relation: str  # the name the query uses for the file's relation
    path: str  # the file, as given in `tables` (a repository path)


@dataclass(frozen=True)
class Unsupported:
    """Why-provenance is not available for this query shape; the view itself still works."""

    reason: str

    @property
    def message(self) -> str:
        return f"why-provenance is unavailable for this view: {self.reason}"


@dataclass
class Rewritten:
    """The query rewritten to carry source row numbers."""

    original: str
    sql: str  # the original's columns, then RID_i (spj) or LINEAGE_i (aggregate) columns
    shape: str  # "select-project-join" or "aggregate"
    inputs: list[Input]
    columns: list[str] = field(default_factory=list)  # the view's column names, once run
    scans: dict[str, str | None] = field(default_factory=dict)  # relation -> scan SQL
    error: str | None = None  # set by `prepare` when DuckDB refused the rewritten query
    versions: dict[str, dict] = field(default_factory=dict)  # path -> digest, stat
    hashing: Any = None  # the blob ids of inputs whose digest was not given (a Future)
    grouped: Any = None  # aggregates: the query with its inputs numbered (a sqlglot Select)
    output_columns: list[str] = field(default_factory=list)  # of the prepared output table
    keyed: str | None = None  # the base query of the keyed path, when `prepare` took it
    names: frozenset[str] | None = None  # names the query may use a column by (None: all)

    @property
    def reason(self) -> str | None:
        """None, unless `prepare` had to fall back to the original query."""
        return self.error


def enabled(repo, flag: bool | None = None) -> bool:
    """Whether materializing a view records its why-provenance: the `--why/--no-why` flag
    when given, else `PROV_FILEVIEW_WHY`, else the setting `fileview.why` (default: on)."""
    if flag is not None:
        return flag
    value = os.environ.get("PROV_FILEVIEW_WHY")
    if value is None:
        from provgraph.config import Config

        value = Config(repo.root, repo.prov_dir).get("fileview.why", True)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


# -- rewriting -------------------------------------------------------------------------------


class _Refuse(Exception):
    pass


def rewrite(sql: str, tables: dict[str, str]) -> Rewritten | Unsupported:
    """The query `sql` (DuckDB dialect) rewritten to carry the row numbers of its inputs.

    `tables` maps each relation the query reads (by name, or by alias) to its file. Returns
    `Unsupported(reason)` for a query whose why-provenance this module cannot compute soundly.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        return Unsupported(f"the query does not parse ({str(exc).splitlines()[0]})")
    if len(statements) != 1:
        return Unsupported("it is not a single SELECT statement")
    try:
        return _rewrite(statements[0], sql, tables)
    except _Refuse as exc:
        return Unsupported(str(exc))


def _refuse(what: str) -> _Refuse:
    return _Refuse(f"it {what}; {SCOPE}")


def _rewrite(tree: exp.Expression, sql: str, tables: dict[str, str]) -> Rewritten:
    if isinstance(tree, exp.SetOperation):
        raise _refuse(f"is a set operation ({tree.key.upper()})")
    if not isinstance(tree, exp.Select):
        raise _Refuse(f"it is not a SELECT ({tree.key.upper()})")
    _check_shape(tree)
    names = _referenced(tree)
    select = tree.copy()
    inputs = _wrap_inputs(select, tables)
    aggregate = _is_aggregate(select)
    if select.args.get("distinct"):
        if aggregate:
            raise _refuse("applies DISTINCT to aggregated rows")
        if select.args["distinct"].args.get("on"):
            raise _refuse("uses DISTINCT ON")
    _exclude_from_stars(select, inputs)
    grouped = select.copy()  # before the lineage columns: the keyed path starts from it
    rids = [exp.column(RID.format(i), table=inputs[i].alias, quoted=True)
            for i in range(len(inputs))]
    if aggregate or select.args.get("distinct"):
        # per input, the set of its rows in the group: memory bounded by the inputs' sizes
        # (a list of row combinations could grow as the join does, a cross join's square)
        for i, column in enumerate(rids):
            select.append("expressions", exp.alias_(
                exp.ArrayAgg(this=exp.Distinct(expressions=[column])), LINEAGE.format(i),
                quoted=True))
        if select.args.get("distinct"):
            # SELECT DISTINCT cols == SELECT cols ... GROUP BY ALL: one row per distinct value
            select.set("distinct", None)
            select.set("group", exp.Group(all=True))
        shape = "aggregate"
    else:
        for i, column in enumerate(rids):
            select.append("expressions", exp.alias_(column, RID.format(i), quoted=True))
        shape = "select-project-join"
    return Rewritten(original=sql, sql=select.sql(dialect="duckdb"), shape=shape, inputs=inputs,
                     grouped=grouped if shape == "aggregate" else None, names=names)


def _referenced(tree: exp.Expression) -> frozenset[str] | None:
    """Every name the query could mean a column by (lowercase; a superset: table names and
    aliases too), or None when it may read every column (`*`, `t.*`, a NATURAL join, a
    row as a value). Only these columns are copied to number the inputs' rows."""
    names: set[str] = set()
    for node in tree.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.AggFunc):
            return None
        if isinstance(node, exp.Join) and (node.args.get("method") or "").upper() == "NATURAL":
            return None
        if isinstance(node, exp.Identifier):
            names.add(node.this.lower())
    bare = {c.name.lower() for c in tree.find_all(exp.Column) if not c.table}
    for source in [tree.args.get("from_"), *(tree.args.get("joins") or [])]:
        if (source is not None and isinstance(source.this, exp.Table)
                and source.this.alias_or_name.lower() in bare):
            return None  # `SELECT t FROM t`: the row as a struct
    return frozenset(names)


@functools.cache
def _duckdb_aggregates() -> frozenset[str]:
    """DuckDB's aggregate function names: sqlglot knows only the common ones."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute("SELECT DISTINCT function_name FROM duckdb_functions() "
                           "WHERE function_type = 'aggregate'").fetchall()
    finally:
        con.close()
    return frozenset(name.lower() for (name,) in rows)


def _function_name(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


def _is_aggregate_call(node: exp.Expression) -> bool:
    if isinstance(node, exp.AggFunc):
        return True
    name = _function_name(node)
    return bool(name) and name in _duckdb_aggregates()


def _is_aggregate(select: exp.Select) -> bool:
    if select.args.get("group"):
        return True
    for part in ("expressions", "having", "order"):
        value = select.args.get(part)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and any(_is_aggregate_call(n) for n in item.walk()):
                return True
    return False


_REFUSED_NODES: list[tuple[type, str]] = [
    (exp.With, "uses a common table expression (WITH)"),
    (exp.Window, "uses a window function"),
    (exp.Qualify, "uses QUALIFY (a filter on window functions)"),
    (exp.Pivot, "uses PIVOT/UNPIVOT"),
    (exp.Lateral, "uses a LATERAL join"),
    (exp.Unnest, "uses UNNEST (a set-returning function)"),
    (exp.Explode, "uses UNNEST (a set-returning function)"),
    (exp.TableSample, "samples a table"),
    (exp.Into, "uses SELECT INTO"),
]


def _check_shape(select: exp.Select) -> None:
    for node in select.walk():
        if node is not select and isinstance(node, (exp.Select, exp.Subquery, exp.SetOperation)):
            raise _refuse("uses a subquery")
        if isinstance(node, exp.Exists):
            raise _refuse("uses a subquery (EXISTS)")
        for kind, what in _REFUSED_NODES:
            if isinstance(node, kind):
                raise _refuse(what)
        if isinstance(node, exp.Identifier) and node.this.lower().startswith(PREFIX):
            raise _Refuse(f"it uses the name {node.this}, and names starting with {PREFIX} "
                          "are reserved for why-provenance")
        name = _function_name(node)
        if name in ("unnest", "generate_subscripts"):
            raise _refuse(f"uses {name.upper()} (a set-returning function)")
        if name == "columns":
            raise _refuse("uses a COLUMNS(...) expression")
    for join in select.args.get("joins") or []:
        kind = (join.args.get("kind") or "").upper()
        method = (join.args.get("method") or "").upper()
        if kind in ("SEMI", "ANTI"):
            raise _refuse(f"uses a {kind} join (the rows it tests against are not in the "
                          "output)")
        if method in ("ASOF", "POSITIONAL"):
            raise _refuse(f"uses an {method} join")


def _wrap_inputs(select: exp.Select, tables: dict[str, str]) -> list[Input]:
    """Replace each input relation by `(SELECT *, rowid + 1 AS rid_i FROM numbered)`, where
    `numbered` is the relation copied into a table in file order by `prepare`."""
    sources = [select.args["from_"].this] if select.args.get("from_") else []
    sources += [join.this for join in select.args.get("joins") or []]
    if not sources:
        raise _refuse("reads no file")
    lowered = {key.lower(): value for key, value in tables.items()}
    inputs: list[Input] = []
    aliases: set[str] = set()
    for i, source in enumerate(sources):
        if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
            raise _refuse(f"reads {source.sql(dialect='duckdb')}, which is not a file of the "
                          "repository")
        name, alias = source.name, source.alias_or_name
        path = tables.get(alias, tables.get(name, lowered.get(alias.lower(),
                                                                 lowered.get(name.lower()))))
        if path is None:
            raise _refuse(f"reads {name}, which is not a file of the repository")
        if alias.lower() in aliases:
            raise _Refuse(f"the name {alias} is used for two relations")
        aliases.add(alias.lower())
        inputs.append(Input(alias=alias, relation=name, path=path))
        numbered = exp.Table(this=exp.to_identifier(_numbered(name, inputs), quoted=True))
        scan = exp.select(exp.Star(), exp.alias_(
            exp.Add(this=exp.column("rowid"), expression=exp.Literal.number(1)),
            RID.format(i), quoted=True)).from_(numbered)
        table_alias = source.args.get("alias")
        table_alias = table_alias.copy() if table_alias else exp.TableAlias(
            this=source.this.copy())
        source.replace(exp.Subquery(this=scan, alias=table_alias))
    return inputs


def _numbered(relation: str, inputs: list[Input]) -> str:
    """The table holding `relation`'s rows in file order (see `_number_inputs`): one per
    relation, shared by a self-join's aliases."""
    seen: list[str] = []
    for inp in inputs:
        if inp.relation.lower() not in seen:
            seen.append(inp.relation.lower())
    return NUMBERED.format(seen.index(relation.lower()))


def _exclude_from_stars(select: exp.Select, inputs: list[Input]) -> None:
    """`*` and `t.*` would show the row-number columns: exclude them."""
    every = [RID.format(i) for i in range(len(inputs))]
    by_alias = {inp.alias.lower(): [RID.format(i)] for i, inp in enumerate(inputs)}
    for i, item in enumerate(select.expressions):
        star, qualifier = None, None
        if isinstance(item, exp.Star):
            star = item
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            star, qualifier = item.this, item.table.lower()
        if star is None:
            continue
        names = every if qualifier is None else by_alias.get(qualifier)
        if names is None:
            raise _Refuse(f"it selects {select.expressions[i].sql()} from an unknown relation")
        excluded = list(star.args.get("except_") or [])
        excluded += [exp.column(n, quoted=True) for n in names]
        star.set("except_", excluded)


# -- running ---------------------------------------------------------------------------------


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
        plan.versions = {p: {"digest": (digests or {}).get(p), "stat": _stat(root, p)}
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
            duckdb.NotImplementedException, _Refuse) as exc:
        plan.error = (f"DuckDB refused the query rewritten for why-provenance "
                      f"({str(exc).splitlines()[0]})" if not isinstance(exc, _Refuse)
                      else str(exc))
        return plan.original
    stored = [d[0] for d in con.execute(f"SELECT * FROM {OUTPUT_TABLE} LIMIT 0").description]
    plan.columns, plan.output_columns = names, stored
    columns = ", ".join(f"{_sql_identifier(s)} AS {_sql_identifier(n)}"
                        for s, n in zip(stored, names, strict=False))
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
        table = _numbered(inp.relation, plan.inputs)
        if table not in done:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {_sql_identifier(table)} AS "
                        f"SELECT {_copied(con, inp.relation, plan.names)} "
                        f"FROM {_sql_identifier(inp.relation)}")
            done.add(table)


def _copied(con, relation: str, names: frozenset[str] | None) -> str:
    """The columns of `relation` the query may read: copying a wide file whole for a query
    of two of its columns would cost time and memory for nothing."""
    if names is None:
        return "*"
    described = con.execute(f"DESCRIBE SELECT * FROM {_sql_identifier(relation)}").fetchall()
    columns = [row[0] for row in described if row[0].lower() in names]
    if len(columns) == len(described):
        return "*"
    return ", ".join(map(_sql_identifier, columns)) or f'true AS "{PREFIX}row"'


def _drop_numbered(con, plan: Rewritten) -> None:
    for table in {_numbered(inp.relation, plan.inputs) for inp in plan.inputs}:
        con.execute(f"DROP TABLE IF EXISTS {_sql_identifier(table)}")


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
        rows = con.execute(f"DESCRIBE SELECT * FROM {_sql_identifier(inp.relation)}").fetchall()
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
        raise _Refuse("its groups are too big to list in memory, and with `*` their keys "
                      "cannot be spelled out")

    def bare(e: exp.Expression) -> exp.Expression:
        return (e.this if isinstance(e, exp.Alias) else e).copy()

    group = select.args.get("group")
    if select.args.get("distinct"):
        keys = [bare(e) for e in items]
    elif group is None:
        keys = []  # one group: every row
    elif group.args.get("all"):
        keys = [bare(e) for e in items if not any(_is_aggregate_call(n) for n in e.walk())]
    else:
        if any(group.args.get(k) for k in ("grouping_sets", "cube", "rollup")) or any(
                isinstance(g, (exp.Rollup, exp.Cube, exp.GroupingSets))
                for g in group.expressions):
            raise _Refuse("its groups are too big to list in memory, and ROLLUP, CUBE and "
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


def _stat(root: str, path: str) -> list[int] | None:
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
            found[path] = blob_id(full, object_format) if os.path.isfile(full) else None
        return found

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(work)
    pool.shutdown(wait=False)
    return future


def _sql_identifier(name: str) -> str:
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
        on = " AND ".join(f"o.{_sql_identifier(c)} IS NOT DISTINCT FROM b.{_sql_identifier(c)}"
                          for c in keys)
        fields = ", ".join(f'b.{_sql_identifier(RID.format(i))} AS "{i}"' for i in range(k))
        join = f"JOIN ({plan.keyed}) AS b ON {on}" if keys else f"CROSS JOIN ({plan.keyed}) AS b"
        combos = f"SELECT o.rowid + 1 AS output_row, {fields} FROM {OUTPUT_TABLE} AS o {join}"
        names = ", ".join(f'"{i}"' for i in range(k))
        distinct = "DISTINCT " if k > 1 else ""  # one input: a row is in one group only
        return (f"SELECT {distinct}output_row, CAST(input AS SMALLINT) AS input, source_row "
                f"FROM (UNPIVOT ({combos}) ON {names} INTO NAME input VALUE source_row)")
    parts = []
    for i in range(k):
        if plan.shape == "aggregate":
            rows = f"unnest({_sql_identifier(LINEAGE.format(i))})"
        else:
            rows = _sql_identifier(RID.format(i))
        parts.append(f"SELECT rowid + 1 AS output_row, CAST({i} AS SMALLINT) AS input, "
                     f"{rows} AS source_row FROM {OUTPUT_TABLE}")
    return (f"SELECT output_row, input, source_row FROM ({' UNION ALL '.join(parts)}) "
            "WHERE source_row IS NOT NULL")



def write_view(evaluation, tmp: str) -> int | None:
    """The file views' SQL writer (`provgraph.fileview.evaluate.register_writer`): write a
    view's file from the rewritten query into `tmp` and record its lineage. Returns the rows
    written, or None to leave the file to the plain writer: why-provenance off, or a query
    shape without it. Sets `evaluation.why` to "recorded" or the reason there is none.

    The evaluation may carry `input_versions` ({path: digest}, the inputs' versions as the
    before-snapshot names them); without it the inputs are hashed, on another thread.
    """
    import sys

    from provgraph.fileview import engine, messages

    if not enabled(evaluation.repo, getattr(evaluation, "why_flag", None)):
        evaluation.why = "off"
        return None
    sources = evaluation.sources
    plan = rewrite(evaluation.compiled.sql, {i: s.ref.path for i, s in sources.items()})
    if isinstance(plan, Unsupported):
        evaluation.why = plan.reason
        return None
    # the sandboxed connection cannot open the index: a connection of provgraph's own will,
    # started now so that its ~20 ms are spent while the query runs
    index_con = _connect_in_background() if evaluation.scratch else None
    try:
        try:
            query = prepare(evaluation.con, plan,
                            {i: f"SELECT * FROM {s.relation}" for i, s in sources.items()},
                            root=evaluation.repo.root,
                            digests=evaluation.input_versions)
        except Exception as exc:
            raise messages.translate(exc, list(sources.values())) from None
        rows = engine.write(evaluation.con, query, tmp, evaluation.format, sources,
                            evaluation.compression)
        evaluation.why = plan.error or "recorded"
        if plan.error is None:
            name = evaluation.definition["name"]
            try:
                record(evaluation.con, plan, evaluation.repo, name, written=tmp,
                       query=evaluation.definition.get("query"), scratch=evaluation.scratch,
                       index_con=index_con.result() if index_con else None)
            except Exception as exc:  # the view is written: lost lineage does not fail it
                evaluation.why = f"not recorded: {str(exc).splitlines()[0]}"
                print(f"prov: {name}: why-provenance not recorded ({str(exc).splitlines()[0]})",
                      file=sys.stderr)
    finally:
        if index_con is not None:
            index_con.result().close()
    return rows


def _connect_in_background():
    """A future in-memory DuckDB connection (unrestricted: for provgraph's own statements)."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(duckdb.connect, ":memory:")
    pool.shutdown(wait=False)
    return future


def install() -> None:
    """Record why-provenance when the file views write SQL views (`prov fileview` does this
    through `provgraph.cli.fileview_why`; a Python script materializing views calls it)."""
    from provgraph.fileview.evaluate import register_writer

    register_writer(write_view)


# -- storing ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    output_id: int
    rows: int
    pairs: int


def file_digests(path: str, object_format: str = "sha1") -> tuple[str, str]:
    """The git blob id and the sha256 of a file, in one read."""
    size = os.path.getsize(path)
    blob = hashlib.new(object_format, f"blob {size}\0".encode())
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            blob.update(chunk)
            sha.update(chunk)
    return blob.hexdigest(), "sha256:" + sha.hexdigest()


def blob_id(path: str, object_format: str = "sha1") -> str:
    """The git blob id of a file's content (as `git hash-object` without filters)."""
    blob = hashlib.new(object_format, f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            blob.update(chunk)
    return blob.hexdigest()


def digest_of(path: str, like: str, object_format: str = "sha1") -> str:
    """The digest of a file in the form of `like` (`sha256:...` or a git blob id)."""
    if like.startswith("sha256:"):
        from provgraph.capture.snapshot import file_sha256

        return "sha256:" + file_sha256(path)
    return blob_id(path, object_format)


def _object_format(root: str) -> str:
    from provgraph import gitio

    try:
        return gitio.run(["rev-parse", "--show-object-format"], root).decode().strip()
    except Exception:
        return "sha1"


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
    oid, sha = file_digests(full, repo.object_format)
    st = os.stat(full)
    hashed = plan.hashing.result() if plan.hashing is not None else {}
    inputs = []
    for inp in plan.inputs:
        version = plan.versions.get(inp.path) or {"stat": _stat(repo.root, inp.path)}
        digest = version.get("digest") or hashed.get(inp.path)
        source = os.path.join(repo.root, inp.path)
        if digest is None and os.path.isfile(source):  # `prepare` was not given the root
            digest = blob_id(source, repo.object_format)
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
    _drop_numbered(con, plan)
    return Recorded(output_id, rows, pairs)


def _store(con, path: str, pairs_sql: str, values: list[Any]) -> tuple[int, int]:
    """Write one output's pairs (`pairs_sql`: output_row, input, source_row) and its row of
    `fileview_lineage_outputs` (`values`: path ... rows) into the index at `path`, attached to
    `con`; return (output_id, pairs)."""
    output, oid = values[0], values[1]
    schema = "__prov_index"
    _attach(con, path, schema)
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


def _attach(con, path: str, schema: str, read_only: bool = False,
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
                raise ProvError(f"cannot open the index {path}: {str(exc).splitlines()[0]}"
                                ) from None
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
    options = [sql_literal(path)]
    if name.endswith((".tsv", ".tab")):
        options.append("delim = '\t'")
    if header is not None:
        options.append(f"header = {str(header).lower()}")
    return f"SELECT * FROM read_csv({', '.join(options)})"


# -- explaining ------------------------------------------------------------------------------


@dataclass
class SourceRow:
    """One input row in the why-provenance of an output row."""

    file: str
    row: int  # 1-based data row of the file (its header, if any, is not counted)
    values: dict[str, Any] | None  # None when that version of the file cannot be read
    alias: str = ""


@dataclass
class Explanation:
    output: str
    row: int
    values: dict[str, Any] | None
    sources: list[SourceRow]
    sql: str
    shape: str
    created: str
    inputs: list[dict[str, Any]]  # each input: alias, file, aliased (named AS in the query),
    # rows (how many of its rows are in the explanation)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"output": self.output, "row": self.row, "values": self.values,
                "sql": self.sql, "shape": self.shape, "created": self.created,
                "inputs": self.inputs,
                "sources": [{"file": s.file, "alias": s.alias, "row": s.row, "values": s.values}
                            for s in self.sources],
                "notes": self.notes}


def explain(repo, output: str, row: int, oid: str | None = None,
            limit: int | None = None) -> Explanation:
    """The input rows (file, row number, values) that produced row `row` (1-based) of the
    view file `output` (a repository path): of its current content, or of the version whose
    git blob id (or `sha256:` digest, as the index records large files) is `oid`.

    `limit`: at most that many rows of each input (`Explanation.inputs` counts them all)."""
    import duckdb

    path = index_path(repo)
    if oid is None:
        full = os.path.join(repo.root, output)
        if not os.path.isfile(full):
            raise ProvError(f"{output} does not exist (give a version: {output}@vN)")
        oid = blob_id(full, repo.object_format)
    if not os.path.exists(path):
        raise ProvError(_why_not(repo, output, oid))
    con = duckdb.connect()
    try:
        schema = "__prov_index"
        _attach(con, path, schema, read_only=True)
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
            [schema]).fetchall()}
        if "fileview_lineage_outputs" not in tables:
            raise ProvError(_why_not(repo, output, oid))
        found = con.execute(
            f"SELECT output_id, sql, shape, inputs, output, rows, created, oid FROM "
            f"{schema}.fileview_lineage_outputs WHERE path = ? AND (oid = ? OR sha256 = ?) "
            "ORDER BY output_id DESC LIMIT 1", [output, oid, oid]).fetchone()
        if found is None:
            raise ProvError(_why_not(repo, output, oid))
        output_id, sql, shape, inputs, out_info, rows, created, oid = found
        inputs, out_info = json.loads(inputs), json.loads(out_info)
        if not 1 <= row <= rows:
            raise ProvError(f"{output} has {rows} rows: --row must be between 1 and {rows}"
                            if rows else f"{output} has no rows")
        pairs = con.execute(
            f"SELECT input, source_row FROM {schema}.fileview_lineage "
            "WHERE output_id = ? AND output_row = ? ORDER BY input, source_row",
            [output_id, row]).fetchall()
        con.execute(f"DETACH {schema}")
        notes: list[str] = []
        values = _read_rows(con, repo, out_info["scan"], output,
                            {"digest": oid, "stat": out_info.get("stat")}, [row], notes)
        out_values = values.get(row)
        if out_values is not None and out_info.get("columns"):
            out_values = dict(zip(out_info["columns"], out_values.values(), strict=False))
        wanted: dict[int, list[int]] = {}
        for index, source_row in pairs:
            wanted.setdefault(index, []).append(source_row)
        sources = []
        totals = {inputs[index]["alias"]: len(numbers) for index, numbers in wanted.items()}
        for index, numbers in sorted(wanted.items()):
            inp = inputs[index]
            numbers = numbers[:limit] if limit is not None else numbers
            scan = inp.get("scan") or default_scan(inp["path"], header=None)
            found_values = _read_rows(con, repo, scan, inp["path"], inp, numbers, notes)
            sources += [SourceRow(inp["path"], n, found_values.get(n), inp["alias"])
                        for n in numbers]
    finally:
        con.close()
    return Explanation(output, row, out_values, sources, sql, shape, created,
                       [{"alias": i["alias"], "file": i["path"],
                         "aliased": i["alias"] != i["relation"],
                         "rows": totals.get(i["alias"], 0)} for i in inputs], notes)


def _why_not(repo, output: str, oid: str) -> str:
    """Why there is no lineage for this version of `output`, as precisely as the view's
    definition tells."""
    generic = f"no record-level provenance for {output}"
    try:
        from provgraph.fileview import views
        from provgraph.fileview.sql import compile_query

        view = views.load(repo).get(output)
        if view is None:
            return f"{generic}: no file view writes it"
        if view.kind != "sql":
            return (f"why-provenance is unavailable for {output}: it is a script view "
                    "(SQL views have it)")
        d = view.definition
        compiled = compile_query(d["query"], d.get("dialect", "duckdb"), d.get("cwd", "."),
                                 repo.root)
        plan = rewrite(compiled.sql, {i: ref.path for i, ref in compiled.tables.items()})
    except Exception:
        return f"{generic}: it was not written by a view with why-provenance"
    if isinstance(plan, Unsupported):
        return f"{output}: {plan.message}"
    if oid not in view.outputs:
        return (f"{output} is not a version its view wrote (changed since?): why-provenance "
                f"describes the versions the view wrote (name one: {output}@vN)")
    return (f"{generic}: the view wrote it with why-provenance off (PROV_FILEVIEW_WHY=0 or "
            f"fileview.why = false); `prov fileview refresh --force {output}` records it")


def _read_rows(con, repo, scan: str, path: str, version: dict[str, Any], numbers: list[int],
               notes: list[str]) -> dict[int, dict[str, Any]]:
    """Rows `numbers` (1-based, data rows) of file `path` as it was (`version`: its `digest`
    and `stat`): the file itself while unchanged, else its blob from git when kept."""
    full = os.path.join(repo.root, path)
    digest, temp = version.get("digest"), None
    try:
        source = full
        if not _unchanged(full, version, repo.object_format):
            kept = digest and not digest.startswith("sha256:")
            temp = _blob_to_file(repo, digest, path) if kept else None
            if temp is None:
                notes.append(f"{path} changed since the view read it, and that version is "
                             "not kept: its values are not shown")
                return {}
            source = temp
        query = _retarget(scan, path, full, source)
        numbered = (f"SELECT * FROM (SELECT *, row_number() OVER () AS {RID.format('n')} "
                    f"FROM ({query})) WHERE {RID.format('n')} IN (SELECT unnest(?))")
        keep_insertion_order(con)
        cursor = con.execute(numbered, [numbers])
        names = [d[0] for d in cursor.description][:-1]
        return {r[-1]: dict(zip(names, r[:-1], strict=True)) for r in cursor.fetchall()}
    except Exception as exc:  # a value that cannot be shown must not hide the row numbers
        notes.append(f"cannot read {path} ({str(exc).splitlines()[0]}): values not shown")
        return {}
    finally:
        if temp:
            os.unlink(temp)


def _unchanged(full: str, version: dict[str, Any], object_format: str) -> bool:
    """Whether the file at `full` is still the version recorded (size and modification time
    as recorded, or, failing that, the same digest)."""
    try:
        st = os.stat(full)
    except OSError:
        return False
    if version.get("stat") == [st.st_size, st.st_mtime_ns]:
        return True
    digest = version.get("digest")
    return bool(digest) and digest_of(full, digest, object_format) == digest


def _retarget(scan: str, path: str, full: str, source: str) -> str:
    """The scan SQL reading `source` instead of the file it named (by absolute or repository
    path, as a string literal)."""
    for name in dict.fromkeys((full, os.path.realpath(full), path)):
        scan = scan.replace(sql_literal(name), sql_literal(source))
    return scan


def _blob_to_file(repo, oid: str, path: str) -> str | None:
    """The content of a git blob in a temporary file named like `path` (for its format)."""
    try:
        data = repo.git("cat-file", "blob", oid)
    except Exception:
        return None
    suffix = "".join(re.findall(r"\.[A-Za-z0-9]+", os.path.basename(path))[-2:])
    fd, temp = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return temp
