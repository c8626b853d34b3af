"""Fixtures: real git repositories in temporary folders, and the real `prov` executable."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
PROV = shutil.which("prov", path=str(BIN)) or shutil.which("prov")
NEO4J_SERVER = Path(__file__).parent / "neo4j" / "server"


NEO4J_HOME = Path(os.environ.get("PROV_TEST_NEO4J_HOME") or NEO4J_SERVER.parents[2] / ".neo4j")


def pytest_configure(config: pytest.Config) -> None:
    """Start the real Neo4j server for the whole run (not in xdist workers, which inherit its
    URI), unless one is given in PROV_TEST_NEO4J_URI (as `.ci/run` does).

    Test sessions running at the same time share the server: each holds a shared lock while
    it runs, and the last one out stops the server if a test session started it.
    """
    if hasattr(config, "workerinput") or os.environ.get("PROV_TEST_NEO4J_URI"):
        return
    (NEO4J_HOME / "run").mkdir(parents=True, exist_ok=True)
    users = open(NEO4J_HOME / "run" / "test-sessions.lock", "w")  # noqa: SIM115
    fcntl.flock(users, fcntl.LOCK_SH)
    config.stash[_USERS] = users
    if subprocess.run([NEO4J_SERVER, "status"], capture_output=True).returncode != 0:
        (NEO4J_HOME / "run" / "started-by-tests").touch()
    proc = subprocess.run([NEO4J_SERVER, "start"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise pytest.UsageError(f"the test Neo4j server did not start:\n{proc.stderr[-3000:]}")
    os.environ["PROV_TEST_NEO4J_URI"] = proc.stdout.strip().splitlines()[-1]


def pytest_unconfigure(config: pytest.Config) -> None:
    users = config.stash.get(_USERS, None)
    if users is None:
        return
    fcntl.flock(users, fcntl.LOCK_UN)
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another test session still uses the server
    marker = NEO4J_HOME / "run" / "started-by-tests"
    if marker.exists():
        subprocess.run([NEO4J_SERVER, "stop"], capture_output=True)
        marker.unlink(missing_ok=True)
    users.close()


_USERS = pytest.StashKey[object]()


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
def repo_factory(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch):
    """Make repositories with one commit each, as projects are when they start using prov."""
    env = git_env(home)
    for key in [k for k in os.environ if k.startswith(("GIT_", "PROV_")) and "TEST" not in k]:
        monkeypatch.delenv(key)
    for key in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL"):
        monkeypatch.setenv(key, env[key])

    def make(name: str = "repo") -> Repo:
        root = tmp_path / name
        root.mkdir()
        r = Repo(root, env)
        r.git("init", "-q")
        # a root commit of its own: its id is the project id, which must not collide with
        # another test's repository on the shared Neo4j server
        r.write("README.md", f"# {name} {os.urandom(8).hex()}\n")
        r.commit_all("start")
        return r

    return make


@pytest.fixture
def repo(repo_factory) -> Repo:
    """A repository with one commit."""
    return repo_factory("repo")


@pytest.fixture(scope="session")
def neo4j_uri() -> str:
    """The bolt URI of the real test server (started by pytest_configure)."""
    return os.environ["PROV_TEST_NEO4J_URI"]


@pytest.fixture
def synced(repo: Repo, neo4j_uri: str) -> Repo:
    """A repository configured to sync with the test server."""
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    return repo


def module_repo(tmp_path_factory, name: str, path: str | None = None) -> Repo:
    """A repository of its own (Alice's git identity, no PROV_ settings but the tests'),
    for a fixture a whole test module shares: a README committed, nothing captured yet.
    `path` goes in front of PATH (a stand-in program's folder)."""
    base = tmp_path_factory.mktemp(name)
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Alice\n\temail = alice@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in {**os.environ, **git_env(home)}.items()
           if not (k.startswith("PROV_") and "TEST" not in k)}
    if path:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    root = base / "repo"
    root.mkdir()
    repo = Repo(root, env)
    repo.git("init", "-q")
    repo.write("README.md", f"# {name} {os.urandom(8).hex()}\n")
    return repo


@pytest.fixture(scope="module")
def team(tmp_path_factory, neo4j_uri: str) -> Repo:
    """The team example of docs/operators.md (tests/team.py), captured once per test module
    with real `prov` commands and synced to the real Neo4j; `.activities` maps a1..a4 to ids."""
    from team import capture_team

    repo = module_repo(tmp_path_factory, "team")
    repo.commit_all("start")
    repo.ok("config", "set", "neo4j.uri", neo4j_uri)
    repo.activities = capture_team(repo)
    repo.ok("sync")
    return repo


def clone_through_remote(alice: Repo, tmp_path: Path) -> Repo:
    """Bob's clone of Alice's repository, through a bare remote both have as `origin`."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    alice.git("remote", "add", "origin", str(remote))
    alice.git("push", "-q", "origin", "HEAD:main")
    bob = Repo(tmp_path / "bob", alice.env)
    subprocess.run(["git", "clone", "-q", str(remote), str(bob.root)], check=True, env=alice.env)
    bob.git("config", "user.name", "Bob")
    bob.git("config", "user.email", "bob@example.com")
    return bob
