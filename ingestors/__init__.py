"""Ingestors: what provgraph learns about a command beyond the files it touched.

An ingestor has a `name` (the namespace of its properties: `caffe.base_lr`), a `pattern` (a
regex searched in the command line), optionally `streams` (`"stdout"`, `"stderr"`: provgraph
tees them into a file while the command runs, the terminal seeing exactly what it would without
provgraph) and hooks, each returning a *fragment* (a plain dict) or None:

- `before(context)` runs before the command: what its arguments say (a solver file's
  hyper-parameters, the files it will read), and `env` for the command;
- `during(context, stream, data)` sees the teed streams as they come (optional);
- `after(context)` runs after it: what its output says (loss curves, snapshots written).

A fragment may hold:

    {"activity": {key: value, ...},        # properties of the activity (nested dicts: dotted keys)
     "inputs": [word, ...],                # words naming files the command reads (relative to cwd)
     "outputs": [word, ...],               # words naming files it writes (never "used")
     "used": [path or {"path", "oid", "role"}, ...],  # files it read (repository paths)
     "entities": {path: {key: value}},     # properties of the versions of files it generated
     "env": {NAME: value},                 # (before only) environment of the command
     "params": {key: value}}               # parameters: activity properties `params.<key>`

Keys of every ingestor but the default POSIX one are namespaced with its name; `params` keys
are not: they join the one namespace of a run's parameters, whoever found them (a config
file's values are `params.<file>.<key>`, see provgraph.capture.params; Python's Hydra-style
overrides `params.overrides.<key>`). Ingestors come from provgraph itself, from
`[[ingestor]]` entries of the project's `.prov.toml` (a regex and a `module:function`, or any
executable reading the context as JSON on stdin and writing the fragment as JSON on stdout)
and from installed packages (entry-point group `provgraph.ingestors`). A failing, slow or
malformed ingestor costs one warning line: the record is never lost.
"""

from __future__ import annotations

import re
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

HOOKS = ("before", "after")
FRAGMENT_KEYS = frozenset({"activity", "inputs", "outputs", "used", "entities", "env",
                           "params"})


class Ingestor:
    """A base for ingestors: set `name` and `pattern`, override the hooks you need."""

    name = "ingestor"
    pattern: re.Pattern[str] = re.compile(r"(?!)")  # matches nothing
    streams: tuple[str, ...] = ()
    timeout = 10.0  # seconds a hook may take
    source = "built-in"

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def during(self, context: dict[str, Any], stream: str, data: bytes) -> None:
        return None

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return None


def warn(message: str) -> None:
    print(f"prov: warning: {message}", file=sys.stderr)


def call(ingestor: Ingestor, hook: str, context: dict[str, Any]) -> dict[str, Any] | None:
    """Run one hook within the ingestor's time limit; a bad answer is a warning, not an error.

    In-process hooks run in a thread: one that overstays its limit is abandoned (its answer
    ignored) and the capture goes on.
    """
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(getattr(ingestor, hook)(context))
        except BaseException as exc:  # an ingestor's bug must not cost the user their record
            result.append(exc)

    worker = threading.Thread(target=target, daemon=True, name=f"ingestor-{ingestor.name}")
    worker.start()
    worker.join(ingestor.timeout)
    if worker.is_alive():
        warn(f"ingestor {ingestor.name} took longer than {ingestor.timeout:g} s in {hook}; "
             "ignored")
        return None
    answer = result[0] if result else None
    if isinstance(answer, BaseException):
        warn(f"ingestor {ingestor.name} failed in {hook}: {_one_line(answer)}")
        return None
    return clean(answer, ingestor.name, hook)


def clean(fragment: Any, name: str, hook: str) -> dict[str, Any] | None:
    """Check a fragment's shape; what is malformed is dropped with a warning."""
    if fragment is None:
        return None
    if not isinstance(fragment, dict):
        warn(f"ingestor {name} returned {type(fragment).__name__} from {hook}, not a fragment")
        return None
    unknown = sorted(set(fragment) - FRAGMENT_KEYS)
    if unknown:
        warn(f"ingestor {name} returned unknown keys {', '.join(unknown)} from {hook}; ignored")
    out: dict[str, Any] = {}
    checks = {
        "activity": lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v),
        "params": lambda v: isinstance(v, dict) and all(isinstance(k, str) and k for k in v),
        "inputs": _strings,
        "outputs": _strings,
        "used": lambda v: isinstance(v, list) and all(
            isinstance(u, str) or (isinstance(u, dict) and isinstance(u.get("path"), str))
            for u in v),
        "entities": lambda v: isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(p, dict) for k, p in v.items()),
        "env": lambda v: isinstance(v, dict) and all(
            isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
    }
    for key, check in checks.items():
        if key not in fragment:
            continue
        if check(fragment[key]):
            out[key] = fragment[key]
        else:
            warn(f"ingestor {name} returned a malformed {key!r} from {hook}; ignored")
    return out


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def namespaced(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """`{"base_lr": 0.01}` from the caffe ingestor is `caffe.base_lr` (POSIX keys stay bare)."""
    if name == "posix":
        return dict(properties)
    return {f"{name}.{key}": value for key, value in properties.items()}
