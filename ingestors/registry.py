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
    ("provgraph.ingestors.caffe", "CaffeIngestor",
     r"(^|[\s/])caffe(\.bin)?\s+(train|test|time)\b", ("stderr",)),
    ("provgraph.ingestors.git", "GitIngestor", r"(^|[\s/])git\s+(.*\s)?commit\b", ()),
]


class Entry:
    """An ingestor known by name and pattern, loaded only if its pattern matches."""

    def __init__(self, name: str, pattern: str, source: str, load, streams: tuple = ()):
        self.name = name
        self.pattern = re.compile(pattern)
        self.source = source
        self.streams = tuple(streams)
        self._load = load

    def load(self) -> Ingestor | None:
        try:
            return self._load()
        except Exception as exc:  # a broken plugin is a warning
            warn(f"cannot load ingestor {self.name} ({self.source}): {exc}")
            return None


def entries(config: Config | None, cache_dir: str | None = None) -> list[Entry]:
    """Every ingestor this repository knows, built-ins first, then the project's, then plugins."""
    found = [_builtin(*builtin) for builtin in BUILTINS]
    if config is not None:
        found += _from_config(config)
        found += _metrics(config)
    found += _entry_points(cache_dir)
    return found


def matching(command: str, config: Config | None, cache_dir: str | None = None
             ) -> list[Ingestor]:
    """The ingestors whose pattern is found in the command line, loaded, in registry order."""
    loaded = []
    for entry in entries(config, cache_dir):
        if entry.pattern.search(command):
            ingestor = entry.load()
            if ingestor is not None:
                loaded.append(ingestor)
    return loaded


def _builtin(module: str, cls: str, pattern: str, streams: tuple[str, ...]) -> Entry:
    name = cls.removesuffix("Ingestor").lower()

    def load() -> Ingestor:
        return getattr(importlib.import_module(module), cls)()

    return Entry(name, pattern, "built-in", load, streams)


def _from_config(config: Config) -> list[Entry]:
    """`[[ingestor]]` tables: `name`, `match` (regex), and `call = "module:function"` or
    `command = [...]`; optional `streams`, `timeout`, `hooks`."""
    from provgraph.ingestors.external import CallableIngestor, ExecutableIngestor

    found = []
    for index, table in enumerate(config.tables("ingestor")):
        name = str(table.get("name") or f"ingestor{index + 1}")
        where = f"[[ingestor]] {name} in .prov.toml"
        try:
            pattern = str(table["match"])
            re.compile(pattern)
        except (KeyError, re.error) as exc:
            warn(f"{where}: needs a valid `match` regex ({exc}); ignored")
            continue
        if "call" in table:
            found.append(Entry(name, pattern, ".prov.toml",
                               lambda t=table, n=name: CallableIngestor(n, t, config)))
        elif "command" in table:
            found.append(Entry(name, pattern, ".prov.toml",
                               lambda t=table, n=name: ExecutableIngestor(n, t, config)))
        else:
            warn(f"{where}: needs `call = \"module:function\"` or `command = [...]`; ignored")
    return found


def _metrics(config: Config) -> list[Entry]:
    tables = config.tables("metrics")
    if not tables:
        return []
    from provgraph.ingestors.metrics import MetricsIngestor

    return [Entry("metrics", table.get("match", "(?!)"), ".prov.toml",
                  lambda t=table: MetricsIngestor(t)) for table in tables
            if _valid_regex(table.get("match"))]


def _valid_regex(pattern: Any) -> bool:
    try:
        re.compile(str(pattern))
    except re.error as exc:
        warn(f"[[metrics]] in .prov.toml: bad `match` regex {pattern!r} ({exc}); ignored")
        return False
    return pattern is not None


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
        try:
            with open(cache, "rb") as handle:
                stored = json.loads(handle.read())
            if stored.get("signature") == signature:
                return stored["plugins"]
        except (OSError, ValueError):
            pass
    plugins = _scan_plugins()
    if cache:
        from provgraph.gitio import write_file_atomic

        with contextlib.suppress(OSError):
            write_file_atomic(cache, json.dumps({"signature": signature, "plugins": plugins})
                              .encode(), durable=False)
    return plugins


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
