"""The ingestor registry: built-ins, `.prov.toml` entries (Python and any executable),
installed packages; and what happens when an ingestor fails, hangs or talks nonsense."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
from graph import Graph

from provgraph.ingestors.registry import BUILTINS

HOOKS = '''\
import json, os

def ingest(hook, context):
    if hook == "before":
        return {"activity": {"seen_argv": context["argv"], "nested": {"depth": 2}}}
    streams = context.get("streams", {})
    text = open(streams["stderr"]).read() if "stderr" in streams else ""
    return {"activity": {"exit": context["exit_code"], "stderr": text},
            "entities": {"out.txt": {"checked": True}}}

def broken(hook, context):
    raise ValueError("bad input")

def slow(hook, context):
    import time
    time.sleep(600)  # were it waited for, the capture below would time out
    return {"activity": {"late": True}}

def nonsense(hook, context):
    return ["not", "a", "fragment"] if hook == "before" else {"activity": "flat text"}
'''

EXECUTABLE = '''\
import json, sys
request = json.load(sys.stdin)
if request["hook"] == "after":
    print(json.dumps({"activity": {"words": len(request["context"]["argv"]),
                                   "exit": request["context"]["exit_code"]}}))
'''


def activity(repo):
    return Graph.of(repo).activities()[-1].properties


def config(repo, *tables: str) -> None:
    """Write `.prov.toml` and allow it: its ingestors run code, which waits for `prov trust`
    (tests/test_trust.py)."""
    repo.write(".prov.toml", "\n".join(tables))
    repo.ok("trust")


def test_a_python_ingestor_from_prov_toml(repo):
    repo.write("hooks_mod.py", HOOKS)
    config(repo, '[[ingestor]]\nname = "tool"\nmatch = "^sh "\ncall = "hooks_mod:ingest"\n'
           'streams = ["stderr"]\n')
    proc = repo.ok("sh", "-c", "echo to-err >&2; echo to-out; echo x > out.txt")
    assert (proc.stdout, proc.stderr) == ("to-out\n", "to-err\n")  # the terminal's view
    props = activity(repo)
    assert props["tool.seen_argv"] == ["sh", "-c", "echo to-err >&2; echo to-out; echo x > out.txt"]
    assert props["tool.nested.depth"] == 2
    assert props["tool.exit"] == 0
    assert props["tool.stderr"] == "to-err\n"
    assert Graph.of(repo).node("out.txt@v1").properties["tool.checked"] is True


def test_an_executable_ingestor_in_any_language(repo):
    repo.write("ingest.py", EXECUTABLE)
    config(repo, f'[[ingestor]]\nname = "ext"\nmatch = "wc"\n'
           f'command = ["{sys.executable}", "ingest.py"]\n')
    repo.ok("wc", "-l", "ingest.py")
    props = activity(repo)
    assert (props["ext.words"], props["ext.exit"]) == (3, 0)


def test_an_installed_package_through_its_entry_point(repo, tmp_path):
    site = tmp_path / "site"
    (site / "provplug-1.0.dist-info").mkdir(parents=True)
    (site / "provplug-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: provplug\nVersion: 1.0\n")
    (site / "provplug-1.0.dist-info" / "entry_points.txt").write_text(
        "[provgraph.ingestors]\nplug = provplug:Plug\n")
    (site / "provplug.py").write_text(
        "import re\nfrom provgraph.ingestors import Ingestor\n"
        "class Plug(Ingestor):\n    name = 'plug'\n    pattern = re.compile(r'^true')\n"
        "    def after(self, context):\n        return {'activity': {'ok': True}}\n")
    env = {"PYTHONPATH": str(site)}

    repo.ok("true", env=env)

    assert activity(repo)["plug.ok"] is True
    listed = json.loads(repo.ok("ingestors", "--json", env=env).stdout)
    assert {"name": "plug", "source": "package provplug", "pattern": "^true",
            "streams": [], "trusted": True} in listed
    assert "plug" not in [e["name"] for e in json.loads(
        repo.ok("ingestors", "match", "false", "--json", env=env).stdout)]


@pytest.mark.parametrize(("function", "warning"), [
    ("broken", "ingestor bad failed in before: ValueError: bad input"),
    ("slow", "ingestor bad took longer than 0.5 s in before; ignored"),
    ("nonsense", "ingestor bad returned list from before, not a fragment"),
])
def test_a_bad_ingestor_costs_a_warning_never_the_record(repo, function, warning):
    repo.write("hooks_mod.py", HOOKS)
    config(repo, f'[[ingestor]]\nname = "bad"\nmatch = "touch"\ncall = "hooks_mod:{function}"\n'
           'timeout = 0.5\n')
    proc = repo.prov("touch", "made.txt", timeout=300)  # the slow one is abandoned
    assert proc.returncode == 0
    assert warning in proc.stderr
    assert all(line.startswith("prov: warning: ") for line in proc.stderr.splitlines())
    [act] = Graph.of(repo).activities()
    assert Graph.of(repo).generated(act) == ["made.txt@v1"]
    assert not any(key.startswith("bad.") for key in act.properties)


def test_a_failing_executable_and_malformed_config_are_warnings(repo):
    config(repo,
           '[[ingestor]]\nname = "gone"\nmatch = "true"\ncommand = ["./no-such-program"]\n',
           '[[ingestor]]\nname = "nomatch"\ncall = "x:y"\n',
           '[[ingestor]]\nname = "badre"\nmatch = "("\ncall = "x:y"\n')
    proc = repo.prov("true")
    assert proc.returncode == 0
    assert "ingestor gone failed in before: RuntimeError: cannot run ./no-such-program" in \
        proc.stderr
    assert "nomatch in .prov.toml: needs a valid `match` regex" in proc.stderr
    assert "badre in .prov.toml: bad regex '('" in proc.stderr
    assert len(Graph.of(repo).activities()) == 1


def test_listing_and_matching(repo):
    out = repo.ok("ingestors").stdout
    for name in ("posix", "python", "caffe", "git"):
        assert name in out
    matched = json.loads(repo.ok("ingestors", "match", "caffe train --solver s.prototxt",
                                 "--json").stdout)
    assert [m["name"] for m in matched] == ["posix", "caffe"]
    assert matched[1]["streams"] == ["stderr"]


def test_builtin_patterns_agree_with_their_classes():
    import importlib

    for module, cls, pattern, streams in BUILTINS:
        ingestor = getattr(importlib.import_module(module), cls)()
        assert ingestor.pattern.pattern == pattern, cls
        assert tuple(ingestor.streams) == streams, cls


def test_teeing_keeps_a_terminal_a_terminal(repo):
    import pty

    from conftest import PROV

    repo.write("hooks_mod.py", HOOKS)
    config(repo, '[[ingestor]]\nname = "tool"\nmatch = "python"\ncall = "hooks_mod:ingest"\n'
           'streams = ["stderr"]\n')
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(repo.root)
        os.execve(PROV, [PROV, sys.executable, "-c",
                         "import sys; sys.stderr.write(str(sys.stderr.isatty()) + ' err\\n')"],
                  repo.env)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    assert b"True err" in output
    assert activity(repo)["tool.stderr"] == "True err\n"
    assert re.search(rb"True err\r?\n", output)
