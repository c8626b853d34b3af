"""`prov runs`: one row per run, to compare runs by their parameters and metrics.

Which properties are parameters: those of the families

- `params.*` (values of the configuration files a run read, and Hydra-style overrides),
- `python.args.*` (a Python script's command-line options),
- `caffe.*` hyper-parameters: the solver's settings (`caffe.base_lr`, `caffe.lr_policy`,
  `caffe.solver`, ...), not the series (`caffe.test.accuracy`, ...) nor what the log says of
  how the run went (`CAFFE_OUTCOMES`: `caffe.final_iteration`, `caffe.stopped_early`, ...),

scalars or lists of scalars. The table shows the parameters whose values differ between the rows
(a missing value counts as a value), less a `params.*` column that repeats, row for row, another
parameter of the same last name (`params.solver.prototxt.base_lr` beside the Caffe ingestor's
`caffe.base_lr`); a table of one row shows them all, as `all_columns` does.

Metrics: every series of the runs (queries.metrics: `P.NAME` lists against `P.iteration`), each
as two columns, `SERIES:final` (the last value recorded) and `SERIES:best` (the best value:
the minimum for loss-like series, the maximum otherwise, by queries.metrics.goal; `best_max` /
`best_min` name series to rank the other way). Then `tags`.

Rows come newest first (as `prov log`), unless sorted by a column: `sort="caffe.base_lr"`,
`sort="-caffe.test.accuracy:best"` (descending); a series may be named by a unique suffix
(`accuracy:best`); rows without a value come last either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import NotFound
from provgraph.model import Node, json_safe
from provgraph.queries.filters import Filters, select
from provgraph.queries.metrics import Series, goal, resolve, series

PARAMETER_FAMILIES = ("params.", "python.args.", "caffe.")

#: Caffe properties that say how a run went, not how it was set up.
CAFFE_OUTCOMES = frozenset({
    "caffe.final_iteration", "caffe.nan", "caffe.optimization_done", "caffe.run_end",
    "caffe.runs", "caffe.stopped_early",
})

#: Columns every table has, before the parameters.
FIXED = ("run", "status")


@dataclass
class RunRow:
    """One run: its parameters, the final and best value of each series, its tags."""

    run: Node
    parameters: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    tags: list[str]

    def value(self, column: str) -> Any:
        """The value of a table column in this row (None when it has none)."""
        if column == "run":
            return self.run.name
        if column in ("status", "command", "started", "id"):
            return self.run.id if column == "id" else self.run.properties.get(column)
        if column == "tags":
            return ", ".join(self.tags) or None
        name, _, which = column.rpartition(":")
        if which in ("final", "best") and name in self.metrics:
            return self.metrics[name][which]
        return self.parameters.get(column)

    def to_dict(self) -> dict[str, Any]:
        props = self.run.properties
        return json_safe({"id": self.run.id, "name": self.run.name,
                          "command": props.get("command"), "started": props.get("started"),
                          "status": props.get("status"), "parameters": self.parameters,
                          "metrics": self.metrics, "tags": self.tags})


@dataclass
class RunTable:
    """The rows and the columns shown: what `prov runs` prints, and its `--json`."""

    rows: list[RunRow]
    parameters: list[str]  # the parameter columns shown
    series: list[str]  # every series of the runs; each is two columns
    goals: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return [*FIXED, *self.parameters,
                *(f"{s}:{which}" for s in self.series for which in ("final", "best")),
                "tags"]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "goals": self.goals,
                "runs": [row.to_dict() for row in self.rows]}


#: A list longer than this is a record of the run (a series, its bookkeeping), not a setting.
LONGEST_PARAMETER_LIST = 16


def is_parameter(key: str, value: Any, groups: set[str]) -> bool:
    """Whether the property `key` is a parameter (see the module's docstring); `groups`: the
    run's series groups, whose members (series and bookkeeping) are not."""
    if not key.startswith(PARAMETER_FAMILIES) or key in CAFFE_OUTCOMES:
        return False
    prefix = key
    while "." in prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix in groups:
            return False
    if isinstance(value, list):
        return len(value) <= LONGEST_PARAMETER_LIST and all(
            not isinstance(v, (list, dict)) for v in value)
    return not isinstance(value, dict)


def short_names(names: list[str]) -> dict[str, str]:
    """Each dotted name as its shortest suffix of whole segments no other name ends with
    (`caffe.test.accuracy` -> `accuracy`; `caffe.test.loss`, `caffe.train.loss` -> `test.loss`,
    `train.loss`): headers that fit a terminal."""
    out = {}
    for name in names:
        parts = name.split(".")
        for n in range(1, len(parts) + 1):
            tail = ".".join(parts[-n:])
            if not any(o != name and (o == tail or o.endswith("." + tail)) for o in names):
                out[name] = tail
                break
        else:
            out[name] = name
    return out


def runs(store: Any, filters: Filters | None = None, *, all_columns: bool = False,
         sort: str | None = None, best_max: tuple[str, ...] = (),
         best_min: tuple[str, ...] = (), limit: int | None = None) -> RunTable:
    """The runs the filters keep, as a table (see the module's docstring)."""
    nodes = select(store, filters, limit)
    found = [(run, series(run)) for run in nodes]
    available = sorted({name for _, s in found for name in s})
    goals = {name: goal(name, s[name].group) for _, s in found for name in s}
    for names, direction in ((best_max, "max"), (best_min, "min")):
        for name in names:
            goals[resolve(name, available)] = direction
    rows = [_row(run, own, goals) for run, own in found]
    keys = sorted({k for row in rows for k in row.parameters})
    if all_columns or len(rows) <= 1:
        shown = keys
    else:
        shown = _echoes_dropped(
            [k for k in keys if len({_same(row.parameters.get(k)) for row in rows}) > 1], rows)
    table = RunTable(rows, shown, available, {s: goals[s] for s in available})
    if sort:
        _sort(table, sort)
    return table


def _echoes_dropped(keys: list[str], rows: list[RunRow]) -> list[str]:
    """Without a `params.*` column that only repeats another parameter of the same name in
    every row: `params.solver.prototxt.base_lr` is what the Caffe ingestor already says as
    `caffe.base_lr` (both stay in `--all-columns` and the JSON)."""
    kept: list[str] = []
    for key in keys:
        values = [_same(row.parameters.get(key)) for row in rows]
        if key.startswith("params.") and any(
                other.rsplit(".", 1)[-1] == key.rsplit(".", 1)[-1]
                and [_same(row.parameters.get(other)) for row in rows] == values
                for other in kept):
            continue
        kept.append(key)
    return kept


def _row(run: Node, own: dict[str, Series], goals: dict[str, str]) -> RunRow:
    props = run.properties
    groups = {s.group for s in own.values()} | {
        k[: -len(".iteration")] for k in props if k.endswith(".iteration")}
    parameters = {k: v for k, v in sorted(props.items()) if is_parameter(k, v, groups)}
    metrics = {name: _final_best(s, goals[name]) for name, s in own.items()}
    tags = props.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    return RunRow(run, parameters, metrics, sorted({str(t) for t in tags}))


def _final_best(s: Series, direction: str) -> dict[str, Any]:
    points = [(i, v) for i, v in zip(s.iterations, s.values, strict=True)
              if not (math.isnan(i) or math.isnan(v))]
    if not points:
        return {"final": None, "best": None, "best_iteration": None, "goal": direction}
    pick = min if direction == "min" else max
    at, best = pick(points, key=lambda p: p[1])
    return {"final": points[-1][1], "best": best, "best_iteration": at, "goal": direction}


def _same(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _sort(table: RunTable, sort: str) -> None:
    descending = sort.startswith("-")
    column = _column(table, sort[1:] if descending else sort)
    present = [r for r in table.rows if r.value(column) is not None]
    missing = [r for r in table.rows if r.value(column) is None]
    present.sort(key=lambda r: _order(r.value(column)), reverse=descending)
    table.rows = present + missing


def _column(table: RunTable, name: str) -> str:
    """The column `name` means: a column, any parameter of the rows, `id`, `command`,
    `started`, or `SERIES:final|best` with SERIES a unique suffix."""
    known = {*table.columns, "id", "command", "started",
             *(k for row in table.rows for k in row.parameters)}
    if name in known:
        return name
    series_name, _, which = name.rpartition(":")
    if which in ("final", "best") and series_name:
        return f"{resolve(series_name, table.series)}:{which}"
    raise NotFound(f"no column {name} to sort by: give one of {', '.join(table.columns)}")


def _order(value: Any) -> tuple[int, Any]:
    """Numbers before text, each in its own order (a column may mix them)."""
    if isinstance(value, bool):
        return (0, float(value))
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))
