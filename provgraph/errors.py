"""Every error provgraph raises on purpose, in one tree under `ProvError`.

A `ProvError` is something the user can act on: the CLI prints its message as one line on
stderr (`prov: ...`) and exits non-zero, never with a traceback, so each message says what went
wrong *and*, where it can, how to fix it. A script catches `ProvError` to catch them all, or one
branch:

    ProvError
    ├── NotFound           a file, version, run, node, view or setting that is not there
    ├── BadInput           malformed input: a value, a document, a query  (also a ValueError)
    │   ├── ShellSyntaxError   a command line the shell could not run
    │   ├── PrototxtError      a Caffe solver or net file that is not valid prototxt
    │   └── DocumentError      a PROV document `prov import` cannot read, or a graph
    │                          `prov export` cannot write
    ├── GitError           git refused or failed              (also a RuntimeError)
    └── StoreUnavailable   an index that cannot be reached: Neo4j down, wrong credentials

Anything else escaping the library is a bug. This module imports nothing: the capture path
(`prov CMD`) loads it.
"""

from __future__ import annotations

__all__ = ["BadInput", "DocumentError", "GitError", "NotFound", "PrototxtError", "ProvError",
           "ShellSyntaxError", "StoreUnavailable"]


class ProvError(Exception):
    """An error a user can fix; printed as one line, never as a traceback."""


class NotFound(ProvError):
    """What was named does not exist (a path, a version, a run reference, a node id, a view)."""


class BadInput(ProvError, ValueError):
    """Input that cannot be taken as it is; a ValueError too, as Python code expects."""


class ShellSyntaxError(BadInput):
    """A command line with shell syntax the POSIX grammar does not accept."""


class PrototxtError(BadInput):
    """A Caffe prototxt (solver or net definition) that does not parse; names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


class DocumentError(BadInput):
    """A PROV document that cannot be read, or a graph that cannot be written as one."""


class GitError(ProvError, RuntimeError):
    """git failed; the message is git's own last line, with the command that failed."""


class StoreUnavailable(ProvError):
    """An index that cannot be reached or opened (Neo4j down, refused credentials)."""
