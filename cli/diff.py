"""`prov diff`: what differs between two runs (command, parameters, files, metrics)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from provgraph.cli.common import console, err_console, json_out, opened_index, safe
from provgraph.cli.metrics import number
from provgraph.model import json_safe
from provgraph.queries.diff import cut

_MARK = {"same": ("=", "dim"), "changed": ("~", "yellow"), "only-a": ("-", "red"),
         "only-b": ("+", "green")}


def _value(value) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, (list, tuple, bool)):
        return json.dumps(json_safe(value))
    return str(value)


def _change(value: float | None) -> str:
    return "" if value is None else f"{value:+.6g}"


#: Lines of each text diff shown as text when --diff-lines is not given: the start of an
#: edited parameter file whole, of a 400-line CSV diff a screenful (--json gives all).
DIFF_LINES = 20


def _short(digest) -> str:
    digest = str(digest or "?")
    return digest[:14] if digest.startswith("sha256:") else digest[:7]


def _files(title: str, changes, limit: int) -> None:
    console.print(f"\n[bold]{title}[/]")
    if not changes:
        console.print("  [dim]none[/]")
        return
    for change in changes:
        mark, style = _MARK[change.status]
        if change.status == "same":
            versions = safe(change.a.name if change.a.id == change.b.id or change.a.name ==
                              change.b.name else f"{change.a.name} and {change.b.name}")
            line = f"{versions} [dim](same content)[/]"
        elif change.status == "changed":
            line = (f"{safe(change.a.name)} → {safe(change.b.name)} [dim](digest "
                    f"{_short(change.a.properties.get('digest'))} → "
                    f"{_short(change.b.properties.get('digest'))})[/]")
        elif change.status == "only-a":
            line = f"{safe(change.a.name)} [dim](only in A)[/]"
        else:
            line = f"{safe(change.b.name)} [dim](only in B)[/]"
        console.print(f"  [{style}]{mark}[/] {line}")
        lines, left_out = cut(change.diff, limit)
        for text in lines or []:
            color = ("bold" if text.startswith(("---", "+++")) else "red" if text.startswith("-")
                     else "green" if text.startswith("+") else "cyan" if text.startswith("@@")
                     else "")
            console.print(f"      [{color}]{safe(text)}[/]" if color else f"      {safe(text)}")
        if left_out:
            console.print(f"      [dim]… {left_out} more line{'s' if left_out > 1 else ''} "
                          f"(--diff-lines {limit + left_out} shows all)[/]")


@click.command("diff")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--diff-lines", "diff_lines", type=click.IntRange(min=0), metavar="N",
              help=f"Show at most N lines of each text diff (default {DIFF_LINES}; with --json "
                   "all of them; 0: none).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(run_a: str, run_b: str, diff_lines: int | None, as_json: bool) -> None:
    """What differs between two runs: the command line, parameters, the versions of the
    input files (with a text diff of small text files), the outputs and the metrics.

    A RUN is an activity id, its name ('caffe train #14'), #14, latest or latest~N:
    prov diff latest~1 latest
    """
    from provgraph import gitio
    from provgraph.queries.diff import diff
    from provgraph.queries.runs import find_run

    with opened_index() as (repo, store):
        a, b = find_run(store, run_a), find_run(store, run_b)

        result = diff(store, a, b, gitio.blob_reader(repo.root))
    from provgraph.content import missing

    for change in result.inputs:
        if change.missing:  # one line each: what is absent, why, how to get it
            err_console.print(f"prov: {safe(str(missing(' and '.join(change.missing))))}; "
                              "no text diff of it", soft_wrap=True)
    if as_json:
        json_out(result.to_dict(diff_lines))
        return
    limit = DIFF_LINES if diff_lines is None else diff_lines
    for side, run in (("A", a), ("B", b)):
        when = (run.properties.get("started") or "")[:19].replace("T", " ")
        console.print(f"[bold]{side}[/]  [bold magenta]{safe(run.name)}[/]  [cyan]{run.id}[/]"
                      f"  [dim]{when}[/]")
    console.print("\n[bold]command[/]")
    if result.same_command:
        console.print(f"  [dim]the same: {safe(a.properties.get('command', ''))}[/]")
    else:
        console.print(f"  [red]- {safe(a.properties.get('command', ''))}[/]")
        console.print(f"  [green]+ {safe(b.properties.get('command', ''))}[/]")
    if not result.same_shell:
        ways = [("under the shell" if run.properties.get("shell") else "directly")
                for run in (a, b)]
        console.print(f"  [dim]run {ways[0]} in A, {ways[1]} in B[/]")
    console.print("\n[bold]parameters[/]")
    if not result.parameters:
        console.print("  [dim]no difference[/]")
    width = max((len(p.name) for p in result.parameters), default=0)
    for p in result.parameters:
        console.print(f"  {safe(p.name.ljust(width))}  [red]{safe(_value(p.a))}[/] → "
                      f"[green]{safe(_value(p.b))}[/]")
    _files("inputs", result.inputs, limit)
    _files("outputs", result.outputs, limit)
    console.print("\n[bold]metrics[/]")
    if not (result.metrics or result.metrics_only_a or result.metrics_only_b):
        console.print("  [dim]no series in either run[/]")
    if result.metrics:
        table = Table("series", "final A", "final B", "change", "best A", "best B", "change")
        for m in result.metrics:
            best = [f"{number(s['best'])} @{number(s['best_iteration'])}"
                    if s["best"] is not None else "–" for s in (m.a, m.b)]
            table.add_row(safe(m.name), number(m.a["final"]), number(m.b["final"]),
                          _change(m.change("final")), best[0], best[1],
                          _change(m.change("best")))
        console.print(table)
    for title, names in (("only in A", result.metrics_only_a),
                         ("only in B", result.metrics_only_b)):
        if names:
            console.print(f"  [dim]{title}:[/] {safe(', '.join(names))}")
