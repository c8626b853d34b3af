"""`prov sweep`: the grid runs as captured trials, linked to the plan, files put back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from caffe_stand_in import DATA, install_caffe
from conftest import PROV
from sweep_project import PARAMS, training_project


@pytest.fixture
def trained(repo):
    repo.run_id = training_project(repo)
    return repo


def template(repo, name, *params, run="latest"):
    args = ["template", name, "--from", run]
    for param in params:
        args += ["--param", param]
    return json.loads(repo.ok(*args, "--json").stdout)


def sweep(repo, *args, env=None):
    proc = repo.prov("sweep", *args, "--json", env=env, timeout=300)
    return proc, (json.loads(proc.stdout) if proc.stdout.strip() else None)


def trials_of(repo, sweep_id):
    """The activities of a sweep, by trial number (several when a trial ran again)."""
    found: dict[int, list] = {}
    with repo.store() as store:
        for activity in store.activities():
            if activity.properties.get("sweep") == sweep_id:
                found.setdefault(activity.properties["sweep.trial"], []).append(activity)
    return found


def read_version(repo, store, activity_id, path):
    """The content of `path` as the activity read it (the version its record shows)."""
    for _edge, node in store.step([activity_id], "out", ["used"]):
        if node.properties.get("path") == path:
            return repo.git("cat-file", "blob", node.properties["digest"])
    raise AssertionError(f"{activity_id} did not use {path}")


def test_a_sweep_runs_the_grid_each_trial_a_captured_run_of_the_plan(trained):
    plan = template(trained, "train", "--lr=0.1,0.01", "params.yaml:train.batch=16,32")
    proc, result = sweep(trained, "train")
    assert proc.returncode == 0, proc.stderr
    sweep_id = result["id"]
    assert proc.stderr.startswith(f"{sweep_id}: 4 trials of template train v1\n")
    assert (f"{sweep_id}: 4 trials: 4 ok, 0 failed, 0 reused, 0 not run "
            f"(compare them: prov runs --sweep {sweep_id})") in proc.stderr
    assert [(t["trial"], t["params"], t["status"]) for t in result["trials"]] == [
        (1, {"--lr": "0.1", "params.yaml:train.batch": "16"}, "ok"),
        (2, {"--lr": "0.1", "params.yaml:train.batch": "32"}, "ok"),
        (3, {"--lr": "0.01", "params.yaml:train.batch": "16"}, "ok"),
        (4, {"--lr": "0.01", "params.yaml:train.batch": "32"}, "ok")]
    assert trained.read("params.yaml") == PARAMS  # the user's file, byte for byte
    assert trained.git("status", "--porcelain", "--", "params.yaml", "train.py") == ""
    runs = trials_of(trained, sweep_id)
    assert sorted(runs) == [1, 2, 3, 4]
    with trained.store() as store:
        for trial in result["trials"]:
            [run] = runs[trial["trial"]]
            assert run.id == trial["run"]
            props = run.properties
            lr, batch = trial["params"]["--lr"], trial["params"]["params.yaml:train.batch"]
            assert props["command"] == f"python train.py --lr {lr}"
            assert (props["plan"], props["tags"], props["sweep.params.--lr"]) == (
                plan["id"], [sweep_id], lr)
            config = read_version(trained, store, run.id, "params.yaml")
            assert f"batch: {batch}" in config  # the trial's record shows what it read
            assert json.loads(trained.read(f"out/metric-{float(lr)}-{batch}-0.json"))[
                "batch"] == int(batch)
            plans = [(e.properties, n.id) for e, n in store.step([run.id], "out", ["used"])
                     if n.properties.get("prov:type") == "prov:Plan"]
            assert plans == [({"role": "plan"}, plan["id"])]
    table = trained.ok("sweep", "train", "--print-trials").stdout.splitlines()
    assert table[0].split() == ["trial", "status", "run", "--lr", "params.yaml:train.batch"]


def test_the_export_with_plans_and_trials_is_valid_prov_xml(trained, tmp_path):
    import prov
    from lxml import etree

    template(trained, "train", "--lr=0.1,0.2")
    assert sweep(trained, "train")[0].returncode == 0
    xsd = Path(prov.__file__).parent / "tests" / "schemas" / "prov.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    document = etree.fromstring(trained.ok("export", "--format", "xml").stdout.encode())
    assert schema.validate(document), [e.message for e in schema.error_log][:3]
    text = etree.tostring(document, encoding="unicode")
    assert 'xsi:type="xsd:QName">prov:Plan</prov:type>' in text
    assert text.count("<prov:role") >= 2


def test_overrides_print_trials_and_bad_input(trained):
    template(trained, "train", "--lr=0.1,0.01", "params.yaml:train.batch=16")
    before = len(trained.store().activities())
    shown = trained.ok("sweep", "train", "--lr=0.001:0.1:x10", "--print-trials")
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert [row[-2:] for row in rows] == [["0.001", "16"], ["0.01", "16"], ["0.1", "16"]]
    assert len(trained.store().activities()) == before
    assert not (trained.root / ".git" / "prov" / "sweeps").exists()
    for args, said in [(["nothing"], "no template 'nothing'"),
                       (["train", "--nope=1"], "unknown key --nope: template train has --lr, "
                                               "params.yaml:train.batch"),
                       (["train", "--lr=1:0:+1"], "--lr=1:0:+1 gives no values"),
                       (["train", "--jobs", "2"], "--jobs 2: the trials rewrite params.yaml"),
                       (["train", "--resume"], "template train has no sweep to resume"),
                       (["train", "--resume", "--lr=1"], "take no KEY=SPEC")]:
        proc = trained.prov("sweep", *args)
        assert proc.returncode != 0 and said in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert len(trained.store().activities()) == before


def test_failed_trials_do_not_stop_the_others_and_retry_failed_runs_only_them(trained):
    template(trained, "train", "--lr=0.1,0.01", "params.yaml:train.batch=16,32")
    proc, result = sweep(trained, "train", env={"FAIL_AT": "0.01"})
    assert proc.returncode == 2, proc.stderr  # the exit status: how many failed
    assert "4 trials: 2 ok, 2 failed" in proc.stderr
    assert [t["status"] for t in result["trials"]] == ["ok", "ok", "failed", "failed"]
    assert [t["exit_code"] for t in result["trials"]] == [0, 0, 3, 3]
    assert trained.read("params.yaml") == PARAMS
    proc, again = sweep(trained, "train", "--retry-failed")
    assert proc.returncode == 0, proc.stderr
    assert again["id"] == result["id"] and "retrying 2 of 4 trials" in proc.stderr
    assert [t["status"] for t in again["trials"]] == ["ok"] * 4
    runs = trials_of(trained, result["id"])
    assert {n: len(r) for n, r in runs.items()} == {1: 1, 2: 1, 3: 2, 4: 2}
    assert again["trials"][0]["run"] == result["trials"][0]["run"]
    assert trained.read("params.yaml") == PARAMS


def test_skip_existing_reuses_runs_with_the_same_plan_parameters_and_inputs(trained):
    template(trained, "train", "--lr=0.1,0.01", "params.yaml:train.batch=16")
    first = sweep(trained, "train")[1]
    count = len(trained.store().activities())
    proc, second = sweep(trained, "train", "--lr=0.01,0.5", "--skip-existing")
    assert proc.returncode == 0, proc.stderr
    assert (second["trials"][0]["status"], second["trials"][0]["run"]) == (
        "reused", first["trials"][1]["run"])
    assert second["trials"][1]["status"] == "ok"
    assert len(trained.store().activities()) == count + 1  # only lr=0.5 ran
    trained.write("train.py", trained.read("train.py") + "# changed\n")
    proc, third = sweep(trained, "train", "--lr=0.01", "--skip-existing")
    assert third["trials"][0]["status"] == "ok"  # an input changed: run again
    assert third["trials"][0]["run"] != first["trials"][1]["run"]


PAIR = """\
import os, sys, time
os.makedirs("out", exist_ok=True)
open(f"out/running-{sys.argv[2]}-{os.environ['SEED']}", "w").close()
for _ in range(600):  # ends well only if another trial is running at the same time
    if len([n for n in os.listdir("out") if n.startswith("running-")]) >= 2:
        break
    time.sleep(0.1)
else:
    raise SystemExit(9)
time.sleep(0.5)
os.unlink(f"out/running-{sys.argv[2]}-{os.environ['SEED']}")
"""


def test_jobs_runs_trials_at_the_same_time(repo):
    repo.write("pair.py", PAIR)
    repo.commit_all("pair")
    os.makedirs(repo.root / "out", exist_ok=True)
    (repo.root / "out" / "running-other").touch()  # the first run has a partner
    repo.ok("python", "pair.py", "--lr", "0.1", env={"SEED": "0"})
    (repo.root / "out" / "running-other").unlink()
    template(repo, "pair", "--lr=0.1,0.2", "env:SEED=1,2")
    proc, result = sweep(repo, "pair", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert [t["status"] for t in result["trials"]] == ["ok"] * 4
    runs = trials_of(repo, result["id"])
    seeds = sorted((r[0].properties["sweep.params.--lr"], r[0].properties["sweep.params.env:SEED"])
                   for r in runs.values())
    assert seeds == [("0.1", "1"), ("0.1", "2"), ("0.2", "1"), ("0.2", "2")]
    assert len({r[0].id for r in runs.values()}) == 4


def _wait(predicate, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_sweep_puts_the_files_back_and_resumes(trained, how):
    template(trained, "train", "--lr=0.1,0.01", "params.yaml:train.batch=16,32")
    started = subprocess.Popen([PROV, "sweep", "train"], cwd=trained.root,
                               env={**trained.env, "SLEEP": "30"}, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sweeps = trained.root / ".git" / "prov" / "sweeps"
    _wait(lambda: sweeps.exists() and any(sweeps.glob("*/backup.json")), "the first trial")
    running = trained.root / ".git" / "prov" / "running"
    # the trial's command has started (a Ctrl-C while a Python is still starting up, before
    # it can catch KeyboardInterrupt, prints its traceback: any Python program's, not ours);
    # the backup is written before the file is rewritten, so only then is the rewrite done
    _wait(lambda: running.exists() and any(running.glob("act-*")), "the first trial's command")
    assert trained.read("params.yaml") != PARAMS  # the trial's version is in place
    if how == "SIGTERM":
        started.send_signal(signal.SIGTERM)  # `kill PID`: the sweep only
    else:
        os.killpg(started.pid, getattr(signal, how))  # Ctrl-C, or the session killed
    _out, err = started.communicate(timeout=120)
    assert started.returncode != 0
    if how != "SIGKILL":
        assert trained.read("params.yaml") == PARAMS  # put back before the sweep ended
        assert "stopped; the files are as before" in err and "Traceback" not in err, err
    state = json.loads(next(sweeps.glob("*/sweep.json")).read_text())
    assert all(t["status"] != "ok" for t in state["trials"])
    proc, resumed = sweep(trained, "train", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert trained.read("params.yaml") == PARAMS
    assert resumed["id"] == state["id"] and "resuming 4 of 4 trials" in proc.stderr
    assert [t["status"] for t in resumed["trials"]] == ["ok"] * 4
    runs = trials_of(trained, state["id"])
    assert sorted(runs) == [1, 2, 3, 4]
    with trained.store() as store:
        for trial in resumed["trials"]:
            config = read_version(trained, store, trial["run"], "params.yaml")
            assert f"batch: {trial['params']['params.yaml:train.batch']}" in config


def test_a_file_changed_after_a_killed_sweep_is_left_alone(trained):
    template(trained, "train", "--lr=0.1", "params.yaml:train.batch=32")
    started = subprocess.Popen([PROV, "sweep", "train"], cwd=trained.root,
                               env={**trained.env, "SLEEP": "30"}, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sweeps = trained.root / ".git" / "prov" / "sweeps"
    _wait(lambda: sweeps.exists() and any(sweeps.glob("*/backup.json")), "the trial")
    os.killpg(started.pid, signal.SIGKILL)
    started.wait()
    trained.write("params.yaml", "train:\n  batch: 64\n")  # the user edits it meanwhile
    proc = trained.prov("sweep", "train", "--print-trials")
    assert proc.returncode == 0
    proc = trained.prov("sweep", "train", "--resume")
    assert "params.yaml changed after the sweep rewrote it: left as it is" in proc.stderr
    assert trained.read("params.yaml") == "train:\n  batch: 64\n"


def test_a_caffe_solver_swept_over_base_lr(repo, tmp_path):
    bin_dir = install_caffe(tmp_path / "bin")
    env = {"PATH": f"{bin_dir}{os.pathsep}{repo.env['PATH']}",
           "CAFFE_LOG": str(DATA / "logs" / "lifeng14_caffe__lenet_train_complete.log")}
    solver = (DATA / "solvers" / "BVLC_caffe__lenet_solver_rmsprop.prototxt").read_text()
    repo.write("solver.prototxt", solver)
    repo.commit_all("solver")
    repo.ok("caffe", "train", "--solver=solver.prototxt", env=env)
    made = template(repo, "lenet", "solver.prototxt:base_lr=0.001:0.1:x10")
    assert made["params"][0]["file"] == "solver.prototxt"
    proc, result = sweep(repo, "lenet", env=env)
    assert proc.returncode == 0, proc.stderr
    runs = trials_of(repo, result["id"])
    assert sorted(r[0].properties["caffe.base_lr"] for r in runs.values()) == [0.001, 0.01, 0.1]
    assert repo.read("solver.prototxt") == solver
    with repo.store() as store:
        for trial in result["trials"]:
            config = read_version(repo, store, trial["run"], "solver.prototxt")
            value = trial["params"]["solver.prototxt:base_lr"]
            # the line is rewritten, the rest of the solver stays as written
            assert config == solver.replace("base_lr: 0.01\n", f"base_lr: {value}\n")


def test_trials_and_their_plan_in_neo4j(synced):
    synced.run_id = training_project(synced)
    plan = template(synced, "train", "--lr=0.1,0.01")
    proc, result = sweep(synced, "train")
    assert proc.returncode == 0, proc.stderr
    synced.ok("sync")
    rows = json.loads(synced.ok(
        "cypher", "MATCH (a:Activity {sweep: $sweep})-[u:used {role: 'plan'}]->(p:Entity) "
        "RETURN a.`sweep.trial` AS trial, a.`sweep.params.--lr` AS lr, p.id AS plan, "
        "p.`prov:type` AS type, a.tags AS tags ORDER BY trial",
        "-p", f"sweep={result['id']}", "--json").stdout)
    assert rows == [{"trial": 1, "lr": "0.1", "plan": plan["id"], "type": "prov:Plan",
                     "tags": [result["id"]]},
                    {"trial": 2, "lr": "0.01", "plan": plan["id"], "type": "prov:Plan",
                     "tags": [result["id"]]}]


def test_a_damaged_backup_is_named_and_nothing_is_overwritten(trained):
    template(trained, "train", "--lr=0.1")
    folder = trained.root / ".git" / "prov" / "sweeps" / "sweep-00000000"
    folder.mkdir(parents=True)
    (folder / "backup.json").write_text('{"params.yaml": {"original": "!!"')
    trained.write("params.yaml", "train:\n  batch: 8\n")
    proc = trained.prov("sweep", "train")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr == (f"prov: {folder / 'backup.json'} is damaged: the config files a "
                           "killed sweep rewrote may not be as they were; check them, then "
                           "remove it\n")
    assert trained.read("params.yaml") == "train:\n  batch: 8\n"
    (folder / "backup.json").unlink()
    assert trained.prov("sweep", "train").returncode == 0


def test_the_python_api_returns_what_the_json_prints(trained):
    import provgraph

    with provgraph.open_project(trained.root) as project:
        made = project.template("train", "latest", ["--lr=0.2,0.3"])
        assert project.templates().to_dict()["templates"][0]["id"] == made.id
        assert project.template_show("train").to_dict() == json.loads(
            trained.ok("template", "show", "train", "--json").stdout)
        planned = project.sweep("train", print_trials=True)
        assert [t.params for t in planned.trials] == [{"--lr": "0.2"}, {"--lr": "0.3"}]
        done = project.sweep("train")
        assert done.counts() == {"ok": 2, "failed": 0, "reused": 0, "pending": 0}
        assert all(t.run and t.run.startswith("act-") for t in done.trials)
