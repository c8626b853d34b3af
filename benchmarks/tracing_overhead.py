"""What tracing every process costs, against tracing off, the bare command, and the peers.

Cases (issue 11):
- `py-files`: a Python script reading 10,000 small files of the repository;
- `cat-loop`: a shell loop running `cat` 1,000 times;
- `make`: a Makefile pipeline of 5 steps (Python and shell recipes).

Each case runs in rounds (21 by default): in each, every way once, in a shuffled order; the
figures are medians over the rounds, and a cost is the median of the paired differences of a
round (neighbours in time share the machine's load), with their quartiles. The peers, tens of
times slower, run in the first 5 rounds only. The ways:
- `bare`: the command alone;
- `prov off`: `prov CMD` with tracing off (`PROV_TRACE=off`: the audit hook and command line);
- `prov traced`: `prov CMD` as a user runs it (LD_PRELOAD interposer, ptrace for static ones);
- `preload only`, `ptrace only`: the bare command under one mechanism alone, without prov
  (`LD_PRELOAD=libprovtrace.so`; `provtrace -- CMD`, ptrace and seccomp for every process):
  the measurement that chose the interposer as the default (docs/capture.md);
- `strace -f`: `strace -f -o /dev/null CMD`, the standard of truth, as a peer;
- `reprozip trace`: ReproZip's tracer (`pip install reprozip`; skipped when it is not found:
  give its folder with --reprozip-bin, e.g. a venv made with `python -m venv /tmp/rz &&
  /tmp/rz/bin/pip install reprozip`).

Tracing's cost is `prov traced - prov off` (what the trace adds to a captured command, as a
share of the bare command's time), and what the interposer alone adds to the bare command;
a peer's cost is `peer - bare`. Targets: tracing adds
<= 10 % to the command's run time on the file-heavy cases, and costs >= 3x less than
`strace -f` and ReproZip on each.

Usage: python benchmarks/tracing_overhead.py [--runs N] [--peer-runs N] [--seed N]
       [--cases py-files,cat-loop,make] [--reprozip-bin DIR] [--keep DIR]
Prints a Markdown table; the figures in benchmarks/RESULTS.md come from it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROV = shutil.which("prov", path=str(Path(sys.executable).parent)) or shutil.which("prov")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
#: The interpreter itself, not a launcher in front of it: a version manager's `python3` shim
#: (pyenv's is a bash script) starts dozens of processes per call, which would be timed as
#: the command's own. Commands and recipes find it first on PATH (`bin/` of the scratch folder).
PYTHON = os.path.realpath(getattr(sys, "_base_executable", sys.executable))

READ_FILES = """\
import os
total = 0
for folder in sorted(os.listdir("files")):
    for name in sorted(os.listdir(os.path.join("files", folder))):
        with open(os.path.join("files", folder, name)) as handle:
            total += len(handle.read())
open("total.txt", "w").write(f"{total}\\n")
"""

MAKEFILE = """\
all: report.txt

clean.csv: raw.csv clean.py
\tpython3 clean.py raw.csv clean.csv

sorted.csv: clean.csv
\tsort -t, -k2 -n clean.csv > sorted.csv

labels.txt: sorted.csv
\tcut -d, -f1 sorted.csv | sort | uniq -c > labels.txt

model.txt: sorted.csv train.py params.yaml
\tpython3 train.py

report.txt: model.txt labels.txt
\tcat model.txt labels.txt > report.txt

.PHONY: all
"""
CLEAN = ("import sys\nrows = open(sys.argv[1]).read().splitlines()\n"
         "open(sys.argv[2], 'w').write('\\n'.join(r.lower() for r in rows) + '\\n')\n")
TRAIN = ("lr = float(open('params.yaml').read().split(':')[1])\n"
         "rows = open('sorted.csv').read().splitlines()\n"
         "open('model.txt', 'w').write(f'{lr * len(rows)}\\n')\n")


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_repo(root: Path, case: str) -> list[str]:
    """A repository for the case; returns the command to run in it."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    if case == "py-files":
        for d in range(100):
            folder = root / "files" / f"d{d:02}"
            folder.mkdir(parents=True)
            for i in range(100):
                (folder / f"f{i:02}.txt").write_text(f"{d},{i}\n" * 8)
        (root / "read.py").write_text(READ_FILES)
        command = [PYTHON, "read.py"]
    elif case == "cat-loop":
        (root / "small.txt").write_text("hello\n")
        command = ["sh", "-c", "for i in $(seq 1000); do cat small.txt; done > out.txt"]
    elif case == "make":
        (root / "Makefile").write_text(MAKEFILE)
        (root / "raw.csv").write_text("".join(f"Name{i % 7},{i}\n" for i in range(2000)))
        (root / "clean.py").write_text(CLEAN)
        (root / "train.py").write_text(TRAIN)
        (root / "params.yaml").write_text("lr: 0.1\n")
        command = ["sh", "-c", "make -s -B all"]
    else:
        raise SystemExit(f"unknown case {case}")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return command


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    if "PROV_TRACE_FILE" in env:  # a fresh trace file for a mechanism run alone
        from provgraph.capture.tracing.events import make_trace_file

        with contextlib.suppress(FileNotFoundError):
            os.unlink(env["PROV_TRACE_FILE"])
        make_trace_file(env["PROV_TRACE_FILE"])
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.decode()[-2000:]}")
    CPU.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    return elapsed


def ways(command: list[str], reprozip: str | None, scratch: Path) -> dict[str, tuple]:
    """Each way of running the command: (argv, extra environment)."""
    found = {
        "bare": (command, {}),
        "prov off": ([PROV, *command], {"PROV_TRACE": "off"}),
        "prov traced": ([PROV, *command], {}),
    }
    from provgraph.capture.tracing import LIBRARY, TRACER

    trace = {"PROV_TRACE_FILE": str(scratch / "trace"), "PROV_TRACE_ROOTS": str(scratch)}
    if os.path.exists(LIBRARY):
        found["preload only"] = (command, {"LD_PRELOAD": LIBRARY, **trace})
    if os.access(TRACER, os.X_OK):
        found["ptrace only"] = ([TRACER, "--", shutil.which(command[0]) or command[0],
                                 *command[1:]], trace)
    if shutil.which("strace"):
        found["strace -f"] = (["strace", "-f", "-qq", "-o", os.devnull, *command], {})
    if reprozip:
        found["reprozip trace"] = ([reprozip, "trace", "--dont-identify-packages",
                                    "--overwrite", "-d", str(scratch / "rz"), *command], {})
    return found


PEERS = ("strace -f", "reprozip trace")
CPU: list[float] = []  # the processor time (user + system) of the last command timed




class Samples(dict):
    """way -> its times, round by round (index i of every way is one round, in which the ways
    ran one after the other in a shuffled order); `cpu`: the same for processor time."""

    cpu: Samples

    def median(self, way: str) -> float:
        return statistics.median(self[way])

    def paired(self, way: str, baseline: str) -> tuple[float, float, float]:
        """The median of `way - baseline` over the rounds both ran in, with the quartiles:
        neighbours in time share the machine's load, so their difference is steadier than a
        difference of medians."""
        n = min(len(self[way]), len(self[baseline]))  # the peers ran in the first rounds
        diffs = sorted(a - b for a, b in zip(self[way][:n], self[baseline][:n], strict=True))
        q1, _, q3 = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else diffs * 3
        return q1, statistics.median(diffs), q3


def run_case(case: str, runs: int, peer_runs: int, reprozip: str | None, base: Path,
             rng: random.Random) -> Samples:
    root = base / case
    command = make_repo(root, case)
    todo = ways(command, reprozip, base)
    for argv, extra in todo.values():  # warm caches once
        timed(argv, root, {**ENV, **extra})
    samples = Samples({name: [] for name in todo})
    cpu = Samples({name: [] for name in todo})
    for round_ in range(runs):
        names = [n for n in todo if n not in PEERS or round_ < peer_runs]
        rng.shuffle(names)
        for name in names:
            argv, extra = todo[name]
            samples[name].append(timed(argv, root, {**ENV, **extra}))
            cpu[name].append(CPU.pop())
    samples.cpu = cpu
    return samples


def mechanisms(results: dict[str, Samples]) -> str:
    """The mechanisms alone, on the bare command: what each adds to it (median of the paired
    differences, and their quartiles)."""
    lines = ["| case | bare | preload only | ptrace only | strace -f |", "|---|---|---|---|---|"]
    for case, m in results.items():
        bare = m.median("bare")
        cells = []
        for name in ("preload only", "ptrace only", "strace -f"):
            if name not in m:
                cells.append("-")
                continue
            q1, mid, q3 = m.paired(name, "bare")
            cells.append(f"{m.median(name) * 1000:.0f} ms ({mid / bare * 100:+.1f} %, "
                         f"IQR {q1 / bare * 100:+.1f}..{q3 / bare * 100:+.1f} %)")
        lines.append(f"| {case} | {bare * 1000:.0f} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results: dict[str, Samples]) -> str:
    """Tracing's cost in a capture is `prov traced - prov off`, paired round by round (both do
    the same capture; off records what the audit hook and the command line give), as a share
    of the bare command; the peers' cost is what they add to the bare command, and the ratio
    compares it with the larger of tracing's cost and what the interposer alone adds."""
    lines = ["| case | bare | prov off | prov traced | tracing adds (IQR) | "
             "tracing adds, CPU time | interposer alone adds | strace -f | reprozip trace | "
             "strace cost / tracing cost | reprozip cost / tracing cost |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for case, m in results.items():
        bare = m.median("bare")
        q1, adds, q3 = m.paired("prov traced", "prov off")
        alone = m.paired("preload only", "bare")[1] if "preload only" in m else 0.0
        cost = max(adds, alone, 1e-3)

        def peer(name: str, m=m, bare=bare, cost=cost) -> tuple[str, str]:
            if name not in m:
                return "-", "-"
            return (f"{m.median(name) * 1000:.0f} ms",
                    f"{(m.median(name) - bare) / cost:.1f}x")

        strace, strace_ratio = peer("strace -f")
        rz, rz_ratio = peer("reprozip trace")
        lines.append(
            f"| {case} | {bare * 1000:.0f} ms | {m.median('prov off') * 1000:.0f} ms | "
            f"{m.median('prov traced') * 1000:.0f} ms | "
            f"{adds / bare * 100:+.1f} % ({q1 / bare * 100:+.1f}..{q3 / bare * 100:+.1f}) | "
            f"{m.cpu.paired('prov traced', 'prov off')[1] / m.cpu.median('bare') * 100:+.1f} % | "
            f"{alone / bare * 100:+.1f} % | {strace} | {rz} | {strace_ratio} | {rz_ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--peer-runs", type=int, default=5,
                        help="rounds that also run strace -f and reprozip (tens of times slower)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--cases", default="py-files,cat-loop,make")
    parser.add_argument("--reprozip-bin", help="folder holding the reprozip executable")
    parser.add_argument("--keep", help="make the repositories here and keep them")
    args = parser.parse_args()
    if not PROV:
        raise SystemExit("prov is not installed in this Python (pip install -e .)")
    reprozip = (shutil.which("reprozip", path=args.reprozip_bin) if args.reprozip_bin
                else shutil.which("reprozip"))
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="prov-trace-bench-"))
    (base / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("python3", "python"):
        with contextlib.suppress(FileExistsError):
            (base / "bin" / name).symlink_to(PYTHON)
    ENV["PATH"] = f"{base / 'bin'}{os.pathsep}{ENV.get('PATH', '')}"
    results = {}
    rng = random.Random(args.seed)
    for case in args.cases.split(","):
        results[case] = run_case(case, args.runs, args.peer_runs, reprozip, base, rng)
        print(f"{case}: " + ", ".join(f"{k} {results[case].median(k) * 1000:.0f} ms"
                                      for k in results[case]), file=sys.stderr)
    print(f"prov: {PROV}; python3: {PYTHON}; medians of {args.runs} rounds "
          f"({args.peer_runs} for the peers); "
          f"reprozip: {reprozip or 'not found'}")
    print(report(results))
    print()
    print(mechanisms(results))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
