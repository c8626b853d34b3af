"""`prov restore PATH@vN [-o FILE] [--force]`: a recorded version's content written back,
recorded as a `restore` activity that used PATH@vN; on real captures."""

from __future__ import annotations

import hashlib
import json
import os

from chain import one_line_error


def _versions(repo, text: list[str]) -> None:
    """params.txt@v1..vN with these contents, each written by a captured command."""
    for content in text:
        repo.ok("sh", "-c", f"printf '{content}' > params.txt")


def test_restore_over_a_recorded_version(repo):
    _versions(repo, ["lr 0.1\\n", "lr 0.5\\n"])
    proc = repo.ok("restore", "params.txt@v1")
    assert proc.stdout == "restored params.txt@v1 to params.txt\n"
    assert repo.read("params.txt") == "lr 0.1\n"
    entry = json.loads(repo.ok("log", "-n", "1", "--json").stdout)[0]
    assert entry["name"] == "restore #3"
    assert (entry["used"], entry["generated"]) == (["params.txt@v1"], ["params.txt@v3"])
    with repo.store() as store:
        v1, v3 = store.entity("params.txt", 1), store.entity("params.txt", 3)
        assert entry["properties"]["restore_of"] == v1.id
        assert v3.properties["digest"] == v1.properties["digest"]
        [(edge, _run)] = store.step([v3.id], "out", ["wasGeneratedBy"])
        assert edge.target == entry["id"]
        [(used, _v1)] = store.step([entry["id"]], "out", ["used"])
        assert (used.target, used.properties["role"]) == (v1.id, "restore")
    assert "    git cat-file blob " in repo.ok("log", "-n", "1").stdout
    repo.ok("rebuild")  # the journal alone makes the same edge
    with repo.store() as store:
        assert [e.target for e, _ in store.step([entry["id"]], "out", ["used"])] == [v1.id]


def test_unrecorded_changes_are_refused_then_forced_and_kept(repo):
    _versions(repo, ["lr 0.1\\n", "lr 0.5\\n"])
    repo.write("params.txt", "lr 0.9  # my edit\n")
    error = one_line_error(repo.prov("restore", "params.txt@v1"))
    assert error == ("prov: params.txt has changes no record holds (its content is not a "
                     "recorded version): `prov restore --force` overwrites it, after keeping "
                     "its content as a version")
    assert repo.read("params.txt") == "lr 0.9  # my edit\n"
    repo.ok("restore", "--force", "params.txt@v1")
    assert repo.read("params.txt") == "lr 0.1\n"
    # the edit was kept: the restore's own snapshot recorded it as v3 before writing v4
    edit = b"lr 0.9  # my edit\n"
    with repo.store() as store:
        edited = store.entity("params.txt", 3)
    blob = hashlib.sha1(b"blob %d\0" % len(edit) + edit).hexdigest()
    assert edited.properties["digest"] == blob
    restored = json.loads(repo.ok("show", "params.txt@v4", "--json").stdout)
    assert "restore #3" in [o["name"] for o in restored["out"]]
    repo.ok("restore", "params.txt@v3", "-o", "mine.txt")
    assert repo.read("mine.txt") == "lr 0.9  # my edit\n"


def test_output_file_and_paths_outside_the_work_tree(repo):
    _versions(repo, ["a\\n", "b\\n"])
    repo.path("sub").mkdir()
    proc = repo.ok("restore", "../params.txt@v1", "-o", "old/params.txt", cwd=repo.path("sub"))
    assert proc.stdout == "restored params.txt@v1 to sub/old/params.txt\n"
    assert (repo.read("sub/old/params.txt"), repo.read("params.txt")) == ("a\n", "b\n")
    for bad, said in [("../x", "../x: not a file in the work tree"),
                      (".git/x", ".git/x: not a file in the work tree"),
                      ("sub", "sub is a folder: give a file to write")]:
        assert one_line_error(repo.prov("restore", "params.txt@v1", "-o", bad)).startswith(
            f"prov: {said}")
    os.symlink(repo.root.parent, repo.path("out"))
    assert "leads outside the work tree" in one_line_error(
        repo.prov("restore", "params.txt@v1", "-o", "out/x"))
    assert not (repo.root.parent / "x").exists() and not (repo.root.parent / "..x").exists()
    repo.write("other.txt", "not recorded\n")
    assert "other.txt has changes no record holds" in one_line_error(
        repo.prov("restore", "params.txt@v1", "-o", "other.txt"))
    repo.ok("restore", "params.txt@v1", "-o", "other.txt", "--force")
    assert repo.read("other.txt") == "a\n"


def test_content_gone_after_gc(repo):
    _versions(repo, ["a" * 5000, "b" * 5000, "c" * 5000])
    repo.ok("gc", "--keep-last", "1", "--expire", "now")
    error = one_line_error(repo.prov("restore", "params.txt@v1"))
    assert error.startswith("prov: the content of params.txt@v1 is not in this clone "
                            "(dropped by `prov gc`, or pulled without content)")
    repo.ok("restore", "params.txt@v3", "-o", "kept.txt")
    assert repo.read("kept.txt") == "c" * 5000


def test_versions_recorded_by_digest_only_cannot_be_restored(repo):
    repo.ok("config", "set", "capture.large_file_limit", "1KB")
    repo.ok("sh", "-c", "head -c 5000 /dev/zero > big.bin")
    assert one_line_error(repo.prov("restore", "big.bin@v1")) == (
        "prov: big.bin@v1 cannot be restored: it is over capture.large_file_limit, so it was "
        "recorded by digest only and its bytes were never kept")
    repo.write(".gitignore", "/data/\n")
    repo.write("data/raw.csv", "x\n")
    repo.ok("sh", "-c", "cat data/raw.csv > data/copy.csv")
    assert one_line_error(repo.prov("restore", "data/copy.csv@v1")) == (
        "prov: data/copy.csv@v1 cannot be restored: it is git-ignored, so it was recorded by "
        "digest only and its bytes were never kept")


def test_bad_references_are_one_line(repo):
    _versions(repo, ["a\\n"])
    assert one_line_error(repo.prov("restore", "nothing.txt@v1")).startswith(
        "prov: no recorded file nothing.txt")
    assert one_line_error(repo.prov("restore", "params.txt@v7")) == (
        "prov: params.txt has no version 7 (latest is v1)")
    assert one_line_error(repo.prov("restore", "#1")) == (
        "prov: sh #1 is not a version of a file: give PATH@vN")


def test_the_python_api(repo):
    import provgraph

    _versions(repo, ["a\\n", "b\\n"])
    with provgraph.open_project(repo.root) as project:
        done = project.restore("params.txt@v1", output="copy.txt")
        assert done.to_dict()["path"] == "copy.txt" and done.exit_code == 0
        assert project.log(1)[0].activity.name == "restore #3"
    assert repo.read("copy.txt") == "a\n"


def test_a_clone_pulled_without_content(repo, tmp_path):
    import subprocess

    from conftest import Repo

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=repo.env)
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "HEAD:refs/heads/main")
    _versions(repo, ["first\\n", "second\\n"])
    repo.ok("push")  # without content
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(tmp_path / "other")],
                   check=True, env=repo.env)
    other = Repo(tmp_path / "other", repo.env)
    other.ok("pull")
    assert "is not in this clone" in one_line_error(other.prov("restore", "params.txt@v1"))
    assert not other.path("params.txt").exists()
    repo.ok("push", "--content", "all")
    other.ok("pull")
    other.ok("restore", "params.txt@v1")
    assert other.read("params.txt") == "first\n"
