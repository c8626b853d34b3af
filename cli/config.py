"""`prov config`: this clone's settings (kept in .git/prov/config.toml, never committed)."""

from __future__ import annotations

import click

from provgraph.cli.common import console, repository


def _config():
    from provgraph.config import Config

    repo = repository()
    repo.ensure_prov_dir()
    return Config(repo.root, repo.prov_dir)


@click.group("config")
def command() -> None:
    """Read and change settings (.prov.toml for the team, this clone's own on top)."""


@command.command("get")
@click.argument("key")
def get(key: str) -> None:
    """Print the value of KEY."""
    from provgraph.config import shown
    from provgraph.errors import ProvError

    value = _config().get(key)
    if value is None:
        raise ProvError(f"{key} is not set")
    click.echo(_text(shown(key, value)))  # never a password: .git/prov/config.json holds it


@command.command("set")
@click.argument("key")
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE for this clone only."""
    _config().set_local(key, value)  # checked and typed: a wrong type is one line


@command.command("unset")
@click.argument("key")
def unset(key: str) -> None:
    """Remove this clone's value of KEY."""
    if not _config().unset_local(key):
        console.print(f"{key} was not set in this clone")


@command.command("list")
def list_() -> None:
    """Every setting and its value."""
    from provgraph.config import shown

    for key, value in sorted(_config().values.items()):
        if value is not None:
            click.echo(f"{key} = {_text(shown(key, value))}")


def _text(value: object) -> str:
    """A value as `prov config set` takes it back: text as it is, others as JSON (true, a
    list of strings)."""
    import json

    return value if isinstance(value, str) else json.dumps(value)
