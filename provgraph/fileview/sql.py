"""A view's SQL: placeholders, parsing and validation through sqlglot, DuckDB SQL, lineage.

    >>> q = compile_query("select t._c2, count(*) from {a.csv} as t group by 1", "duckdb",
    ...                   cwd=".", root="/repo")
    >>> q.tables["__fv_0"].path, q.sql
    ('a.csv', 'SELECT t._c2, COUNT(*) FROM __fv_0 AS t GROUP BY 1')

1. `{path}` placeholders (outside strings, quoted names and comments) are replaced by table
   names `__fv_0`, `__fv_1`, ... (one per file and options); a placeholder without an alias
   is aliased by its file's stem (`{data/test.csv}` is `test`), as DuckDB names a file table.
2. The text is parsed by sqlglot in the view's dialect (`duckdb`, `sqlite`, `postgres`): a
   syntax error is one line pointing at the offending token, at its place in the text as
   written.
3. The parse must be one query reading only its placeholders (and its own CTEs, `range`,
   `generate_series`, `unnest`): a table by any other name, or a table function reading
   files (`read_csv('x')`, `FROM 'x.csv'`), would be an input provgraph cannot record.
4. The query is written out as DuckDB SQL (sqlglot transpiles SQLite's `IFNULL`, `||`,
   Postgres' `::` casts, ...).
5. Column lineage: sqlglot qualifies the query against the inputs' columns and traces each
   output column back to the input columns its values come from.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from provgraph.errors import BadInput, ProvError
from provgraph.fileview.tables import TableRef, parse_placeholder

DIALECTS = ("duckdb", "sqlite", "postgres")
PREFIX = "__fv_"
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
_PLACEHOLDER = re.compile(r"[^\s{}'\"`]+")


@dataclass
class Placeholder:
    text: str  # between the braces, as written
    start: int  # offset of `{` in the original text
    end: int  # offset after `}`
    ident: str = ""


@dataclass
class Compiled:
    """A view's query, ready for DuckDB."""

    query: str  # as written
    dialect: str
    expression: object  # sqlglot expression (a Query), placeholders as tables __fv_i
    tables: dict[str, TableRef] = field(default_factory=dict)  # __fv_i -> file

    @property
    def sql(self) -> str:
        """The query in DuckDB's dialect, reading tables `__fv_0`, `__fv_1`, ..."""
        return self.expression.sql(dialect="duckdb")

    @property
    def inputs(self) -> list[str]:
        """The repository files the query reads, in order of first mention."""
        return list(dict.fromkeys(ref.path for ref in self.tables.values()))


def scan(text: str) -> list[Placeholder]:
    """The `{...}` placeholders of a SQL text, skipping strings, quoted names and comments."""
    found: list[Placeholder] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"`":
            i = _skip_quoted(text, i, c)
        elif text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "$" and (m := re.match(r"\$([A-Za-z_]\w*)?\$", text[i:])):
            j = text.find(m.group(0), i + len(m.group(0)))
            i = n if j < 0 else j + len(m.group(0))
        elif c == "{":
            j = text.find("}", i)
            inner = text[i + 1 : j] if j > 0 else ""
            if j > 0 and _PLACEHOLDER.fullmatch(inner):
                found.append(Placeholder(inner, i, j + 1))
                i = j + 1
            else:
                i += 1  # a struct literal {'a': 1} or a stray brace: SQL's business
        else:
            i += 1
    return found


def _skip_quoted(text: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(text):
        if text[j] == quote:
            if text.startswith(quote * 2, j):
                j += 2
                continue
            return j + 1
        j += 1
    return j


def compile_query(query: str, dialect: str, cwd: str, root: str) -> Compiled:
    """Parse and check a view's query (`cwd` is the folder, from the root, that its
    placeholders' paths are relative to)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if dialect not in DIALECTS:
        raise BadInput(f"unknown SQL dialect {dialect} (one of {', '.join(DIALECTS)})")
    placeholders = scan(query)
    tables = table_refs(placeholders, cwd, root)
    text, last = "", 0
    for ph in placeholders:
        text += query[last : ph.start] + ph.ident
        last = ph.end
    text += query[last:]
    if not text.strip():
        raise ProvError("the query is empty")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as exc:
        raise ProvError(_syntax_error(exc, query, text, placeholders)) from None
    except TokenError as exc:
        raise ProvError(f"SQL syntax error: {exc}") from None
    if len(statements) != 1:
        raise ProvError(f"a view is one query; found {len(statements)} statements")
    [tree] = statements
    if isinstance(tree, exp.Condition | exp.Alias | exp.Star):
        # not a statement at all (`selec * form t` reads as an expression): a misspelling
        raise ProvError(_not_a_statement(text, dialect, placeholders, query))
    if not isinstance(tree, exp.Query):
        raise ProvError(f"a view is a query (SELECT ...), not {tree.key.upper()}")
    _check_tables(tree, tables)
    # the inputs are the tables of the parse (in the order their placeholders were written)
    read = {t.name for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)}
    tables = {ident: ref for ident, ref in tables.items() if ident in read}
    _alias_by_stem(tree, tables)
    return Compiled(query, dialect, tree, tables)


def table_refs(placeholders: list[Placeholder], cwd: str, root: str) -> dict[str, TableRef]:
    """The files `placeholders` name, by the table name each gets (`__fv_0`, ...; one per file
    and options), which is set on each placeholder. Needs no parse: the files a query names
    are known (and can be sniffed) while sqlglot loads."""
    tables: dict[str, TableRef] = {}
    idents: dict[TableRef, str] = {}
    for ph in placeholders:
        path, options = parse_placeholder(ph.text)
        ref = TableRef(_repo_path(path, cwd, root), options, written=path)
        if ref not in idents:
            idents[ref] = f"{PREFIX}{len(idents)}"
            tables[idents[ref]] = ref
        ph.ident = idents[ref]
    return tables


def _repo_path(path: str, cwd: str, root: str) -> str:
    """The file a placeholder names, symbolic links followed: inside the work tree
    (`provgraph.fileview.paths`)."""
    from provgraph.fileview.paths import input_path

    return input_path(root, cwd, path)


def _check_tables(tree, tables: dict[str, TableRef]) -> None:
    from sqlglot import exp

    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            name = table.name
            if (name in tables or name in ctes) and not table.args.get("db"):
                continue
            raise ProvError(f"unknown table {table.sql(dialect='duckdb')}: a view reads "
                            "repository files, named as {path} (FROM {data.csv} AS d)")
        function = table.this
        fname = (function.name if isinstance(function, exp.Anonymous)
                 else function.sql_name()).lower()
        if fname not in ALLOWED_TABLE_FUNCTIONS:
            raise ProvError(f"{fname}(...) reads data provgraph cannot record: name "
                            "repository files as {path} (FROM {data.csv} AS d)")
    for ident in tree.find_all(exp.Identifier):
        if ident.name in tables and not isinstance(ident.parent, exp.Table):
            ref = tables[ident.name]
            raise ProvError(f"{{{ref.spec()}}} names a table: use it after FROM or JOIN, "
                            "with an alias for its columns (FROM {" + ref.spec() + "} AS t)")


def _alias_by_stem(tree, tables: dict[str, TableRef]) -> None:
    """`FROM {data/test.csv}` is `FROM __fv_0 AS test`, so `test._c0` reads as it does in
    DuckDB's own `FROM 'test.csv'`."""
    from sqlglot import exp

    taken = {t.alias_or_name for t in tree.find_all(exp.Table)}
    taken |= {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    unaliased = [t for t in tree.find_all(exp.Table)
                 if t.name in tables and not t.alias and isinstance(t.this, exp.Identifier)]
    stems: dict[str, list] = {}
    for table in unaliased:
        ref = tables[table.name]
        stems.setdefault(_stem(ref.written or ref.path), []).append(table)
    for stem, found in stems.items():
        if len(found) == 1 and stem not in taken:
            found[0].set("alias", exp.TableAlias(this=exp.to_identifier(stem)))


def _stem(path: str) -> str:
    name = os.path.basename(path).split(".")[0]
    name = re.sub(r"\W", "_", name) or "t"
    return "_" + name if name[0].isdigit() else name


_DESCRIPTIONS = {
    "Invalid expression / Unexpected token": "unexpected token",
}


def _syntax_error(exc, original: str, text: str, placeholders: list[Placeholder]) -> str:
    """One line: where in the query as written, near which token, what sqlglot says."""
    error = (exc.errors or [{}])[0]
    description = str(error.get("description") or exc).splitlines()[0]
    if description.startswith("Required keyword"):
        description = "incomplete expression"
    description = _DESCRIPTIONS.get(description, description)
    highlight = error.get("highlight") or ""
    line, col = error.get("line"), error.get("col")
    if not line or not col:
        return f"SQL syntax error: {description}"
    # sqlglot's col is where the token ends; go back to its start, then to the original text
    offset = _offset(text, line, col) - max(len(highlight), 1) + 1
    offset = _original_offset(offset, placeholders)
    line = original.count("\n", 0, offset) + 1
    col = offset - (original.rfind("\n", 0, offset) + 1) + 1
    for ph in placeholders:
        highlight = highlight.replace(ph.ident, "{" + ph.text + "}")
    near = f" near {highlight!r}" if highlight else " at the end"
    return f"SQL syntax error at line {line}, col {col}{near}: {description}"


def _not_a_statement(text: str, dialect: str, placeholders: list[Placeholder],
                     original: str) -> str:
    """One line for a query that does not begin like one: where its first word is."""
    import sqlglot

    first = sqlglot.tokenize(text, read=dialect)[0]
    offset = _original_offset(first.start, placeholders)
    line = original.count("\n", 0, offset) + 1
    col = offset - (original.rfind("\n", 0, offset) + 1) + 1
    near = next(("{" + ph.text + "}" for ph in placeholders if ph.ident == first.text),
                first.text)
    return (f"SQL syntax error at line {line}, col {col} near {near!r}: a view is a "
            "query, which begins with SELECT, WITH, FROM, VALUES or a parenthesis")


def _offset(text: str, line: int, col: int) -> int:
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return starts[min(line, len(starts)) - 1] + col - 1


def _original_offset(offset: int, placeholders: list[Placeholder]) -> int:
    shift = 0
    for ph in placeholders:
        start = ph.start - shift  # where its identifier starts in the rewritten text
        if offset < start:
            break
        if offset < start + len(ph.ident):
            return ph.start
        shift += (ph.end - ph.start) - len(ph.ident)
    return offset + shift


def lineage(compiled: Compiled, columns: dict[str, list[tuple[str, str]]],
            names: list[str]) -> dict[str, list[str]]:
    """For each output column (named as DuckDB writes them), the input columns feeding it,
    as `path.column`. `columns` gives each input table's (name, type) pairs."""
    from sqlglot import exp
    from sqlglot.lineage import to_node
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope
    from sqlglot.schema import ensure_schema

    schema = {ident: {name: _type(kind) for name, kind in cols}
              for ident, cols in columns.items()}
    qualified = qualify(compiled.expression.copy(), schema=schema, dialect="duckdb",
                        validate_qualify_columns=False)
    scope = build_scope(qualified)
    mapping = ensure_schema(schema, dialect="duckdb")
    result: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        found: list[str] = []
        node = to_node(index, scope, "duckdb", mapping)
        for item in node.walk():
            if isinstance(item.expression, exp.Table) and item.expression.name in compiled.tables:
                column = exp.maybe_parse(item.name, into=exp.Column, dialect="duckdb").name
                source = f"{compiled.tables[item.expression.name].path}.{column}"
                if source not in found:
                    found.append(source)
        key, n = name, 2
        while key in result:
            key, n = f"{name}_{n}", n + 1
        result[key] = sorted(found)
    return result


def _type(kind: str) -> str:
    simple = kind.split("(")[0].strip()
    return simple if re.fullmatch(r"[A-Z ]+", simple) else "VARCHAR"
