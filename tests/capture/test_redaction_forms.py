"""Issue 10, reproduction 5: each secret form, captured with the real `prov` (the utilities are
stand-ins on PATH that exit 0, so the real command line is what gets captured), appears
nowhere: not in the journal, the embedded index, any export format, `prov log` (text or JSON)
or `prov show`; what is no secret (user names, hosts, option names) survives. Also notes, and
a Neo4j URI with a password (refused in `.prov.toml`, shown as *** wherever printed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import Repo, git_env

TOKEN = "S3cr3tT0ken0123456789abcdef"  # shaped like a token: a URL's user part that is one

# (argv, or one shell string; the secrets in it; what must survive in the recorded command)
FORMS = [
    (["mysql", "-uroot", "-pS3cr3t01", "db"], ["S3cr3t01"], ["-uroot", "-p***", "db"]),
    (["mysql -p'S3cr3t02 x' db"], ["S3cr3t02"], ["mysql -p*** db"]),
    (["curl", "-u", "bob:S3cr3t03", "https://example.com/a"], ["S3cr3t03"],
     ["bob:***", "https://example.com/a"]),
    (["curl", "--user", "carol:S3cr3t04", "https://example.com/b"], ["S3cr3t04"],
     ["--user 'carol:***'"]),
    (["curl", "-H", "Cookie: session=S3cr3t05; theme=S3cr3t06", "https://example.com/c"],
     ["S3cr3t05", "S3cr3t06"], ["Cookie: ***", "https://example.com/c"]),
    (["curl -H 'Authorization: Basic S3cr3t07' https://example.com/d"], ["S3cr3t07"],
     ["'Authorization: Basic ***'"]),
    (["docker", "login", "-u", "dave", "-p", "S3cr3t08", "registry.example.com"], ["S3cr3t08"],
     ["-u dave -p '***' registry.example.com"]),
    (["PGPASSWORD=S3cr3t09 psql -h db.example.com"], ["S3cr3t09"],
     ["PGPASSWORD=*** psql -h db.example.com"]),
    (["sshpass", "-p", "S3cr3t10", "ssh", "host.example.com"], ["S3cr3t10"],
     ["ssh host.example.com"]),
    (["redis-cli", "-a", "S3cr3t11", "ping"], ["S3cr3t11"], ["ping"]),
    (["curl", f"https://{TOKEN}@github.com/o/r.git"], [TOKEN], ["https://***@github.com/o/r.git"]),
    (["keytool", "-list", "-storepass", "S3cr3t13", "-keypass", "S3cr3t14"],
     ["S3cr3t13", "S3cr3t14"], ["-storepass", "-keypass"]),
    (["az", "login", "-u", "erin@example.com", "-p", "S3cr3t15"], ["S3cr3t15"],
     ["erin@example.com"]),
    (["gpg", "--batch", "--passphrase", "S3cr3t16", "-c", "notes.txt"], ["S3cr3t16"],
     ["--passphrase", "notes.txt"]),
    (["ssh-keygen", "-q", "-N", "S3cr3t17", "-f", "key"], ["S3cr3t17"], ["-N", "-f key"]),
    (["htpasswd", "-bc", "pw.txt", "frank", "S3cr3t18"], ["S3cr3t18"], ["pw.txt frank"]),
    (["openssl", "rsa", "-passin", "pass:S3cr3t19"], ["S3cr3t19"], ["-passin 'pass:***'"]),
    (["wget", "--user=gina", "--password=S3cr3t20", "https://example.com/e"], ["S3cr3t20"],
     ["--user=gina"]),
    (["sh -c 'mysql -pS3cr3t21 -e \"select 1\"'"], ["S3cr3t21"], ["mysql -p***"]),
    (["SSHPASS=S3cr3t22 sshpass -e ssh host2.example.com"], ["S3cr3t22"],
     ["SSHPASS=***", "host2.example.com"]),
    (["docker", "run", "-e", "MYSQL_PWD=S3cr3t23", "img"], ["S3cr3t23"], ["MYSQL_PWD=***", "img"]),
    (["mysql", "admin:S3cr3t24@db.example.com"], ["S3cr3t24"], ["admin:***@db.example.com"]),
]
NOTE = "password=S3cr3t90 is the db's"
SECRETS = [secret for _, secrets, _ in FORMS for secret in secrets] + ["S3cr3t90"]
UTILITIES = ["mysql", "curl", "docker", "psql", "sshpass", "redis-cli", "keytool", "az", "gpg",
             "ssh-keygen", "htpasswd", "openssl", "wget"]


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> Repo:
    """One repository in which every form was captured, plus a note."""
    base = tmp_path_factory.mktemp("forms")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Alice\n\temail = alice@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    stand_ins = base / "bin"
    stand_ins.mkdir()
    for name in UTILITIES:
        tool = stand_ins / name
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(0o755)
    env = {k: v for k, v in git_env(home).items() if not k.startswith("PROV_")}
    env["PATH"] = f"{stand_ins}{os.pathsep}{env['PATH']}"
    root = base / "repo"
    root.mkdir()
    repo = Repo(root, env)
    repo.git("init", "-q")
    repo.write("README.md", f"# forms {os.urandom(8).hex()}\n")
    repo.commit_all("start")
    for argv, _, _ in FORMS:
        repo.ok(*argv)
    repo.ok("-m", NOTE, "true")
    return repo


def everything(repo: Repo) -> str:
    """Every place the record reaches: journal, index, exports, log, show."""
    parts = [repo.git("log", "-p", "--all", "--format=%B")]
    for ref in repo.git("for-each-ref", "--format=%(objectname)", "refs/prov/").split():
        parts.append(repo.git("log", "-p", ref))
    parts.append(repo.ok("sql", "SELECT * FROM nodes", "--csv").stdout)
    parts.append(repo.ok("sql", "SELECT * FROM edges", "--csv").stdout)
    for fmt in ("json", "provn", "ttl", "xml"):
        parts.append(repo.ok("export", "--format", fmt).stdout)
    parts.append(repo.ok("log").stdout)
    log = repo.ok("log", "--json").stdout
    parts.append(log)
    for entry in json.loads(log):
        parts.append(repo.ok("show", entry["id"]).stdout)
    return "\n".join(parts)


@pytest.fixture(scope="module")
def recorded(captured) -> tuple[str, list[str]]:
    commands = [e["properties"]["command"] for e in json.loads(captured.ok("log", "--json").stdout)]
    return everything(captured), commands[::-1]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_nowhere_in_the_record(recorded, secret):
    text, _ = recorded
    assert secret not in text


@pytest.mark.parametrize(("index", "survivors"), [(i, s) for i, (_, _, s) in enumerate(FORMS)])
def test_what_is_no_secret_survives(recorded, index, survivors):
    _, commands = recorded
    command = commands[index]
    assert "***" in command, command
    for part in survivors:
        assert part in command, (part, command)


def test_the_note_is_redacted(captured, recorded):
    _, commands = recorded
    assert len(commands) == len(FORMS) + 1
    [last] = json.loads(captured.ok("log", "--json", "-n", "1").stdout)
    assert last["properties"]["message"] == "password=*** is the db's"


# -- a Neo4j URI with a password -----------------------------------------------------------------

URI_SECRET = "S3cr3tUri77"


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then closed): a sync fails at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_password_in_a_committed_uri_is_refused(repo):
    repo.write(".prov.toml", f'[neo4j]\nuri = "bolt://neo4j:{URI_SECRET}@db.example.com:7687"\n')
    for args in (["touch", "made.txt"], ["status"]):
        proc = repo.prov(*args)
        assert proc.returncode != 0, args
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "keep the password out of neo4j.uri" in proc.stderr
        assert ".prov.toml" in proc.stderr and URI_SECRET not in proc.stderr + proc.stdout
    assert not repo.path("made.txt").exists()  # the command did not run
    repo.write(".prov.toml", '[neo4j]\nuri = "bolt://neo4j@db.example.com:7687"\n')
    repo.ok("config", "set", "neo4j.autosync", "false")
    repo.ok("true")  # a user name in the URI is no secret


def test_a_password_in_this_clones_uri_is_never_shown(repo):
    port = closed_port()
    repo.ok("config", "set", "neo4j.uri", f"bolt://neo4j:{URI_SECRET}@127.0.0.1:{port}")
    shown = f"bolt://neo4j:***@127.0.0.1:{port}"
    assert repo.ok("config", "get", "neo4j.uri").stdout == shown + "\n"
    assert f"neo4j.uri = {shown}" in repo.ok("config", "list").stdout
    repo.ok("config", "set", "neo4j.password", URI_SECRET + "pw")
    assert repo.ok("config", "get", "neo4j.password").stdout == "***\n"
    repo.ok("config", "unset", "neo4j.password")  # the URI's password is the one
    repo.ok("touch", "a.txt")  # starts a background sync, which fails and logs it
    outputs = []
    for args in (["sync"], ["cypher", "RETURN 1"]):
        proc = repo.prov(*args)
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"prov: Neo4j at {shown}: ")
        outputs.append(proc.stdout + proc.stderr)
    status = repo.ok("status").stdout
    assert f"neo4j       {shown}: " in status and "last sync failed" in status
    outputs += [status, repo.ok("status", "--json").stdout]
    bad = repo.prov("config", "set", "neo4j.uri", f"http://neo4j:{URI_SECRET}@h")
    assert bad.returncode == 1
    outputs.append(bad.stderr)
    outputs += [repo.read(".git/prov/sync.log"), repo.read(".git/prov/neo4j-sync.json")]
    assert all(URI_SECRET not in text for text in outputs), outputs
    assert json.loads(repo.read(".git/prov/neo4j-sync.json"))["target"] == f"{shown}#neo4j"


def test_the_uri_password_reaches_the_server_and_nothing_else(repo, neo4j_uri):
    """The test server has no authentication: it accepts whatever credentials come."""
    scheme, _, rest = neo4j_uri.partition("://")
    repo.ok("config", "set", "neo4j.uri", f"{scheme}://neo4j:{URI_SECRET}@{rest}")
    repo.ok("config", "set", "neo4j.autosync", "false")
    repo.ok("touch", "b.txt")
    synced = repo.ok("sync")
    rows = json.loads(repo.ok("cypher", "RETURN 41 + 1 AS x", "--json").stdout)
    assert rows == [{"x": 42}]
    shown = f"{scheme}://neo4j:***@{rest}"
    log = repo.read(".git/prov/sync.log")
    assert f"to {shown}" in log
    status = repo.ok("status").stdout
    assert shown in status
    for text in (synced.stdout + synced.stderr, log, repo.read(".git/prov/neo4j-sync.json"),
                 status):
        assert URI_SECRET not in text


# -- regexes from .prov.toml that run away (reproduction 6, the redaction half) ------------------

LONG = "a" * 40 + "!"


@pytest.mark.parametrize(
    ("settings", "regexes"),
    [
        ("patterns = ['(a+)+$']", ["(a+)+$"]),
        ("names = ['(a+)+b']", ["(a+)+b"]),
        ("patterns = ['(a+)+$']\nnames = ['(a+)+b']", ["(a+)+$", "(a+)+b"]),
    ],
)
def test_a_runaway_redaction_regex_is_dropped_and_the_record_stays_closed(repo, settings, regexes):
    repo.write(".prov.toml", f"[redact]\n{settings}\n")
    proc = repo.prov("sh", "-c", 'touch "$1"', "sh", LONG, "--password", "S3cr3tRe", timeout=120)
    assert proc.returncode == 0, proc.stderr
    # one warning per regex that ran away; once one has, the others are not run at all
    warnings = proc.stderr.splitlines()
    assert 1 <= len(warnings) <= len(regexes), proc.stderr
    for line in warnings:
        assert line.startswith("prov: warning: ") and "dropped" in line
        assert any(repr(regex) in line for regex in regexes), line
    assert repo.path(LONG).exists()
    [entry] = json.loads(repo.ok("log", "--json").stdout)
    assert f"{LONG}@v1" in entry["generated"]  # the file is recorded
    command = entry["properties"]["command"]
    assert "--password" in command and command.startswith("sh -c ")
    assert "S3cr3tRe" not in repo.git("log", "-p", "--all") + repo.ok("export").stdout


def test_the_stand_ins_are_what_ran(captured):
    """The commands above ran the stand-ins, not a real client (none would exit 0 here)."""
    found = subprocess.run(["sh", "-c", "command -v mysql"], env=captured.env, text=True,
                           capture_output=True).stdout.strip()
    assert Path(found).parent.name == "bin" and Path(found).read_text() == "#!/bin/sh\nexit 0\n"
