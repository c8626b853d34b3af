"""`prov metrics`: the series a run recorded (loss, accuracy, ...), summed up in a table."""

from __future__ import annotations

import math
from typing import Any

import click
from rich.table import Table

from provgraph.cli.common import console, json_out, opened_index, safe


def number(value: float | None) -> str:
    """A value as a person reads it: 6 significant digits, `–` for none."""
    if value is None:
        return "–"
    return f"{value:.6g}"


def plain(value: Any) -> Any:
    """JSON has no NaN: missing values become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def run_json(run) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "command": run.properties.get("command")}


@click.command("metrics")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the series and summaries as JSON.")
def command(run: str, as_json: bool) -> None:
    """The metric series of RUN (loss, accuracy, ...), one row per series: points, first,
    final and best value (and where it was reached), min and max.

    RUN is an activity id, its name ('caffe train #14'), #14, latest or latest~N.
    """
    from provgraph.queries.metrics import series, summary
    from provgraph.queries.runs import find_run

    with opened_index() as (_repo, store):
        activity = find_run(store, run)
    found = series(activity)
    if as_json:
        json_out(plain({"run": run_json(activity), "series": {
            name: {"group": s.group, "goal": s.goal, "iterations": s.iterations,
                   "values": s.values, "summary": summary(s)}
            for name, s in found.items()}}))
        return
    console.print(f"[bold magenta]{safe(activity.name)}[/] [cyan]{activity.id}[/]")
    console.print(f"[dim]$ {safe(activity.properties.get('command', ''))}[/]")
    if not found:
        console.print("No series recorded for this run (a series is a list property P.NAME "
                      "beside a list P.iteration of the same length).")
        return
    table = Table("series", "count", "first", "final", "best", "at iteration", "min", "max")
    for name, s in found.items():
        info = summary(s)
        count = str(info["count"])
        if info["missing"]:
            count += f" ({info['missing']} missing)"
        arrow = "↓" if info["goal"] == "min" else "↑"
        table.add_row(safe(name), count, number(info["first"]), number(info["final"]),
                      f"{arrow} {number(info['best'])}", number(info["best_iteration"]),
                      number(info["min"]), number(info["max"]))
    console.print(table)
    console.print("[dim]best: ↓ the lowest (losses, errors, learning rates), "
                  "↑ the highest (everything else)[/]")
