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


def test_builtin_patterns_are_their_classes_own(tmp_path):
    import importlib

    from provgraph.ingestors.registry import entries

    builtins = [e for e in entries(None, str(tmp_path)) if e.source == "built-in"]
    assert [e.name for e in builtins] == ["posix", "python", "caffe", "git"]
    for entry, (module, cls) in zip(builtins, BUILTINS, strict=True):
        ingestor = getattr(importlib.import_module(module), cls)
        assert entry.pattern == ingestor.pattern, cls
        assert entry.streams == tuple(ingestor.streams), cls


MODULES = ("provgraph.ingestors.posix", "provgraph.ingestors.python",
           "provgraph.ingestors.caffe.ingestor", "provgraph.ingestors.git")


def matched_in_a_fresh_process(command: str, cache_dir) -> dict:
    """Which ingestors match `command` and which ingestor modules that imported, in a new
    Python process (as on `prov CMD`)."""
    import subprocess

    code = ("import json, sys\n"
            "from provgraph.ingestors.registry import matching\n"
            "found = matching(sys.argv[1], None, sys.argv[2])\n"
            "print(json.dumps({'names': [i.name for i in found],\n"
            "                  'streams': [list(i.streams) for i in found],\n"
            f"                  'imported': [m for m in {MODULES!r} if m in sys.modules]}}))\n")
    proc = subprocess.run([sys.executable, "-c", code, command, str(cache_dir)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_a_command_imports_only_the_ingestors_it_matches(tmp_path):
    first = matched_in_a_fresh_process("ls -l", tmp_path)  # reads the classes, once
    assert first["names"] == ["posix"]
    assert (tmp_path / "entry-points.json").exists()
    plain = matched_in_a_fresh_process("ls -l", tmp_path)
    assert plain == {"names": ["posix"], "streams": [[]],
                     "imported": ["provgraph.ingestors.posix"]}
    caffe = matched_in_a_fresh_process("caffe train --solver s.prototxt", tmp_path)
    assert caffe == {"names": ["posix", "caffe"], "streams": [[], ["stderr"]],
                     "imported": ["provgraph.ingestors.posix",
                                  "provgraph.ingestors.caffe.ingestor"]}


def test_an_edited_ingestor_class_is_read_again(tmp_path):
    matched_in_a_fresh_process("true", tmp_path)
    cache = tmp_path / "entry-points.json"
    stored = json.loads(cache.read_text())
    [caffe] = [b for b in stored["builtins"] if b["name"] == "caffe"]
    caffe["pattern"] = "^zzz"
    cache.write_text(json.dumps(stored))
    # the cache is what a command reads...
    assert matched_in_a_fresh_process("zzz", tmp_path)["names"] == ["posix", "caffe"]
    # ...until a built-in ingestor's source file is not the one it noted
    for noted in stored["signature"]:
        if noted[0].endswith(os.path.join("caffe", "ingestor.py")):
            noted[1] -= 1
    cache.write_text(json.dumps(stored))
    assert matched_in_a_fresh_process("zzz", tmp_path)["names"] == ["posix"]
    assert matched_in_a_fresh_process("caffe test", tmp_path)["names"] == ["posix", "caffe"]


def test_teeing_keeps_a_terminal_a_terminal(repo):
    from conftest import PROV
    from terminal import on_a_terminal

    repo.write("hooks_mod.py", HOOKS)
    config(repo, '[[ingestor]]\nname = "tool"\nmatch = "python"\ncall = "hooks_mod:ingest"\n'
           'streams = ["stderr"]\n')
    output, _status = on_a_terminal(
        [PROV, sys.executable, "-c",
         "import sys; sys.stderr.write(str(sys.stderr.isatty()) + ' err\\n')"],
        repo.root, repo.env)
    assert b"True err" in output
    assert activity(repo)["tool.stderr"] == "True err\n"
    assert re.search(rb"True err\r?\n", output)
