"""`prov status`: the repository, the journal, the index, what is pending."""

from __future__ import annotations

import click

from provgraph.cli.common import json_out, print_lines, repository
from provgraph.text import printable


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
    lines: list[str] = []
    say = lines.append
    journal, index, neo4j, tracing = info.journal, info.index, info.neo4j, info.tracing
    say(f"repository  {printable(info.repository)}")
    say(f"project     {printable(info.project)}  (clone {printable(info.clone)})")
    say(f"journal     {journal['records']} records in "
        f"{journal['chains']} chain(s), this clone writes {journal['ref']}")
    state = ("up to date" if index["pending"] == 0
             else f"{index['pending']} record(s) pending (indexed on the next read)")
    say(f"index       {printable(index['path'])}: {index['records']} records, {state}")
    held = quarantine.describe(info.quarantine)
    if held:  # one line, whatever the number: `--json` lists them
        say(printable(held))
    if info.running:
        say(f"running     {len(info.running)} capture(s) in progress or "
        "interrupted:")
        for command in info.running:
            say(f"            {printable(command)}")
    if neo4j is None:
        say("neo4j       not configured (prov config set neo4j.uri bolt://host:7687)")
    else:
        synced = f", last synced {neo4j['synced_at'][:19]}" if neo4j.get("synced_at") else ""
        say(f"neo4j       {printable(neo4j['uri'])}: {neo4j['pending']} record(s) pending"
            f"{synced}")
        if neo4j.get("error"):
            say(f"            last sync failed: {printable(neo4j['error'])}")
    say(f"large files over {info.large_file_limit:,} bytes are kept by digest only")
    say(f"retention   {_retention(info.retention)}")
    if tracing["unavailable"]:
        say(f"tracing     off: {printable(tracing['unavailable'])} (Python's audit hook "
            "and command lines instead)")
    else:
        say(f"tracing     every process of each command ({tracing['mechanism']})")
    ignored = tracing["ignored"]
    if ignored["mode"] == "skip":
        say("ignored     git-ignored files are not recorded (capture.ignored = skip)")
    else:
        how = "by digest" if ignored["mode"] == "digest" else "by digest and content"
        say(f"ignored     {ignored['recorded']} git-ignored files recorded {how}")
    print_lines([[(line, "")] for line in lines])


def _retention(policy: dict) -> str:
    """The `prov gc` policy in one line ([retention] of .prov.toml, applied after captures)."""
    last, days = policy.get("keep_last"), policy.get("keep_days")
    if last is None and days is None:
        return "every version's content is kept ([retention] keep_last / keep_days to drop)"
    kept = [f"the last {last} version(s) of each file"] if last is not None else []
    kept += [f"versions seen in the last {days:g} day(s)"] if days is not None else []
    return f"keep {' and '.join(kept)}; older content is dropped by `prov gc` (automatic)"
