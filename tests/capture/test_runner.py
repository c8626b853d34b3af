"""Unit tests of the runner (provgraph/capture/runner.py): real child processes, in-process.

The child inherits provgraph's file descriptors, so pytest's `capfd` (which swaps fds 1 and 2
for files) sees exactly what a user's terminal or pipe would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provgraph.capture.runner import Outcome, exit_like, run, user_shell


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 1", 1), ("exit 7", 7),
                                              ("exit 255", 255)])
def test_the_exit_status_is_the_commands(tmp_path: Path, script: str, code: int) -> None:
    assert run(["sh", "-c", script], str(tmp_path)) == Outcome(code, None, None, False)


def test_a_command_not_found_is_127_with_one_line(tmp_path: Path) -> None:
    outcome = run(["no-such-command-for-provgraph"], str(tmp_path))
    assert outcome == Outcome(127, None, "no-such-command-for-provgraph: command not found",
                              False)


def test_a_file_that_is_not_executable_is_126(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    outcome = run([str(script)], str(tmp_path))
    assert outcome == Outcome(126, None, f"{script}: permission denied", False)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP,
                                 signal.SIGUSR1])
def test_a_command_killed_by_signal_n_ends_with_128_plus_n(tmp_path: Path, sig: int) -> None:
    outcome = run(["sh", "-c", f"kill -{int(sig)} $$"], str(tmp_path))
    assert outcome == Outcome(128 + sig, sig, None, False)


def test_a_sigint_to_provgraph_reaches_the_command_and_is_noted(tmp_path: Path) -> None:
    """Ctrl-C sent to provgraph alone (not from the terminal) is passed on to the command,
    which dies of it: provgraph survives to record it, and says it was interrupted."""
    before = signal.getsignal(signal.SIGINT)
    saved = os.dup(0)
    try:  # not a terminal's foreground job: a terminal would deliver Ctrl-C itself
        with open(os.devnull, "rb") as null:
            os.dup2(null.fileno(), 0)
        outcome = run(["sleep", "30"], str(tmp_path),
                      on_start=lambda pid: os.kill(os.getpid(), signal.SIGINT))
    finally:
        os.dup2(saved, 0)
        os.close(saved)

    assert outcome == Outcome(130, signal.SIGINT, None, True)
    assert signal.getsignal(signal.SIGINT) is before  # the handlers are put back


def test_a_sigterm_to_provgraph_is_passed_on(tmp_path: Path) -> None:
    outcome = run(["sleep", "30"], str(tmp_path),
                  on_start=lambda pid: os.kill(os.getpid(), signal.SIGTERM))
    assert outcome == Outcome(143, signal.SIGTERM, None, False)


def test_a_command_that_handles_the_signal_decides_how_it_ends(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    program = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(5))\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(30)\n"
    )

    def when_ready(pid: int) -> None:
        while not ready.exists():  # the handler is set once the file is there
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return  # it ended on its own: the outcome says how
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)

    outcome = run([sys.executable, "-c", program], str(tmp_path), on_start=when_ready)

    assert outcome == Outcome(5, None, None, False)


def test_on_start_gets_the_commands_pid(tmp_path: Path) -> None:
    pids: list[int] = []
    out = tmp_path / "pid"
    run(["sh", "-c", f"echo $$ > {out}"], str(tmp_path), on_start=pids.append)
    assert pids == [int(out.read_text())]


def test_stdout_and_stderr_pass_through_unchanged(tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    outcome = run(["sh", "-c", "printf 'out\\n'; printf 'err\\n' >&2; printf 'more'"],
                  str(tmp_path))
    assert outcome.exit_code == 0
    assert capfd.readouterr() == ("out\nmore", "err\n")


def test_stdin_is_the_callers(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "input.txt"
    source.write_text("line one\nline two\n")
    saved = os.dup(0)
    try:
        with open(source, "rb") as handle:
            os.dup2(handle.fileno(), 0)
        outcome = run(["cat"], str(tmp_path))
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    assert outcome.exit_code == 0
    assert capfd.readouterr().out == "line one\nline two\n"


def test_a_teed_stream_is_copied_and_still_shown(tmp_path: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "stdout.copy"
    seen: list[tuple[str, bytes]] = []

    outcome = run(["sh", "-c", "printf 'loss = 0.5\\n'; printf 'warn\\n' >&2"], str(tmp_path),
                  tee={"stdout": str(copy)}, on_data=lambda name, data: seen.append((name, data)))

    assert outcome.exit_code == 0
    assert copy.read_bytes() == b"loss = 0.5\n"
    assert b"".join(data for name, data in seen if name == "stdout") == b"loss = 0.5\n"
    assert {name for name, _ in seen} == {"stdout"}
    assert capfd.readouterr() == ("loss = 0.5\n", "warn\n")


def test_the_environment_given_is_the_commands(tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    env = {"PATH": os.environ["PATH"], "PROV_UNIT_VALUE": "given"}
    run(["sh", "-c", "printf '%s|%s' \"$PROV_UNIT_VALUE\" \"${PROV_UNIT_OTHER-unset}\""],
        str(tmp_path), env=env)
    assert capfd.readouterr().out == "given|unset"


def test_without_an_environment_the_command_inherits_provgraphs(
        tmp_path: Path, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_UNIT_VALUE", "inherited")
    run(["sh", "-c", "printf '%s' \"$PROV_UNIT_VALUE\""], str(tmp_path))
    assert capfd.readouterr().out == "inherited"


def test_the_command_runs_in_the_folder_given(tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sub dir"
    folder.mkdir()
    run(["pwd", "-P"], str(folder))
    assert capfd.readouterr().out == f"{folder.resolve()}\n"


def test_exit_like_returns_a_plain_exit_status() -> None:
    assert exit_like(Outcome(3)) == 3
    assert exit_like(Outcome(127, error="x: command not found")) == 127


def test_exit_like_cannot_die_of_sigkill_so_returns_its_status() -> None:
    assert exit_like(Outcome(137, signal.SIGKILL)) == 137


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_exit_like_dies_of_the_commands_signal(sig: int) -> None:
    program = ("from provgraph.capture.runner import Outcome, exit_like\n"
               f"exit_like(Outcome({128 + sig}, {int(sig)}))\n"
               "print('still alive')\n")
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
    assert (proc.returncode, proc.stdout) == (-sig, "")


@pytest.mark.parametrize(("shell", "expected"), [
    ("/bin/bash", "/bin/bash"),
    ("/bin/sh", "/bin/sh"),
    ("/usr/bin/fish", "/bin/sh"),  # not POSIX sh syntax
    ("/no/such/folder/bash", "/bin/sh"),  # not there
    ("", "/bin/sh"),
])
def test_user_shell(monkeypatch: pytest.MonkeyPatch, shell: str, expected: str) -> None:
    monkeypatch.setenv("SHELL", shell)
    assert user_shell() == expected
