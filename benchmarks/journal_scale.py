"""What a long journal costs the paths that should only pay for what is new.

For each size N (10^5 by default; 10^6 with `--activities 100000,1000000`), two repositories
with the same work tree (100 small committed files): one with a journal of N capture records
written by `benchmarks/generate_journal.py` (4 chains, as after pulls), one with an empty
journal. Each is indexed once (not timed). Then, interleaved, at least 7 runs each, medians:

- capture: `prov true` and `prov dd ... bs=1M count=1` (a 1 MiB write), long journal against
  empty one; the target is a ratio within 1.10;
- catch-up of the 10 newest records: 10 `prov true` (not timed), then `prov log -n 1`, whose
  index catches up with them;
- `prov status` (journal count, index pending, quarantine listing);
- `prov pull` of 10 records: a clone of each repository, pulled once in full (not timed);
  per run 10 captures in the origin (not timed), then `prov pull` in the clone (fetch, the
  quarantine's judgement and the index catch-up of what arrived).

Usage: python benchmarks/journal_scale.py [--activities 100000[,1000000]] [--runs 7] [--keep DIR]
                                          [--parts capture,status,catchup,pull]
Prints a Markdown table: medians in seconds and the ratio long/empty.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_journal import fresh_repository, generate, verify

PROV = shutil.which("prov", path=str(Path(sys.executable).parent)) or shutil.which("prov")


def run(root: Path, *args: str) -> None:
    subprocess.run(args, cwd=root, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def prov(root: Path, *args: str) -> None:
    run(root, PROV, *args)


def timed(root: Path, *args: str) -> float:
    started = time.perf_counter()
    prov(root, *args)
    return time.perf_counter() - started


def work_tree(root: Path) -> None:
    """The same 100 small committed files in both repositories."""
    for i in range(100):
        (root / f"file{i:03}.txt").write_text(f"line {i}\n" * 20)
    (root / ".gitignore").write_text("out.bin\n")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-q", "-m", "files")


def setup(base: Path, activities: int, parts: set[str]) -> dict[str, dict[str, Path]]:
    """{"long": {...}, "empty": {...}}: each an origin repository and, for the pull, a clone of
    it, indexed and pulled once (when the parts measured need it)."""
    made = {}
    for name, size in (("long", activities), ("empty", 0)):
        origin = fresh_repository(base / f"{name}-origin")
        if size:
            started = time.perf_counter()
            generate(origin, size, chains=4, progress=True)
            verify(origin)
            print(f"generated {size:,} records in {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
        work_tree(origin)
        prov(origin, "true")  # this clone's own chain, and its last snapshot
        prov(origin, "status")  # the quarantine's first judgement of the whole journal
        made[name] = {"origin": origin}
        if not parts & {"catchup", "pull"}:
            continue
        started = time.perf_counter()
        prov(origin, "log", "-n", "1")  # the whole journal indexed once
        print(f"{name}: indexed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        if "pull" not in parts:
            continue
        clone = base / f"{name}-clone"
        run(base, "git", "clone", "-q", str(origin), str(clone))
        started = time.perf_counter()
        prov(clone, "pull")  # every chain, indexed
        print(f"{name}: first pull in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        made[name]["clone"] = clone
    return made


def interleaved(runs: int, cases: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            times[name].append(case())
    return times


def ten_then(root: Path, then: Callable[[], float], where: Path | None = None) -> float:
    for _ in range(10):
        prov(where or root, "true")
    return then()


PARTS = ("capture", "status", "catchup", "pull")


def measure(repos: dict[str, dict[str, Path]], runs: int, parts: set[str]
            ) -> list[tuple[str, float, float]]:
    rows = []
    operations: dict[str, tuple[str, Callable[[dict[str, Path]], float]]] = {
        "prov true": ("capture", lambda r: timed(r["origin"], "true")),
        "prov dd (1 MiB write)": ("capture", lambda r: timed(
            r["origin"], "dd", "if=/dev/zero", "of=out.bin", "bs=1M", "count=1")),
        "catch-up of 10 new records (prov log -n 1)": ("catchup", lambda r: ten_then(
            r["origin"], lambda: timed(r["origin"], "log", "-n", "1"))),
        "prov status": ("status", lambda r: timed(r["origin"], "status")),
        "prov pull of 10 records": ("pull", lambda r: ten_then(
            r["clone"], lambda: timed(r["clone"], "pull"), where=r["origin"])),
    }
    for label, (part, operation) in operations.items():
        if part not in parts:
            continue
        times = interleaved(runs, {name: (lambda r=r, op=operation: op(r))
                                         for name, r in repos.items()})
        long, empty = statistics.median(times["long"]), statistics.median(times["empty"])
        rows.append((label, long, empty))
        print(f"{label}: {long:.3f} s against {empty:.3f} s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activities", default="100000",
                        help="journal sizes, comma-separated (default 100000)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the repositories here and keep them")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"what to measure, comma-separated (default {','.join(PARTS)}); "
                             "catchup and pull index the long journal once first, which takes "
                             "as long as a `prov rebuild` of it")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        raise SystemExit(f"unknown parts: {', '.join(sorted(parts - set(PARTS)))}")
    if PROV is None:
        raise SystemExit("prov is not installed next to this Python")
    print("| journal | operation | long journal (s) | empty journal (s) | ratio |")
    print("|---|---|---|---|---|")
    for size in (int(n) for n in args.activities.split(",")):
        base = args.keep / str(size) if args.keep else Path(tempfile.mkdtemp(prefix="jscale-"))
        try:
            repos = setup(base, size, parts)
            for label, long, empty in measure(repos, args.runs, parts):
                print(f"| {size:,} | {label} | {long:.3f} | {empty:.3f} | "
                      f"{long / empty:.2f} |", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
