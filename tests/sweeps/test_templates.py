"""`prov template`: a recorded run becomes a plan; its keys are checked against the record."""

from __future__ import annotations

import json

import pytest
from sweep_project import training_project


@pytest.fixture
def trained(repo):
    repo.run_id = training_project(repo)
    return repo


def define(repo, name, *params, run="latest"):
    args = ["template", name, "--from", run]
    for param in params:
        args += ["--param", param]
    return repo.prov(*args, "--json")


def test_a_template_names_its_run_placeholders_and_specs(trained):
    proc = define(trained, "train", "--lr=0.001:0.1:x10", "params.yaml:train.batch=16,32",
                  "env:SEED=1,2")
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stdout)
    assert made["name"] == "train" and made["version"] == 1 and made["source"] == trained.run_id
    assert made["command"] == "python train.py --lr '{--lr}'"
    by_key = {p["key"]: p for p in made["params"]}
    assert by_key["--lr"]["values"] == ["0.001", "0.01", "0.1"]
    assert by_key["--lr"]["default"] == "0.1"
    assert by_key["params.yaml:train.batch"] == {
        "key": "params.yaml:train.batch", "kind": "config", "file": "params.yaml",
        "path": "train.batch", "spec": "16,32", "values": ["16", "32"], "default": 16,
        "read": by_key["params.yaml:train.batch"]["read"]}
    assert by_key["env:SEED"]["kind"] == "env" and by_key["env:SEED"]["name"] == "SEED"
    shown = json.loads(trained.ok("template", "show", "train", "--json").stdout)
    assert shown == made
    text = trained.ok("template", "show", "train").stdout
    assert "train v1" in text and "--lr = 0.001:0.1:x10" in text and "[3 values;" in text


def test_the_plan_is_a_prov_plan_in_the_graph(trained):
    made = json.loads(define(trained, "train", "lr=0.1,0.2").stdout)
    with trained.store() as store:
        node = store.node(made["id"])
    assert node.label == "Entity" and node.properties["prov:type"] == "prov:Plan"
    assert node.properties["name"] == "train" and node.properties["version"] == 1
    assert node.properties["template.source"] == trained.run_id
    assert node.properties["template.command"] == "python train.py --lr '{lr}'"
    assert node.properties["template.spec.lr"] == "0.1,0.2"
    assert node.properties["template.params"] == ["lr"]
    provn = trained.ok("export", "--format", "provn").stdout
    assert f"entity(provgraph:{made['id']}" in provn and "prov:type='prov:Plan'" in provn
    again = trained.ok("rebuild")
    assert again.returncode == 0
    with trained.store() as store:
        assert store.node(made["id"]).properties == node.properties


def test_redefining_makes_a_new_version_list_shows_the_latest(trained):
    first = json.loads(define(trained, "train", "--lr=0.1,0.2").stdout)
    second = json.loads(define(trained, "train", "--lr=0.3").stdout)
    other = json.loads(define(trained, "batch", "params.yaml:train.batch=8").stdout)
    assert (first["version"], second["version"]) == (1, 2) and first["id"] != second["id"]
    listed = json.loads(trained.ok("template", "list", "--json").stdout)["templates"]
    assert [(t["name"], t["version"], t["versions"]) for t in listed] == [
        ("batch", 1, 1), ("train", 2, 2)]
    assert listed[0]["id"] == other["id"]
    old = json.loads(trained.ok("template", "show", "train@v1", "--json").stdout)
    assert old["id"] == first["id"] and old["params"][0]["spec"] == "0.1,0.2"
    assert json.loads(trained.ok("template", "show", second["id"], "--json").stdout)[
        "version"] == 2
    text = trained.ok("template", "list").stdout
    assert "train v2" in text and "batch v1" in text and "2 versions" in text


def test_keys_of_every_kind(repo):
    repo.write("params.yaml", "train:\n  batch: 16\n")
    repo.write("tool.py", "import sys, yaml\nyaml.safe_load(open('params.yaml'))\n")
    repo.ok("python", "tool.py", "in.csv", "--seed=3", "-n", "5", "model.lr=0.1", "+x=1")
    ok = define(repo, "t", "@2=a.csv,b.csv", "--seed=1,2", "n=1:3:+1", "model.lr=0.2", "x=2")
    assert ok.returncode == 0, ok.stderr
    made = json.loads(ok.stdout)
    assert made["command"] == ("python tool.py '{@2}' '--seed={--seed}' -n '{n}' "
                               "'model.lr={model.lr}' '+x={x}'")
    kinds = {p["key"]: (p["kind"], p["at"], p["default"]) for p in made["params"]}
    assert kinds == {"@2": ("operand", 2, "in.csv"), "--seed": ("option", 3, "3"),
                     "n": ("option", 5, "5"), "model.lr": ("override", 6, "0.1"),
                     "x": ("override", 7, "1")}
    by_value = json.loads(define(repo, "u", "@=in.csv=c.csv").stdout)
    assert by_value["params"][0]["at"] == 2


@pytest.mark.parametrize(("param", "said"), [
    ("--nope=1", "unknown key --nope: the command line 'python train.py --lr 0.1' has no --nope"),
    ("nope=1", "unknown key nope"),
    ("params.yaml:train.nope=1", "params.yaml@v1, as python train.py #1 read it, has no key "
                                 "train.nope"),
    ("other.yaml:a=1", "python train.py #1 did not read other.yaml (it read: params.yaml, "
                       "train.py)"),
    ("train.py:a=1", "only keys of YAML, JSON, TOML and .prototxt files can be swept"),
    ("@9=1", "unknown key @9"),
    ("--lr=1:0:+1", "--lr=1:0:+1 gives no values"),
    ("--lr=0:1:x0", "--lr=0:1:x0 gives no values"),
    ("--lr", "is not KEY=SPEC"),
])
def test_bad_keys_and_specs_are_one_line(trained, param, said):
    proc = define(trained, "bad", param)
    assert proc.returncode != 0 and proc.stdout == ""
    assert said in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert trained.ok("template", "list", "--json").stdout.strip() == '{\n  "templates": []\n}'


def test_what_cannot_be_templated_is_one_line(trained, tmp_path):
    cases = [(["template", "show", "nothing"], "no template 'nothing'"),
             (["template", "t", "--param", "lr=1"], "--from RUN"),
             (["template", "list", "--from", "latest"], "cannot name a template"),
             (["template", "t", "--from", "#99", "--param", "lr=1"], "#99")]
    trained.ok("cat params.yaml | wc -l")
    cases.append((["template", "t", "--from", "latest", "--param", "lr=1"],
                  "only one simple command"))
    document = tmp_path / "doc.json"
    document.write_text(json.dumps({
        "prefix": {"ex": "http://example.org/"},
        "activity": {"ex:elsewhere": {"prov:label": "made elsewhere"}}}))
    trained.ok("import", str(document))
    cases.append((["template", "t", "--from", "ex:elsewhere", "--param", "lr=1"],
                  "was imported, not run here"))
    for args, said in cases:
        proc = trained.prov(*args)
        assert proc.returncode != 0 and said in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
