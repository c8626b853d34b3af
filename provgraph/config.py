"""Settings: defaults, then the project's `.prov.toml` (committed, shared by the team), then
`.git/prov/config.json` (this clone only, written by `prov config set`; the place for
anything private such as a password), then `PROV_*` environment variables.

Keys are dotted (`capture.large_file_limit`); TOML tables map onto the dots.
"""

from __future__ import annotations

import json
import os
import re

from provgraph import state
from provgraph.errors import NotFound, ProvError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from collections.abc import Callable
    from typing import Any

DEFAULTS: dict[str, Any] = {
    # Files bigger than this are recorded by a SHA-256 digest and not copied into git.
    "capture.large_file_limit": 100_000_000,
    # Git-ignored files a traced command reads or writes: recorded by "digest" (SHA-256 and
    # size, content not copied into git), with their "content" copied into git's object store
    # too, or "skip"ped.
    "capture.ignored": "digest",
    # Trace file access in every process of a command (LD_PRELOAD, ptrace for static
    # programs); "off" falls back to the Python audit hook and the command line.
    "capture.trace": "on",
    # Extra regexes whose matches (or first group) are redacted from recorded commands.
    "redact.patterns": [],
    # Extra option / variable names whose values are secrets.
    "redact.names": [],
    # The Neo4j index: bolt://, neo4j:// or neo4j+s:// (clusters, Aura); none by default.
    "neo4j.uri": None,
    "neo4j.user": None,
    "neo4j.password": None,
    "neo4j.database": "neo4j",
    # Push to Neo4j in the background after each capture (else only on `prov sync`).
    "neo4j.autosync": True,
    # DuckDB's memory limit for file views: a size (2GB) or a share of the machine's memory.
    "fileview.memory_limit": "25%",
    # Record which input rows made each output row of a SQL view (`prov fileview why`).
    "fileview.why": True,
    # `prov gc` policy, applied in the background after captures: keep the content of the
    # last N versions of each file and/or of versions seen in the last D days (none: keep all).
    "retention.keep_last": None,
    "retention.keep_days": None,
    # Parameters from the configuration files a run read (`params.<file>.<key>`, see
    # provgraph.capture.params): globs of files that count besides those known by name,
    # globs of files that never count, and how much of a file is kept.
    "params.files": [],
    "params.exclude": [],
    "params.max_file_size": 100_000,
    "params.max_keys": 200,
    "params.max_value_length": 256,
    "params.max_list_length": 32,
}

#: Environment variables that override a key, e.g. PROV_LARGE_FILE_LIMIT=10MB.
ENVIRONMENT = {
    "capture.large_file_limit": "PROV_LARGE_FILE_LIMIT",
    "capture.ignored": "PROV_CAPTURE_IGNORED",
    "capture.trace": "PROV_TRACE",
    "neo4j.uri": "PROV_NEO4J_URI",
    "neo4j.user": "PROV_NEO4J_USER",
    "neo4j.password": "PROV_NEO4J_PASSWORD",
    "neo4j.database": "PROV_NEO4J_DATABASE",
    "neo4j.autosync": "PROV_NEO4J_AUTOSYNC",
    "fileview.memory_limit": "PROV_FILEVIEW_MEMORY_LIMIT",
    "fileview.why": "PROV_FILEVIEW_WHY",
}

#: Keys that must never be in a committed file.
SECRET_KEYS = frozenset({"neo4j.password"})
#: Keys holding a URI, whose userinfo may carry a password (never committed, never printed).
URI_KEYS = frozenset({"neo4j.uri"})

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
        self.root = root
        self.prov_dir = prov_dir
        self.project_file = os.path.join(root, ".prov.toml")
        self.local_file = os.path.join(prov_dir, "config.json")
        self.project = _read_toml(self.project_file)
        project = _flatten(self.project)
        _refuse_secrets(self.project_file, project)
        self.local, self.local_damage = _read_json(self.local_file)
        self.values = {**DEFAULTS, **_checked(".prov.toml", project),
                       **_checked(state.shown(self.local_file), self.local)}
        for key, variable in ENVIRONMENT.items():
            if os.environ.get(variable):
                self.values[key] = os.environ[variable]
        self.untrusted_neo4j: str | None = None
        if project.get("neo4j.uri") and self.values.get("neo4j.uri") == project["neo4j.uri"]:
            self._neo4j_from_the_project()

    def _neo4j_from_the_project(self) -> None:
        """A Neo4j server named by the committed file receives this clone's records (and its
        Neo4j credentials) only once `prov trust` has allowed the file."""
        from provgraph.trust import verdict

        if not verdict(self).allows("neo4j", 0):
            self.untrusted_neo4j = str(self.values["neo4j.uri"])
            self.values["neo4j.uri"] = None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key)
        return default if value is None else value

    @property
    def retention_keep_last(self) -> int | None:
        value = self.values.get("retention.keep_last")
        return int(value) if value is not None else None

    @property
    def retention_keep_days(self) -> float | None:
        value = self.values.get("retention.keep_days")
        return float(value) if value is not None else None

    @property
    def large_file_limit(self) -> int:
        return parse_size(self.values["capture.large_file_limit"])

    @property
    def ignored_mode(self) -> str:
        """How git-ignored files a command touches are recorded (capture.ignored)."""
        value = str(self.values.get("capture.ignored") or "digest").strip().lower()
        return value if value in ("digest", "content", "skip") else "digest"

    @property
    def trace(self) -> bool:
        value = str(self.values.get("capture.trace", "on")).strip().lower()
        return value not in ("0", "off", "false", "no")

    @property
    def neo4j_configured(self) -> bool:
        return bool(self.values.get("neo4j.uri"))

    @property
    def neo4j_autosync(self) -> bool:
        value = self.values.get("neo4j.autosync", True)
        if isinstance(value, str):
            return value.strip().lower() not in ("0", "false", "no", "off")
        return bool(value)

    def tables(self, name: str) -> list[dict[str, Any]]:
        """Arrays of tables in `.prov.toml`, such as `[[ingestor]]` entries."""
        value = self.project.get(name, [])
        return value if isinstance(value, list) else [value]

    def set_local(self, key: str, value: Any) -> None:
        """Store one key in this clone's config (never in a committed file; owner-only);
        text is checked and typed by `check_key` (`"false"` is stored as false)."""
        self._refuse_damaged()
        self.local[key] = check_key(key, value) if isinstance(value, str) else value
        self._write_local()

    def unset_local(self, key: str) -> bool:
        self._refuse_damaged()
        if key not in self.local:
            return False
        del self.local[key]
        self._write_local()
        return True

    def _refuse_damaged(self) -> None:
        """A damaged config.json is the user's to mend: never overwritten with what was
        readable of it."""
        if self.local_damage:
            raise ProvError(self.local_damage)

    def _write_local(self) -> None:
        from provgraph.gitio import write_file_atomic

        write_file_atomic(self.local_file, json.dumps(self.local, indent=2, sort_keys=True)
                          .encode() + b"\n")
        os.chmod(self.local_file, 0o600)


def _refuse_secrets(path: str, project: dict[str, Any]) -> None:
    """A committed file is shared with everyone who clones: no password in it, not even
    inside a URI (`bolt://neo4j:pw@host`); the value itself is never quoted back."""
    from provgraph.capture.redact import uri_has_password

    secrets = sorted(k for k in project if k in SECRET_KEYS)
    if secrets:
        raise ProvError(f"{path} is committed: keep {', '.join(secrets)} out of "
                        "it (use `prov config set` or the environment)")
    inside = sorted(k for k in project if k in URI_KEYS and uri_has_password(project[k]))
    if inside:
        raise ProvError(f"{path} is committed: keep the password out of {', '.join(inside)} "
                        "(write bolt://user@host and give the password with `prov config set "
                        "neo4j.password` or PROV_NEO4J_PASSWORD)")


def shown(key: str, value: Any) -> Any:
    """A setting's value as `prov config` and `prov status` print it: secrets as ***."""
    from provgraph.capture.redact import REDACTED, uri_shown

    if key in SECRET_KEYS and value is not None:
        return REDACTED
    return uri_shown(value) if key in URI_KEYS else value


def check_key(key: str, value: str) -> Any:
    """Refuse a misspelt key or a value of the wrong type before it is stored (one line
    naming the key and what it takes); return the value as it is to be stored."""
    if key not in DEFAULTS:
        known = ", ".join(sorted(DEFAULTS))
        raise NotFound(f"unknown setting {key} (known: {known})")
    setting = _SETTINGS[key]
    try:
        return setting.parse(value)
    except (ValueError, re.error) as exc:
        shown_value = shown(key, value) if key in URI_KEYS | SECRET_KEYS else repr(value)
        reason = f" ({exc})" if isinstance(exc, re.error) else ""
        raise ProvError(f"{key} takes {setting.takes}, not {shown_value}{reason}") from None


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text
    return parse


_BOOLEANS = {"true": True, "on": True, "yes": True, "1": True,
             "false": False, "off": False, "no": False, "0": False}


def _boolean(text: str) -> bool:
    value = _BOOLEANS.get(text.strip().lower())
    if value is None:
        raise ValueError(text)
    return value


def _size(text: str) -> int:
    if not _SIZE.match(text):
        raise ValueError(text)
    return parse_size(text)


def _memory(text: str) -> str:
    """A size (2GB) or a share of the machine's memory (25%), as fileview.engine reads it."""
    share = text.strip()
    if share.endswith("%"):
        if not 0 < float(share[:-1]) <= 100:
            raise ValueError(text)
    else:
        _size(share)
    return share


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError(text)
    return text


def _neo4j_uri(text: str) -> str:
    if not re.match(r"^(bolt|neo4j)(\+s|\+ssc)?://[^/\s]", text):
        raise ValueError(text)
    return text


def _database(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.-]{2,62}", text):
        raise ValueError(text)
    return text


def _texts(check: Callable[[str], Any]) -> Callable[[str], list[str]]:
    """A list: one value, or a JSON list of strings (`'["a", "b"]'`), each checked."""
    def parse(text: str) -> list[str]:
        items = json.loads(text) if text.lstrip().startswith("[") else [text]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(text)
        for item in items:
            check(item)
        return items
    return parse


def _read_json(path: str) -> tuple[dict[str, Any], str | None]:
    """This clone's settings, and what is wrong with the file when it is damaged: then its
    settings are left out (said once, in one line) and the command goes on with the others."""
    found = state.read_json(path, {})
    if isinstance(found, dict):
        return found, None
    problem = (f"{state.shown(path)} is damaged (not a JSON object): fix it, or remove it and "
               "set again what `prov config set` had set")
    state.warn(f"{problem}; its settings are left out")
    return {}, problem


def _is_size(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and parse_size(value) >= 0
    except ProvError:
        return False


def _is_switch(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str | int) and str(value).strip()
                                       .lower() in ("0", "1", "on", "off", "true", "false",
                                                    "yes", "no"))


def _is_text(value: Any) -> bool:
    """A string; a number too (`prov config set neo4j.password 12345` stores a number)."""
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_memory(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class Setting:
    """What one setting takes. Typed by `prov config set` (`parse`: text to the value stored,
    refused at once rather than stored to fail later), and read back from `.prov.toml` or
    config.json already typed (`valid`; anything else is left out with one warning saying
    `wanted`, and the default stands; None: checked where it is used, which fails closed).
    A plain class: `dataclasses` would cost `prov CMD` an import."""

    __slots__ = ("parse", "takes", "valid", "wanted")

    def __init__(self, takes: str, parse: Callable[[str], Any],
                 valid: Callable[[Any], bool] | None, wanted: str = "") -> None:
        self.takes, self.parse, self.valid, self.wanted = takes, parse, valid, wanted


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(text)
    return int(text)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_globs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _days(text: str) -> float:
    days = float(text)
    if not days >= 0:
        raise ValueError(text)
    return days


_SETTINGS: dict[str, Setting] = {
    "capture.large_file_limit": Setting("a size (100MB, 64MiB, 1000000)", _size, _is_size,
                                        "a size such as 100MB or 64MiB"),
    "capture.ignored": Setting("digest, content or skip",
                               _choice("digest", "content", "skip"),
                               lambda v: v in ("digest", "content", "skip"),
                               'one of "digest", "content", "skip"'),
    "capture.trace": Setting("on or off", _choice("on", "off"), _is_switch, '"on" or "off"'),
    "redact.patterns": Setting("a regex, or a JSON list of regexes", _texts(re.compile), None),
    "redact.names": Setting("a name (a regex), or a JSON list of them", _texts(re.compile),
                            None),
    "neo4j.uri": Setting("a Neo4j URI (bolt://, neo4j://, neo4j+s://, bolt+s://...)",
                         _neo4j_uri, _is_text, "a bolt:// or neo4j:// URI"),
    "neo4j.user": Setting("a user name", _text, _is_text, "a string"),
    "neo4j.password": Setting("a password", _text, _is_text, "a string"),
    "neo4j.database": Setting("a database name (a letter, then 2 to 62 letters, digits, dots "
                              "or dashes)", _database, _is_text, "a string"),
    "neo4j.autosync": Setting("true or false", _boolean, _is_switch, "true or false"),
    "fileview.memory_limit": Setting("a size (2GB) or a share of memory (25%)", _memory,
                                     _is_memory, "a size such as 2GB, or a share such as 25%"),
    "fileview.why": Setting("true or false", _boolean, _is_switch, "true or false"),
    "retention.keep_last": Setting("a number of versions (1 or more)", _count,
                                   lambda v: v is None or (_is_number(v) and v >= 1),
                                   "a number, 1 or more"),
    "retention.keep_days": Setting("a number of days (0 or more)", _days,
                                   lambda v: v is None or (_is_number(v) and v >= 0),
                                   "a number of days, 0 or more"),
    "params.files": Setting("a glob, or a JSON list of globs", _texts(_text), _is_globs,
                            "a list of globs such as [\"conf/*.yaml\"]"),
    "params.exclude": Setting("a glob, or a JSON list of globs", _texts(_text), _is_globs,
                              "a list of globs such as [\"data/*.json\"]"),
    "params.max_file_size": Setting("a size (1MB, 64KiB, 1000000)", _size, _is_size,
                                    "a size such as 1MB"),
    "params.max_keys": Setting("a number of keys (1 or more)", _count, _is_count,
                               "a number, 1 or more"),
    "params.max_value_length": Setting("a number of characters (1 or more)", _count,
                                       _is_count, "a number, 1 or more"),
    "params.max_list_length": Setting("a number of items (1 or more)", _count, _is_count,
                                      "a number, 1 or more"),
}
#: Tables whose keys are settings: a value in their place is a mistake worth a word.
TABLES = frozenset(key.split(".")[0] for key in DEFAULTS)


def _checked(source: str, values: dict[str, Any]) -> dict[str, Any]:
    """The settings of `source` that have the type they need; one warning line for each
    that does not (`redact.*` are checked where they are used, which fails closed)."""
    kept = {}
    for key, value in values.items():
        setting = _SETTINGS.get(key)
        test = setting.valid if setting else None
        if key in TABLES:
            state.warn(f"{source}: {key} is a table of settings ([{key}]), not "
                       f"{_shown_value(key, value)}; ignored")
        elif test is not None and not test(value):
            state.warn(f"{source}: {key} must be {setting.wanted}, not {_shown_value(key, value)}; "
                       f"the default ({DEFAULTS[key]}) is used")
        else:
            kept[key] = str(value) if test is _is_text else value
    return kept


def _shown_value(key: str, value: Any) -> str:
    text = repr(shown(key, value))
    return text if len(text) <= 40 else text[:37] + "..."

