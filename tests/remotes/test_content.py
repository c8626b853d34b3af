"""Sharing the graph without the data: `prov push --content`, a clone without content, and a
format 1 chain migrated and shared again."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import Repo
from format1 import to_format1
from graph import Graph


def _bare(repo: Repo, path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True, env=repo.env)
    repo.git("remote", "add", "origin", str(path))
    repo.git("push", "-q", "origin", "HEAD:refs/heads/main")
    return path


def _objects_size(path: Path) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _dirs, files in os.walk(path / "objects") for name in files)


def _clone(repo: Repo, remote: Path, where: Path) -> Repo:
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(where)], check=True,
                   env=repo.env)
    return Repo(where, repo.env)


def _graph(repo: Repo) -> str:
    return repo.ok("export", "--format", "json").stdout


def test_push_of_a_200_mb_history_without_content_sends_under_1_mb(repo: Repo, tmp_path):
    remote = _bare(repo, tmp_path / "remote.git")
    for _ in range(10):  # ten runs each rewriting a 20 MB output
        repo.ok("sh", "-c", "head -c 20000000 /dev/urandom > out.bin")
    assert _objects_size(repo.root / ".git") > 200_000_000
    received = _objects_size(remote)

    repo.ok("push")  # --content none is the default

    sent = _objects_size(remote) - received
    assert 0 < sent < 1_000_000
    other = _clone(repo, remote, tmp_path / "other")
    other.ok("pull")
    assert _graph(other).count('"prov:type"') == _graph(repo).count('"prov:type"')
    versions = json.loads(other.ok("log", "--json").stdout)
    assert len(versions) == 10


def test_a_clone_without_content_says_what_is_missing_in_one_line(repo: Repo, tmp_path):
    remote = _bare(repo, tmp_path / "remote.git")
    for n in (1, 2):
        repo.write("data.csv", f"x\n{n}\n")
        repo.ok("sh", "-c", "cat data.csv > copy.csv")
    mine = repo.ok("diff", "latest~1", "latest")
    assert "+2" in mine.stdout and mine.stderr == ""
    repo.ok("push")
    other = _clone(repo, remote, tmp_path / "other")
    other.ok("pull")

    proc = other.ok("diff", "latest~1", "latest")

    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "data.csv@v1 and data.csv@v2" in lines[0] and "not in this clone" in lines[0]
    assert "prov push --content all" in lines[0]
    assert "data.csv@v1 → data.csv@v2" in proc.stdout  # the graph still knows both

    repo.ok("push", "--content", "all")
    other.ok("pull")
    proc = other.ok("diff", "latest~1", "latest")
    assert proc.stderr == "" and "+2" in proc.stdout


def test_push_content_under_a_size(repo: Repo, tmp_path):
    remote = _bare(repo, tmp_path / "remote.git")
    repo.ok("sh", "-c", "head -c 3000000 /dev/urandom > big.bin; echo small > small.txt")
    repo.ok("push", "--content", "under 1MB")
    other = _clone(repo, remote, tmp_path / "other")
    other.ok("pull")
    digests = {n.properties["path"]: n.properties["digest"]
               for n in Graph.of(other).entities()}
    assert set(digests) == {"big.bin", "small.txt"}, digests

    def has(oid: str) -> bool:
        return subprocess.run(["git", "cat-file", "-e", oid], cwd=other.root,
                              env=repo.env).returncode == 0

    assert has(digests["small.txt"]) and not has(digests["big.bin"])
    bad = repo.prov("push", "--content", "some")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_a_format1_chain_is_migrated_and_still_pushes_and_pulls(repo: Repo, tmp_path):
    remote = _bare(repo, tmp_path / "remote.git")
    repo.write("a.txt", "1\n")
    repo.ok("sh", "-c", "cat a.txt > b.txt")
    repo.ok("sh", "-c", "echo 2 > a.txt")
    to_format1(repo.root, repo.env)
    # the remote and a teammate have the chain as a provgraph of format 1 shared it
    repo.git("push", "-q", "origin", "refs/prov/*:refs/prov/*")
    mate = _clone(repo, remote, tmp_path / "mate")
    mate.ok("pull")
    chain = "refs/prov/journal/" + repo.read(".git/prov/clone-id").strip()
    old_tip = repo.git("rev-parse", chain).strip()
    assert mate.git("rev-parse", chain).strip() == old_tip
    expected = _graph(mate)

    repo.ok("sh", "-c", "echo 3 > a.txt")  # the first use migrates; the chain goes on
    proc = repo.ok("push")

    assert "replacing" in proc.stdout
    new_tip = repo.git("rev-parse", chain).strip()
    assert new_tip != old_tip
    assert subprocess.run(["git", "rev-parse", chain], cwd=remote, capture_output=True,
                          text=True, env=repo.env).stdout.strip() == new_tip
    pulled = mate.ok("pull")
    assert "diverged" not in pulled.stderr
    assert mate.git("rev-parse", chain).strip() == new_tip
    records = json.loads(mate.ok("log", "--json").stdout)
    assert len(records) == 3
    graph = json.loads(_graph(mate))
    for key, node in json.loads(expected).get("entity", {}).items():
        assert graph["entity"][key] == node  # every version the old chain made, unchanged
    # a remote holding some other history of this chain is never overwritten
    other_remote = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(other_remote)], check=True,
                   env=repo.env)
    stray = repo.git("commit-tree", repo.git("rev-parse", "HEAD^{tree}").strip(), "-m",
                     "x").strip()
    repo.git("push", "-q", str(other_remote), f"{stray}:{chain}")
    refused = repo.prov("push", str(other_remote))
    assert refused.returncode != 0 and "Nothing was overwritten" in refused.stderr
