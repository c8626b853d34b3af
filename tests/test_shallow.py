"""A shallow clone names the project as full clones do (issue 12, section 2): the project id
is the root commit's, which a shallow clone lacks; it reads it from refs/prov/project, which
full clones write and share, and says so in one line, before running anything, without it."""

from __future__ import annotations

import json
import subprocess

from conftest import Repo


def project(repo: Repo) -> str:
    return json.loads(repo.ok("status", "--json").stdout)["project"]


def entity_ids(repo: Repo) -> dict[str, str]:
    out = repo.ok("sql", "--json", "select name, id from entities").stdout
    return {row["name"]: row["id"] for row in json.loads(out)}


def scene(repo: Repo, tmp_path) -> tuple[Repo, str]:
    """A full clone with captures, pushed to a bare origin; the origin's file:// URL."""
    repo.write("a.txt", "one\n")
    repo.commit_all("second")  # the shallow clone's oldest commit is not the root
    repo.ok("cp", "a.txt", "b.txt")
    origin = tmp_path / "origin.git"
    repo.git("clone", "-q", "--bare", str(repo.root), str(origin))
    repo.git("remote", "add", "origin", str(origin))
    repo.ok("push")
    return repo, f"file://{origin}"


def shallow_clone(repo: Repo, url: str, tmp_path, name: str = "shallow") -> Repo:
    clone = Repo(tmp_path / name, repo.env)
    subprocess.run(["git", "clone", "-q", "--depth", "1", url, str(clone.root)], check=True,
                   env=repo.env, capture_output=True)
    return clone


def test_a_shallow_clone_without_the_project_ref_says_so_before_running(repo, tmp_path):
    full, url = scene(repo, tmp_path)
    shallow = shallow_clone(full, url, tmp_path)
    proc = shallow.prov("touch", "made.txt")
    assert proc.returncode == 125
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "shallow clone" in proc.stderr and "git fetch --unshallow" in proc.stderr
    assert "prov pull" in proc.stderr
    assert not shallow.path("made.txt").exists()

    shallow.ok("pull")  # the journals, and the project's name with them
    assert project(shallow) == project(full)
    shallow.ok("touch", "made.txt")
    assert entity_ids(shallow)["b.txt@v1"] == entity_ids(full)["b.txt@v1"]


def test_a_shallow_clone_stays_the_same_project_after_unshallowing(repo, tmp_path):
    full, url = scene(repo, tmp_path)
    shallow = shallow_clone(full, url, tmp_path)
    shallow.git("fetch", "-q", "origin", "refs/prov/*:refs/prov/*")  # plain git shares it too
    shallow.ok("cp", "a.txt", "c.txt")
    named = project(shallow)
    assert named == project(full)
    before = entity_ids(shallow)

    shallow.git("fetch", "-q", "--unshallow")
    assert project(shallow) == named
    assert shallow.read(".git/prov/project").split() == [shallow.git(
        "rev-list", "--max-parents=0", "HEAD").strip()]  # checked against the history now
    assert entity_ids(shallow) == before
    shallow.ok("rebuild")
    assert entity_ids(shallow) == before
    shallow.ok("push")
    full.ok("pull")
    assert entity_ids(full)["c.txt@v1"] == before["c.txt@v1"]


def test_a_wrong_project_id_cached_by_an_earlier_provgraph_is_corrected(repo, tmp_path):
    full, url = scene(repo, tmp_path)
    shallow = shallow_clone(full, url, tmp_path)
    shallow.git("fetch", "-q", "origin", "refs/prov/*:refs/prov/*")
    shallow.ok("cp", "a.txt", "c.txt")
    right = entity_ids(shallow)
    # what provgraph wrote before it knew of shallow clones: the oldest commit it had
    oldest = shallow.git("rev-list", "--max-parents=0", "HEAD").strip()
    shallow.path(".git/prov/project").write_text(oldest[:12] + "\n")
    assert project(shallow) == project(full)
    assert entity_ids(shallow) == right
