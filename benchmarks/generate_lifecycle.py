"""A synthetic data-science lifecycle, for benchmarks and tests at any size.

Agents run activities; each activity uses a few recent versions of files (the choice is skewed
toward recently written files, as real work keeps returning to the latest data and models) and
writes new versions of a few files, each derived from the version it replaces. The result is
a PROV graph in provgraph's model (`Entity`, `Activity`, `Agent`; `used`, `wasGeneratedBy`,
`wasDerivedFrom`, `wasAttributedTo`, `wasAssociatedWith`), deterministic for a seed.

Usage:
    python benchmarks/generate_lifecycle.py --activities 10000 --out graph.provjson
    python benchmarks/generate_lifecycle.py --activities 10000 --journal path/to/repo

With --journal, the graph goes into that repository's provgraph journal (created with a first
commit if needed), as graph records of at most --chunk elements each; `prov sync` then loads
it into Neo4j like any captured history.
"""

from __future__ import annotations

import argparse
import bisect
import random
import subprocess
from pathlib import Path
from typing import Any

UTILITIES = [("python3", "train.py"), ("python3", "clean.py"), ("python3", "evaluate.py"),
             ("caffe", "train"), ("sort", None), ("Rscript", "plot.R")]


def generate(activities: int, files: int = 1000, agents: int = 5, fan_in: tuple[int, int] = (1, 3),
             fan_out: tuple[int, int] = (1, 2), skew: float = 1.2, seed: int = 0
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Nodes and edges of `activities` activities over `files` files.

    `skew` is the exponent of the recency preference: the file written r places ago is chosen
    with weight 1 / (r + 1) ** skew (0 is uniform).
    """
    rng = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    people = [f"agt-synth-{i}" for i in range(agents)]
    for i, agent in enumerate(people):
        nodes.append({"id": agent, "label": "Agent",
                      "properties": {"name": f"agent{i}", "email": f"agent{i}@example.com"}})
    current: dict[int, tuple[str, int]] = {}  # file -> (entity id, version)
    recent: list[int] = []  # files, most recently written last
    weights = [1.0 / (r + 1) ** skew for r in range(files)]
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]

    def pick(count: int) -> list[int]:
        chosen: set[int] = set()
        while len(chosen) < count:
            if recent and rng.random() < 0.8:
                rank = bisect.bisect(cumulative, rng.random() * cumulative[len(recent) - 1])
                chosen.add(recent[-1 - min(rank, len(recent) - 1)])
            else:
                chosen.add(rng.randrange(files))
        return sorted(chosen)

    def version(file: int) -> str:
        if file not in current:  # first met: a version nobody generated
            entity = f"ent-synth-{file}-1"
            nodes.append({"id": entity, "label": "Entity", "properties": _entity(file, 1)})
            current[file] = (entity, 1)
        return current[file][0]

    for a in range(activities):
        activity = f"act-synth-{a}"
        agent = people[rng.randrange(agents)]
        utility, sub = UTILITIES[rng.randrange(len(UTILITIES))]
        used = pick(rng.randint(*fan_in))
        made = pick(rng.randint(*fan_out))
        started = _time(a)
        nodes.append({"id": activity, "label": "Activity", "properties": {
            "name": f"{utility} {sub or ''} #{a + 1}".replace("  ", " "),
            "command": " ".join(p for p in (utility, sub, *(f"f{u}.csv" for u in used)) if p),
            "utility": utility, **({"subcommand": sub} if sub else {}),
            "options": [], "option_arguments": [], "operands": [f"f{u}.csv" for u in used],
            "exit_code": 0, "status": "ok", "started": started, "ended": _time(a, 0.5),
            "cwd": ".",
        }})
        edges.append({"type": "wasAssociatedWith", "source": activity, "target": agent,
                      "properties": {}})
        for file in used:
            edges.append({"type": "used", "source": activity, "target": version(file),
                          "properties": {"role": "argument"}})
        for file in made:
            previous = current.get(file)
            number = previous[1] + 1 if previous else 1
            entity = f"ent-synth-{file}-{number}"
            nodes.append({"id": entity, "label": "Entity", "properties": _entity(file, number)})
            edges.append({"type": "wasGeneratedBy", "source": entity, "target": activity,
                          "properties": {}})
            edges.append({"type": "wasAttributedTo", "source": entity, "target": agent,
                          "properties": {}})
            if previous:
                edges.append({"type": "wasDerivedFrom", "source": entity, "target": previous[0],
                              "properties": {}})
            current[file] = (entity, number)
            if file in recent:
                recent.remove(file)
            recent.append(file)
            if len(recent) > files:
                recent.pop(0)
    return nodes, edges


def _entity(file: int, number: int) -> dict[str, Any]:
    path = f"data/f{file}.csv"
    return {"name": f"{path}@v{number}", "path": path, "version": number,
            "digest": f"{(file * 1_000_003 + number * 7919) % (1 << 64):016x}",
            "size": 1000 + (file * number) % 9000}


def _time(index: int, offset: float = 0.0) -> str:
    seconds = 1_767_225_600 + index * 60 + offset  # one activity a minute from 2026-01-01
    import time

    whole = int(seconds)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            + f".{int((seconds - whole) * 1e6):06d}+00:00")


def to_journal(root: Path, nodes: list[dict], edges: list[dict], chunk: int = 50_000) -> int:
    """Append the graph to a repository's journal in records of at most `chunk` elements
    (nodes first, so that every record's edges find their ends already loaded)."""
    from provgraph.journal import Journal
    from provgraph.repo import Repository

    if not (root / ".git").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                        "commit", "-q", "--allow-empty", "-m", "synthetic lifecycle"],
                       cwd=root, check=True)
    repo = Repository.discover(root)
    repo.ensure_prov_dir()
    journal = Journal(repo)
    elements = [("node", n) for n in nodes] + [("edge", e) for e in edges]
    records = 0
    for start in range(0, len(elements), chunk):
        part = elements[start : start + chunk]
        journal.append_graph([x for kind, x in part if kind == "node"],
                             [x for kind, x in part if kind == "edge"],
                             source=f"generate_lifecycle.py part {records + 1}")
        records += 1
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, required=True)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--fan-in", type=int, nargs=2, default=(1, 3), metavar=("MIN", "MAX"))
    parser.add_argument("--fan-out", type=int, nargs=2, default=(1, 2), metavar=("MIN", "MAX"))
    parser.add_argument("--skew", type=float, default=1.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="write W3C PROV-JSON here")
    parser.add_argument("--journal", help="append to this repository's provgraph journal")
    parser.add_argument("--chunk", type=int, default=50_000)
    args = parser.parse_args()
    nodes, edges = generate(args.activities, args.files, args.agents, tuple(args.fan_in),
                            tuple(args.fan_out), args.skew, args.seed)
    print(f"{len(nodes)} nodes, {len(edges)} edges")
    if args.out:
        from provgraph.export import serialize
        from provgraph.model import Edge, Node

        Path(args.out).write_text(serialize(
            [Node(n["id"], n["label"], n["properties"]) for n in nodes],
            [Edge(e["type"], e["source"], e["target"], e["properties"]) for e in edges], "json"))
    if args.journal:
        records = to_journal(Path(args.journal), nodes, edges, args.chunk)
        print(f"appended {records} graph record(s) to {args.journal}")


if __name__ == "__main__":
    main()
