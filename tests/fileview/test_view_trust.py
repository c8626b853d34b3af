"""Views defined in another clone run only once accepted here (issue 10, the file-view half of
reproduction 2): `prov fileview trust NAME` shows the query or script and accepts that exact
definition; refresh skips an unaccepted view in one line, cat refuses it, list/status/show
mark it; a changed definition needs accepting again; accepted SQL still runs in the sandbox.

Alice and Bob are real clones talking through a real bare remote; Alice plays the teammate
(or the attacker), Bob the one who pulls.
"""

from __future__ import annotations

import json

import pytest
from conftest import clone_through_remote
from graph import Graph

from provgraph.repo import Repository

SCRIPT = "touch pwned.marker && sort words.txt"
QUERY = "select _c1 as label, count(*) as n from {data.csv} group by _c1 order by _c1"
SECRET = "hunter2-bob-secret"


@pytest.fixture
def team(tmp_path, repo_factory):
    alice = repo_factory("alice")
    alice.write("data.csv", "1,cat\n2,dog\n3,dog\n")
    alice.write("words.txt", "b\na\n")
    alice.commit_all("data")
    bob = clone_through_remote(alice, tmp_path)
    bob.ok("config", "set", "neo4j.password", SECRET)
    alice.ok("fileview", "-c", "-n", "sorted.txt", "-s", SCRIPT)  # runs at Alice's: her call
    alice.ok("fileview", "-n", "counts.csv", "-q", QUERY)
    alice.path("pwned.marker").unlink()
    alice.ok("push")
    assert "Pulled" in bob.ok("pull").stdout
    return alice, bob


def clone_of(repo) -> str:
    return Repository.discover(repo.root).clone_id


def test_pulled_views_do_not_run_until_accepted(team):
    alice, bob = team
    proc = bob.prov("fileview", "refresh")
    assert proc.returncode == 1  # as for a view that fails: the others still refresh
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"prov: sorted.txt: sorted.txt was defined in another clone (by "
                           f"Alice in clone {clone_of(alice)} on ")
    assert line.endswith("and has not been accepted here: `prov fileview trust sorted.txt` "
                         "shows its script and accepts it")
    assert not bob.path("pwned.marker").exists() and not bob.path("sorted.txt").exists()

    proc = bob.prov("fileview", "cat", "counts.csv")
    assert proc.returncode == 1 and proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("prov: counts.csv was defined in another clone (by Alice")
    assert line.endswith("`prov fileview trust counts.csv` shows its query and accepts it")
    proc = bob.prov("fileview", "refresh", "counts.csv")  # materializing it: the same
    assert proc.returncode == 1 and "prov fileview trust counts.csv" in proc.stderr
    assert not bob.path("counts.csv").exists()

    assert bob.ok("fileview", "list").stdout == (
        "counts.csv  sql     virtual       data.csv  (needs review: prov fileview trust "
        "counts.csv)\n"
        "sorted.txt  script  materialized    (needs review: prov fileview trust "
        "sorted.txt)\n")  # (a script whose inputs are named in it: none listed)
    assert bob.ok("fileview", "status", "sorted.txt").stdout == (
        "sorted.txt  the file is not there; needs review (prov fileview trust sorted.txt)\n")
    [state] = json.loads(bob.ok("fileview", "status", "--json", "sorted.txt").stdout)
    assert state["needs_review"] is True
    show = bob.ok("fileview", "show", "sorted.txt").stdout
    assert "trust    needs review: defined in another clone; prov fileview trust sorted.txt" \
        in show
    listed = {v["name"]: v for v in json.loads(bob.ok("fileview", "list", "--json").stdout)}
    assert listed["counts.csv"]["needs_review"] and listed["counts.csv"]["clone"] == \
        clone_of(alice)
    made = [a for a in Graph.of(bob).activities() if a.properties.get("fileview.view")]
    assert len(made) == 1  # Alice's, pulled: Bob's clone ran nothing


def test_trust_shows_the_definition_and_accepts_it(team):
    alice, bob = team
    proc = bob.ok("fileview", "trust", "sorted.txt", "--show")
    assert f"script   {SCRIPT}\n" in proc.stdout
    assert f"by Alice in clone {clone_of(alice)}" in proc.stdout
    assert "folder   .\n" in proc.stdout
    assert proc.stderr == "Not accepted (--show): `prov fileview trust sorted.txt` accepts it.\n"
    assert bob.prov("fileview", "refresh").returncode == 1  # --show accepted nothing
    assert not bob.path("pwned.marker").exists()

    proc = bob.ok("fileview", "trust", "sorted.txt")
    assert f"script   {SCRIPT}\n" in proc.stdout
    assert proc.stderr.startswith("Accepted this definition of sorted.txt")
    assert bob.ok("fileview", "trust", "sorted.txt").stderr == \
        "This definition of sorted.txt was accepted before.\n"
    [line] = [x for x in bob.ok("fileview", "list").stdout.splitlines()
              if x.startswith("sorted.txt")]
    assert "needs review" not in line
    out = bob.ok("fileview", "refresh").stdout
    assert "sorted.txt: refreshed" in out
    assert bob.path("pwned.marker").exists()  # accepted: it ran, as Bob asked
    assert bob.read("sorted.txt") == "a\nb\n"
    assert bob.ok("fileview", "trust", "sorted.txt").stderr == \
        "sorted.txt is this clone's own (defined or run here): it needs no acceptance.\n"

    proc = bob.ok("fileview", "trust", "counts.csv")
    assert f"sql      {QUERY}\n" in proc.stdout and "inputs   data.csv\n" in proc.stdout
    assert bob.ok("fileview", "cat", "counts.csv").stdout == "label,n\ncat,1\ndog,2\n"
    accepted = json.loads(bob.read(".git/prov/fileview/trusted.json"))["views"]
    assert set(accepted) == {"sorted.txt", "counts.csv"}  # under .git/: never committed


def test_a_changed_definition_needs_accepting_again(team):
    alice, bob = team
    bob.ok("fileview", "trust", "sorted.txt")
    bob.ok("fileview", "refresh")
    bob.path("pwned.marker").unlink()
    alice.ok("fileview", "-c", "-n", "sorted.txt", "-s",
             "touch pwned-again.marker && sort -r words.txt")
    alice.ok("push")
    bob.ok("pull")
    proc = bob.prov("fileview", "refresh", "--force")
    assert proc.returncode == 1 and "prov fileview trust sorted.txt" in proc.stderr
    assert not bob.path("pwned-again.marker").exists()
    assert bob.read("sorted.txt") == "a\nb\n"  # the accepted version's output, untouched
    shown = bob.ok("fileview", "trust", "sorted.txt", "--show").stdout
    assert "script   touch pwned-again.marker && sort -r words.txt\n" in shown
    bob.ok("fileview", "trust", "sorted.txt")
    assert "sorted.txt: refreshed" in bob.ok("fileview", "refresh", "--force").stdout
    assert bob.read("sorted.txt") == "b\na\n"


def test_own_views_need_nothing_and_come_back_as_own(team):
    alice, bob = team
    proc = bob.ok("fileview", "-c", "-n", "mine.csv", "-q", "select * from {data.csv}")
    assert "Wrote mine.csv" in proc.stderr
    assert "needs review" not in bob.ok("fileview", "status", "mine.csv").stdout
    assert bob.ok("fileview", "trust", "mine.csv").stderr == \
        "mine.csv is this clone's own (defined or run here): it needs no acceptance.\n"
    # Bob refreshes Alice's view; Alice pulls Bob's materialization of her own definition
    bob.ok("fileview", "trust", "sorted.txt")
    bob.ok("fileview", "refresh")
    bob.ok("push")
    alice.ok("pull")
    listed = {v["name"]: v for v in json.loads(alice.ok("fileview", "list", "--json").stdout)}
    assert listed["sorted.txt"]["clone"] == clone_of(bob)  # the latest record is Bob's
    assert listed["sorted.txt"]["needs_review"] is False  # the definition is Alice's own
    assert listed["mine.csv"]["needs_review"] is True
    assert alice.prov("fileview", "cat", "mine.csv").returncode == 1


def test_an_accepted_sql_view_still_runs_in_the_sandbox(team):
    """The exfiltration of the issue: Bob accepts, the sandbox still refuses; the password
    reaches neither a tracked file nor Bob's journal (nor, so, his next push)."""
    alice, bob = team
    from provgraph.fileview import views  # Alice's clone writes what prov would refuse

    evil = {"name": "leak.csv", "cwd": ".", "kind": "sql", "dialect": "duckdb",
            "header": None, "format": "csv", "inputs": ["data.csv"],
            "query": "select x.* from {data.csv} t, lateral read_json('.git/prov/config.json') x"}
    views.append_definition(Repository.discover(alice.root), evil,
                            {"name": "Bob", "email": "bob@example.com"}, "prov fileview ...")
    alice.ok("push")
    bob.ok("pull")
    listed = {v["name"]: v for v in json.loads(bob.ok("fileview", "list", "--json").stdout)}
    assert listed["leak.csv"]["agent"] == "Bob"  # claims to be Bob's: still Alice's chain
    assert listed["leak.csv"]["needs_review"] is True
    shown = bob.ok("fileview", "trust", "leak.csv").stdout
    assert "lateral read_json('.git/prov/config.json')" in shown
    proc = bob.prov("fileview", "refresh", "leak.csv")
    assert proc.returncode == 1
    assert proc.stderr == ("prov: leak.csv: the query reads .git/prov/config.json, which is not "
                           "one of its inputs: a view reads only the files it names as {path} "
                           "(nothing was written)\n")
    assert not bob.path("leak.csv").exists()
    journal = bob.git("log", "-p", "--all", "--format=%H")
    assert SECRET not in journal


def test_control_characters_are_shown_not_obeyed(team):
    alice, bob = team
    hidden = "echo safe\r\x1b[2K\u202e && touch pwned.marker"
    alice.ok("fileview", "-n", "hidden.txt", "-s", hidden)
    alice.ok("push")
    bob.ok("pull")
    shown = bob.ok("fileview", "trust", "hidden.txt", "--show").stdout
    assert "script   echo safe\\r\\x1b[2K\\u202e && touch pwned.marker\n" in shown
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown
