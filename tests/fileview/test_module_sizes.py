"""A guard on the split of provgraph/fileview/: no module of it grows back past 600 lines
(why.py was 1,100 lines doing four jobs; its parts now live in provgraph/fileview/why/)."""

from __future__ import annotations

from pathlib import Path

import provgraph.fileview

LIMIT = 600
FOLDER = Path(provgraph.fileview.__file__).parent


def modules() -> list[Path]:
    return sorted(FOLDER.rglob("*.py"))


def test_the_guard_sees_every_module_of_the_fileview_package():
    names = {path.relative_to(FOLDER).as_posix() for path in modules()}
    assert {"engine.py", "why/__init__.py", "why/rewriting.py", "why/running.py",
            "why/storing.py", "why/explaining.py", "why/writer.py"} <= names
    assert "why.py" not in names  # the split replaced it; both would shadow one another


def test_no_fileview_module_is_longer_than_600_lines():
    long = {path.relative_to(FOLDER).as_posix(): n for path in modules()
            if (n := len(path.read_text().splitlines())) > LIMIT}
    assert not long, f"split these along their jobs (at most {LIMIT} lines each): {long}"
