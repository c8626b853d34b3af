"""`prov status`: where a repository's provenance is kept and what is pending, read without
opening the index (a status must answer when the index is busy or damaged)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from provgraph.repo import Repository

TYPE_CHECKING = False
if TYPE_CHECKING:
    from provgraph.journal.records import Journal


@dataclass
class Status:
    """The repository, its journal, the index, captures in progress, tracing and Neo4j."""

    repository: str
    project: str
    clone: str
    journal: dict[str, Any]  # ref, chains, records
    index: dict[str, Any]  # path, records, pending
    quarantine: list[dict[str, Any]]
    running: list[str]  # the commands of captures in progress or interrupted
    large_file_limit: int
    tracing: dict[str, Any]  # unavailable (why, or None), mechanism, ignored {mode, recorded}
    neo4j: dict[str, Any] | None  # None when not configured
    retention: dict[str, Any]  # keep_last, keep_days: `prov gc`'s policy ([retention])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(repo: Repository) -> Status:
    """The status of `repo`, after finishing the records of killed captures (as every
    reader does)."""
    from provgraph.capture import recovery
    from provgraph.config import Config
    from provgraph.journal import quarantine
    from provgraph.journal.indexer import index_status
    from provgraph.journal.records import Journal

    repo.ensure_prov_dir()
    if recovery.abandoned(repo):  # the capture machinery loads only when it has work
        from provgraph.capture.command import recover

        recover(repo)
    else:
        recovery.remove_abandoned_scratch(repo)
    journal = Journal(repo)
    tips = _tips(repo, journal)
    config = Config(repo.root, repo.prov_dir)
    return Status(
        repository=str(repo.root), project=repo.project, clone=repo.clone_id,
        journal={"ref": journal.ref, "chains": len(tips), "records": journal.count(tips)},
        index=index_status(repo),
        quarantine=quarantine.listing(journal),
        running=[marker.record["record"]["command"] for marker in recovery.markers(repo)],
        large_file_limit=config.large_file_limit,
        tracing=_tracing(repo, config), neo4j=_neo4j(repo, config),
        retention={"keep_last": config.retention_keep_last,
                   "keep_days": config.retention_keep_days})


def _tracing(repo: Repository, config: Any) -> dict[str, Any]:
    """How commands are traced here, and the git-ignored files recorded (from the digest
    cache, without opening the index)."""
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


def _neo4j(repo: Repository, config: Any) -> dict[str, Any] | None:
    if not config.neo4j_configured:
        return None
    from provgraph.capture.redact import redact_text
    from provgraph.remotes import neo4j as sync

    target = sync.Target(config)  # its uri shows a password as ***
    state = sync.load_state(repo, target)
    error = state.get("error")  # a state written before errors were redacted may quote one
    return {"uri": target.uri, "database": target.database,
            "pending": sync.pending(repo, target), "synced_at": state.get("synced_at"),
            "error": redact_text(error) if isinstance(error, str) else error}


def _tips(repo: Repository, journal: Journal) -> dict[str, str]:
    """The journal's chains, from the ref files when they can say (no git process)."""
    from provgraph.journal.fresh import journal_tips

    found = journal_tips(repo)
    return journal.tips() if found is None else found
