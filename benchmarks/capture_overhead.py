"""What `prov CMD` costs on top of CMD, on three repository shapes, against baselines run here.

Shapes: 100 small files; 10,000 small files in 100 folders; ~1 GB holding ten 100 MiB
binaries (over the 100 MB large-file limit, so kept by digest). Commands: `true`, and writing
a 1 MiB file (`dd`). Each is timed bare and under `prov`, interleaved, at least 7 times; the
figure is the median. A second table times what reading parameters costs: `prov cat` of one
small YAML file (its values become `params.*` properties of the run) against `prov cat` of a
text file of the same size (no parameters), and prints the ratio; warm: the version an
earlier run read, cold: a new version each run (both files edited before each run).

The baseline for the snapshot itself is a bare git snapshot as a script would take it:
`git add -A` into a copy of the index, `git write-tree` (the private index is reused so git's
stat cache works for it as it does for prov; prov takes two snapshots per command, before and
after).

Usage: python benchmarks/capture_overhead.py [--runs N] [--shapes small,many,large] [--keep DIR]
                                            [--against OTHER_PROV]
Prints a Markdown table; the figures in benchmarks/RESULTS.md come from it. `--against` also
times another installation's `prov` (e.g. the previous commit's, in another venv) on the same
repositories, interleaved with this one, and prints the ratio of the medians: how a change
moved the cost of a capture.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROV = shutil.which("prov", path=str(Path(sys.executable).parent)) or shutil.which("prov")
MB = 1024 * 1024


def git(root: Path, *args: str, env: dict | None = None) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def make_repo(root: Path, shape: str) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    if shape == "small":
        for i in range(100):
            (root / f"file{i:03}.txt").write_text(f"line {i}\n" * 20)
    elif shape == "many":
        for d in range(100):
            folder = root / f"dir{d:02}"
            folder.mkdir()
            for i in range(100):
                (folder / f"f{i:02}.csv").write_text(f"{d},{i}\n" * 5)
    elif shape == "large":
        for i in range(10):
            with open(root / f"model{i}.bin", "wb") as out:
                for _ in range(100):
                    out.write(os.urandom(MB))
        for i in range(20):
            (root / f"script{i}.py").write_text(f"print({i})\n")
    # Commit the small files the way a project would; binaries stay untracked (as with
    # DVC or git-annex projects), which is the case prov has to handle without copying them.
    git(root, "add", "--", *[p.name for p in root.iterdir()
                              if p.name != ".git" and not p.name.endswith(".bin")])
    git(root, "commit", "-qm", "start")


# Python may write bytecode caches, as on a user's machine (some sandboxes turn that off, which
# would make every run compile provgraph from source).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed: {proc.stderr.decode()}")
    return elapsed


def git_snapshot(root: Path) -> float:
    """The bare baseline: `git add -A` and `git write-tree` into a private index.

    The index is copied from the user's once and then reused, so git's stat cache spares
    re-hashing unchanged files, as prov's own private index does.
    """
    index = root / ".git" / "bench-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    if not index.exists():
        shutil.copyfile(root / ".git" / "index", index)
    start = time.perf_counter()
    subprocess.run(["git", "add", "-A"], cwd=root, env=env, check=True, capture_output=True)
    subprocess.run(["git", "write-tree"], cwd=root, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def write(target: str) -> list[str]:
    return ["dd", "if=/dev/urandom", f"of={target}", "bs=1048576", "count=1", "status=none"]


def measure(root: Path, runs: int) -> dict[str, float]:
    # The bare command writes into an ignored folder: its file must not look, to the next
    # `prov`, like a change made outside prov (which prov would rightly have to store).
    (root / "bare").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("/bare/\n")
    # warm up: seed prov's private index and digest cache, fill the OS caches
    timed([PROV, "true"], root)
    timed([PROV, *write("out.bin")], root)
    git_snapshot(root)
    samples: dict[str, list[float]] = {k: [] for k in
                                       ("true", "prov true", "write", "prov write", "git snapshot")}
    for _ in range(runs):
        samples["true"].append(timed(["true"], root))
        samples["prov true"].append(timed([PROV, "true"], root))
        samples["write"].append(timed(write("bare/out.bin"), root))
        samples["prov write"].append(timed([PROV, *write("out.bin")], root))
        samples["git snapshot"].append(git_snapshot(root))
    return {k: statistics.median(v) for k, v in samples.items()}


#: A small parameter file, as a training script reads it (12 values, nested, a list).
PARAMS_YAML = """\
train:
  lr: 0.01
  epochs: 20
  batch_size: 64
  optimizer: adam
  schedule: [10, 15]
model:
  depth: 3
  width: 128
  dropout: 0.1
data:
  path: data/train.csv
  shuffle: true
seed: 42
"""


def measure_params(root: Path, runs: int) -> dict[str, float]:
    """`prov cat params.yaml` (parameters read) against `prov cat` of a text file of the same
    size (none), interleaved, medians: warm (the version an earlier run read: prov keeps its
    parameters) and cold (each run reads a new version: both files are edited before it)."""
    (root / "params.yaml").write_text(PARAMS_YAML)
    (root / "notes.txt").write_text(PARAMS_YAML)
    git(root, "add", "params.yaml", "notes.txt")
    git(root, "commit", "-qm", "params")
    for name in ("params.yaml", "notes.txt"):  # warm up
        timed([PROV, "cat", name], root)
    samples: dict[str, list[float]] = {f"{how} {name}": [] for how in ("warm", "cold")
                                       for name in ("params.yaml", "notes.txt")}
    for i in range(runs):
        order = ("params.yaml", "notes.txt") if i % 2 == 0 else ("notes.txt", "params.yaml")
        for name in order:
            samples[f"warm {name}"].append(timed([PROV, "cat", name], root))
        for name in order:
            (root / name).write_text(PARAMS_YAML.replace("42", str(1000 + i)))
            samples[f"cold {name}"].append(timed([PROV, "cat", name], root))
    return {k: statistics.median(v) for k, v in samples.items()}


def compare(root: Path, runs: int, other: str) -> dict[str, float]:
    """This prov against another, interleaved (their order alternating), medians.

    Each works in its own copy of the repository: the caches under `.git/prov/` (the
    ingestors' entry-points.json is signed by the installation's sys.path) are each
    installation's own, and one renewing them on every turn would be measured as the other's
    cost."""
    mine = root.with_name(root.name + "-this")
    theirs = root.with_name(root.name + "-other")
    for copy in (mine, theirs):
        if not copy.exists():
            shutil.copytree(root, copy, symlinks=True)
    samples: dict[str, list[float]] = {k: [] for k in ("this true", "other true",
                                                        "this write", "other write")}
    for prov, where in ((PROV, mine), (other, theirs)):  # warm up, as measure() does
        timed([prov, "true"], where)
        timed([prov, *write("out.bin")], where)
    for i in range(runs):
        pairs = [("this", PROV, mine), ("other", other, theirs)]
        for who, prov, where in (pairs if i % 2 == 0 else pairs[::-1]):
            samples[f"{who} true"].append(timed([prov, "true"], where))
            samples[f"{who} write"].append(timed([prov, *write("out.bin")], where))
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--shapes", default="small,many,large")
    parser.add_argument("--keep", help="build the repositories here and keep them")
    parser.add_argument("--against", help="another prov executable to compare with")
    args = parser.parse_args()
    if not PROV:
        raise SystemExit("prov is not installed in this environment (pip install -e .)")
    base = Path(args.keep or tempfile.mkdtemp(prefix="prov-bench-"))
    names = {"small": "100 files", "many": "10,000 files / 100 folders",
             "large": "~1 GB, ten 100 MiB binaries"}
    print(f"prov: {PROV}\nruns per figure: {args.runs} (medians, ms)\n")
    print("| shape | true | prov true | overhead | write 1 MiB | prov write | overhead "
          "| bare git snapshot | overhead / 2 snapshots |")
    print("|---|---|---|---|---|---|---|---|---|")
    compared: list[str] = []
    params: list[str] = []
    try:
        for shape in args.shapes.split(","):
            root = base / shape
            if not root.exists():
                print(f"building {shape} ...", file=sys.stderr)
                make_repo(root, shape)
            m = {k: v * 1000 for k, v in measure(root, args.runs).items()}
            over_true = m["prov true"] - m["true"]
            over_write = m["prov write"] - m["write"]
            print(f"| {names[shape]} | {m['true']:.1f} | {m['prov true']:.1f} | "
                  f"**{over_true:.1f}** | {m['write']:.1f} | {m['prov write']:.1f} | "
                  f"**{over_write:.1f}** | {m['git snapshot']:.1f} | "
                  f"{over_true / (2 * m['git snapshot']):.2f}x |", flush=True)
            p = {k: v * 1000 for k, v in measure_params(root, args.runs).items()}
            for how in ("warm", "cold"):
                params.append(f"| {names[shape]} | {how} | {p[f'{how} notes.txt']:.1f} | "
                              f"{p[f'{how} params.yaml']:.1f} | "
                              f"**{p[f'{how} params.yaml'] / p[f'{how} notes.txt']:.3f}** |")
            if args.against:
                c = {k: v * 1000 for k, v in compare(root, args.runs, args.against).items()}
                compared.append(
                    f"| {names[shape]} | {c['other true']:.1f} | {c['this true']:.1f} | "
                    f"**{c['this true'] / c['other true']:.3f}** | {c['other write']:.1f} | "
                    f"{c['this write']:.1f} | **{c['this write'] / c['other write']:.3f}** |")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print("\nreading parameters (interleaved, medians, ms; ratio = params.yaml / notes.txt)\n")
    print("| shape | version | prov cat notes.txt (no parameters) | prov cat params.yaml "
          "(12 values) | ratio |")
    print("|---|---|---|---|---|")
    print("\n".join(params))
    if compared:
        print(f"\nagainst {args.against} (interleaved, medians, ms; ratio = this / other)\n")
        print("| shape | other: prov true | this: prov true | ratio | other: prov write "
              "| this: prov write | ratio |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(compared))
    print("\ntarget: overhead <= 80 ms on every shape (DataLad run 240-640 ms, DVC 400-500 ms "
          "per command, as reported by their users; not measured here)")


if __name__ == "__main__":
    main()
