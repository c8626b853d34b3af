"""A provgraph journal of N capture records, written in seconds to minutes (10^5 to 10^6).

Why it is representative: every record is a commit shaped exactly as `prov CMD` writes one
(`provgraph.journal.records.Journal.append`): a tree holding `record.json` (the capture record
with every key a real capture writes: ids proven by a nonce in the chain's namespace, before/
after/prev snapshot ids, times, agent, POSIX breakdown, trace summary, used files) and the
`before` and `after` snapshot trees, which are real trees of a synthetic work tree (sources,
data parts, models, ~100 files in four folders) that each activity changes by writing one or
two files; now and then a file is changed outside provgraph between two captures (the record's
`prev` differs from its `before`). Commit authors, times (one capture every 30 s) and messages
(`prov: <command>`) are as captures write them. Several chains are written side by side, as a
clone holds after `prov pull`: this clone's own chain and others named by clone ids, each with
its own work tree. The record ids and snapshot ids are checked by the journal's own quarantine
on the first read, so a malformed record would show.

How: one `git fast-import` stream (objects straight into a pack, as `git gc` leaves a long
history, the ref of each chain written at the end). Snapshot trees are carried from record to
record with fast-import's `C after before` (copy a folder), so a record costs the stream a few
lines; the tree ids that `record.json` names are computed here with git's own tree hashing and
checked against what fast-import made (`verify`).

Usage:
    python benchmarks/generate_journal.py REPO --activities 100000 [--chains 4] [--seed 0]
As a module: `generate(root, activities, chains=4)` returns {chain: tip}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from provgraph.journal.ids import owned_id
from provgraph.journal.records import REF_PREFIX, Journal
from provgraph.repo import Repository

STEP = 30  # seconds between two captures of one chain
FOLDERS = {"src": ("step{:02}.py", 12), "data": ("part{:03}.csv", 60),
           "models": ("model{:02}.bin", 16), "reports": ("report{:02}.md", 12)}


def _paths() -> list[str]:
    return [f"{folder}/{pattern.format(i)}" for folder, (pattern, count) in FOLDERS.items()
            for i in range(count)]


class _Tree:
    """A synthetic work tree: path -> blob id; its git tree id, computed as git does."""

    def __init__(self, blobs: dict[str, str], algorithm: str):
        self.blobs = dict(blobs)
        self.algorithm = algorithm
        self._folders: dict[str, str] = {}  # folder -> tree id, dropped when it changes

    def set(self, path: str, blob: str) -> None:
        self.blobs[path] = blob
        self._folders.pop(path.split("/", 1)[0], None)

    def oid(self) -> str:
        top = []
        for folder in sorted(FOLDERS):
            if folder not in self._folders:
                entries = sorted((p.split("/", 1)[1], b) for p, b in self.blobs.items()
                                 if p.startswith(folder + "/"))
                self._folders[folder] = _object(
                    "tree", b"".join(b"100644 " + n.encode() + b"\0" + bytes.fromhex(b)
                                     for n, b in entries), self.algorithm)
            top.append(b"40000 " + folder.encode() + b"\0" + bytes.fromhex(self._folders[folder]))
        return _object("tree", b"".join(top), self.algorithm)


def _object(kind: str, data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, f"{kind} {len(data)}\0".encode() + data).hexdigest()


class _Stream:
    """Writes the fast-import stream; blobs get marks, counted here."""

    def __init__(self, out: BinaryIO, algorithm: str):
        self.out, self.algorithm, self.marks = out, algorithm, 0

    def blob(self, content: bytes) -> tuple[int, str]:
        self.marks += 1
        self.out.write(b"blob\nmark :%d\ndata %d\n%s\n" % (self.marks, len(content), content))
        return self.marks, _object("blob", content, self.algorithm)

    def data(self, content: bytes) -> None:
        self.out.write(b"data %d\n%s\n" % (len(content), content))


class _Chain:
    """One clone's chain: its id, agent, work tree and the marks of its current files."""

    def __init__(self, clone: str, index: int, tree: _Tree, marks: dict[str, int]):
        self.clone, self.tree, self.marks = clone, tree, dict(marks)
        self.agent = {"name": f"Analyst {index}", "email": f"analyst{index}@example.com"}
        self.count = 0
        self.last: str | None = None  # the after snapshot of its last record


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def generate(root: Path | str, activities: int, chains: int = 4, seed: int = 0,
             progress: bool = False) -> dict[str, str]:
    """Write `activities` capture records into the repository at `root` (which has no journal
    yet), spread over this clone's chain and `chains - 1` others; their tips by clone id."""
    repo = Repository.discover(root)
    repo.ensure_prov_dir()
    if Journal(repo).tips():
        raise SystemExit(f"{root} has a journal already: generate into a fresh repository")
    algorithm = repo.object_format
    rng = random.Random(seed)
    project = repo.project
    start = time.time() - activities * STEP - 3600
    paths = _paths()
    process = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=repo.root,
                               stdin=subprocess.PIPE)
    stream = _Stream(process.stdin, algorithm)
    initial, marks = {}, {}
    for path in paths:
        marks[path], initial[path] = stream.blob(f"{path} v0\n".encode() * 8)
    clones = [repo.clone_id] + [f"{rng.getrandbits(48):012x}" for _ in range(chains - 1)]
    heads = [_Chain(clone, i, _Tree(initial, algorithm), marks) for i, clone in enumerate(clones)]
    try:
        for n in range(activities):
            chain = heads[n % len(heads)]
            _record(stream, chain, n, start + n * STEP / len(heads), rng, project, paths)
            if progress and n % 10_000 == 0:
                print(f"\r{n:,} / {activities:,} records", end="", file=sys.stderr, flush=True)
        process.stdin.write(b"done\n")
        process.stdin.close()
    except BrokenPipeError:
        pass
    if process.wait() != 0:
        raise SystemExit("git fast-import failed")
    if progress:
        print(f"\r{activities:,} records written{' ' * 10}", file=sys.stderr)
    return {chain.clone: Journal(repo).tips()[chain.clone] for chain in heads if chain.count}


def _record(stream: _Stream, chain: _Chain, n: int, when: float, rng: random.Random,
            project: str, paths: list[str]) -> None:
    """One capture record on `chain`: maybe a change outside provgraph first, then a command
    reading a few files and writing one or two."""
    prev = chain.tree.oid()
    first = dict(chain.marks) if chain.count == 0 else None  # the whole before snapshot
    lines = []  # after the copy of the snapshot: the change outside, then the outputs
    if rng.random() < 0.05 and chain.count:
        path = rng.choice(paths)
        mark, blob = stream.blob(f"{path} edited {n}\n".encode() * 8)
        chain.tree.set(path, blob)
        chain.marks[path] = mark
        lines += [f"M 100644 :{mark} before/{path}", f"M 100644 :{mark} after/{path}"]
    before = chain.tree.oid()
    step = rng.randrange(FOLDERS["src"][1])
    inputs = sorted(set(rng.sample(paths[12:], rng.randint(1, 3))))
    outputs = sorted(set(rng.sample(paths[12:], rng.randint(1, 2))) - set(inputs)) or \
        [f"reports/report{n % 12:02}.md"]
    written = {}
    for path in outputs:
        mark, blob = stream.blob(f"{path} by activity {n}\n".encode() * (8 + n % 50))
        chain.tree.set(path, blob)
        chain.marks[path] = mark
        written[path] = _stamp(when + 1.5)
        lines.append(f"M 100644 :{mark} after/{path}")
    after = chain.tree.oid()
    nonce = f"{n:08x}{chain.clone}".ljust(32, "0")[:32]
    script = f"src/step{step:02}.py"
    command = " ".join(["python3", script, *inputs, "-o", *outputs])
    record: dict[str, Any] = {
        "format": 1,  # trees linked, no `diff`: the layout before journal format 2
        "activity": {"operands": [script, *inputs, *outputs], "option_arguments": outputs[:1],
                     "options": ["-o"], "utility": "python3"},
        "after": after, "after_at": _stamp(when + 2.0), "after_done": _stamp(when + 2.1),
        "agent": chain.agent, "before": before, "before_at": _stamp(when),
        "before_done": _stamp(when + 0.1), "command": command, "cwd": ".",
        "ended": _stamp(when + 1.9), "exit_code": 0, "id": owned_id("act", chain.clone, nonce),
        "named": [], "nonce": nonce, "prev": chain.last and prev, "project": project,
        "shell": False, "started": _stamp(when + 0.2), "status": "ok",
        "trace": {"complete": True, "deleted": [], "last_write": written, "lost": 0,
                  "mechanism": "preload+ptrace", "processes": 1, "untraced": [],
                  "written": dict.fromkeys(written, True)},
        "used": [{"path": path, "role": "read"} for path in [script, *inputs]],
    }
    ident = f"{chain.agent['name']} <{chain.agent['email']}> {int(when)} +0000"
    out = stream.out
    out.write(f"commit {REF_PREFIX}{chain.clone}\n"
              f"author {ident}\ncommitter {ident}\n".encode())
    stream.data(f"prov: {command}"[:2000].encode())
    if first is not None:  # the first record of the chain: both snapshots whole
        lines = [f"M 100644 :{mark} {side}/{path}"
                 for side, marks in (("before", first), ("after", chain.marks))
                 for path, mark in sorted(marks.items())]
    else:
        out.write(b"D before\nC after before\n")
    out.write("".join(line + "\n" for line in lines).encode())
    body = json.dumps(record, sort_keys=True).encode()
    out.write(b"M 100644 inline record.json\n")
    stream.data(body)
    chain.count += 1
    chain.last = after


def verify(root: Path | str, samples: int = 20) -> None:
    """The snapshot ids records name are the trees their commits hold (the hashing here agrees
    with git's), checked on the newest records of each chain."""
    repo = Repository.discover(root)
    for tip in Journal(repo).tips().values():
        commits = repo.git("rev-list", "-n", str(samples), tip).decode().split()
        for commit in commits:
            record = json.loads(repo.git("cat-file", "blob", f"{commit}:record.json"))
            for key in ("before", "after"):
                held = repo.git("rev-parse", f"{commit}:{key}").decode().strip()
                if held != record[key]:
                    raise SystemExit(f"{commit}: {key} is {held}, the record says {record[key]}")


def fresh_repository(root: Path | str) -> Path:
    """A new repository with one commit (a project id), as the benchmarks start from."""
    root = Path(root)
    root.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    for args in (["init", "-q"], ["config", "user.name", "Bench"],
                 ["config", "user.email", "bench@example.com"],
                 ["commit", "-q", "--allow-empty", "-m", "start"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="a repository without a journal (made if new)")
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.repo.exists():
        fresh_repository(args.repo)
    started = time.perf_counter()
    tips = generate(args.repo, args.activities, args.chains, args.seed, progress=True)
    verify(args.repo)
    print(f"{args.activities:,} records on {len(tips)} chains in "
          f"{time.perf_counter() - started:.1f} s: {', '.join(sorted(tips))}")


if __name__ == "__main__":
    main()
