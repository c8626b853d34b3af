"""Secrets on a command line are replaced before anything is recorded."""

from __future__ import annotations

import pytest

from provgraph.redact import (
    DEFAULT_OPTION_NAMES,
    REDACTED,
    compile_rules,
    redact_argv,
    redact_text,
)

GITHUB_TOKEN = "ghp_" + "a1B2" * 9
GITHUB_PAT = "github_pat_" + "11AAAA_bbbb" * 3
AWS_KEY_ID = "AKIA" + "ABCDEFGH12345678"
OPENAI_KEY = "sk-" + "proj-" + "x9" * 12
SLACK_TOKEN = "xoxb-1234567890-abcdefghij"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def test_redacted_marker_and_default_names():
    assert REDACTED == "***"
    assert "password" in DEFAULT_OPTION_NAMES
    assert r"api[-_]?key" in DEFAULT_OPTION_NAMES


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["mysql", "--password", "hunter2", "db"], ["mysql", "--password", "***", "db"]),
        (["x", "--password=hunter2"], ["x", "--password=***"]),
        (["x", "--passwd", "a", "--pass", "b", "--pwd", "c"],
         ["x", "--passwd", "***", "--pass", "***", "--pwd", "***"]),
        (["x", "--token", "t", "--secret=s"], ["x", "--token", "***", "--secret=***"]),
        (["x", "--api-key", "k", "--api_key=k", "--apikey", "k", "--APIKEY", "k"],
         ["x", "--api-key", "***", "--api_key=***", "--apikey", "***", "--APIKEY", "***"]),
        (["x", "--access-key", "a", "--secret_key", "s", "--private-key", "p"],
         ["x", "--access-key", "***", "--secret_key", "***", "--private-key", "***"]),
        (["x", "--auth", "a", "--credential", "c", "--credentials=c", "--client-secret", "c"],
         ["x", "--auth", "***", "--credential", "***", "--credentials=***", "--client-secret",
          "***"]),
        (["x", "--db-password", "p", "--github-token", "t", "--aws.secret", "s"],
         ["x", "--db-password", "***", "--github-token", "***", "--aws.secret", "***"]),
        (["openssl", "enc", "-pass", "pass:xyz"], ["openssl", "enc", "-pass", "pass:***"]),
        (["x", "--password", "a b"], ["x", "--password", "***"]),
        (["x", "--password=a b"], ["x", "--password=***"]),
        # A next word that is a long option is not the value.
        (["psql", "--no-password", "--host", "h"], ["psql", "--no-password", "--host", "h"]),
        (["x", "--password"], ["x", "--password"]),
    ],
)
def test_argv_secret_options(argv, expected):
    assert redact_argv(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["sort", "--key", "2", "f"],
        ["nc", "-p", "8080"],
        ["mysql", "-p", "db"],  # -p alone: mysql asks for the password; db is the database
        ["mysql", "-P", "3306", "-hprod", "-uroot"],
        ["ssh", "-p", "2222", "git@github.com"],
        ["docker", "run", "-p", "8080:80", "--user", "1000:1000", "img:1.0@sha256:abc"],
        ["x", "--passes", "3"],
        ["x", "--compass", "n", "--bypass", "y", "--author", "me"],
        ["x", "--password-file", "secret.txt", "--token-path", "t.txt"],
        ["x", "--key-file", "k.pem", "--keys", "3"],
        ["env", "PATH=/bin", "PWD=/home/me", "OLDPWD=/tmp", "PASSES=3", "COMPASS=n"],
        ["curl", "https://example.com:8080/a?page=2&sort=name"],
        ["echo", "sk-short", "AKIA123", "ghp_short", "task-0123456789abcdefghijklmn"],
        ["echo", "$API_KEY", "${GITHUB_TOKEN}"],
    ],
)
def test_argv_that_must_not_be_redacted(argv):
    assert redact_argv(argv) == argv


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("API_KEY=abc", "API_KEY=***"),
        ("AWS_SECRET_ACCESS_KEY=abc", "AWS_SECRET_ACCESS_KEY=***"),
        ("GITHUB_TOKEN=abc", "GITHUB_TOKEN=***"),
        ("DB_PASSWORD=a b", "DB_PASSWORD=***"),
        ("db_password2=x", "db_password2=***"),
        ("AWS_SECRETS=x", "AWS_SECRETS=***"),
        ("MY_APIKEY=x", "MY_APIKEY=***"),
        ("trainer.api_key=x", "trainer.api_key=***"),
        ("--env=API_KEY=a b", "--env=API_KEY=***"),
    ],
)
def test_argv_secret_assignments(word, expected):
    assert redact_argv(["env", word, "cmd"]) == ["env", expected, "cmd"]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("https://bob:s3cr3t@example.com/data.csv", "https://bob:***@example.com/data.csv"),
        ("postgres://u:p@ss@db:5432/x", "postgres://u:***@db:5432/x"),
        ("https://example.com/x?token=abc&page=2", "https://example.com/x?token=***&page=2"),
        ("https://e.com/x?a=1&api_key=abc#top", "https://e.com/x?a=1&api_key=***#top"),
        ("https://e.com/cb?access_token=abc", "https://e.com/cb?access_token=***"),
        (GITHUB_TOKEN, "***"),
        (GITHUB_PAT, "***"),
        (AWS_KEY_ID, "***"),
        (OPENAI_KEY, "***"),
        (SLACK_TOKEN, "***"),
        (JWT, "***"),
        (f"https://{GITHUB_TOKEN}@github.com/o/r.git", "https://***@github.com/o/r.git"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("X-Api-Key: abc", "X-Api-Key: ***"),
    ],
)
def test_argv_urls_headers_and_token_shapes(word, expected):
    assert redact_argv(["curl", word]) == ["curl", expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mysql --password hunter2 db", "mysql --password *** db"),
        ("mysql --password 'a b' db", "mysql --password *** db"),
        ('mysql --password "a b" db', "mysql --password *** db"),
        ('mysql --password="a b" db', "mysql --password=*** db"),
        ("mysql --password='a b' db", "mysql --password=*** db"),
        ('x "--password=a b" y', 'x "--password=***" y'),
        ("x --token=$(cat tok) y", "x --token=*** y"),
        ("x --password 'never closed", "x --password ***"),
        ("x --db-password p --verbose", "x --db-password *** --verbose"),
        ("x --no-password --host h", "x --no-password --host h"),
        ("API_KEY=abc987 sh -c 'test ${#API_KEY} = 6'", "API_KEY=*** sh -c 'test ${#API_KEY} = 6'"),
        ("export GITHUB_TOKEN='a b'; git push", "export GITHUB_TOKEN=***; git push"),
        ("docker run -e 'API_KEY=a b' img", "docker run -e 'API_KEY=***' img"),
        ("a && DB_PASSWORD=x make|tee log", "a && DB_PASSWORD=*** make|tee log"),
        ("git clone https://bob:s3cr3t@host/r.git", "git clone https://bob:***@host/r.git"),
        ("curl 'https://h/x?token=t&page=2'", "curl 'https://h/x?token=***&page=2'"),
        ("curl -H 'Authorization: Bearer xyz' u", "curl -H 'Authorization: Bearer ***' u"),
        (f"echo {AWS_KEY_ID} and {JWT}.", "echo *** and ***."),
        ("sort --key 2 -p 8080 --passes 3 f", "sort --key 2 -p 8080 --passes 3 f"),
        ("PWD=/a OLDPWD=/b cmd", "PWD=/a OLDPWD=/b cmd"),
        ("echo $API_KEY", "echo $API_KEY"),
    ],
)
def test_text(text, expected):
    assert redact_text(text) == expected


ALL_SECRETS = [
    "mysql --password 'a b' --token=x API_KEY=y https://u:p@h/?api_key=k",
    f"{GITHUB_TOKEN} {AWS_KEY_ID} {OPENAI_KEY} {SLACK_TOKEN} {JWT}",
    'x "--password=a b" \'API_KEY=c d\' --secret "never closed',
    "curl -H 'Authorization: Basic abc' -H 'X-Auth-Token: t'",
]


@pytest.mark.parametrize("text", ALL_SECRETS)
def test_redaction_is_idempotent(text):
    once = redact_text(text)
    assert once != text
    assert redact_text(once) == once
    words = text.split()
    once_argv = redact_argv(words)
    assert redact_argv(once_argv) == once_argv


def test_extra_pattern_without_group_replaces_the_whole_match():
    rules = compile_rules(extra_patterns=[r"hunter\d"])
    assert redact_text("pw is hunter2.", rules) == "pw is ***."
    assert redact_argv(["x", "hunter2", "ahunter3b"], rules) == ["x", "***", "a***b"]


def test_extra_pattern_with_group_replaces_group_one():
    rules = compile_rules(extra_patterns=[r"sessionid=(\w+)", r"(?i)dsn: (\S+)"])
    assert redact_text("x sessionid=abc; DSN: pg://u", rules) == "x sessionid=***; DSN: ***"
    assert redact_argv(["x", "sessionid=abc"], rules) == ["x", "sessionid=***"]


def test_extra_pattern_spans_argv_words_as_written():
    rules = compile_rules(extra_patterns=[r"--dsn[= ](\S+)"])
    argv = ["echo", "--dsn", "postgres://x", "--dsn=y", "z"]
    assert redact_argv(argv, rules) == ["echo", "--dsn", "***", "--dsn=***", "z"]
    assert redact_text("echo --dsn postgres://x", rules) == "echo --dsn ***"


def test_extra_names():
    rules = compile_rules(extra_names=["passphrase", "(dsn)"])
    assert redact_argv(["x", "--passphrase", "open-sesame", "--db-dsn=pg"], rules) == [
        "x", "--passphrase", "***", "--db-dsn=***"
    ]
    assert redact_text("MY_PASSPHRASE=a x --dsn 'b c'", rules) == "MY_PASSPHRASE=*** x --dsn ***"
    # the defaults still apply
    assert redact_argv(["x", "--password", "p"], rules) == ["x", "--password", "***"]


def test_argv_is_not_changed_in_place():
    argv = ["x", "--password", "p"]
    redact_argv(argv)
    assert argv == ["x", "--password", "p"]


def test_the_lazy_redactor_agrees_with_the_rules_on_every_case():
    """Redactor skips compiling the rules when no trigger word appears: it must never miss."""
    from provgraph.redact import Redactor

    cases = [text for mark in test_text.pytestmark for text, _ in mark.args[1]]
    cases += [*ALL_SECRETS, GITHUB_TOKEN, GITHUB_PAT, AWS_KEY_ID, OPENAI_KEY, SLACK_TOKEN, JWT,
              "plain words only", "sort -o out.csv in.csv"]
    redactor = Redactor()
    for text in cases:
        assert redactor.text(text) == redact_text(text), text
        assert redactor.argv(text.split()) == redact_argv(text.split()), text
    assert Redactor(["--dsn[= ](\\S+)"]).argv(["x", "--dsn", "pg://a"]) == ["x", "--dsn", "***"]
    assert Redactor().text("sort -o out.csv in.csv") == "sort -o out.csv in.csv"
