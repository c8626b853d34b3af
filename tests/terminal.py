"""Running `prov` on a real terminal (a pty), as a user types it: what it prints there."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping


def on_a_terminal(argv: list[str], cwd: str, env: Mapping[str, str],
                  answer: Callable[[bytes], bytes | None] | None = None,
                  timeout: float = 60) -> tuple[bytes, int]:
    """Run `argv` with a pty as its stdin, stdout and stderr; return what it printed and its
    exit status. `answer(output so far)` may return bytes to type (once each time it does)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing here may return into the test runner
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, dict(env))
        finally:
            os._exit(127)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            output += chunk
            typed = answer(output) if answer else None
            if typed:
                os.write(fd, typed)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return output, os.waitstatus_to_exitcode(status)
