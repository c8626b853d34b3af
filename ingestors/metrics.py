"""Metrics without code: a `[[metrics]]` table of `.prov.toml` turns the progress any tool
prints into series, like the Caffe ones.

    [[metrics]]
    match = 'train\\.py'                  # regex searched in the command line
    source = "stdout"                     # stdout, stderr (default: both), or a file the
                                          # command writes, relative to its folder
    step = 'epoch (\\d+)'                 # optional: the iteration of the values that follow
    loss = 'loss=([0-9.eE+-]+)'           # every other key: a metric and its regex
    accuracy = 'acc(?:uracy)?[:=] *([0-9.]+)'

Each metric `m` becomes the series group `metrics.m`: `metrics.m.iteration` (the last `step`
seen, else 0, 1, 2, ... in order of appearance) and `metrics.m.value`. A regex's first group
(or its group named `value`) is the value. With both streams, stdout is read first, then
stderr (their interleaving is not kept).
"""

from __future__ import annotations

import os
import re

from provgraph.ingestors import Ingestor, warn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RESERVED = frozenset({"match", "source", "step"})


class MetricsIngestor(Ingestor):
    name = "metrics"
    source = ".prov.toml"

    def __init__(self, table: dict[str, Any]):
        self.pattern = re.compile(str(table["match"]))
        self.where = str(table.get("source", "both"))
        self.streams = {"both": ("stdout", "stderr"), "stdout": ("stdout",),
                        "stderr": ("stderr",)}.get(self.where, ())
        self.step = _compile(table.get("step"), "step")
        self.metrics = {name: regex for name, text in table.items() if name not in RESERVED
                        if (regex := _compile(text, name)) is not None}

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        lines = list(self._lines(context))
        series: dict[str, dict[str, list]] = {}
        step: float | None = None
        counts: dict[str, int] = {}
        for line in lines:
            if self.step is not None and (found := self.step.search(line)):
                step = _number(found)
            for name, regex in self.metrics.items():
                for match in regex.finditer(line):
                    value = _number(match)
                    if value is None:
                        continue
                    group = series.setdefault(name, {"iteration": [], "value": []})
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    group["iteration"].append(step if step is not None else index)
                    group["value"].append(value)
        for group in series.values():  # one type per list (Neo4j keeps no mixed lists)
            if any(isinstance(i, float) for i in group["iteration"]):
                group["iteration"] = [float(i) for i in group["iteration"]]
        return {"activity": series} if series else None

    def _lines(self, context: dict[str, Any]):
        if self.where in ("both", "stdout", "stderr"):
            paths = [context.get("streams", {}).get(s) for s in self.streams]
        else:
            paths = [os.path.join(context["cwd"], self.where)]
        for path in paths:
            if not path:
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    yield from handle
            except FileNotFoundError:
                continue


def _compile(text: Any, name: str) -> re.Pattern[str] | None:
    if text is None:
        return None
    try:
        return re.compile(str(text))
    except re.error as exc:
        warn(f"[[metrics]] {name}: bad regex {text!r} ({exc}); ignored")
        return None


def _number(match: re.Match[str]) -> float | None:
    text = match.groupdict().get("value") or (match.group(1) if match.re.groups else match[0])
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value
