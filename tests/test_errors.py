"""Bad situations get one clear line on stderr and the right exit status, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from conftest import PROV, git_env


def one_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("prov: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr


def run(args, cwd, env):
    return subprocess.run([PROV, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_outside_a_repository(tmp_path, home):
    folder = tmp_path / "plain"
    folder.mkdir()
    proc = run(["touch", "x"], folder, git_env(home))
    assert proc.returncode == 125
    assert "not inside a git repository" in one_line(proc)
    assert not (folder / "x").exists()  # nothing ran unrecorded
    proc = run(["log"], folder, git_env(home))
    assert proc.returncode == 1
    assert "not inside a git repository" in one_line(proc)


def test_a_repository_without_commits(tmp_path, home):
    folder = tmp_path / "empty"
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True, env=git_env(home))
    proc = run(["true"], folder, git_env(home))
    assert proc.returncode == 125
    assert "no commits yet" in one_line(proc)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare for a read-only mount")
def test_a_read_only_git_dir(repo):
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    script = (f"mount --bind -o ro {repo.root}/.git {repo.root}/.git && "
              f"cd {repo.root} && {PROV} touch made.txt")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=repo.env,
                          capture_output=True, text=True)
    assert proc.returncode == 125, proc.stderr
    assert "Read-only file system" in one_line(proc)
    assert not repo.path("made.txt").exists()


def test_no_command(repo):
    proc = repo.prov("run")
    assert proc.returncode == 2  # click's usage error
    assert "Traceback" not in proc.stderr


def test_unknown_node(repo):
    repo.ok("true")
    proc = repo.prov("show", "nothing.csv")
    assert proc.returncode == 1
    assert "no recorded file nothing.csv" in one_line(proc)
    proc = repo.prov("lineage", "README.md@v9")
    assert proc.returncode == 1
    one_line(proc)


def test_bad_sql(repo):
    repo.ok("true")
    proc = repo.prov("sql", "SELEC nonsense")
    assert proc.returncode == 1
    assert one_line(proc).startswith("prov: SQL:")
    proc = repo.prov("sql", "DELETE FROM nodes")
    assert proc.returncode == 1
    one_line(proc)


def test_bad_config(repo):
    proc = repo.prov("config", "set", "capture.large_file_limt", "1")
    assert proc.returncode == 1
    assert "unknown setting" in one_line(proc)
    proc = repo.prov("config", "set", "capture.large_file_limit", "lots")
    assert proc.returncode == 1
    one_line(proc)
    repo.write(".prov.toml", "[capture\n")
    proc = repo.prov("true")
    assert proc.returncode == 125
    one_line(proc)


def test_git_missing_from_path(repo, tmp_path):
    env = {**repo.env, "PATH": os.path.dirname(PROV)}
    proc = subprocess.run([PROV, "true"], cwd=repo.root, env=env, capture_output=True, text=True)
    assert proc.returncode == 125
    assert "git is not installed" in one_line(proc)
