"""Run one command exactly as the shell would: same streams, same TTY, same exit status.

The child inherits stdin, stdout and stderr (no pipes), so interactive programs, colours and
progress bars behave as without provgraph. While it runs, provgraph catches the signals a user
or a supervisor sends (the child gets them too) and reports how the child ended; the caller
records the activity first and only then exits the same way.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

#: Signals passed on to the child when they were sent to provgraph alone.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)

#: Shells that understand the POSIX `sh -c` syntax a command string was written in.
POSIX_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"}


class Outcome(namedtuple("Outcome", "exit_code signal error interrupted",
                         defaults=(None, None, False))):
    """Fields:
        exit_code: int  # as a shell reports it: 128+N when killed by signal N, 127 not found
        signal: int | None = None  # the signal that killed the command, if any
        error: str | None = None  # why it could not start (already shaped as one line)
        interrupted: bool = False  # prov got SIGINT (Ctrl-C) while the command ran
    """

    __slots__ = ()


def user_shell() -> str:
    """The user's shell when it speaks POSIX sh syntax, otherwise /bin/sh."""
    shell = os.environ.get("SHELL", "")
    return shell if os.path.basename(shell) in POSIX_SHELLS and os.path.exists(shell) else "/bin/sh"


def _in_terminal_foreground() -> bool:
    """Whether a Ctrl-C from the terminal reaches the child by itself (same process group)."""
    try:
        return os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


@contextmanager
def _signals_passed_to(get_child: Callable[[], subprocess.Popen | None]) -> Iterator[list[int]]:
    """While the child runs, provgraph must not die of the user's signals: it catches them,
    forwards those the child did not get itself, and lets the child decide how to end."""
    received: list[int] = []
    terminal = _in_terminal_foreground()

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        child = get_child()
        tty_delivered = terminal and signum in (signal.SIGINT, signal.SIGQUIT)
        if child is not None and child.poll() is None and not tty_delivered:
            with suppress(ProcessLookupError):
                child.send_signal(signum)

    # A Python-level handler (unlike SIG_IGN) is reset to the default in the child at exec,
    # so the child sees every signal exactly as it would without provgraph.
    previous = {sig: signal.signal(sig, handler) for sig in FORWARDED}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(argv: list[str], cwd: str, env: dict[str, str] | None = None,
        on_start: Callable[[int], None] | None = None, tee: dict[str, str] | None = None,
        on_data: Callable[[str, bytes], None] | None = None) -> Outcome:
    """Run argv (already split; a shell string arrives as [shell, '-c', text]).

    `tee` maps "stdout"/"stderr" to a file that receives a copy of that stream (for the
    ingestors), `on_data` sees each chunk as it passes.
    """
    child: subprocess.Popen | None = None
    tees = [_Tee(name, path, on_data) for name, path in (tee or {}).items()]
    with _signals_passed_to(lambda: child) as received:
        try:
            child = subprocess.Popen(argv, cwd=cwd, env=env,
                                     **{t.name: t.child_fd for t in tees})
        except FileNotFoundError:
            return Outcome(127, error=f"{argv[0]}: command not found")
        except PermissionError:
            return Outcome(126, error=f"{argv[0]}: permission denied")
        except OSError as exc:
            return Outcome(126, error=f"{argv[0]}: {exc.strerror or exc}")
        finally:
            for t in tees:
                t.started()
        if on_start is not None:
            on_start(child.pid)
        code = child.wait()
        for t in tees:
            t.finish()
    interrupted = signal.SIGINT in received
    if code < 0:
        return Outcome(128 - code, signal=-code, interrupted=interrupted)
    return Outcome(code, interrupted=interrupted)


class _Tee:
    """A copy of one of the command's output streams, made without changing what the user
    sees: a terminal stays a terminal (a pseudo-terminal is put in between, passing bytes
    unchanged), a pipe or file gets the same bytes."""

    def __init__(self, name: str, path: str, on_data: Callable[[str, bytes], None] | None):
        self.name = name
        self.original = 1 if name == "stdout" else 2
        self.file = open(path, "wb")  # noqa: SIM115 - closed when the reader ends
        self.on_data = on_data
        if os.isatty(self.original):
            self.read_fd, self.child_fd = os.openpty()
            _mirror_terminal(self.original, self.child_fd)
        else:
            self.read_fd, self.child_fd = os.pipe()
        self.thread = threading.Thread(target=self._copy, daemon=True, name=f"tee-{name}")

    def started(self) -> None:
        os.close(self.child_fd)  # only the command holds it now: its exit ends the stream
        self.thread.start()

    def _copy(self) -> None:
        try:
            while True:
                try:
                    data = os.read(self.read_fd, 65536)
                except OSError:  # EIO: the pseudo-terminal's other side is closed
                    break
                if not data:
                    break
                _write_all(self.original, data)
                self.file.write(data)
                if self.on_data is not None:
                    self.on_data(self.name, data)
        finally:
            self.file.close()

    def finish(self) -> None:
        # A background process the command left behind may keep the stream open: wait a
        # little for the rest of the output, then stop copying (the user's terminal still
        # gets everything that process writes later, through its own file descriptors).
        self.thread.join(timeout=2.0)
        with suppress(OSError):
            os.close(self.read_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            continue
        except OSError:
            return  # the user's terminal or pipe is gone; keep recording
        view = view[written:]


def _mirror_terminal(original: int, slave: int) -> None:
    """Give the pseudo-terminal the user's terminal size and no output processing, so the
    bytes reaching the real terminal are the command's own."""
    import fcntl
    import termios

    with suppress(OSError):
        size = fcntl.ioctl(original, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
    with suppress(termios.error):
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.OPOST
        termios.tcsetattr(slave, termios.TCSANOW, attrs)


def exit_like(outcome: Outcome) -> int:
    """Leave the way the command left: killed by its signal, or with its exit status.

    A shell running `prov CMD` then sees exactly what it would have seen for CMD (bash prints
    nothing and stops a script on Ctrl-C only when the process died of SIGINT).
    """
    if outcome.signal is not None and outcome.signal not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(outcome.signal, signal.SIG_DFL)
        os.kill(os.getpid(), outcome.signal)
    return outcome.exit_code
