"""What a capture record's snapshots say, written into the record itself (journal format 2).

The index is made from the changes between a record's snapshots (previous -> before, before
-> after), the versions of the files it used and the sizes of those blobs. A format 1 record
only names its snapshot trees, so rebuilding the index needs every tree and blob. A format 2
record carries what the replay needs under `diff`, so the journal alone rebuilds exactly the
same index in a clone that holds no snapshot content (a `prov push --content none`, a
`prov gc`). The same function describes a format 1 record when it is migrated or replayed.

It runs on `prov CMD` (inside `Journal.append`): it imports nothing but gitio, and asks git
nothing when the snapshots are equal and nothing was used (`prov true` costs no process).

The `diff` object:

- `external`, `made`: lists of `[path, status, old_oid, new_oid, old_mode, new_mode]`
  (`git diff-tree -r` lines, oids null for an absent side), previous -> before and
  before -> after;
- `used`: one entry per item of the record's `used` list: the blob id it names in the
  before-snapshot, or null (not a file there);
- `regenerated`: `[path, oid]` of files a traced command rewrote whole (found in `after`);
- `sizes`: `{oid: size in bytes}` of every blob named above.
"""

from __future__ import annotations

from provgraph import gitio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provgraph.repo import Repository

FIELDS = ("external", "made", "used", "regenerated", "sizes")


def rewritten(record: dict[str, Any]) -> list[str]:
    """Files a traced command rewrote whole: new versions even with the same bytes."""
    trace = record.get("trace")
    if not isinstance(trace, dict) or not trace.get("complete") or not record.get("after"):
        return []
    written = trace.get("written")
    ignored = record.get("ignored") or {}
    return [path for path, whole in (written.items() if isinstance(written, dict) else ())
            if whole and path not in ignored]


def _pairs(record: dict[str, Any]) -> list[tuple[str, str]]:
    before = record["before"]
    pairs = []
    if record.get("prev") and record["prev"] != before:
        pairs.append((record["prev"], before))
    if record.get("after") and record["after"] != before:
        pairs.append((before, record["after"]))
    return pairs


def _used_name(record: dict[str, Any], item: dict[str, Any]) -> str | None:
    if item.get("ignored"):
        return None  # a git-ignored file: known by its digest, in the record already
    return item["oid"] if item.get("oid") else f"{record['before']}:{item['path']}"


def describe(repo: Repository, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `diff` of each capture record (one with no `before` gets {}), asking git in at most
    two batched processes whatever the number of records."""
    pairs = sorted({pair for rec in records if "before" in rec for pair in _pairs(rec)})
    diffs: dict[tuple[str, str], list[gitio.Change]] = {}
    if pairs:
        out = repo.git("diff-tree", "-r", "-z", "--no-commit-id", "--stdin",
                       input="".join(f"{a} {b}\n" for a, b in pairs).encode())
        for old, new, found in gitio.parse_diff_tree_stdin(out, len(pairs[0][0])):
            diffs[(old, new)] = found
    names: set[str] = set()
    for rec in records:
        if "before" not in rec:
            continue
        names.update(n for n in (_used_name(rec, u) for u in rec.get("used", [])) if n)
        names.update(f"{rec['after']}:{path}" for path in rewritten(rec))
    for found in diffs.values():
        for change in found:
            names.update(oid for oid in (change.old_oid, change.new_oid) if oid)
    info = gitio.batch_check(repo.root, sorted(names)) if names else {}
    known = {hit[0]: hit[2] for hit in info.values() if hit}  # oid -> size
    result = []
    for rec in records:
        if "before" not in rec:
            result.append({})
            continue
        before = rec["before"]
        external = diffs.get((rec.get("prev") or "", before), [])
        made = diffs.get((before, rec.get("after") or ""), [])
        used = []
        for item in rec.get("used", []):
            name = _used_name(rec, item)
            hit = info.get(name) if name else None
            used.append(hit[0] if hit and hit[1] == "blob" else None)
        regenerated = []
        for path in rewritten(rec):
            hit = info.get(f"{rec.get('after')}:{path}")
            if hit and hit[1] == "blob":
                regenerated.append([path, hit[0]])
        oids = {oid for oid in used if oid} | {oid for _p, oid in regenerated}
        oids |= {oid for change in external + made for oid in (change.old_oid, change.new_oid)
                 if oid}
        sizes = {oid: known[oid] for oid in sorted(oids) if oid in known}
        result.append({"external": [list(change) for change in external],
                       "made": [list(change) for change in made],
                       "used": used, "regenerated": regenerated, "sizes": sizes})
    return result
