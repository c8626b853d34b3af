"""Segmentation at 10^4 to 10^6 vertices, on both indexes, against the baseline Cypher.

For each size, one pass of the synthetic lifecycle generator (benchmarks/generate_lifecycle.py,
default parameters, `--vertices N`) is loaded at once into a standalone embedded index (a DuckDB
file in a temporary folder, by `EmbeddedStore` bulk writes) and into a project of its own on
the Neo4j server (ids prefixed per run and size, since ids are global in Neo4j). Then, over the
same source/destination pairs:

- embedded: `provgraph.queries.segment.segment(store, [src], [dst])` with the default criteria
  (context included), in-process on `EmbeddedStore(path, read_only=True)` (DuckDB itself);
- search: the same call on the embedded index's search copy (`provgraph.stores.adjacency`, the
  graph's adjacency in SQLite, which is what `prov segment` reads on the embedded index),
  made from the DuckDB file before the measurements (its build time is reported);
- neo4j: the same call on `Neo4jStore(uri, project)`;
- baseline: the obvious Cypher on the same server, a variable-length path match from the
  destination back to the source returning the nodes on the paths:

      MATCH p = (d:Entity)-[:wasGeneratedBy|used|wasDerivedFrom*]->(s:Entity)
      WHERE d.id IN $dst AND s.id IN $src AND d.project = $project
        AND all(r IN relationships(p) WHERE type(r) <> 'wasDerivedFrom' OR r.missing = true)
      UNWIND nodes(p) AS n RETURN DISTINCT n.id

  (the relationship predicate gives it the segment's semantics: revisions recorded by prov
  are not derivation steps, changes made outside it are), each query bounded by a server-side
  transaction timeout (--timeout); timeouts are counted. Where it finishes, its node set is
  compared with the segment's core.

Pairs (deterministic for --seed): destinations are uniformly random entities that some activity
generated (so uniformly spread over the history); for 4/5 of them the source is found by a
random walk back 1, 2, 3 or 4 activities (entity -wasGeneratedBy-> activity -used-> entity,
a random input at each step), so a derivation path is known to exist; for the other 1/5 the
source is an entity generated later than the destination, which no path can reach (every
derivation points back in time): the search must find that out. Segment sizes are reported
next to the times.

Each index is measured in a worker process of its own (so its peak RSS is its own): a warm-up
of 2 pairs, then every pair timed (wall clock, median and p95); a segmentation that runs past
--segment-timeout is stopped and counted. Memory: peak Python allocation per segmentation
(tracemalloc, on the first --memory-pairs pairs, in a second pass so that tracing does not
slow the timed one) and the worker's peak RSS (DuckDB's buffers included). The workers also
count the store queries (one per hop) and the rows they return, and time them, to show where
the time goes.

Usage: python benchmarks/segment.py [--sizes 10000,100000,1000000] [--pairs 50]
       [--timeout 10] [--segment-timeout 120] [--uri bolt://...] [--json results.json]
(default URI: PROV_NEO4J_URI, else the development server of tests/neo4j/server, started if
needed). The benchmark's projects are deleted from Neo4j afterwards (--keep keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import generate_lifecycle as gl

SERVER = Path(__file__).parent.parent / "tests" / "neo4j" / "server"

BASELINE = (
    "MATCH p = (d:Entity)-[:wasGeneratedBy|used|wasDerivedFrom*]->(s:Entity) "
    "WHERE d.id IN $dst AND s.id IN $src AND d.project = $project "
    "AND all(r IN relationships(p) WHERE type(r) <> 'wasDerivedFrom' OR r.missing = true) "
    "UNWIND nodes(p) AS n RETURN DISTINCT n.id AS id"
)


def server_uri(given: str | None) -> str:
    if given or os.environ.get("PROV_NEO4J_URI"):
        return given or os.environ["PROV_NEO4J_URI"]
    out = subprocess.run([SERVER, "start"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- loading


class Timed(gl.Sink):
    """A sink that keeps the time spent in it."""

    def __init__(self, sink: gl.Sink):
        self.sink = sink
        self.seconds = 0.0

    def write(self, nodes: list[dict], edges: list[dict]) -> None:
        start = time.perf_counter()
        self.sink.write(nodes, edges)
        self.seconds += time.perf_counter() - start

    def close(self) -> str:
        start = time.perf_counter()
        said = self.sink.close()
        self.seconds += time.perf_counter() - start
        return said


def load(size: int, db: Path, uri: str, project: str, prefix: str, seed: int
         ) -> dict[str, Any]:
    embedded = Timed(gl.EmbeddedSink(db, project))
    neo4j = Timed(gl.Neo4jSink(uri, project))
    start = time.perf_counter()
    result = gl.load(gl.stream(vertices=size, seed=seed, prefix=prefix), [embedded, neo4j],
                     progress=True)
    embedded.close()
    neo4j.close()
    total = time.perf_counter() - start
    return {"vertices": result["vertices"], "edges": result["edges"],
            "generate_s": total - embedded.seconds - neo4j.seconds,
            "embedded_load_s": embedded.seconds, "neo4j_load_s": neo4j.seconds}


# --------------------------------------------------------------------------- pairs


def choose_pairs(db: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` pairs: 4/5 with a source 1-4 activities back along a random walk, 1/5 with a
    source generated after the destination (no path). See the module docstring."""
    from provgraph.stores.embedded import EmbeddedStore

    rng = random.Random(seed)
    with EmbeddedStore(db, read_only=True) as store:
        _, rows = store.sql("SELECT source, target FROM edges WHERE type = 'wasGeneratedBy' "
                            "ORDER BY source")
        maker = dict(rows)  # entity -> the activity that generated it
        generated = [entity for entity, _ in rows]
        order = {entity: int(activity.rsplit("-", 1)[1]) for entity, activity in rows}
        pairs: list[dict[str, Any]] = []
        unconnected = count // 5
        attempts = 0
        while len(pairs) < count - unconnected:
            attempts += 1
            hops = 1 + len(pairs) % 4
            dst = rng.choice(generated)
            here = dst
            for _ in range(hops):
                activity = maker.get(here)
                if activity is None:
                    break
                inputs = sorted(e.target for e in store.edges([activity], "out", ["used"]))
                if not inputs:
                    break
                here = rng.choice(inputs)
            else:
                pairs.append({"src": here, "dst": dst, "hops": hops, "connected": True})
            if attempts > 100 * count:
                raise RuntimeError("could not find connected pairs: is the graph too small?")
        while len(pairs) < count:
            dst = rng.choice(generated)
            later = [e for e in (rng.choice(generated) for _ in range(50))
                     if order[e] > order[dst]]
            if later:
                pairs.append({"src": later[0], "dst": dst, "hops": None, "connected": False})
    return pairs


# --------------------------------------------------------------------------- workers


class Counting:
    """Wraps a store: counts and times its queries (step, edges, nodes) and the rows returned."""

    def __init__(self, store):
        self.store = store
        self.reset()

    def reset(self) -> None:
        self.queries = 0
        self.rows = 0
        self.seconds = 0.0
        self.largest = 0  # ids in the largest frontier queried

    def __getattr__(self, name: str):
        method = getattr(self.store, name)
        if name not in ("step", "edges", "nodes"):
            return method

        def counted(ids, *args, **kwargs):
            ids = list(ids)
            start = time.perf_counter()
            result = method(ids, *args, **kwargs)
            self.seconds += time.perf_counter() - start
            self.queries += 1
            self.rows += len(result)
            self.largest = max(self.largest, len(ids))
            return result

        return counted


def peak_rss_kb() -> int:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over from
    the parent through fork and exec, so a worker would report the benchmark's own peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout()


def worker(args: argparse.Namespace) -> None:
    """Time segment() over the pairs on one index; JSON results on stdout."""
    from provgraph.queries.segment import segment

    def open_store():
        if args.worker == "embedded":
            from provgraph.stores.embedded import EmbeddedStore

            return EmbeddedStore(Path(args.db), read_only=True)
        if args.worker == "search":
            from provgraph.stores.adjacency import SearchIndex

            return SearchIndex(Path(args.db))
        from provgraph.stores.neo4j import Neo4jStore

        return Neo4jStore(args.uri, args.project)

    pairs = json.loads(Path(args.pairs).read_text())
    rss_start = peak_rss_kb()
    store = open_store()
    rss_open = peak_rss_kb()
    signal.signal(signal.SIGALRM, _alarm)

    def run(pair: dict[str, Any], counting: Counting) -> dict[str, Any]:
        nonlocal store
        counting.reset()
        signal.setitimer(signal.ITIMER_REAL, args.segment_timeout)
        start = time.perf_counter()
        try:
            seg = segment(counting, [pair["src"]], [pair["dst"]])
            elapsed = time.perf_counter() - start
        except Exception as exc:  # the alarm, or the store interrupted by it
            signal.setitimer(signal.ITIMER_REAL, 0)
            if not isinstance(exc, Timeout) and time.perf_counter() - start < args.segment_timeout:
                raise
            with contextlib.suppress(Exception):  # a connection the alarm broke
                store.close()
            store = open_store()
            counting.store = store
            return {"seconds": None, "queries": counting.queries, "rows": counting.rows}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return {"seconds": elapsed, "core": len(seg.core), "nodes": len(seg.nodes),
                "edges": len(seg.edges), "queries": counting.queries, "rows": counting.rows,
                "query_seconds": counting.seconds, "largest_frontier": counting.largest,
                "core_ids": sorted(seg.core)}

    counting = Counting(store)
    for pair in pairs[:2]:  # warm-up
        run(pair, counting)
    results = []
    for i, pair in enumerate(pairs):
        results.append(run(pair, counting))
        r = results[-1]
        took = f"{r['seconds']:.3f} s" if r["seconds"] is not None else "timeout"
        log(f"  {args.worker} pair {i + 1}/{len(pairs)}: {took}, core {r.get('core')}, "
            f"{r['queries']} queries, {r['rows']} rows")
    # memory: a second pass under tracemalloc, on pairs that finished
    memory = []
    for pair, r in zip(pairs, results, strict=True):
        if len(memory) >= args.memory_pairs:
            break
        if r["seconds"] is None:
            continue
        tracemalloc.start()
        traced = run(pair, counting)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if traced["seconds"] is not None:
            memory.append({"peak_bytes": peak, "nodes": traced["nodes"],
                           "core": traced["core"]})
    store.close()
    rss_end = peak_rss_kb()
    print(json.dumps({"results": results, "memory": memory, "rss_start_kb": rss_start,
                      "rss_open_kb": rss_open, "rss_peak_kb": rss_end}))


def has_search() -> bool:
    try:
        import provgraph.stores.adjacency  # noqa: F401
    except ImportError:
        return False
    return True


def build_search(db: Path, path: Path) -> float:
    """Make the search copy of the embedded index; seconds taken."""
    from provgraph.stores.adjacency import SearchIndex
    from provgraph.stores.embedded import EmbeddedStore

    start = time.perf_counter()
    with EmbeddedStore(db, read_only=True) as store, SearchIndex(path, store):
        pass
    return time.perf_counter() - start


def measure(kind: str, pairs_file: Path, args: argparse.Namespace, **where: str
            ) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--pairs", str(pairs_file),
               "--segment-timeout", str(args.segment_timeout),
               "--memory-pairs", str(args.memory_pairs)]
    for key, value in where.items():
        command += [f"--{key}", value]
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- baseline


def baseline(uri: str, project: str, pairs: list[dict[str, Any]], timeout: float
             ) -> list[dict[str, Any]]:
    from neo4j import GraphDatabase, Query
    from neo4j.exceptions import ClientError, TransientError

    results = []
    with GraphDatabase.driver(uri, auth=None, notifications_min_severity="OFF") as driver:
        for i, pair in enumerate(pairs):
            query = Query(BASELINE, timeout=timeout)
            start = time.perf_counter()
            try:
                with driver.session(database="neo4j") as session:
                    ids = [r["id"] for r in session.run(query, src=[pair["src"]],
                                                        dst=[pair["dst"]], project=project)]
                results.append({"seconds": time.perf_counter() - start, "ids": sorted(ids)})
                took = f"{results[-1]['seconds']:.3f} s, {len(ids)} nodes"
            except (ClientError, TransientError) as exc:
                code = exc.code or ""
                kind = "timeout" if "Timed" in code or "Terminated" in code else code
                results.append({"seconds": None, "failure": kind,
                                "after": time.perf_counter() - start})
                took = kind
            log(f"  baseline pair {i + 1}/{len(pairs)}: {took}")
    return results


# --------------------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(size: int, loaded: dict[str, Any], pairs: list[dict[str, Any]],
            runs: dict[str, dict[str, Any]], base: list[dict[str, Any]], timeout: float,
            segment_timeout: float) -> dict[str, Any]:
    out: dict[str, Any] = {"size": size, "load": loaded, "indexes": {}}
    for kind, run in runs.items():
        done = [r for r in run["results"] if r["seconds"] is not None]
        times = [r["seconds"] for r in done]
        ratios = []
        bounds = []
        agree = compared = 0
        for r, b in zip(run["results"], base, strict=True):
            if r["seconds"] is None:
                continue
            if b["seconds"] is not None:
                ratios.append(b["seconds"] / r["seconds"])
                compared += 1
                agree += set(b["ids"]) == set(r["core_ids"])
            else:
                bounds.append(timeout / r["seconds"])
        memory = run["memory"]
        out["indexes"][kind] = {
            "p50": statistics.median(times) if times else None,
            "p95": percentile(times, 0.95) if times else None,
            "max": max(times) if times else None,
            "finished": len(done), "timeouts": len(run["results"]) - len(done),
            "core_median": statistics.median([r["core"] for r in done]) if done else None,
            "core_max": max((r["core"] for r in done), default=None),
            "nodes_median": statistics.median([r["nodes"] for r in done]) if done else None,
            "nodes_max": max((r["nodes"] for r in done), default=None),
            "queries_median": statistics.median([r["queries"] for r in done]) if done else None,
            "rows_median": statistics.median([r["rows"] for r in done]) if done else None,
            "query_share": (sum(r["query_seconds"] for r in done) / sum(times)) if times else None,
            "speedup_median": statistics.median(ratios) if ratios else None,
            "speedup_min": min(ratios) if ratios else None,
            "speedup_lower_bound_on_timeouts": statistics.median(bounds) if bounds else None,
            "baseline_agrees": f"{agree}/{compared}",
            "tracemalloc_peak_median_mb": (statistics.median([m["peak_bytes"] for m in memory])
                                           / 2**20 if memory else None),
            "tracemalloc_peak_max_mb": (max(m["peak_bytes"] for m in memory) / 2**20
                                        if memory else None),
            "memory_pairs": [(m["nodes"], round(m["peak_bytes"] / 2**20, 2)) for m in memory],
            "rss_open_mb": run["rss_open_kb"] / 1024,
            "rss_peak_mb": run["rss_peak_kb"] / 1024,
        }
    done = [b["seconds"] for b in base if b["seconds"] is not None]
    out["baseline"] = {
        "p50_finished": statistics.median(done) if done else None,
        "finished": len(done), "timeouts": len(base) - len(done), "timeout": timeout,
        "failures": sorted({b.get("failure") for b in base if b["seconds"] is None}),
    }
    out["segment_timeout"] = segment_timeout
    out["pairs"] = [{**p, **{k: runs[k]["results"][i].get("seconds") for k in runs},
                     "core": runs["embedded"]["results"][i].get("core"),
                     "nodes": runs["embedded"]["results"][i].get("nodes"),
                     "baseline": base[i]["seconds"]} for i, p in enumerate(pairs)]
    return out


def fmt(value: float | None, unit: str = "s", digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f} {unit}".strip()


def print_tables(results: list[dict[str, Any]]) -> None:
    print("\n| vertices (edges) | index | p50 | p95 | max | finished | core median / max "
          "| segment vertices median / max | store queries / rows, median (share of time in "
          "queries) | Python peak median / max (tracemalloc) | worker peak RSS (after open) "
          "| vs baseline where it finished: median (min) | vs baseline where it timed out "
          "| same answer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        size = f"{r['load']['vertices']:,} ({r['load']['edges']:,})"
        for kind, x in r["indexes"].items():
            speed = (f"{ratio(x['speedup_median'])} ({ratio(x['speedup_min'])})"
                     if x["speedup_median"] is not None else "-")
            bound = (f">= {ratio(x['speedup_lower_bound_on_timeouts'])}"
                     if x["speedup_lower_bound_on_timeouts"] is not None else "-")
            share = f"{x['query_share']:.0%}" if x["query_share"] is not None else "-"
            print(f"| {size} | {kind} | **{fmt(x['p50'])}** | {fmt(x['p95'])} | "
                  f"{fmt(x['max'])} | {x['finished']}/{x['finished'] + x['timeouts']} | "
                  f"{x['core_median']:g} / {x['core_max']} | {x['nodes_median']:g} / "
                  f"{x['nodes_max']} | {x['queries_median']:g} / {x['rows_median']:g} "
                  f"({share}) | {fmt(x['tracemalloc_peak_median_mb'], 'MB', 1)} / "
                  f"{fmt(x['tracemalloc_peak_max_mb'], 'MB', 1)} | "
                  f"{x['rss_peak_mb']:.0f} MB ({x['rss_open_mb']:.0f} MB) | {speed} | {bound} | "
                  f"{x['baseline_agrees']} |")
        b = r["baseline"]
        print(f"| {size} | baseline Cypher | {fmt(b['p50_finished'])} (finished ones) | | | "
              f"{b['finished']}/{b['finished'] + b['timeouts']} in {b['timeout']:g} s "
              f"| | | | | | | | |")
    print("\n| vertices | generate | load embedded (EmbeddedStore.write) | load Neo4j "
          "(Neo4jStore.write) | search copy (SQLite) from the embedded index |")
    print("|---|---|---|---|---|")
    for r in results:
        x = r["load"]
        total = x["vertices"] + x["edges"]
        print(f"| {x['vertices']:,} | {x['generate_s']:.0f} s | {x['embedded_load_s']:.0f} s "
              f"({total / x['embedded_load_s']:,.0f} elements/s) | {x['neo4j_load_s']:.0f} s "
              f"({total / x['neo4j_load_s']:,.0f} elements/s) | "
              f"{fmt(x.get('search_build_s'), 's', 0)} |")


def ratio(value: float) -> str:
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--pairs", default="50", help="pairs per size (or, in a worker, a file)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds per baseline Cypher query")
    parser.add_argument("--segment-timeout", type=float, default=120.0,
                        help="seconds per segmentation before it is stopped and counted")
    parser.add_argument("--memory-pairs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uri")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the Neo4j projects")
    parser.add_argument("--worker", choices=["embedded", "search", "neo4j"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from provgraph.stores.neo4j import Neo4jStore

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the projects
    uri = server_uri(args.uri)
    run_id = os.urandom(3).hex()
    log(f"Neo4j {uri}; run {run_id}; {os.cpu_count()} cores")
    results = []
    with tempfile.TemporaryDirectory(prefix="prov-segment-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            project = f"bench-segment-{size}-{run_id}"
            db = Path(tmp) / f"{size}.duckdb"
            search = Path(tmp) / f"{size}.search.sqlite" if has_search() else None
            log(f"\n{size:,} vertices: generating and loading (project {project})")
            try:
                loaded = load(size, db, uri, project, f"s{size}x{run_id}", args.seed)
                log(f"  loaded: {loaded}")
                pairs = choose_pairs(db, int(args.pairs), args.seed + size)
                pairs_file = Path(tmp) / f"{size}.pairs.json"
                pairs_file.write_text(json.dumps(pairs))
                runs = {"embedded": measure("embedded", pairs_file, args, db=str(db))}
                if search:
                    loaded["search_build_s"] = build_search(db, search)
                    log(f"  search copy made in {loaded['search_build_s']:.1f} s")
                    runs["search"] = measure("search", pairs_file, args, db=str(search))
                runs["neo4j"] = measure("neo4j", pairs_file, args, uri=uri, project=project)
                base = baseline(uri, project, pairs, args.timeout)
            finally:
                if not args.keep:
                    with Neo4jStore(uri, project) as store:
                        store.delete_project()
                for path in (db, search):
                    if path:
                        path.unlink(missing_ok=True)
            results.append(summary(size, loaded, pairs, runs, base, args.timeout,
                                   args.segment_timeout))
            log(json.dumps({k: v for k, v in results[-1].items() if k != "pairs"}, indent=1))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"`{' '.join([Path(sys.executable).name, *sys.argv])}`")
    print_tables(results)


if __name__ == "__main__":
    main()
