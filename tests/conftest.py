"""Fixtures: real git repositories in temporary folders, and the real `prov` executable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PROV = shutil.which("prov", path=str(BIN)) or shutil.which("prov")


def git_env(home: Path) -> dict[str, str]:
    """An environment with no trace of the developer's own git configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PROV_"))}
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        SHELL="/bin/bash",
        LC_ALL="C.UTF-8",
    )
    return env


class Repo:
    """A real git repository in a temporary folder, driven through the `prov` executable."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.env = env

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def read(self, name: str) -> str:
        return (self.root / name).read_text()

    def git(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=self.root, env=self.env, text=True,
                              capture_output=True)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def prov(self, *args: str, cwd: Path | None = None, input: str | None = None,
             env: dict[str, str] | None = None, timeout: float = 120
             ) -> subprocess.CompletedProcess[str]:
        assert PROV, "the prov executable is not installed (pip install -e .)"
        return subprocess.run([PROV, *args], cwd=cwd or self.root, env={**self.env, **(env or {})},
                              text=True, capture_output=True, input=input, timeout=timeout)

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
        """`prov ARGS`, which must succeed."""
        proc = self.prov(*args, **kwargs)
        assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
        return proc

    def commit_all(self, message: str = "work") -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message)

    def store(self):
        import provgraph

        return provgraph.open_store(self.root)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Alice\n\temail = alice@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    return home


@pytest.fixture
def repo(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """A repository with one commit, as most projects are when they start using prov."""
    env = git_env(home)
    for key in [k for k in os.environ if k.startswith(("GIT_", "PROV_"))]:
        monkeypatch.delenv(key)
    for key in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
        monkeypatch.setenv(key, env[key])
    root = tmp_path / "repo"
    root.mkdir()
    r = Repo(root, env)
    r.git("init", "-q")
    r.write("README.md", "# analysis\n")
    r.commit_all("start")
    return r
