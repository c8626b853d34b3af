"""`prov config set`: every setting's value is checked for its type before it is stored."""

from __future__ import annotations

import json

import pytest
from graph import Graph

# (key, a value of the wrong type, what the error says the key takes)
WRONG = [
    ("capture.large_file_limit", "lots", "a size"),
    ("capture.ignored", "all", "digest, content or skip"),
    ("capture.trace", "maybe", "on or off"),
    ("redact.patterns", "(unclosed", "a regex"),
    ("redact.names", "[1, 2]", "a JSON list of them"),
    ("neo4j.uri", "http://127.0.0.1:7474", "a Neo4j URI"),
    ("neo4j.user", " ", "a user name"),
    ("neo4j.password", "", "a password"),
    ("neo4j.database", "no spaces", "a database name"),
    ("neo4j.autosync", "maybe", "true or false"),
    ("fileview.memory_limit", "200%", "a size (2GB) or a share of memory"),
    ("fileview.why", "sometimes", "true or false"),
    ("retention.keep_last", "0", "a number of versions"),
    ("retention.keep_days", "a week", "a number of days"),
    ("params.files", "[1]", "a JSON list of globs"),
    ("params.exclude", " ", "a glob"),
    ("params.max_file_size", "huge", "a size"),
    ("params.max_keys", "0", "a number of keys"),
    ("params.max_value_length", "long", "a number of characters"),
    ("params.max_list_length", "many", "a number of items"),
]


def test_every_setting_is_covered():
    from provgraph.config import DEFAULTS

    assert {key for key, _, _ in WRONG} == set(DEFAULTS)


@pytest.mark.parametrize(("key", "value", "takes"), WRONG, ids=[k for k, _, _ in WRONG])
def test_a_value_of_the_wrong_type_is_refused_in_one_line(repo, key, value, takes):
    before = repo.ok("config", "list").stdout
    proc = repo.prov("config", "set", key, value)
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"prov: {key} takes ")
    assert takes in line
    assert repo.ok("config", "list").stdout == before  # nothing was stored


def test_values_are_stored_typed_and_read_back_as_set(repo):
    for key, value in [("neo4j.autosync", "off"), ("fileview.why", "TRUE"),
                       ("capture.large_file_limit", "2KB"), ("neo4j.password", "12345"),
                       ("neo4j.user", "007"), ("fileview.memory_limit", "30%"),
                       ("redact.names", '["passphrase", "pin"]'),
                       ("redact.patterns", "(?:--dsn)[= ](\\S+)")]:
        repo.ok("config", "set", key, value)
    stored = json.loads(repo.path(".git/prov/config.json").read_text())
    assert stored == {
        "neo4j.autosync": False, "fileview.why": True, "capture.large_file_limit": 2000,
        "neo4j.password": "12345", "neo4j.user": "007", "fileview.memory_limit": "30%",
        "redact.names": ["passphrase", "pin"], "redact.patterns": ["(?:--dsn)[= ](\\S+)"],
    }
    # what `get` and `list` print, `set` takes back
    assert repo.ok("config", "get", "neo4j.autosync").stdout == "false\n"
    assert 'redact.names = ["passphrase", "pin"]' in repo.ok("config", "list").stdout
    repo.ok("config", "set", "redact.names", repo.ok("config", "get", "redact.names").stdout)
    assert json.loads(repo.path(".git/prov/config.json").read_text())["redact.names"] == [
        "passphrase", "pin"]


def test_list_settings_take_effect(repo):
    repo.ok("config", "set", "redact.names", '["passphrase"]')
    repo.ok("config", "set", "redact.patterns", "--", "--dsn[= ](\\S+)")  # -- : not an option
    repo.ok("echo", "--passphrase", "hunter2", "--dsn=pg://db", "--keep", "this")
    [activity] = Graph.of(repo).activities()
    command = activity.properties["command"]
    assert "hunter2" not in command and "pg://db" not in command
    assert "--keep this" in command
