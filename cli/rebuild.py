"""`prov rebuild`: recreate the index from the journal."""

from __future__ import annotations

import click

from provgraph.cli.common import console, opened_index, repository


@click.command("rebuild")
@click.option("--neo4j", is_flag=True,
              help="Also recreate this project's graph in the configured Neo4j.")
def command(neo4j: bool) -> None:
    """Recreate the embedded index from the journal (same ids, same graph)."""
    from provgraph.journal import quarantine
    from provgraph.journal.records import Journal

    repo = repository()
    repo.ensure_prov_dir()
    quarantine.reset(repo)  # derived from the journal: every record is judged again
    if neo4j:
        from provgraph.cli.common import progress_bar
        from provgraph.remotes import neo4j as sync

        with progress_bar("rebuilding in Neo4j") as progress:
            sync.sync(repo, progress, rebuild=True)
    with opened_index(rebuild=not neo4j) as (_repo, store):
        counts = store.counts()
    where = "the index and Neo4j" if neo4j else "the index"
    console.print(
        f"Rebuilt {where}: {counts.get('Activity', 0)} activities, "
        f"{counts.get('Entity', 0)} entities, {counts.get('Agent', 0)} agents, "
        f"{counts['edges']} edges."
    )
    held = len(quarantine.listing(Journal(repo)))
    if held:
        console.print(f"{held} record(s) quarantined, not indexed (prov status names them).")
