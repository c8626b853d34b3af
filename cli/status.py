"""`prov status`: the repository, the journal, the index, what is pending."""

from __future__ import annotations

import click
from rich.markup import escape

from provgraph.cli.common import console, json_out, repository, safe


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def command(as_json: bool) -> None:
    """Where provenance is kept and whether the index has caught up with the journal."""
    from provgraph.capture import recovery
    from provgraph.capture.command import recover
    from provgraph.config import Config
    from provgraph.journal import quarantine
    from provgraph.journal.indexer import index_status
    from provgraph.journal.records import Journal

    repo = repository()
    repo.ensure_prov_dir()
    recover(repo)
    journal = Journal(repo)
    config = Config(repo.root, repo.prov_dir)
    index = index_status(repo)
    running = [marker.record for marker in recovery.markers(repo)]
    info = {
        "repository": str(repo.root),
        "project": repo.project,
        "clone": repo.clone_id,
        "journal": {"ref": journal.ref, "chains": len(journal.tips()), "records": journal.count()},
        "index": index,
        "quarantine": quarantine.listing(journal),
        "running": [r["record"]["command"] for r in running],
        "large_file_limit": config.large_file_limit,
        "tracing": _tracing_status(repo, config),
        "neo4j": _neo4j_status(repo, config),
    }
    if as_json:
        json_out(info)
        return
    console.print(f"repository  {safe(info['repository'])}")
    console.print(f"project     {safe(info['project'])}  (clone {safe(info['clone'])})")
    console.print(f"journal     {info['journal']['records']} records in "
                  f"{info['journal']['chains']} chain(s), this clone writes {journal.ref}")
    state = ("up to date" if index["pending"] == 0
             else f"{index['pending']} record(s) pending (indexed on the next read)")
    console.print(f"index       {safe(index['path'])}: {index['records']} records, {state}")
    held = quarantine.describe(info["quarantine"])
    if held:  # one line, whatever the number: `--json` lists them
        console.print(safe(held))
    if running:
        console.print(f"running     {len(running)} capture(s) in progress or interrupted:")
        for command in info["running"]:
            console.print(f"            {safe(command)}")
    neo4j = info["neo4j"]
    if neo4j is None:
        console.print("neo4j       not configured (prov config set neo4j.uri bolt://host:7687)")
    else:
        synced = f", last synced {neo4j['synced_at'][:19]}" if neo4j.get("synced_at") else ""
        console.print(f"neo4j       {safe(neo4j['uri'])}: {neo4j['pending']} record(s) pending"
                      f"{synced}")
        if neo4j.get("error"):
            console.print(f"            last sync failed: {safe(neo4j['error'])}")
    console.print(f"large files over {info['large_file_limit']:,} bytes are kept by digest only")
    tracing = info["tracing"]
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


def _tracing_status(repo, config) -> dict:
    """How commands are traced here, and the git-ignored files recorded (from the digest
    cache, without opening the index)."""
    import json
    import os

    from provgraph.capture import tracing

    reason = tracing.unavailable() if config.trace else "capture.trace is off"
    try:
        with open(repo.prov_path("ignored.json"), "rb") as handle:
            known = json.loads(handle.read())
    except (OSError, ValueError):
        known = {}
    mechanism = "preload+ptrace" if os.access(tracing.TRACER, os.X_OK) else "preload"
    return {"unavailable": reason, "mechanism": None if reason else mechanism,
            "ignored": {"mode": config.ignored_mode,
                        "recorded": len(known) if isinstance(known, dict) else 0}}


def _neo4j_status(repo, config) -> dict | None:
    from provgraph.remotes import neo4j as sync

    if not config.neo4j_configured:
        return None
    from provgraph.capture.redact import redact_text

    target = sync.Target(config)  # its uri shows a password as ***
    state = sync.load_state(repo, target)
    error = state.get("error")  # a state written before errors were redacted may quote one
    return {"uri": target.uri, "database": target.database,
            "pending": sync.pending(repo, target), "synced_at": state.get("synced_at"),
            "error": redact_text(error) if isinstance(error, str) else error}
