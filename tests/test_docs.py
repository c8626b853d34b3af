"""The documentation is tested: every subcommand is documented, and the README's examples run."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from provgraph.cli import SUBCOMMANDS
from provgraph.cli.app import cli

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_the_fast_path_knows_every_subcommand():
    ctx = click.Context(cli)
    assert set(cli.list_commands(ctx)) == SUBCOMMANDS
    for name in SUBCOMMANDS:  # each loads, under its own name
        assert cli.get_command(ctx, name).name == name


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help_and_is_in_the_readme(name):
    command = cli.get_command(click.Context(cli), name)
    assert command.help and len(command.help.strip()) > 20
    assert f"prov {name}" in README
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            assert sub.help


def test_readme_starts_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert "pip install -e '.[test]'" in blocks[0] and "examples/quickstart/run.sh" in blocks[0]
    assert blocks[1].strip() == ".venv/bin/python -m pytest -n 2"
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert ci.strip().splitlines()[-1] == blocks[1].strip()


def test_readme_sql_examples_run(repo):
    repo.write("params.yaml", "lr: 0.1\n")
    repo.commit_all()
    repo.ok("sh", "-c", "cat params.yaml > model.json")
    repo.write("params.yaml", "lr: 0.05\n")
    repo.ok("sh", "-c", "cat params.yaml > model.json")
    queries = re.findall(r"```sql\n(.*?)```", README, re.S)[0]
    statements = [s.strip() for s in queries.split(";") if s.strip()]
    results = []
    for statement in statements:
        sql = "\n".join(line for line in statement.splitlines() if not line.startswith("--"))
        results.append(repo.ok("sql", sql, "--csv").stdout.splitlines())
    assert results[0][1:] == ["model.json@v1,sh -c 'cat params.yaml > model.json'",
                              "model.json@v2,sh -c 'cat params.yaml > model.json'"]
    assert len(results[1]) == 2  # the header and the one edit made without prov
