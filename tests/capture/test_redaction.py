"""Secrets on a command line never reach the journal, the index or an export."""

from __future__ import annotations

from graph import Graph

SECRETS = ("hunter2", "tok123", "abc987", "s3cr3t")


def test_secrets_are_redacted_everywhere_but_the_command_gets_them(repo):
    proc = repo.ok("echo", "--password", "hunter2", "--token=tok123",
                   "https://bob:s3cr3t@example.com/data.csv")
    assert proc.stdout == "--password hunter2 --token=tok123 https://bob:s3cr3t@example.com/data.csv\n"
    repo.ok("API_KEY=abc987 sh -c 'test ${#API_KEY} = 6'")  # the command sees the real value

    graph = Graph.of(repo)
    echo, sh = graph.activities()
    assert echo.properties["command"] == (
        "echo --password '***' '--token=***' 'https://bob:***@example.com/data.csv'")
    assert sh.properties["command"] == "API_KEY=*** sh -c 'test ${#API_KEY} = 6'"
    everything = (
        repo.git("log", "-p", "--all", "--format=%B")
        + repo.ok("export").stdout
        + repo.ok("sql", "SELECT * FROM nodes", "--csv").stdout
        + repo.ok("log", "--json").stdout
    )
    for secret in SECRETS:
        assert secret not in everything, secret


def test_configured_patterns(repo):
    repo.write(".prov.toml", '[redact]\npatterns = ["--dsn[= ](\\\\S+)"]\nnames = ["passphrase"]\n')
    repo.ok("echo", "--dsn", "postgres://x", "--passphrase", "open-sesame")
    [activity] = Graph.of(repo).activities()
    assert "postgres://x" not in activity.properties["command"]
    assert "open-sesame" not in activity.properties["command"]
