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
stderr (their interleaving is not kept). A stream the command itself sent to a file
(`prov 'python -m src.evaluate > reports/eval.txt'`, `2>&1 | tee log`) is read from that file,
as the Caffe ingestor reads its log (ingestors.redirects): only what the command appended to
it with `>>` or `tee -a`.

Every regex is the project's, so it is bounded in time (`provgraph.patterns`): one that runs
away is dropped with one warning and the rest of the series is still kept. A `source` file
is read only inside the work tree (through symlinks, outside the git dir), unless
`prov trust` allowed this very table to read outside (`provgraph.trust`).
"""

from __future__ import annotations

import io
import os

from provgraph.ingestors import Ingestor, warn
from provgraph.ingestors.redirects import STREAM_FDS, absolute, created, size, stream_target
from provgraph.patterns import compile_user

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from typing import Any

    from provgraph.config import Config
    from provgraph.patterns import UserPattern

RESERVED = frozenset({"match", "source", "step"})


class MetricsIngestor(Ingestor):
    name = "metrics"
    source = ".prov.toml"

    def __init__(self, table: dict[str, Any], pattern: UserPattern | None = None,
                 config: Config | None = None, outside_ok: bool = False):
        """`pattern`: the registry's bounded `match`; `config` locates the work tree a
        `source` file must stay in, unless `outside_ok` (allowed by `prov trust`)."""
        where = "[[metrics]] match in .prov.toml"
        self.pattern = pattern or compile_user(table["match"], where)  # type: ignore
        self.config = config
        self.outside_ok = outside_ok
        self.where = str(table.get("source", "both"))
        self.streams = {"both": ("stdout", "stderr"), "stdout": ("stdout",),
                        "stderr": ("stderr",)}.get(self.where, ())
        self.step = _compile(table.get("step"), "step")
        self.metrics = {name: regex for name, text in table.items() if name not in RESERVED
                        if (regex := _compile(text, name)) is not None}
        # Size before the command of each file a stream is appended to (`>> log`): the
        # framework keeps one instance from the before hook to the after hook of a command.
        self.appended_from: dict[str, int] = {}

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        """Note how long the files the streams are appended to already are."""
        for stream in self.streams:
            target = stream_target(context, STREAM_FDS[stream])
            if target is not None and target[1]:
                path = absolute(target[0], context)
                self.appended_from[path] = size(path)
        return None

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
            sources = list(dict.fromkeys(self._stream_source(context, s) for s in self.streams))
        else:
            sources = [(self._file(os.path.join(context["cwd"], self.where)), 0)]
        for path, offset in sources:
            if not path:
                continue
            try:
                with open(path, "rb") as raw:
                    raw.seek(offset)
                    with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as text:
                        yield from text
            except FileNotFoundError:
                continue

    def _stream_source(self, context: dict[str, Any], stream: str) -> tuple[str | None, int]:
        """Where to read a stream, and from which byte: the file the command sent it to
        (from where it stood before, when appended to), else what provgraph teed."""
        target = stream_target(context, STREAM_FDS[stream])
        if target is not None:
            path = absolute(target[0], context)
            if os.path.isfile(path):
                appended = target[1] and not created(path, context)
                return path, self.appended_from.get(path, 0) if appended else 0
        return context.get("streams", {}).get(stream), 0

    def _file(self, path: str) -> str | None:
        """`path`, or None (and a warning) when it leads outside the work tree untrusted: a
        symlink the command made, or a relative path climbing out of a subfolder."""
        if self.outside_ok or self.config is None:
            return path
        from provgraph.text import printable
        from provgraph.trust import outside

        resolved = outside(self.config, path)
        if resolved is None:
            return path
        warn(printable(f"[[metrics]] source {self.where} leads outside the repository "
                       f"({resolved}): not read until you review it with `prov trust "
                       "--show` and allow it with `prov trust`"))
        return None


def _compile(text: Any, name: str) -> UserPattern | None:
    if text is None:
        return None
    return compile_user(text, f"[[metrics]] {name} in .prov.toml")


def _number(match: re.Match[str]) -> float | None:
    text = match.groupdict().get("value") or (match.group(1) if match.re.groups else match[0])
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value
