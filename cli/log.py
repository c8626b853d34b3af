"""`prov log`: activities, newest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from provgraph.cli.common import (
    Styled,
    answered,
    json_out,
    opened_index,
    print_lines,
    repository,
)
from provgraph.cli.selection import filter_options, filters_from
from provgraph.text import printable


def _when(timestamp: str | None) -> str:
    return (timestamp or "")[:19].replace("T", " ")


def _duration(props: dict) -> str:
    from datetime import datetime

    try:
        seconds = (datetime.fromisoformat(props["ended"])
                   - datetime.fromisoformat(props["started"])).total_seconds()
    except (KeyError, ValueError):
        return ""
    return f"{seconds:.2f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _status(props: dict) -> tuple[str, str]:
    if props.get("status") == "interrupted":
        return ("interrupted", "yellow")
    code = props.get("exit_code")
    if code is None:
        return ("", "")  # an imported activity may say nothing of how it ended
    return (f"exit {printable(code)}", "green" if code == 0 else "red")


def _tags(props: dict) -> Styled:
    """A run's tags (its own, and those `prov tag` gave it) at the end of its first line."""
    from provgraph.journal.annotations import strings

    tags = strings(props.get("tags"))
    return [("  ", ""), (printable("[" + ", ".join(tags) + "]"), "magenta")] if tags else []


def _lines(entries: list) -> Iterator[Styled]:
    """Each activity as styled lines (rich styles; plain text when piped)."""
    for entry in entries:
        props = entry.activity.properties
        agents = ", ".join(a.name for a in entry.agents) or "unknown agent"
        yield [(printable(entry.activity.id), "bold cyan"),
               (f"  {printable(_when(props.get('started')))}  ", ""),
               (printable(agents), "bold"), ("  ", ""), _status(props), ("  ", ""),
               (_duration(props), "dim"), *_tags(props)]
        if props.get("command"):
            yield [(f"    {printable(props['command'])}", "")]
        if props.get("message"):
            yield [("    ", ""), (f"{'note':<10}", "dim"), (f" {printable(props['message'])}", "")]
        for title, names in (("used", [n.name for n in entry.used]),
                             ("generated", [n.name for n in entry.generated]),
                             ("deleted", props.get("deleted") or [])):
            if names:
                yield [("    ", ""), (f"{title:<10}", "dim"),
                       (" " + printable(", ".join(map(str, names))), "")]
        yield []


@click.command("log")
@filter_options
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most N activities.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(limit: int | None, as_json: bool, **options: Any) -> None:
    """What happened, newest first: time, agent, command, exit status, files.

    PATH keeps the activities that used or generated a version of it (a folder: of anything
    under it); the options narrow further, all together.
    """
    from provgraph.queries.log import log

    given = any(v is not None and v != () for v in options.values())
    filters = filters_from(repository(), **options) if given else None
    if filters:  # the search copy answers only unfiltered reads: filters go to DuckDB
        with opened_index() as (_repo, store):
            entries = log(store, limit, filters)
    else:  # unfiltered, as it always was
        entries = answered(lambda _repo, store: log(store, limit))
    if as_json:
        json_out([entry.to_dict() for entry in entries])
        return
    if not entries:
        text = ("No activity matches." if filters else
                "No activities recorded yet: run a command with `prov CMD`.")
        print_lines([[(text, "")]])
        return
    print_lines(_lines(entries))
