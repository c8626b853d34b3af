"""`prov metrics` and `prov plot`: the series an activity recorded, and what they add up to.

Series live on activities as flat list properties, by this convention:

- a *series group* is a prefix P with a list property `P.iteration` (numbers);
- every other list of numbers `P.<name>` of the same length is a *series* against it:
  `values[i]` was measured at `iterations[i]`. Values are floats; NaN (or null) means
  missing. `<name>` may hold dots (`caffe.train.output.loss`); when groups nest, a property
  belongs to the longest group it is under (`metrics.loss.value` to `metrics.loss`, not to a
  group `metrics`).

For example a Caffe log gives the groups `caffe.train` (`caffe.train.loss`,
`caffe.train.lr` against `caffe.train.iteration`), `caffe.test` (`caffe.test.accuracy`) and
`caffe.test1` (a second test net); metrics read from a log by regexes give a group per metric
(`metrics.loss.iteration` and `metrics.loss.value`). A series is named by its full property
name. A list that is not numbers, or whose length differs from its group's, is no series.
Everything under a group follows the convention, bookkeeping included: Caffe's `train.run`
(the index of the run a row belongs to, after a restart) is listed like the rest.

What a series adds up to (`summary`):

- `count` is every point, `missing` the points with no value (NaN value or iteration);
  missing points are ignored for everything else: `first`, `final` (the last value that is
  there), `best`, `min`, `max`.
- `best` is the minimum when lower is better and the maximum otherwise, at the first
  iteration it was reached. Lower is better when a word of the series' own name (`<name>`)
  or of its group's last segment (so `metrics.loss.value` counts as a loss) is one of
  `LOWER_IS_BETTER` or ends with `loss` or `error` (words are split at anything not a letter
  or a digit: `val_loss`, `top-1-error`, `output.loss`). So `caffe.train.loss`,
  `caffe.train.lr` (the best learning rate is merely its lowest) and `metrics.rmse.value` are
  minimized, `caffe.test.accuracy` maximized.

`prov plot` names series by a full property name or by a unique suffix of whole segments
(`test.accuracy`, `accuracy`); a `P.value` series also answers to its group P or a suffix of
it (`loss` or `metrics.loss` for `metrics.loss.value`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from provgraph.errors import NotFound, ProvError
from provgraph.model import Node, json_safe
from provgraph.queries.runs import run_summary

ITERATION = "iteration"

#: Words of a series name that make lower values better (see the module's docstring).
LOWER_IS_BETTER = frozenset({
    "loss", "error", "errors", "err", "mse", "mae", "rmse", "mape", "nll", "perplexity", "ppl",
    "cost", "wer", "cer", "lr", "latency", "time", "seconds", "regret",
})

_WORD = re.compile(r"[^0-9A-Za-z]+")


@dataclass
class Series:
    name: str  # the full property name: caffe.test.accuracy
    group: str  # its series group P: caffe.test
    iterations: list[float]
    values: list[float]  # NaN where missing

    @property
    def goal(self) -> str:
        """`min` when lower values are better, `max` otherwise."""
        return goal(self.name, self.group)

    def to_dict(self) -> dict[str, Any]:
        """The series and its summary (NaN as None), as `prov metrics --json` prints it."""
        return json_safe({"group": self.group, "goal": self.goal, "iterations": self.iterations,
                          "values": self.values, "summary": summary(self)})


@dataclass
class RunMetrics:
    """Every series of one run: what `prov metrics RUN` shows."""

    run: Node
    series: dict[str, Series]

    def to_dict(self) -> dict[str, Any]:
        return {"run": run_summary(self.run),
                "series": {name: s.to_dict() for name, s in self.series.items()}}


def metrics(run: Node) -> RunMetrics:
    """The series of a run (found with `queries.runs.find_run`)."""
    return RunMetrics(run, series(run))


@dataclass
class Curve:
    """One series of one run, ready to draw: only the points that have a value."""

    run: Node
    metric: str
    iterations: list[float]
    values: list[float]

    @property
    def label(self) -> str:
        return f"{self.run.name}: {self.metric}"


#: Lists in a group that index its rows rather than measure anything (`caffe.train.run`).
BOOKKEEPING = frozenset({"run"})


def series(activity: Node) -> dict[str, Series]:
    """Every series of every group of the activity, by full property name, sorted."""
    props = activity.properties
    suffix = "." + ITERATION
    groups = {}
    for key, raw in props.items():
        if key.endswith(suffix) and key != suffix:
            iterations = _numbers(raw)
            if iterations is not None:
                groups[key[: -len(suffix)]] = iterations
    found: dict[str, Series] = {}
    for name, raw in props.items():
        if name.endswith(suffix) and name[: -len(suffix)] in groups:
            continue
        if name.rpartition(".")[2] in BOOKKEEPING:
            continue
        group = _group_of(name, groups)
        if group is None:
            continue
        values = _numbers(raw)
        if values is not None and len(values) == len(groups[group]):
            found[name] = Series(name, group, list(groups[group]), values)
    return dict(sorted(found.items()))


def _group_of(name: str, groups) -> str | None:
    """The longest group `name` is under."""
    prefix = name
    while "." in prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix in groups:
            return prefix
    return None


def goal(name: str, group: str | None = None) -> str:
    """`min` when lower values of the series `name` are better, else `max`."""
    if group is None:
        group = name.rpartition(".")[0]
    own = name[len(group) + 1:] if name.startswith(group + ".") else name.rpartition(".")[2]
    words = _WORD.split(own.lower()) + _WORD.split(group.rpartition(".")[2].lower())
    lower = any(w in LOWER_IS_BETTER or w.endswith(("loss", "error")) for w in words if w)
    return "min" if lower else "max"


def summary(s: Series) -> dict[str, Any]:
    """count, missing, first, final (and its iteration), best (and its iteration), min, max.

    Values are None when the series has no value at all."""
    points = [(i, v) for i, v in zip(s.iterations, s.values, strict=True)
              if not (math.isnan(i) or math.isnan(v))]
    out: dict[str, Any] = {"count": len(s.values), "missing": len(s.values) - len(points),
                           "goal": s.goal, "first": None, "first_iteration": None,
                           "final": None, "final_iteration": None, "best": None,
                           "best_iteration": None, "min": None, "max": None}
    if not points:
        return out
    values = [v for _, v in points]
    pick = min if s.goal == "min" else max
    best_iteration, best = pick(points, key=lambda p: p[1])  # the first one reaching it
    out.update(first_iteration=points[0][0], first=points[0][1], final_iteration=points[-1][0],
               final=points[-1][1], best=best, best_iteration=best_iteration,
               min=min(values), max=max(values))
    return out


def resolve(name: str, available: Iterable[str]) -> str:
    """The series a user's NAME means among `available`: the full name, or the one series it
    is a suffix of (whole segments), or a `P.value` series named by its group P (or a suffix
    of P). A one-line error when none or several match."""
    available = sorted(set(available))
    if name in available:
        return name
    tail = "." + name
    candidates = [s for s in available if s.endswith(tail) or (
        s.endswith(".value") and (s[:-6] == name or s[:-6].endswith(tail)))]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ProvError(f"metric {name} is ambiguous: {', '.join(candidates)} "
                        "(give more of the name)")
    if not available:
        raise NotFound(f"no series {name}: the runs have no series")
    raise NotFound(f"no series {name}: the runs have {', '.join(available)}")


def curves(runs: list[Node], metrics: list[str]
           ) -> tuple[list[Curve], list[tuple[Node, str, str]]]:
    """Every named series of every run, as curves (runs in order, then metrics in order).

    Metrics are resolved against the series of all the runs together (`resolve`). Returns the
    curves and what was skipped: (run, metric, reason) for a run that lacks a series or whose
    series has no value at all."""
    per_run = [(run, series(run)) for run in runs]
    available = {name for _, found in per_run for name in found}
    wanted = list(dict.fromkeys(resolve(m, available) for m in metrics))
    drawn: list[Curve] = []
    skipped: list[tuple[Node, str, str]] = []
    for run, found in per_run:
        for metric in wanted:
            s = found.get(metric)
            if s is None:
                skipped.append((run, metric, "has no series"))
                continue
            points = [(i, v) for i, v in zip(s.iterations, s.values, strict=True)
                      if not (math.isnan(i) or math.isnan(v))]
            if not points:
                skipped.append((run, metric, "has no value in the series"))
                continue
            drawn.append(Curve(run, metric, [p[0] for p in points], [p[1] for p in points]))
    return drawn, skipped


def _numbers(raw: Any) -> list[float] | None:
    """A property as a list of floats (None and NaN as NaN), or None when it is not one.

    A list mixing numbers and nulls is stored as its JSON text (see model.flatten): read it."""
    if isinstance(raw, str) and raw.startswith("["):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, (list, tuple)):
        return None
    out = []
    for item in raw:
        if item is None:
            out.append(math.nan)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(float(item))
        else:
            return None
    return out
