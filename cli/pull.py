"""`prov pull`: take in teammates' provenance from a git remote."""

from __future__ import annotations

import click

from provgraph.cli.common import console, err_console, repository


@click.command("pull")
@click.argument("remote", required=False)
def command(remote: str | None) -> None:
    """Fetch the provenance journals of REMOTE (default: origin) and add what is new."""
    from provgraph.config import Config
    from provgraph.remotes import git as sharing
    from provgraph.remotes import neo4j as sync

    repo = repository()
    repo.ensure_prov_dir()
    result = sharing.pull(repo, remote)
    for chain in result["diverged"]:
        err_console.print(f"prov: warning: chain {chain} of {result['remote']} has diverged from "
                          "the local copy; kept the local one")
    if result["refused"]:
        names = ", ".join(result["refused"][:3]) + (", ..." if len(result["refused"]) > 3 else "")
        click.echo(f"prov: warning: {len(result['refused'])} ref(s) of {result['remote']} under "
                   f"refs/prov/journal/ are not named like a clone ({names}); not taken in",
                   err=True)
    held = (f"; {result['quarantined']} quarantined, not indexed (prov status names them)"
            if result["quarantined"] else "")
    console.print(f"Pulled {result['records']} new record(s) from {result['remote']} "
                  f"({len(result['chains'])} chain(s) updated){held}.")
    config = Config(repo.root, repo.prov_dir)
    if result["records"] and config.neo4j_configured and config.neo4j_autosync:
        sync.start_background(repo)
