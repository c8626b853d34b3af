"""Quarantine: the journal records no reader sees, and why.

Every record is judged before any reader gets it (`Journal.entries` yields only what passed):

- its `record.json` must be a JSON object of the journal's schema (`provgraph.journal.schema`);
- its chain must be named like a clone (`refs/prov/journal/<hex clone id>`);
- ids are confined to the chain that writes them. A record carrying a `nonce` proves its id:
  `act-` + the first 16 hex digits of sha256(<clone id>:<nonce>) (`journal.ids.owned_id`), so a
  copy of Bob's record in Mallory's chain fails the check. A record of an older provgraph
  (no nonce) falls back to a collision rule, applied over every chain at once so that the
  verdict never depends on the order records were fetched in: an activity id claimed by
  records of several chains belongs to the chain whose record proves it, else to this clone's
  own chain if it is one of them, else to none of them (every copy is quarantined);
- the snapshot trees of another clone's record must exist and hold only repository paths (a
  crafted tree may hold an entry named `..`).

Imported graphs (`kind: "graph"`) are judged by the indexer, which knows which node each
record makes (`provgraph.journal.indexer`); its verdicts are kept next to these.

What was judged is derived: `.git/prov/quarantine.json` (the journal tips it covers, the
quarantined records, records judged per chain) and `.git/prov/quarantine-claims.sqlite` (every
capture record's activity-id claim, looked up by id), both rebuilt from the journal when missing
or damaged; `prov rebuild` starts them afresh. Only new records are read, and only the claims of
their ids: judging what a pull brought costs what it brought, whatever the history's length.

A verdict may come after a record was first accepted (Mallory's copy of Bob's old
id arrives after Bob's record): `Ledger.stale` tells a reader that read the victim
incrementally to read again from the start (`journal.Requarantined`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provgraph import gitio
from provgraph.capture.snapshot import locked
from provgraph.journal import schema
from provgraph.journal.ids import owned_id
from provgraph.repo import Repository

TYPE_CHECKING = False

if TYPE_CHECKING:
    from provgraph.journal.records import Journal

VERSION = 2  # 1 kept every claim in the JSON file, read in full by every reader
FILE = "quarantine.json"
CLAIMS_FILE = "quarantine-claims.sqlite"
INDEX_FILE = "quarantine-index.json"  # the indexer's verdicts (imported graphs)
SLIM = ("id", "before", "after", "prev", "nonce", "format")  # what a capture's further checks read
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,79}\Z")


@dataclass
class Ledger:
    """What has been judged: the tips covered, activity-id claims, the quarantined records."""

    tips: dict[str, str] = field(default_factory=dict)
    # activity id -> [[chain, commit, proven, n]] of every sound capture record claiming it:
    # only the ids judged just now (the rest are in the claims database, `Claims`)
    claims: dict[str, list[list[Any]]] = field(default_factory=dict)
    # "<chain> <commit>" -> {"chain", "commit", "n", "id", "reason", "rule", "cause"}
    rejected: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # records judged per chain
    # not kept: the sound records this judgement read, (since, tips, [(commit, chain,
    # record)]), so a reader asking for the very same ones need not read and parse them again
    read: tuple[dict[str, str], dict[str, str], list[tuple[str, str, dict]]] | None = None

    def records_read(self, since: dict[str, str], tips: dict[str, str]
                     ) -> list[tuple[str, str, dict]] | None:
        """The sound records this judgement read, if they are exactly those of since..tips
        (some may have been quarantined after: `skips` still says)."""
        if self.read is None or self.read[1] != tips:
            return None
        read_since = self.read[0]
        if any(since.get(chain) != read_since.get(chain) for chain in tips):
            return None
        return self.read[2]

    def skips(self, chain: str, commit: str) -> bool:
        return f"{chain} {commit}" in self.rejected

    def stale(self, repo: Repository, since: dict[str, str]) -> bool:
        """Whether a reader that read up to `since` saw a record quarantined only afterwards
        (the record that caused it arrived later than the reader's `since`)."""
        for verdict in self.rejected.values():
            cause = verdict.get("cause")
            if not cause or not since.get(verdict["chain"]):
                continue
            if not _reaches(repo, since[verdict["chain"]], verdict["commit"]):
                continue  # the reader never read the victim
            if since.get(cause[0]) and _reaches(repo, since[cause[0]], cause[1]):
                continue  # the reader read it after the verdict was known
            return True
        return False

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "tips": self.tips, "rejected": self.rejected,
                "counts": self.counts}


def _reaches(repo: Repository, tip: str, commit: str) -> bool:
    return tip == commit or gitio.succeeds(["merge-base", "--is-ancestor", commit, tip],
                                           repo.root)


def _path(repo: Repository, name: str = FILE) -> str:
    return repo.prov_path(name)


def _load(repo: Repository) -> Ledger:
    """The ledger as last saved; a new one (everything judged again) when there is none or
    it is damaged: it is derived from the journal."""
    from provgraph import state

    data = state.read_json(_path(repo))
    if not (isinstance(data, dict) and data.get("version") == VERSION):
        return Ledger()
    ledger = Ledger(data.get("tips"), {}, data.get("rejected"), data.get("counts", {}))
    sound = (state.dict_of(ledger.tips, str, str)
             and state.dict_of(ledger.rejected, str, dict)
             and all(isinstance(r.get("chain"), str) and isinstance(r.get("commit"), str)
                     and isinstance(r.get("reason"), str) and "id" in r
                     and (r.get("cause") is None
                          or (state.list_of(r["cause"], str) and len(r["cause"]) == 2))
                     for r in ledger.rejected.values())
             and state.dict_of(ledger.counts, str, int))
    return ledger if sound else Ledger()


class Claims:
    """The activity-id claims of every sound capture record judged, in SQLite (the standard
    library's; this is the reading side, never `prov CMD`), so that judging new records reads
    the claims of their ids only. It notes the tips it covers, written in the same transaction
    as the claims: a database out of step with `quarantine.json` (a judge killed between the
    two writes, a file lost or damaged) sends the ledger back to judging everything."""

    def __init__(self, repo: Repository):
        import sqlite3

        self.path = _path(repo, CLAIMS_FILE)
        try:
            self.db = self._open(sqlite3)
        except sqlite3.DatabaseError:  # damaged: derived, so made again
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.db = self._open(sqlite3)

    def _open(self, sqlite3: Any) -> Any:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            db.execute("CREATE TABLE IF NOT EXISTS claims (id TEXT NOT NULL, chain TEXT NOT NULL,"
                       " record TEXT NOT NULL, proven INTEGER NOT NULL, n INTEGER NOT NULL,"
                       " seq INTEGER NOT NULL, PRIMARY KEY (id, seq)) WITHOUT ROWID")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("SELECT count(*) FROM meta").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def tips(self) -> dict[str, str] | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'tips'").fetchone()
        try:
            found = json.loads(row[0]) if row else {}
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def of(self, ids: Iterable[str]) -> dict[str, list[list[Any]]]:
        """The claims on each of `ids` that has any."""
        ids = sorted(set(ids))
        found: dict[str, list[list[Any]]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self.db.execute(
                "SELECT id, chain, record, proven, n FROM claims WHERE id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY id, seq", chunk)
            for activity, chain, record, proven, n in rows:
                found.setdefault(activity, []).append([chain, record, bool(proven), n])
        return found

    def save(self, claims: dict[str, list[list[Any]]], tips: dict[str, str]) -> None:
        """Replace the claims on these ids, and note the tips now covered, in one transaction."""
        import sqlite3

        self.db.execute("BEGIN IMMEDIATE")  # judges hold quarantine.lock: no one waits here
        try:
            ids = list(claims)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                self.db.execute(f"DELETE FROM claims WHERE id IN ({','.join('?' * len(chunk))})",
                                chunk)
            self.db.executemany("INSERT INTO claims VALUES (?, ?, ?, ?, ?, ?)",
                                [(activity, c[0], c[1], int(bool(c[2])), c[3], seq)
                                 for activity, found in claims.items()
                                 for seq, c in enumerate(found)])
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('tips', ?)", (json.dumps(tips),))
            self.db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
            raise

    def clear(self) -> None:
        self.db.execute("DELETE FROM claims")
        self.db.execute("DELETE FROM meta")

    def close(self) -> None:
        self.db.close()


def reset(repo: Repository) -> None:
    """Forget every verdict: the next reader judges the whole journal again."""
    for name in (FILE, INDEX_FILE, CLAIMS_FILE):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_path(repo, name))


def judge(repo: Repository, journal, tips: dict[str, str]) -> Ledger:
    """The ledger, caught up with `tips` (every chain's records up to them judged)."""
    ledger = _load(repo)
    if _covers(ledger, tips):
        return ledger
    with locked(repo.prov_path("quarantine.lock")):
        ledger = _load(repo)
        if _covers(ledger, tips):
            return ledger
        import sqlite3

        try:
            ledger = _judge_with_claims(repo, journal, ledger, tips)
        except sqlite3.DatabaseError:  # the claims database is damaged: derived, made again
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_path(repo, CLAIMS_FILE))
            ledger = _judge_with_claims(repo, journal, Ledger(), tips)
        gitio.write_file_atomic(_path(repo), json.dumps(ledger.to_json()).encode(),
                                durable=False)
    return ledger


def _judge_with_claims(repo: Repository, journal, ledger: Ledger, tips: dict[str, str]
                       ) -> Ledger:
    claims = Claims(repo)
    try:
        if set(ledger.tips) - set(tips) or claims.tips() != ledger.tips:
            ledger = Ledger()  # a chain is gone, or the claims are out of step: start over
            claims.clear()
        try:
            _judge_new(repo, journal, ledger, tips, claims)
        except gitio.GitError:  # a commit judged before is gone (a chain was replaced)
            ledger = Ledger()
            claims.clear()
            _judge_new(repo, journal, ledger, tips, claims)
        claims.save(ledger.claims, ledger.tips)
    finally:
        claims.close()
    return ledger


def _covers(ledger: Ledger, tips: dict[str, str]) -> bool:
    return all(ledger.tips.get(chain) == tip for chain, tip in tips.items())


def _judge_new(repo: Repository, journal, ledger: Ledger, tips: dict[str, str],
               known: Claims) -> None:
    own = repo.clone_id
    hexlen = 64 if repo.object_format == "sha256" else 40
    since = {chain: ledger.tips[chain] for chain in tips if chain in ledger.tips}
    fresh: list[tuple[str, str, int, dict[str, Any]]] = []  # sound records, to check further
    moved = set()
    sound: list[tuple[str, str, dict]] = []
    ledger.read = (since, dict(tips), sound)
    for commit, chain, data in journal.raw_entries(since, tips):
        moved.add(chain)
        n = ledger.counts.get(chain, 0)
        ledger.counts[chain] = n + 1
        record, reason = _inspect(chain, data, hexlen)
        if record is None and reason is None:
            continue  # a later provgraph's record: skipped, not quarantined
        if reason is not None:
            _reject(ledger, chain, commit, n, record, reason, "record")
        else:
            sound.append((commit, chain, record))
            if record.get("kind") is None:  # what the further checks need, not the record
                fresh.append((chain, commit, n, {key: record[key] for key in SLIM
                                                 if key in record}))
    fresh = _check_trees(repo, ledger, fresh, own, hexlen)
    ledger.claims = known.of(record["id"] for _c, _k, _n, record in fresh
                             if record.get("kind") is None)
    before: dict[str, list[list[Any]]] = {}
    for chain, commit, n, record in fresh:
        if record.get("kind") is None:
            claims = ledger.claims.setdefault(record["id"], [])
            before.setdefault(record["id"], [list(c) for c in claims])
            if not any(c[0] == chain and c[1] == commit for c in claims):
                claims.append([chain, commit, "nonce" in record, n])
    for activity, earlier in before.items():
        _settle(ledger, activity, own, earlier)
    for chain, tip in tips.items():  # a tip older than one judged already changes nothing
        if chain in moved or chain not in ledger.tips:
            ledger.tips[chain] = tip


def _inspect(chain: str, data: bytes, hexlen: int
             ) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) when sound, (record or None, reason) when not, (None, None) when the
    record is a later provgraph's (skipped without quarantine)."""
    try:
        record = json.loads(data)
    except (ValueError, RecursionError):
        return None, "record.json is not JSON"
    if not schema.readable(record):
        return None, None
    reason = schema.problem(record, hexlen, schema.may_hold_surrogates(data))
    if reason is None and not schema.CLONE_ID.match(chain):
        reason = "its chain is not named by a clone id"
    if reason is None and "nonce" in record and record.get("kind") in (None, "graph",
                                                                        "annotation", "plan"):
        prefix = record["id"].split("-", 1)[0]
        if owned_id(prefix, chain, record["nonce"]) != record["id"]:
            reason = f"id {record['id']} is not in clone {chain}'s namespace (nonce mismatch)"
    if reason is None and record.get("kind") == "annotation" and record["clone"] != chain:
        reason = (f"it names clone {record['clone']} as its author, not {chain}, whose chain "
                  "holds it")
    return (record if isinstance(record, dict) else None), reason


def _reject(ledger: Ledger, chain: str, commit: str, n: int, record: dict[str, Any] | None,
            reason: str, rule: str, cause: list[str] | None = None) -> None:
    record_id = record.get("id") if isinstance(record, dict) else None
    if not (isinstance(record_id, str) and SAFE_ID.match(record_id)):
        record_id = None  # a broken record's id is not worth printing (nor safe to)
    ledger.rejected[f"{chain} {commit}"] = {
        "chain": chain, "commit": commit, "n": n, "id": record_id,
        "reason": reason, "rule": rule, "cause": cause}


def _check_trees(repo: Repository, ledger: Ledger, fresh: list, own: str, hexlen: int) -> list:
    """Another clone's snapshots must be trees in this repository, holding repository paths
    only (its diffs become the graph's file names). This clone's own are the trees it wrote,
    kept in the record's own commit: not checked, which spares every read a git process.
    A format 2 record carries its diff (checked by the schema) and needs no tree here: a clone
    pulled without content has none."""
    names = sorted({record[key] for chain, _k, _n, record in fresh
                    if chain != own and record.get("format", 1) < 2
                    for key in ("before", "after", "prev") if record.get(key)})
    found = gitio.batch_check(repo.root, names) if names else {}
    kept, pairs = [], []
    for chain, commit, n, record in fresh:
        if chain != own and record.get("format", 1) < 2:  # format 2: its diff, schema-checked
            missing = [key for key in ("before", "after", "prev") if record.get(key)
                       and (found.get(record[key]) or ("", ""))[1] != "tree"]
            if missing:
                _reject(ledger, chain, commit, n, record,
                        f"its {missing[0]} snapshot {record[missing[0]]} is not a tree here",
                        "record")
                continue
            pairs += [(a, b) for a, b in ((record.get("prev"), record["before"]),
                                          (record["before"], record["after"])) if a and a != b]
        kept.append((chain, commit, n, record))
    bad = _bad_paths(repo, pairs, hexlen)
    if not bad:
        return kept
    sound = []
    for chain, commit, n, record in kept:
        trees = (record.get("prev"), record.get("before"), record.get("after"))
        reason = next((bad[pair] for pair in itertools.pairwise(trees)
                       if pair in bad), None)
        if reason and chain != own:
            _reject(ledger, chain, commit, n, record, reason, "record")
        else:
            sound.append((chain, commit, n, record))
    return sound


def _bad_paths(repo: Repository, pairs: Iterable[tuple[str, str]], hexlen: int
               ) -> dict[tuple[str, str], str]:
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    out = repo.git("diff-tree", "-r", "-z", "--no-commit-id", "--stdin",
                   input="".join(f"{a} {b}\n" for a, b in pairs).encode())
    bad = {}
    for old, new, changes in gitio.parse_diff_tree_stdin(out, hexlen):
        for change in changes:
            reason = schema.path_problem(change.path)
            if reason:
                bad[(old, new)] = f"its snapshot holds the path {schema.shown(change.path)}, " \
                                  f"which {reason}"
                break
    return bad


def _settle(ledger: Ledger, activity: str, own: str, before: list[list[Any]]) -> None:
    """Decide who owns an activity id claimed by several chains (see the module docstring).

    `before`: the claims judged earlier; a claim among them that loses now was accepted
    until now, and the claim that just arrived is the cause (`Ledger.stale`)."""
    claims = ledger.claims[activity]
    chains = sorted({claim[0] for claim in claims})
    proven = sorted({claim[0] for claim in claims if claim[2]})
    if len(chains) == 1:
        owners = set(chains)
    elif len(proven) == 1:
        owners = set(proven)
    elif own in chains and not proven:
        owners = {own}
    else:
        owners = set()
    newcomer = next(([c[0], c[1]] for c in claims if c not in before), None)
    for claim in claims:
        chain, commit, n = claim[0], claim[1], claim[3]
        key = f"{chain} {commit}"
        if chain in owners:
            if ledger.rejected.get(key, {}).get("rule") == "collision":
                del ledger.rejected[key]
            continue
        if key in ledger.rejected:
            continue
        reason = (f"reuses activity id {activity} of clone {', '.join(sorted(owners))}"
                  if owners else
                  f"activity id {activity} is claimed by several clones ({', '.join(chains)})")
        ledger.rejected[key] = {"chain": chain, "commit": commit, "n": n, "id": activity,
                                "reason": reason, "rule": "collision",
                                "cause": newcomer if claim in before else None}


# -- what is shown -----------------------------------------------------------------------------


def save_index_verdicts(repo: Repository, verdicts: list[dict[str, Any]]) -> None:
    """The indexer's verdicts (imported graphs that would change another clone's nodes)."""
    gitio.write_file_atomic(_path(repo, INDEX_FILE), json.dumps(verdicts).encode(),
                            durable=False)


def index_verdicts(repo: Repository) -> list[dict[str, Any]] | None:
    """The indexer's verdicts; None when they are not known (the file is missing or damaged:
    the next full replay of the index judges again)."""
    from provgraph import state

    found = state.read_json(_path(repo, INDEX_FILE))
    if not isinstance(found, list) or not all(
            state.dict_of(v) and all(isinstance(v.get(k), str) for k in ("chain", "commit"))
            and "id" in v and "reason" in v for v in found):
        return None
    return found


def listing(journal: Journal) -> list[dict[str, Any]]:
    """Every quarantined record of the journal, in chain order: {chain, commit, id, reason,
    where}."""
    repo = journal.repo
    ledger = judge(repo, journal, journal.tips())
    found = {key: {**v, "where": "journal"} for key, v in ledger.rejected.items()}
    for verdict in index_verdicts(repo) or []:
        key = f"{verdict['chain']} {verdict['commit']}"
        found.setdefault(key, {**verdict, "where": "index"})
    rows = sorted(found.values(), key=lambda v: (v["chain"], v.get("n", 0), v["commit"]))
    return [{k: v[k] for k in ("chain", "commit", "id", "reason", "where")} for v in rows]


def describe(rows: list[dict[str, Any]]) -> str | None:
    """The one line `prov status` prints, or None when nothing is quarantined."""
    if not rows:
        return None
    chains = sorted({row["chain"] for row in rows})
    whose = (f"clone {chains[0]}" if len(chains) == 1
             else f"clones {', '.join(chains[:3])}{', ...' if len(chains) > 3 else ''}")
    first = rows[0]
    name = first["id"] or first["commit"][:12]
    count = f"{len(rows)} record{'s' if len(rows) != 1 else ''}"
    return f"quarantined: {count} from {whose} (first: {name}: {first['reason']})"
