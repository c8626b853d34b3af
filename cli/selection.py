"""The filters `prov log` and `prov runs` share (queries.filters): options and their reading."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click

from provgraph.errors import BadInput


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """PATH... and the filter options, for a command whose function takes them as keywords."""
    options = [
        click.argument("paths", nargs=-1, metavar="[PATH]..."),
        click.option("--agent", "agents", multiple=True, metavar="A",
                     help="Only activities of this agent (name or email). Repeatable: any."),
        click.option("--command", metavar="GLOB",
                     help="Only command lines matching this glob: 'python train.py*'."),
        click.option("--status", metavar="STATUS",
                     help="ok, failed or interrupted."),
        click.option("--since", metavar="T", help="Only activities started at or after T: "
                     "2026-12-01, 2026-12-01T09:30, 30m, 2h, 3d, 2w, today, yesterday."),
        click.option("--until", metavar="T", help="Only activities started before T (as "
                     "--since)."),
        click.option("--where", metavar="EXPR", help="A predicate over properties: "
                     "\"caffe.base_lr < 0.01 and status = 'ok'\" (docs/queries.md)."),
        click.option("--tag", "tags", multiple=True, metavar="T",
                     help="Only activities tagged T. Repeatable: all of them."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), func)


def filters_from(repo: Any, paths: tuple[str, ...] = (), agents: tuple[str, ...] = (),
                 command: str | None = None, status: str | None = None,
                 since: str | None = None, until: str | None = None, where: str | None = None,
                 tags: tuple[str, ...] = (), sweep: str | None = None, **_: Any):
    """The Filters the options give; paths typed in the current folder become repository
    paths. Checks everything now, so bad input is one line before any work."""
    from provgraph.queries.filters import Filters

    found = Filters(paths=[_repository_path(repo, p) for p in paths], agents=list(agents),
                    command=command, status=status, since=since, until=until, where=where,
                    tags=list(tags), sweep=sweep)
    found.condition()
    return found


def _repository_path(repo: Any, path: str) -> str:
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    if full == os.path.normpath(repo.root):
        return ""  # the whole repository
    rel = repo.relpath(path, os.getcwd())
    if rel is None:
        raise BadInput(f"{path}: not inside the repository {repo.root}")
    return rel.strip("/")
