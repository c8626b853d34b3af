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
import shutil
import sys

from provgraph.errors import BadInput, ProvError
from provgraph.fileview.messages import translate
from provgraph.fileview.tables import Source, split_compression, sql_literal
from provgraph.repo import Repository

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
            raise BadInput(f"unknown format {given} (one of {', '.join(OUTPUT_FORMATS)})")
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
        rows = con.execute(f"COPY ({sql}) TO {sql_literal(tmp)} ({copy_options(fmt, compression)})"
                           ).fetchone()[0]
    except BaseException as exc:
        discard(tmp)
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
        discard(tmp)


def discard(path: str) -> None:
    """Remove a temporary file that may already be gone (moved into place, or never made)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
