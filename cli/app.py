"""The click application behind every `prov` subcommand (the capture path does not load it)."""

from __future__ import annotations

import os
import sys

import click

from provgraph import gitio
from provgraph.cli import MODULES
from provgraph.errors import ProvError
from provgraph.repo import Repository


class ProvGroup(click.Group):
    """`prov CMD` runs CMD unless it names a subcommand; expected failures become one line on
    stderr and exit status 1, never a traceback. Subcommands load lazily (cli.MODULES)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*MODULES, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in MODULES:
            import importlib

            modules = [importlib.import_module(f"provgraph.cli.{module}")
                       for module in MODULES[name]]
            self.add_command(modules[0].command, name)
        return self.commands.get(name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in MODULES and not args[0].startswith("-"):
            ctx.meta["provgraph.implicit_run"] = True  # `prov -m NOTE CMD`: CMD may be a typo
            return "run", self.get_command(ctx, "run"), args
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ProvError, gitio.GitError) as exc:
            from provgraph.text import printable  # a message may quote a pulled name

            _derived_damage(exc)
            click.echo(f"prov: {printable(str(exc))}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # `prov log --json | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:
            _derived_damage(exc)
            raise


def _derived_damage(exc: Exception) -> None:
    """A derived file (the index, the search index) found damaged in the middle of a command:
    removed, said in one line; the next command makes it again from the journal."""
    from provgraph.stores import damaged

    try:
        found = damaged(exc, Repository.discover(os.getcwd()).prov_dir)
    except (ProvError, gitio.GitError):
        return
    if found is not None:
        found.remove()
        click.echo(f"prov: {found}: it was removed, and is made again from the journal: run "
                   "the command again", err=True)
        sys.exit(1)


@click.group(cls=ProvGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="provgraph", prog_name="prov")
@click.option("-m", "--message", help="A note to keep with the captured activity.")
def cli(message: str | None) -> None:
    """Record how every file of a git repository came to be.

    Put `prov` in front of any command to capture it (`prov python train.py data.csv`,
    `prov 'sort x | uniq > y && wc -l y'`); use `prov -- CMD` when CMD is also the name of
    a subcommand below. The record is W3C PROV: query it with the subcommands.
    """
