"""How fast `prov summarize` merges segments, against a naive pairwise merge.

Target: 1,000 segments summarized in <= 2 s.

The segments are what `prov segment` returns for a team's training runs (with context and
agents): a dataset prepared by `python prepare.py` (one of a few raw files), sometimes the solver
edited with `sed`, `caffe train` with the net and solver, sometimes `python plot.py` on the log,
and now and then a `clean` step of a test pipeline with inputs of its own (the path constraint
has to keep it apart from the training `clean`). About 14 vertices each, every version a vertex
of its own, three agents. Deterministic for its seed.

Measured, in the same run:
- `summarize()` at radius 0, 1 and 2 on all the segments (median of --runs);
- loading the same segments saved as JSON (`Segment.from_dict`, what `--segments` does);
- the baseline, a naive pairwise merge: each vertex in turn tries every summary vertex of its
  type, and each trial merge is checked against the whole summary (every summary path of at
  most 4 edges against every path of every segment, recomputed), undone on a violation. It is
  quadratic or worse, so it runs on the first --baseline-segments segments only, next to the
  greedy merge on those same segments; both must give summaries of the same size.

Usage: python benchmarks/summarize.py [--segments 1000] [--runs 5] [--baseline-segments 10,20,40]
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

from provgraph.model import Edge, Node
from provgraph.queries.segment import Segment
from provgraph.queries.summarize import (
    DEFAULT_PATH_LENGTH,
    DERIVATION,
    Abstraction,
    Summary,
    _Local,
    _Merger,
    summarize,
)

AGENTS = ("Alice", "Bob", "Carol")


class _Builder:
    def __init__(self, run: int):
        self.run = run
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        self.count = 0

    def entity(self, path: str, version: int | None = None) -> str:
        version = version if version is not None else self.run + 1
        node_id = f"ent-{path}@{version}"
        self.nodes[node_id] = Node(node_id, "Entity", {"path": path, "version": version,
                                                       "name": f"{path}@v{version}"})
        return node_id

    def activity(self, command: str, used: list[str], generated: list[str], agent: str) -> str:
        self.count += 1
        node_id = f"act-{self.run}-{self.count}"
        utility, _, sub = command.partition(" ")
        props = {"utility": utility, "name": f"{command} #{node_id}", "command": command}
        if sub:
            props["subcommand"] = sub
        self.nodes[node_id] = Node(node_id, "Activity", props)
        agent_id = f"agt-{agent}"
        self.nodes[agent_id] = Node(agent_id, "Agent", {"name": agent})
        self.edges.append(Edge("wasAssociatedWith", node_id, agent_id))
        self.edges += [Edge("used", node_id, e) for e in used]
        for e in generated:
            self.edges.append(Edge("wasGeneratedBy", e, node_id))
            self.edges.append(Edge("wasAttributedTo", e, agent_id))
        return node_id


def team_segments(count: int, seed: int = 1) -> list[Segment]:
    rng = random.Random(seed)
    segments = []
    for run in range(count):
        b = _Builder(run)
        who = rng.choice(AGENTS)
        raw = b.entity(f"raw_{rng.randrange(4)}.csv", 1)
        clean = b.entity("faces.csv")
        if rng.random() < 0.1:  # a test pipeline's clean step: other inputs, other outputs
            test_raw, test = b.entity("test_raw.csv", 1), b.entity("test.csv")
            b.activity("clean", [test_raw], [test], who)
            b.activity("python prepare.py", [raw, b.entity("prepare.py", 1), test], [clean], who)
        elif rng.random() < 0.3:
            b.activity("clean", [raw], [clean], who)
        else:
            b.activity("python prepare.py", [raw, b.entity("prepare.py", 1)], [clean], who)
        solver = b.entity("solver.prototxt", 2 * run + 2)
        if rng.random() < 0.4:  # the learning rate edited first
            old = b.entity("solver.prototxt", 2 * run + 1)
            b.activity("sed", [old], [solver], who)
            b.edges.append(Edge("wasDerivedFrom", solver, old))
        weights, log = b.entity("weights.caffemodel"), b.entity("train.log")
        b.activity("caffe train", [clean, b.entity("train_val.prototxt", 1), solver],
                   [weights, log], who)
        destination = weights
        if rng.random() < 0.5:
            destination = b.entity("acc.png")
            b.activity("python plot.py", [log, b.entity("plot.py", 1)], [destination], who)
        segments.append(Segment([raw], [destination], b.nodes, b.edges, set(b.nodes)))
    return segments


# -- the baseline: the same greedy merge, checked against the whole summary ------------------

class _NaiveMerger(_Merger):
    """Pairwise merge (the summary so far with one more segment) checked the obvious way:
    every summary path of at most `path_length` edges against every path of every segment,
    all recomputed at each trial."""

    def __init__(self, *args):
        super().__init__(*args)
        self.merged: list[tuple[_Local, list[int]]] = []

    def add(self, index, local):
        self.vertices += len(local.ids)
        mapping = self._first_choice(local)
        tried = [{c} for c in mapping]
        while True:  # every merge checked, whether or not it adds an edge
            mapped = {(mapping[a], t, mapping[b]) for a, t, b in local.edges}
            offending = self._offending(local, mapping, [
                e for e in mapped if e not in self.edges and e[1] in DERIVATION])
            if not offending:
                break
            self._undo(local, mapping, tried, offending)
        self._commit(index, local, mapping)

    def _offending(self, local, mapping, added):
        out: dict[int, set] = {}
        for c, edges in self.out.items():
            out.setdefault(c, set()).update(edges)
        for a, t, b in added:
            out.setdefault(a, set()).add((t, b))
        witnessed: set = set()
        for loc, classes in [*self.merged, (local, mapping)]:
            paths = [(v,) for v in range(len(loc.ids))]
            for _ in range(self.path_length):
                paths = [(*p, t, b) for p in paths for t, b in loc.deriv_out[p[-1]]]
                witnessed.update(tuple(classes[x] if k % 2 == 0 else x for k, x in enumerate(p))
                                 for p in paths)
        offending: set = set()
        paths = [(c,) for c in out]
        for length in range(self.path_length):
            paths = [(*p, t, c) for p in paths for t, c in out.get(p[-1], ())]
            if length:
                offending.update(p for p in paths if p not in witnessed)
        return offending

    def _commit(self, index, local, mapping):
        existing = len(self.kind)
        super()._commit(index, local, mapping)
        renumber: dict[int, int] = {}
        for c in mapping:
            if c >= existing and c not in renumber:
                renumber[c] = existing + len(renumber)
        self.merged.append((local, [renumber.get(c, c) for c in mapping]))


def naive_summarize(segments: list[Segment], radius: int = 0,
                    limit: int = DEFAULT_PATH_LENGTH) -> Summary:
    merger = _NaiveMerger(Abstraction(), radius, limit)
    for index, seg in enumerate(segments):
        merger.add(index, _Local.of(seg, merger.keys, radius, merger.types))
    return merger.summary(len(segments))


# -- measuring --------------------------------------------------------------------------------

def median_time(function, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-segments", default="10,20,40")
    args = parser.parse_args()

    segments = team_segments(args.segments)
    vertices = sum(len(s.nodes) for s in segments)
    edges = sum(len(s.edges) for s in segments)
    print(f"{args.segments} segments, {vertices} vertices, {edges} edges; "
          f"median of {args.runs} runs\n")
    print("| what | seconds | summary vertices | summary edges | compaction |")
    print("|---|---|---|---|---|")
    saved = [json.dumps(s.to_dict()) for s in segments]
    seconds, _ = median_time(lambda: [Segment.from_dict(json.loads(t)) for t in saved],
                             args.runs)
    print(f"| load {args.segments} saved segments (JSON) | {seconds:.3f} | | | |")
    for radius, limit in ((0, 2), (1, 2), (2, 2), (0, 4)):
        seconds, summary = median_time(
            lambda r=radius, n=limit: summarize(segments, radius=r, path_length=n), args.runs)
        print(f"| summarize, radius {radius}, paths checked up to {limit} edges | "
              f"**{seconds:.3f}** | {len(summary.nodes)} | {len(summary.edges)} | "
              f"{summary.compaction:.4f} |")
    print("\nBaseline (naive pairwise merge, whole-summary checks), radius 0, 2 edges:\n")
    print("| segments | naive s | greedy s | speed-up | naive vertices | greedy vertices "
          "| same summary |")
    print("|---|---|---|---|---|---|---|")
    for n in (int(x) for x in args.baseline_segments.split(",") if x):
        part = segments[:n]
        naive_s, naive = median_time(lambda p=part: naive_summarize(p), 1 if n > 100 else 3)
        greedy_s, greedy = median_time(lambda p=part: summarize(p), args.runs)
        same = naive.to_dict() == greedy.to_dict()
        print(f"| {n} | {naive_s:.3f} | {greedy_s:.4f} | {naive_s / greedy_s:,.0f}x | "
              f"{len(naive.nodes)} | {len(greedy.nodes)} | {'yes' if same else 'NO'} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
