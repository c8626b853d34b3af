"""Catching the index up in bulk (issue 14, item 1): a catch-up over thousands of new files,
deletions, renames, re-adds and git-ignored files recorded by digest leaves the index a
rebuild makes, and the one a plain replay of every record (the way the index was made before
the bulk paths: every path's state in memory, record after record) gives; a catch-up killed
half way leaves an index the next read repairs to that same state."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import terminal
from conftest import PROV

from provgraph.journal.indexer import order_key, resolve
from provgraph.journal.records import Journal
from provgraph.journal.replay import Replay
from provgraph.repo import Repository
from provgraph.stores.embedded import LOAD_PREFIX, EmbeddedStore

FILES = 2500


def dump(repo) -> dict:
    """Every node, edge and path state of the repository's index, and the replay's counters
    (not the catch-up generation a row was written in, which a rebuild renumbers)."""
    path = repo.path(".git/prov/index.duckdb")
    with EmbeddedStore(path, read_only=True) as store:
        def rows(sql: str, properties: int) -> list:
            return [tuple(json.loads(v) if i == properties else v for i, v in enumerate(row))
                    for row in store.db.execute(sql).fetchall()]

        return {
            "nodes": rows("SELECT id, label, project, name, properties FROM nodes ORDER BY id",
                          4),
            "edges": rows("SELECT type, source, target, id, project, properties FROM edges "
                          "ORDER BY type, source, target, id", 5),
            "paths": store.db.execute("SELECT * FROM paths ORDER BY path").fetchall(),
            "sequence": store.meta("sequence"),
            "last_key": store.meta("last_key"),
        }


def replayed(repo) -> dict:
    """The graph as one replay of every record in order makes it, every path's state held in
    memory and every node and edge upserted one by one: the reference."""
    found = Repository.discover(str(repo.root))
    entries = sorted(Journal(found).entries(), key=lambda e: order_key(e.record))
    replay = Replay(found.project)
    nodes, edges = {}, {}
    for item in resolve(found, entries):
        made, drawn = replay.apply(item)
        nodes.update((node.id, node) for node in made)
        edges.update((edge.identity, edge) for edge in drawn)
    project = found.project
    return {
        "nodes": sorted((n.id, n.label, project, n.properties.get("name", n.id), n.properties)
                        for n in nodes.values()),
        "edges": sorted((e.type, e.source, e.target, key[3], project, e.properties)
                        for key, e in edges.items()),
        "paths": sorted((path, *(getattr(s, f) for f in s.__dataclass_fields__))
                        for path, s in replay.state.items()),
        "sequence": replay.sequence,
        "last_key": list(order_key(entries[-1].record)),
    }


def images(repo, names: range, folder: str = "img") -> None:
    """Small files of distinct content, as an image folder is."""
    where = repo.path(folder)
    where.mkdir(exist_ok=True)
    for i in names:
        (where / f"f{i:05}.bin").write_bytes(f"image {i}\n".encode() * (1 + i % 7))


def history(repo) -> None:
    """Thousands of new files, then deletions, renames and changes outside prov and by a
    command, re-adds of deleted content, and git-ignored files a command touched."""
    repo.write(".gitignore", "*.tmp\n")
    repo.write("step.py", "import sys\n"
                          "data = open(sys.argv[1], 'rb').read()\n"
                          "open(sys.argv[2], 'wb').write(data + b'!')\n"
                          "open('scratch.tmp', 'wb').write(data)\n")
    repo.commit_all("start")
    repo.ok("true")
    repo.ok("log", "-n", "1")
    images(repo, range(FILES))
    repo.ok("true")
    repo.ok("log", "-n", "1")  # caught up: thousands of new files
    img = repo.path("img")
    for i in range(0, 300):
        (img / f"f{i:05}.bin").unlink()  # deleted outside prov
    for i in range(300, 500):
        os.rename(img / f"f{i:05}.bin", img / f"g{i:05}.bin")  # renamed outside prov
    for i in range(500, 600):
        (img / f"f{i:05}.bin").write_bytes(b"changed %d\n" % i)
    repo.ok("python3", "step.py", "img/f00700.bin", "out.bin")  # reads, writes, ignored
    repo.ok("mv", "img/f00800.bin", "moved.bin")  # a rename by a command
    repo.ok("rm", "img/f00801.bin")
    repo.ok("log", "-n", "1")
    images(repo, range(0, 300))  # deleted content comes back
    images(repo, range(FILES, FILES + 500), "more")
    repo.ok("python3", "step.py", "scratch.tmp", "out2.bin")  # reads an ignored file


def test_a_bulk_catch_up_makes_the_index_a_rebuild_and_a_plain_replay_make(repo):
    history(repo)
    repo.ok("log", "-n", "1")  # the last records: caught up incrementally
    caught_up = dump(repo)
    assert len([n for n in caught_up["nodes"] if n[1] == "Entity"]) > FILES + 800
    ignored = [n for n in caught_up["nodes"] if n[4].get("ignored")]
    assert ignored and all(n[4]["digest"].startswith("sha256:") for n in ignored)
    assert any(p[1] is None for p in caught_up["paths"])  # deleted paths are kept as such
    reference = replayed(repo)
    assert caught_up == reference
    repo.ok("rebuild")
    assert dump(repo) == reference


def test_a_catch_up_killed_half_way_is_repaired_by_the_next_read(repo):
    history(repo)
    folder = repo.path(".git/prov")
    saved = repo.root.parent / "saved-prov"
    shutil.copytree(folder, saved)  # the index before the last records are caught up
    caught = 0
    for _attempt in range(15):
        shutil.rmtree(folder)
        shutil.copytree(saved, folder)
        proc = subprocess.Popen([PROV, "log", "-n", "1"], cwd=repo.root, env=repo.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            if any(folder.glob(f"{LOAD_PREFIX}*")):  # the bulk load is under way
                proc.kill()
                proc.wait()
                caught += 1
                break
        if caught:
            break
    assert caught, "no kill landed while the index was being written"
    repo.ok("log", "-n", "1")  # the next read repairs
    assert not list(folder.glob(f"{LOAD_PREFIX}*"))
    assert dump(repo) == replayed(repo)


def on_a_terminal(repo, *args: str) -> bytes:
    """What `prov ARGS` shows on a terminal (stdout and stderr both)."""
    output, _status = terminal.on_a_terminal([PROV, *args], repo.root,
                                             {**repo.env, "COLUMNS": "100"})
    return output


def test_a_long_catch_up_shows_progress_in_files_on_a_terminal_only(repo):
    repo.ok("true")
    repo.ok("log", "-n", "1")
    images(repo, range(FILES))
    repo.ok("true")
    shown = on_a_terminal(repo, "log", "-n", "1")
    assert b"indexing the journal" in shown
    counts = [int(a.replace(b",", b"")) for a, b in re.findall(rb"([\d,]+)/([\d,]+)", shown)
              if a == b]
    assert max(counts) == FILES + 1  # one record, and each of its files
    images(repo, range(FILES, 2 * FILES))
    repo.ok("true")
    piped = repo.ok("log", "-n", "1")
    assert "indexing" not in piped.stderr and "━" not in piped.stderr
    repo.path(".git/prov/index.tips").unlink()
    rebuilt = on_a_terminal(repo, "rebuild")
    assert b"indexing the journal" in rebuilt and b"Rebuilt the index" in rebuilt
