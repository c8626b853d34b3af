"""`git commit` under prov, and metrics read from any tool's output without code."""

from __future__ import annotations

import hashlib
import json

from graph import Graph


def blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_a_git_commit_is_an_explicit_version(repo):
    repo.write("params.yaml", "lr: 0.1\n")
    repo.write("notes.md", "draft\n")
    repo.git("add", "params.yaml", "notes.md")
    repo.write("params.yaml", "lr: 0.5\n")  # changed again after staging: not committed

    repo.ok("git", "commit", "-q", "-m", "Tune the learning rate\n\nLonger text.")

    head = repo.git("rev-parse", "HEAD").strip()
    graph = Graph.of(repo)
    [commit] = graph.activities()
    props = commit.properties
    assert props["git.commit"] == head
    assert props["git.message"] == "Tune the learning rate\n\nLonger text."
    assert props["git.author"] == "Alice <alice@example.com>"
    assert props["git.branch"] == "main"
    assert sorted(props["git.files"]) == ["notes.md", "params.yaml"]
    used = {graph.nodes[e.target].properties["path"]: graph.nodes[e.target]
            for e in graph.edges if e.type == "used" and e.source == commit.id}
    assert used["params.yaml"].properties["digest"] == blob(b"lr: 0.1\n")  # as committed
    assert used["notes.md"].properties["digest"] == blob(b"draft\n")
    # the work tree's version is another one, changed outside prov before the commit
    roles = {graph.nodes[e.target].properties["path"]: e.properties["role"]
             for e in graph.edges if e.source == commit.id and e.type == "used"}
    assert roles["params.yaml"] == roles["notes.md"] == "committed"
    # anything else git itself opened (re-reading a racily clean file) was only read
    assert set(roles.values()) <= {"committed", "read"}


def test_a_commit_that_commits_nothing_is_just_a_failed_command(repo):
    proc = repo.prov("git", "commit", "-m", "nothing")
    assert proc.returncode == 1
    [act] = Graph.of(repo).activities()
    assert not any(k.startswith("git.") for k in act.properties)


PROGRESS = """\
import sys
for epoch in range(1, 4):
    print(f"epoch {epoch}")
    print(f"  loss={1.0 / epoch:.4f} acc: {0.5 + epoch / 10:.2f}")
    print(f"  val_loss={2.0 / epoch:.3f}", file=sys.stderr)
"""


def test_metrics_from_output_without_code(repo):
    repo.write("fit.py", PROGRESS)
    repo.write(".prov.toml", """\
[[metrics]]
match = 'fit\\.py'
step = 'epoch (\\d+)'
loss = '(?<!_)loss=([0-9.]+)'
accuracy = 'acc: ([0-9.]+)'
val = 'val_loss=(?P<value>[0-9.]+)'
""")
    proc = repo.ok("python3", "fit.py")
    assert "epoch 3" in proc.stdout and "val_loss=0.667" in proc.stderr
    props = Graph.of(repo).activities()[0].properties
    assert props["metrics.loss.iteration"] == [1, 2, 3]
    assert props["metrics.loss.value"] == [1.0, 0.5, 0.3333]
    assert props["metrics.accuracy.value"] == [0.6, 0.7, 0.8]
    assert props["metrics.val.value"] == [2.0, 1.0, 0.667]  # from stderr (read after stdout)
    metrics = json.loads(repo.ok("sql", "SELECT count(*) AS n FROM activities", "--json").stdout)
    assert metrics == [{"n": 1}]


def test_metrics_from_a_log_file_and_without_steps(repo):
    repo.write(".prov.toml", """\
[[metrics]]
match = '^sh '
source = "train.log"
loss = 'loss ([0-9.]+)'
""")
    repo.ok("sh", "-c", "printf 'loss 3\\nnoise\\nloss 2.5\\n' > train.log")
    props = Graph.of(repo).activities()[0].properties
    assert props["metrics.loss.iteration"] == [0, 1]
    assert props["metrics.loss.value"] == [3.0, 2.5]  # one type per list


EVALUATE = """\
import sys
scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
for epoch in (1, 2):
    print(f"epoch {epoch} loss={scale / epoch:.2f}")
    print(f"epoch {epoch} val_loss={2 * scale / epoch:.2f}", file=sys.stderr)
"""


def test_metrics_follow_output_a_quoted_shell_command_redirects(repo):
    repo.write("src/__init__.py", "")
    repo.write("src/evaluate.py", EVALUATE)
    repo.write("reports/.keep", "")
    repo.write(".prov.toml", """\
[[metrics]]
match = 'src\\.evaluate'
step = 'epoch (\\d+)'
loss = '(?<!_)loss=([0-9.]+)'
val = 'val_loss=([0-9.]+)'
""")
    repo.commit_all()
    repo.ok("python3 -m src.evaluate > reports/eval.txt")  # stdout to a file, stderr teed
    repo.ok("python3 -m src.evaluate 4 2>&1 | tee reports/both.txt")  # both, through tee
    repo.ok("python3 -m src.evaluate 10 >> reports/eval.txt 2>/dev/null")  # appended to
    first, both, appended = (a.properties for a in Graph.of(repo).activities())
    assert (first["metrics.loss.iteration"], first["metrics.loss.value"]) == ([1, 2], [1.0, 0.5])
    assert first["metrics.val.value"] == [2.0, 1.0]
    assert both["metrics.loss.value"] == [4.0, 2.0]  # once, though both streams went there
    assert both["metrics.val.value"] == [8.0, 4.0]
    assert appended["metrics.loss.value"] == [10.0, 5.0]  # not the lines of the first run
    assert "metrics.val.iteration" not in appended  # stderr went to /dev/null
    assert repo.read("reports/eval.txt").count("loss=") == 4
