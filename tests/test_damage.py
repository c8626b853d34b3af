"""Damage to `.git/prov/` (issue 12, section 2): every derived file is made again, every
primary one is named in one line with what to do; reading commands, captures and
`prov rebuild` never end in a traceback. Also a malformed `.prov.toml`: one line naming the
key, and the command still runs and is captured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from conftest import Repo, git_env

#: What `prov` makes again from git and the journal (the README's "Where it is kept").
DERIVED = ["index.duckdb", "search.sqlite", "snapshot-index", "snapshot.json", "last-snapshot",
           "index.tips", "quarantine.json", "quarantine-index.json", "fileview/views.json",
           "entry-points.json", "project", "ignored.json", "quarantine-claims.sqlite"]
DAMAGE = ["deleted", "emptied", "truncated", "garbage", "wrong-type JSON"]
#: What reads the files above: the index, the search index (lineage and segments walk it),
#: a capture (snapshots, markers), the views, and the rebuild the README recommends.
COMMANDS = [["log", "--json"], ["lineage", "e.csv"], ["segment", "--src", "d.csv", "--dst",
                                                      "e.csv"],
            ["fileview", "list"], ["rebuild"], ["touch", "made.txt"]]
READS_INDEX = {"log", "lineage", "segment", "rebuild"}


def damage(path, kind: str) -> None:
    if kind == "deleted":
        path.unlink(missing_ok=True)
    elif kind == "emptied":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        path.write_bytes(os.urandom(4096))
    else:
        path.write_text('[1, "x", {"version": 1, "tips": 5, "record": []}]')


def no_traceback(proc: subprocess.CompletedProcess, most_lines: int = 1) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") <= most_lines, proc.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A repository with captures, a file view and a saved segment, made once and copied
    for each test."""
    base = tmp_path_factory.mktemp("damage")
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Alice\n\temail = a@example.com\n"
                                     "[init]\n\tdefaultBranch = main\n")
    r = Repo(base / "repo", git_env(home))
    r.root.mkdir()
    r.git("init", "-q")
    r.write("d.csv", "x,y\n1,2\n3,4\n")
    r.write(".gitignore", "*.bin\n")
    r.commit_all("start")
    r.ok("sh", "-c", "echo cached > cache.bin")  # digests of ignored files: ignored.json
    r.ok("cp", "d.csv", "e.csv")
    r.ok("fileview", "-c", "-n", "o.csv", "-q", "select * from {d.csv}")
    r.ok("segment", "--src", "d.csv", "--dst", "e.csv", "--save", "seg")
    r.ok("status")
    return r


@pytest.fixture
def worked(template, tmp_path) -> Repo:
    root = tmp_path / "repo"
    shutil.copytree(template.root, root, symlinks=True)
    return Repo(root, template.env)


def ids(repo: Repo) -> list[str]:
    out = repo.ok("sql", "--json", "select id from nodes order by id").stdout
    return [row["id"] for row in json.loads(out)]


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize("name", DERIVED)
def test_a_damaged_derived_file_is_made_again(worked, name, kind):
    path = worked.path(f".git/prov/{name}")
    assert path.exists()
    before = ids(worked)
    original = path.read_bytes()
    for args in COMMANDS:
        path.write_bytes(original)
        damage(path, kind)
        proc = worked.prov(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        # the index is the one derived file worth a word: what `fileview why` kept there
        no_traceback(proc, 1 if name == "index.duckdb" else 0)
        if name == "index.duckdb" and kind != "deleted" and args[0] in READS_INDEX:
            assert "index.duckdb is damaged" in proc.stderr and "made again" in proc.stderr
        if args == ["log", "--json"]:
            commands = [r["properties"]["command"] for r in json.loads(proc.stdout)]
            assert "cp d.csv e.csv" in commands and len(commands) == 3
        if args[0] == "lineage":
            assert "d.csv@v1" in proc.stdout
        if args == ["touch", "made.txt"]:
            assert "made.txt@v1" in worked.ok("log").stdout
            os.unlink(worked.path("made.txt"))
    # made again with the same ids (the capture above added its own)
    assert set(before) <= set(ids(worked))


def test_rebuild_recovers_an_index_cut_short_with_the_same_ids(worked):
    before = ids(worked)
    index = worked.path(".git/prov/index.duckdb")
    damage(index, "truncated")
    proc = worked.prov("rebuild")
    assert proc.returncode == 0, proc.stderr
    assert ids(worked) == before


@pytest.mark.parametrize("kind", DAMAGE[1:])
def test_a_damaged_clone_id_is_named_never_replaced(worked, kind):
    path = worked.path(".git/prov/clone-id")
    damage(path, kind)
    damaged = path.read_bytes()
    for args in (["log"], ["status"], ["rebuild"], ["touch", "made.txt"]):
        proc = worked.prov(*args)
        assert proc.returncode == (125 if args[0] == "touch" else 1), proc.stderr
        no_traceback(proc)
        assert ".git/prov/clone-id is damaged" in proc.stderr
        assert "refs/prov/journal" in proc.stderr  # where to find the id to write back
    assert not worked.path("made.txt").exists()  # decided before running
    assert path.read_bytes() == damaged


@pytest.mark.parametrize("kind", DAMAGE[1:])
def test_a_damaged_config_is_named_and_left_out(worked, kind):
    worked.ok("config", "set", "capture.large_file_limit", "5MB")
    path = worked.path(".git/prov/config.json")
    damage(path, kind)
    damaged = path.read_bytes()
    proc = worked.prov("touch", "made.txt")
    assert proc.returncode == 0
    no_traceback(proc)
    assert ".git/prov/config.json is damaged" in proc.stderr
    assert "made.txt@v1" in worked.ok("log").stdout
    refused = worked.prov("config", "set", "capture.trace", "off")
    assert refused.returncode == 1
    assert path.read_bytes() == damaged  # never overwritten with what was readable of it


@pytest.mark.parametrize("kind", DAMAGE[1:])
def test_a_damaged_running_marker_is_named_and_the_rest_goes_on(worked, kind):
    marker = worked.path(".git/prov/running/act-0000000000000000.json")
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("{}")
    damage(marker, kind)
    for args in (["log", "--json"], ["status", "--json"], ["lineage", "e.csv"],
                 ["touch", "made.txt"]):
        proc = worked.prov(*args)
        assert proc.returncode == 0, (args, proc.stderr)
        no_traceback(proc)
        assert "running/act-0000000000000000.json is damaged" in proc.stderr
        assert "remove it" in proc.stderr
    assert marker.exists()  # the user's to look at
    assert "made.txt@v1" in worked.ok("log").stdout


@pytest.mark.parametrize("kind", DAMAGE[1:])
def test_a_damaged_saved_segment_is_named(worked, kind):
    damage(worked.path(".git/prov/segments/seg.json"), kind)
    proc = worked.prov("summarize", "--segments", "seg")
    assert proc.returncode == 1
    no_traceback(proc)
    assert ".git/prov/segments/seg.json is damaged" in proc.stderr
    assert "--save seg" in proc.stderr


def test_a_search_index_cut_short_is_made_again_in_the_middle_of_a_walk(worked):
    search = worked.path(".git/prov/search.sqlite")
    expected = worked.ok("segment", "--src", "d.csv", "--dst", "e.csv").stdout
    damage(search, "truncated")
    proc = worked.prov("segment", "--src", "d.csv", "--dst", "e.csv")
    assert proc.returncode == 0, proc.stderr
    no_traceback(proc, 0)
    assert proc.stdout == expected


TOML = {
    'redact.names = 5': "redact.names",
    'redact.patterns = [5]': "redact.patterns",
    'redact.patterns = ["(unclosed"]': "redact.patterns",
    'ingestor = "x"': "[[ingestor]]",
    'ingestor = [1, 2]': "[[ingestor]]",
    'metrics = "x"': "[[metrics]]",
    '[capture]\nlarge_file_limit = "lots"': "capture.large_file_limit",
    'capture = 5': "capture",
}


@pytest.mark.parametrize("text", TOML)
def test_a_malformed_prov_toml_is_named_and_the_command_runs(repo, text):
    repo.write(".prov.toml", text + "\n")
    repo.commit_all("settings")
    proc = repo.prov("touch", "made.txt")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and all(TOML[text] in line and ".prov.toml" in line for line in lines), lines
    assert repo.path("made.txt").exists()
    assert "made.txt@v1" in repo.ok("log").stdout
