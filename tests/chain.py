"""A three-step chain of real Python scripts for the stale/rerun/restore tests:
data/raw.csv -> clean.py -> data/clean.csv -> train.py -> model.pkl."""

from __future__ import annotations

CLEAN = """\
rows = open("data/raw.csv").read().splitlines()
kept = [r for r in rows if int(r.split(",")[1]) > 1]
open("data/clean.csv", "w").write("\\n".join(kept) + "\\n")
"""

TRAIN = """\
rows = open("data/clean.csv").read().splitlines()
open("model.pkl", "w").write(str(sum(int(r.split(",")[1]) for r in rows)) + "\\n")
"""

REPORT = """\
rows = open("data/clean.csv").read().splitlines()
open("report.txt", "w").write(f"{len(rows)} rows\\n")
"""


def make_chain(repo, ignored: bool = False) -> None:
    """Write the scripts and the data, and run clean then train under prov (`#1`, `#2`).
    `ignored`: data/ is git-ignored (recorded by digest, as in most DVC projects)."""
    repo.write("data/raw.csv", "a,1\nb,2\nc,3\n")
    repo.write("clean.py", CLEAN)
    repo.write("train.py", TRAIN)
    if ignored:
        repo.write(".gitignore", "/data/\n")
    repo.ok("python3", "clean.py")
    repo.ok("python3", "train.py")


def one_line_error(proc) -> str:
    """The single line a failing command printed (never a traceback)."""
    assert proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
