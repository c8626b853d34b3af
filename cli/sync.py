"""`prov sync`: push pending provenance to the configured Neo4j."""

from __future__ import annotations

import click

from provgraph.cli.common import console, progress_bar, repository


@click.command("sync")
@click.option("--full", is_flag=True, help="Send every element again, not only what changed.")
@click.option("--background", is_flag=True, hidden=True,
              help="What `prov CMD` starts after a capture: quiet, gives way to a running sync.")
def command(full: bool, background: bool) -> None:
    """Push the records Neo4j does not have yet, with a progress bar.

    Captures start this in the background on their own; run it to catch up after Neo4j was
    down, or with --full after the database was emptied.
    """
    from provgraph.capture.command import recover
    from provgraph.remotes import neo4j as sync

    repo = repository()
    repo.ensure_prov_dir()
    recover(repo)
    if background:
        sync.run_background(repo)
        return
    with progress_bar("pushing to Neo4j") as progress:
        result = sync.sync(repo, progress, full=full)
    console.print(f"Neo4j is up to date ({result['elements']} elements sent).")
