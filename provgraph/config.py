"""Settings: defaults, then the project's `.prov.toml` (committed, shared by the team), then
`.git/prov/config.toml` (this clone only, written by `prov config set`; the place for
anything private such as a password), then `PROV_*` environment variables.

Keys are dotted (`capture.large_file_limit`); TOML tables map onto the dots.
"""

from __future__ import annotations

import json
import os
import re

from provgraph.repo import ProvError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

DEFAULTS: dict[str, Any] = {
    # Files bigger than this are recorded by a SHA-256 digest and not copied into git.
    "capture.large_file_limit": 100_000_000,
    # Extra regexes whose matches (or first group) are redacted from recorded commands.
    "redact.patterns": [],
    # Extra option / variable names whose values are secrets.
    "redact.names": [],
}

#: Environment variables that override a key, e.g. PROV_LARGE_FILE_LIMIT=10MB.
ENVIRONMENT = {"capture.large_file_limit": "PROV_LARGE_FILE_LIMIT"}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?)b?|b)?\s*$", re.I)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: Any) -> int:
    """Accept 1048576, '100MB' (10^8 bytes), '1.5 GiB' (binary), '20k'."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ProvError(f"not a size: {value!r} (write e.g. 100MB or 64MiB)")
    number, unit, binary = match.groups()
    scale = (1024 if binary else 1000) ** _POWERS[unit.lower()] if unit else 1
    return int(float(number) * scale)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {}
    import tomllib  # only when a file exists: the capture path stays lean

    try:
        return tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProvError(f"{path}: {exc}") from None


class Config:
    def __init__(self, root: str, prov_dir: str):
        self.project_file = os.path.join(root, ".prov.toml")
        self.local_file = os.path.join(prov_dir, "config.toml")
        self.project = _read_toml(self.project_file)
        self.local = _flatten(_read_toml(self.local_file))
        self.values = {**DEFAULTS, **_flatten(self.project), **self.local}
        for key, variable in ENVIRONMENT.items():
            if variable in os.environ:
                self.values[key] = os.environ[variable]

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def large_file_limit(self) -> int:
        return parse_size(self.values["capture.large_file_limit"])

    def tables(self, name: str) -> list[dict[str, Any]]:
        """Arrays of tables in `.prov.toml`, such as `[[ingestor]]` entries."""
        value = self.project.get(name, [])
        return value if isinstance(value, list) else [value]

    def set_local(self, key: str, value: str) -> None:
        """Store one key in this clone's config (never in a committed file)."""
        from provgraph.gitio import write_file_atomic

        self.local[key] = _coerce(value)
        lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in sorted(self.local.items())]
        write_file_atomic(self.local_file, ("\n".join(lines) + "\n").encode())
        os.chmod(self.local_file, 0o600)

    def unset_local(self, key: str) -> bool:
        from provgraph.gitio import write_file_atomic

        if key not in self.local:
            return False
        del self.local[key]
        lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in sorted(self.local.items())]
        write_file_atomic(self.local_file, ("\n".join(lines) + "\n").encode())
        return True


#: Prefixes of keys other issues of the project own (each checks its own values).
KEY_PREFIXES = ("neo4j.",)


def check_key(key: str, value: str) -> None:
    """Refuse a misspelt key or a bad value before it is stored."""
    if key not in DEFAULTS and not key.startswith(KEY_PREFIXES):
        known = ", ".join(sorted(DEFAULTS))
        raise ProvError(f"unknown setting {key} (known: {known}, neo4j.*)")
    if key == "capture.large_file_limit":
        parse_size(value)


def _coerce(text: str) -> Any:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
