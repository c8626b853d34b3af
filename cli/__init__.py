"""The `prov` command.

`prov CMD ...` is the hot path: it must start fast, so it goes straight to
`provgraph.capture` without importing click, rich or anything else heavy. Every other use
(`prov log`, `prov --help`, ...) goes through the click application in `provgraph.cli.app`.
"""

from __future__ import annotations

import sys

#: The subcommands of `prov`; any other first word is a command to capture.
#: (tests/test_cli.py checks this against the click application.)
SUBCOMMANDS = frozenset({
    "run", "log", "show", "lineage", "sql", "export", "status", "rebuild", "config",
})


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "--":
        capture_main(args[1:])
    if args and not args[0].startswith("-") and args[0] not in SUBCOMMANDS:
        capture_main(args)
    from provgraph.cli.app import cli

    cli.main(args, prog_name="prov")


def capture_main(args: list[str], message: str | None = None) -> None:
    """Run and record a command, then exit exactly as the command did."""
    from provgraph import capture, gitio, runner
    from provgraph.repo import ProvError

    if not args:
        fail("nothing to run: give a command, e.g. prov python train.py")
    try:
        outcome = capture.run(args, message=message)
    except (ProvError, gitio.GitError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    sys.exit(runner.exit_like(outcome))


def fail(message: str) -> None:
    """provgraph itself could not do its part: 125, as `env`, `nohup` and `timeout` use."""
    print(f"prov: {message}", file=sys.stderr)
    sys.exit(125)
