"""Where ingestors come from: provgraph itself, the project's `.prov.toml`, installed packages.

The registry is consulted on every `prov CMD`, so it must not import what it does not run:
built-in ingestors are described by a name, a pattern and a module, and imported only when
their pattern matches; installed packages' entry points (group `provgraph.ingestors`) are
listed once and cached (scanning installed distributions costs tens of milliseconds), the
cache being renewed whenever a folder of `sys.path` changes.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import sys

from provgraph.ingestors import Ingestor, warn
from provgraph.state import list_of, read_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provgraph.config import Config

GROUP = "provgraph.ingestors"

#: Built-in ingestors, in the order they run: (module, class, pattern, streams). The patterns
#: are repeated here (tests check they agree) so that a command matching none imports none.
BUILTINS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("provgraph.ingestors.posix", "PosixIngestor", r".*", ()),
    ("provgraph.ingestors.python", "PythonIngestor", r"(^|[\s/])python[0-9.]*\s", ()),
    ("provgraph.ingestors.caffe.ingestor", "CaffeIngestor",
     r"(^|[\s/])caffe(\.bin)?\s+(train|test|time)\b", ("stderr",)),
    ("provgraph.ingestors.git", "GitIngestor", r"(^|[\s/])git\s+(.*\s)?commit\b", ()),
]


class Entry:
    """An ingestor known by name and pattern, loaded only if its pattern matches.

    `pattern` is a regex text (provgraph's own and installed packages' patterns, compiled
    with `re`) or an already bounded `provgraph.patterns.UserPattern` (`.prov.toml`'s).
    `trusted` is False for a `.prov.toml` entry that waits for `prov trust`: it is listed,
    never loaded."""

    def __init__(self, name: str, pattern: Any, source: str, load, streams: tuple = (),
                 trusted: bool = True):
        self.name = name
        self.pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        self.source = source
        self.streams = tuple(streams)
        self.trusted = trusted
        self._load = load

    def load(self) -> Ingestor | None:
        try:
            return self._load()
        except Exception as exc:  # a broken plugin is a warning
            warn(f"cannot load ingestor {self.name} ({self.source}): {exc}")
            return None


def entries(config: Config | None, cache_dir: str | None = None) -> list[Entry]:
    """Every ingestor this repository knows, built-ins first, then the project's, then plugins
    (the project's untrusted ones included, marked `trusted=False`)."""
    found = [_builtin(*builtin) for builtin in BUILTINS]
    if config is not None:
        found += _from_config(config)
        found += _metrics(config)
    found += _entry_points(cache_dir)
    return found


def matching(command: str, config: Config | None, cache_dir: str | None = None
             ) -> list[Ingestor]:
    """The ingestors whose pattern is found in the command line, loaded, in registry order.

    What `.prov.toml` asks for without trust is skipped, with one warning per Config."""
    loaded = []
    for entry in entries(config, cache_dir):
        if entry.trusted and entry.pattern.search(command):
            ingestor = entry.load()
            if ingestor is not None:
                loaded.append(ingestor)
    if config is not None and config.project:  # no .prov.toml: nothing to trust
        from provgraph.trust import warn_untrusted

        warn_untrusted(config)
    return loaded


def _builtin(module: str, cls: str, pattern: str, streams: tuple[str, ...]) -> Entry:
    name = cls.removesuffix("Ingestor").lower()

    def load() -> Ingestor:
        return getattr(importlib.import_module(module), cls)()

    return Entry(name, pattern, "built-in", load, streams)


def _from_config(config: Config) -> list[Entry]:
    """`[[ingestor]]` tables: `name`, `match` (regex), and `call = "module:function"` or
    `command = [...]`; optional `streams`, `timeout`, `hooks`. Both kinds run code, so they
    act only once `prov trust` has allowed this `.prov.toml`."""
    tables = config.tables("ingestor")
    if not tables:
        return []
    from provgraph.patterns import compile_user
    from provgraph.trust import verdict

    judged = verdict(config)
    found = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            warn(f"[[ingestor]] {index + 1} in .prov.toml is not a table; ignored")
            continue
        name = str(table.get("name") or f"ingestor{index + 1}")
        where = f"[[ingestor]] {name} in .prov.toml"
        if "call" not in table and "command" not in table:
            warn(f"{where}: needs `call = \"module:function\"` or `command = [...]`; ignored")
            continue
        if "match" not in table:
            warn(f"{where}: needs a valid `match` regex; ignored")
            continue
        pattern = compile_user(table["match"], where)
        if pattern is None:
            continue
        kind = "call" if "call" in table else "command"
        found.append(Entry(name, pattern, ".prov.toml", _declared(kind, name, table, config,
                                                                   pattern),
                           tuple(_streams(table)), trusted=not judged.blocks("ingestor",
                                                                             index)))
    return found


def _declared(kind: str, name: str, table: dict[str, Any], config: Config, pattern: Any):
    """The loader of a `.prov.toml` ingestor (imported only when its pattern matches)."""

    def load() -> Ingestor:
        from provgraph.ingestors.external import CallableIngestor, ExecutableIngestor

        cls = CallableIngestor if kind == "call" else ExecutableIngestor
        return cls(name, table, config, pattern)

    return load


def _streams(table: dict[str, Any]) -> list[str]:
    streams = table.get("streams", ())
    return [s for s in streams if isinstance(s, str)] if isinstance(streams, list) else []


def _metrics(config: Config) -> list[Entry]:
    """`[[metrics]]` tables: data, not code, unless `source` names a file outside the work
    tree (or inside the git dir), which waits for `prov trust` like code does."""
    tables = config.tables("metrics")
    if not tables:
        return []
    from provgraph.patterns import compile_user
    from provgraph.trust import verdict

    judged = verdict(config)
    found = []
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            warn(f"[[metrics]] {index + 1} in .prov.toml is not a table; ignored")
            continue
        if "match" not in table:
            warn(f"[[metrics]] {index + 1} in .prov.toml: needs a `match` regex; ignored")
            continue
        pattern = compile_user(table["match"], "[[metrics]] match in .prov.toml")
        if pattern is None:
            continue
        found.append(Entry("metrics", pattern, ".prov.toml",
                           _metrics_loader(table, config, pattern,
                                           judged.allows("metrics", index)),
                           trusted=not judged.blocks("metrics", index)))
    return found


def _metrics_loader(table: dict[str, Any], config: Config, pattern: Any, outside_ok: bool):
    def load() -> Ingestor:
        from provgraph.ingestors.metrics import MetricsIngestor

        return MetricsIngestor(table, pattern, config, outside_ok=outside_ok)

    return load


def _entry_points(cache_dir: str | None) -> list[Entry]:
    return [Entry(item["name"], item["pattern"], f"package {item['dist']}",
                  lambda item=item: _load_plugin(item), tuple(item.get("streams", ())))
            for item in _listed_plugins(cache_dir)]


def _load_plugin(item: dict[str, Any]) -> Ingestor:
    module, _, attr = item["value"].partition(":")
    target = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        target = getattr(target, part)
    ingestor = target() if isinstance(target, type) else target
    ingestor.source = f"package {item['dist']}"
    return ingestor


def _path_signature() -> list[list]:
    signature = []
    for folder in sys.path:
        try:
            signature.append([folder, os.stat(folder or ".").st_mtime_ns])
        except OSError:
            continue
    return signature


def _listed_plugins(cache_dir: str | None) -> list[dict[str, Any]]:
    """Installed ingestor plugins with their patterns, from the cache when nothing changed."""
    signature = _path_signature()
    cache = os.path.join(cache_dir, "entry-points.json") if cache_dir else None
    if cache:
        stored = read_json(cache)  # derived: damaged, it is made again
        if (isinstance(stored, dict) and stored.get("signature") == signature
                and _sound_plugins(stored.get("plugins"))):
            return stored["plugins"]
    plugins = _scan_plugins()
    if cache:
        from provgraph.gitio import write_file_atomic

        with contextlib.suppress(OSError):
            write_file_atomic(cache, json.dumps({"signature": signature, "plugins": plugins})
                              .encode(), durable=False)
    return plugins


def _sound_plugins(plugins: Any) -> bool:
    """Whether the cached plugin list has the shape `_scan_plugins` writes."""
    return list_of(plugins, dict) and all(
        all(isinstance(p.get(k), str) for k in ("name", "value", "pattern", "dist"))
        and list_of(p.get("streams", []), str) and _compiles(p["pattern"]) for p in plugins)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _scan_plugins() -> list[dict[str, Any]]:
    from importlib.metadata import entry_points

    plugins = []
    for point in entry_points(group=GROUP):
        dist = point.dist.name if point.dist else "?"
        try:
            target = point.load()
            ingestor = target() if isinstance(target, type) else target
            pattern = ingestor.pattern.pattern
        except Exception as exc:
            warn(f"cannot load ingestor {point.name} from package {dist}: {exc}")
            continue
        plugins.append({"name": getattr(ingestor, "name", point.name), "value": point.value,
                        "pattern": pattern, "dist": dist,
                        "streams": list(getattr(ingestor, "streams", ()))})
    return plugins
