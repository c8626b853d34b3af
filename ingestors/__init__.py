"""Ingestors: what provgraph learns about a command beyond the files it touched.

An ingestor has a `name`, a `pattern` (a regex searched in the command line) and hooks:
`before(context)` runs before the command, `after(context)` after it. Each hook returns a
fragment, a plain dict, or None:

    {"activity": {property: value, ...},     # merged into the activity's properties
     "inputs": [word, ...],                  # words that may name files the command reads
     "outputs": [word, ...]}                 # words naming files it writes (never "used")

Property names of an ingestor other than the default POSIX one are namespaced with its name
(`caffe.base_lr`). A failing ingestor costs a one-line warning, never the record.
"""

from __future__ import annotations

import sys

from provgraph.ingestors.posix import PosixIngestor

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any


class Ingestor:
    """A base for ingestors: override the hooks you need (each returns a fragment or None)."""

    name = "ingestor"

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return None

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return None


def builtins() -> list[Any]:
    return [PosixIngestor()]


def matching(command: str) -> list[Any]:
    """The ingestors whose pattern matches the command line, in registry order."""
    return [ingestor for ingestor in builtins() if ingestor.pattern.search(command)]


def _call(ingestor: Any, hook: str, context: dict[str, Any]) -> dict[str, Any] | None:
    try:
        fragment = getattr(ingestor, hook)(context)
    except Exception as exc:  # an ingestor's bug must not cost the user their record
        print(f"prov: warning: ingestor {ingestor.name} failed in {hook}: {exc}", file=sys.stderr)
        return None
    if fragment is not None and not isinstance(fragment, dict):
        print(f"prov: warning: ingestor {ingestor.name} returned {type(fragment).__name__} "
              f"from {hook}, not a fragment; ignored", file=sys.stderr)
        return None
    return fragment


def before(context: dict[str, Any]) -> list[dict[str, Any]]:
    command = " ".join(context["argv"])
    return [f for i in matching(command) if (f := _call(i, "before", context)) is not None]


def after(context: dict[str, Any]) -> list[dict[str, Any]]:
    command = " ".join(context["argv"])
    return [f for i in matching(command) if (f := _call(i, "after", context)) is not None]
