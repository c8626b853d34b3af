"""Text from the record is printed with control characters escaped (issue 10, from
reproduction 2): a pulled name or command cannot drive the reader's terminal."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from conftest import PROV

from provgraph.text import printable

# ESC sequences (colour, clear screen, set the window title), BEL, CR, backspace, C1 CSI
# (U+009B), a bidirectional override, DEL
HOSTILE = "\x1b[31mred \x1b]0;title\x07 a\rb \x08 \x9bc \u202egnp.exe \x7f"
AGENT = "\x1b[2J evil"
RAW = ("\x1b", "\x07", "\r", "\x08", "\x9b", "\u202e", "\x7f")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("accents é, CJK 漢字, emoji 🙂", "accents é, CJK 漢字, emoji 🙂"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\rb\tc\nd", "a\\rb\\tc\\nd"),
        ("\x9b2J \x85 \x00", "\\x9b2J \\x85 \\x00"),
        ("\u202eevil \u200b \u2028", "\\u202eevil \\u200b \\u2028"),
        ("\x7f", "\\x7f"),
        ("\U000e0041", "\\U000e0041"),  # a tag character: invisible
        ("back\\slash \\x1b typed", "back\\slash \\x1b typed"),  # what was typed stays
    ],
)
def test_printable(text, shown):
    assert printable(text) == shown
    assert printable(shown) == shown


def test_printable_keeps_newlines_only_when_asked():
    assert printable("a\nb\x1b") == "a\\nb\\x1b"
    assert printable("a\nb\x1b", multiline=True) == "a\nb\\x1b"
    assert printable(42) == "42" and printable(["\x1b"]) == "['\\x1b']"


def test_safe_escapes_rich_markup_too():
    from provgraph.cli.common import safe

    assert safe("[red]x\x1b") == "\\[red]x\\x1b"


def raw(repo, *args: str) -> bytes:
    proc = subprocess.run([PROV, *args], cwd=repo.root, env=repo.env, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_safe(out: bytes, *expected: str) -> None:
    text = out.decode()
    for char in RAW:
        assert char not in text, (char, text)
    for part in expected:
        assert part in text, (part, text)


@pytest.fixture
def hostile(repo):
    """A record with hostile text in its agent, command and a file name."""
    env = {"PROV_AGENT": AGENT}
    repo.ok("sh", "-c", 'echo x > out.txt', "sh", *HOSTILE.split(" "), env=env)
    repo.ok("touch", "evil\x1b[2Jname.txt", env=env)
    repo.ok("sh", "-c", 'echo y > out.txt', "sh", "\x1b[32mgreen", env=env)
    return repo


def test_log_show_lineage_diff_print_no_control_characters(hostile):
    repo = hostile
    first = json.loads(repo.ok("log", "--json").stdout)[-1]
    assert_safe(raw(repo, "log"), "\\x1b[31mred", "\\x1b]0;title\\x07", "a\\rb", "\\x9bc",
                "\\u202egnp.exe", "\\x1b[2J evil", "evil\\x1b[2Jname.txt@v1")
    assert_safe(raw(repo, "show", first["id"]), "\\x1b[31mred", "\\x1b[2J evil")
    assert_safe(raw(repo, "show", "evil\x1b[2Jname.txt"), "evil\\x1b[2Jname.txt@v1")
    assert_safe(raw(repo, "lineage", "out.txt"), "\\x1b[32mgreen", "\\x1b[2J evil")
    assert_safe(raw(repo, "lineage", "out.txt@v1"), "\\x1b[31mred")
    assert_safe(raw(repo, "lineage", "--descendants", "evil\x1b[2Jname.txt"),
                "evil\\x1b[2Jname.txt")
    assert_safe(raw(repo, "diff", first["id"], "latest"), "\\x1b[31mred", "\\x1b[32mgreen")
    assert_safe(raw(repo, "metrics", "latest"), "\\x1b[32mgreen")


def test_drawings_escape_control_characters():
    from provgraph.queries.draw import Arc, Vertex, to_dot, to_mermaid

    vertices = [Vertex("e1", "Entity", "a\x1b[31m.txt@v1\n2/3"), Vertex("a1", "Activity", "x")]
    arcs = [Arc("e1", "a1", "used\x9b")]
    dot, mermaid = to_dot(vertices, arcs), to_mermaid(vertices, arcs)
    assert not set(RAW) & set(dot + mermaid)
    assert '"a\\\\x1b[31m.txt@v1\\n2/3"' in dot and '"used\\\\x9b"' in dot  # JSON strings
    assert '"a\\x1b[31m.txt@v1<br/>2/3"' in mermaid and "|used\\x9b|" in mermaid


def test_json_output_escapes_control_characters(hostile):
    out = raw(hostile, "log", "--json")
    assert b"\x1b" not in out and b"\\u001b[31mred" in out and b"\\u009bc" in out
    assert json.loads(out)[-1]["properties"]["command"].startswith("sh -c")


def test_status_prints_a_running_command_escaped(repo):
    """While a capture runs, `prov status` lists its command: escaped."""
    running = subprocess.Popen([PROV, "sh", "-c", "sleep 60", "sh", "\x1b[31mrun\x07"],
                               cwd=repo.root, env=repo.env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not json.loads(repo.ok("status", "--json").stdout)["running"]:
            assert time.monotonic() < deadline, "the capture never showed as running"
            time.sleep(0.2)
        assert_safe(raw(repo, "status"), "\\x1b[31mrun\\x07")
    finally:
        running.terminate()
        running.wait(timeout=60)


def test_an_error_quoting_a_name_is_escaped(repo):
    proc = subprocess.run([PROV, "show", "no\x1b[2Jsuch.txt"], cwd=repo.root, env=repo.env,
                          capture_output=True, timeout=120)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "\x1b" not in err and err.count("\n") == 1 and err.startswith("prov: ")
    assert "no\\x1b[2Jsuch.txt" in err
