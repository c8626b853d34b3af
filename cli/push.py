"""`prov push`: share this clone's provenance journal through a git remote."""

from __future__ import annotations

import click

from provgraph.cli.common import console, repository


@click.command("push")
@click.argument("remote", required=False)
def command(remote: str | None) -> None:
    """Send the provenance journal (refs/prov/journal/*) to REMOTE (default: origin)."""
    from provgraph.remotes import git as sharing

    result = sharing.push(repository(), remote)
    console.print(f"Pushed {len(result['pushed'])} journal chain(s) to {result['remote']}.")
