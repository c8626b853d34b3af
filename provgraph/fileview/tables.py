"""Repository files as tables: `{path}` in a view's SQL, read by DuckDB as it streams.

A placeholder is `{PATH}` or `{PATH:OPTION,...}`; PATH is relative to the folder the view was
defined in. The reader follows the name's extension, a compression suffix (`.gz`, `.zst`)
being looked through:

| extension | read as |
|---|---|
| `.csv` | CSV (delimiter sniffed) |
| `.tsv`, `.tab` | tab-separated |
| `.parquet`, `.pq` | Parquet |
| `.jsonl`, `.ndjson`, `.json` | JSON lines (or a JSON array) |

Options: `header` / `noheader` (the first line is, or is not, a header), `text` (read every
column as text: no type guessing), and a format (`csv`, `tsv`, `parquet`, `json`) for a name
whose extension says nothing. A headerless CSV file's columns are `_c0`, `_c1`, ...

Header detection, when not given: DuckDB's sniffer says there is a header when the first
line's values do not fit the types of the lines below (names over numbers). When every column
is text that test cannot tell, so the first line counts as a header only if none of its
values occurs again in its column within the next 1,000 lines (a label column repeats its
values; a header names each column once).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from provgraph.errors import ProvError

FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "csv",
    ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "json", ".ndjson": "json", ".json": "json",
}
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
FORMAT_NAMES = ("csv", "tsv", "parquet", "json")
OPTIONS = frozenset({"header", "noheader", "text", *FORMAT_NAMES})
SAMPLE_LINES = 1000


def split_compression(path: str) -> tuple[str, str | None]:
    """`data.csv.gz` -> (`data.csv`, `gzip`)."""
    stem, ext = os.path.splitext(path)
    compression = COMPRESSIONS.get(ext.lower())
    return (stem, compression) if compression else (path, None)


def format_of(path: str) -> str | None:
    """The format a file name says (compression suffixes looked through), or None."""
    stem, _ = split_compression(path)
    return FORMATS.get(os.path.splitext(stem)[1].lower())


@dataclass(frozen=True)
class TableRef:
    """One `{path:options}` of a view: a repository file read as a table.

    `path` is the repository path (from the root, symbolic links followed); `options` the
    placeholder's options; `written` the path as the query wrote it (its stem names the
    table), which does not make two references different."""

    path: str
    options: tuple[str, ...] = ()
    written: str = field(default="", compare=False)

    @property
    def format(self) -> str:
        given = [o for o in self.options if o in FORMAT_NAMES]
        if given:
            return given[-1]
        found = format_of(self.path)
        if found is None:
            raise ProvError(f"{self.path}: cannot tell the format from the name; say it, e.g. "
                            f"{{{self.path}:csv}} (csv, tsv, parquet, json)")
        return found

    @property
    def header(self) -> bool | None:
        if "header" in self.options:
            return True
        if "noheader" in self.options:
            return False
        return None

    def spec(self) -> str:
        """The placeholder as written back: `path` or `path:opt,opt`."""
        return self.path + (":" + ",".join(self.options) if self.options else "")


def parse_placeholder(text: str) -> tuple[str, tuple[str, ...]]:
    """`data.csv:noheader,text` -> (`data.csv`, ("noheader", "text"))."""
    path, colon, rest = text.rpartition(":")
    if colon and rest and all(o.strip().lower() in OPTIONS for o in rest.split(",")):
        options = tuple(o.strip().lower() for o in rest.split(","))
        if "header" in options and "noheader" in options:
            raise ProvError(f"{{{text}}}: header and noheader contradict each other")
        return path, options
    return text, ()


def sql_literal(value: str) -> str:
    """`value` as an SQL string literal (DuckDB's quoting): for the paths and options that a
    table function takes as constants, where a parameter cannot stand."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Source:
    """A TableRef resolved for DuckDB: the table function reading it and its columns."""

    ref: TableRef
    location: str  # absolute path
    relation: str  # DuckDB table function call, e.g. read_csv('/abs/x.csv', header=false, ...)
    header: bool | None = None  # for CSV/TSV: whether the first line was taken as a header
    columns: list[tuple[str, str]] = field(default_factory=list)  # (name, DuckDB type)


def resolve(con, ref: TableRef, root: str, default_header: bool | None = None) -> Source:
    """Decide how DuckDB reads `ref` (sniffing a CSV's header), on connection `con`."""
    location = os.path.join(root, ref.path)
    if not os.path.isfile(location):
        if os.path.isdir(location):
            raise ProvError(f"{ref.path} is a folder, not a file")
        raise ProvError(f"input {ref.path} does not exist")
    fmt = ref.format
    text = "text" in ref.options
    if fmt == "parquet":
        source = Source(ref, location, f"read_parquet({sql_literal(location)})")
    elif fmt == "json":
        relation = f"read_json({sql_literal(location)}, format = 'auto')"
        if text:
            relation = f"(SELECT COLUMNS(*)::VARCHAR FROM {relation})"
        source = Source(ref, location, relation)
    else:
        return _csv(con, ref, location, fmt, default_header, text)
    source.columns = describe(con, source)
    return source


def describe(con, source: Source) -> list[tuple[str, str]]:
    from provgraph.fileview.messages import translate

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source.relation}").fetchall()
    except Exception as exc:
        raise translate(exc, [source]) from None
    return [(row[0], row[1]) for row in rows]


_SNIFFED = ("Delimiter, Quote, Escape, NewLineDelimiter, Comment, SkipRows, HasHeader, Columns, "
            "DateFormat, TimestampFormat")


def _csv(con, ref: TableRef, location: str, fmt: str, default_header: bool | None,
         text: bool) -> Source:
    """Sniff once, then read with every option spelled out (`auto_detect = false`): the file
    is not sniffed again each time DuckDB binds the query."""
    from provgraph.fileview.messages import translate

    if os.path.getsize(location) == 0:
        raise ProvError(f"input {ref.path} is empty: no columns to read")
    delim = "\t" if fmt == "tsv" else None
    args = f"{sql_literal(location)}" + (f", delim = {sql_literal(delim)}" if delim else "")
    try:
        sniffed = dict(zip([n.strip() for n in _SNIFFED.split(",")], con.execute(
            f"SELECT {_SNIFFED} FROM sniff_csv({args})").fetchone(), strict=True))
        header = ref.header if ref.header is not None else default_header
        if header is None:
            header = bool(sniffed["HasHeader"])
            if header and all(c["type"] == "VARCHAR" for c in sniffed["Columns"]):
                header = _text_header(con, location, sniffed["Delimiter"])
        if header != bool(sniffed["HasHeader"]):  # the types depend on it: sniff as said
            sniffed = dict(zip(sniffed, con.execute(
                f"SELECT {_SNIFFED} FROM sniff_csv({args}, header = {str(header).lower()})"
            ).fetchone(), strict=True))
    except Exception as exc:
        raise translate(exc, [Source(ref, location, "")]) from None
    columns = [(c["name"] if header else f"_c{i}", "VARCHAR" if text else c["type"])
               for i, c in enumerate(sniffed["Columns"])]
    options = [sql_literal(location), "auto_detect = false"]
    for option, key in (("delim", "Delimiter"), ("quote", "Quote"), ("escape", "Escape"),
                        ("new_line", "NewLineDelimiter"), ("comment", "Comment")):
        value = sniffed[key]
        options.append(f"{option} = {sql_literal('' if value == '(empty)' else value)}")
    options.append(f"skip = {int(sniffed['SkipRows'] or 0)}")
    options.append(f"header = {'true' if header else 'false'}")
    for option, key in (("dateformat", "DateFormat"), ("timestampformat", "TimestampFormat")):
        if sniffed[key] and not text:
            options.append(f"{option} = {sql_literal(sniffed[key])}")
    struct = ", ".join(f"{sql_literal(name)}: {sql_literal(kind)}" for name, kind in columns)
    options.append(f"columns = {{{struct}}}")
    source = Source(ref, location, f"read_csv({', '.join(options)})", header=header)
    source.columns = columns
    return source


def _text_header(con, location: str, delimiter: str) -> bool:
    """All columns are text: a header's values do not occur again in their column."""
    rows = con.execute(
        f"SELECT * FROM read_csv({sql_literal(location)}, delim = {sql_literal(delimiter)}, "
        f"header = false, all_varchar = true, ignore_errors = true, null_padding = true) "
        f"LIMIT {SAMPLE_LINES + 1}").fetchall()
    if len(rows) < 2:
        return False
    first, rest = rows[0], rows[1:]
    if any(value is None or value == "" or re.fullmatch(r"[-+.\d eE]+", value)
           for value in first):
        return False
    if len(set(first)) != len(first):
        return False
    return all(first[i] not in {row[i] for row in rest} for i in range(len(first)))
