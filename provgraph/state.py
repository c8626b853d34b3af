"""Reading provgraph's own files under `.git/prov/`, which a crash, a full disk or a hand edit
may have damaged.

Every file there is one of two kinds (the README's "Where it is kept" lists them):

- *derived*: a cache or an index that provgraph can make again from git and the journal
  (`index.duckdb`, `snapshot.json`, `views.json`...). Damaged, it is treated as missing and
  made again, silently: the user has nothing to do.
- *primary*: what only this clone knows (`clone-id`, `config.json`, `trust.json`, running
  markers, saved segments...). Damaged, it is named in one line with what to do, and is never
  overwritten behind the user's back.

Damage means anything a reader cannot take as it is: unreadable bytes, text that is not JSON,
JSON of another shape than the one provgraph writes. Readers here never raise on damage; they
say so. Only the standard library: `prov CMD` reads some of these files.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

#: What `read_json` returns for a file that exists but is not JSON.
DAMAGED = object()

_warned: set[str] = set()


def read_json(path: str, missing: Any = None) -> Any:
    """The JSON in `path`; `missing` when there is no such file, DAMAGED when it cannot be
    read as JSON (bytes that are not UTF-8, a truncated document, a folder in its place)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return missing
    except OSError:
        return DAMAGED
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return DAMAGED


def read_text(path: str) -> str | None:
    """A one-line text file (an id, an object name); None when missing or not text."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4096).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def is_hex(value: Any, lengths: tuple[int, ...] = (40, 64)) -> bool:
    """A lowercase hex string of one of `lengths` (object ids, digests)."""
    return (isinstance(value, str) and len(value) in lengths
            and all(c in "0123456789abcdef" for c in value))


def dict_of(value: Any, keys: type | tuple = str, values: type | tuple = object) -> bool:
    """A dict whose keys and values are of the given types (bool is not an int here)."""
    return isinstance(value, dict) and all(
        _is(k, keys) and _is(v, values) for k, v in value.items())


def list_of(value: Any, items: type | tuple) -> bool:
    return isinstance(value, list) and all(_is(item, items) for item in value)


def _is(value: Any, kinds: type | tuple) -> bool:
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):  # True is an int to Python, not to a JSON schema
        return bool in allowed or object in allowed
    return isinstance(value, allowed)


def warn(message: str) -> None:
    """One line on stderr, once per process (several readers may find the same damage)."""
    if message not in _warned:
        _warned.add(message)
        print(f"prov: warning: {message}", file=sys.stderr)


def shown(path: str) -> str:
    """A path under the git dir as the user finds it from the work tree: `.git/prov/x`."""
    marker = os.sep + ".git" + os.sep
    index = path.rfind(marker)
    return path[index + 1:] if index >= 0 else path


class Damaged(Exception):
    """A derived file found damaged while a command used it (`remove` it: the next command
    makes it again). Subclasses know the file: the index, the search index."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{shown(path)} is damaged ({reason})")
        self.path = path
        self.reason = reason

    def remove(self) -> None:
        raise NotImplementedError
