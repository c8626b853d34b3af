"""Where file access cannot be traced, prov says so once and records what it can."""

from __future__ import annotations

from graph import Graph

SCRIPT = "import sys\nopen(sys.argv[2], 'w').write(open(sys.argv[1]).read())\n"


def test_without_the_tracer_prov_says_so_once_and_falls_back(repo):
    repo.write("copy.py", SCRIPT)
    repo.write("in.txt", "x\n")
    repo.commit_all()
    missing = {"PROV_TRACE_LIBRARY": str(repo.root / "no-such-library.so")}

    first = repo.ok("python3", "copy.py", "in.txt", "out.txt", env=missing)
    second = repo.ok("python3", "copy.py", "in.txt", "out2.txt", env=missing)

    notes = [line for line in first.stderr.splitlines() if line.startswith("prov: note:")]
    assert len(notes) == 1 and "audit hook" in notes[0], first.stderr
    assert "prov: note:" not in second.stderr  # once per clone and reason
    graph = Graph.of(repo)
    run = graph.activities()[0]
    # the audit hook of the Python process and the command line stand in for the trace
    assert {"copy.py@v1", "in.txt@v1"} <= set(graph.used(run))
    assert graph.generated(run) == ["out.txt@v1"]
    assert "processes" not in run.properties
    status = repo.ok("status", env=missing).stdout
    assert "tracing     off: the tracer was not built" in status


def test_tracing_turned_off_by_the_setting_is_not_announced(repo):
    repo.write("in.txt", "x\n")
    repo.commit_all()
    repo.ok("config", "set", "capture.trace", "off")
    proc = repo.ok("cp", "in.txt", "out.txt")
    assert "prov: note" not in proc.stderr
    graph = Graph.of(repo)
    [run] = graph.activities()
    assert graph.used(run) == ["in.txt@v1"] and graph.generated(run) == ["out.txt@v1"]
