"""Snapshot content apart from the journal: what keeps it, what a clone lacks.

From journal format 2 the record commits hold only `record.json`; the bytes of every version
(the snapshot trees and their blobs) are kept reachable by this clone's content chain
`refs/prov/content/<clone>` (one commit per capture, whose tree links its before and after
snapshots), by content pulled from remotes (`refs/prov/theirs/<remote>/<clone>`) and, for
what was committed, by the user's own branches and tags. `prov gc` rewrites the content chain
as one commit holding what it keeps (`provgraph.retention`), after which git may prune the
rest; `prov push` leaves it out unless asked (`provgraph.remotes.git`).

A version whose bytes this clone lacks is still in the graph with its digest, size and
lineage; only reading the bytes fails, with one line saying why and how to get them
(`missing`).
"""

from __future__ import annotations

from provgraph import gitio
from provgraph.errors import NotFound
from provgraph.journal.records import CONTENT_PREFIX
from provgraph.repo import Repository


class ContentMissing(NotFound):
    """The bytes of a version are not in this clone (dropped by `prov gc`, or never pulled)."""


def missing(what: str) -> ContentMissing:
    """The one line said when a version's bytes are needed and absent."""
    return ContentMissing(
        f"the content of {what} is not in this clone (dropped by `prov gc`, or pulled "
        "without content): the graph keeps its digest and lineage; to get the bytes, "
        "`prov push --content all` from a clone that has them, then `prov pull`")


def own_ref(repo: Repository) -> str:
    return CONTENT_PREFIX + repo.clone_id


def reachable_blobs(repo: Repository, tips: list[str]) -> dict[str, int]:
    """Every blob reachable from `tips` (commits, trees or blobs), with its size."""
    if not tips:
        return {}
    out = repo.git("rev-list", "--objects", "--no-object-names", "--stdin",
                   input="".join(f"{tip}\n" for tip in tips).encode())
    oids = out.decode().split()
    info = gitio.batch_check(repo.root, oids)
    return {hit[0]: hit[2] for hit in info.values() if hit and hit[1] == "blob"}


def blobs_under(repo: Repository, tip: str, limit: int) -> list[str]:
    """The blobs reachable from `tip` smaller than `limit` bytes."""
    return sorted(oid for oid, size in reachable_blobs(repo, [tip]).items() if size < limit)


def blob_set_tree(repo: Repository, blobs: list[str]) -> str:
    """A tree holding `blobs`, named by id under two-digit folders (as .git/objects is)."""
    folders: dict[str, list[gitio.TreeEntry]] = {}
    for oid in sorted(set(blobs)):
        folders.setdefault(oid[:2], []).append(gitio.TreeEntry("100644", oid[2:], oid))
    objects = repo.objects
    return objects.write_tree([gitio.TreeEntry("40000", name, objects.write_tree(entries))
                               for name, entries in folders.items()])


def blob_set_commit(repo: Repository, blobs: list[str], message: str,
                    trees: list[str] | None = None) -> str:
    """A root commit keeping `blobs` (under `blobs/`) and whole snapshot `trees` (under
    `snapshots/`, named by id)."""
    import time

    entries = [gitio.TreeEntry("40000", "blobs", blob_set_tree(repo, blobs))]
    if trees:
        entries.append(gitio.TreeEntry("40000", "snapshots", repo.objects.write_tree(
            [gitio.TreeEntry("40000", oid, oid) for oid in sorted(set(trees))])))
    tree = repo.objects.write_tree(entries)
    return repo.objects.write_commit(tree, [], "provgraph <>", f"{int(time.time())} +0000",
                                     message)
