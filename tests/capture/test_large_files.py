"""Files over the size limit are recorded by SHA-256 and never copied into git."""

from __future__ import annotations

import hashlib
import json
import os

from graph import Graph

LIMIT = {"PROV_LARGE_FILE_LIMIT": "4KB"}


def test_large_files_are_kept_by_digest_only(repo):
    data = os.urandom(10_000)
    repo.path("weights.bin").write_bytes(data)

    repo.ok("cp", "weights.bin", "copy.bin", env=LIMIT)

    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert graph.used(activity) == ["weights.bin@v1"]
    copy = graph.node("copy.bin@v1").properties
    assert copy["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert copy["size"] == 10_000
    assert copy["large"] is True
    blob = hashlib.sha1(b"blob 10000\0" + data).hexdigest()
    assert repo.git("cat-file", "-e", blob, check=False) == ""
    assert repo.git("cat-file", "-t", blob, check=False) == ""  # not in the object store
    ref = repo.git("for-each-ref", "--format=%(refname)", "refs/prov/journal/").strip()
    after = json.loads(repo.git("show", f"{ref}:record.json"))["after"]  # journal format 2
    pointer = repo.git("show", f"{after}:copy.bin")
    assert hashlib.sha256(data).hexdigest() in pointer and len(pointer) < 200


def test_a_changed_large_file_is_a_new_version_and_small_files_stay_in_git(repo):
    repo.path("big.bin").write_bytes(b"a" * 8000)
    repo.ok("true", env=LIMIT)
    repo.ok("sh", "-c", "printf b >> big.bin; echo small > small.txt", env=LIMIT)
    repo.ok("sh", "-c", "printf tiny > big.bin", env=LIMIT)  # shrinks under the limit

    graph = Graph.of(repo)
    versions = [n.properties for n in graph.entities("big.bin")]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[1]["digest"] == "sha256:" + hashlib.sha256(b"a" * 8000 + b"b").hexdigest()
    assert versions[2]["digest"] == hashlib.sha1(b"blob 4\0tiny").hexdigest()
    assert "large" not in versions[2]


def test_a_renamed_large_file_is_not_hashed_again(repo):
    """The digest is cached by size, mtime and inode, as git caches by stat: a rename keeps all
    three, so prov reuses the digest. Proven by swapping the content behind its back."""
    big = repo.path("big.bin")
    first = os.urandom(20_000)
    big.write_bytes(first)
    repo.ok("cat big.bin > /dev/null", env=LIMIT)
    stat = big.stat()
    with open(big, "r+b") as handle:  # same size, same inode
        handle.write(os.urandom(20_000))
    os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime

    repo.ok("mv", "big.bin", "moved.bin", env=LIMIT)

    graph = Graph.of(repo)
    [_, mv] = graph.activities()
    assert graph.generated(mv) == ["moved.bin@v1"]
    assert graph.node("moved.bin@v1").properties["digest"] == (
        "sha256:" + hashlib.sha256(first).hexdigest())


def test_the_limit_is_configurable(repo):
    repo.ok("config", "set", "capture.large_file_limit", "1KB")
    repo.path("mid.bin").write_bytes(b"m" * 2000)
    repo.ok("cat", "mid.bin")
    assert Graph.of(repo).entities("mid.bin")[0].properties["digest"].startswith("sha256:")
