"""Secrets on a command line are replaced before anything is recorded."""

from __future__ import annotations

import pytest

from provgraph.capture.redact import (
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
    from provgraph.capture.redact import Redactor

    cases = [text for mark in test_text.pytestmark for text, _ in mark.args[1]]
    cases += [*ALL_SECRETS, GITHUB_TOKEN, GITHUB_PAT, AWS_KEY_ID, OPENAI_KEY, SLACK_TOKEN, JWT,
              "plain words only", "sort -o out.csv in.csv"]
    redactor = Redactor()
    for text in cases:
        assert redactor.text(text) == redact_text(text), text
        assert redactor.argv(text.split()) == redact_argv(text.split()), text
    assert Redactor(["--dsn[= ](\\S+)"]).argv(["x", "--dsn", "pg://a"]) == ["x", "--dsn", "***"]
    assert Redactor().text("sort -o out.csv in.csv") == "sort -o out.csv in.csv"


# -- the forms of issue 10 (reproduction 5) ------------------------------------------------------

FORMS_ARGV = [
    (["mysql", "-uroot", "-pS3cret", "db"], ["mysql", "-uroot", "-p***", "db"]),
    (["mysqldump", "-p", "db"], ["mysqldump", "-p", "db"]),  # -p alone asks for it
    (["/usr/bin/mariadb", "-hdb.example.com", "-pS3cret"],
     ["/usr/bin/mariadb", "-hdb.example.com", "-p***"]),
    (["mysql", "-pS3 cret"], ["mysql", "-p***"]),  # -p'S3 cret' after the shell
    (["curl", "-u", "bob:S3cret", "https://h/x"], ["curl", "-u", "bob:***", "https://h/x"]),
    (["curl", "-ubob:S3cret"], ["curl", "-ubob:***"]),
    (["curl", "-sSu", "bob:S3cret"], ["curl", "-sSu", "bob:***"]),
    (["curl", "--user", "bob:S3cret"], ["curl", "--user", "bob:***"]),
    (["curl", "--user=bob:S3cret"], ["curl", "--user=bob:***"]),
    (["curl", "--proxy-user", "bob:S3cret"], ["curl", "--proxy-user", "bob:***"]),
    (["curl", "-u", "bob"], ["curl", "-u", "bob"]),  # curl asks for the password
    (["wget", "--user", "bob", "--password", "S3cret"], ["wget", "--user", "bob", "--password",
                                                       "***"]),
    (["curl", "-H", "Cookie: session=S3cret; theme=S3cret2", "u"],
     ["curl", "-H", "Cookie: ***", "u"]),
    (["curl", "-H", "Set-Cookie: id=S3cret"], ["curl", "-H", "Set-Cookie: ***"]),
    (["curl", "-H", "Authorization: Basic dXNlcjpwYXNz"],
     ["curl", "-H", "Authorization: Basic ***"]),
    (["curl", "--header=Proxy-Authorization: Digest username=\"u\", response=\"S3cret\""],
     ["curl", "--header=Proxy-Authorization: Digest ***"]),
    (["curl", "-H", "X-Auth-Token: S3cret"], ["curl", "-H", "X-Auth-Token: ***"]),
    (["curl", "-b", "sid=S3cret", "-b", "jar.txt"], ["curl", "-b", "***", "-b", "jar.txt"]),
    (["git", "-c", "http.extraHeader=Authorization: Bearer S3cret", "fetch"],
     ["git", "-c", "http.extraHeader=Authorization: Bearer ***", "fetch"]),
    (["docker", "login", "-u", "bob", "-p", "S3cret", "reg.example.com"],
     ["docker", "login", "-u", "bob", "-p", "***", "reg.example.com"]),
    (["podman", "login", "--password", "S3cret", "r"], ["podman", "login", "--password", "***",
                                                        "r"]),
    (["az", "login", "-u", "me@example.com", "-p", "S3cret"],
     ["az", "login", "-u", "me@example.com", "-p", "***"]),
    (["env", "PGPASSWORD=S3cret", "psql", "-h", "h"], ["env", "PGPASSWORD=***", "psql", "-h", "h"]),
    (["env", "MYSQL_PWD=S3cret", "REDISCLI_AUTH=S3cret", "SSHPASS=S3cret", "DB_TOKEN=S3cret"],
     ["env", "MYSQL_PWD=***", "REDISCLI_AUTH=***", "SSHPASS=***", "DB_TOKEN=***"]),
    (["sshpass", "-p", "S3cret", "ssh", "h"], ["sshpass", "-p", "***", "ssh", "h"]),
    (["sshpass", "-pS3cret", "ssh", "h"], ["sshpass", "-p***", "ssh", "h"]),
    (["redis-cli", "-a", "S3cret", "ping"], ["redis-cli", "-a", "***", "ping"]),
    (["keytool", "-list", "-storepass", "S3cret", "-keypass", "S3cret"],
     ["keytool", "-list", "-storepass", "***", "-keypass", "***"]),
    (["gpg", "--passphrase", "S3cret", "-c", "f"], ["gpg", "--passphrase", "***", "-c", "f"]),
    (["ssh-keygen", "-N", "S3cret", "-f", "k"], ["ssh-keygen", "-N", "***", "-f", "k"]),
    (["ssh-keygen", "-p", "-P", "old", "-N", "new", "-f", "k"],
     ["ssh-keygen", "-p", "-P", "***", "-N", "***", "-f", "k"]),
    (["ssh-keygen", "-N", "", "-f", "k"], ["ssh-keygen", "-N", "", "-f", "k"]),  # no passphrase
    (["htpasswd", "-bc", ".htpasswd", "bob", "S3cret"],
     ["htpasswd", "-bc", ".htpasswd", "bob", "***"]),
    (["htpasswd", "-nb", "bob", "S3cret"], ["htpasswd", "-nb", "bob", "***"]),
    (["htpasswd", "-c", ".htpasswd", "bob"], ["htpasswd", "-c", ".htpasswd", "bob"]),
    (["openssl", "rsa", "-passin", "pass:S3cret", "-passout", "env:PW", "-in", "k"],
     ["openssl", "rsa", "-passin", "pass:***", "-passout", "env:PW", "-in", "k"]),
    (["openssl", "enc", "-k", "S3cret"], ["openssl", "enc", "-k", "***"]),
    (["7z", "a", "-pS3cret", "x.7z"], ["7z", "a", "-p***", "x.7z"]),
    (["unzip", "-P", "S3cret", "x.zip"], ["unzip", "-P", "***", "x.zip"]),
    (["mongosh", "-u", "admin", "-p", "S3cret"], ["mongosh", "-u", "admin", "-p", "***"]),
    (["smbclient", "-U", "bob%S3cret", "//h/s"], ["smbclient", "-U", "bob%***", "//h/s"]),
    (["lftp", "-u", "bob,S3cret", "h"], ["lftp", "-u", "bob,***", "h"]),
    (["ldapsearch", "-x", "-w", "S3cret"], ["ldapsearch", "-x", "-w", "***"]),
    (["sqlcmd", "-U", "sa", "-P", "S3cret"], ["sqlcmd", "-U", "sa", "-P", "***"]),
    (["vault", "login", "S3cret"], ["vault", "login", "***"]),
    (["sudo", "-u", "root", "mysql", "-pS3cret"], ["sudo", "-u", "root", "mysql", "-p***"]),
    (["sh", "-c", "mysql -pS3cret db && curl -u a:S3cret x"],
     ["sh", "-c", "mysql -p*** db && curl -u a:*** x"]),
    (["ssh", "h", "redis-cli -a 'S3 cret' ping"], ["ssh", "h", "redis-cli -a *** ping"]),
    (["psql", "postgres://u:S3cret@h/db"], ["psql", "postgres://u:***@h/db"]),
    (["mongosh", "admin:S3cret@db.example.com"], ["mongosh", "admin:***@db.example.com"]),
    (["git", "clone", "https://S3cretToken0123456789abcdef@github.com/o/r"],
     ["git", "clone", "https://***@github.com/o/r"]),
    (["mount", "-o", "user=bob,password=S3cret", "x"], ["mount", "-o", "user=bob,password=***",
                                                        "x"]),
    (["npm", "config", "set", "//registry.npmjs.org/:_authToken=S3cret"],
     ["npm", "config", "set", "//registry.npmjs.org/:_authToken=***"]),
    (["docker", "run", "-e", "MYSQL_PWD=S3cret", "img"], ["docker", "run", "-e", "MYSQL_PWD=***",
                                                          "img"]),
]


@pytest.mark.parametrize(("argv", "expected"), FORMS_ARGV)
def test_secret_forms_in_argv(argv, expected):
    assert redact_argv(argv) == expected
    assert redact_argv(expected) == expected  # idempotent


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "clone", "ssh://git@github.com/o/r.git"],  # a user name is no secret
        ["git", "clone", "git@github.com:o/r.git"],
        ["git", "clone", "https://alice@example.com/r.git"],
        ["git", "clone", "https://deploy-bot@example.com/r.git"],
        ["git", "clone", "https://first.last@example.com/r.git"],
        ["docker", "pull", "ubuntu:22.04@sha256:0123abcd"],
        ["docker", "run", "--user", "app:app", "-p", "80:80", "img"],
        ["ssh", "-p", "2222", "-i", "key", "bob@host"],
        ["curl", "-sSL", "-o", "out", "https://example.com/x"],
        ["scp", "-P", "2222", "f", "bob@host:/tmp/"],
        ["mysql", "-h", "db", "-P", "3306", "-u", "root", "-p"],
        ["echo", "see mysql -p for a prompt"],
        ["openssl", "rsa", "-passin", "env:PW", "-passout", "file:pw.txt"],
        ["curl", "-b", "cookies.txt", "-c", "cookies.txt", "https://h"],
    ],
)
def test_lookalikes_are_kept(argv):
    assert redact_argv(argv) == argv


FORMS_TEXT = [
    ("mysql -p'S3 cret' db", "mysql -p*** db"),
    ('mysql -p"S3cret" db', "mysql -p*** db"),
    ("mysql -uroot -pS3cret -e 'select 1'", "mysql -uroot -p*** -e 'select 1'"),
    ("curl -H 'Cookie: a=S3cret; b=S3cret' -u bob:S3cret https://h",
     "curl -H 'Cookie: ***' -u bob:*** https://h"),
    ('curl -H "Authorization: Basic S3cret" x', 'curl -H "Authorization: Basic ***" x'),
    ("PGPASSWORD=S3cret psql -h h", "PGPASSWORD=*** psql -h h"),
    ("SSHPASS='S3 cret' sshpass -e ssh h", "SSHPASS=*** sshpass -e ssh h"),
    ("docker login -p S3cret && echo ok", "docker login -p *** && echo ok"),
    ("x=$(mysql -pS3cret -e 'select 1')", "x=$(mysql -p*** -e 'select 1')"),
    ("sshpass -p 'S3 cret' ssh h 'mysql -pS3cret'", "sshpass -p *** ssh h 'mysql -p***'"),
    ("echo ok | curl --user bob:S3cret x > out 2>&1", "echo ok | curl --user bob:*** x > out 2>&1"),
    ("htpasswd -nb bob S3cret > pw", "htpasswd -nb bob *** > pw"),
    ("ssh h \"sh -c 'redis-cli -a S3cret'\"", "ssh h \"sh -c 'redis-cli -a ***'\""),
    ("keytool -storepass S3cret -list; az login -p S3cret",
     "keytool -storepass *** -list; az login -p ***"),
    ("ssh-keygen -N S3cret -f k", "ssh-keygen -N *** -f k"),
    ("gpg --passphrase S3cret -c f", "gpg --passphrase *** -c f"),
    ("the Cookie: a=S3cret; b=S3cret was sent", "the Cookie: *** was sent"),
    ("password=S3cret for the db", "password=*** for the db"),
    ("mysql -p 'never closed", "mysql -p 'never closed"),
    ("mysql -p'never closed S3cret", "mysql -p***"),
]


@pytest.mark.parametrize(("text", "expected"), FORMS_TEXT)
def test_secret_forms_in_text(text, expected):
    assert redact_text(text) == expected
    assert redact_text(expected) == expected


def test_the_lazy_redactor_misses_no_form():
    """The trigger words (and TOOLS names) decide whether the rules run: no form may slip by."""
    from provgraph.capture.redact import Redactor

    redactor = Redactor()
    for argv, expected in FORMS_ARGV:
        assert redactor.argv(argv) == expected, argv
    for text, expected in FORMS_TEXT:
        assert redactor.text(text) == expected, text


def test_a_command_line_without_triggers_compiles_nothing():
    """In a fresh interpreter, as `prov CMD` is: rules are compiled only when a text needs them."""
    import subprocess
    import sys

    script = """
import provgraph.capture.redact as redact
rules = redact._default_rules()
def compiled():
    patterns = [rules.option_name, rules.variable_name, rules.header]
    patterns += [p for p, _, _ in rules.text_rules]
    lexer = redact._lexer.cache_info().currsize
    return lexer + sum(1 for p in patterns if p._compiled is not None)
redact.Redactor().argv(["sort", "-k2", "-o", "out.csv", "in.csv"])
redact.Redactor().text("python train.py --lr 0.1 data.csv | tee log")
print(compiled())
redact.Redactor().argv(["curl", "-sSL", "https://example.com/x"])
print(compiled(), len(rules.text_rules) + 4)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out[0] == "0"  # nothing compiled for command lines without a trigger
    assert 0 < int(out[1]) < int(out[2])  # curl https://: the URL rules, not all of them


# -- failing closed ------------------------------------------------------------------------------


def test_conceal_keeps_names_only():
    from provgraph.capture.redact import conceal_argv, conceal_text

    assert conceal_argv(["API_KEY=x", "mysql", "--host=h", "-u", "root", "-pX", "db"]) == [
        "API_KEY=***", "mysql", "--host=***", "-u", "***", "***", "***"]
    assert conceal_argv(["a", "***"]) == ["a", "***"]
    assert conceal_text("sort -o out in.csv && wc -l out") == "sort -o *** *** && wc -l ***"
    once = conceal_text("x --dsn 'a b' | y")
    assert once == "x --dsn *** | y" and conceal_text(once) == once


def test_a_runaway_project_pattern_is_dropped_and_the_command_concealed(capfd):
    from provgraph.capture.redact import Redactor

    redactor = Redactor([r"(a+)+$"])
    argv = ["touch", "a" * 40 + "!", "--password", "S3cret"]
    assert redactor.argv(argv) == ["touch", "***", "--password", "***"]
    assert redactor.argv(["echo", "hi"]) == ["echo", "***"]  # dropped for the process: closed
    err = capfd.readouterr().err
    assert err.count("prov: warning:") == 1 and "(a+)+$" in err and "dropped" in err


def test_a_runaway_project_name_is_named_and_the_defaults_still_apply(capfd):
    from provgraph.capture.redact import Redactor

    redactor = Redactor([], [r"(a+)+b"])
    text = "touch " + "a" * 40 + "! --password S3cret"
    assert redactor.text(text) == "touch *** --password ***"
    err = capfd.readouterr().err
    assert err.count("prov: warning:") == 1 and "'(a+)+b'" in err


def test_a_bad_project_pattern_fails_closed_with_one_warning(capfd):
    from provgraph.capture.redact import Redactor

    redactor = Redactor(["("], ["dsn"])
    assert redactor.argv(["x", "--dsn", "pg", "--host", "h"]) == ["x", "--dsn", "***", "--host",
                                                                  "***"]
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "bad regex '('" in err and "redact.patterns" in err


def test_project_names_still_work_with_the_new_forms():
    from provgraph.capture.redact import Redactor

    redactor = Redactor([], ["dsn"])
    assert redactor.argv(["x", "--dsn", "pg://a", "--password", "p", "-pX"]) == [
        "x", "--dsn", "***", "--password", "***", "-pX"]
    assert redactor.text("x --dsn 'y z' && mysql -pX") == "x --dsn *** && mysql -p***"


# -- configured URIs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "shown", "bare", "user", "password"),
    [
        ("bolt://neo4j:S3cret@host:7687", "bolt://neo4j:***@host:7687", "bolt://host:7687",
         "neo4j", "S3cret"),
        ("neo4j+s://u:p%40ss@x.databases.neo4j.io/db?x=1", "neo4j+s://u:***@x.databases.neo4j.io/db?x=1",
         "neo4j+s://x.databases.neo4j.io/db?x=1", "u", "p@ss"),
        ("bolt://neo4j@host", "bolt://neo4j@host", "bolt://host", "neo4j", None),
        ("bolt://host:7687", "bolt://host:7687", "bolt://host:7687", None, None),
    ],
)
def test_uri_credentials(uri, shown, bare, user, password):
    from provgraph.capture.redact import uri_credentials, uri_has_password, uri_shown

    assert uri_shown(uri) == shown
    assert uri_credentials(uri) == (bare, user, password)
    assert uri_has_password(uri) is (password is not None)


def test_a_single_string_is_one_pattern(capfd):
    from provgraph.capture.redact import Redactor

    assert Redactor("hunter\\d").argv(["x", "hunter2"]) == ["x", "***"]
    assert Redactor([42]).argv(["x", "y"]) == ["x", "***"]  # not a regex: closed, one warning
    assert capfd.readouterr().err.count("prov: warning:") == 1
