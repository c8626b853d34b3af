"""`prov diff`: what differs between two runs.

- the command line, and whether it ran under the shell (`shell`: how it was run, not a
  parameter of the run);
- parameters: every other property of the two activities that differs (`caffe.base_lr`,
  `options`, `operands`, `exit_code`, ...), except `id`, `name`, `project`, `started`,
  `ended`, `command` and `shell` (compared on their own) and the series (`P.iteration` and
  the lists measured against it, compared as metrics). NaN equals NaN; a property one run
  lacks is None on that side;
- input files: the versions each run used, matched by path: the same content (equal
  digests), different content (with a unified diff of small text files when `read_blob` can
  read both), used by one run only;
- output files: the versions each run generated, matched by path in the same way (no text
  diff);
- metrics: the summary of every series both runs have, side by side (`final`, `best`), and
  the names of the series only one of them has.

The store is read through its reading interface only and file contents come from
`read_blob(digest) -> bytes | None`, given by the caller (the CLI reads git blobs), so this
works on any store.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provgraph.model import USED, WAS_GENERATED_BY, Node, json_safe
from provgraph.queries.metrics import ITERATION, series, summary
from provgraph.queries.runs import run_summary
from provgraph.stores.base import Store

#: Properties that differ between any two runs, or are compared elsewhere.
IGNORED = frozenset({"id", "name", "project", "started", "ended", "command", "shell"})

#: Text diffs are made for files up to this size, whose digests are git blob ids (SHA-1 or
#: SHA-256 repositories; large files are `sha256:…` and never in git) and that decode as UTF-8.
MAX_TEXT_SIZE = 64 * 1024
_BLOB_ID = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")

SAME, CHANGED, ONLY_A, ONLY_B = "same", "changed", "only-a", "only-b"

ReadBlob = Callable[[str], bytes | None]


@dataclass
class ParameterChange:
    name: str
    a: Any  # None when run A has no such property
    b: Any


@dataclass
class FileChange:
    path: str
    status: str  # same, changed, only-a, only-b
    a: Node | None  # the version run A used (or generated)
    b: Node | None
    diff: list[str] | None = None  # unified diff lines (changed small text inputs)
    missing: list[str] | None = None  # versions whose bytes this clone lacks (no text diff)

    def to_dict(self, diff_lines: int | None = None) -> dict[str, Any]:
        """As `prov diff --json` prints it: at most `diff_lines` lines of the text diff (its
        ---/+++ header not counted; all when None), and how many were left out."""
        lines, left_out = cut(self.diff, diff_lines)
        out = {"path": self.path, "status": self.status, "a": _version(self.a),
               "b": _version(self.b), "diff": lines}
        if self.missing:
            out["missing"] = self.missing
        if left_out:
            out["diff_lines_omitted"] = left_out
        return out


@dataclass
class MetricChange:
    name: str
    a: dict[str, Any]  # queries.metrics.summary of run A's series
    b: dict[str, Any]

    def change(self, key: str) -> float | None:
        """B's value minus A's (`final`, `best`), None when either has none."""
        x, y = self.a.get(key), self.b.get(key)
        return None if x is None or y is None else y - x


@dataclass
class RunDiff:
    a: Node
    b: Node
    parameters: list[ParameterChange]
    inputs: list[FileChange]
    outputs: list[FileChange]
    metrics: list[MetricChange]
    metrics_only_a: list[str]
    metrics_only_b: list[str]

    @property
    def same_command(self) -> bool:
        return self.a.properties.get("command") == self.b.properties.get("command")

    @property
    def same_shell(self) -> bool:
        """Whether both ran the same way: under the shell (one string of shell syntax) or
        directly (the words as given)."""
        return bool(self.a.properties.get("shell")) == bool(self.b.properties.get("shell"))

    def to_dict(self, diff_lines: int | None = None) -> dict[str, Any]:
        """What `prov diff --json` prints (NaN as None)."""
        a, b = self.a.properties, self.b.properties
        return json_safe({
            "a": run_summary(self.a),
            "b": run_summary(self.b),
            "command": {"same": self.same_command, "a": a.get("command"), "b": b.get("command"),
                        "shell": {"a": bool(a.get("shell")), "b": bool(b.get("shell"))}},
            "parameters": [{"name": p.name, "a": p.a, "b": p.b} for p in self.parameters],
            "inputs": [c.to_dict(diff_lines) for c in self.inputs],
            "outputs": [c.to_dict(diff_lines) for c in self.outputs],
            "metrics": [{"name": m.name, "a": m.a, "b": m.b, "final_change": m.change("final"),
                         "best_change": m.change("best")} for m in self.metrics],
            "metrics_only_a": self.metrics_only_a,
            "metrics_only_b": self.metrics_only_b,
        })


def cut(lines: list[str] | None, limit: int | None) -> tuple[list[str] | None, int]:
    """At most `limit` lines of a text diff (its ---/+++ header not counted), and how many
    were left out."""
    if lines is None or limit is None:
        return lines, 0
    header = 2 if len(lines) >= 2 and lines[0].startswith("---") else 0
    body = lines[header:]
    if len(body) <= limit:
        return lines, 0
    return (lines[:header + limit] if limit else []), len(body) - limit


def _version(entity: Node | None) -> dict[str, Any] | None:
    if entity is None:
        return None
    props = entity.properties
    return {"id": entity.id, "name": entity.name, "version": props.get("version"),
            "digest": props.get("digest"), "size": props.get("size")}


def diff(store: Store, a: Node, b: Node, read_blob: ReadBlob | None = None) -> RunDiff:
    """Compare run `a` with run `b` (three batched queries for the files, whatever their number)."""
    used = store.edges([a.id, b.id], "out", [USED])
    made = store.edges([a.id, b.id], "in", [WAS_GENERATED_BY])
    files = store.nodes([e.target for e in used] + [e.source for e in made])
    inputs = {run: _by_path(files[e.target] for e in used if e.source == run and e.target in files)
              for run in (a.id, b.id)}
    outputs = {run: _by_path(files[e.source] for e in made if e.target == run and e.source in files)
               for run in (a.id, b.id)}
    series_a, series_b = series(a), series(b)
    both = sorted(series_a.keys() & series_b.keys())
    return RunDiff(
        a=a,
        b=b,
        parameters=_parameters(a, b, _series_keys(series_a) | _series_keys(series_b)),
        inputs=_files(inputs[a.id], inputs[b.id], read_blob),
        outputs=_files(outputs[a.id], outputs[b.id], None),
        metrics=[MetricChange(n, summary(series_a[n]), summary(series_b[n])) for n in both],
        metrics_only_a=sorted(series_a.keys() - series_b.keys()),
        metrics_only_b=sorted(series_b.keys() - series_a.keys()),
    )


def _series_keys(found) -> set[str]:
    return {key for s in found.values() for key in (s.name, f"{s.group}.{ITERATION}")}


def _parameters(a: Node, b: Node, skip: set[str]) -> list[ParameterChange]:
    keys = sorted((a.properties.keys() | b.properties.keys()) - IGNORED - skip)
    return [ParameterChange(key, a.properties.get(key), b.properties.get(key)) for key in keys
            if not _same(a.properties.get(key), b.properties.get(key))]


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y, strict=True))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return isinstance(x, bool) == isinstance(y, bool) and x == y


def _by_path(entities) -> dict[str, Node]:
    """Versions by path (the latest when a run touched several versions of one path)."""
    found: dict[str, Node] = {}
    for entity in sorted(entities, key=lambda e: e.properties.get("version") or 0):
        found[entity.properties.get("path", entity.name)] = entity
    return found


def _files(a: dict[str, Node], b: dict[str, Node], read_blob: ReadBlob | None
           ) -> list[FileChange]:
    changes = []
    for path in sorted(a.keys() | b.keys()):
        x, y = a.get(path), b.get(path)
        if x is None or y is None:
            changes.append(FileChange(path, ONLY_B if x is None else ONLY_A, x, y))
        elif x.id == y.id or x.properties.get("digest") == y.properties.get("digest"):
            changes.append(FileChange(path, SAME, x, y))
        else:
            absent: list[str] = []
            text = _text_diff(x, y, read_blob, absent) if read_blob is not None else None
            changes.append(FileChange(path, CHANGED, x, y, text, absent or None))
    return changes


def _text_diff(x: Node, y: Node, read_blob: ReadBlob, absent: list[str]) -> list[str] | None:
    """The unified diff of two small text versions, or None when either is not one, or when
    this clone lacks the bytes of either (named in `absent`: dropped by `prov gc`, or pulled
    without content)."""
    texts = []
    for entity in (x, y):
        digest, size = entity.properties.get("digest"), entity.properties.get("size")
        if not isinstance(digest, str) or not _BLOB_ID.match(digest):
            return None
        if isinstance(size, int) and size > MAX_TEXT_SIZE:
            return None
        blob = read_blob(digest)
        if blob is None:
            absent.append(entity.name)
            continue
        if len(blob) > MAX_TEXT_SIZE or b"\0" in blob:
            return None
        try:
            texts.append(blob.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    if absent:
        return None
    lines = list(difflib.unified_diff(texts[0].splitlines(), texts[1].splitlines(),
                                      fromfile=x.name, tofile=y.name, lineterm=""))
    return lines or None
