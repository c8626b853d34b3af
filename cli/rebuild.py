"""`prov rebuild`: recreate the index from the journal."""

from __future__ import annotations

import click
from provgraph.cli.common import console, opened_index


@click.command("rebuild")
def command() -> None:
    """Recreate the embedded index from the journal (same ids, same graph)."""
    with opened_index(rebuild=True) as (_repo, store):
        counts = store.counts()
    console.print(
        f"Rebuilt the index: {counts.get('Activity', 0)} activities, "
        f"{counts.get('Entity', 0)} entities, {counts.get('Agent', 0)} agents, "
        f"{counts['edges']} edges."
    )
