"""The `prov` command.

`prov CMD ...` is the hot path: it must start fast, so it goes straight to
`provgraph.capture.command` without importing click, rich or anything else heavy. Every other use
(`prov log`, `prov --help`, ...) goes through the click application in `provgraph.cli.app`.
"""

from __future__ import annotations

import contextlib
import os
import sys

#: The subcommands of `prov` and their modules under provgraph.cli (the first defines
#: `command`); any other first word is a command to capture. The click application loads a
#: subcommand's modules only when it runs (or for `prov --help`), so `prov fileview` does
#: not pay for loading `prov plot`.
MODULES: dict[str, tuple[str, ...]] = {
    "run": ("run",), "log": ("log",), "show": ("show",), "lineage": ("lineage",),
    "sql": ("sql",), "export": ("export",), "status": ("status",), "rebuild": ("rebuild",),
    "config": ("config",), "sync": ("sync",), "cypher": ("cypher",), "push": ("push",),
    "pull": ("pull",), "metrics": ("metrics",), "plot": ("plot",), "diff": ("diff",),
    "ingestors": ("ingestors",), "import": ("import_cmd",), "segment": ("segment",),
    "summarize": ("summarize",), "trust": ("trust",), "gc": ("gc",),
    "fileview": ("fileview", "fileview_why"),  # fileview_why adds `prov fileview why`
    "runs": ("runs",),
    "note": ("note",), "tag": ("tag",), "set": ("set_cmd",),
    "template": ("template",), "sweep": ("sweep",),
    "restore": ("restore",), "stale": ("stale",), "rerun": ("rerun",),
}
SUBCOMMANDS = frozenset(MODULES)

#: Words a shell runs itself (bash's builtins and reserved words): in a command written in
#: shell syntax they run though no program has their name.
SHELL_WORDS = frozenset({
    ".", ":", "[", "alias", "bg", "bind", "break", "builtin", "caller", "cd", "command",
    "compgen", "complete", "compopt", "continue", "declare", "dirs", "disown", "echo",
    "enable", "eval", "exec", "exit", "export", "false", "fc", "fg", "getopts", "hash", "help",
    "history", "jobs", "kill", "let", "local", "logout", "mapfile", "popd", "printf", "pushd",
    "pwd", "read", "readarray", "readonly", "return", "set", "shift", "shopt", "source",
    "suspend", "test", "times", "trap", "true", "type", "typeset", "ulimit", "umask",
    "unalias", "unset", "wait", "if", "then", "else", "elif", "fi", "case", "esac", "for",
    "select", "while", "until", "do", "done", "in", "function", "time", "{", "}", "!", "[[",
    "]]", "coproc",
})

#: Exit status of a mistyped subcommand: the shell's for a command that does not exist, as
#: `prov` gives for any program it cannot find (the typo is not run, so not recorded).
NOT_FOUND = 127


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "--":
        capture_main(args[1:])
    if args and not args[0].startswith("-") and args[0] not in SUBCOMMANDS:
        capture_main(args, check_typo=True)
    from provgraph.cli.app import cli

    if argv is not None:  # called from Python: exit as click does, catchable
        cli.main(args, prog_name="prov")
        return
    try:
        cli.main(args, prog_name="prov")
    except SystemExit as done:
        leave(done.code)


def leave(code: int | str | None) -> None:
    """End the process once a subcommand has returned: its files are closed, its indexes
    committed and closed. Skipping the interpreter's teardown (freeing every module of
    DuckDB, sqlglot, rich...) spares 20-60 ms per command."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    with contextlib.suppress(BrokenPipeError):  # `prov log | head`: the reader is done
        sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def refuse_mistyped_subcommand(args: list[str]) -> None:
    """`prov logg`: a first word that runs nothing (no program on PATH, no path, no shell
    builtin or keyword in shell syntax) but is close to a subcommand is a typo, said in one
    line and never recorded. Cheap on the capture path: one PATH lookup; difflib is loaded
    only for a word that names no program."""
    word = _first_word(args)
    if not word or word in SUBCOMMANDS or "/" in word or "$" in word:
        return
    import shutil

    if shutil.which(word):
        return
    import difflib

    close = difflib.get_close_matches(word, sorted(SUBCOMMANDS), n=1)
    if close:
        from provgraph.text import printable

        print(f"prov: {printable(word)!r} is not a command; did you mean 'prov {close[0]}'?",
              file=sys.stderr)
        sys.exit(NOT_FOUND)


def _first_word(args: list[str]) -> str | None:
    """The program a command starts with; None for a shell's own word or what cannot be read
    without running it (a compound command, a syntax error the capture reports)."""
    from provgraph.capture.shell import ShellSyntaxError, needs_shell, parse_pipeline, split_list

    if not needs_shell(args):
        return args[0] if args else None
    try:
        parts = split_list(args[0])
        commands = parse_pipeline(parts[0].text) if parts else []
    except ShellSyntaxError:
        return None
    argv = commands[0].argv if commands else []
    return argv[0] if argv and argv[0] not in SHELL_WORDS else None


def capture_main(args: list[str], message: str | None = None, check_typo: bool = False) -> None:
    """Run and record a command, then exit exactly as the command did. `check_typo`: refuse
    a mistyped subcommand (not for `prov -- CMD` and `prov run CMD`, which run it as typed),
    once provgraph knows it could record (else 125 says why it cannot)."""
    if not args:
        fail("nothing to run: give a command, e.g. prov python train.py")
    from provgraph import gitio
    from provgraph.capture.snapshot import start_walk
    from provgraph.errors import ProvError
    from provgraph.repo import Repository

    try:
        # git finds the repository and starts looking for changes while Python imports
        repo = Repository.discover(os.getcwd())
        if check_typo:
            refuse_mistyped_subcommand(args)
        walk = start_walk(repo)
        from provgraph.capture import command as capture
        from provgraph.capture import runner

        outcome = capture.run(args, message=message, repo=repo, walk=walk)
    except (ProvError, gitio.GitError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    code = runner.exit_like(outcome)
    # The record is durable and every file written is closed: leave without the interpreter's
    # teardown, which would add ~5 ms to every `prov CMD`.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message: str) -> None:
    """provgraph itself could not do its part: 125, as `env`, `nohup` and `timeout` use."""
    print(f"prov: {message}", file=sys.stderr)
    sys.exit(125)
