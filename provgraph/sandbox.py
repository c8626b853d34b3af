"""DuckDB with its reach cut down to named files: the SQL sandbox of file views and `prov sql`.

The SQL of a file view, and of `prov sql`, comes from users, and through `prov pull` from
teammates. It must read no file but the view's declared `{path}` inputs (or, for `prov sql`,
the index), write nothing, and fetch or load no extension. Inspecting SQL text cannot promise
that (a LATERAL table function, a replacement scan of a quoted file name, a CTE name out of
scope, a function added by a later DuckDB all get past it), so DuckDB's own settings do it:

- `enable_external_access = false`: DuckDB refuses every file system operation (read_csv,
  read_text, read_blob, glob, sniff_csv, COPY, EXPORT/IMPORT DATABASE, ATTACH, INSTALL, the
  secrets and extension folders, replacement scans of file names) except on
- `allowed_paths` (exactly the files given) and `allowed_directories` (a private scratch
  folder: spill files, the output before it is moved into place), and on the databases
  attached before (the index, for `prov sql`). DuckDB resolves symbolic links and `..` before
  it compares, so a link inside an allowed folder does not lead out of it;
- `autoinstall_known_extensions`, `autoload_known_extensions`, `allow_community_extensions`
  off (and unsigned extensions stay refused): nothing is downloaded or loaded; the extensions
  built into the wheel (json, parquet) work;
- `lock_configuration = true`: no SET, RESET, PRAGMA or table function can undo any of it.

This needs DuckDB 1.2 (`allowed_paths`/`allowed_directories` and external access enforced at
the file system; pyproject.toml says so). DuckDB requires the allowed lists to be set on the
running database, before external access is switched off: `lock` does it in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Settings given when the database is opened (the rest can only be set once it runs).
STARTUP = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
}


def lock(con, paths: Iterable[str] = (), directories: Iterable[str] = ()) -> None:
    """Confine the database of `con` to `paths` (files) and `directories` (with everything
    under them), then lock its configuration. For good: a locked database cannot be opened
    up again, so give it everything provgraph itself will touch."""
    con.execute("SET allowed_paths = ?", [list(paths)])
    con.execute("SET allowed_directories = ?", [[_folder(d) for d in directories]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _folder(path: str) -> str:
    """`/x/tmp` as `/x/tmp/`: DuckDB treats an allowed directory as a prefix; with the
    separator, `/x/tmp` does not also allow `/x/tmp-other`."""
    return path if path.endswith("/") else path + "/"


@dataclass(frozen=True)
class Refusal:
    """What the sandbox refused: `kind` is `file`, `folder`, `extension` or `setting`;
    `target` the path or the setting's name (empty for an extension)."""

    kind: str
    target: str


_ACCESS = re.compile(r'Cannot access (file|directory) "(.*?)" - file system operations are '
                     r'disabled by configuration')
_SETTING = re.compile(r'Cannot change configuration option "([^"]+)" - the configuration has '
                      r'been locked')
_EXTENSION = re.compile(r"(Loading|Installing) (external )?extensions? is disabled", re.I)
_UNKNOWN_FILE_TABLE = re.compile(
    r"Table with name (\S*/\S*|\S+\.(?:csv|tsv|txt|parquet|json|jsonl|ndjson|gz|zst|db|duckdb))"
    r"!? does not exist", re.I)


def refusal(exc: BaseException) -> Refusal | None:
    """The sandbox's refusal in a DuckDB error, or None when `exc` is another error.

    A replacement scan (`FROM '/etc/passwd'`) is not even tried with external access off:
    DuckDB says there is no such table; a name with a `/` or a data file's extension is
    taken as that file."""
    text = str(exc)
    found = _ACCESS.search(text)
    if found:
        return Refusal("file" if found.group(1) == "file" else "folder", found.group(2))
    found = _SETTING.search(text)
    if found:
        return Refusal("setting", found.group(1))
    if _EXTENSION.search(text):
        return Refusal("extension", "")
    found = _UNKNOWN_FILE_TABLE.search(text)
    if found and "Catalog Error" in text:
        return Refusal("file", found.group(1).rstrip("!"))
    return None
