"""DuckDB, set up for file views: sandboxed, bounded memory, spilling under `.git/prov/`,
streamed output.

DuckDB reads CSV, Parquet and JSON in a streaming fashion and spills joins and aggregates to
disk past its memory limit, so a view over files larger than memory works. The limit is
`fileview.memory_limit` (`.prov.toml`, `prov config`, or `PROV_FILEVIEW_MEMORY_LIMIT`): a
size (`2GB`) or a share of the machine's memory (`25%`, the default).

Each evaluation has a scratch folder of its own, `.git/prov/fileview/tmp/<pid>-<random>/`:
DuckDB's spill files go there, and the output is written there by `COPY (query) TO` and
moved into place only when complete, so a failing view never leaves half a file, nor
overwrites the old one. The connection is sandboxed (`provgraph.sandbox`): it can read the
view's declared inputs and use its scratch folder, nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys

from provgraph.fileview.tables import Source, split_compression
from provgraph.repo import ProvError, Repository

DEFAULT_MEMORY = "25%"
OUTPUT_FORMATS = ("csv", "tsv", "parquet", "json", "jsonl")


def work_dir(repo: Repository) -> str:
    path = repo.prov_path("fileview")
    os.makedirs(os.path.join(path, "tmp"), exist_ok=True)
    return path


def memory_limit(setting: str | None) -> str:
    """A DuckDB memory limit from `2GB`, `512MiB` or `25%` (of physical memory)."""
    from provgraph.config import parse_size

    text = str(setting or DEFAULT_MEMORY).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1]) / 100
        except ValueError:
            raise ProvError(f"not a memory limit: {text!r} (write e.g. 2GB or 25%)") from None
        if not 0 < share <= 1:
            raise ProvError(f"not a memory limit: {text!r} (a share is between 0% and 100%)")
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        size = int(total * share)
    else:
        size = parse_size(text)
    return f"{max(size, 16 * 2**20) // 2**20}MiB"


def scratch_dir(repo: Repository) -> str:
    """A new folder for one evaluation's spill files and output, under `.git/prov/` (out of
    the snapshots' sight, and on the work tree's file system, so the move is a rename).
    Folders left by killed processes are removed on the way."""
    parent = os.path.join(work_dir(repo), "tmp")
    _remove_abandoned(parent)
    path = os.path.join(parent, f"{os.getpid()}-{os.urandom(4).hex()}")
    os.makedirs(path)
    return path


def _remove_abandoned(parent: str) -> None:
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = name.partition("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def remove_scratch(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


def connect(repo: Repository, limit: str | None = None, *, reads: list[str],
            scratch: str):
    """An in-memory DuckDB with the view settings (memory limit, spilling into `scratch`),
    sandboxed: it can read the files `reads` (absolute paths) and use `scratch`, no more."""
    import duckdb

    from provgraph import sandbox
    from provgraph.config import Config

    setting = (limit or os.environ.get("PROV_FILEVIEW_MEMORY_LIMIT")
               or Config(repo.root, repo.prov_dir).get("fileview.memory_limit"))
    con = duckdb.connect(":memory:", config={
        **sandbox.STARTUP,
        "memory_limit": memory_limit(setting),
        "temp_directory": scratch,
        "preserve_insertion_order": True,  # why-provenance numbers rows in file order
    })
    try:
        sandbox.lock(con, reads, [scratch])
    except BaseException:
        con.close()
        raise
    return con


def engine_version() -> str:
    import duckdb

    return duckdb.__version__


def register(con, sources: dict[str, Source]) -> None:
    """Name each input table for the compiled query: `CREATE TEMP VIEW ident AS ...`."""
    for ident, source in sources.items():
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{ident}" AS SELECT * FROM {source.relation}')


def output_format(name: str, given: str | None = None) -> str:
    """The output format a view's name says (`results.csv.gz` is csv), or `given`."""
    if given:
        if given not in OUTPUT_FORMATS:
            raise ProvError(f"unknown format {given} (one of {', '.join(OUTPUT_FORMATS)})")
        return given
    stem, _ = split_compression(name)
    ext = os.path.splitext(stem)[1].lower()
    found = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
             ".pq": "parquet", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(ext)
    if found is None:
        raise ProvError(f"cannot tell the output format from the name {name}: use .csv, .tsv, "
                        ".parquet, .json or .jsonl (optionally .gz/.zst), or --format")
    return found


def copy_options(fmt: str, compression: str | None = None) -> str:
    options = {
        "csv": ["FORMAT csv", "HEADER true"],
        "tsv": ["FORMAT csv", "HEADER true", "DELIMITER '\t'"],
        "parquet": ["FORMAT parquet"],
        "json": ["FORMAT json", "ARRAY true"],
        "jsonl": ["FORMAT json"],
    }[fmt]
    if compression and fmt != "parquet":
        options.append(f"COMPRESSION {compression}")
    return ", ".join(options)


def write(con, sql: str, tmp: str, fmt: str, sources: dict[str, Source],
          compression: str | None = None) -> int:
    """Run `sql` into the file `tmp` (complete, or removed); return the rows written."""
    try:
        rows = con.execute(f"COPY ({sql}) TO '{_quote(tmp)}' ({copy_options(fmt, compression)})"
                           ).fetchone()[0]
    except BaseException as exc:
        _unlink(tmp)
        if isinstance(exc, Exception):
            raise translate(exc, list(sources.values())) from None
        raise
    return rows


def temp_path(scratch: str, name: str) -> str:
    """Where an output is written before it is moved into place: in the evaluation's
    scratch folder (see `scratch_dir`), named like the output (DuckDB goes by the name)."""
    return os.path.join(scratch, f"{os.urandom(4).hex()}-{os.path.basename(name)}")


def move_into_place(tmp: str, target: str) -> None:
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:
        shutil.move(tmp, target)


def cat(con, sql: str, fmt: str, sources: dict[str, Source], tmp: str) -> None:
    """Evaluate the view into `tmp`, then copy it to standard output. (DuckDB writing to
    /dev/stdout would reopen it: a `>>` redirection would be truncated.)"""
    if fmt == "parquet":
        fmt = "csv"  # binary on a terminal helps nobody: `prov fileview cat --format`
    write(con, sql, tmp, fmt, sources)
    try:
        sys.stdout.flush()
        with open(tmp, "rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer, 1 << 20)
        sys.stdout.flush()
    finally:
        _unlink(tmp)


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_FILE = re.compile(r"^\s*file = (.*)$", re.M)


def translate(exc: BaseException, sources: list[Source]) -> ProvError:
    """A DuckDB error as one line a user can act on (file and line of a malformed CSV row,
    a file the sandbox would not let the query read)."""
    refused = _refused(exc)
    if refused is not None:
        return refused
    text = str(exc)
    by_location = {s.location: s for s in sources}
    where = None
    found = _FILE.search(text)
    if found:
        location = found.group(1).strip()
        source = by_location.get(location)
        where = source.ref.path if source else os.path.basename(location)
    elif len(sources) == 1:
        where = sources[0].ref.path
    line = _CSV_LINE.search(text)
    if line:
        return ProvError(f"{where or 'input'}: line {line.group(1)}: {_csv_reason(text, where)}")
    if "Out of Memory Error" in text:
        return ProvError("DuckDB needed more than its memory limit for this view (raise it "
                         "with --memory-limit or fileview.memory_limit in .prov.toml)")
    if "Error when sniffing file" in text or "not possible to automatically detect" in text:
        return ProvError(f"{where or 'input'}: not a CSV file DuckDB can read (no consistent "
                         "delimiter and column count)")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    for source in sources:
        first = first.replace(source.location, source.ref.path)
    first = re.sub(r'"?__fv_(\d+)"?', lambda m: _placeholder(sources, int(m.group(1))), first)
    return ProvError(f"SQL error: {first}")


def _refused(exc: BaseException) -> ProvError | None:
    """The sandbox's refusal (provgraph.sandbox) as one line."""
    from provgraph.sandbox import refusal

    found = refusal(exc)
    if found is None:
        return None
    if found.kind in ("file", "folder"):
        return ProvError(f"the query reads {found.target}, which is not one of its inputs: a "
                         "view reads only the files it names as {path} (nothing was written)")
    if found.kind == "setting":
        return ProvError(f"the query changes DuckDB's setting {found.target}, which file views "
                         "keep fixed (nothing was written)")
    return ProvError("the query needs a DuckDB extension that is not built in; file views do "
                     "not load extensions (nothing was written)")


def _placeholder(sources: list[Source], index: int) -> str:
    return "{" + sources[index].ref.spec() + "}" if index < len(sources) else "the input"


def _csv_reason(text: str, where: str | None) -> str:
    columns = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if columns:
        return f"expected {columns.group(1)} fields, found {columns.group(2)}"
    convert = re.search(r'Error when converting column "([^"]+)"\. (.*)', text)
    if convert:
        hint = f" (the column's type was guessed from the first lines; {{{where}:text}} " \
               "reads every column as text)" if where else ""
        return f"column {convert.group(1)}: {convert.group(2).strip()}{hint}"
    lines = text.strip().splitlines()
    original = next((i for i, x in enumerate(lines) if x.startswith("Original Line")), None)
    if original is not None and original + 1 < len(lines) and lines[original + 1].strip():
        return lines[original + 1].strip()
    return lines[0].split(":", 1)[-1].strip()
