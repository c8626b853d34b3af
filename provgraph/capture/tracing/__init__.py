"""What a captured command read and wrote, traced in every process of its tree.

Three mechanisms, chosen by measurement (docs/capture.md):

- `libprovtrace.so`, loaded with LD_PRELOAD into every dynamically linked process: it interposes
  the C library's open/fopen/creat/rename/link/unlink/truncate/exec functions and writes what
  succeeded into a memory-mapped trace file (a memcpy per record, no system call);
- `provtrace`, a ptrace tracer with a seccomp-BPF filter (only file system calls stop the
  program) for what the C library does not see: statically linked programs and Go programs,
  to which the interposer hands them at exec;
- the Python audit hook (`provgraph/ingestors/audit`), in every Python process of the tree.

Both native parts are built by the install (setup.py). Where they are missing (no compiler,
not Linux), provgraph says so once and falls back to the audit hook and the command line.
"""

from __future__ import annotations

import os
import sys

from provgraph.capture.tracing.events import Trace, make_trace_file, read_trace

HERE = os.path.dirname(os.path.abspath(__file__))
# Built by setup.py next to this file; PROV_TRACE_LIBRARY / PROV_TRACE_TRACER name others
# (a developer's build, or a path that does not exist to see the fallback).
LIBRARY = os.environ.get("PROV_TRACE_LIBRARY") or os.path.join(HERE, "libprovtrace.so")
TRACER = os.environ.get("PROV_TRACE_TRACER") or os.path.join(HERE, "provtrace")


def unavailable() -> str | None:
    """Why file access cannot be traced here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"file-access tracing needs Linux (this is {sys.platform})"
    if not os.path.exists(LIBRARY):
        return "the tracer was not built with provgraph (no C compiler at install time?)"
    return None


class Tracing:
    """The tracing of one capture: the trace file, the environment that starts it in every
    process, and what it saw once the command has ended."""

    def __init__(self, folder: str, roots: list[str]):
        os.makedirs(folder, exist_ok=True)
        self.file = os.path.join(folder, "trace")
        self.audit_file = os.path.join(folder, "python-reads.txt")
        make_trace_file(self.file)
        preload = os.environ.get("LD_PRELOAD", "")
        self.env = {
            "LD_PRELOAD": LIBRARY + (" " + preload if preload else ""),
            "PROV_TRACE_FILE": self.file,
            "PROV_TRACE_ROOTS": ":".join(dict.fromkeys(roots)),
            **audit_env(self.audit_file),
        }
        self.mechanism = "preload"
        if os.access(TRACER, os.X_OK):
            self.env["PROV_TRACE_TRACER"] = TRACER
            self.mechanism = "preload+ptrace"

    def launch(self, argv: list[str], env_path: str | None = None) -> list[str]:
        """argv as it must be started: through the ptrace tracer when the program itself is
        one the interposer cannot see (statically linked, Go)."""
        from provgraph.capture.tracing.elf import needs_tracer, which

        program = which(argv[0], env_path)
        if program and needs_tracer(program) and "PROV_TRACE_TRACER" in self.env:
            return [TRACER, "--argv0", argv[0], "--", program, *argv[1:]]
        return argv

    def result(self) -> Trace:
        return read_trace(self.file)


def audit_env(audit_file: str) -> dict[str, str]:
    """The environment that installs the audit hook in every Python process of the tree."""
    from provgraph.ingestors import audit

    folder = os.path.dirname(os.path.abspath(audit.__file__))
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": folder + (os.pathsep + path if path else ""),
            "PROV_AUDIT_FILE": audit_file}


__all__ = ["LIBRARY", "TRACER", "Trace", "Tracing", "audit_env", "make_trace_file", "read_trace",
           "unavailable"]
