"""`prov push`: share this clone's provenance journal through a git remote."""

from __future__ import annotations

import click

from provgraph.cli.common import console, repository


@click.command("push")
@click.argument("remote", required=False)
@click.option("--content", default="none", metavar="all|none|under SIZE", show_default=True,
              help="Snapshot content to send with the journal: none (the graph only, fits "
                   "any git host), all, or the files under SIZE ('under 20MB').")
def command(remote: str | None, content: str) -> None:
    """Send the provenance journal (refs/prov/journal/*) to REMOTE (default: origin)."""
    from provgraph.remotes import git as sharing

    result = sharing.push(repository(), remote, content)
    what = {"none": "without snapshot content", "all": "with all snapshot content"}.get(
        str(result["content"]), f"with snapshot content {result['content']}")
    replaced = " (replacing its pre-migration copy of this clone's chain)" \
        if result["migrated"] else ""
    console.print(f"Pushed {len(result['pushed'])} journal chain(s) to {result['remote']} "
                  f"{what}{replaced}.")
