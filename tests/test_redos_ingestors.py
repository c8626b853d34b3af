"""Regexes of `.prov.toml` ingestors and metrics cannot hang prov (issue 10, reproduction 6):
a pattern that runs away is dropped with one warning naming it; the command still runs and
is recorded. A subprocess timeout is the failure signal; no test measures time."""

from __future__ import annotations

import json
import shlex
import sys

import pytest

A_RUN = "a" * 40 + "!"  # (a+)+$ and (a|aa)+$ try about 2^40 ways on this before failing
TIMEOUT = 60  # seconds: a hung prov fails the test, a loaded CI machine does not


def warnings(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("prov: warning:")]


def activities(repo) -> list[dict]:
    return json.loads(repo.ok("log", "--json", timeout=TIMEOUT).stdout)


def test_an_ingestor_match_that_runs_away_is_dropped_before_the_command(repo):
    repo.write(".prov.toml", "[[ingestor]]\nname = 'slowre'\nmatch = '(a+)+$'\n"
               f"command = [{json.dumps(sys.executable)}, '-c', 'print(\"{{}}\")']\n")
    repo.ok("trust")
    proc = repo.prov("touch", A_RUN, timeout=TIMEOUT)
    assert proc.returncode == 0
    assert repo.path(A_RUN).exists()
    [warning] = warnings(proc)
    assert warning.startswith("prov: warning: the regex '(a+)+$' ([[ingestor]] slowre in "
                              ".prov.toml) took over")
    assert warning.endswith(": dropped")
    [activity] = activities(repo)
    assert activity["properties"]["command"] == shlex.join(["touch", A_RUN])
    assert activity["generated"] == [f"{A_RUN}@v1"]


@pytest.mark.parametrize("where", ["match", "step", "metric"])
def test_a_metrics_regex_that_runs_away_is_dropped(repo, where):
    """`match` is searched on the main thread before the command (re, under a timer); `step`
    and the metric regexes after it, in the ingestor's thread (the regex module's timeout)."""
    table = {"match": "'^sh'", "step": "'epoch ([0-9]+)'", "loss": "'loss=([0-9.]+)'"}
    runaway = "(a+)+$" if where == "match" else "(a|aa)+$"
    table[{"match": "match", "step": "step", "metric": "loss"}[where]] = f"'{runaway}'"
    repo.write(".prov.toml", "[[metrics]]\nsource = 'stdout'\n" +
               "".join(f"{key} = {value}\n" for key, value in table.items()))
    proc = repo.prov("sh", "-c", f"echo {A_RUN}; echo epoch 2 loss=0.5; touch {A_RUN}",
                     timeout=TIMEOUT)
    assert proc.returncode == 0
    assert repo.path(A_RUN).exists()
    [warning] = warnings(proc)
    assert f"the regex {runaway!r}" in warning and warning.endswith(": dropped")
    [activity] = activities(repo)
    assert activity["generated"] == [f"{A_RUN}@v1"]
    props = activity["properties"]
    if where == "step":  # the values are kept, counted instead of numbered by epoch
        assert (props["metrics.loss.value"], props["metrics.loss.iteration"]) == ([0.5], [0])
    else:  # the table (match) or the metric is dropped
        assert "metrics.loss.value" not in props


def test_the_textbook_pattern_over_output_finishes(repo):
    """`(a+)+$` on the after hook's thread: the regex module finishes it (or times it out)."""
    repo.write(".prov.toml", "[[metrics]]\nmatch = '^sh'\nsource = 'stdout'\n"
               "n = '(a+)+$'\nloss = 'loss=([0-9.]+)'\n")
    proc = repo.prov("sh", "-c", f"echo {A_RUN}; echo loss=2", timeout=TIMEOUT)
    assert proc.returncode == 0
    assert len(warnings(proc)) <= 1
    assert activities(repo)[0]["properties"]["metrics.loss.value"] == [2]


def test_prov_ingestors_match_finishes(repo):
    repo.write(".prov.toml", "[[ingestor]]\nname = 'slowre'\nmatch = '(a+)+$'\n"
               "command = ['true']\n[[metrics]]\nmatch = '(a|aa)+$'\nx = '([0-9]+)'\n")
    proc = repo.prov("ingestors", "match", A_RUN, "--json", timeout=TIMEOUT)
    assert proc.returncode == 0
    assert [m["name"] for m in json.loads(proc.stdout)] == ["posix"]
    dropped = warnings(proc)
    assert len(dropped) == 2
    assert "'(a+)+$' ([[ingestor]] slowre in .prov.toml)" in dropped[0]
    assert "'(a|aa)+$' ([[metrics]] match in .prov.toml)" in dropped[1]


def test_a_bad_regex_is_one_warning_and_the_rest_works(repo):
    repo.write(".prov.toml", "[[metrics]]\nmatch = '^sh'\nsource = 'stdout'\n"
               "broken = '(unclosed'\nloss = 'loss=([0-9.]+)'\n")
    proc = repo.prov("sh", "-c", "echo loss=3", timeout=TIMEOUT)
    assert proc.returncode == 0
    [warning] = warnings(proc)
    assert warning.startswith("prov: warning: [[metrics]] broken in .prov.toml: bad regex "
                              "'(unclosed'")
    assert activities(repo)[0]["properties"]["metrics.loss.value"] == [3]
