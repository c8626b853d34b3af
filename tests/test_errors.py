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


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare for a read-only mount")
@pytest.mark.parametrize("folder", ["objects", "refs"])
def test_a_read_only_object_store_or_refs_folder(repo, folder):
    """Decided before the command runs, as for a read-only .git (issue 12, section 2)."""
    repo.ok("true")  # the clone has its chain
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    script = (f"mount --bind -o ro {repo.root}/.git/{folder} {repo.root}/.git/{folder} && "
              f"cd {repo.root} && {PROV} touch made.txt")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=repo.env,
                          capture_output=True, text=True)
    assert proc.returncode == 125, proc.stderr
    line = one_line(proc)
    assert f".git/{folder}" in line and "Read-only file system" in line
    assert not repo.path("made.txt").exists()
    assert repo.prov("log").returncode == 0  # and nothing was left half done


def test_the_file_size_limit(repo):
    """`ulimit -f` below a file the command writes: git cannot store it. One line, the
    command's own message aside; the next `prov` with the limit refuses before running,
    and one without it records the capture that could not be finished."""
    write = "head -c 300000 /dev/urandom > big.bin"
    proc = subprocess.run(["bash", "-c", f"ulimit -f 100; {PROV} sh -c '{write}'"],
                          cwd=repo.root, env=repo.env, capture_output=True, text=True)
    assert proc.returncode == 125, proc.stderr
    prov_lines = [line for line in proc.stderr.splitlines() if line.startswith("prov")]
    assert len(prov_lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "file size limit (ulimit -f, 102,400 bytes)" in prov_lines[0]

    again = subprocess.run(["bash", "-c", f"ulimit -f 100; {PROV} touch made.txt"],
                           cwd=repo.root, env=repo.env, capture_output=True, text=True)
    assert again.returncode == 125
    assert "ulimit -f" in one_line(again)
    assert not repo.path("made.txt").exists()

    after = repo.prov("touch", "made.txt")
    assert after.returncode == 0, after.stderr
    assert "recorded an interrupted capture" in after.stderr
    assert "big.bin@v1" in repo.ok("log").stdout


def test_a_misspelt_view_query(repo):
    repo.write("d.csv", "a,b\n1,2\n")
    proc = repo.prov("fileview", "-c", "-n", "o.csv", "-q", "selec * form {d.csv}")
    assert proc.returncode == 1
    line = one_line(proc)
    assert "line 1, col 1 near 'selec'" in line and "begins with SELECT" in line
    assert "ALIAS" not in line
    assert not repo.path("o.csv").exists()
