"""Where ingestors come from: provgraph itself, the project's `.prov.toml`, installed packages.

The registry is consulted on every `prov CMD`, so it must not import what it does not run.
An ingestor's pattern and streams are written once, in its class; to know them without
importing every ingestor module on every command, the registry reads them from the classes
once and keeps them in `entry-points.json` (under `.git/prov/`), with the patterns of the
installed packages' entry points (group `provgraph.ingestors`; scanning installed
distributions costs tens of milliseconds). That cache is renewed whenever a folder of
`sys.path` or a built-in ingestor's source file changes, so a module is imported only when
its pattern matches.
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

#: Built-in ingestors, in the order they run: (module, class). Name, pattern and streams are
#: the class's own (read through the cache of `_installed`).
BUILTINS: list[tuple[str, str]] = [
    ("provgraph.ingestors.posix", "PosixIngestor"),
    ("provgraph.ingestors.python", "PythonIngestor"),
    ("provgraph.ingestors.caffe.ingestor", "CaffeIngestor"),
    ("provgraph.ingestors.git", "GitIngestor"),
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
    installed = _installed(cache_dir)
    found = [_builtin(item) for item in installed["builtins"]]
    if config is not None:
        found += _from_config(config)
        found += _metrics(config)
    found += _entry_points(installed["plugins"])
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


def _builtin(item: dict[str, Any]) -> Entry:
    def load() -> Ingestor:
        return getattr(importlib.import_module(item["module"]), item["class"])()

    return Entry(item["name"], re.compile(item["pattern"], item["flags"]), "built-in", load,
                 tuple(item["streams"]))


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


def _entry_points(plugins: list[dict[str, Any]]) -> list[Entry]:
    return [Entry(item["name"], item["pattern"], f"package {item['dist']}",
                  lambda item=item: _load_plugin(item), tuple(item.get("streams", ())))
            for item in plugins]


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


def _builtin_files() -> list[list]:
    """The source files of the built-in ingestors, as the cache's signature notes them: an
    edited class (an editable install, an upgrade) is read again."""
    here = os.path.dirname(os.path.abspath(__file__))
    signature = []
    for module, _ in BUILTINS:
        path = os.path.join(here, *module.split(".")[2:]) + ".py"
        try:
            stat = os.stat(path)
        except OSError:
            continue
        signature.append([path, stat.st_mtime_ns, stat.st_size])
    return signature


def _installed(cache_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """The built-in ingestors and the installed plugins with their patterns, read from their
    classes, or from the cache when nothing changed."""
    signature = _path_signature() + _builtin_files()
    cache = os.path.join(cache_dir, "entry-points.json") if cache_dir else None
    if cache:
        stored = read_json(cache)  # derived: damaged, it is made again
        if (isinstance(stored, dict) and stored.get("signature") == signature
                and _sound_builtins(stored.get("builtins"))
                and _sound_plugins(stored.get("plugins"))):
            return {"builtins": stored["builtins"], "plugins": stored["plugins"]}
    installed = {"builtins": _scan_builtins(), "plugins": _scan_plugins()}
    if cache:
        from provgraph.gitio import write_file_atomic

        with contextlib.suppress(OSError):
            write_file_atomic(cache, json.dumps({"signature": signature, **installed})
                              .encode(), durable=False)
    return installed


def _scan_builtins() -> list[dict[str, Any]]:
    """Name, pattern and streams of each built-in ingestor, from its class."""
    found = []
    for module, cls in BUILTINS:
        try:
            ingestor = getattr(importlib.import_module(module), cls)
        except Exception as exc:  # a broken install costs that ingestor, not the capture
            warn(f"cannot load ingestor {cls} (built-in): {exc}")
            continue
        found.append({"module": module, "class": cls, "name": ingestor.name,
                      "pattern": ingestor.pattern.pattern, "flags": ingestor.pattern.flags,
                      "streams": list(ingestor.streams)})
    return found


def _sound_builtins(builtins: Any) -> bool:
    """Whether the cached built-ins are this version's, in `_scan_builtins`' shape."""
    if not list_of(builtins, dict):
        return False
    if [(b.get("module"), b.get("class")) for b in builtins] != list(BUILTINS):
        return False
    return all(isinstance(b.get("name"), str) and isinstance(b.get("pattern"), str)
               and type(b.get("flags")) is int and list_of(b.get("streams"), str)
               and _compiles(b["pattern"], b["flags"]) for b in builtins)


def _sound_plugins(plugins: Any) -> bool:
    """Whether the cached plugin list has the shape `_scan_plugins` writes."""
    return list_of(plugins, dict) and all(
        all(isinstance(p.get(k), str) for k in ("name", "value", "pattern", "dist"))
        and list_of(p.get("streams", []), str) and _compiles(p["pattern"]) for p in plugins)


def _compiles(pattern: str, flags: int = 0) -> bool:
    try:
        re.compile(pattern, flags)
    except (re.error, ValueError):  # ValueError: flags that do not go with a text pattern
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
