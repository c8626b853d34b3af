"""How fast the journal reaches Neo4j: batched sync against one statement per element.

For each size, a synthetic lifecycle (benchmarks/generate_lifecycle.py) is written into a new
repository's journal; then, in the same run and on the same server:

- batched: `prov sync --full` as provgraph does it (`UNWIND` of 5,000 rows, `MERGE` by id),
  timed in two parts: the journal into the embedded index, and the index into Neo4j;
- baseline: the obvious loader, one auto-committed `MERGE` statement per node and per
  relationship, run for at most --baseline-seconds (its rate is what it reached by then).

Targets: >= 20,000 elements/s batched and >= 20x the per-element baseline.

Usage: python benchmarks/neo4j_ingest.py [--sizes 100000,1000000] [--uri bolt://...]
(default URI: PROV_NEO4J_URI, else the development server of tests/neo4j/server, started if
needed). The benchmark's projects are deleted from the database afterwards.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate_lifecycle import generate, to_journal

from provgraph.config import Config
from provgraph.journal.indexer import open_index
from provgraph.remotes import neo4j as sync
from provgraph.repo import Repository
from provgraph.stores.neo4j import ENDPOINTS, Neo4jStore

SERVER = Path(__file__).parent.parent / "tests" / "neo4j" / "server"


def server_uri(given: str | None) -> str:
    if given or os.environ.get("PROV_NEO4J_URI"):
        return given or os.environ["PROV_NEO4J_URI"]
    out = subprocess.run([SERVER, "start"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def batched(root: Path, uri: str) -> dict[str, float]:
    repo = Repository.discover(root)
    config = Config(repo.root, repo.prov_dir)
    config.set_local("neo4j.uri", uri)
    config.set_local("neo4j.autosync", "false")
    start = time.perf_counter()
    with open_index(repo):
        pass
    indexed = time.perf_counter()
    result = sync.sync(repo, full=True)
    pushed = time.perf_counter()
    return {"elements": result["elements"], "index": indexed - start, "push": pushed - indexed}


def baseline(uri: str, nodes: list[dict], edges: list[dict], project: str,
             seconds: float) -> dict[str, float]:
    """One auto-committed statement per element, ids prefixed so nothing MERGEs onto the
    batched load's nodes."""
    store = Neo4jStore(uri, project)
    store.ensure_schema()
    done = 0
    start = time.perf_counter()
    with store.driver.session() as session:
        for node in nodes:
            props = {**node["properties"], "id": "b-" + node["id"], "project": project}
            session.run(f"MERGE (n:{node['label']} {{id: $id}}) SET n = $props",
                        id=props["id"], props=props).consume()
            done += 1
            if time.perf_counter() - start > seconds:
                break
        else:
            for edge in edges:
                source, target = ENDPOINTS[edge["type"]]
                session.run(f"MATCH (a:{source} {{id: $s}}) MATCH (b:{target} {{id: $t}}) "
                            f"MERGE (a)-[r:{edge['type']}]->(b) SET r = $props",
                            s="b-" + edge["source"], t="b-" + edge["target"],
                            props=edge["properties"]).consume()
                done += 1
                if time.perf_counter() - start > seconds:
                    break
    elapsed = time.perf_counter() - start
    store.delete_project()
    store.close()
    return {"elements": done, "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--uri")
    parser.add_argument("--baseline-seconds", type=float, default=30.0)
    args = parser.parse_args()
    uri = server_uri(args.uri)
    print(f"Neo4j: {uri}; batch {os.environ.get('PROV_NEO4J_BATCH', 5000)} rows a statement\n")
    print("| elements | journal -> index | index -> Neo4j | batched elements/s (push) "
          "| end to end elements/s | baseline elements/s (one statement each) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="prov-neo4j-bench-") as tmp:
            nodes, edges = generate(activities=max(1, size // 10), seed=size)
            root = Path(tmp) / "repo"
            to_journal(root, nodes, edges)
            result = batched(root, uri)
            repo = Repository.discover(root)
            base = baseline(uri, nodes, edges, f"bench-baseline-{repo.project}",
                            args.baseline_seconds)
            with Neo4jStore(uri, repo.project) as store:
                store.delete_project()
        elements = result["elements"]
        push_rate = elements / result["push"]
        end_rate = elements / (result["index"] + result["push"])
        base_rate = base["elements"] / base["seconds"]
        speedup = push_rate / base_rate
        print(f"| {elements:,} | {result['index']:.1f} s | {result['push']:.1f} s | "
              f"**{push_rate:,.0f}** | {end_rate:,.0f} | {base_rate:,.0f} "
              f"({base['elements']:,} in {base['seconds']:.0f} s) | **{speedup:.0f}x** |",
              flush=True)


if __name__ == "__main__":
    main()
