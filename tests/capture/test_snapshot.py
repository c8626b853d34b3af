"""Unit tests of the snapshots (provgraph/capture/snapshot.py), in-process on a real repository.

Each snapshot's tree is read back with git itself, so a wrong tree, digest or pointer fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from provgraph.capture.snapshot import POINTER_MAGIC, Snapshotter, pointer_content, start_walk
from provgraph.repo import Repository
from tests.conftest import Repo


def _open(repo: Repo, limit: int = 1 << 20) -> tuple[Repository, Snapshotter]:
    repository = Repository.discover(repo.root)
    repository.ensure_prov_dir()
    return repository, Snapshotter(repository, limit)


def _tree(repo: Repo, tree: str) -> dict[str, str]:
    """path -> blob id of every file in a tree, as git lists it."""
    listed = repo.git("ls-tree", "-r", "-z", tree)
    entries = {}
    for line in filter(None, listed.split("\0")):
        meta, path = line.split("\t", 1)
        entries[path] = meta.split()[2]
    return entries


def _blob(repo: Repo, name: str) -> str:
    return repo.git("hash-object", "--", name).strip()


def test_a_snapshot_is_the_work_tree_with_git_blob_digests(repo: Repo) -> None:
    repo.write("data/a.csv", "x,y\n1,2\n")
    repo.write("notes.txt", "hello\n")
    _, snapshots = _open(repo)

    snap = snapshots.take()

    assert _tree(repo, snap.tree) == {
        "README.md": _blob(repo, "README.md"),
        "data/a.csv": _blob(repo, "data/a.csv"),
        "notes.txt": _blob(repo, "notes.txt"),
    }
    assert snap.large == {}
    assert snap.taken <= snap.done


def test_changes_and_deletions_show_in_the_next_snapshot(repo: Repo) -> None:
    repo.write("a.txt", "one\n")
    repo.write("b.txt", "two\n")
    _, snapshots = _open(repo)
    first = snapshots.take()
    repo.write("a.txt", "one, changed\n")
    os.unlink(repo.path("b.txt"))

    second = snapshots.take()

    assert second.tree != first.tree
    assert _tree(repo, second.tree) == {"README.md": _blob(repo, "README.md"),
                                        "a.txt": _blob(repo, "a.txt")}
    assert snapshots.take().tree == second.tree  # nothing changed: the same tree


def test_the_users_index_and_head_are_left_alone(repo: Repo) -> None:
    repo.write("new.txt", "untracked\n")
    index = (repo.root / ".git" / "index").read_bytes()
    head = repo.git("rev-parse", "HEAD")
    status = repo.git("status", "--porcelain")
    _, snapshots = _open(repo)

    snap = snapshots.take()

    assert "new.txt" in _tree(repo, snap.tree)
    assert (repo.root / ".git" / "index").read_bytes() == index
    assert repo.git("rev-parse", "HEAD") == head
    assert repo.git("status", "--porcelain") == status == "?? new.txt\n"


def test_git_ignored_files_stay_out_of_the_tree(repo: Repo) -> None:
    repo.write(".gitignore", "*.log\nbuild/\n")
    repo.write("run.log", "noise\n")
    repo.write("build/out.bin", "binary\n")
    repo.write("kept.txt", "kept\n")
    _, snapshots = _open(repo)

    snap = snapshots.take()

    assert sorted(_tree(repo, snap.tree)) == [".gitignore", "README.md", "kept.txt"]


def test_a_large_file_is_a_pointer_blob_with_its_sha256(repo: Repo) -> None:
    content = os.urandom(5000)
    (repo.root / "weights.bin").write_bytes(content)
    _, snapshots = _open(repo, limit=1000)

    snap = snapshots.take()

    sha = hashlib.sha256(content).hexdigest()
    info = snap.large["weights.bin"]
    assert (info.sha256, info.size) == (sha, 5000)
    assert _tree(repo, snap.tree)["weights.bin"] == info.pointer
    pointer = repo.git("cat-file", "blob", info.pointer).encode()
    assert pointer == pointer_content(sha, 5000)
    assert pointer == POINTER_MAGIC + f"sha256 {sha}\nsize 5000\n".encode()
    assert repo.git("cat-file", "-s", info.pointer).strip() == str(len(pointer))


def test_a_large_file_that_shrinks_below_the_limit_is_a_blob_again(repo: Repo) -> None:
    (repo.root / "model.bin").write_bytes(b"x" * 4000)
    _, snapshots = _open(repo, limit=1000)
    assert "model.bin" in snapshots.take().large
    repo.write("model.bin", "small now\n")

    snap = snapshots.take()

    assert snap.large == {}
    assert _tree(repo, snap.tree)["model.bin"] == _blob(repo, "model.bin")


def test_a_large_file_removed_leaves_the_tree_and_the_table(repo: Repo) -> None:
    (repo.root / "model.bin").write_bytes(b"x" * 4000)
    _, snapshots = _open(repo, limit=1000)
    snapshots.take()
    os.unlink(repo.path("model.bin"))

    snap = snapshots.take()

    assert snap.large == {}
    assert "model.bin" not in _tree(repo, snap.tree)


def test_large_file_digests_are_cached_by_size_mtime_and_inode(repo: Repo) -> None:
    """The stat cache: a large file whose size, mtime and inode did not change is not read
    again (so rewriting its bytes behind those is not seen, as with git's own cache)."""
    path = repo.root / "weights.bin"
    path.write_bytes(b"a" * 3000)
    repository, snapshots = _open(repo, limit=1000)
    first = snapshots.take()
    st = path.stat()
    state = json.loads(Path(repository.prov_path("snapshot.json")).read_text())
    key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    assert state["digests"] == {key: hashlib.sha256(b"a" * 3000).hexdigest()}

    with open(path, "r+b") as handle:  # same size, same inode
        handle.write(b"b" * 3000)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    cached = snapshots.take()
    assert cached.tree == first.tree
    assert cached.large["weights.bin"].sha256 == hashlib.sha256(b"a" * 3000).hexdigest()

    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the mtime moves
    seen = snapshots.take()
    assert seen.large["weights.bin"].sha256 == hashlib.sha256(b"b" * 3000).hexdigest()
    assert seen.tree != first.tree


def test_an_index_changed_behind_provgraph_is_made_again_with_its_cache(repo: Repo) -> None:
    """The private index's size, time and inode are noted: one they do not match is made
    again, and the digest cache beside it is not trusted either."""
    path = repo.root / "weights.bin"
    path.write_bytes(b"a" * 3000)
    repository, snapshots = _open(repo, limit=1000)
    first = snapshots.take()
    st = path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    # A digest the file does not have: only a snapshot that trusts the cache reports it.
    state = json.loads(Path(repository.prov_path("snapshot.json")).read_text())
    state["digests"][key] = "f" * 64
    Path(repository.prov_path("snapshot.json")).write_text(json.dumps(state))
    os.utime(repository.prov_path("snapshot-index"))  # not the index the state notes
    os.rename(path, repo.root / "moved.bin")

    snap = snapshots.take()

    assert snap.large["moved.bin"].sha256 == first.large["weights.bin"].sha256
    assert snap.large["moved.bin"].sha256 == hashlib.sha256(b"a" * 3000).hexdigest()
    assert "weights.bin" not in snap.large


def test_a_rename_reuses_the_digest_cache(repo: Repo) -> None:
    path = repo.root / "weights.bin"
    path.write_bytes(b"a" * 3000)
    repository, snapshots = _open(repo, limit=1000)
    snapshots.take()
    st = path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    state_file = Path(repository.prov_path("snapshot.json"))
    state = json.loads(state_file.read_text())
    state["digests"][key] = "f" * 64  # what only the cache can answer
    state_file.write_text(json.dumps(state))
    os.rename(path, repo.root / "moved.bin")

    snap = snapshots.take()

    assert snap.large["moved.bin"].sha256 == "f" * 64
    assert "weights.bin" not in snap.large


def test_a_damaged_private_index_is_made_again(repo: Repo) -> None:
    repo.write("a.txt", "one\n")
    repo.write("sub/b.txt", "two\n")
    repository, snapshots = _open(repo)
    first = snapshots.take()
    index = Path(repository.prov_path("snapshot-index"))
    data = index.read_bytes()
    index.write_bytes(data[: len(data) // 2])  # cut short, as a full disk leaves it
    Path(repository.prov_path("snapshot-index.lock")).write_bytes(b"")  # a killed git's

    again = snapshots.take()

    assert again.tree == first.tree
    assert sorted(_tree(repo, again.tree)) == ["README.md", "a.txt", "sub/b.txt"]
    assert not os.path.exists(repository.prov_path("snapshot-index.lock"))


def test_a_private_index_of_garbage_is_made_again(repo: Repo) -> None:
    repo.write("a.txt", "one\n")
    repository, snapshots = _open(repo)
    first = snapshots.take()
    Path(repository.prov_path("snapshot-index")).write_bytes(b"not an index at all")

    assert snapshots.take().tree == first.tree


def test_a_damaged_state_file_makes_the_index_again(repo: Repo) -> None:
    (repo.root / "weights.bin").write_bytes(b"z" * 3000)
    repository, snapshots = _open(repo, limit=1000)
    first = snapshots.take()
    Path(repository.prov_path("snapshot.json")).write_text('{"large": [')

    again = snapshots.take()

    assert again.tree == first.tree
    assert again.large == first.large


def test_a_walk_started_early_gives_the_same_snapshot(repo: Repo) -> None:
    repository, snapshots = _open(repo)
    assert start_walk(repository) is None  # no private index yet
    snapshots.take()
    repo.write("later.txt", "later\n")
    walk = start_walk(repository)
    assert walk is not None

    snap = snapshots.take(walk)

    assert _tree(repo, snap.tree)["later.txt"] == _blob(repo, "later.txt")


def test_many_new_files_go_into_one_pack_and_few_stay_loose(repo: Repo) -> None:
    from provgraph.capture.snapshot import PACK_FROM

    _repository, snapper = _open(repo)
    snapper.take()
    packs = repo.path(".git/objects/pack")
    for i in range(PACK_FROM):
        repo.write(f"img/f{i:05}.bin", f"image {i}\n")
    many = snapper.take()
    made = list(packs.glob("*.pack"))
    assert len(made) == 1
    tree = _tree(repo, many.tree)
    for i in (0, PACK_FROM - 1):  # the content is git's, read back from the pack
        blob = tree[f"img/f{i:05}.bin"]
        assert repo.git("cat-file", "-p", blob) == f"image {i}\n"
        assert not repo.path(f".git/objects/{blob[:2]}/{blob[2:]}").exists()
    repo.write("one.txt", "one\n")
    few = snapper.take()
    assert list(packs.glob("*.pack")) == made
    loose = _tree(repo, few.tree)["one.txt"]
    assert repo.path(f".git/objects/{loose[:2]}/{loose[2:]}").exists()


def test_very_many_new_files_go_into_packs_of_bounded_size(repo: Repo, monkeypatch) -> None:
    """git's bulk check-in costs the square of a pack's objects: past PACK_SIZE new files a
    snapshot writes several packs, and every file is in the tree with git's own blob id."""
    from provgraph.capture import snapshot

    monkeypatch.setattr(snapshot, "PACK_SIZE", 400)
    _repository, snapper = _open(repo)
    repo.write("old.txt", "old\n")
    assert "old.txt" in _tree(repo, snapper.take().tree)
    packs = repo.path(".git/objects/pack")
    count = snapshot.PACK_FROM + 50
    names = [f"img/f{i:05}.bin" for i in range(count)]
    for i, name in enumerate(names):
        repo.write(name, f"image {i}\n")
    repo.path("old.txt").unlink()  # a removal in the same snapshot
    many = snapper.take()
    assert len(list(packs.glob("*.pack"))) == 3  # 400 + 400 + 250
    tree = _tree(repo, many.tree)
    assert "old.txt" not in tree
    assert sorted(p for p in tree if p.startswith("img/")) == names
    hashed = subprocess.run(["git", "hash-object", "--stdin-paths"], cwd=repo.root, text=True,
                            input="\n".join(names) + "\n", capture_output=True, check=True)
    assert [tree[name] for name in names] == hashed.stdout.split()
