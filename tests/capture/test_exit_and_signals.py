"""Exit status, streams, TTY and signals behave as without prov, and are recorded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import PROV
from graph import Graph
from terminal import on_a_terminal


@pytest.mark.parametrize("code", [0, 1, 7])
def test_exit_status_is_the_commands(repo, code):
    proc = repo.prov("sh", "-c", f"exit {code}")
    assert proc.returncode == code
    [activity] = Graph.of(repo).activities()
    assert activity.properties["exit_code"] == code
    assert activity.properties["status"] == ("ok" if code == 0 else "failed")


def test_a_missing_command_exits_127_and_is_recorded(repo):
    proc = repo.prov("no-such-command-xyz", "arg")
    assert proc.returncode == 127
    assert proc.stderr == "prov: no-such-command-xyz: command not found\n"
    [activity] = Graph.of(repo).activities()
    assert activity.properties["exit_code"] == 127
    assert activity.properties["status"] == "not-found"


def test_a_mistyped_subcommand_is_refused_and_not_recorded(repo):
    for args in (["logg"], ["logg", "-n", "3"], ["logg -n 3 | head"], ["X=1 shwo model.txt"],
                 ["-m", "a note", "sattus"]):
        proc = repo.prov(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        assert proc.returncode == 127
        said = [line for line in proc.stderr.splitlines() if not line.startswith("import time")]
        meant = {"logg": "log", "shwo": "show", "sattus": "status"}
        typo = next(word for word in meant if word in " ".join(args))
        assert said == [f"prov: '{typo}' is not a command; did you mean 'prov {meant[typo]}'?"]
        imported = {line.split("|")[-1].strip().split(".")[0]
                    for line in proc.stderr.splitlines() if line.startswith("import time:")}
        assert not imported & {"duckdb", "networkx", "neo4j", "click", "rich", "sqlglot"} or \
            args[0] == "-m"  # `-m` goes through click, as any option does
    assert repo.ok("log").stdout.startswith("No activities recorded yet")
    assert repo.git("for-each-ref", "refs/prov/journal") == ""


def test_what_runs_is_never_taken_for_a_typo(repo, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "logg").write_text("#!/bin/sh\necho my logg > logg.out\n")
    (bin_dir / "logg").chmod(0o755)
    repo.ok("logg", env={"PATH": f"{bin_dir}{os.pathsep}{repo.env['PATH']}"})  # on PATH
    assert repo.read("logg.out") == "my logg\n"
    repo.ok("shopt -s nullglob; true")  # a shell builtin, in shell syntax
    for args in (["--", "logg"], ["run", "logg"], ["./logg"]):  # said to run it, or a path
        proc = repo.prov(*args)
        assert proc.returncode == 127
        assert "did you mean" not in proc.stderr
    statuses = [a.properties["status"] for a in Graph.of(repo).activities()]
    assert statuses == ["ok", "ok", "ok", "not-found", "not-found", "not-found"]


def test_streams_pass_through_untouched(repo):
    proc = repo.prov("sh", "-c", "cat; echo to-err >&2; printf 'no newline'", input="from stdin\n")
    assert proc.stdout == "from stdin\nno newline"
    assert proc.stderr == "to-err\n"


def _wait_for(path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


TRAP = """\
import signal, sys, time
def stop(signum, frame):
    open("got.txt", "w").write(signal.Signals(signum).name)
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
open("ready.txt", "w").write("ready")
time.sleep(60)
"""


def test_sigterm_reaches_the_command_and_the_activity_is_recorded(repo):
    repo.write("trap.py", TRAP)
    proc = subprocess.Popen([PROV, sys.executable, "trap.py"], cwd=repo.root, env=repo.env,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(repo.path("ready.txt"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 3
    assert repo.read("got.txt") == "SIGTERM"
    [activity] = Graph.of(repo).activities()
    assert activity.properties["exit_code"] == 3
    assert Graph.of(repo).generated(activity) == ["got.txt@v1", "ready.txt@v1"]


def test_ctrl_c_interrupts_the_command_and_prov_dies_the_same_way(repo):
    script = "open('ready.txt','w').write('r'); import time; time.sleep(60)"
    # As a terminal does: SIGINT to the whole foreground process group.
    proc = subprocess.Popen([PROV, sys.executable, "-c", script], cwd=repo.root, env=repo.env,
                            start_new_session=True, stderr=subprocess.PIPE, text=True)
    _wait_for(repo.path("ready.txt"))
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == -signal.SIGINT  # what bash reports as 130
    stderr = proc.stderr.read()
    assert "KeyboardInterrupt" in stderr  # Python's own report of the interrupted script
    assert "provgraph" not in stderr  # and nothing from prov
    [activity] = Graph.of(repo).activities()
    assert activity.properties["exit_code"] == 130  # Python re-raises SIGINT when it exits
    assert activity.properties["signal"] == signal.SIGINT
    assert activity.properties["status"] == "interrupted"
    bash = subprocess.run(
        ["bash", "-c", f"{PROV} sh -c 'kill -INT $$'; echo status=$?"],
        cwd=repo.root, env=repo.env, capture_output=True, text=True)
    assert "status=130" in bash.stdout
    second = Graph.of(repo).activities()[-1]
    assert second.properties["exit_code"] == 130
    assert second.properties["signal"] == signal.SIGINT
    assert second.properties["status"] == "interrupted"
    log = repo.ok("log").stdout
    assert log.count("interrupted") == 2 and "exit 130" not in log


CAUGHT = """\
import sys, time
try:
    print("ready", flush=True)
    time.sleep(60)
except KeyboardInterrupt:
    open("saved.txt", "w").write("saved")
    sys.exit(int(sys.argv[1]))
"""


def _ctrl_c_on_a_terminal(repo, argv: list[str]) -> int:
    """Run `prov ARGV` on a real terminal, type Ctrl-C once it printed `ready`, and return
    its exit status (the terminal sends SIGINT to its foreground process group)."""
    typed = []

    def ctrl_c(output: bytes) -> bytes | None:
        if b"ready" in output and not typed:
            typed.append(True)
            return b"\x03"
        return None

    _output, status = on_a_terminal([PROV, *argv], repo.root, repo.env, ctrl_c)
    return status


@pytest.mark.parametrize(("code", "status"), [(1, "interrupted"), (0, "ok")])
def test_ctrl_c_a_command_catches_is_interrupted_unless_it_succeeds(repo, code, status):
    repo.write("caught.py", CAUGHT)
    assert _ctrl_c_on_a_terminal(repo, [sys.executable, "caught.py", str(code)]) == code
    [activity] = Graph.of(repo).activities()
    assert activity.properties["status"] == status
    assert activity.properties["exit_code"] == code
    assert activity.properties.get("signal") is None  # it was not killed by the signal
    assert Graph.of(repo).generated(activity) == ["saved.txt@v1"]


def test_a_command_killed_by_a_signal_is_recorded_with_it(repo):
    proc = repo.prov("sh", "-c", "kill -TERM $$")
    assert proc.returncode == -signal.SIGTERM
    [activity] = Graph.of(repo).activities()
    assert activity.properties["exit_code"] == 128 + signal.SIGTERM
    assert activity.properties["signal"] == signal.SIGTERM
    assert activity.properties["status"] == "failed"  # not stopped by Ctrl-C


def test_interactive_programs_get_the_terminal(repo):
    typed = []

    def name(output: bytes) -> bytes | None:
        if b"name? " in output and not typed:
            typed.append(True)
            return b"bob\n"
        return None

    output, status = on_a_terminal(
        [PROV, sys.executable, "-c", "import sys; print(sys.stdin.isatty(), "
         "sys.stdout.isatty()); print('hi', input('name? '))"], repo.root, repo.env, name)
    assert status == 0
    text = output.decode().replace("\r\n", "\n")
    assert "True True" in text
    assert "hi bob" in text


def test_prov_dashdash_runs_a_program_named_like_a_subcommand(repo, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "log").write_text("#!/bin/sh\necho my own log tool > log.out\n")
    (bin_dir / "log").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{repo.env['PATH']}"}

    repo.ok("--", "log", env=env)

    assert repo.read("log.out") == "my own log tool\n"
    [activity] = Graph.of(repo).activities()
    assert activity.properties["utility"] == "log"
    assert repo.ok("log", env=env).stdout.startswith("act-")
