"""`prov fileview` on the paper's query, against the paper's approach, why-provenance on and off.

The query is the one of ProvDB's file-view example (Miao and Deshpande, IEEE Data Eng. Bull.
41(4), 2018), verbatim:

    prov fileview -c -n=results.csv -q='select t._c2 as label, count(*) as err_cnt
        from {testfile.csv} as t, {predfile.csv} as r
        where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2'

over two headerless CSV files of N rows each: testfile.csv (id, feature, label) and
predfile.csv (id, score, predicted label; the same ids in another order, about 10% of the
labels wrong). The files are generated deterministically (integer hashing of the row number,
written by DuckDB) and their SHA-256 digests printed.

Measured in the same run, interleaved, each a whole process (start included):
- `prov fileview -c ...` in a real git repository, why-provenance on (`PROV_FILEVIEW_WHY=1`,
  the default) and off (`PROV_FILEVIEW_WHY=0`); the repository is warmed first by one untimed
  run (the first snapshot copies the inputs into git);
- the paper's approach: a Python process loading both files into an in-memory SQLite database
  with the csv module, running the same query (tables named after the files) and writing the
  result with the csv module; bounded by --sqlite-timeout (at 10^7 rows it is slow);
- `prov fileview why results.csv --row 1 --json` (the largest group: every wrong row of it).

Peak memory is each process's maximum resident set (wait4). The lineage's size is the
`fileview_lineage` rows of the run, copied alone into a fresh DuckDB file. The results of
prov and SQLite are compared: they must be the same rows.

Targets (issue 6): >= 10x faster than the SQLite approach at 2 x 10^6 rows, why-provenance
costing <= 2x.

Usage: python benchmarks/fileview.py [--rows 2000000,10000000] [--repeat 5]
       [--sqlite-repeat 3] [--sqlite-timeout 1800] [--work DIR]
Prints Markdown tables (the figures in benchmarks/RESULTS.md come from it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provgraph.capture.snapshot import file_sha256

PROV = shutil.which("prov", path=str(Path(sys.executable).parent)) or shutil.which("prov")
QUERY = ("select t._c2 as label, count(*) as err_cnt from {testfile.csv} as t, "
         "{predfile.csv} as r where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2")
PERMUTE = 1_000_003  # a prime: i -> i * PERMUTE mod N is a bijection for these N


def generate(folder: Path, n: int) -> None:
    """testfile.csv and predfile.csv with n rows each, the same for the same n."""
    import duckdb

    if n % PERMUTE == 0:
        raise SystemExit(f"--rows must not be a multiple of {PERMUTE}")
    con = duckdb.connect()
    label = "((i * 2654435761) % 4294967296 // 65536) % 10"
    con.execute(f"""COPY (SELECT i AS id, (i * 7919) % 100000 AS feature, {label} AS label
                          FROM range({n}) r(i) ORDER BY i)
                    TO '{folder / "testfile.csv"}' (HEADER false)""")
    wrong = "((i * 40503 + 12345) % 1000033) % 10 = 0"
    con.execute(f"""COPY (SELECT i AS id, (i * 104729) % 10000 AS score,
                                 CASE WHEN {wrong} THEN ({label} + 1 + i % 9) % 10
                                      ELSE {label} END AS predicted
                          FROM (SELECT (k * {PERMUTE}) % {n} AS i, k FROM range({n}) r(k))
                          ORDER BY k)
                    TO '{folder / "predfile.csv"}' (HEADER false)""")
    con.close()


SQLITE = r'''
import csv, sqlite3, sys
folder, out = sys.argv[1], sys.argv[2]
con = sqlite3.connect(":memory:")
for table in ("testfile", "predfile"):
    with open(f"{folder}/{table}.csv", newline="") as handle:
        rows = csv.reader(handle)
        first = next(rows)
        columns = ", ".join(f"_c{i}" for i in range(len(first)))
        con.execute(f"CREATE TABLE {table} ({columns})")
        insert = f"INSERT INTO {table} VALUES ({', '.join('?' * len(first))})"
        con.execute(insert, first)
        con.executemany(insert, rows)
result = con.execute("select t._c2 as label, count(*) as err_cnt from testfile as t, "
                     "predfile as r where t._c0 = r._c0 and t._c2 != r._c2 group by t._c2")
with open(out, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow([d[0] for d in result.description])
    writer.writerows(result)
'''

# as a user runs it: Python caches bytecode (this sandbox's environment says not to)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
def install_kind() -> str:
    """`editable` (pip install -e, the README's developer install) or `wheel`: an editable
    install adds an import hook that costs every process ~15 ms."""
    site = Path(sys.executable).parent.parent / "lib"
    return "editable" if any(site.glob("python3*/site-packages/__editable__*provgraph*")) \
        else "wheel"


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float | None = None) -> tuple[float | None, float, str]:
    """Seconds (None past the timeout), peak resident MB, stderr of one process."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env={**ENV, **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - started > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return None, usage.ru_maxrss / 1024, ""
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{text}")
    return elapsed, usage.ru_maxrss / 1024, text


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_repo(root: Path, n: int) -> dict[str, str]:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.name", "Bench")
    git(root, "config", "user.email", "bench@example.com")
    (root / "README.md").write_text(f"fileview benchmark, {n} rows\n")
    git(root, "add", "README.md")
    git(root, "commit", "-qm", "start")
    progress(f"generating 2 x {n:,} rows")
    generate(root, n)
    return {name: file_sha256(str(root / name)) for name in ("testfile.csv", "predfile.csv")}


def rows_of(path: Path) -> set[tuple[str, ...]]:
    with open(path, newline="") as handle:
        return {tuple(row) for row in csv.reader(handle)}


def lineage_size(root: Path, scratch: Path) -> tuple[int, int, int]:
    """(output rows, lineage pairs, bytes of those pairs alone in a DuckDB file)."""
    import duckdb

    copy = scratch / "lineage.duckdb"
    copy.unlink(missing_ok=True)
    con = duckdb.connect(str(copy))
    con.execute(f"ATTACH '{root / '.git' / 'prov' / 'index.duckdb'}' AS idx (READ_ONLY)")
    output_id, rows, pairs = con.execute(
        "SELECT output_id, rows, pairs FROM idx.fileview_lineage_outputs "
        "WHERE path = 'results.csv' ORDER BY output_id DESC LIMIT 1").fetchone()
    con.execute("CREATE TABLE lineage AS SELECT * FROM idx.fileview_lineage "
                "WHERE output_id = ?", [output_id])  # in the order it is stored
    con.execute("DETACH idx")
    con.execute("CHECKPOINT")
    con.close()
    return rows, pairs, copy.stat().st_size


def check_rows(root: Path, sources: list[dict]) -> None:
    """The rows `why` names hold the values it shows, line for line in the files."""
    for name in ("testfile.csv", "predfile.csv"):
        wanted = {s["row"]: s["values"] for s in sources if s["file"] == name}
        with open(root / name) as handle:
            for number, line in enumerate(handle, 1):  # headerless: row N is line N
                if number in wanted:
                    values = [str(v) for v in wanted.pop(number).values()]
                    if line.rstrip("\n").split(",") != values:
                        raise SystemExit(f"why names {name} row {number}, which is {line!r}")
        if wanted:
            raise SystemExit(f"why names rows past the end of {name}")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measure(n: int, work: Path, repeat: int, sqlite_repeat: int,
            sqlite_timeout: float) -> dict:
    root = work / f"repo-{n}"
    digests = make_repo(root, n)
    prov = [PROV]
    command = [*prov, "fileview", "-c", "-n=results.csv", f"-q={QUERY}"]
    on, off = {"PROV_FILEVIEW_WHY": "1"}, {"PROV_FILEVIEW_WHY": "0"}
    progress("warming up (first snapshot of the inputs)")
    first, first_mem, _ = run(command, root, on)
    times: dict[str, list[float]] = {"on": [], "off": [], "sqlite": []}
    memory: dict[str, list[float]] = {"on": [], "off": [], "sqlite": []}
    sqlite_out = work / f"sqlite-{n}.csv"
    sqlite_timed_out = False
    for i in range(repeat):
        modes = [("on", on), ("off", off)]
        for mode, env in modes if i % 2 else modes[::-1]:
            progress(f"{n:,} rows: prov fileview -c, why {mode} ({i + 1}/{repeat})")
            seconds, peak, _ = run(command, root, env)
            times[mode].append(seconds)
            memory[mode].append(peak)
        if i < sqlite_repeat and not sqlite_timed_out:
            progress(f"{n:,} rows: SQLite, the paper's approach ({i + 1}/{sqlite_repeat})")
            seconds, peak, _ = run([sys.executable, "-c", SQLITE, str(root), str(sqlite_out)],
                                   root, timeout=sqlite_timeout)
            if seconds is None:
                sqlite_timed_out = True
            else:
                times["sqlite"].append(seconds)
                memory["sqlite"].append(peak)
    run(command, root, on)  # leave the lineage of the last file in place
    same = None
    if times["sqlite"]:
        same = rows_of(root / "results.csv") == rows_of(sqlite_out)
        if not same:
            raise SystemExit(f"prov and SQLite disagree at {n} rows")
    progress(f"{n:,} rows: prov fileview why --row 1")
    why_times, why_sources = [], 0
    for _ in range(3):
        seconds, _, _ = run([*prov, "fileview", "why", "results.csv", "--row", "1", "--json"],
                            root)
        why_times.append(seconds)
    out = subprocess.run([*prov, "fileview", "why", "results.csv", "--row", "1", "--json"],
                         cwd=root, capture_output=True, text=True, check=True)
    sources = json.loads(out.stdout)["sources"]
    why_sources = len(sources)
    check_rows(root, sources[:: max(1, len(sources) // 200)])
    rows, pairs, size = lineage_size(root, work)
    med = {k: statistics.median(v) if v else None for k, v in times.items()}
    return {
        "n": n, "digests": digests, "first": first, "first_mem": first_mem,
        "times": times, "median": med, "memory": {k: max(v) if v else None
                                                  for k, v in memory.items()},
        "sqlite_timeout": sqlite_timeout if sqlite_timed_out else None, "same": same,
        "why": statistics.median(why_times), "why_sources": why_sources,
        "rows": rows, "pairs": pairs, "lineage_bytes": size,
        "input_bytes": sum((root / f).stat().st_size for f in digests),
        "install": install_kind(),
    }


def report(results: list[dict]) -> str:
    lines = [
        "| rows per file | prov fileview, why off | why on | why cost | SQLite (paper) "
        "| speed-up (why on) | speed-up (why off) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["median"]
        if m["sqlite"] is not None:
            sqlite = f"{m['sqlite']:.2f}"
            up_on, up_off = f"**{m['sqlite'] / m['on']:.1f}x**", f"{m['sqlite'] / m['off']:.1f}x"
        else:
            sqlite = f"> {r['sqlite_timeout']:.0f} (stopped)"
            up_on = f"> {r['sqlite_timeout'] / m['on']:.0f}x"
            up_off = f"> {r['sqlite_timeout'] / m['off']:.0f}x"
        lines.append(f"| {r['n']:,} | {m['off']:.2f} | {m['on']:.2f} | "
                     f"**{m['on'] / m['off']:.2f}x** | {sqlite} | {up_on} | {up_off} |")
    lines += ["", "Seconds, medians; every figure a whole process, start included.", "",
              "| rows per file | peak MB why off | why on | SQLite | first run (cold) "
              "| why --row 1 | input rows in it | lineage rows (pairs) | lineage bytes "
              "| bytes/pair | inputs (bytes) |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        mem = r["memory"]
        sqlite = f"{mem['sqlite']:.0f}" if mem["sqlite"] is not None else "-"
        lines.append(
            f"| {r['n']:,} | {mem['off']:.0f} | {mem['on']:.0f} | {sqlite} | "
            f"{r['first']:.2f} s | {r['why']:.2f} s | {r['why_sources']:,} | {r['pairs']:,} | "
            f"{r['lineage_bytes']:,} | {r['lineage_bytes'] / max(r['pairs'], 1):.2f} | "
            f"{r['input_bytes']:,} |")
    lines.append("")
    for r in results:
        runs = ", ".join(f"{k}: " + " ".join(f"{t:.2f}" for t in v)
                         for k, v in r["times"].items())
        lines.append(f"- {r['n']:,} rows: testfile.csv sha256 {r['digests']['testfile.csv'][:16]}"
                     f", predfile.csv {r['digests']['predfile.csv'][:16]}; runs ({runs}); "
                     f"results equal to SQLite's: {r['same']}; prov installed as "
                     f"{r['install']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000000,10000000",
                        help="comma-separated row counts per file")
    parser.add_argument("--repeat", type=int, default=5, help="prov runs per mode")
    parser.add_argument("--sqlite-repeat", type=int, default=3,
                        help="SQLite runs (1 past 2 x 10^6 rows)")
    parser.add_argument("--sqlite-timeout", type=float, default=1800.0, help="seconds")
    parser.add_argument("--work", type=Path, help="keep the repositories here")
    args = parser.parse_args()
    if PROV is None:
        raise SystemExit("prov is not installed in this environment (pip install -e .)")
    work = args.work or Path(tempfile.mkdtemp(prefix="fileview-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for n in (int(x) for x in args.rows.split(",")):
            repeats = args.sqlite_repeat if n <= 2_000_000 else 1
            results.append(measure(n, work, args.repeat, repeats, args.sqlite_timeout))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results))


if __name__ == "__main__":
    main()
