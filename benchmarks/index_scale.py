"""How the index keeps up with many files (issue 14), against baselines measured in the same run.

Parts:

- `files`: in a repository with a `prov true` behind it (its index caught up), N new small
  files (1 KB, an image folder in folders of 1,000), then `prov true` and `prov log -n 1`
  (which catches the index up). Floor: a bare `git add -A` of the same files into a private
  index (a copy of the user's), in an identical copy of the repository. Each run makes its
  copies afresh; the two are timed in alternating order. Target: prov true + prov log <= 3x
  the floor.
- `rebuild`: a journal of 10,000 activities over 100,000 files; `prov rebuild` (target
  <= 30 s), and the catch-up of its last 100 records (`prov log -n 1` with the index as it
  was before them, restored before each run).
- `journal`: capture overhead, status, catch-up and pull with a long journal (10^5
  activities by default) against an empty one: runs benchmarks/journal_scale.py, which holds
  that part (its generator: benchmarks/generate_journal.py).

The rebuild journal is made quickly, and like a real one: the 100,000 files are written and
recorded by a real `prov true` (a record whose snapshot sees them appear, as for an image
folder); then activities each reading two files and writing one (a new output or a new
version of an earlier one) are appended through provgraph's own Journal API, with real
snapshot trees (the previous tree with the written blobs replaced, written as git objects)
and records shaped as the capture shapes them (traced, complete); one in twenty also finds a
file changed outside prov. Their outputs are written to the work tree too, so the last 100
records are real captures (`prov python3 step.py IN OUT`) of that same tree. Objects of the
synthetic part are written without fsync (setup only: durability is not measured).

Usage: python benchmarks/index_scale.py [--part files,rebuild,journal] [--sizes 3000,100000]
           [--activities 10000] [--files 100000] [--journal-activities 100000] [--runs N]
           [--keep DIR]
Prints medians (seconds) and ratios; the figures in benchmarks/RESULTS.md come from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

PROV = shutil.which("prov", path=str(Path(sys.executable).parent)) or shutil.which("prov")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
STEP = ("import sys\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "open(sys.argv[2], 'wb').write(data[::-1] + sys.argv[2].encode())\n")


def git(root: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          env=env or ENV, text=True).stdout


def timed(args: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, env=env or ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.decode()}")
    return elapsed


def content(i: int) -> bytes:
    """1 KB, distinct per file (every file is a blob of its own, as images are)."""
    return (f"{i:08}".encode() * 128)[:1024]


def write_files(root: Path, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        folder = root / f"img{i // 1000:03}"
        if i % 1000 == 0 or i == start:
            folder.mkdir(exist_ok=True)
        (folder / f"f{i % 1000:03}.bin").write_bytes(content(i))


def base_repo(root: Path) -> None:
    """A repository with a capture behind it and its index caught up."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    (root / "step.py").write_text(STEP)
    git(root, "add", "step.py")
    git(root, "commit", "-qm", "start")
    timed([PROV, "true"], root)
    timed([PROV, "log", "-n", "1"], root)


def git_add(root: Path) -> float:
    """The floor: `git add -A` into a private index (a copy of the user's)."""
    index = root / ".git" / "bench-index"
    shutil.copyfile(root / ".git" / "index", index)
    return timed(["git", "add", "-A"], root, env={**ENV, "GIT_INDEX_FILE": str(index)})


def part_files(base: Path, sizes: list[int], runs: int) -> None:
    print("## new files: prov true + prov log -n 1 against git add -A (medians, s)\n")
    print("| new files | git add -A | prov true | prov log -n 1 | prov true + log | ratio |")
    print("|---|---|---|---|---|---|")
    template = base / "files-base"
    if not template.exists():
        base_repo(template)
    for size in sizes:
        samples: dict[str, list[float]] = {"git": [], "true": [], "log": []}
        for run in range(runs):
            copies = {who: base / f"files-{size}-{who}" for who in ("git", "prov")}
            for where in copies.values():
                shutil.rmtree(where, ignore_errors=True)
                shutil.copytree(template, where, symlinks=True)
                write_files(where, size)
            order = ["git", "prov"] if run % 2 == 0 else ["prov", "git"]
            for who in order:
                if who == "git":
                    samples["git"].append(git_add(copies["git"]))
                else:
                    samples["true"].append(timed([PROV, "true"], copies["prov"]))
                    samples["log"].append(timed([PROV, "log", "-n", "1"], copies["prov"]))
            for where in copies.values():
                shutil.rmtree(where, ignore_errors=True)
        m = {k: statistics.median(v) for k, v in samples.items()}
        both = statistics.median(t + lg for t, lg in zip(samples["true"], samples["log"],
                                                         strict=True))
        print(f"| {size:,} | {m['git']:.2f} | {m['true']:.2f} | {m['log']:.2f} | "
              f"{both:.2f} | **{both / m['git']:.2f}x** |", flush=True)
    print("\ntarget: prov true + prov log -n 1 <= 3x git add -A\n")


@contextmanager
def no_fsync():
    """Setup only: objects of the synthetic journal are written without waiting for the disk."""
    saved = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = saved


def synthetic_journal(root: Path, activities: int, files: int) -> None:
    """Append `activities` records shaped as captures, on real snapshot trees (module doc)."""
    from provgraph import gitio
    from provgraph.journal.records import Journal, new_activity_id
    from provgraph.repo import Repository

    repo = Repository.discover(str(root))
    objects = repo.objects
    journal = Journal(repo)
    tip = journal.tip()
    last = json.loads(git(root, "cat-file", "blob", f"{tip}:record.json"))
    tree = last["after"]
    folders: dict[str, dict[str, gitio.TreeEntry]] = {}
    top: dict[str, gitio.TreeEntry] = {}
    for line in git(root, "ls-tree", tree).splitlines():
        meta, name = line.split("\t", 1)
        mode, _kind, oid = meta.split()
        top[name] = gitio.TreeEntry(mode, name, oid)

    def folder(name: str) -> dict[str, gitio.TreeEntry]:
        if name not in folders:
            entries = {}
            if name in top:
                for line in git(root, "ls-tree", top[name].oid).splitlines():
                    meta, entry = line.split("\t", 1)
                    mode, _kind, oid = meta.split()
                    entries[entry] = gitio.TreeEntry(mode, entry, oid)
            folders[name] = entries
        return folders[name]

    def put(path: str, data: bytes) -> None:
        where, name = path.split("/")
        oid = objects.write("blob", data)
        folder(where)[name] = gitio.TreeEntry("100644", name, oid)
        (root / where).mkdir(exist_ok=True)
        (root / path).write_bytes(data)

    def snapshot(changed: set[str]) -> str:
        for where in changed:
            top[where] = gitio.TreeEntry("40000", where, objects.write_tree(
                folder(where).values()))
        return objects.write_tree(top.values())

    clock = time.time() - activities * 60

    def stamp(offset: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(clock + offset)) + \
            f".{int((clock + offset) % 1 * 1e6):06d}+00:00"

    agent = {"name": "Bench", "email": "bench@example.com"}
    with no_fsync():
        for n in range(activities):
            clock += 60
            prev = tree
            touched: set[str] = set()
            if n % 20 == 19:  # a file changed outside prov before this command
                path = f"img{(n * 7) % (files // 1000):03}/f{n % 1000:03}.bin"
                put(path, content(n) + b"edited")
                touched.add(path.split("/")[0])
                prev_before = snapshot(touched)
            else:
                prev_before = prev
            inputs = [f"img{(n * 13 + k) % (files // 1000):03}/f{(n * 31 + k) % 1000:03}.bin"
                      for k in range(2)]
            output = f"out{n % 50:02}/r{n % 400:03}.bin"
            put(output, content(n)[::-1] + output.encode())
            after = snapshot({output.split("/")[0]} | touched)
            activity, nonce = new_activity_id(repo.clone_id)
            record = {
                "id": activity, "nonce": nonce, "project": repo.project,
                "command": f"python3 step.py {inputs[0]} {output}",
                "cwd": ".", "shell": False, "exit_code": 0, "status": "ok",
                "agent": agent, "prev": prev, "before": prev_before, "after": after,
                "before_at": stamp(0), "before_done": stamp(0.1), "started": stamp(0.12),
                "ended": stamp(0.5), "after_at": stamp(0.52), "after_done": stamp(0.6),
                "named": sorted([inputs[0], output, "step.py"]),
                "activity": {"utility": "python3", "subcommand": "step.py",
                             "operands": ["step.py", inputs[0], output], "options": [],
                             "option_arguments": [], "python.script": "step.py",
                             "python.args": {}},
                "used": [{"path": "step.py", "role": "code"}] + [
                    {"path": p, "role": "read"} for p in inputs],
                "trace": {"complete": True, "deleted": [], "lost": 0, "untraced": [],
                          "mechanism": "preload+ptrace", "processes": 1,
                          "written": {output: True}, "last_write": {output: stamp(0.45)}},
            }
            journal.append(record)
            tree = after
            if n % 1000 == 999:
                print(f"  {n + 1:,} records", file=sys.stderr)


def rebuild_repo(root: Path, activities: int, files: int) -> Path:
    """The journal of `activities` activities over `files` files; returns the saved index
    (caught up with all but the last 100 records)."""
    saved = root.parent / (root.name + "-index")
    if (root / ".git").exists() and saved.exists():
        search_copy(saved)
        return saved
    shutil.rmtree(root, ignore_errors=True)
    base_repo(root)
    print(f"writing {files:,} files ...", file=sys.stderr)
    write_files(root, files)
    timed([PROV, "true"], root)  # a real capture: the files appear in its snapshot
    real = min(100, activities - 1)
    print(f"appending {activities - 2 - real:,} records ...", file=sys.stderr)
    synthetic_journal(root, activities - 2 - real, files)
    timed([PROV, "log", "-n", "1"], root)
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir()
    for name in ("index.duckdb", "index.duckdb.wal", "index.tips", "quarantine-index.json"):
        if (root / ".git" / "prov" / name).exists():
            shutil.copy2(root / ".git" / "prov" / name, saved / name)
    search_copy(saved)
    print(f"{real} real captures ...", file=sys.stderr)
    (root / "last").mkdir(exist_ok=True)
    for n in range(real):
        timed([PROV, "python3", "step.py", f"img{n % (files // 1000):03}/f{n:03}.bin",
               f"last/o{n:03}.bin"], root)
    return saved


def search_copy(saved: Path) -> None:
    """The search copy of the saved index, as the read that caught it up left it: restored
    with it, so the catch-up copies what the 100 records changed, not the whole graph (which
    it does once after a rebuild)."""
    if (saved / "search.sqlite").exists():
        return
    from provgraph.stores.adjacency import SearchIndex
    from provgraph.stores.embedded import EmbeddedStore

    store = EmbeddedStore(saved / "index.duckdb", read_only=True)
    try:
        SearchIndex(saved / "search.sqlite", store).close()
    finally:
        store.close()


def restore(root: Path, saved: Path) -> None:
    folder = root / ".git" / "prov"
    for name in ("index.duckdb.wal", "search.sqlite", "search.sqlite-wal", "search.sqlite-shm"):
        (folder / name).unlink(missing_ok=True)
    for copy in saved.iterdir():
        shutil.copy2(copy, folder / copy.name)


def part_rebuild(base: Path, activities: int, files: int, runs: int) -> None:
    root = base / f"rebuild-{activities}-{files}"
    saved = rebuild_repo(root, activities, files)
    counts = subprocess.run([PROV, "sql", "SELECT label, count(*) FROM nodes GROUP BY ALL "
                             "ORDER BY 1"], cwd=root, capture_output=True, text=True, env=ENV)
    samples: dict[str, list[float]] = {"rebuild": [], "catch-up": [], "log": []}
    for _ in range(runs):
        samples["log"].append(timed([PROV, "log", "-n", "1"], root))  # nothing to catch up
        samples["rebuild"].append(timed([PROV, "rebuild"], root))
        restore(root, saved)
        samples["catch-up"].append(timed([PROV, "log", "-n", "1"], root))
    m = {k: statistics.median(v) for k, v in samples.items()}
    print(f"## a journal of {activities:,} activities over {files:,} files (medians, s)\n")
    print(counts.stdout.strip() + "\n")
    print("| prov rebuild | catch-up of the last 100 records (prov log -n 1) "
          "| prov log -n 1, nothing new |")
    print("|---|---|---|")
    print(f"| **{m['rebuild']:.2f}** | {m['catch-up']:.2f} | {m['log']:.2f} |")
    print("\ntarget: prov rebuild <= 30 s\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="files,rebuild",
                        help="files, rebuild, journal (benchmarks/journal_scale.py)")
    parser.add_argument("--sizes", default="3000,100000", help="new files, for --part files")
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=100_000, help="for --part rebuild")
    parser.add_argument("--journal-activities", default="100000",
                        help="for --part journal: journal lengths, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="build the repositories here and keep them")
    args = parser.parse_args()
    if not PROV:
        raise SystemExit("prov is not installed in this environment (pip install -e .)")
    base = Path(args.keep or tempfile.mkdtemp(prefix="prov-index-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"prov: {PROV}\nruns per figure: {args.runs}\n")
    try:
        for part in args.part.split(","):
            if part == "files":
                part_files(base, [int(s) for s in args.sizes.split(",")], args.runs)
            elif part == "rebuild":
                part_rebuild(base, args.activities, args.files, args.runs)
            elif part == "journal":
                script = Path(__file__).with_name("journal_scale.py")
                subprocess.run([sys.executable, str(script), "--activities",
                                args.journal_activities, "--runs", str(args.runs),
                                "--keep", str(base / "journal")], check=True)
            else:
                raise SystemExit(f"unknown part {part!r} (files, rebuild, journal)")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
