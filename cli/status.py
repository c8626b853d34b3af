"""`prov status`: the repository, the journal, the index, what is pending."""

from __future__ import annotations

import click
from rich.markup import escape

from provgraph.cli.common import console, json_out, repository, safe


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(as_json: bool) -> None:
    """Where provenance is kept and whether the index has caught up with the journal."""
    from provgraph.journal import quarantine
    from provgraph.status import status

    info = status(repository())
    if as_json:
        json_out(info.to_dict())
        return
    journal, index, neo4j, tracing = info.journal, info.index, info.neo4j, info.tracing
    console.print(f"repository  {safe(info.repository)}")
    console.print(f"project     {safe(info.project)}  (clone {safe(info.clone)})")
    console.print(f"journal     {journal['records']} records in "
                  f"{journal['chains']} chain(s), this clone writes {journal['ref']}")
    state = ("up to date" if index["pending"] == 0
             else f"{index['pending']} record(s) pending (indexed on the next read)")
    console.print(f"index       {safe(index['path'])}: {index['records']} records, {state}")
    held = quarantine.describe(info.quarantine)
    if held:  # one line, whatever the number: `--json` lists them
        console.print(safe(held))
    if info.running:
        console.print(f"running     {len(info.running)} capture(s) in progress or "
                      "interrupted:")
        for command in info.running:
            console.print(f"            {safe(command)}")
    if neo4j is None:
        console.print("neo4j       not configured (prov config set neo4j.uri bolt://host:7687)")
    else:
        synced = f", last synced {neo4j['synced_at'][:19]}" if neo4j.get("synced_at") else ""
        console.print(f"neo4j       {safe(neo4j['uri'])}: {neo4j['pending']} record(s) pending"
                      f"{synced}")
        if neo4j.get("error"):
            console.print(f"            last sync failed: {safe(neo4j['error'])}")
    console.print(f"large files over {info.large_file_limit:,} bytes are kept by digest only")
    console.print(f"retention   {_retention(repository())}")
    if tracing["unavailable"]:
        console.print(f"tracing     off: {escape(tracing['unavailable'])} (Python's audit hook "
                      "and command lines instead)")
    else:
        console.print(f"tracing     every process of each command ({tracing['mechanism']})")
    ignored = tracing["ignored"]
    if ignored["mode"] == "skip":
        console.print("ignored     git-ignored files are not recorded (capture.ignored = skip)")
    else:
        how = "by digest" if ignored["mode"] == "digest" else "by digest and content"
        console.print(f"ignored     {ignored['recorded']} git-ignored files recorded {how}")



def _retention(repo) -> str:
    """The `prov gc` policy in one line ([retention] of .prov.toml, applied after captures)."""
    from provgraph.config import Config

    config = Config(repo.root, repo.prov_dir)
    last, days = config.retention_keep_last, config.retention_keep_days
    if last is None and days is None:
        return "every version's content is kept ([retention] keep_last / keep_days to drop)"
    kept = [f"the last {last} version(s) of each file"] if last is not None else []
    kept += [f"versions seen in the last {days:g} day(s)"] if days is not None else []
    return f"keep {' and '.join(kept)}; older content is dropped by `prov gc` (automatic)"
