"""Parameters from the configuration files a run read (`params.<file>.<key.path>`) and from
Hydra-style overrides on a Python command line (`params.overrides.*`): real `prov` processes
on real files, read back from both indexes, the export and a clone without content."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from conftest import PROV, Repo
from graph import Graph, neo4j_store

#: A script that reads the files named on its command line, as a training script would.
READER = ("import sys\nfor name in sys.argv[1:]:\n"
          "    if '=' not in name:\n        open(name).read()\n")


def params_of(activity) -> dict:
    return {k: v for k, v in activity.properties.items() if k.startswith("params.")}


def shown(repo: Repo, run: str = "latest") -> dict:
    """The run's properties as `prov show RUN --json` prints them."""
    return json.loads(repo.ok("show", "--json", run).stdout)["properties"]


def test_yaml_nested_keys_and_lists(repo: Repo):
    repo.write("read.py", READER)
    repo.write("params.yaml", "train:\n  lr: 1e-3\n  epochs: 20\n  schedule: [10, 15]\n"
               "  optimizer: {name: adam, betas: [0.9, 0.999]}\nseed: 42\nverbose: on\n"
               "layers:\n  - {size: 64}\n  - {size: 32}\nnothing: null\n")
    repo.commit_all("project")

    repo.ok("python3", "read.py", "params.yaml")

    assert params_of(Graph.of(repo).activities()[0]) == {
        "params.params.yaml.train.lr": 0.001,  # YAML 1.2: a number (1.1 would say text)
        "params.params.yaml.train.epochs": 20,
        "params.params.yaml.train.schedule": [10, 15],
        "params.params.yaml.train.optimizer.name": "adam",
        "params.params.yaml.train.optimizer.betas": [0.9, 0.999],
        "params.params.yaml.seed": 42,
        "params.params.yaml.verbose": "on",  # YAML 1.2: text (1.1 would say true)
        "params.params.yaml._truncated":
            "1 value not a scalar or a list of at most 32 scalars (params.max_list_length): "
            "layers",
    }
    # `prov show RUN` lists them with the other properties
    out = repo.ok("show", "latest").stdout
    assert "params.params.yaml.train.lr" in out and "0.001" in out
    assert shown(repo)["params.params.yaml.train.schedule"] == [10, 15]


def test_json_toml_ini_env_prototxt_in_one_run(repo: Repo):
    repo.write("read.py", READER)
    repo.write("conf/model_config.json", '{"model": {"depth": 3, "act": "relu"}, "tags": ["a"]}')
    repo.write("settings.toml", '[train]\nlr = 0.01\nwhen = 2024-05-01\n[data]\npath = "x"\n')
    repo.write("setup.cfg", "[DEFAULT]\nseed = 7\n[train]\nlr = 0.5\nname = run one\n"
               "amp = true\n")
    repo.write(".env", 'export BATCH=32\nMODE="fast"\n# a comment\nRATIO=.25\n')
    repo.write("solver.prototxt", 'base_lr: 0.01\nlr_policy: "step"\nmax_iter: 100\n')
    repo.write("results.json", '{"accuracy": 0.9}')  # data, not configuration: no param word
    repo.commit_all("project")

    repo.ok("python3", "read.py", "conf/model_config.json", "settings.toml", "setup.cfg",
            ".env", "solver.prototxt", "results.json")

    assert params_of(Graph.of(repo).activities()[0]) == {
        "params.conf/model_config.json.model.depth": 3,
        "params.conf/model_config.json.model.act": "relu",
        "params.conf/model_config.json.tags": ["a"],
        "params.settings.toml.train.lr": 0.01,
        "params.settings.toml.train.when": "2024-05-01",
        "params.settings.toml.data.path": "x",
        "params.setup.cfg.seed": 7,  # INI text typed as YAML types the word
        "params.setup.cfg.train.lr": 0.5,
        "params.setup.cfg.train.name": "run one",
        "params.setup.cfg.train.amp": True,
        "params..env.BATCH": 32,
        "params..env.MODE": "fast",
        "params..env.RATIO": 0.25,
        "params.solver.prototxt.base_lr": 0.01,
        "params.solver.prototxt.lr_policy": "step",
        "params.solver.prototxt.max_iter": 100,
    }


def test_the_version_read_not_the_current_one(repo: Repo):
    repo.write("read.py", READER)
    repo.write("params.yaml", "lr: 0.1\n")
    repo.commit_all("project")

    repo.ok("python3", "read.py", "params.yaml")
    repo.write("params.yaml", "lr: 0.2\n")  # edited after the run, outside prov
    assert shown(repo)["params.params.yaml.lr"] == 0.1
    repo.ok("python3", "read.py", "params.yaml")  # a second run reads the edit
    repo.write("params.yaml", "lr: 0.3\n")
    repo.ok("rebuild")

    first, second = Graph.of(repo).activities()
    assert first.properties["params.params.yaml.lr"] == 0.1
    assert second.properties["params.params.yaml.lr"] == 0.2
    assert shown(repo, "latest~1")["params.params.yaml.lr"] == 0.1


def test_a_file_the_run_changed_gives_the_version_it_read(repo: Repo):
    repo.write("params.yaml", "lr: 0.1\n")
    repo.commit_all("project")

    repo.ok("sh", "-c", "cat params.yaml > /dev/null && echo 'lr: 9' > params.yaml")

    assert shown(repo)["params.params.yaml.lr"] == 0.1


def test_a_file_that_does_not_parse_adds_nothing_and_fails_nothing(repo: Repo):
    repo.write("read.py", READER)
    repo.write("params.yaml", "train: [unclosed\n  lr: : 1\n")
    repo.write("config.json", "{not json")
    repo.write("app.ini", "no section header\n")
    repo.write("listed.yaml", "- just\n- a list\n")
    repo.write("binary.toml", "\x00\x01\x02")
    repo.commit_all("project")

    proc = repo.ok("python3", "read.py", "params.yaml", "config.json", "app.ini",
                   "listed.yaml", "binary.toml")

    assert proc.stderr == ""
    [run] = Graph.of(repo).activities()
    assert params_of(run) == {}
    assert run.properties["status"] == "ok"


def test_a_big_file_and_the_limits_say_what_was_left_out(repo: Repo):
    repo.write("read.py", READER)
    repo.write("big.yaml", "".join(f"key{i}: {i}\n" for i in range(30_000)))  # ~300 kB
    repo.write("many.yaml", f"text: {'x' * 300}\nlong: {list(range(40))}\n"
               + "".join(f"k{i}: {i}\n" for i in range(250)))
    repo.commit_all("project")

    repo.ok("python3", "read.py", "big.yaml", "many.yaml")

    props = params_of(Graph.of(repo).activities()[0])
    size = repo.path("big.yaml").stat().st_size
    assert props["params.big.yaml._truncated"] == (
        f"not read: {size} bytes, over params.max_file_size (100000)")
    assert [k for k in props if k.startswith("params.big.yaml")] == ["params.big.yaml._truncated"]
    assert props["params.many.yaml.k0"] == 0 and props["params.many.yaml.k199"] == 199
    assert "params.many.yaml.k200" not in props
    assert props["params.many.yaml._truncated"] == (
        "50 keys past the first 200 (params.max_keys): k200, k201, k202, k203, k204, ...; "
        "1 value over 256 characters (params.max_value_length): text; "
        "1 value not a scalar or a list of at most 32 scalars (params.max_list_length): long")

    # the limits are settings of the project
    repo.write(".prov.toml", "[params]\nmax_keys = 2\nmax_file_size = \"1MB\"\n"
               "max_value_length = 1000\nmax_list_length = 50\n")
    repo.ok("python3", "read.py", "many.yaml")
    props = params_of(Graph.of(repo).activities()[-1])
    assert props["params.many.yaml.text"] == "x" * 300
    assert props["params.many.yaml.long"] == list(range(40))
    assert props["params.many.yaml._truncated"].startswith(
        "250 keys past the first 2 (params.max_keys): k0, k1,")
    repo.ok("python3", "read.py", "big.yaml")
    props = params_of(Graph.of(repo).activities()[-1])
    assert props["params.big.yaml.key0"] == 0 and len(props) == 3


def test_a_yaml_bomb_is_walked_within_bounds(repo: Repo):
    lines = ["a0: &a0 {x: 1, y: 2}"]
    lines += [f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(9)) + "}"
              for i in range(1, 10)]  # 9^9 leaves through aliases
    repo.write("params.yaml", "\n".join(lines) + "\n")
    repo.commit_all("project")

    repo.ok("cat", "params.yaml", timeout=60)

    props = params_of(Graph.of(repo).activities()[0])
    assert len(props) == 201
    assert props["params.params.yaml._truncated"].startswith("more than ")


def test_a_git_ignored_config_file_the_run_read(repo: Repo):
    repo.write("read.py", READER)
    repo.write(".gitignore", "local.yaml\n")
    repo.write("local.yaml", "device: cuda:0\nworkers: 8\n")
    repo.commit_all("project")

    repo.ok("python3", "read.py", "local.yaml")
    repo.write("local.yaml", "device: cpu\nworkers: 1\n")  # the clone's own file moves on

    [run] = Graph.of(repo).activities()
    assert params_of(run) == {"params.local.yaml.device": "cuda:0",
                              "params.local.yaml.workers": 8}
    repo.ok("rebuild")
    assert shown(repo)["params.local.yaml.device"] == "cuda:0"


def test_hydra_overrides_on_a_python_command_line(repo: Repo):
    repo.write("train.py", "import sys\n")
    repo.commit_all("project")

    repo.ok("python3", "train.py", "--epochs", "3", "lr=0.1", "+model.depth=3", "~aux",
            "++trainer.devices=[0,1]", "db=mysql", "name='a b'", "hydra/launcher=joblib",
            "data.csv")

    [run] = Graph.of(repo).activities()
    assert params_of(run) == {
        "params.overrides.lr": 0.1,
        "params.overrides.model.depth": 3,
        "params.overrides.trainer.devices": [0, 1],
        "params.overrides.db": "mysql",
        "params.overrides.name": "a b",
        "params.overrides.hydra/launcher": "joblib",
        "params.overrides._deleted": ["aux"],
    }
    assert run.properties["python.args.epochs"] == 3  # command-line options stay as they are


def test_a_run_that_read_no_config_has_no_params(repo: Repo):
    repo.write("data.csv", "1,2\n")
    repo.write("params.yaml", "lr: 1\n")  # there, but not read
    repo.commit_all("project")

    repo.ok("cat", "data.csv")
    repo.ok("python3", "-c", "print(1)")

    for run in Graph.of(repo).activities():
        assert params_of(run) == {}


def test_params_files_and_exclude_settings(repo: Repo):
    repo.write(".prov.toml", '[params]\nfiles = ["experiments/*.exp", "hp.json"]\n'
               'exclude = ["data/*.yaml"]\n')
    repo.write("experiments/one.exp", "lr: 0.3\n")  # read as YAML
    repo.write("hp.json", '{"depth": 4}')
    repo.write("data/labels.yaml", "cat: 1\n")
    repo.commit_all("project")

    repo.ok("cat", "experiments/one.exp", "hp.json", "data/labels.yaml")

    assert params_of(Graph.of(repo).activities()[0]) == {
        "params.experiments/one.exp.lr": 0.3, "params.hp.json.depth": 4}


def test_secrets_in_config_files_are_redacted(repo: Repo):
    repo.write(".env", "API_KEY=sk-live-1234567890\nDB=postgres://bob:hunter2@db/x\nLR=0.1\n")
    repo.write("params.yaml", "auth:\n  password: swordfish\n  user: bob\n")
    repo.commit_all("project")

    repo.ok("cat", ".env", "params.yaml")

    props = params_of(Graph.of(repo).activities()[0])
    assert props["params..env.API_KEY"] == "***"
    assert props["params..env.DB"] == "postgres://bob:***@db/x"
    assert props["params..env.LR"] == 0.1
    assert props["params.params.yaml.auth.password"] == "***"
    assert props["params.params.yaml.auth.user"] == "bob"
    journal = repo.git("log", "-p", "--format=", "--glob=refs/prov/journal")
    assert "record.json" in journal
    assert all(secret not in journal for secret in ("sk-live", "hunter2", "swordfish"))


def test_reading_params_imports_only_what_the_file_needs(repo: Repo):
    repo.write("settings.json", '{"a": 1}')
    repo.write("params.yaml", "a: 1\n")
    repo.commit_all("project")

    def imported(*args: str) -> set[str]:
        proc = repo.prov(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert proc.returncode == 0
        return {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}

    assert not imported("true") & {"yaml", "dotenv"}
    assert not imported("cat", "settings.json") & {"yaml", "dotenv"}
    assert "yaml" in imported("cat", "params.yaml")
    assert {n.properties.get("params.settings.json.a") for n in Graph.of(repo).activities()} \
        == {None, 1}


def test_params_are_in_the_export(repo: Repo):
    repo.write("params.yaml", "train:\n  lr: 0.05\n")
    repo.commit_all("project")
    repo.ok("cat", "params.yaml")

    document = json.loads(repo.ok("export", "--format", "json").stdout)

    [activity] = document["activity"].values()
    [(key, value)] = [(k, v) for k, v in activity.items() if "params.yaml" in k]
    assert key == "provgraph:params.params.yaml.train.lr"
    assert value == [{"$": "0.05", "type": "xsd:double"}]


def test_params_on_both_indexes_and_queryable_with_cypher(synced: Repo):
    repo = synced
    repo.write("read.py", READER)
    for lr in ("0.1", "0.01"):
        repo.write("params.yaml", f"train:\n  lr: {lr}\n  layers: [64, 32]\n")
        repo.ok("python3", "read.py", "params.yaml", "lr_override=" + lr)
    repo.ok("sync")

    rows = json.loads(repo.ok(
        "cypher", "MATCH (a:Activity {project: $project}) "
        "WHERE a.`params.params.yaml.train.lr` < $most "
        "RETURN a.`params.params.yaml.train.lr` AS lr, a.`params.params.yaml.train.layers` AS "
        "layers, a.`params.overrides.lr_override` AS o", "--param", "most=0.05",
        "--json").stdout)
    assert rows == [{"lr": 0.01, "layers": [64, 32], "o": 0.01}]
    rows = json.loads(repo.ok(
        "sql", "SELECT CAST(properties->>'$.\"params.params.yaml.train.lr\"' AS DOUBLE) AS lr "
        "FROM activities WHERE properties->>'$.\"params.params.yaml.train.lr\"' IS NOT NULL "
        "ORDER BY lr", "--json").stdout)
    assert rows == [{"lr": 0.01}, {"lr": 0.1}]
    embedded = {n.id: params_of(n) for n in Graph.of(repo).activities()}
    with neo4j_store(repo) as neo4j:
        assert {n.id: params_of(n) for n in neo4j.all_nodes() if n.label == "Activity"} \
            == embedded


def test_params_survive_gc_and_a_clone_pulled_without_content(repo: Repo, tmp_path):
    repo.write("read.py", READER)
    for lr in ("0.1", "0.2"):
        repo.write("params.yaml", f"lr: {lr}\nmodel:\n  depth: 3\n")
        repo.ok("python3", "read.py", "params.yaml")
    repo.ok("gc", "--keep-last", "1", "--expire", "now")
    repo.ok("rebuild")
    before = [params_of(n) for n in Graph.of(repo).activities()]
    assert [p["params.params.yaml.lr"] for p in before] == [0.1, 0.2]

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=repo.env)
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "HEAD:refs/heads/main")
    repo.ok("push")  # --content none is the default
    other = Repo(tmp_path / "other", repo.env)
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(other.root)],
                   check=True, env=repo.env)
    other.ok("pull")
    other.ok("rebuild")

    assert [params_of(n) for n in Graph.of(other).activities()] == before


def test_a_capture_killed_midway_gets_the_params_it_read(repo: Repo):
    repo.write("params.yaml", "lr: 0.5\n")
    repo.write(".gitignore", "started\n")
    repo.commit_all("project")
    proc = subprocess.Popen(
        [PROV, "sh", "-c", "cat params.yaml > /dev/null && touch started && sleep 60"],
        cwd=repo.root, env=repo.env, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        while not repo.path("started").exists():
            assert proc.poll() is None, "the command ended before it was killed"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # prov and its command
        proc.wait()

    after = repo.ok("true")  # finishes the killed capture's record

    assert "recorded an interrupted capture" in after.stderr
    killed = next(a for a in Graph.of(repo).activities() if a.properties["utility"] == "sh")
    assert killed.properties["status"] == "interrupted"
    assert killed.properties["params.params.yaml.lr"] == 0.5


def test_a_version_read_before_is_not_parsed_again(repo: Repo):
    repo.write("params.yaml", "lr: 0.1\n")
    repo.write(".env", "LR=0.1\nNAME=x\n")
    repo.commit_all("project")

    def run() -> tuple[dict, set[str]]:
        proc = repo.ok("cat", "params.yaml", ".env", env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert "Traceback" not in proc.stderr
        imported = {line.split("|")[-1].strip().split(".")[0]
                    for line in proc.stderr.splitlines() if line.startswith("import time:")}
        return params_of(Graph.of(repo).activities()[-1]), imported

    first, imported = run()
    assert {"yaml", "dotenv"} <= imported
    assert first == {"params.params.yaml.lr": 0.1, "params..env.LR": 0.1,
                     "params..env.NAME": "x"}
    again, imported = run()  # the same versions: the cache answers
    assert again == first and not imported & {"yaml", "dotenv"}

    repo.ok("config", "set", "redact.names", '["NAME"]')  # other rules: read again
    redacted, _ = run()
    assert redacted == {**first, "params..env.NAME": "***"}

    cache = repo.path(".git/prov/params.json")
    for damaged in (b"", b"\xff\x00garbage", b'[1, "x"]', b'{"x": 5}'):
        cache.write_bytes(damaged)
        assert run()[0] == redacted


def test_one_content_in_two_formats_is_read_in_each(repo: Repo):
    repo.write("a.yaml", '{"x": 1, "y": "z"}\n')
    repo.write("b_config.json", '{"x": 1, "y": "z"}\n')  # the same blob
    repo.write("c.env", '{"x": 1, "y": "z"}\n')  # the same blob, no KEY=value line
    repo.commit_all("project")

    repo.ok("cat", "a.yaml", "b_config.json", "c.env")

    assert params_of(Graph.of(repo).activities()[0]) == {
        "params.a.yaml.x": 1, "params.a.yaml.y": "z",
        "params.b_config.json.x": 1, "params.b_config.json.y": "z"}
