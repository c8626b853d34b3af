"""`prov rebuild`: recreate the index from the journal."""

from __future__ import annotations

import click

from provgraph.cli.common import console, opened_index


@click.command("rebuild")
@click.option("--neo4j", is_flag=True,
              help="Also recreate this project's graph in the configured Neo4j.")
def command(neo4j: bool) -> None:
    """Recreate the embedded index from the journal (same ids, same graph)."""
    if neo4j:
        from provgraph import sync
        from provgraph.cli.common import progress_bar, repository

        with progress_bar("rebuilding in Neo4j") as progress:
            sync.sync(repository(), progress, rebuild=True)
    with opened_index(rebuild=not neo4j) as (_repo, store):
        counts = store.counts()
    where = "the index and Neo4j" if neo4j else "the index"
    console.print(
        f"Rebuilt {where}: {counts.get('Activity', 0)} activities, "
        f"{counts.get('Entity', 0)} entities, {counts.get('Agent', 0)} agents, "
        f"{counts['edges']} edges."
    )
