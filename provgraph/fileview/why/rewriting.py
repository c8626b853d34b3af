"""Rewriting a view's query (sqlglot) so that every input relation carries its row numbers
and the output carries them along: as extra columns for select-project-join, as one
`list(DISTINCT ...)` per input and group otherwise. Pure: it reads no file and runs nothing.

    >>> plan = rewrite("select t.a, count(*) from t group by t.a", {"t": "t.csv"})
    >>> plan.shape
    'aggregate'
    >>> rewrite("select a from t union select a from r", {"t": "t.csv", "r": "r.csv"}).message
    ... # doctest: +ELLIPSIS
    'why-provenance is unavailable for this view: it is a set operation (UNION); ...'
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

RID = "__prov_rid_{}"  # an input's row number, carried through the query
LINEAGE = "__prov_lineage_{}"  # per group: the distinct row numbers of input i
NUMBERED = "__prov_numbered_{}"  # an input relation's rows, in file order: rowid + 1
KEY = "__prov_key_{}"  # the keyed path: the output's group keys
OUTPUT_TABLE = "__prov_why_output"  # the rewritten query's result: the view's rows, numbered
PREFIX = "__prov_"
SCOPE = "why-provenance covers select-project-join queries and GROUP BY aggregates"


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


class Refuse(Exception):
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
    except Refuse as exc:
        return Unsupported(str(exc))


def _refuse(what: str) -> Refuse:
    return Refuse(f"it {what}; {SCOPE}")


def _rewrite(tree: exp.Expression, sql: str, tables: dict[str, str]) -> Rewritten:
    if isinstance(tree, exp.SetOperation):
        raise _refuse(f"is a set operation ({tree.key.upper()})")
    if not isinstance(tree, exp.Select):
        raise Refuse(f"it is not a SELECT ({tree.key.upper()})")
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


def is_aggregate_call(node: exp.Expression) -> bool:
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
            if item is not None and any(is_aggregate_call(n) for n in item.walk()):
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
            raise Refuse(f"it uses the name {node.this}, and names starting with {PREFIX} "
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
            raise Refuse(f"the name {alias} is used for two relations")
        aliases.add(alias.lower())
        inputs.append(Input(alias=alias, relation=name, path=path))
        numbered = exp.Table(this=exp.to_identifier(numbered_table(name, inputs), quoted=True))
        scan = exp.select(exp.Star(), exp.alias_(
            exp.Add(this=exp.column("rowid"), expression=exp.Literal.number(1)),
            RID.format(i), quoted=True)).from_(numbered)
        table_alias = source.args.get("alias")
        table_alias = table_alias.copy() if table_alias else exp.TableAlias(
            this=source.this.copy())
        source.replace(exp.Subquery(this=scan, alias=table_alias))
    return inputs


def numbered_table(relation: str, inputs: list[Input]) -> str:
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
            raise Refuse(f"it selects {select.expressions[i].sql()} from an unknown relation")
        excluded = list(star.args.get("except_") or [])
        excluded += [exp.column(n, quoted=True) for n in names]
        star.set("except_", excluded)
