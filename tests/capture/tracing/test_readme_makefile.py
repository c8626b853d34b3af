"""The README's Makefile example, run as it is written there: files, commands and output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from provgraph.capture.tracing import unavailable

README = (Path(__file__).parents[3] / "README.md").read_text()
SECTION = README[README.index("### Example: a Makefile project"):]
SECTION = SECTION[:SECTION.index("\n## ")]
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")


@pytest.mark.skipif(unavailable() is not None, reason=f"no tracing here: {unavailable()}")
def test_the_readme_makefile_example_gives_the_lineage_and_segment_it_shows(repo):
    files = re.findall(r"<!-- file: (\S+) -->\n```[a-z]*\n(.*?)```", SECTION, re.S)
    assert {name for name, _ in files} >= {"Makefile", "clean.py", "train.py", "params.yaml"}
    for name, body in files:
        repo.write(name, body)
    repo.commit_all("the project")
    console = re.search(r"```console\n(.*?)```", SECTION, re.S)[1]
    steps = re.split(r"^\$ ", console, flags=re.M)[1:]
    assert [step.splitlines()[0] for step in steps] == [
        "prov make model.txt", "prov lineage model.txt",
        "prov segment --src data/raw.csv --dst model.txt"]
    for step in steps:
        command, _, expected = step.partition("\n")
        proc = repo.ok(*command.split()[1:])
        assert TIME.sub("T", proc.stdout) == TIME.sub("T", expected), command
