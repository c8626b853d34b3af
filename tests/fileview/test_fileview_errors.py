"""Every way a view can fail says so in one line, exits 1, and writes and records nothing."""

from __future__ import annotations

import pytest
from graph import Graph


def fails(repo, *args: str) -> str:
    proc = repo.prov("fileview", *args)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("prov: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr.strip()


@pytest.fixture
def data(repo):
    repo.write("data.csv", "".join(f"{i},img{i},cat\n" for i in range(100)))
    repo.write("old.csv", "keep me\n")
    repo.commit_all("data")
    return repo


def unchanged(repo) -> None:
    assert repo.read("old.csv") == "keep me\n"
    assert Graph.of(repo).activities() == []
    assert repo.git("status", "--porcelain") == ""


def test_a_missing_input(data):
    message = fails(data, "-c", "-n", "out.csv", "-q", "select * from {nope.csv}")
    assert message == "prov: input nope.csv does not exist"
    message = fails(data, "-n", "out.csv", "-q", "select * from {nope.csv}")
    assert message == "prov: input nope.csv does not exist"
    message = fails(data, "-c", "-n", "out.txt", "-s", "cat {nope.txt}")
    assert message == "prov: input nope.txt does not exist"
    message = fails(data, "-c", "-n", "out.txt", "-s", "cat", "-i", "nope.txt")
    assert message == "prov: input nope.txt does not exist"
    assert not data.path("out.csv").exists() and not data.path("out.txt").exists()
    unchanged(data)
    assert data.ok("fileview", "list").stdout == ""


def test_a_malformed_csv_line_is_reported_with_file_and_line(data):
    lines = [f"{i},img{i},cat" for i in range(30000)]
    lines[25000] = "25000,img,cat,extra"
    data.write("bad.csv", "\n".join(lines) + "\n")
    data.commit_all("bad data")
    message = fails(data, "-c", "-n", "old.csv", "--force", "-q",
                    "select _c2, count(*) from {bad.csv} group by 1")
    assert message == "prov: bad.csv: line 25001: expected 3 fields, found 4"
    unchanged(data)


def test_a_value_not_of_its_columns_type_names_file_line_and_column(data):
    lines = [f"{i},img{i},cat" for i in range(30000)]
    lines[28000] = "abc,img,cat"
    data.write("typed.csv", "\n".join(lines) + "\n")
    data.commit_all("typed data")
    message = fails(data, "-c", "-n", "out.csv", "-q", "select sum(_c0) from {typed.csv}")
    assert message.startswith("prov: typed.csv: line 28001: column _c0: ")
    assert "{typed.csv:text}" in message
    assert not data.path("out.csv").exists()
    # read as text, it works
    data.ok("fileview", "-c", "-n", "out.csv", "-q",
            "select count(*) as n from {typed.csv:text} where _c0 = 'abc'")
    assert data.read("out.csv") == "n\n1\n"


def test_an_output_that_is_an_input(data):
    message = fails(data, "-c", "-n", "data.csv", "-q", "select * from {data.csv}")
    assert message == ("prov: the output data.csv is also an input of the view: choose "
                       "another name (nothing was written)")
    message = fails(data, "-c", "-n", "data.csv", "--force", "-s", "sort", "-i", "data.csv")
    assert "also an input" in message
    assert data.read("data.csv").startswith("0,img0,cat\n1,img1,cat\n")
    unchanged(data)


def test_an_output_outside_the_repository(data, tmp_path):
    message = fails(data, "-c", "-n", "../out.csv", "-q", "select * from {data.csv}")
    assert message == f"prov: the output ../out.csv is outside the repository {data.root}"
    message = fails(data, "-c", "-n", str(tmp_path / "x.csv"), "-q", "select * from {data.csv}")
    assert "outside the repository" in message
    message = fails(data, "-c", "-n", ".git/x.csv", "-q", "select * from {data.csv}")
    assert "outside the repository" in message
    message = fails(data, "-c", "-n", "o.csv", "-q", "select * from {../x.csv}")
    assert message == "prov: input ../x.csv is outside the repository"
    assert not (tmp_path / "out.csv").exists()
    unchanged(data)


def test_a_name_colliding_with_a_file_no_view_made(data):
    message = fails(data, "-c", "-n", "old.csv", "-q", "select * from {data.csv}")
    assert message == ("prov: old.csv already exists and was not made by a view; nothing was "
                       "overwritten (choose another name, or --force)")
    message = fails(data, "-n", "old.csv", "-q", "select * from {data.csv}")
    assert "already exists and was not made by a view" in message
    data.write("new.txt", "mine\n")  # untracked files count too
    message = fails(data, "-c", "-n", "new.txt", "-s", "sort", "-i", "data.csv")
    assert "new.txt already exists" in message
    assert data.read("new.txt") == "mine\n"
    data.path("new.txt").unlink()
    unchanged(data)


def test_a_file_changed_since_its_view_wrote_it_is_not_overwritten(data):
    data.ok("fileview", "-c", "-n", "out.csv", "-q", "select _c0 from {data.csv} limit 2")
    data.ok("fileview", "-c", "-n", "out.csv", "-q", "select _c0 from {data.csv} limit 3")
    assert data.read("out.csv") == "_c0\n0\n1\n2\n"  # a view may rewrite its own file
    data.write("out.csv", "edited by hand\n")
    message = fails(data, "-c", "-n", "out.csv", "-q", "select _c0 from {data.csv} limit 2")
    assert message == ("prov: out.csv was changed since the view last wrote it; nothing was "
                       "overwritten (--force overwrites it)")
    assert data.read("out.csv") == "edited by hand\n"
    assert "skipped: the file was changed" in data.ok("fileview", "refresh", "out.csv").stdout
    assert data.read("out.csv") == "edited by hand\n"
    data.ok("fileview", "-c", "-n", "out.csv", "--force", "-q",
            "select _c0 from {data.csv} limit 2")
    assert data.read("out.csv") == "_c0\n0\n1\n"


def test_a_failing_script_writes_nothing(data):
    data.ok("fileview", "-c", "-n", "out.txt", "-s", "head -2", "-i", "data.csv")
    message = fails(data, "-c", "-n", "out.txt", "-s", "head -1; exit 3", "-i", "data.csv")
    assert message == "prov: the script exited with status 3; nothing was written"
    assert data.read("out.txt") == "0,img0,cat\n1,img1,cat\n"
    assert len(Graph.of(data).activities()) == 1


def test_usage_errors(data):
    assert "give one of them" in fails(data, "-n", "o.csv")
    assert "give one of them" in fails(data, "-n", "o.csv", "-q", "select 1", "-s", "cat")
    assert "-i feeds a script" in fails(data, "-n", "o.csv", "-q", "select 1", "-i", "data.csv")
    assert "cannot tell the output format" in fails(data, "-n", "o.txt", "-q", "select 1")
    assert "no view named nope.csv" in fails(data, "cat", "nope.csv")
    assert "no view named nope.csv" in fails(data, "drop", "nope.csv")
    proc = data.prov("fileview", "-n", "o.csv", "cat", "x")
    assert proc.returncode == 2
    unchanged(data)


def test_errors_come_in_order_query_then_inputs_then_files(data):
    """The inputs are sniffed while the query is parsed: still, a query with several faults
    is reported by the first, as if each were checked after the other."""
    data.write("empty.csv", "")
    data.commit_all("an empty file")
    message = fails(data, "-c", "-n", "out.csv", "-q",
                    "select * from {empty.csv}, {nope.csv} wher 1")
    assert message.startswith("prov: SQL syntax error")
    message = fails(data, "-c", "-n", "out.csv", "-q", "select * from {empty.csv}, {nope.csv}")
    assert message == "prov: input nope.csv does not exist"
    message = fails(data, "-c", "-n", "out.csv", "-q",
                    "select * from {data.csv}, {empty.csv} where 1 = 1")
    assert message == "prov: input empty.csv is empty: no columns to read"
    unchanged(data)
