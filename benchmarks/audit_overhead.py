"""What the Python audit hook costs a script that opens 10,000 files.

The hook (`provgraph/ingestors/audit/sitecustomize.py`) records every file a captured Python
program opens for reading. Here one script opens and reads 10,000 files, with and without
the hook, interleaved, at least 9 times each; the figure is the ratio of the medians, for two
kinds of files: tiny ones (a line each: the worst case, the hook's cost against almost no
work) and 4 KB CSV files parsed with the csv module (closer to a real data loader).
Target: <= 10 %.

Usage: python benchmarks/audit_overhead.py [--runs N] [--files N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provgraph.ingestors.python import AUDIT_FOLDER

SCRIPT = """\
import csv, os, sys
total = 0
for folder in sorted(os.listdir("data")):
    for name in sorted(os.listdir(os.path.join("data", folder))):
        with open(os.path.join("data", folder, name), newline="") as handle:
            total += sum(1 for _ in csv.reader(handle)) if sys.argv[1:] == ["csv"] \\
                else len(handle.read())
print(total)
"""


def run(root: Path, env: dict[str, str], parse: bool) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "read_all.py", *(["csv"] if parse else [])], cwd=root,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(files: int, runs: int, row: str, parse: bool) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory(prefix="prov-audit-") as tmp:
        root = Path(tmp)
        for i in range(files):
            folder = root / "data" / f"d{i % 100:02}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{i}.csv").write_text(row.format(i=i))
        (root / "read_all.py").write_text(SCRIPT)
        audit_file = root / "reads.txt"
        plain = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        hooked = {**plain, "PYTHONPATH": AUDIT_FOLDER, "PROV_AUDIT_FILE": str(audit_file)}
        run(root, plain, parse)  # warm the caches
        without, with_hook = [], []
        for _ in range(runs):
            without.append(run(root, plain, parse))
            audit_file.unlink(missing_ok=True)
            with_hook.append(run(root, hooked, parse))
        recorded = len(audit_file.read_bytes().splitlines())
    return statistics.median(without), statistics.median(with_hook), recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    print(f"{args.files:,} files opened and read, {args.runs} runs each (medians)\n")
    print("| files | without the hook | with the hook | overhead | reads recorded |")
    print("|---|---|---|---|---|")
    kinds = [("tiny (one line), read", "{i},{i}\n", False),
             ("4 KB CSV, parsed with csv", "{i},0.5,label\n" * 200, True)]
    for label, row, parse in kinds:
        base, hook, recorded = measure(args.files, args.runs, row, parse)
        print(f"| {label} | {base * 1000:.1f} ms | {hook * 1000:.1f} ms | "
              f"**{(hook / base - 1) * 100:+.1f} %** | {recorded:,} |", flush=True)
    print("\ntarget: overhead <= 10 %")


if __name__ == "__main__":
    main()
