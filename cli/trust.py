"""`prov trust`: allow this clone's `.prov.toml` to run code and read outside the repository.

A cloned or pulled `.prov.toml` may declare ingestors that run programs or import the
repository's modules, and metrics read from files outside the work tree; none of that acts
until the user has looked (`prov trust --show`) and allowed this exact content (`prov trust`).
See `provgraph.trust`.
"""

from __future__ import annotations

import click
from rich.markup import escape

from provgraph.cli.common import console, json_out, repository

STATES = {
    "trusted": "trusted in this clone",
    "changed": "changed since you trusted it: not trusted",
    "never": "never trusted in this clone",
}


def _config():
    from provgraph.config import Config

    repo = repository()
    repo.ensure_prov_dir()
    return Config(repo.root, repo.prov_dir)


def _say(text: str) -> None:
    """One line of someone else's text (names, commands, paths), escaped for the terminal
    and for rich's markup."""
    from provgraph.text import printable

    console.print(escape(printable(text)))


def _listing(judged) -> None:
    runs = [g for g in judged.items if g.what == "run"]
    reads = [g for g in judged.items if g.what == "read"]
    if runs:
        _say("runs code:")
        for item in runs:
            _say(f"  {item.describe()}")
    if reads:
        _say("reads files outside the repository:")
        for item in reads:
            _say(f"  {item.describe()}")
    sends = [g for g in judged.items if g.what == "send"]
    if sends:
        _say("sends the record to a server:")
        for item in sends:
            _say(f"  {item.describe()}")


def _as_json(judged) -> dict:
    return {"file": ".prov.toml", "status": judged.status, "sha256": judged.digest,
            "trusted_at": (judged.record or {}).get("at"),
            "gated": [item.as_json() for item in judged.items]}


def _nothing(config, as_json: bool) -> bool:
    """Say so, and return True, when there is nothing to trust."""
    import os

    from provgraph.trust import verdict

    judged = verdict(config)
    if judged.status != "nothing":
        return False
    if as_json:
        json_out({"file": ".prov.toml", "status": "nothing", "sha256": None,
                  "trusted_at": None, "gated": []})
    elif not os.path.exists(config.project_file):
        console.print("no .prov.toml in this repository: nothing to trust")
    else:
        console.print(".prov.toml runs no code, reads no file outside the repository and "
                      "names no server: "
                      "nothing to trust")
    return True


@click.command("trust")
@click.option("--show", is_flag=True, help="Only show what .prov.toml would run or read.")
@click.option("--revoke", is_flag=True, help="Forget what this clone trusted.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(show: bool, revoke: bool, as_json: bool) -> None:
    """Allow .prov.toml to run its ingestors and read files outside the repository, in this
    clone, for its current content (a changed file must be trusted again)."""
    from provgraph.errors import ProvError
    from provgraph.trust import allow, verdict
    from provgraph.trust import revoke as forget

    if show and revoke:
        raise ProvError("give --show or --revoke, not both")
    config = _config()
    if revoke:
        count = forget(config)
        if as_json:
            json_out({"revoked": count})
        else:
            console.print(f"revoked trust in {count} version(s) of .prov.toml" if count
                          else "nothing was trusted in this clone")
        return
    if _nothing(config, as_json):
        return
    if show:
        judged = verdict(config)
        if as_json:
            json_out(_as_json(judged))
            return
        digest = f" (sha256 {judged.digest[:12]})" if judged.digest else ""
        console.print(f".prov.toml{digest}: {STATES[judged.status]}")
        _listing(judged)
        if judged.status != "trusted":
            console.print("allow it with `prov trust`")
        return
    judged = allow(config)
    if as_json:
        json_out(_as_json(judged))
        return
    console.print(f"trusted .prov.toml (sha256 {judged.digest[:12]}) in this clone; now "
                  "allowed:")
    _listing(judged)
