"""`prov import`: W3C PROV from any tool (or from `prov export`) into this project's graph."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from provgraph.cli.common import console, json_out, progress_bar, repository


class _Stages:
    """The library's progress(stage, done, total) as one transient bar per stage."""

    def __init__(self) -> None:
        self.stack = ExitStack()
        self.stage: str | None = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage:
            self.stack.close()
            self.stack = ExitStack()
            self.bar = self.stack.enter_context(progress_bar(stage))
            self.stage = stage
        if total is not None:
            self.bar(done, total)

    def close(self) -> None:
        self.stack.close()


@click.command("import")
@click.argument("file")
@click.option("-f", "--format", "fmt", metavar="FORMAT",
              help="json (PROV-JSON), provn (PROV-N), ttl (PROV-O Turtle), xml (PROV-XML) or "
                   "jsonld (PROV-JSON-LD); default: from the file's extension, else from its "
                   "first characters.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(file: str, fmt: str | None, as_json: bool) -> None:
    """Load a W3C PROV document (FILE, or - for standard input) written by any tool, or by
    `prov export`, into this project's graph. Node ids are kept: `ex:model` stays `ex:model`.
    Importing the same document again adds nothing."""
    from provgraph.errors import ProvError
    from provgraph.interchange.importer import describe, import_document

    repo = repository()
    if file == "-":
        try:
            source: str | Path = sys.stdin.buffer.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProvError(f"standard input is not UTF-8 text ({exc.reason})") from None
        name = "<stdin>"
    else:
        source, name = Path(file), file
    stages = _Stages()
    try:
        summary = import_document(repo, source, fmt, name=name, is_text=file == "-",
                                   progress=stages)
    finally:
        stages.close()
    _warn_losses(summary["source"], summary["losses"])
    if as_json:
        json_out(summary)
    else:
        console.print(describe(summary), markup=False)


#: Lines of losses shown; the rest are counted in one more line.
SHOWN_LOSSES = 20


def _warn_losses(source: str, losses: list[str]) -> None:
    """What the PROV library dropped reading the document: one line each on stderr."""
    from provgraph.ingestors import warn

    for line in losses[:SHOWN_LOSSES]:
        warn(f"{source}: {line}")
    if len(losses) > SHOWN_LOSSES:
        warn(f"{source}: {len(losses) - SHOWN_LOSSES} more values were left out likewise "
             "(prov import --json lists them all)")
