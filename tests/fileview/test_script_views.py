"""Script views: a pipeline over input files, on its standard input or by placeholders."""

from __future__ import annotations

from graph import Graph


def test_inputs_are_concatenated_on_standard_input_in_order(repo):
    repo.write("words.txt", "b\na\nb\n")
    repo.write("more.txt", "c\na\n")
    repo.ok("fileview", "-n", "counts.txt", "-s", "sort | uniq -c", "-i", "words.txt",
            "-i", "more.txt")
    assert not repo.path("counts.txt").exists()  # virtual until materialized
    assert repo.ok("fileview", "cat", "counts.txt").stdout.split() == [
        "2", "a", "2", "b", "1", "c"]
    repo.ok("fileview", "-n", "first.txt", "-s", "head -1", "-i", "more.txt", "-i", "words.txt")
    assert repo.ok("fileview", "cat", "first.txt").stdout == "c\n"
    assert Graph.of(repo).activities() == []  # cat records nothing


def test_placeholders_are_quoted_paths_and_other_braces_stay(repo):
    repo.write("data/a.csv", "1,x\n2,y\n")
    repo.write("data/b.csv", "3,z\n")
    # paths relative to where you stand; awk's braces and bash's {1..3} are not placeholders
    repo.ok("fileview", "-c", "-n", "firsts.txt", "-s",
            "cat {a.csv} {b.csv} | awk -F, '{print $1}' | sort -r; echo {1..3}",
            cwd=repo.path("data"))
    assert repo.read("data/firsts.txt") == "3\n2\n1\n1 2 3\n"

    graph = Graph.of(repo)
    [activity] = graph.activities()
    props = activity.properties
    assert props["command"] == ("prov fileview -c -n firsts.txt -s 'cat {a.csv} {b.csv} | "
                                "awk -F, '\"'\"'{print $1}'\"'\"' | sort -r; echo {1..3}'")
    assert props["cwd"] == "data"
    assert props["fileview.kind"] == "script"
    assert props["fileview.engine"] == "shell"
    assert props["fileview.inputs"] == ["data/a.csv", "data/b.csv"]
    assert graph.used(activity) == ["data/a.csv@v1", "data/b.csv@v1"]
    assert graph.generated(activity) == ["data/firsts.txt@v1"]


def test_a_script_view_goes_stale_and_refreshes(repo):
    repo.write("words.txt", "b\na\n")
    repo.ok("fileview", "-c", "-n", "sorted.txt", "-s", "sort", "-i", "words.txt")
    assert repo.read("sorted.txt") == "a\nb\n"
    assert repo.ok("fileview", "status").stdout == "sorted.txt  up to date\n"
    repo.write("words.txt", "b\na\nc\n")
    assert repo.ok("fileview", "status").stdout == "sorted.txt  stale: words.txt changed\n"
    repo.ok("fileview", "refresh")
    assert repo.read("sorted.txt") == "a\nb\nc\n"

    graph = Graph.of(repo)
    first, second = graph.activities()
    assert graph.used(second) == ["words.txt@v2"]
    assert graph.generated(second) == ["sorted.txt@v2"]
    assert second.properties["fileview.refresh"] is True
    assert first.properties["command"] == second.properties["command"] == \
        "prov fileview -c -n sorted.txt -s sort -i words.txt"
