"""Splitting one shell-syntax argument into list parts and simple commands."""

from __future__ import annotations

import pytest

from provgraph.capture.shell import (
    Part,
    Redirect,
    ShellSyntaxError,
    SimpleCommand,
    needs_shell,
    parse_pipeline,
    split_list,
)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["a && b > out"], True),
        (["echo hi"], True),
        (["a\tb"], True),
        (["a;b"], True),
        (["FOO=1"], True),
        (["*.csv"], True),
        (["~/bin/tool"], True),
        (["$HOME/x"], True),
        (["it's"], True),
        (["if"], True),
        (["!"], True),
        (["ls"], False),
        (["./train.py"], False),
        (["/usr/bin/python3.11"], False),
        (["iffy"], False),
        (["ls", "-l"], False),
        (["sh", "-c", "a && b"], False),
        ([], False),
    ],
)
def test_needs_shell(args, expected):
    assert needs_shell(args) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a && b; c || d", [("a", None), ("b", "&&"), ("c", ";"), ("d", "||")]),
        ("a\nb\n\n  c\n", [("a", None), ("b", ";"), ("c", ";")]),
        ("a;", [("a", None)]),
        ("a; b;\n\n", [("a", None), ("b", ";")]),
        ("  echo hi  ", [("echo hi", None)]),
        ("echo 'a;b' \"c && d\" || e", [("echo 'a;b' \"c && d\"", None), ("e", "||")]),
        ('echo "x\\"; y" ; z', [('echo "x\\"; y"', None), ("z", ";")]),
        ("echo a\\;b; c", [("echo a\\;b", None), ("c", ";")]),
        ("x=$(a; b) && c", [("x=$(a; b)", None), ("c", "&&")]),
        ("echo $(a $(b; c); d); e", [("echo $(a $(b; c); d)", None), ("e", ";")]),
        ("echo `a; b`; c", [("echo `a; b`", None), ("c", ";")]),
        ("echo ${x:-'a;b'}; c", [("echo ${x:-'a;b'}", None), ("c", ";")]),
        ("echo $((1 + 2)); c", [("echo $((1 + 2))", None), ("c", ";")]),
        ("echo $(case x in a) echo;; esac); b", [("echo $(case x in a) echo;; esac)", None),
                                                 ("b", ";")]),
        ("a # comment; b\nc", [("a", None), ("c", ";")]),
        ("# only a comment\na", [("a", None)]),
        ("echo a#b; c", [("echo a#b", None), ("c", ";")]),
        ("a &&\n  b", [("a", None), ("b", "&&")]),
        ("a |\n  b; c", [("a |\n  b", None), ("c", ";")]),
        ("a \\\n  b; c", [("a \\\n  b", None), ("c", ";")]),
        ("a | b |& c && d", [("a | b |& c", None), ("d", "&&")]),
        ("cat <<< 'x y'; b", [("cat <<< 'x y'", None), ("b", ";")]),
        ("a &> log; b 2>&1 >&2 <&0 &>> all", [("a &> log", None), ("b 2>&1 >&2 <&0 &>> all", ";")]),
        ("diff <(sort a) <(sort b); c", [("diff <(sort a) <(sort b)", None), ("c", ";")]),
        ("echo $'it\\'s'; d", [("echo $'it\\'s'", None), ("d", ";")]),
        ("echo done if fi; b", [("echo done if fi", None), ("b", ";")]),
        ("echo {a,b} }; c", [("echo {a,b} }", None), ("c", ";")]),
        ("! a && time b", [("! a", None), ("time b", "&&")]),
        ("", []),
        ("  \n ", []),
    ],
)
def test_split_list(text, expected):
    assert split_list(text) == [Part(part, op) for part, op in expected]


@pytest.mark.parametrize(
    "text",
    [
        "if true; then a; fi && b",
        "a; for x in 1 2; do echo $x; done",
        "while read l; do echo $l; done < f",
        "until a; do b; done",
        "select x in a b; do break; done",
        "case $x in a) echo a;; *) echo b;; esac",
        "{ a; b; } > out",
        "(cd sub && make); b",
        "a && ((x++))",
        "[[ -f x ]] && cat x",
        "f() { a; }; f",
        "function f { a; }",
        "coproc cat",
        "cat <<EOF > out\nit's $x\nEOF\necho next",
        "cat <<-'EOF'\n\tbody\n\tEOF",
        "a & b",
        "sleep 1 &",
        "a;; b",
    ],
)
def test_split_list_keeps_compound_text_whole(text):
    assert split_list(f"  {text}\n") == [Part(text, None)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("echo 'unterminated", "unterminated single quote"),
        ('echo "unterminated', "unterminated double quote"),
        ("echo `a", "unterminated backquote"),
        ("echo ${a", "unterminated '${'"),
        ("echo $(a; b", "unbalanced parenthesis: missing ')' after '$(' or '<('"),
        ("(a; b", "unbalanced parenthesis: missing ')'"),
        ("a )", "unbalanced parenthesis: unexpected ')'"),
        ("&& a", "syntax error near '&&'"),
        ("|| a", "syntax error near '||'"),
        ("; a", "syntax error near ';'"),
        ("a &&", "syntax error near '&&'"),
        ("a ||\n", "syntax error near '||'"),
        ("a && ; b", "syntax error near ';'"),
        ("| a", "syntax error near '|'"),
        ("a |", "syntax error near '|'"),
        ("a > ; b", "syntax error near '>'"),
    ],
)
def test_split_list_syntax_errors(text, message):
    with pytest.raises(ShellSyntaxError) as raised:
        split_list(text)
    assert str(raised.value) == message


def test_shell_syntax_error_is_a_value_error():
    assert issubclass(ShellSyntaxError, ValueError)


@pytest.mark.parametrize(
    ("text", "redirects"),
    [
        ("cmd < in", [Redirect("<", None, "in")]),
        ("cmd > out", [Redirect(">", None, "out")]),
        ("cmd >out", [Redirect(">", None, "out")]),
        ("cmd >> log", [Redirect(">>", None, "log")]),
        ("cmd 2>>log", [Redirect(">>", 2, "log")]),
        ("cmd 2> err", [Redirect(">", 2, "err")]),
        ("cmd >| out", [Redirect(">|", None, "out")]),
        ("cmd 3<> rw", [Redirect("<>", 3, "rw")]),
        ("cmd &> all", [Redirect("&>", None, "all")]),
        ("cmd &>> all", [Redirect("&>>", None, "all")]),
        ("cmd 2>&1", [Redirect(">&", 2, "1")]),
        ("cmd >&2", [Redirect(">&", None, "2")]),
        ("cmd 0<&3", [Redirect("<&", 0, "3")]),
        ("cmd 2>&-", [Redirect(">&", 2, "-")]),
        ("cmd <<< 'hi there'", [Redirect("<<<", None, "hi there")]),
        ("cmd > 'my file'", [Redirect(">", None, "my file")]),
        ("cmd >out 2>&1 < in", [Redirect(">", None, "out"), Redirect(">&", 2, "1"),
                                Redirect("<", None, "in")]),
        ("> out cmd", [Redirect(">", None, "out")]),
    ],
)
def test_parse_pipeline_redirections(text, redirects):
    assert parse_pipeline(text) == [SimpleCommand([], ["cmd"], redirects)]


@pytest.mark.parametrize(
    ("text", "argv", "redirects"),
    [
        # A number is an fd only when written right against the operator, unquoted.
        ("echo 2 > x", ["echo", "2"], [Redirect(">", None, "x")]),
        ('echo "2">x', ["echo", "2"], [Redirect(">", None, "x")]),
        ("echo a2>x", ["echo", "a2"], [Redirect(">", None, "x")]),
        ("echo 2>x", ["echo"], [Redirect(">", 2, "x")]),
    ],
)
def test_parse_pipeline_fd_numbers(text, argv, redirects):
    assert parse_pipeline(text) == [SimpleCommand([], argv, redirects)]


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("echo 'a b' c", ["echo", "a b", "c"]),
        ('echo "x\\"y"', ["echo", 'x"y']),
        ("echo a\\ b", ["echo", "a b"]),
        ("echo 'it'\\''s'", ["echo", "it's"]),
        ('echo "a\\nb"', ["echo", "a\\nb"]),
        ("echo \"$HOME/a b\" ~ *.csv", ["echo", "$HOME/a b", "~", "*.csv"]),
        ("echo $(date +%s) `whoami`", ["echo", "$(date +%s)", "`whoami`"]),
        ('echo "$(echo "in")"', ["echo", '$(echo "in")']),
        ("echo ${x:-default}", ["echo", "${x:-default}"]),
        ('echo ""', ["echo", ""]),
        ("echo a\\\nb", ["echo", "ab"]),
    ],
)
def test_parse_pipeline_quote_removal(text, argv):
    assert parse_pipeline(text) == [SimpleCommand([], argv, [])]


def test_parse_pipeline_assignments():
    assert parse_pipeline("A=1 B='x y' C+=z cmd D=2") == [
        SimpleCommand(["A=1", "B=x y", "C+=z"], ["cmd", "D=2"], [])
    ]
    assert parse_pipeline("'A'=1 cmd") == [SimpleCommand([], ["A=1", "cmd"], [])]


def test_parse_pipeline_pipelines():
    assert parse_pipeline("cat words.txt | sort | uniq -c > counts.txt") == [
        SimpleCommand([], ["cat", "words.txt"], []),
        SimpleCommand([], ["sort"], []),
        SimpleCommand([], ["uniq", "-c"], [Redirect(">", None, "counts.txt")]),
    ]
    assert parse_pipeline("make 2>&1 |& tee log") == [
        SimpleCommand([], ["make"], [Redirect(">&", 2, "1")]),
        SimpleCommand([], ["tee", "log"], []),
    ]
    assert parse_pipeline("echo 'a | b'") == [SimpleCommand([], ["echo", "a | b"], [])]


def test_parse_pipeline_drops_negation_and_time():
    expected = [SimpleCommand([], ["grep", "x", "f"], []), SimpleCommand([], ["wc"], [])]
    assert parse_pipeline("! grep x f | wc") == expected
    assert parse_pipeline("time -p grep x f | wc") == expected
    assert parse_pipeline("echo time !") == [SimpleCommand([], ["echo", "time", "!"], [])]


@pytest.mark.parametrize(
    "text",
    [
        "if a; then b; fi",
        "for i in 1 2; do echo $i >> n.txt; done",
        "{ a; } > out",
        "(a | b)",
        "cat <<EOF\nx\nEOF",
        "a &",
        "a && b",
        "a; b",
        "",
    ],
)
def test_parse_pipeline_returns_nothing_for_compound_text_or_lists(text):
    assert parse_pipeline(text) == []


def test_parse_pipeline_accepts_a_trailing_separator():
    assert parse_pipeline("a > out;\n") == [SimpleCommand([], ["a"], [Redirect(">", None, "out")])]


def test_parse_pipeline_syntax_errors():
    with pytest.raises(ShellSyntaxError, match="near '>'"):
        parse_pipeline("cmd >")
    with pytest.raises(ShellSyntaxError, match="unterminated single quote"):
        parse_pipeline("cmd 'x")
