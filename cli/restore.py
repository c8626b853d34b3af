"""`prov restore`: a recorded version's content written back, as a recorded activity."""

from __future__ import annotations

import os

import click

from provgraph.cli.common import json_out, node_path, print_lines, repository


@click.command("restore")
@click.argument("version", metavar="PATH@vN")
@click.option("-o", "--output", metavar="FILE", help="Write it to FILE instead of PATH.")
@click.option("--force", is_flag=True,
              help="Overwrite a file with changes no record holds (they are kept as a "
                   "version first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(version: str, output: str | None, force: bool, as_json: bool) -> None:
    """Write the content of PATH@vN back to PATH (or FILE), recorded as a `restore` activity
    that used PATH@vN. A file whose content is not a recorded version is not overwritten
    without --force.
    """
    from provgraph.project import Project
    from provgraph.restore import target_path

    repo = repository()
    reference = node_path(repo, version) or version
    written = target_path(repo, output, os.getcwd()) if output is not None else None
    with Project(repo.root) as project:
        done = project.restore(reference, written, force)
    if as_json:
        json_out(done.to_dict())
        return
    print_lines([[(f"restored {done.version.name} to {done.path}", "")]])
