"""One argument with shell syntax: lists split into activities, pipelines kept whole, cd."""

from __future__ import annotations

from graph import Graph


def test_and_or_lists_short_circuit_like_the_shell(repo):
    proc = repo.prov("echo a > a.txt && false && echo b > b.txt; echo c > c.txt || echo d > d.txt")

    assert proc.returncode == 0
    assert repo.path("a.txt").exists() and repo.path("c.txt").exists()
    assert not repo.path("b.txt").exists() and not repo.path("d.txt").exists()
    graph = Graph.of(repo)
    commands = [a.properties["command"] for a in graph.activities()]
    assert commands == ["echo a > a.txt", "false", "echo c > c.txt"]
    assert [a.properties["exit_code"] for a in graph.activities()] == [0, 1, 0]


def test_a_list_exits_with_its_last_status(repo):
    assert repo.prov("true && false").returncode == 1
    assert repo.prov("false || true").returncode == 0
    assert repo.prov("false; true && sh -c 'exit 4'").returncode == 4
    # the same strings straight to bash agree
    import subprocess
    cases = [("true && false", 1), ("false || true", 0), ("false; true && sh -c 'exit 4'", 4)]
    for text, code in cases:
        assert subprocess.run(["bash", "-c", text]).returncode == code


def test_each_part_has_its_own_snapshots(repo):
    repo.ok("echo 1 > f.txt && echo 2 > f.txt")

    graph = Graph.of(repo)
    first, second = graph.activities()
    assert graph.generated(first) == ["f.txt@v1"]
    assert graph.generated(second) == ["f.txt@v2"]
    assert graph.edge("wasDerivedFrom", "f.txt@v2", "f.txt@v1") is not None


def test_a_pipeline_is_one_activity(repo):
    repo.write("words.txt", "b\na\nb\n")
    repo.commit_all()

    repo.ok("cat words.txt | sort | uniq -c > counts.txt")

    graph = Graph.of(repo)
    [activity] = graph.activities()
    assert activity.properties["pipeline"] == ["cat", "sort", "uniq"]
    assert graph.used(activity) == ["words.txt@v1"]
    assert graph.generated(activity) == ["counts.txt@v1"]
    assert repo.read("counts.txt").split() == ["1", "a", "2", "b"]


def test_redirection_inputs_are_used(repo):
    repo.write("in.txt", "2\n1\n")
    repo.commit_all()

    repo.ok("sort < in.txt > out.txt")

    [activity] = Graph.of(repo).activities()
    assert Graph.of(repo).used(activity) == ["in.txt@v1"]


def test_cd_carries_over_to_the_next_part(repo):
    repo.write("sub/in.txt", "x\n")
    repo.commit_all()

    repo.ok("cd sub && cp in.txt out.txt; pwd > where.txt")

    assert repo.path("sub/out.txt").exists()
    assert repo.read("sub/where.txt").strip() == str(repo.path("sub"))
    graph = Graph.of(repo)
    cp, pwd = graph.activities()
    assert cp.properties["cwd"] == "sub"
    assert graph.used(cp) == ["sub/in.txt@v1"]
    assert graph.generated(pwd) == ["sub/where.txt@v1"]


def test_cd_to_a_missing_folder_fails_the_and_list(repo):
    proc = repo.prov("cd nowhere && touch x.txt")
    assert proc.returncode == 1
    assert "nowhere" in proc.stderr
    assert not repo.path("x.txt").exists()


def test_compound_commands_run_whole(repo):
    repo.ok("for i in 1 2; do echo $i >> n.txt; done")
    [activity] = Graph.of(repo).activities()
    assert repo.read("n.txt") == "1\n2\n"
    assert Graph.of(repo).generated(activity) == ["n.txt@v1"]


def test_globs_name_the_files_used(repo):
    repo.write("a.csv", "1\n")
    repo.write("b.csv", "2\n")
    repo.commit_all()

    repo.ok("cat *.csv > all.txt")

    [activity] = Graph.of(repo).activities()
    assert Graph.of(repo).used(activity) == ["a.csv@v1", "b.csv@v1"]


def test_shell_syntax_errors_are_one_line(repo):
    proc = repo.prov("echo 'unterminated")
    assert proc.returncode == 125
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("prov: ")
