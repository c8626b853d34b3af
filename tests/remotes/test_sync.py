"""Syncing to Neo4j: in the background, through outages and interruptions, across clones."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import NEO4J_SERVER, PROV, clone_through_remote
from graph import neo4j_store

ROOT = Path(__file__).parent.parent.parent


def graph(store) -> tuple[dict, set]:
    return ({n.id: n.properties for n in store.all_nodes()},
            {(e.key, json.dumps(e.properties, sort_keys=True)) for e in store.all_edges()})


def assert_same(actual: tuple[dict, set], expected: tuple[dict, set], log: str = "") -> None:
    """Equal graphs, or a failure that names the first difference."""
    nodes, edges = actual
    want_nodes, want_edges = expected
    if set(nodes) != set(want_nodes):
        pytest.fail(f"nodes differ: {set(nodes) ^ set(want_nodes)}\nsync log:\n{log}",
                    pytrace=False)
    for node_id, props in want_nodes.items():
        diff = {k: (nodes[node_id].get(k), v) for k, v in props.items()
                if nodes[node_id].get(k) != v}
        diff.update({k: (v, None) for k, v in nodes[node_id].items() if k not in props})
        assert not diff, (node_id, diff)
    assert edges == want_edges, (edges ^ want_edges)


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def spare(tmp_path_factory):
    """A second real Neo4j server, ours to stop, kill and restart: one per xdist worker, on
    ports no one uses (test sessions running at once each get their own)."""
    bolt, http = free_port(), free_port()
    home = tmp_path_factory.mktemp("neo4j-spare")
    lib = Path(os.environ.get("PROV_TEST_NEO4J_HOME", ROOT / ".neo4j")) / "lib"
    env = {**os.environ, "PROV_TEST_NEO4J_HOME": str(home), "PROV_TEST_NEO4J_LIB": str(lib),
           "PROV_TEST_NEO4J_BOLT_PORT": str(bolt), "PROV_TEST_NEO4J_HTTP_PORT": str(http)}

    class Spare:
        uri = f"bolt://127.0.0.1:{bolt}"

        def start(self) -> None:
            proc = subprocess.run([NEO4J_SERVER, "start"], env=env, capture_output=True,
                                  text=True)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip().splitlines()[-1] == self.uri

        def stop(self) -> None:
            subprocess.run([NEO4J_SERVER, "stop"], env=env, capture_output=True, check=True)

        def kill(self) -> None:
            os.kill(int((home / "run" / "server.pid").read_text()), signal.SIGKILL)
            time.sleep(0.5)

    server = Spare()
    server.start()
    yield server
    server.stop()


def test_captures_sync_in_the_background(synced):
    synced.ok("sh", "-c", "echo 1 > a.txt")

    def done():  # the background sync records its progress after Neo4j commits
        return json.loads(synced.ok("status", "--json").stdout)["neo4j"]["pending"] == 0

    wait_until(done, what="the background sync")
    assert json.loads(synced.ok("status", "--json").stdout)["neo4j"]["error"] is None
    with neo4j_store(synced) as neo4j:
        assert neo4j.counts()["Activity"] == 1


def test_an_outage_loses_nothing(repo, spare):
    repo.ok("config", "set", "neo4j.uri", spare.uri)
    repo.ok("sh", "-c", "echo 1 > a.txt")
    repo.ok("sync")
    with neo4j_store(repo) as neo4j:
        assert neo4j.counts()["Activity"] == 1
        first_id = neo4j.run("CALL db.info() YIELD id RETURN id")[0]["id"]
    spare.stop()

    proc = repo.prov("sh", "-c", "echo 2 > a.txt && echo 3 > b.txt")  # Neo4j is down
    assert proc.returncode == 0 and proc.stderr == ""
    repo.ok("cp", "a.txt", "c.txt")
    failed = repo.prov("sync")
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"prov: Neo4j at {spare.uri}: ")
    assert failed.stderr.count("\n") == 1
    status = json.loads(repo.ok("status", "--json").stdout)
    assert status["neo4j"]["pending"] == 2
    assert spare.uri in status["neo4j"]["error"]

    spare.start()
    with neo4j_store(repo) as neo4j:
        assert neo4j.run("CALL db.info() YIELD id RETURN id")[0]["id"] == first_id
        assert neo4j.counts()["Activity"] == 1, "the restarted server lost a commit"
    repo.ok("sync")
    log = repo.read(".git/prov/sync.log")
    with repo.store() as embedded, neo4j_store(repo) as neo4j:
        assert_same(graph(neo4j), graph(embedded), log)
        assert neo4j.counts()["Activity"] == 3
    assert json.loads(repo.ok("status", "--json").stdout)["neo4j"]["pending"] == 0


def test_an_interrupted_sync_resumes_to_the_same_graph(repo, spare):
    repo.ok("config", "set", "neo4j.uri", spare.uri)
    repo.ok("config", "set", "neo4j.autosync", "false")  # this test starts the sync itself
    repo.ok("sh", "-c", "for i in $(seq 1 1500); do echo $i > f$i.txt; done")
    repo.ok("sh", "-c", "for i in $(seq 1 1500); do echo x$i > f$i.txt; done")
    with repo.store() as embedded:
        total = embedded.counts()
    sync = subprocess.Popen([PROV, "sync"], cwd=repo.root, text=True,
                            env={**repo.env, "PROV_NEO4J_BATCH": "10"},
                            stderr=subprocess.PIPE)

    def half_way():
        with neo4j_store(repo) as neo4j:
            return 0 < neo4j.counts()["Entity"] < total["Entity"]

    wait_until(half_way, what="a sync half way")
    spare.kill()  # as a crash: no clean shutdown
    _, stderr = sync.communicate(timeout=120)
    assert sync.returncode == 1, (sync.returncode, stderr)
    assert "Neo4j at" in stderr

    spare.start()
    repo.ok("sync")
    with repo.store() as embedded, neo4j_store(repo) as neo4j:
        assert_same(graph(neo4j), graph(embedded))
        assert neo4j.counts() == total


def test_two_clones_share_through_a_bare_remote(tmp_path, repo_factory, neo4j_uri):
    alice = repo_factory("alice")
    alice.write("data.csv", "1\n2\n")
    alice.commit_all("data")
    bob = clone_through_remote(alice, tmp_path)
    for clone in (alice, bob):
        clone.ok("config", "set", "neo4j.uri", neo4j_uri)

    # both work at the same time, on the same data
    alice.ok("sh", "-c", "sort data.csv > alice.txt")
    bob.ok("sh", "-c", "wc -l data.csv > bob.txt")
    alice.ok("cat", "data.csv")
    assert "Pushed 1 journal chain(s)" in alice.ok("push").stdout
    assert "Pushed" in bob.ok("push").stdout
    assert "Pulled 2 new record(s)" in bob.ok("pull").stdout
    assert "Pulled 1 new record(s)" in alice.ok("pull").stdout
    assert "Pulled 0 new record(s)" in alice.ok("pull").stdout

    with alice.store() as a, bob.store() as b:
        assert graph(a) == graph(b)
        assert a.counts()["Activity"] == 3
        assert {n.name for n in a.all_nodes() if n.label == "Agent"} == {"Alice", "Bob"}
        [data] = [n for n in a.all_nodes() if n.properties.get("path") == "data.csv"]
        assert data.name == "data.csv@v1"  # one entity, used in both clones
        merged = graph(a)
    alice.ok("sync")
    bob.ok("sync")
    with neo4j_store(bob) as neo4j:
        assert graph(neo4j) == merged  # nothing lost, nothing twice


def test_push_and_pull_errors_are_one_line(repo):
    for args in (["push"], ["pull"], ["push", "nowhere"]):
        proc = repo.prov(*args)
        assert proc.returncode == 1
        assert proc.stderr.startswith("prov: ") and proc.stderr.count("\n") == 1, proc.stderr


def test_configuration_errors(repo):
    proc = repo.prov("config", "set", "neo4j.uri", "http://localhost:7474")
    assert proc.returncode == 1 and "neo4j.uri takes a Neo4j URI" in proc.stderr
    repo.write(".prov.toml", '[neo4j]\nuri = "bolt://x:7687"\npassword = "secret"\n')
    proc = repo.prov("true")
    assert proc.returncode == 125 and "keep neo4j.password out of it" in proc.stderr
    repo.path(".prov.toml").unlink()
    proc = repo.prov("sync")
    assert proc.returncode == 1 and "no Neo4j configured" in proc.stderr
    proc = repo.prov("cypher", "RETURN 1")
    assert proc.returncode == 1 and "no Neo4j configured" in proc.stderr


def test_credentials_come_from_the_environment_or_this_clone(synced, neo4j_uri):
    synced.ok("config", "set", "neo4j.password", "s3cret-pw")
    listed = synced.ok("config", "list").stdout
    assert "neo4j.password = ***" in listed and "s3cret-pw" not in listed
    assert oct(synced.path(".git/prov/config.json").stat().st_mode)[-3:] == "600"
    assert "s3cret-pw" not in synced.git("status", "--porcelain", "--ignored")
    # the test server has no authentication: the driver sends the credentials, it accepts them
    rows = json.loads(synced.ok("cypher", "RETURN 41 + $n AS x", "--param", "n=1", "--json",
                                env={"PROV_NEO4J_USER": "neo4j"}).stdout)
    assert rows == [{"x": 42}]
    bad = synced.prov("cypher", "RETURN 1", env={"PROV_NEO4J_URI": "bolt://127.0.0.1:1"})
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1


def _schema_names(neo4j) -> set[str]:
    names = {row["name"] for row in neo4j.run("SHOW INDEXES YIELD name RETURN name")}
    return names | {row["name"] for row in neo4j.run("SHOW CONSTRAINTS YIELD name RETURN name")}


def test_the_schema_is_made_once_per_target_and_remembered(repo, spare):
    """The first sync with a target makes the constraints and indexes and notes it; later
    syncs do not run those statements again (an index dropped by hand stays dropped), a
    --full sync does. The spare server: no other test makes the schema there meanwhile."""
    from provgraph.stores.neo4j import SCHEMA

    repo.ok("config", "set", "neo4j.uri", spare.uri)
    repo.ok("config", "set", "neo4j.autosync", "false")
    repo.ok("sh", "-c", "echo 1 > a.txt")
    repo.ok("sync")
    state = json.loads(repo.read(".git/prov/neo4j-sync.json"))
    assert state["schema"] == SCHEMA
    with neo4j_store(repo) as neo4j:
        assert {"provgraph_entity_project_id", "provgraph_agent_name"} <= _schema_names(neo4j)
        neo4j.run("DROP INDEX provgraph_agent_name")
    repo.ok("sh", "-c", "echo 2 > b.txt")
    repo.ok("sync")
    with neo4j_store(repo) as neo4j:
        assert "provgraph_agent_name" not in _schema_names(neo4j)
        assert neo4j.counts()["Activity"] == 2
    repo.ok("sync", "--full")
    with neo4j_store(repo) as neo4j:
        assert "provgraph_agent_name" in _schema_names(neo4j)
    with repo.store() as embedded, neo4j_store(repo) as neo4j:
        assert_same(graph(neo4j), graph(embedded))
