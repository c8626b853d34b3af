"""Trust: a clone's `.prov.toml` runs no code and reads nothing outside the repository until
`prov trust` allows that very content in this clone (issue 10, reproduction 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo

EVIL_MODULE = '''\
import pathlib
pathlib.Path({imported!r}).write_text("imported")

def ingest(hook, context):
    pathlib.Path({called!r}).write_text("called")
    return {{"activity": {{"ran": True}}}}
'''


def warnings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """prov's warning lines on stderr (a command's own errors, e.g. cat's, are not warnings)."""
    return [line for line in proc.stderr.splitlines() if line.startswith("prov: warning:")]


def logged(repo: Repo) -> list[dict]:
    return json.loads(repo.ok("log", "--json").stdout)


@pytest.fixture
def attacker(repo_factory, tmp_path: Path):
    """The attacker's repository: a committed `.prov.toml` with an ingestor that runs a shell
    command on every command, one that imports the repository's `tools_evil.py`, and a
    victim's clone of it (`.clone`); `.markers` are what the attack would create."""
    origin = repo_factory("origin")
    markers = {name: tmp_path / f"marker-{name}" for name in ("command", "imported", "called")}
    origin.write("tools_evil.py", EVIL_MODULE.format(imported=str(markers["imported"]),
                                                     called=str(markers["called"])))
    origin.write(".prov.toml", f'''\
[[ingestor]]
name = "evil"
match = '.*'
command = ["sh", "-c", "touch {markers["command"]}"]

[[ingestor]]
name = "sneaky"
match = '.*'
call = "tools_evil:ingest"
''')
    origin.commit_all("tooling")
    clone_root = tmp_path / "victim"
    subprocess.run(["git", "clone", "-q", str(origin.root), str(clone_root)], env=origin.env,
                   check=True, capture_output=True)
    victim = Repo(clone_root, origin.env)
    victim.origin = origin
    victim.markers = markers
    return victim


def test_a_cloned_prov_toml_runs_nothing_until_trusted(attacker):
    victim = attacker
    victim.write("x", "data\n")
    for args in (["ls"], ["cat", "x"], ["cat", "missing"], ["no-such-command"]):
        proc = victim.prov(*args)
        assert len(warnings(proc)) == 1, proc.stderr  # one line, and it names prov trust
        assert warnings(proc)[0] == (
            "prov: warning: .prov.toml asks to run 2 ingestors (evil, sneaky): skipped until "
            "you review it with `prov trust --show` and allow it with `prov trust`"), args
        assert not any(marker.exists() for marker in victim.markers.values()), args
    assert victim.prov("no-such-command").returncode == 127
    commands = [a["properties"]["command"] for a in logged(victim)]
    assert commands == ["no-such-command"] * 2 + ["cat missing", "cat x", "ls"]
    assert not any(key.startswith(("evil.", "sneaky."))
                   for a in logged(victim) for key in a["properties"])

    shown = victim.ok("trust", "--show").stdout
    assert "never trusted in this clone" in shown
    assert f"ingestor evil: command sh -c 'touch {victim.markers['command']}' (match '.*')" \
        in shown
    assert "ingestor sneaky: call tools_evil:ingest" in shown
    assert not any(marker.exists() for marker in victim.markers.values())

    allowed = victim.ok("trust")
    assert "now allowed" in allowed.stdout and "ingestor evil" in allowed.stdout
    proc = victim.ok("ls")
    assert warnings(proc) == []
    assert all(marker.exists() for marker in victim.markers.values())
    assert logged(victim)[0]["properties"]["sneaky.ran"] is True


def test_trust_lives_in_the_git_dir_not_the_work_tree(attacker):
    victim = attacker
    victim.ok("trust")
    stored = json.loads((victim.root / ".git" / "prov" / "trust.json").read_text())
    [digest] = stored["trusted"]
    import hashlib

    assert digest == hashlib.sha256((victim.root / ".prov.toml").read_bytes()).hexdigest()
    assert victim.git("status", "--porcelain") == ""


def test_a_pulled_change_must_be_trusted_again(attacker):
    victim = attacker
    victim.ok("trust")
    victim.ok("true")
    for marker in victim.markers.values():
        marker.unlink()
    origin = victim.origin
    origin.write(".prov.toml", origin.read(".prov.toml").replace("touch ", "touch -c ") +
                 "# pulled later\n")
    origin.commit_all("change the tooling")
    victim.git("pull", "-q", "--no-rebase")

    proc = victim.prov("ls")
    assert proc.returncode == 0
    [warning] = warnings(proc)
    assert warning.startswith("prov: warning: .prov.toml changed since you trusted it and asks "
                              "to run 2 ingestors (evil, sneaky)")
    assert not victim.markers["command"].exists()
    assert not victim.markers["called"].exists()
    assert "changed since you trusted it: not trusted" in victim.ok("trust", "--show").stdout
    assert json.loads(victim.ok("trust", "--show", "--json").stdout)["status"] == "changed"

    victim.ok("trust")
    assert warnings(victim.ok("ls")) == []
    assert victim.markers["called"].exists()

    victim.git("checkout", "-q", "HEAD~1", "--", ".prov.toml")  # back to what was trusted
    assert warnings(victim.ok("ls")) == []


def test_revoke_and_show_as_json(attacker):
    victim = attacker
    shown = json.loads(victim.ok("trust", "--show", "--json").stdout)
    assert shown["status"] == "never" and shown["trusted_at"] is None
    assert [(g["table"], g["name"], g["kind"]) for g in shown["gated"]] == [
        ("ingestor", "evil", "runs code"), ("ingestor", "sneaky", "runs code")]
    assert shown["gated"][1]["call"] == "tools_evil:ingest"
    assert shown["gated"][0]["match"] == ".*"

    trusted = json.loads(victim.ok("trust", "--json").stdout)
    assert trusted["status"] == "trusted" and trusted["trusted_at"]
    assert "trusted in this clone" in victim.ok("trust", "--show").stdout

    assert victim.ok("trust", "--revoke").stdout.strip() == \
        "revoked trust in 1 version(s) of .prov.toml"
    assert len(warnings(victim.ok("true"))) == 1
    assert not victim.markers["called"].exists()
    assert victim.ok("trust", "--revoke").stdout.strip() == "nothing was trusted in this clone"
    proc = victim.prov("trust", "--show", "--revoke")
    assert (proc.returncode, proc.stderr) == (1, "prov: give --show or --revoke, not both\n")


def test_one_warning_for_a_whole_command_list(attacker):
    proc = attacker.prov("true && echo a > a.txt; ls")
    assert proc.returncode == 0
    assert len(warnings(proc)) == 1
    assert len(logged(attacker)) == 3


def test_the_ingestors_listing_shows_untrusted_entries_without_running_them(attacker):
    victim = attacker
    listed = json.loads(victim.ok("ingestors", "--json").stdout)
    untrusted = [(e["name"], e["source"]) for e in listed if not e["trusted"]]
    assert untrusted == [("evil", ".prov.toml"), ("sneaky", ".prov.toml")]
    table = victim.ok("ingestors").stdout
    assert ".prov.toml (not trusted)" in table and "prov trust" in table
    matched = json.loads(victim.ok("ingestors", "match", "ls -l", "--json").stdout)
    assert [(m["name"], m["trusted"]) for m in matched] == [
        ("posix", True), ("evil", False), ("sneaky", False)]
    assert not any(marker.exists() for marker in victim.markers.values())
    victim.ok("trust")
    assert all(e["trusted"] for e in json.loads(victim.ok("ingestors", "--json").stdout))


def test_nothing_to_trust(repo):
    proc = repo.ok("trust")
    assert proc.stdout == "no .prov.toml in this repository: nothing to trust\n"
    assert repo.ok("trust", "--show").stdout == proc.stdout
    repo.write(".prov.toml", "[[metrics]]\nmatch = 'fit'\nsource = \"stdout\"\n"
               "loss = 'loss=([0-9.]+)'\n")
    assert repo.ok("trust").stdout == (".prov.toml runs no code, reads no file outside the "
                                       "repository and names no server: nothing to trust\n")
    assert json.loads(repo.ok("trust", "--show", "--json").stdout)["status"] == "nothing"
    assert not (repo.root / ".git" / "prov" / "trust.json").exists()


def test_untrusted_the_rest_of_the_file_still_applies(repo):
    """The gated settings are skipped; the built-ins, the metrics of the output and the
    redaction of the same file still work."""
    repo.write(".prov.toml", '''\
[redact]
names = ["SHIBBOLETH"]

[[ingestor]]
name = "evil"
match = 'echo'
command = ["sh", "-c", "exit 3"]

[[metrics]]
match = 'echo'
source = "stdout"
loss = 'loss=([0-9.]+)'
''')
    proc = repo.prov("echo", "loss=0.5", "--shibboleth", "hunter2")
    assert proc.returncode == 0
    assert len(warnings(proc)) == 1 and "1 ingestor (evil)" in proc.stderr
    [activity] = logged(repo)
    props = activity["properties"]
    assert props["metrics.loss.value"] == [0.5]
    assert props["utility"] == "echo"
    assert "hunter2" not in json.dumps(activity)


def test_an_installed_entry_point_ingestor_needs_no_trust(attacker, tmp_path):
    site = tmp_path / "site"
    (site / "provplug-1.0.dist-info").mkdir(parents=True)
    (site / "provplug-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: provplug\nVersion: 1.0\n")
    (site / "provplug-1.0.dist-info" / "entry_points.txt").write_text(
        "[provgraph.ingestors]\nplug = provplug:Plug\n")
    (site / "provplug.py").write_text(
        "import re\nfrom provgraph.ingestors import Ingestor\n"
        "class Plug(Ingestor):\n    name = 'plug'\n    pattern = re.compile(r'^true')\n"
        "    def after(self, context):\n        return {'activity': {'ok': True}}\n")
    proc = attacker.ok("true", env={"PYTHONPATH": str(site)})
    assert len(warnings(proc)) == 1  # the clone's own ingestors are still skipped
    assert logged(attacker)[0]["properties"]["plug.ok"] is True
    listed = json.loads(attacker.ok("ingestors", "--json", env={"PYTHONPATH": str(site)}).stdout)
    assert {"name": "plug", "source": "package provplug", "pattern": "^true", "streams": [],
            "trusted": True} in listed


# -- [[metrics]] reading a file outside the repository -------------------------------------

SECRET = "secret 4242\n"


@pytest.fixture
def outside_file(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "secret.txt"
    path.write_text(SECRET)
    return path


def metrics_from(repo: Repo, source: str) -> None:
    repo.write(".prov.toml", f"[[metrics]]\nmatch = '^true'\nsource = {json.dumps(source)}\n"
               "s = 'secret ([0-9]+)'\n")


def secret_read(repo: Repo) -> bool:
    return "metrics.s.value" in logged(repo)[0]["properties"]


@pytest.mark.parametrize("how", ["absolute", "parent", "symlink"])
def test_an_outside_metrics_source_is_not_read_untrusted(repo, outside_file, how):
    if how == "absolute":
        source = str(outside_file)
    elif how == "parent":
        (repo.root.parent / "outside.txt").write_text(SECRET)
        source = "../outside.txt"
    else:
        os.symlink(outside_file, repo.root / "link.txt")
        repo.commit_all("a link")
        source = "link.txt"
    metrics_from(repo, source)
    proc = repo.prov("true")
    assert proc.returncode == 0
    [warning] = warnings(proc)
    assert "asks to read 1 file outside the repository" in warning and "prov trust" in warning
    assert not secret_read(repo)
    assert "4242" not in repo.ok("export", "--format", "json").stdout
    assert "a file outside the repository" in repo.ok("trust", "--show").stdout

    repo.ok("trust")
    assert warnings(repo.ok("true")) == []
    assert logged(repo)[0]["properties"]["metrics.s.value"] == [4242]


def test_a_metrics_source_inside_the_repository_is_data(repo):
    metrics_from(repo, "sub/../train.log")
    repo.write("sub/notes.txt", "a folder\n")
    repo.write("train.log", "secret 7\n")
    assert warnings(repo.ok("true")) == []
    assert logged(repo)[0]["properties"]["metrics.s.value"] == [7]


def test_a_metrics_source_made_a_link_out_by_the_command_is_not_read(repo, outside_file):
    metrics_from(repo, "train.log")
    repo.write(".prov.toml", repo.read(".prov.toml").replace("'^true'", "'^ln'"))
    proc = repo.prov("ln", "-s", str(outside_file), "train.log")
    assert proc.returncode == 0
    [warning] = warnings(proc)
    assert warning.startswith("prov: warning: [[metrics]] source train.log leads outside the "
                              f"repository ({outside_file}): not read")
    assert "metrics.s.value" not in logged(repo)[0]["properties"]


def test_a_metrics_source_in_the_git_dir_is_outside(repo):
    repo.ok("config", "set", "neo4j.password", "12345")
    metrics_from(repo, ".git/prov/config.json")
    repo.write(".prov.toml", repo.read(".prov.toml").replace("secret ([0-9]+)", '"([0-9]+)"'))
    proc = repo.prov("true")
    assert len(warnings(proc)) == 1
    assert "12345" not in repo.ok("log", "--json").stdout


def test_trust_module_stays_off_heavy_imports():
    code = ("import sys, provgraph.trust, provgraph.ingestors.registry, "
            "provgraph.ingestors.metrics, provgraph.ingestors.external; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('duckdb', 'networkx', 'neo4j', 'click', 'rich', 'sqlglot')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_names_from_the_file_cannot_drive_the_terminal(repo):
    repo.write(".prov.toml", '[[ingestor]]\nname = "ok\\u001b[2J\\nprov: all good"\n'
               "match = 'x'\ncommand = ['true']\n")
    proc = repo.prov("true")
    assert proc.returncode == 0
    [warning] = [line for line in proc.stderr.splitlines() if line.startswith("prov:")]
    assert "\x1b" not in proc.stderr
    assert "(ok\\x1b[2J\\nprov: all good)" in warning
    shown = repo.ok("trust", "--show").stdout
    assert "\x1b" not in shown and "ok\\x1b[2J\\nprov: all good" in shown


def test_a_damaged_trust_file_trusts_nothing(attacker):
    victim = attacker
    victim.ok("trust")
    (victim.root / ".git" / "prov" / "trust.json").write_text('{"trusted": ["not", "a map"]}')
    proc = victim.prov("true")
    assert proc.returncode == 0
    damaged, untrusted = warnings(proc)  # the damaged file is named, with what to do
    assert ".git/prov/trust.json is damaged" in damaged and "`prov trust`" in damaged
    assert "skipped until you review it" in untrusted
    assert not victim.markers["called"].exists()
    victim.ok("trust")
    assert warnings(victim.ok("true")) == []


def test_a_declared_ingestor_refuses_to_load_untrusted(attacker):
    """Defence in depth: not only the registry, the ingestor classes themselves refuse."""
    from provgraph.config import Config
    from provgraph.ingestors.external import CallableIngestor, ExecutableIngestor

    victim = attacker
    git_dir = victim.root / ".git"
    config = Config(str(victim.root), str(git_dir / "prov"))
    for cls, table in ((CallableIngestor, config.tables("ingestor")[1]),
                       (ExecutableIngestor, config.tables("ingestor")[0])):
        with pytest.raises(PermissionError, match="not trusted"):
            cls("x", table, config)
    assert not victim.markers["imported"].exists()


def test_a_committed_neo4j_server_receives_nothing_until_trusted(repo_factory, neo4j_uri):
    """A .prov.toml naming a Neo4j server would send every record (and this clone's Neo4j
    credentials) there on the next capture: it waits for `prov trust`."""
    repo = repo_factory("attacked")
    repo.write(".prov.toml", f'[neo4j]\nuri = "{neo4j_uri}"\n')
    repo.commit_all()
    proc = repo.ok("touch", "a.txt")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("prov: warning")]
    assert len(warnings) == 1 and "Neo4j server" in warnings[0]
    assert "prov trust" in warnings[0]
    status = repo.ok("status").stdout
    assert "neo4j       not configured" in status
    refused = repo.prov("sync")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "prov trust" in refused.stderr
    assert not (repo.root / ".git/prov/neo4j-sync.json").exists()
    shown = repo.ok("trust", "--show").stdout
    assert "neo4j.uri" in shown
    repo.ok("trust")
    repo.ok("sync")
    assert "record(s) pending" in repo.ok("status").stdout
