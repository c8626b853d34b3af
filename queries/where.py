"""The `--where` language: a predicate over a node's properties, the same on both indexes.

`prov log --where 'EXPR'` (and `prov runs`) keep the activities for which EXPR is true. EXPR is
SQL's expression syntax, parsed and checked with sqlglot against an allow-list:

- property names, dotted as they are stored (`caffe.base_lr`, `params.params.yaml.train.lr`);
  a name with other characters is quoted with double quotes or backticks
  (`"params.conf/solver.prototxt.base_lr"`);
- literals: numbers, 'strings', true, false;
- comparisons `= != <> < <= > >=` of a property with a literal, `IN (literal, ...)`,
  `BETWEEN low AND high`, `LIKE` / `ILIKE` ('%' any text, '_' one character), `IS [NOT] NULL`;
- `and`, `or`, `not` and parentheses.

Anything else (a function call, a subquery, a second statement after `;`, a comparison of two
properties) is refused with one line naming it.

Meaning, identical on DuckDB and Neo4j (tests/queries/test_where.py runs the same queries on
both): a number compares only with a number (1 = 1.0), a string only with a string, a boolean
only with a boolean; a property of another type (a list, a string against a number) or a
missing property makes the comparison unknown (SQL's NULL), which `not` leaves unknown, so
such a node is not kept. `IS NULL` is true of a missing property. `LIKE` matches strings only.

The predicate compiles to SQL over the embedded index's `nodes.properties` JSON and to Cypher
over a node's properties; property names and values are always parameters, never pasted in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import BadInput, ProvError
from provgraph.model import Node

Value = int | float | str | bool

#: DuckDB's json_type of a JSON number.
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')"
_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_CYPHER_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class Params:
    """Parameters collected while compiling: positional for DuckDB, named for Cypher."""

    def __init__(self) -> None:
        self.sql: list[Any] = []
        self.cypher: dict[str, Any] = {}

    def q(self, value: Any) -> str:
        """A DuckDB placeholder for `value`."""
        self.sql.append(value)
        return "?"

    def named(self, value: Any) -> str:
        """A Cypher parameter for `value`."""
        name = f"w{len(self.cypher)}"
        self.cypher[name] = value
        return f"${name}"


class Condition:
    """A part of a selection that compiles to a SQL and a Cypher boolean expression, over
    the node `n` (Cypher) and its `properties` JSON column with `id` (SQL)."""

    def sql(self, p: Params) -> str:
        raise NotImplementedError

    def cypher(self, p: Params) -> str:
        raise NotImplementedError


def _path(key: str) -> str:
    return f'$."{key}"'


def _kind(value: Value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def sql_typed(p: Params, key: str, kind: str) -> str:
    """The property as a SQL value of `kind`, NULL when missing or of another type."""
    path = _path(key)
    if kind == "number":
        return (f"(CASE WHEN json_type(properties, {p.q(path)}) IN {_NUMBER_TYPES} THEN "
                f"CAST(json_extract_string(properties, {p.q(path)}) AS DOUBLE) END)")
    if kind == "bool":
        return (f"(CASE WHEN json_type(properties, {p.q(path)}) = 'BOOLEAN' THEN "
                f"CAST(json_extract_string(properties, {p.q(path)}) AS BOOLEAN) END)")
    return (f"(CASE WHEN json_type(properties, {p.q(path)}) = 'VARCHAR' THEN "
            f"json_extract_string(properties, {p.q(path)}) END)")


def cypher_typed(p: Params, key: str, kind: str) -> str:
    """The property as a Cypher value of `kind`, null when missing or of another type."""
    ref = f"n[{p.named(key)}]"
    types = {"number": "INTEGER | FLOAT", "bool": "BOOLEAN", "string": "STRING"}[kind]
    return f"(CASE WHEN {ref} IS :: {types} THEN {ref} END)"


@dataclass(frozen=True)
class Compare(Condition):
    key: str
    op: str
    value: Value

    def sql(self, p: Params) -> str:
        value = float(self.value) if _kind(self.value) == "number" else self.value
        return f"({sql_typed(p, self.key, _kind(self.value))} {_SQL_OPS[self.op]} {p.q(value)})"

    def cypher(self, p: Params) -> str:
        return (f"({cypher_typed(p, self.key, _kind(self.value))} {_CYPHER_OPS[self.op]} "
                f"{p.named(self.value)})")


@dataclass(frozen=True)
class IsNull(Condition):
    key: str

    def sql(self, p: Params) -> str:
        return f"(json_extract(properties, {p.q(_path(self.key))}) IS NULL)"

    def cypher(self, p: Params) -> str:
        return f"(n[{p.named(self.key)}] IS NULL)"


@dataclass(frozen=True)
class Matches(Condition):
    """A string property matching a regular expression as a whole (what LIKE and a command
    glob compile to: the same expression for RE2 in DuckDB and Java in Neo4j)."""

    key: str
    regex: str

    def sql(self, p: Params) -> str:
        return f"regexp_full_match({sql_typed(p, self.key, 'string')}, {p.q(self.regex)})"

    def cypher(self, p: Params) -> str:
        return f"({cypher_typed(p, self.key, 'string')} =~ {p.named(self.regex)})"


@dataclass(frozen=True)
class Contains(Condition):
    """A list property holding the string `value` (`tags` holds a tag)."""

    key: str
    value: str

    def sql(self, p: Params) -> str:
        return (f"list_contains(TRY_CAST(json_extract(properties, {p.q(_path(self.key))}) "
                f"AS VARCHAR[]), {p.q(self.value)})")

    def cypher(self, p: Params) -> str:
        ref = f"n[{p.named(self.key)}]"
        return f"(CASE WHEN {ref} IS :: LIST<STRING> THEN {p.named(self.value)} IN {ref} END)"


@dataclass(frozen=True)
class AllOf(Condition):
    items: tuple[Condition, ...]

    def sql(self, p: Params) -> str:
        return "(" + " AND ".join(c.sql(p) for c in self.items) + ")" if self.items else "TRUE"

    def cypher(self, p: Params) -> str:
        return "(" + " AND ".join(c.cypher(p) for c in self.items) + ")" if self.items else "true"


@dataclass(frozen=True)
class AnyOf(Condition):
    items: tuple[Condition, ...]

    def sql(self, p: Params) -> str:
        return "(" + " OR ".join(c.sql(p) for c in self.items) + ")" if self.items else "FALSE"

    def cypher(self, p: Params) -> str:
        return "(" + " OR ".join(c.cypher(p) for c in self.items) + ")" if self.items else "false"


@dataclass(frozen=True)
class Not(Condition):
    item: Condition

    def sql(self, p: Params) -> str:
        return f"(NOT {self.item.sql(p)})"

    def cypher(self, p: Params) -> str:
        return f"(NOT {self.item.cypher(p)})"


@dataclass(frozen=True)
class Where(Condition):
    """A parsed, checked `--where` expression."""

    text: str
    condition: Condition = field(compare=False)

    def sql(self, p: Params) -> str:
        return self.condition.sql(p)

    def cypher(self, p: Params) -> str:
        return self.condition.cypher(p)


def like_regex(pattern: str, case_insensitive: bool = False) -> str:
    """SQL LIKE as a whole-string regular expression both RE2 and Java read alike."""
    out = ["(?s)", "(?i)" if case_insensitive else ""]
    for char in pattern:
        out.append(".*" if char == "%" else "." if char == "_" else regex_literal(char))
    return "".join(out)


def regex_literal(char: str) -> str:
    """A character matching itself: ASCII punctuation escaped (both engines take `\\` before
    punctuation), everything else as it is."""
    if char.isascii() and not char.isalnum() and char not in " \t\n":
        return "\\" + char
    return char


def parse(text: str) -> Where:
    """The `--where` text, parsed and checked; BadInput (one line) when it is not allowed."""
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not text or not text.strip():
        raise BadInput("--where: empty expression")
    if ";" in _outside_strings(text):
        raise BadInput("--where: ';' is not allowed: give one expression")
    # sqlglot warns on the logging module when it falls back to reading text as a bare
    # command (`drop(x)`): the refusal below is the one line a user sees
    quiet = logging.getLogger("sqlglot")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        tree = sqlglot.parse_one(_backticks(text), read="duckdb")
    except (ParseError, TokenError) as exc:
        raise BadInput(f"--where: cannot parse {text!r}: {_parse_error(exc)}") from None
    finally:
        quiet.setLevel(level)
    for node in tree.walk():
        if isinstance(node, (exp.And, exp.Or)):  # sqlglot counts them as functions
            continue
        if isinstance(node, (exp.Query, exp.Subquery, exp.Func, exp.Alias, exp.Placeholder,
                             exp.Star, exp.Parameter)):
            raise BadInput(f"--where: {_describe(node)} is not allowed (use comparisons, IN, "
                           "BETWEEN, LIKE, IS NULL, and, or, not)")
    return Where(text, _condition(tree))


def _parse_error(exc: Exception) -> str:
    """sqlglot's message, first line, without Python class names."""
    first = (str(exc).splitlines() or ["not an expression"])[0]
    return re.sub(r"<class '[\w.]+\.(\w+)'>", r"\1", first)


_PIECES = re.compile(r"'(?:[^']|'')*'?|`[^`]*`?|[^'`]+")


def _backticks(text: str) -> str:
    """`name` (as Cypher quotes a name) as "name" (as SQL does), outside 'strings'."""
    out = []
    for piece in _PIECES.findall(text):
        if piece.startswith("`") and piece.endswith("`") and len(piece) > 1 and '"' not in piece:
            piece = '"' + piece[1:-1] + '"'
        out.append(piece)
    return "".join(out)


def _outside_strings(text: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", text)


def _condition(node: Any) -> Condition:
    """The checked condition of a sqlglot node (`a NOT LIKE b` is a Like marked `negate`)."""
    found = _positive(node)
    return Not(found) if node.args.get("negate") else found


def _positive(node: Any) -> Condition:
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _condition(node.this)
    if isinstance(node, exp.And):
        return AllOf((_condition(node.left), _condition(node.right)))
    if isinstance(node, exp.Or):
        return AnyOf((_condition(node.left), _condition(node.right)))
    if isinstance(node, exp.Not):
        inner = node.this
        if isinstance(inner, exp.Is):
            return Not(_is_null(inner))
        return Not(_condition(inner))
    if isinstance(node, exp.Is):
        return _is_null(node)
    comparisons = {exp.EQ: "=", exp.NEQ: "!=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">",
                   exp.GTE: ">="}
    for kind, op in comparisons.items():
        if type(node) is kind:
            return _compare(node.left, op, node.right)
    if isinstance(node, exp.In):
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            raise BadInput("--where: IN takes a list of values, not a subquery")
        key = _property(node.this)
        values = [_value(v) for v in node.expressions]
        if not values:
            raise BadInput("--where: IN needs at least one value")
        return AnyOf(tuple(Compare(key, "=", v) for v in values))
    if isinstance(node, exp.Between):
        key = _property(node.this)
        low, high = _value(node.args["low"]), _value(node.args["high"])
        return AllOf((Compare(key, ">=", low), Compare(key, "<=", high)))
    if isinstance(node, (exp.Like, exp.ILike)):
        if node.args.get("escape"):
            raise BadInput("--where: LIKE ... ESCAPE is not supported")
        key = _property(node.this)
        pattern = _value(node.expression)
        if not isinstance(pattern, str):
            raise BadInput("--where: LIKE takes a 'string' pattern")
        return Matches(key, like_regex(pattern, isinstance(node, exp.ILike)))
    raise BadInput(f"--where: {_describe(node)} is not allowed (use comparisons, IN, BETWEEN, "
                   "LIKE, IS NULL, and, or, not)")


def _is_null(node: Any) -> Condition:
    from sqlglot import exp

    if not isinstance(node.expression, exp.Null):
        raise BadInput("--where: only IS NULL and IS NOT NULL are allowed after IS")
    return IsNull(_property(node.this))


def _compare(left: Any, op: str, right: Any) -> Condition:
    from sqlglot import exp

    flipped = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
    if _is_property(left) and not _is_property(right):
        return Compare(_property(left), op, _value(right))
    if _is_property(right) and not _is_property(left):
        return Compare(_property(right), flipped[op], _value(left))
    if _is_property(left):
        raise BadInput("--where: compare a property with a value, not with another property")
    odd = left if not isinstance(left, (exp.Literal, exp.Boolean, exp.Neg)) else right
    raise BadInput(f"--where: {_describe(odd)} is not allowed: compare a property with a value")


def _is_property(node: Any) -> bool:
    from sqlglot import exp

    return isinstance(node, (exp.Column, exp.Dot, exp.Identifier))


def _property(node: Any) -> str:
    """A dotted property name as stored (`caffe.test.accuracy`)."""
    from sqlglot import exp

    if isinstance(node, exp.Identifier):
        name = node.name
    elif isinstance(node, exp.Column):
        name = ".".join(part.name for part in node.parts)
    elif isinstance(node, exp.Dot):
        name = f"{_property(node.this)}.{_property(node.expression)}"
    else:
        raise BadInput(f"--where: {_describe(node)} is not a property name")
    if not name or '"' in name or "\\" in name:
        raise BadInput(f"--where: {name!r} is not a property name")
    return name


def _value(node: Any) -> Value:
    from sqlglot import exp

    if isinstance(node, exp.Paren):
        return _value(node.this)
    if isinstance(node, exp.Neg):
        inner = _value(node.this)
        if _kind(inner) != "number":
            raise BadInput("--where: '-' goes before a number only")
        return -inner  # type: ignore[operator]
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        raise BadInput("--where: compare with NULL by IS NULL or IS NOT NULL")
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        try:
            return int(node.this)
        except ValueError:
            try:
                return float(node.this)
            except ValueError:
                raise BadInput(f"--where: {node.this!r} is not a number") from None
    if _is_property(node):
        raise BadInput("--where: compare a property with a value, not with another property")
    raise BadInput(f"--where: {_describe(node)} is not allowed where a value goes (a number, "
                   "a 'string', true or false)")


def _describe(node: Any) -> str:
    from sqlglot import exp

    if isinstance(node, (exp.Select, exp.Subquery, exp.Query)):
        return "a subquery"
    if isinstance(node, exp.Alias):
        return f"{node.alias!r} after a value"
    if isinstance(node, (exp.Placeholder, exp.Parameter)):
        return "a query parameter"
    if isinstance(node, exp.Func):
        name = node.sql_name() if not isinstance(node, exp.Anonymous) else node.name
        return f"the function {name.lower()}()"
    text = node.sql(dialect="duckdb")[:40]
    if _is_property(node):
        return f"the property {text} alone (compare it: {text} = 1, {text} IS NOT NULL)"
    if isinstance(node, (exp.Literal, exp.Boolean)):
        return f"the value {text} alone"
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.DPipe)):
        return f"arithmetic ({text})"
    return f"{type(node).__name__.lower()} ({text})"


# -- selecting activities ---------------------------------------------------------------------


def activities(store: Any, condition: Condition | str | None = None,
               limit: int | None = None) -> list[Node]:
    """The activities of `store` (embedded index or Neo4j) for which `condition` (a Condition
    or `--where` text) is true, newest first as `Store.activities` lists them."""
    if isinstance(condition, str):
        condition = parse(condition)
    if condition is None:
        return store.activities(limit)
    return _select(store)(store, condition, limit)


def _select(store: Any) -> Callable[[Any, Condition, int | None], list[Node]]:
    from provgraph.stores.embedded import EmbeddedStore

    if isinstance(store, EmbeddedStore):
        return _embedded
    from provgraph.stores.neo4j import Neo4jStore

    if isinstance(store, Neo4jStore):
        return _neo4j
    raise ProvError(f"filtering activities needs the embedded index or Neo4j, not "
                    f"{type(store).__name__}")


def _embedded(store: Any, condition: Condition, limit: int | None) -> list[Node]:
    p = Params()
    sql = (f"SELECT id FROM activities WHERE {condition.sql(p)} "
           "ORDER BY ended DESC NULLS LAST, id DESC")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    ids = [row[0] for row in store.db.execute(sql, p.sql).fetchall()]
    found = store.nodes(ids)
    return [found[i] for i in ids]


def _neo4j(store: Any, condition: Condition, limit: int | None) -> list[Node]:
    from provgraph.stores.neo4j import _node

    p = Params()
    where = condition.cypher(p)
    rows = store.run(
        f"MATCH (n:Activity {{project: $project}}) WHERE {where} "
        "RETURN 'Activity' AS label, properties(n) AS props "
        "ORDER BY n.ended DESC, n.id DESC LIMIT $limit",
        **p.cypher, limit=limit if limit is not None else 2**62)
    return [_node(row) for row in rows]


def every(conditions: Sequence[Condition | None]) -> Condition | None:
    """The conditions that are given, all of them; None when there is none."""
    given = tuple(c for c in conditions if c is not None)
    if not given:
        return None
    return given[0] if len(given) == 1 else AllOf(given)
