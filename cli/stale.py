"""`prov stale`: outputs whose recorded inputs changed since they were made, and why."""

from __future__ import annotations

import os
import sys

import click

from provgraph.cli.common import json_out, print_lines, repository


def repository_paths(paths: tuple[str, ...]) -> list[str]:
    """PATHs typed in the current folder as repository paths (the root: every path)."""
    from provgraph.errors import BadInput

    repo = repository()
    found = []
    for path in paths:
        full = os.path.normpath(os.path.join(os.getcwd(), path))
        if full == os.path.normpath(repo.root):
            return []
        rel = repo.relpath(path, os.getcwd())
        if rel is None:
            raise BadInput(f"{path} is outside the work tree")
        found.append(rel)
    return found


@click.command("stale")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--why", is_flag=True, help="Say why: the chain from each output to the change.")
@click.option("--exit-code", "exit_code", is_flag=True,
              help="Exit with 1 when something is stale, 0 when not (as git diff --exit-code).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(paths: tuple[str, ...], why: bool, exit_code: bool, as_json: bool) -> None:
    """Outputs whose inputs changed since a recorded command made them (directly, or through
    a chain of commands), the work tree as it is now included; nothing is declared.

    prov stale --why  prints  model.pkl <- python3 train.py #3 <- data/clean.csv <- ...
    """
    from provgraph.project import Project

    wanted = repository_paths(paths)
    with Project(os.getcwd()) as project:
        found = project.stale(wanted)
    if as_json:
        json_out(found.to_dict())
    elif why:
        print_lines([[(line, "")] for output in found.outputs for line in output.chains()])
    else:
        print_lines([[(output.path, "")] for output in found.outputs])
    if exit_code and found.outputs:
        sys.exit(1)
