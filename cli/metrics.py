"""`prov metrics`: the series a run recorded (loss, accuracy, ...), summed up in a table."""

from __future__ import annotations

import click
from rich.table import Table

from provgraph.cli.common import console, json_out, opened_index, safe


def number(value: float | None) -> str:
    """A value as a person reads it: 6 significant digits, `–` for none."""
    if value is None:
        return "–"
    return f"{value:.6g}"


@click.command("metrics")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print the series and summaries as JSON.")
def command(run: str, as_json: bool) -> None:
    """The metric series of RUN (loss, accuracy, ...), one row per series: points, first,
    final and best value (and where it was reached), min and max.

    RUN is an activity id, its name ('caffe train #14'), #14, latest or latest~N.
    """
    from provgraph.queries.metrics import metrics, summary
    from provgraph.queries.runs import find_run

    with opened_index() as (_repo, store):
        activity = find_run(store, run)
    report = metrics(activity)
    found = report.series
    if as_json:
        json_out(report.to_dict())
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
