"""`prov plot`: series of one or more runs against iteration, in the terminal or as a PNG."""

from __future__ import annotations

import math
import os
import shutil
import sys

import click

from provgraph.cli.common import opened_index
from provgraph.errors import ProvError


@click.command("plot")
@click.argument("runs", metavar="RUN...", nargs=-1, required=True)
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A series to draw: its full name (caffe.test.accuracy) or a unique suffix "
                   "(test.accuracy, accuracy). Repeat for several.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the chart to FILE, a PNG (an SVG or PDF by its extension), instead "
                   "of drawing it in the terminal; needs matplotlib: pip install "
                   "'provgraph[plot]'.")
def command(runs: tuple[str, ...], metrics: tuple[str, ...], output: str | None) -> None:
    """Draw the series --metric NAME of each RUN against iteration, in one chart.

    RUN is an activity id, its name ('caffe train #14'), #14, latest or latest~N. The legend
    reads 'run name: series'. Without -o the chart is drawn in the terminal.
    """
    from provgraph.queries.metrics import curves, series
    from provgraph.queries.runs import find_run

    with opened_index() as (_repo, store):
        found = list({node.id: node for node in (find_run(store, r) for r in runs)}.values())
    if not metrics:
        names = sorted({name for run in found for name in series(run)})
        raise ProvError("name the series to draw with --metric NAME"
                        + (f" (the runs have {', '.join(names)})" if names
                           else " (the runs have no series)"))
    drawn, skipped = curves(found, list(metrics))
    if not drawn:
        raise ProvError("nothing to plot: no run has a value in "
                        + ", ".join(dict.fromkeys(m for _, m, _ in skipped)))
    for run, metric, reason in skipped:
        click.echo(f"prov: warning: {run.name} {reason} {metric}; skipped", err=True)
    title = ", ".join(dict.fromkeys(c.metric for c in drawn))
    if output:
        _image(drawn, title, output)
    else:
        _terminal(drawn, title)


def _image(drawn, title: str, output: str) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ProvError("writing a PNG needs matplotlib: pip install 'provgraph[plot]'") from None
    figure = Figure(figsize=(9, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for curve in drawn:
        marker = "o" if len(curve.values) <= 30 else None
        axes.plot(curve.iterations, curve.values, label=curve.label, marker=marker,
                  markersize=3, linewidth=1.5)
    axes.set_xlabel("iteration")
    axes.set_ylabel(drawn[0].metric if len({c.metric for c in drawn}) == 1 else "value")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small")
    extension = os.path.splitext(output)[1].lstrip(".").lower()
    kind = extension if extension in figure.canvas.get_supported_filetypes() else "png"
    try:
        figure.savefig(output, format=kind)
    except OSError as exc:
        raise ProvError(f"cannot write {output}: {exc.strerror or exc}") from None


def _terminal(drawn, title: str) -> None:
    import plotext

    tty = sys.stdout.isatty()
    colorless = not tty or "NO_COLOR" in os.environ
    figure = plotext.figure
    figure.clear()
    figure.theme("simple")  # the terminal's own background, coloured curves
    for n, curve in enumerate(drawn):
        # without colours, curves are told apart by their marks
        marker = {"marker": _MARKS[n % len(_MARKS)]} if colorless else {}
        signal = figure.signal(curve.iterations, curve.values, **marker)
        signal.label(curve.label)
        signal.lines()
        figure.draw(signal)
    if tty:
        size = shutil.get_terminal_size()
        figure.plot_size(size.columns, max(min(size.lines - 2, 30), 15))
    else:  # a file or a pipe: a fixed size, whatever terminal prov was started from
        plotext.terminal.limit(False, False)
        figure.plot_size(100, 30)
    figure.title(title)
    figure.label("iteration")
    xs = [x for c in drawn for x in c.iterations]
    ys = [y for c in drawn for y in c.values]
    if max(xs) > min(xs):
        ticks = _ticks(min(xs), max(xs))
        figure.ruler("x").ticks(ticks, [f"{t:g}" for t in ticks])
    text = figure.build().string(colorless=True)
    if max(xs) > min(xs) and max(ys) > min(ys):
        # the legend goes in the corner where it hides the fewest marks of the curves
        best = -1
        for x, ha in ((max(xs), "right"), (min(xs), "left")):
            for y, va in ((max(ys), "top"), (min(ys), "bottom")):
                figure.legend(x=x, y=y, ha=ha, va=va, relative=True)
                candidate = figure.build().string(colorless=True)
                shown = sum(candidate.count(mark) for mark in _MARKS + _BLOCKS)
                if shown > best:
                    best, text, corner = shown, candidate, (x, y, ha, va)
        figure.legend(x=corner[0], y=corner[1], ha=corner[2], va=corner[3], relative=True)
    if not colorless:
        text = figure.build().string()
    click.echo(text)


_MARKS = "•+xo*#=~"
_BLOCKS = "▀▄▚▞▖▗▘▝▙▛▜▟▌▐█"


def _ticks(low: float, high: float, count: int = 7) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) between low and high."""
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]
