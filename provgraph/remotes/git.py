"""Sharing provenance through an ordinary git remote: `prov push` and `prov pull`.

Each clone appends only to its own chain `refs/prov/journal/<clone>`, so exchanging chains
never conflicts: a push sends every chain this clone has (a chain the remote already has
further along is simply left as it is there), a pull fetches every chain into a staging
namespace and fast-forwards the local copies of other clones' chains. Pulled records arrive in
the indexes on the next read (and in Neo4j with the next sync); since records are replayed in
the order their activities ended, a teammate's older work takes its place in the history.

Content is shared apart from the journal (`refs/prov/content/<clone>`, journal format 2): by
default `push` sends the journal without any snapshot content (`--content none`), so it fits
any git host; `--content all` sends this clone's content chain too, `--content under SIZE`
the blobs under SIZE bytes. `pull` takes whatever content the remote has. A record whose
content a clone lacks is still indexed in full (digests, sizes, lineage); only reading the
bytes (a text diff, a file view) says what is missing (`provgraph.content`).

A chain migrated from journal format 1 replaces its old self on a remote that holds the old
chain (and only then), and in a clone that pulled the old one: every record of the old chain
is in the new one, its commits naming the ones they replace (`provgraph.journal.migrate`).

What arrives is data, never code, and never trusted: a chain must be named like a clone
(`refs/prov/journal/<hex>`; others are not taken in), and every record is judged before any
reader sees it (`provgraph.journal.quarantine`); `pull` says how many of the records that arrived
were quarantined.
"""

from __future__ import annotations

import re

from provgraph import gitio
from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.journal import migrate, quarantine
from provgraph.journal.records import CONTENT_PREFIX, REF_PREFIX, Journal
from provgraph.repo import PROJECT_REF, Repository

INCOMING = "refs/prov/incoming/"
SHARED = "refs/prov/shared/"  # this clone's content under a size, as last pushed
THEIRS = "refs/prov/theirs/"  # content pulled from remotes: <remote>/<clone>
CLONE_ID = re.compile(r"[0-9a-f]{8,64}\Z")  # as `Repository.clone_id` names clones


def _remote(repo: Repository, remote: str | None) -> str:
    remote = remote or "origin"
    known = repo.git("remote").decode().split()
    if remote not in known and "/" not in remote and ":" not in remote:
        raise NotFound(f"no git remote named {remote!r} (known: {', '.join(known) or 'none'})")
    return remote


def content_limit(content: str) -> int | None:
    """`--content`: "all" -> no limit (None), "none" -> 0, "under SIZE" -> SIZE in bytes
    (`under 20MB`, `under:500k`, `under=1GiB`, as `capture.large_file_limit` reads sizes)."""
    from provgraph.config import parse_size

    text = content.strip().lower()
    if text in ("all", "none"):
        return None if text == "all" else 0
    size = text[len("under"):].lstrip(" :=") if text.startswith("under") else ""
    try:
        return parse_size(size)
    except (ValueError, ProvError):
        raise BadInput(f"--content {content!r}: say all, none or 'under SIZE' "
                       "(under 20MB)") from None


def push(repo: Repository, remote: str | None = None, content: str = "none"
         ) -> dict[str, object]:
    """Send this clone's journal (and the other chains it holds) to `remote`; snapshot
    content only as `content` says (see `content_limit`)."""
    limit = content_limit(content)
    remote = _remote(repo, remote)
    journal = Journal(repo)
    if journal.tip() is None:
        raise ProvError("nothing to push: no activity has been recorded in this clone yet")
    migrate.ensure(repo)
    specs = [f"{REF_PREFIX}*:{REF_PREFIX}*"]
    own_ref = REF_PREFIX + repo.clone_id
    replaced = _replaced_on(repo, remote, own_ref)
    if replaced:  # the remote holds this chain as it was before migration: replace it
        specs.remove(f"{REF_PREFIX}*:{REF_PREFIX}*")
        specs += [f"{REF_PREFIX}{chain}:{REF_PREFIX}{chain}"
                  for chain in Journal(repo).tips() if chain != repo.clone_id]
        specs.append(f"+{own_ref}:{own_ref}")
    shared = _content_ref(repo, limit)
    if shared:
        specs.append(f"+{shared}:{CONTENT_PREFIX}{repo.clone_id}")
    repo.project  # noqa: B018 (a full clone names its root commit in PROJECT_REF on the way)
    if gitio.read_ref(repo.common_dir, PROJECT_REF):
        specs.append(f"{PROJECT_REF}:{PROJECT_REF}")  # for shallow clones; never forced
    lease = [f"--force-with-lease={own_ref}:{replaced}"] if replaced else []
    out = gitio.run(["push", "--porcelain", *lease, remote, *specs], repo.root, check=False)
    pushed, behind = [], []
    for line in out.decode().splitlines():
        flag, _, rest = line.partition("\t")
        if not rest or not rest.startswith(REF_PREFIX):
            continue
        chain = rest.split(":", 1)[0][len(REF_PREFIX):]
        if flag in ("*", " ", "+", "="):
            pushed.append(chain)
        elif flag == "!":
            behind.append(chain)
    own = repo.clone_id
    if own in behind:
        raise ProvError(f"the remote {remote} has a different history for this clone's chain "
                        f"({REF_PREFIX}{own}): was this clone copied? Nothing was overwritten.")
    if not pushed and not behind:
        raise ProvError(f"git push to {remote} failed: {out.decode().strip() or 'no answer'}")
    return {"remote": remote, "pushed": sorted(pushed), "kept": sorted(behind),
            "content": content.strip().lower() if limit is not None else "all",
            "migrated": bool(replaced)}


def _replaced_on(repo: Repository, remote: str, ref: str) -> str | None:
    """The remote's value of this clone's chain when it is the chain as it was before
    migration (then, and only then, the push replaces it)."""
    old = migrate.old_commits(repo)
    if not old:
        return None
    out = gitio.run(["ls-remote", remote, ref], repo.root, check=False).decode().split()
    theirs = out[0] if out else None
    return theirs if theirs in old else None


def _content_ref(repo: Repository, limit: int | None) -> str | None:
    """The local ref to push as this clone's content: the content chain itself (all), a
    commit holding its blobs under `limit` bytes (under SIZE), or None."""
    own = CONTENT_PREFIX + repo.clone_id
    tip = gitio.read_ref(repo.common_dir, own)
    if limit == 0 or not tip:
        return None
    if limit is None:
        return own
    from provgraph import content

    blobs = content.blobs_under(repo, tip, limit)
    ref = SHARED + repo.clone_id
    commit = content.blob_set_commit(repo, blobs, "prov: content under a size")
    repo.git("update-ref", ref, commit)
    return ref


def pull(repo: Repository, remote: str | None = None) -> dict[str, object]:
    """Fetch every journal chain of `remote` and take in the records this clone lacks."""
    remote = _remote(repo, remote)
    staging = f"{INCOMING}{remote.replace('/', '_').replace(':', '_')}/"
    named = f"{staging.rstrip('/')}.project"
    # the project ref, if the remote has one (a glob: a missing ref is no error)
    theirs_content = f"{THEIRS}{remote.replace('/', '_').replace(':', '_')}/"
    repo.git("fetch", "--quiet", "--no-tags", remote, f"+{REF_PREFIX}*:{staging}*",
             f"+{PROJECT_REF}*:{named}*", f"+{CONTENT_PREFIX}*:{theirs_content}*")
    _take_project_ref(repo, named)
    incoming = {line.split(" ", 1)[1][len(staging):]: line.split(" ", 1)[0]
                for line in repo.git("for-each-ref", "--format=%(objectname) %(refname)",
                                     staging).decode().splitlines()}
    local = Journal(repo).tips()
    held = _held(repo)
    own = repo.clone_id
    updated, diverged, refused = [], [], []
    records = 0
    try:
        for chain, theirs in sorted(incoming.items()):
            ours = local.get(chain)
            if chain == own or ours == theirs or (ours and _ancestor(repo, theirs, ours)):
                continue  # our own chain, or nothing new
            if not CLONE_ID.match(chain):
                refused.append(chain)  # not a clone's chain: provgraph never writes one
                continue
            if ours and not _ancestor(repo, ours, theirs) and (
                    ours not in migrate.migrated_from(repo, theirs)):
                diverged.append(chain)  # (a migrated chain names every commit it replaces)
                continue
            gitio.update_ref(repo.common_dir, REF_PREFIX + chain, theirs, ours, repo.root)
            updated.append(chain)
            # the records that arrived, walked alone (not the whole history, twice)
            records += int(repo.git("rev-list", "--count", theirs,
                                    *([f"^{ours}"] if ours else [])).decode())
    finally:
        for chain in incoming:
            repo.git("update-ref", "-d", staging + chain, check=False)
    quarantined = 0
    if updated:
        from provgraph.journal.indexer import open_index

        open_index(repo).close()  # imported graphs are judged by the indexer: judge them now
        quarantined = len(_held(repo) - held)
    return {"remote": remote, "chains": sorted(updated), "diverged": diverged,
            "refused": refused, "records": records, "quarantined": quarantined}


def _take_project_ref(repo: Repository, staged: str) -> None:
    """Keep the remote's PROJECT_REF when this clone has none: a shallow clone learns the
    project's name from it (a clone that has one keeps its own)."""
    theirs = gitio.read_ref(repo.common_dir, staged) or repo.git(
        "rev-parse", "-q", "--verify", staged, check=False).decode().strip()
    if not theirs:
        return
    try:
        if not repo.git("rev-parse", "-q", "--verify", PROJECT_REF, check=False).strip():
            gitio.update_ref(repo.common_dir, PROJECT_REF, theirs, None, repo.root)
    except gitio.RefMoved:
        pass  # made meanwhile
    finally:
        repo.git("update-ref", "-d", staged, check=False)


def _held(repo: Repository) -> set[tuple[str, str]]:
    return {(row["chain"], row["commit"]) for row in quarantine.listing(Journal(repo))}


def _ancestor(repo: Repository, older: str, newer: str) -> bool:
    return gitio.succeeds(["merge-base", "--is-ancestor", older, newer], repo.root)
