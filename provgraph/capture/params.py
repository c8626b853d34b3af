"""Parameters from the configuration files a run read: activity properties
`params.<file>.<key.path>` (`params.params.yaml.train.lr`, `params.conf/solver.prototxt.base_lr`).

Why here, on the capture, into the journal record: the values must be those of the version
the run read, not of the file as it is later, and they must survive `prov gc` and a clone
pulled with `prov push --content none`, where the index is rebuilt from the records alone
(journal format 2). So they are read once, when the record is made, from the blob the
record's `used` entry names (the before-snapshot's version, or the version an ingestor named),
all files in one `git cat-file --batch`; a git-ignored file (not in the snapshot) is read from
the disk only when its SHA-256 is still the one the trace recorded for the version read. An
ingestor could not do this: ingestors are chosen by the command line, while any command (a
Makefile recipe, a shell script) may read a configuration file, and only the capture knows
what was read. The interrupted captures `prov` finishes later go through here too.

Which files count: those the traced command (or, untraced, its Python processes and command
line) read whose name says configuration, as the `config` role of a used file says
(`provgraph.capture.tracing.observe.role_of`: `.yaml`/`.yml`, `.toml`, `.ini`, `.cfg`,
`.conf`, `.env`, `.prototxt`, `.properties`, and `.json` whose name holds `param`,
`config`, `setting`, ...), plus `[params] files = [globs]` of `.prov.toml`, less
`[params] exclude = [globs]`. A glob without `/` matches the file name in any folder; one
with `/` the path from the repository root (`*` crosses `/`, as in fnmatch).

Formats, by extension: YAML (PyYAML, with YAML 1.2's numbers and booleans: `1e-3` is a number
and `on` a string, as OmegaConf reads them), JSON, TOML (tomllib), INI (configparser: keys
`section.key`), `.env` and `.properties` (python-dotenv; `KEY=value` lines), Caffe prototxt
(provgraph's reader). INI, `.env` and `.properties` values are text: they are typed as YAML
would type the same word (`0.01` a number, `true` a boolean). Another extension matched by
`[params] files` is read as YAML (JSON is YAML too). A file that does not parse, or whose top
is not a mapping, adds nothing and never fails the capture.

What is kept: scalars (text, numbers, booleans; dates as ISO text) and lists of at most
`params.max_list_length` scalars; nested keys dotted; at most `params.max_keys` keys per file,
in file order; text values up to `params.max_value_length` characters; files up to
`params.max_file_size`; at most MAX_FILES files per run. What is left out is said in one
property, `params.<file>._truncated` (`params._truncated` for files past MAX_FILES).
Values whose key names a secret (`password`, `API_KEY`, a token's shape...) pass through the
capture's redaction, as command lines do: the record says a password was set, never which.

Light on purpose (the capture path): the standard library, and PyYAML or python-dotenv only
when a run read such a file of a version no earlier run read (`.git/prov/params.json` keeps
the parameters of the last versions read, so most runs parse nothing and ask git nothing).
"""

from __future__ import annotations

import os
import re

from provgraph import gitio

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

    from provgraph.capture.redact import Redactor
    from provgraph.config import Config
    from provgraph.repo import Repository

PREFIX = "params."
TRUNCATED = "_truncated"
#: Configuration files read for parameters per run; the rest are named in `params._truncated`.
MAX_FILES = 32
#: Key names listed in a `_truncated` note before it says "...".
NAMES_SHOWN = 5
INT64 = (-(2**63), 2**63 - 1)
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+"
                    r"|\.[0-9]+(?:[eE][-+]?[0-9]+)?)")


class Limits:
    """How much of one file is kept (the `params.*` settings)."""

    __slots__ = ("file_size", "keys", "list_length", "value_length")

    def __init__(self, config: Config | None = None):
        from provgraph.config import DEFAULTS, parse_size

        def setting(name: str) -> Any:
            value = config.get(f"params.{name}") if config is not None else None
            return DEFAULTS[f"params.{name}"] if value is None else value

        self.file_size = parse_size(setting("max_file_size"))
        self.keys = int(setting("max_keys"))
        self.value_length = int(setting("max_value_length"))
        self.list_length = int(setting("max_list_length"))


def of_record(repo: Repository, record: dict[str, Any], config: Config,
              redactor: Redactor) -> dict[str, Any]:
    """The `params.*` properties of the configuration files a capture record used."""
    chosen = _chosen(record, config)
    if not chosen:
        return {}
    limits = Limits(config)
    kept, skipped = chosen[:MAX_FILES], chosen[MAX_FILES:]
    cache = _Cache(repo, limits, redactor)
    # a version and the format it is read in (one blob may be a.yaml and b.json)
    keys = [(_version(record, index, item), _kind(item["path"])) for index, item in kept]
    values = {key: cache.get(*key) for key in keys if key[0]}
    missing = {key[0]: item for key, (_i, item) in zip(keys, kept, strict=True)
               if key[0] and values[key] is None}
    if missing:
        contents = _contents(repo, list(missing.items()), limits.file_size)
        for key, (_i, item) in zip(keys, kept, strict=True):
            if values.get(key) is None and key[0] in contents:
                values[key] = of_content(item["path"], contents[key[0]], limits, redactor)
                cache.put(*key, values[key])
        cache.save()
    found: dict[str, Any] = {}
    for key, (_i, item) in zip(keys, kept, strict=True):
        prefix = f"{PREFIX}{item['path']}."
        found.update((prefix + name, value) for name, value in (values.get(key) or {}).items())
    if skipped:
        found[PREFIX + TRUNCATED] = (f"{_many(len(skipped), 'configuration file')} past the "
                                     f"first {MAX_FILES} not read: "
                                     + _names([item["path"] for _i, item in skipped]))
    return found


def of_content(path: str, content: bytes | int, limits: Limits,
               redactor: Redactor | None = None) -> dict[str, Any]:
    """The parameters of one file's content, by dotted key (`_truncated`: what was left out);
    `content` an int: the size of a file too big to read."""
    if isinstance(content, int):
        return {TRUNCATED: f"not read: {content} bytes, over params.max_file_size "
                           f"({limits.file_size})"}
    tree = parse(path, content)
    if tree is None:
        return {}
    values, note = flatten(tree, limits)
    found = {key: _redacted(redactor, key, value) if redactor else value
             for key, value in values.items()}
    if note:
        found[TRUNCATED] = note
    return found


def is_config(path: str, included: list[str] = (), excluded: list[str] = ()) -> bool:
    """Whether a used file counts as configuration (see the module's docstring)."""
    if excluded and _matches(path, excluded):
        return False
    from provgraph.capture.tracing.observe import role_of

    return role_of(path, None) == "config" or bool(included and _matches(path, included))


def _chosen(record: dict[str, Any], config: Config) -> list[tuple[int, dict[str, Any]]]:
    """The record's used files that count (with their place in `used`), in the order the
    command read them."""
    included = _globs(config.get("params.files"))
    excluded = _globs(config.get("params.exclude"))
    return [(index, item) for index, item in enumerate(record.get("used", []))
            if isinstance(item, dict) and item.get("role") != "moved"
            and isinstance(item.get("path"), str)
            and is_config(item["path"], included, excluded)]


def _version(record: dict[str, Any], index: int, item: dict[str, Any]) -> str | None:
    """What names the version the run read: a blob id (the one the record's `diff` found in
    the before-snapshot, or one an ingestor named), `sha256:<digest>` of a git-ignored file,
    or `<tree>:<path>` when the record has no `diff`."""
    if item.get("oid"):
        return str(item["oid"])
    if item.get("ignored"):
        digest = item.get("sha256")
        return f"sha256:{digest}" if isinstance(digest, str) else None
    used = (record.get("diff") or {}).get("used")
    if isinstance(used, list) and index < len(used):
        return used[index]  # None: not a file in the before-snapshot
    return f"{record['before']}:{item['path']}" if record.get("before") else None


def _globs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [g for g in value or () if isinstance(g, str)]


def _matches(path: str, globs: list[str]) -> bool:
    from fnmatch import fnmatchcase

    name = path.rsplit("/", 1)[-1]
    return any(fnmatchcase(path if "/" in g else name, g.lstrip("/") if "/" in g else g)
               for g in globs)


def _contents(repo: Repository, wanted: list[tuple[str, dict[str, Any]]], limit: int
              ) -> dict[str, bytes | int]:
    """Each version's content (or its size when over `limit`), by version; versions that
    cannot be read are left out. Blobs come in one `git cat-file --batch`."""
    found: dict[str, bytes | int] = {}
    names = [version for version, _item in wanted if not version.startswith("sha256:")]
    if names:
        try:
            blobs = gitio.read_blobs(repo.root, names, limit)
        except (gitio.GitError, OSError):
            blobs = {}
        found.update((name, blob) for name, blob in blobs.items() if blob is not None)
    for version, item in wanted:
        if version.startswith("sha256:"):
            content = _ignored(repo, item, limit)
            if content is not None:
                found[version] = content
    return found


def _ignored(repo: Repository, item: dict[str, Any], limit: int) -> bytes | int | None:
    """A git-ignored file (no snapshot holds it) from the disk, only while it is still the
    version the run read: the digest the trace recorded for it."""
    size, digest = item.get("size"), item.get("sha256")
    if not isinstance(size, int) or not isinstance(digest, str):
        return None
    if size > limit:
        return size
    import hashlib

    try:
        with open(os.path.join(repo.root, item["path"]), "rb") as handle:
            content = handle.read(limit + 1)
    except OSError:
        return None
    return content if hashlib.sha256(content).hexdigest() == digest else None


class _Cache:
    """The parameters of versions read before, by version and format: a run that reads the
    version an earlier run read (most runs do) parses nothing, loads no YAML and asks git
    nothing. Derived (`.git/prov/params.json`, the last ENTRIES versions): damaged or lost,
    the files are read again. Values are kept as recorded, after redaction (the tag holds
    the limits and the project's redaction rules, whose change makes every entry stale)."""

    ENTRIES = 64

    def __init__(self, repo: Repository, limits: Limits, redactor: Redactor):
        from provgraph import state

        self.path = repo.prov_path("params.json")
        found = state.read_json(self.path)
        self.entries: dict[str, Any] = found if isinstance(found, dict) else {}
        rules = repr(redactor.extra).encode()
        import zlib

        self.tag = (f"{limits.file_size},{limits.keys},{limits.value_length},"
                    f"{limits.list_length},{zlib.crc32(rules):08x}")
        self.changed = False

    def get(self, version: str, kind: str) -> dict[str, Any] | None:
        entry = self.entries.get(f"{version} {kind} {self.tag}")
        return entry if isinstance(entry, dict) else None

    def put(self, version: str, kind: str, values: dict[str, Any]) -> None:
        if ":" in version and not version.startswith("sha256:"):
            return  # `<tree>:<path>` names no version for long
        self.entries[f"{version} {kind} {self.tag}"] = values
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        import contextlib
        import json

        kept = dict(list(self.entries.items())[-self.ENTRIES:])
        with contextlib.suppress(OSError):  # a cache: the next run reads the files again
            gitio.write_file_atomic(self.path, json.dumps(kept).encode(), durable=False)


# -- formats ---------------------------------------------------------------------------------


def _kind(path: str) -> str:
    """The format a file is read in, from its name: a key of _READERS."""
    name = path.rsplit("/", 1)[-1].lower()
    if name == ".env":
        return ".env"
    ext = name[name.rfind("."):] if name.rfind(".") > 0 else ""
    return ext if ext in _READERS else ".yaml"


def parse(path: str, content: bytes) -> dict[str, Any] | None:
    """A file's values as a tree, or None when it does not parse or is not a mapping."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    try:
        tree = _READERS[_kind(path)](text)
    except Exception:  # any parser's error: a file that does not parse adds nothing
        return None
    return tree if isinstance(tree, dict) else None


def _yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=_yaml_loader())  # a SafeLoader: builds no Python objects


_LOADER: list[type] = []


def _yaml_loader() -> type:
    """PyYAML's safe loader (its C parser when built) resolving plain words as YAML 1.2 and
    OmegaConf do: `1e-3` is a float (YAML 1.1 says text), `on`/`no` are text (1.1: booleans),
    `0755` and `1:30` are text (1.1: octal and sexagesimal numbers)."""
    if _LOADER:
        return _LOADER[0]
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    replaced = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float")}

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in replaced]
        for first, resolvers in base.yaml_implicit_resolvers.items()}

    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(
        r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(
        f"^{_INT.pattern}$"), list("-+0123456789"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
        rf"^(?:{_FLOAT.pattern}|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))
    _LOADER.append(Loader)
    return Loader


def _json(text: str) -> Any:
    import json

    return json.loads(text)


def _toml(text: str) -> Any:
    import tomllib

    return tomllib.loads(text)


def _ini(text: str) -> Any:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign] - keys as written
    parser.read_string(text)
    defaults = parser.defaults()
    tree: dict[str, Any] = {key: typed(value) for key, value in defaults.items()}
    for section in parser.sections():
        own = parser[section]
        tree[section] = {key: typed(own[key]) for key in own
                         if key not in defaults or own[key] != defaults[key]}
    return tree


def _env(text: str) -> Any:
    """`KEY=value` lines (`.env`, Java `.properties`), as python-dotenv reads them (quotes,
    `export`, comments; no variable expansion: the record keeps what the file says)."""
    import io

    from dotenv import dotenv_values

    return {key: typed(value) for key, value in
            dotenv_values(stream=io.StringIO(text), interpolate=False).items()
            if value is not None}


def _prototxt(text: str) -> Any:
    from provgraph.ingestors.caffe.prototxt import parse as parse_prototxt

    return parse_prototxt(text)


_READERS = {".yaml": _yaml, ".yml": _yaml, ".json": _json, ".toml": _toml, ".ini": _ini,
            ".cfg": _ini, ".conf": _ini, ".env": _env, ".properties": _env,
            ".prototxt": _prototxt}


def typed(word: str) -> Any:
    """A text value (INI, `.env`) as YAML 1.2 would type the same plain word: `0.01` and
    `1e-3` are numbers, `true` a boolean, `null` nothing; anything else stays the text."""
    text = word.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~"):
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return word


def typed_yaml(word: str) -> Any:
    """A command-line value (a Hydra override's) as YAML 1.2 reads it: `[1, 2]` a list,
    `{a: 1}` a mapping, quotes removed, plain words as `typed` says; YAML is loaded only for
    words that need more than `typed`."""
    text = word.strip()
    if not text or (text[0] not in "[{\"'!&*|>%@`" and ": " not in text and " #" not in text):
        return typed(word)
    try:
        return _yaml(text)
    except Exception:  # not YAML: the word as written
        return word


# -- flattening ------------------------------------------------------------------------------


class _Walk:
    """One file's tree walked into dotted keys, within the limits; what is left out is
    counted by kind. The walk itself is bounded too: YAML aliases can make a small file a tree
    of billions of nodes, and nesting can be deeper than Python's stack."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.kept: dict[str, Any] = {}
        self.past: list[str] = []  # keys past limits.keys
        self.long: list[str] = []  # text over limits.value_length
        self.other: list[str] = []  # long lists, lists of non-scalars, binary, too deep
        self.budget = VISITS

    def walk(self, node: dict[Any, Any], prefix: str, depth: int) -> None:
        for raw, value in node.items():
            self.budget -= 1
            if self.budget < 0:
                raise _Spent
            key = prefix + _key(raw)
            if isinstance(value, dict):
                if depth >= MAX_DEPTH:
                    self.other.append(key)
                else:
                    self.walk(value, key + ".", depth + 1)
            else:
                self.value(key, value)

    def value(self, key: str, value: Any) -> None:
        limits = self.limits
        if isinstance(value, (list, tuple)):
            items = [_scalar(v) for v in value[:limits.list_length + 1]]
            if len(items) > limits.list_length or any(i is _LEFT_OUT for i in items):
                self.other.append(key)
                return
            value = [i for i in items if i is not None]
            too_long = any(isinstance(i, str) and len(i) > limits.value_length for i in value)
        else:
            value = _scalar(value)
            if value is None:
                return
            if value is _LEFT_OUT:
                self.other.append(key)
                return
            too_long = isinstance(value, str) and len(value) > limits.value_length
        if too_long:
            self.long.append(key)
        elif len(self.kept) >= limits.keys:
            self.past.append(key)
        else:
            self.kept[key] = value

    def note(self, spent: bool) -> str | None:
        limits, notes = self.limits, []
        if self.past or spent:
            more = "more than " if spent else ""
            notes.append(f"{more}{_many(len(self.past), 'key')} past the first {limits.keys} "
                         "(params.max_keys): " + _names(self.past))
        if self.long:
            notes.append(f"{_many(len(self.long), 'value')} over {limits.value_length} "
                         "characters (params.max_value_length): " + _names(self.long))
        if self.other:
            notes.append(f"{_many(len(self.other), 'value')} not a scalar or a list of at most "
                         f"{limits.list_length} scalars (params.max_list_length): "
                         + _names(self.other))
        return "; ".join(notes) or None


class _Spent(Exception):
    """The walk's budget is spent."""


#: Nodes visited per file, and how deep, before the rest is left out.
VISITS = 100_000
MAX_DEPTH = 16


def flatten(tree: dict[str, Any], limits: Limits) -> tuple[dict[str, Any], str | None]:
    """Dotted keys -> kept values, and the note of what was left out (None: nothing)."""
    walk = _Walk(limits)
    try:
        walk.walk(tree, "", 0)
    except _Spent:
        return walk.kept, walk.note(spent=True)
    return walk.kept, walk.note(spent=False)


_LEFT_OUT = object()


def _key(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return "null" if raw is None else _text(str(raw))


def _text(value: str) -> str:
    """Text every store takes: a lone surrogate (JSON's `"\\ud800"`) as its escape."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


def _scalar(value: Any) -> Any:
    """A value as the record holds it; _LEFT_OUT for what is not a scalar."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value <= INT64[1] else str(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) \
            else str(value)
    if hasattr(value, "isoformat"):  # dates and times of YAML and TOML
        return value.isoformat()
    return _LEFT_OUT


def _many(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:NAMES_SHOWN])
    return shown + (", ..." if len(keys) > NAMES_SHOWN else "")


def _redacted(redactor: Redactor, key: str, value: Any) -> Any:
    """A value whose key names a secret (or that has a secret's shape), as redaction leaves
    it: judged as the `NAME=value` word a command line would hold."""
    name = key.rsplit(".", 1)[-1]
    if isinstance(value, list):
        return [_redacted(redactor, name, item) for item in value]
    if isinstance(value, bool):
        return value
    word = f"{name}={value}"
    out = redactor.argv(["prov", word])[1]
    if out == word:
        return value
    return out[len(name) + 1:] if out.startswith(name + "=") else "***"
