"""`prov rerun`: the recorded commands that bring files up to date, run again in dependency
order as new captures carrying `rerun_of`, on real scripts (tests/chain.py)."""

from __future__ import annotations

import json

from chain import REPORT, make_chain, one_line_error


def _runs(repo) -> list:
    """Every activity, oldest first."""
    with repo.store() as store:
        return list(reversed(store.activities()))


def _announced(proc) -> list[str]:
    return [line.split("]: ", 1)[1].split("  #")[0] for line in proc.stderr.splitlines()
            if line.startswith("prov rerun [")]


def test_a_stale_output_is_brought_up_to_date_in_order(repo):
    make_chain(repo)
    clean, train = _runs(repo)
    repo.write("data/raw.csv", "a,1\nb,2\nc,3\nd,4\n")
    assert repo.read("model.pkl") == "5\n"
    proc = repo.ok("rerun", "model.pkl")
    assert _announced(proc) == ["python3 clean.py", "python3 train.py"]
    assert repo.read("model.pkl") == "9\n"
    assert repo.ok("stale").stdout == ""
    assert repo.ok("rerun", "model.pkl").stdout == "Nothing to re-run: it is up to date.\n"
    runs = _runs(repo)
    assert len(runs) == 4
    new_clean, new_train = runs[2:]
    assert (new_clean.properties["rerun_of"], new_train.properties["rerun_of"]) == (
        clean.id, train.id)
    assert (new_clean.properties["command"], new_train.properties["command"]) == (
        "python3 clean.py", "python3 train.py")
    assert "rerun_of" not in clean.properties
    log = json.loads(repo.ok("log", "-n", "1", "--json").stdout)[0]
    assert log["generated"] == ["model.pkl@v2"] and "data/clean.csv@v2" in log["used"]
    assert log["properties"]["rerun_of"] == train.id


def test_dry_run_prints_the_plan_and_runs_nothing(repo):
    make_chain(repo)
    repo.write("data/raw.csv", "z,9\n")
    proc = repo.ok("rerun", "--dry-run", "model.pkl")
    assert proc.stdout.splitlines() == [
        "python3 clean.py  # data/clean.csv is stale: needed by python3 train.py #2",
        "python3 train.py  # makes model.pkl; data/clean.csv stale"]
    assert len(_runs(repo)) == 2 and repo.read("model.pkl") == "5\n"
    plan = json.loads(repo.ok("rerun", "--dry-run", "--json", "model.pkl").stdout)
    assert plan["dry_run"] is True and plan["failed"] == 0
    assert [(s["name"], s["status"], s["cwd"]) for s in plan["steps"]] == [
        ("python3 clean.py #1", "planned", "."), ("python3 train.py #2", "planned", ".")]
    assert plan["steps"][1]["after"] == [plan["steps"][0]["id"]]


def test_a_run_is_re_run_when_asked_even_up_to_date(repo):
    make_chain(repo)
    [clean, _train] = _runs(repo)
    proc = repo.ok("rerun", "#1")
    assert _announced(proc) == ["python3 clean.py"]
    assert _runs(repo)[-1].properties["rerun_of"] == clean.id
    # the re-made data/clean.csv has the same bytes: nothing downstream is stale
    assert repo.ok("stale").stdout == ""
    assert one_line_error(repo.prov("rerun", "#9")).startswith("prov: no run #9")
    assert one_line_error(repo.prov("rerun", "nothing.txt")) == "prov: no recorded file nothing.txt"


def test_downstream_re_runs_what_used_their_outputs(repo):
    make_chain(repo)
    repo.write("report.py", REPORT)
    repo.ok("python3", "report.py")  # #3, also from data/clean.csv
    repo.write("data/raw.csv", "a,1\nb,2\nc,3\nd,4\n")
    proc = repo.ok("rerun", "--dry-run", "data/clean.csv")
    assert [line.split("  #")[0] for line in proc.stdout.splitlines()] == ["python3 clean.py"]
    proc = repo.ok("rerun", "--downstream", "data/clean.csv")
    assert _announced(proc) == ["python3 clean.py", "python3 train.py", "python3 report.py"]
    assert "downstream of python3 clean.py #1" in proc.stderr
    assert (repo.read("model.pkl"), repo.read("report.txt")) == ("9\n", "3 rows\n")
    assert repo.ok("stale").stdout == ""


def test_without_downstream_what_used_the_output_becomes_stale(repo):
    make_chain(repo)
    repo.write("data/raw.csv", "a,1\nb,2\nc,3\nd,4\n")
    repo.ok("rerun", "data/clean.csv")
    assert repo.ok("stale", "--why").stdout.splitlines() == [
        "model.pkl <- python3 train.py #2 <- data/clean.csv changed by python3 clean.py #3"]


def _two_chains(repo) -> None:
    """clean -> train, and an independent other.py; clean.py is then broken, other's input
    edited: three steps to re-run, the first failing."""
    make_chain(repo)
    repo.write("other.csv", "1\n")
    repo.write("other.py", "open('other.txt', 'w').write(open('other.csv').read() * 2)\n")
    repo.ok("python3", "other.py")
    repo.write("clean.py", "raise SystemExit(3)\n")
    repo.write("other.csv", "2\n")


def test_a_failed_step_stops_the_rest(repo):
    _two_chains(repo)
    proc = repo.prov("rerun", "model.pkl", "other.txt")
    assert proc.returncode == 1
    assert _announced(proc) == ["python3 clean.py"]
    assert proc.stderr.splitlines()[-1] == "prov rerun: 1 failed, 2 not run of 3"
    assert repo.read("other.txt") == "1\n1\n"
    runs = _runs(repo)
    assert runs[-1].properties["rerun_of"] == runs[0].id
    assert runs[-1].properties["status"] == "failed"


def test_keep_going_skips_only_what_needed_the_failed_step(repo):
    _two_chains(repo)
    proc = repo.prov("rerun", "--keep-going", "--json", "model.pkl", "other.txt")
    assert proc.returncode == 1
    done = json.loads(proc.stdout)
    assert [(s["command"], s["status"], s["exit_code"]) for s in done["steps"]] == [
        ("python3 clean.py", "failed", 3), ("python3 train.py", "skipped", None),
        ("python3 other.py", "ok", 0)]
    assert done["failed"] == 2
    assert repo.read("other.txt") == "2\n2\n"
    assert repo.ok("stale").stdout.splitlines() == ["data/clean.csv", "model.pkl"]


def test_shell_commands_and_folders_are_run_as_recorded(repo):
    repo.write("sub/in.txt", "b\na\n")
    repo.ok("cd sub && sort in.txt > sorted.txt && wc -l sorted.txt > n.txt")
    repo.write("sub/in.txt", "c\nb\na\n")
    proc = repo.ok("rerun", "n.txt", cwd=repo.path("sub"))
    assert proc.stderr.splitlines()[:2] == [
        "prov rerun [1/2]: (cd sub && sort in.txt > sorted.txt)  # sub/sorted.txt is stale: "
        "needed by wc #2",
        "prov rerun [2/2]: (cd sub && wc -l sorted.txt > n.txt)  # makes sub/n.txt; "
        "sub/sorted.txt stale"]
    assert repo.read("sub/sorted.txt") == "a\nb\nc\n"
    assert repo.read("sub/n.txt").split()[0] == "3"
    assert repo.ok("stale").stdout == ""


def test_runs_that_cannot_be_re_run_say_why_in_one_line(repo):
    make_chain(repo)
    repo.ok("python3", "train.py", "--password", "hunter2")
    assert one_line_error(repo.prov("rerun", "#3")) == (
        "prov: python3 train.py #3 cannot be re-run: its command line was recorded with a "
        "secret concealed (***); run it yourself under prov")
    repo.write("doc.json", json.dumps({
        "prefix": {"ex": "http://example.org/"},
        "activity": {"ex:elsewhere": {"prov:label": "trained elsewhere"}}}))
    repo.ok("import", "doc.json")
    error = one_line_error(repo.prov("rerun", "ex:elsewhere"))
    assert error.endswith("cannot be re-run: it was imported, not captured by prov, so no "
                          "command line is recorded")
    assert len(_runs(repo)) == 4  # nothing ran


def test_an_input_gone_from_the_work_tree(repo):
    make_chain(repo)
    repo.ok("sh", "-c", "printf 'a,1\\nb,5\\n' > data/raw.csv")  # raw.csv@v2
    repo.path("data/raw.csv").unlink()
    assert one_line_error(repo.prov("rerun", "#1")) == (
        "prov: python3 clean.py #1 cannot be re-run: it used data/raw.csv, which is not in "
        "the work tree: `prov restore data/raw.csv@v1` brings back the version it used")
    repo.ok("gc", "--keep-last", "1", "--expire", "now")  # the bytes of raw.csv@v1 go
    error = one_line_error(repo.prov("rerun", "#1"))
    assert error.startswith("prov: python3 clean.py #1 cannot be re-run: it used data/raw.csv, "
                            "which is not in the work tree, and the content of data/raw.csv@v1 "
                            "is not in this clone")
    assert len(_runs(repo)) == 3


def test_the_python_api_gives_what_json_prints(repo):
    import provgraph

    make_chain(repo)
    repo.write("data/raw.csv", "z,9\n")
    printed = json.loads(repo.ok("rerun", "--dry-run", "--json", "model.pkl").stdout)
    with provgraph.open_project(repo.root) as project:
        assert project.rerun(["model.pkl"], dry_run=True).to_dict() == printed
        assert project.stale().to_dict() == json.loads(repo.ok("stale", "--json").stdout)


def test_downstream_of_a_run_asked_for_when_nothing_is_stale(repo):
    make_chain(repo)
    [clean, train] = _runs(repo)
    # properties given to `prov rerun` itself are not its steps'
    proc = repo.ok("rerun", "--downstream", "#1",
                   env={"PROV_ACTIVITY_PROPERTIES": '{"sweep": "s1"}'})
    assert _announced(proc) == ["python3 clean.py", "python3 train.py"]
    new = _runs(repo)[2:]
    assert [r.properties["rerun_of"] for r in new] == [clean.id, train.id]
    assert all("sweep" not in r.properties for r in new)
