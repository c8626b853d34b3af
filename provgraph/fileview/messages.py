"""DuckDB's errors, while a file view reads or writes, as one line a user can act on.

Apart from the engine (which runs the query) and the tables (which sniff and describe the
inputs), so both can turn an error into words without importing each other.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from provgraph.errors import ProvError

if TYPE_CHECKING:
    from provgraph.fileview.tables import Source

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
