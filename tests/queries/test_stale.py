"""`prov stale`: outputs whose recorded inputs changed since they were made, with the chain
that says why, on real captures of real scripts (tests/chain.py), the work tree as it is now
included; the same answers on the embedded index and on Neo4j."""

from __future__ import annotations

import json

from chain import make_chain, one_line_error

CHAIN = ("model.pkl <- python3 train.py #2 <- data/clean.csv <- python3 clean.py #1 "
         "<- data/raw.csv changed outside prov")


def test_nothing_is_stale_after_the_runs(repo):
    make_chain(repo)
    proc = repo.ok("stale", "--exit-code")
    assert proc.stdout == ""
    assert json.loads(repo.ok("stale", "--json").stdout) == {"stale": []}


def test_an_edit_outside_prov_makes_the_chain_stale(repo):
    make_chain(repo)
    repo.write("data/raw.csv", "a,1\nb,2\nc,3\nd,4\n")  # not under prov, not committed
    assert repo.ok("stale").stdout.splitlines() == ["data/clean.csv", "model.pkl"]
    assert repo.ok("stale", "--why").stdout.splitlines() == [
        "data/clean.csv <- python3 clean.py #1 <- data/raw.csv changed outside prov", CHAIN]
    assert repo.prov("stale", "--exit-code").returncode == 1
    assert repo.ok("stale").returncode == 0  # without --exit-code, success
    found = json.loads(repo.ok("stale", "--json").stdout)["stale"]
    assert [o["path"] for o in found] == ["data/clean.csv", "model.pkl"]
    model = found[1]
    assert (model["version"], model["run"]["name"], model["run"]["command"]) == (
        "model.pkl@v1", "python3 train.py #2", "python3 train.py")
    [why] = model["why"]
    assert [n["name"] for n in why["chain"]] == [
        "python3 train.py #2", "data/clean.csv@v1", "python3 clean.py #1", "data/raw.csv@v1"]
    assert (why["reason"], why["text"]) == ("changed outside prov", CHAIN)


def test_paths_and_folders_narrow_it_from_any_folder(repo):
    make_chain(repo)
    repo.write("data/raw.csv", "z,9\n")
    assert repo.ok("stale", "model.pkl").stdout.splitlines() == ["model.pkl"]
    assert repo.ok("stale", "data").stdout.splitlines() == ["data/clean.csv"]
    assert repo.ok("stale", "clean.csv", cwd=repo.path("data")).stdout.splitlines() == [
        "data/clean.csv"]
    assert repo.ok("stale", "..", cwd=repo.path("data")).stdout.splitlines() == [
        "data/clean.csv", "model.pkl"]
    assert one_line_error(repo.prov("stale", "nothing.txt")) == (
        "prov: no recorded file nothing.txt")
    assert one_line_error(repo.prov("stale", "../../x")) == "prov: ../../x is outside the work tree"


def test_a_change_made_and_undone_is_no_change(repo):
    make_chain(repo)
    original = repo.read("data/raw.csv")
    repo.write("data/raw.csv", "q,7\n")
    repo.ok("true")  # the edit is recorded (raw.csv@v2) ...
    repo.write("data/raw.csv", original)  # ... and undone: the content is the one used
    assert repo.ok("stale").stdout == ""


def test_a_recorded_command_that_changed_an_input_is_named(repo):
    make_chain(repo)
    repo.ok("sh", "-c", "echo d,5 >> data/raw.csv")
    assert repo.ok("stale", "--why", "data/clean.csv").stdout.splitlines() == [
        "data/clean.csv <- python3 clean.py #1 <- data/raw.csv changed by sh #3"]


def test_a_deleted_input_and_a_changed_script(repo):
    make_chain(repo)
    repo.write("train.py", repo.read("train.py") + "# tuned\n")
    assert repo.ok("stale", "--why").stdout.splitlines() == [
        "model.pkl <- python3 train.py #2 <- train.py changed outside prov"]
    repo.path("data/raw.csv").unlink()
    assert repo.ok("stale", "--why").stdout.splitlines() == [
        "data/clean.csv <- python3 clean.py #1 <- data/raw.csv deleted",
        "model.pkl <- python3 train.py #2 <- data/clean.csv <- python3 clean.py #1 "
        "<- data/raw.csv deleted",
        "model.pkl <- python3 train.py #2 <- train.py changed outside prov"]


def test_an_output_changed_by_hand_is_no_output_and_a_run_may_rewrite_its_input(repo):
    make_chain(repo)
    repo.write("data/raw.csv", "z,9\n")
    repo.write("model.pkl", "42\n")  # no longer what train.py made: not an output of it
    assert repo.ok("stale").stdout.splitlines() == ["data/clean.csv"]
    repo.write("count.py", "n = int(open('n.txt').read())\nopen('n.txt', 'w').write(f'{n + 1}')\n")
    repo.write("n.txt", "1")
    repo.ok("python3", "count.py")  # read n.txt@v1, made n.txt@v2: not stale for that
    assert repo.ok("stale", "n.txt").stdout == ""


def test_git_ignored_data_is_compared_by_digest(repo):
    make_chain(repo, ignored=True)
    assert repo.ok("stale").stdout == ""
    repo.write("data/raw.csv", "a,1\nb,7\n")
    assert repo.ok("stale", "--why").stdout.splitlines() == [
        "data/clean.csv <- python3 clean.py #1 <- data/raw.csv changed outside prov", CHAIN]


def test_large_files_are_compared_by_digest(repo):
    repo.ok("config", "set", "capture.large_file_limit", "1KB")
    make_chain(repo)
    repo.write("data/raw.csv", "a,1\n" + "b,2\n" * 600)  # over the limit: by SHA-256
    repo.ok("python3", "clean.py")
    repo.ok("python3", "train.py")
    assert repo.ok("stale").stdout == ""
    repo.write("data/raw.csv", "a,1\n" + "b,3\n" * 600)
    assert repo.ok("stale").stdout.splitlines() == ["data/clean.csv", "model.pkl"]


def test_the_same_answers_on_neo4j(synced):
    from provgraph.config import Config
    from provgraph.queries.stale import Pipeline, Target, plan
    from provgraph.remotes import neo4j as sync
    from provgraph.repo import Repository
    from provgraph.worktree import WorkTree

    make_chain(synced)
    synced.write("report.py", "rows = open('data/clean.csv').read()\n"
                              "open('report.txt', 'w').write(rows.upper())\n")
    synced.ok("python3", "report.py")
    synced.write("data/raw.csv", "z,9\ny,8\n")
    synced.ok("sync")
    r = Repository.discover(synced.root)
    answers = []
    for store in (synced.store(), sync.Target(Config(r.root, r.prov_dir)).store(r.project)):
        with store:
            pipeline = Pipeline(store, WorkTree(r).digest)
            steps = plan(pipeline, [Target(path="model.pkl")], downstream=True)
            answers.append((pipeline.stale().to_dict(), [s.to_dict() for s in steps]))
    assert answers[0] == answers[1]
    stale, steps = answers[0]
    assert [o["path"] for o in stale["stale"]] == ["data/clean.csv", "model.pkl", "report.txt"]
    assert [s["command"] for s in steps] == [
        "python3 clean.py", "python3 train.py", "python3 report.py"]


def test_the_snapshot_stale_takes_survives_a_gc(repo):
    """`prov stale` snapshots an unrecorded edit; the next capture reuses that snapshot, so
    `prov gc` keeps it whole (else the capture would name a pruned tree)."""
    make_chain(repo)
    repo.ok("sh", "-c", "echo d,5 >> data/raw.csv")  # raw.csv@v2: v1's bytes are gc's to drop
    repo.write("data/raw.csv", "z,9\n")
    repo.ok("stale")
    assert "Dropped" in repo.ok("gc", "--keep-last", "1", "--expire", "now").stdout
    repo.ok("python3", "clean.py")
    assert repo.read("data/clean.csv") == "z,9\n"
    assert repo.ok("stale").stdout.splitlines() == ["model.pkl"]
    repo.ok("restore", "data/raw.csv@v3", "-o", "copy.csv")
    assert repo.read("copy.csv") == "z,9\n"
