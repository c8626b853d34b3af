"""`prov run CMD ...`: capture a command (what a bare `prov CMD ...` does)."""

from __future__ import annotations

import click


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("-m", "--message", help="A note to keep with the captured activity.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def command(ctx: click.Context, message: str | None, command: tuple[str, ...]) -> None:
    """Run COMMAND and record it: exit status, streams and signals as without prov.

    One argument holding shell syntax runs under your shell, each part of an `a && b; c`
    list recorded as its own activity.
    """
    from provgraph.cli import capture_main

    parent = ctx.parent.params.get("message") if ctx.parent else None
    args = list(command)
    # `prov -m NOTE CMD` may be a typo of a subcommand; `prov run CMD`, `--` run CMD as typed
    check_typo = bool(ctx.meta.get("provgraph.implicit_run")) and args[:1] != ["--"]
    if args and args[0] == "--":
        args = args[1:]
    capture_main(args, message or parent, check_typo)
