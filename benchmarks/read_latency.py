"""How long read commands take on a repository of 10,000 activities, against `git log -n 20`.

The repository: a git repository whose journal holds `--activities` activities of the
synthetic lifecycle (benchmarks/generate_lifecycle.py: agents, files, versions, used and
generated files, changes made outside prov), written as graph records of about one activity
each (`--chunk` elements a record, so the journal has thousands of commits as a real one
would), then a few real captures on top (`prov cp ...`, `prov sh -c ...`), whose files the
commands below show. The first read indexes it all; the figures are of reads after that (the
state a user is in between captures).

Timed, interleaved, each `--runs` times (median; wall time of the whole process, and its CPU
time, which a shared machine disturbs less): `git log -n 20` (the baseline), the interpreter's
floor (`python -c pass`, `python -c 'import provgraph'`), `prov log -n 20`, `prov show PATH`,
`prov lineage PATH`, `prov status`; ratios to `git log -n 20` and to the floor.

Then `prov sync` of a small repository (a few captures, ~155 elements) to a real Neo4j
server: the first sync (schema and every element) into a server that just started (once) and
into a running one (each from a fresh repository: median), a second with nothing new, and one
after a capture. The server is `--neo4j-uri`, else the tests' own (tests/neo4j/server start, on the
ports in PROV_TEST_NEO4J_BOLT_PORT / PROV_TEST_NEO4J_HTTP_PORT; stopped after if this started
it). `--no-sync` skips it.

Usage: python benchmarks/read_latency.py [--activities 10000] [--runs 15] [--keep DIR]
                                         [--neo4j-uri bolt://...] [--no-sync]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
PROV = shutil.which("prov", path=str(Path(PYTHON).parent)) or shutil.which("prov")
SERVER = BENCH.parent / "tests" / "neo4j" / "server"
# Python may write bytecode caches, as on a user's machine
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process, its output read as a pipe."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.decode().strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def new_repo(root: Path) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    (root / "input.txt").write_text("".join(f"{i},{i * i}\n" for i in range(100)))
    git(root, "add", "input.txt")
    git(root, "commit", "-qm", "start")


def captures(root: Path, count: int) -> None:
    """`count` real captures, a chain: each reads the last file written and writes the next."""
    last = "input.txt"
    for i in range(count):
        out = f"step{i}.txt"
        run([PROV, "sh", "-c", f"sort -r {last} > {out}"], root)
        last = out


def build(root: Path, activities: int, chunk: int) -> None:
    started = time.perf_counter()
    new_repo(root)
    print(f"writing {activities:,} synthetic activities into the journal "
          f"(graph records of {chunk} elements) ...", file=sys.stderr)
    subprocess.run([PYTHON, str(BENCH / "generate_lifecycle.py"), "--activities",
                    str(activities), "--chunk", str(chunk), "--journal", str(root)],
                   check=True, stdout=subprocess.DEVNULL, env=ENV)
    captures(root, 5)
    indexed = time.perf_counter()
    run([PROV, "log", "-n", "1"], root)  # the first read indexes everything
    records = run(["git", "rev-list", "--count", "--all", "--glob=refs/prov/journal"],
                  root).strip()
    print(f"built in {indexed - started:.0f} s, indexed in {time.perf_counter() - indexed:.0f} s"
          f" ({records} commits)", file=sys.stderr)


def reads(root: Path, runs: int) -> dict[str, tuple[float, float]]:
    commands = {
        "git log -n 20": ["git", "log", "-n", "20"],
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -c 'import provgraph'": [PYTHON, "-c", "import provgraph"],
        "prov log -n 20": [PROV, "log", "-n", "20"],
        "prov show step4.txt": [PROV, "show", "step4.txt"],
        "prov lineage step4.txt": [PROV, "lineage", "step4.txt"],
        "prov status": [PROV, "status"],
    }
    for args in commands.values():  # warm up: caches, bytecode, the search copy
        timed(args, root)
        timed(args, root)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, args in commands.items():
            samples[name].append(timed(args, root))
    return {name: (statistics.median(w for w, _c in got), statistics.median(c for _w, c in got))
            for name, got in samples.items()}


def report_reads(figures: dict[str, tuple[float, float]], activities: int, runs: int) -> None:
    base_wall, base_cpu = figures["git log -n 20"]
    floor_wall, _floor_cpu = figures["python -c 'import provgraph'"]
    print(f"\n### Read commands, {activities:,} activities (median of {runs}, interleaved)\n")
    print("| command | wall ms | CPU ms | wall / git log | wall / import provgraph "
          "| CPU / git log |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (wall, cpu) in figures.items():
        print(f"| `{name}` | {wall * 1000:.1f} | {cpu * 1000:.1f} | {wall / base_wall:.1f}x "
              f"| {wall / floor_wall:.2f}x | {cpu / max(base_cpu, 1e-6):.1f}x |")
    print(f"\nTarget: each prov read <= 3x `git log -n 20` ({3 * base_wall * 1000:.1f} ms); the "
          f"interpreter alone (`python -c 'import provgraph'`) takes {floor_wall * 1000:.1f} ms "
          f"({floor_wall / base_wall:.1f}x).")


# -- prov sync ------------------------------------------------------------------------------


def neo4j_server(uri: str | None) -> tuple[str, bool]:
    """The URI to sync with, and whether this script started the server."""
    if uri:
        return uri, False
    started = subprocess.run([str(SERVER), "status"], capture_output=True).returncode != 0
    proc = subprocess.run([str(SERVER), "start"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the Neo4j server did not start: {proc.stderr[-2000:]}")
    return proc.stdout.strip().splitlines()[-1], started


def sync_repo(root: Path) -> int:
    """A small repository of 15 captures; returns how many elements it syncs."""
    shutil.rmtree(root, ignore_errors=True)
    new_repo(root)
    for i in range(15):
        run([PROV, "sh", "-c", f"cat input.txt > out{i}.txt; echo {i} >> input.txt"], root)
    out = run([PROV, "sql", "--json", "SELECT (SELECT count(*) FROM nodes) + "
               "(SELECT count(*) FROM edges) AS n"], root)
    return int("".join(ch for ch in out if ch.isdigit()))


def sync(workdir: Path, uri: str, runs: int) -> tuple[int, list[tuple[str, float]]]:
    """(elements of a first sync, [(what, median wall seconds)]).

    A first sync is timed into a server that just started (its JVM cold: what a developer's
    first try sees) once, then into a running server `runs` times, each from a repository of
    its own (a new project: every element is new to the server), as a team's server is."""
    repos = [workdir / f"sync{i}" for i in range(runs + 1)]
    elements = [sync_repo(root) for root in repos]
    for root in repos:
        run([PROV, "config", "set", "neo4j.uri", uri], root)
    cold, _cpu = timed([PROV, "sync"], repos[0])
    first = [timed([PROV, "sync"], root)[0] for root in repos[1:]]
    again = [timed([PROV, "sync"], root)[0] for root in repos[1:]]
    # a capture starts a background sync; let it finish, then time a sync after a capture
    after = []
    for root in repos[1:]:
        run([PROV, "sh", "-c", "cat input.txt > last.txt"], root)
        time.sleep(2)
        after.append(timed([PROV, "sync"], root)[0])
    rows = [("first sync, into a server that just started (once)", cold),
            ("first sync, into a running server", statistics.median(first)),
            ("second sync (nothing new)", statistics.median(again)),
            ("sync after a capture (its background sync ran)", statistics.median(after))]
    return elements[0], rows


def report_sync(elements: int, rows: list[tuple[str, float]], runs: int) -> None:
    print(f"\n### prov sync to Neo4j (first sync: {elements} elements; medians of {runs})\n")
    print("| sync | wall s |")
    print("|---|---:|")
    for name, wall in rows:
        print(f"| {name} | {wall:.2f} |")
    print("\ntarget: a first sync of ~155 elements < 2 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=11,
                        help="elements per journal record (~11: one activity a record)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", help="build (or reuse) the repositories here")
    parser.add_argument("--neo4j-uri", help="sync to this server instead of the tests' own")
    parser.add_argument("--no-sync", action="store_true")
    args = parser.parse_args()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="read-latency-"))
    try:
        root = workdir / f"reads-{args.activities}"
        if not root.exists():
            build(root, args.activities, args.chunk)
        report_reads(reads(root, args.runs), args.activities, args.runs)
        if not args.no_sync:
            uri, started = neo4j_server(args.neo4j_uri)
            try:
                report_sync(*sync(workdir, uri, min(args.runs, 5)), min(args.runs, 5))
            finally:
                if started:
                    subprocess.run([str(SERVER), "stop"], capture_output=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
