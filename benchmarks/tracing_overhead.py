"""What tracing every process costs, against tracing off, the bare command, and the peers.

Cases (issue 11):
- `py-files`: a Python script reading 10,000 small files of the repository;
- `cat-loop`: a shell loop running `cat` 1,000 times;
- `make`: a Makefile pipeline of 5 steps (Python and shell recipes).

Each case is run, interleaved, at least 7 times in each way, and the figure is the median:
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
share of the bare command's time); a peer's cost is `peer - bare`. Targets: tracing adds
<= 10 % to the command's run time on the file-heavy cases, and costs >= 3x less than
`strace -f` and ReproZip on each.

Usage: python benchmarks/tracing_overhead.py [--runs N] [--cases py-files,cat-loop,make]
       [--reprozip-bin DIR] [--keep DIR]
Prints a Markdown table; the figures in benchmarks/RESULTS.md come from it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
        from provgraph.tracing.events import make_trace_file

        with contextlib.suppress(FileNotFoundError):
            os.unlink(env["PROV_TRACE_FILE"])
        make_trace_file(env["PROV_TRACE_FILE"])
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.decode()[-2000:]}")
    return elapsed


def ways(command: list[str], reprozip: str | None, scratch: Path) -> dict[str, tuple]:
    """Each way of running the command: (argv, extra environment)."""
    found = {
        "bare": (command, {}),
        "prov off": ([PROV, *command], {"PROV_TRACE": "off"}),
        "prov traced": ([PROV, *command], {}),
    }
    from provgraph.tracing import LIBRARY, TRACER

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


def run_case(case: str, runs: int, reprozip: str | None, base: Path) -> dict[str, float]:
    root = base / case
    command = make_repo(root, case)
    todo = ways(command, reprozip, base)
    for argv, extra in todo.values():  # warm caches once
        timed(argv, root, {**ENV, **extra})
    samples: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(runs):
        for name, (argv, extra) in todo.items():
            samples[name].append(timed(argv, root, {**ENV, **extra}))
    return {name: statistics.median(values) for name, values in samples.items()}


def mechanisms(results: dict[str, dict[str, float]]) -> str:
    """The mechanisms alone, on the bare command: what each adds to it."""
    lines = ["| case | bare | preload only | ptrace only | strace -f |", "|---|---|---|---|---|"]
    for case, m in results.items():
        cells = [f"{m[name] * 1000:.0f} ms ({(m[name] / m['bare'] - 1) * 100:+.0f} %)"
                 if name in m else "-" for name in ("preload only", "ptrace only", "strace -f")]
        lines.append(f"| {case} | {m['bare'] * 1000:.0f} ms | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results: dict[str, dict[str, float]]) -> str:
    """Tracing's cost in a capture is `prov traced - prov off` (negative when the fallback's
    own work, the audit hook's reads resolved one by one, costs more), and at least what the
    mechanism alone adds to the bare command; the peers' cost is what they add to it."""
    lines = ["| case | bare | prov off | prov traced | tracing adds | mechanism alone adds | "
             "strace -f | reprozip trace | strace cost / tracing cost | "
             "reprozip cost / tracing cost |", "|---|---|---|---|---|---|---|---|---|---|"]
    for case, m in results.items():
        alone = m.get("preload only", m["bare"])  # the default mechanism (ptrace: static only)
        cost = max(m["prov traced"] - m["prov off"], alone - m["bare"], 1e-3)

        def peer(name: str, m=m, cost=cost) -> tuple[str, str]:
            if name not in m:
                return "-", "-"
            return f"{m[name] * 1000:.0f} ms", f"{(m[name] - m['bare']) / cost:.1f}x"

        strace, strace_ratio = peer("strace -f")
        rz, rz_ratio = peer("reprozip trace")
        lines.append(
            f"| {case} | {m['bare'] * 1000:.0f} ms | {m['prov off'] * 1000:.0f} ms | "
            f"{m['prov traced'] * 1000:.0f} ms | "
            f"{(m['prov traced'] - m['prov off']) / m['bare'] * 100:+.1f} % | "
            f"{(alone - m['bare']) / m['bare'] * 100:+.1f} % | {strace} | {rz} | "
            f"{strace_ratio} | {rz_ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
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
    for case in args.cases.split(","):
        results[case] = run_case(case, args.runs, reprozip, base)
        print(f"{case}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in results[case].items()),
              file=sys.stderr)
    print(f"prov: {PROV}; python3: {PYTHON}; medians of {args.runs}; "
          f"reprozip: {reprozip or 'not found'}")
    print(report(results))
    print()
    print(mechanisms(results))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
