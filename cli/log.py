"""`prov log`: activities, newest first."""

from __future__ import annotations

import click

from provgraph.cli.common import console, json_out, opened_index, safe
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


def _status(props: dict) -> str:
    if props.get("status") == "interrupted":
        return "[yellow]interrupted[/]"
    code = props.get("exit_code")
    if code is None:
        return ""  # an imported activity may say nothing of how it ended
    return f"[green]exit {code}[/]" if code == 0 else f"[red]exit {safe(code)}[/]"


@click.command("log")
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most N activities.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(limit: int | None, as_json: bool) -> None:
    """What happened, newest first: time, agent, command, exit status, files."""
    from provgraph.queries.log import log

    with opened_index() as (_repo, store):
        entries = log(store, limit)
    if as_json:
        json_out([entry.to_dict() for entry in entries])
        return
    if not entries:
        console.print("No activities recorded yet: run a command with `prov CMD`.")
        return
    for entry in entries:
        props = entry.activity.properties
        agents = ", ".join(a.name for a in entry.agents) or "unknown agent"
        started = _when(props.get("started"))
        console.print(f"[bold cyan]{safe(entry.activity.id)}[/]  {safe(started)}  "
                      f"[bold]{safe(agents)}[/]  {_status(props)}  [dim]{_duration(props)}[/]")
        if props.get("command"):
            console.print(f"    {printable(props['command'])}", markup=False)
        if props.get("message"):
            console.print(f"    [dim]{'note':<10}[/] {safe(props['message'])}")
        for title, names in (("used", [n.name for n in entry.used]),
                             ("generated", [n.name for n in entry.generated]),
                             ("deleted", props.get("deleted") or [])):
            if names:
                console.print(f"    [dim]{title:<10}[/] " + safe(", ".join(map(str, names))))
        console.print()
