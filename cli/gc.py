"""`prov gc`: drop the content of old versions; the graph, digests and lineage stay."""

from __future__ import annotations

import click

from provgraph.cli.common import console, json_out, repository


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


@click.command("gc")
@click.option("--keep-last", type=click.IntRange(min=1), default=None, metavar="N",
              help="Keep the content of the last N versions of each file.")
@click.option("--keep-days", type=click.FloatRange(min=0), default=None, metavar="D",
              help="Keep the content of versions seen in the last D days.")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; change nothing.")
@click.option("--expire", default="1.hour.ago", metavar="WHEN", show_default=True,
              help="Prune only unreachable objects older than this (git's --prune date).")
@click.option("--auto", "auto", is_flag=True, hidden=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(keep_last: int | None, keep_days: float | None, dry_run: bool, expire: str,
            auto: bool, as_json: bool) -> None:
    """Turn the content of old versions into digest-only records (default policy: .prov.toml
    [retention] keep_last / keep_days). Versions a commit of your branches or tags holds, or
    a file view read, are never dropped."""
    from provgraph import retention
    from provgraph.cli.common import progress_bar
    from provgraph.config import Config

    repo = repository()
    repo.ensure_prov_dir()
    if keep_last is None and keep_days is None:
        config = Config(repo.root, repo.prov_dir)
        keep_last, keep_days = config.retention_keep_last, config.retention_keep_days
        if auto and keep_last is None and keep_days is None:
            return
    with progress_bar("prov gc") as bar:
        result = retention.gc(repo, keep_last, keep_days, dry_run, expire,
                              lambda what, done, total: bar(done, total))
    if as_json:
        json_out(result.to_dict())
        return
    if auto:
        return
    if result.dry_run:
        console.print(f"Would drop the content of {result.versions} version(s): "
                      f"{result.blobs} blob(s), {_size(result.size)}; nothing changed.")
    elif not result.blobs:
        console.print("Nothing to drop: every version's content is kept.")
    else:
        console.print(f"Dropped the content of {result.versions} version(s): {result.blobs} "
                      f"blob(s), {_size(result.size)}; git freed {_size(result.freed or 0)} "
                      "(objects younger than --expire are pruned later).")
