"""What the subcommands share: finding the repository, opening the index, printing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from provgraph.repo import Repository
from provgraph.text import printable

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


class LazyConsole:
    """A rich Console made on first use: importing rich costs ~25 ms, which a command that
    prints one line (`prov fileview -c`) need not pay."""

    def __init__(self, make: Callable[[], Console]):
        self._make = make
        self._console: Console | None = None

    def get(self) -> Console:
        if self._console is None:
            self._console = self._make()
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def _stdout_console() -> Console:
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            """`prov log | head`: the reader has what it wanted; stop quietly, successfully."""
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0)

    # Piped output is never cut to a width: a script reading it gets whole lines.
    return StdoutConsole(highlight=False, soft_wrap=True, emoji=False,
                         width=None if sys.stdout.isatty() else 100_000)


def terminal(stream: Any) -> bool:
    """Whether rich takes `stream` for a terminal (its isatty(), unless TTY_COMPATIBLE or
    FORCE_COLOR say otherwise): when not, it prints no style and draws no bar, and provgraph
    need not load it (~25 ms)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plain_stdout() -> bool:
    """Whether lines go to stdout as they are (rich would add no style there)."""
    return not terminal(sys.stdout)


#: One line of styled text: (text, rich style or "") pieces, the text already printable().
Styled = list[tuple[str, str]]


def print_lines(lines: Iterable[Styled]) -> None:
    """Print styled lines: through rich on a terminal, as plain text otherwise (what rich
    would print there, without its cost)."""
    if plain_stdout():
        write = sys.stdout.write
        try:
            for line in lines:
                write("".join(text for text, _style in line) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `prov log | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0) from None
        return
    from rich.text import Text

    for line in lines:
        console.print(Text.assemble(*line))


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


console = LazyConsole(_stdout_console)
err_console = LazyConsole(_stderr_console)


def repository() -> Repository:
    return Repository.discover(os.getcwd())


@contextmanager
def opened_index(rebuild: bool = False, read_only: bool = False):
    """The embedded index, caught up with the journal (with a progress bar when that is long).

    `read_only` guarantees a connection that cannot write (for user-written SQL).
    """
    from provgraph.project import caught_up_index

    repo = repository()
    with progress_bar("indexing the journal") as progress:
        store = caught_up_index(repo, rebuild, progress)
    if read_only and not store.read_only:
        from provgraph.stores.embedded import EmbeddedStore

        store.close()
        store = EmbeddedStore(store.path, read_only=True)
    try:
        yield repo, store
    finally:
        store.close()


def answered(query: Callable[[Repository, Any], T]) -> T:
    """`query(repo, store)` on the index as every read sees it: from the search copy when
    nothing is new since it was made (`provgraph.journal.fresh`: no DuckDB, no git process),
    else the full way (catch-up, DuckDB), which readies the copy for the next read."""
    import sqlite3

    from provgraph.journal import fresh

    repo = repository()
    copy = fresh.current_copy(repo)
    if copy is not None:
        try:
            return query(repo, copy)
        except sqlite3.DatabaseError:
            fresh.forget(repo)  # damaged: answered the full way below, and made again
        finally:
            copy.close()
    with opened_index() as (repo, store):
        found = query(repo, store)
        marking = fresh.copy(repo, store)
    fresh.mark(repo, marking)
    return found


@contextmanager
def progress_bar(description: str):
    """A progress callback(done, total) drawing a bar on a terminal (nothing otherwise,
    without loading rich)."""
    if not terminal(sys.stderr):
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=err_console.get(), transient=True,
                  disable=not err_console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def node_path(repo: Repository, reference: str) -> str | None:
    """The repository path a NODE typed in the current folder names (`PATH`, `PATH@vN`,
    `PATH@*`), for queries.nodes.find; None when it names no place in the repository: an id,
    a RUN's shorthand (`#14`, `latest`; `./latest` is the file), a path outside it."""
    from provgraph.queries.nodes import split_version
    from provgraph.queries.runs import is_run_shorthand

    if reference.startswith(("act-", "ent-", "agt-")) or is_run_shorthand(reference):
        return None
    every = reference.endswith("@*")
    path, version = split_version(reference[:-2] if every else reference)
    rel = repo.relpath(path, os.getcwd())
    if rel is None:
        return None
    return rel + (f"@v{version}" if version is not None else "") + ("@*" if every else "")


def find_node(repo: Repository, store: Any, reference: str) -> Any:
    """The node a user names on the command line, from any folder: a PATH[@vN], a RUN
    (`#14`, `latest`, `latest~N`, `'caffe train #14'`), an id or a node's name."""
    from provgraph.queries.nodes import find

    return find(store, reference, node_path(repo, reference))


def json_out(value: Any) -> None:
    import json

    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def safe(value: object) -> str:
    """Text from the record, for console.print with markup: control characters escaped
    (provgraph.text.printable: a pulled name cannot drive the terminal), then rich's markup
    (a name like `[red]x` is shown as written). Without markup, use printable() alone."""
    from rich.markup import escape

    return escape(printable(value))
