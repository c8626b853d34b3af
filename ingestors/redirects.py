"""Where a command's output went: the file its stdout or stderr was redirected or tee'd to.

Ingestors that read what a command printed (Caffe's log, `[[metrics]]`) get the streams
provgraph teed; but a command written in shell syntax may send its output elsewhere itself
(`prov 'python -m src.evaluate > reports/eval.txt'`, `2>&1 | tee train.log`), and then the
tee sees nothing. This follows the command's own redirections as the shell does, so the
ingestor reads that file instead.

Standard library only: this runs around every matching command.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

_TEE_APPEND = frozenset({"-a", "--append"})
STREAM_FDS = {"stdout": 1, "stderr": 2}


def stream_target(context: dict[str, Any], fd: int) -> tuple[str, bool] | None:
    """The file the command's `fd` (1: stdout, 2: stderr) was redirected or tee'd to, as
    written, and whether it appends; None when the stream reached provgraph's tee.

    Redirections are followed in order as the shell does (`> x 2>&1` sends both to x,
    `2>&1 > x` does not); a stream sent down the pipe reaches the first `tee` after the
    command (stderr only with `2>&1` or `|&`).
    """
    fds: dict[int, Any] = {1: "stdout", 2: "stderr"}
    for redirect in command_redirects(context):
        apply_redirect(fds, redirect.get("op", ""), redirect.get("fd"),
                       str(redirect.get("target", "")))
    target = fds.get(fd)
    if isinstance(target, tuple):
        return target
    piped = target == "stdout" or (fd == 2 and "|&" in str(context.get("command", "")))
    return tee_file(context) if piped else None


def command_redirects(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The command's own redirections, in order, duplications (`2>&1`) included.

    The context's `redirects` are those of the whole pipeline without duplications, so we
    read the command line again with provgraph's shell parser when it is shell syntax.
    """
    argv = list(context.get("argv") or [])
    try:
        from provgraph.capture.shell import parse_pipeline

        pipeline = parse_pipeline(str(context.get("command") or ""))
    except Exception:  # not shell syntax we can read: use what the framework gave
        pipeline = []
    for command in pipeline:
        if list(command.argv) == argv:
            return [{"op": r.op, "fd": r.fd, "target": r.target} for r in command.redirects]
    return list(context.get("redirects") or [])


def apply_redirect(fds: dict[int, Any], op: str, fd: int | None, target: str) -> None:
    """One shell redirection; a file is (target, append), a dup copies the other fd."""
    if op in (">", ">|", ">>"):
        fds[1 if fd is None else fd] = (target, op == ">>")
    elif op in ("&>", "&>>"):
        fds[1] = fds[2] = (target, op == "&>>")
    elif op == ">&":
        if target.isdigit():
            fds[1 if fd is None else fd] = fds.get(int(target), "closed")
        elif target == "-":
            fds[1 if fd is None else fd] = "closed"
        elif fd is None:  # bash: `>& file` is `&> file`
            fds[1] = fds[2] = (target, False)


def tee_file(context: dict[str, Any]) -> tuple[str, bool] | None:
    """The first file of the first `tee` after the command in the pipeline."""
    commands = [list(words) for words in context.get("commands") or []]
    argv = list(context.get("argv") or [])
    start = commands.index(argv) if argv in commands else 0
    for words in commands[start + 1 :]:
        if words and os.path.basename(words[0]) == "tee":
            return _tee_operand(words[1:])
    return None


def _tee_operand(words: list[str]) -> tuple[str, bool] | None:
    """tee's first file and whether it appends (`-a`, `--append`, or `a` in a group)."""
    append = False
    options = True
    for word in words:
        if options and word == "--":
            options = False
        elif options and word.startswith("-") and word != "-":
            append = append or word in _TEE_APPEND or (
                not word.startswith("--") and "a" in word[1:])
        else:
            return word, append
    return None


def absolute(target: str, context: dict[str, Any]) -> str:
    """A redirection target as the shell opened it: `~` and `$VAR` expanded, from cwd."""
    expanded = os.path.expandvars(os.path.expanduser(target))
    return os.path.normpath(os.path.join(context.get("cwd") or ".", expanded))


def created(path: str, context: dict[str, Any]) -> bool:
    """Whether this command created the file (then all of it is this command's output)."""
    root = context.get("root")
    if not root:
        return False
    relative = os.path.relpath(path, root)
    return any(change.get("path") == relative and change.get("status") == "A"
               for change in context.get("changes") or [])


def size(path: str) -> int:
    """How long a file a command appends to already is (0 when it does not exist yet)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
