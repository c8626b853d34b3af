"""Regular expressions a project supplies (`.prov.toml`), run with a time limit.

A pattern such as `(a+)+$` takes exponential time on `aaaa...a!`; from a cloned repository's
`.prov.toml` it would hang `prov` before the user's command even starts. Every user-supplied
pattern therefore goes through `compile_user`: each call gets at most `CALL_LIMIT` seconds and
each pattern `BUDGET` seconds in all (a log of a million lines cannot add up to an hour
either). A pattern that exceeds either is dropped for the rest of the process with one
warning line, and from then on matches nothing.

How the limit is enforced: CPython's `re` engine checks for pending signals while it
backtracks, so on the main thread an interval timer (`SIGALRM`) interrupts a runaway match;
the standard library suffices and nothing is imported on the capture path. Off the main
thread, where no signal can reach, the third-party `regex` module's `timeout` is used.

Built-in patterns are written by provgraph and are not bounded (they are linear by design).
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

CALL_LIMIT = 0.2  # seconds for one search, match or substitution
BUDGET = 5.0  # seconds for all calls of one pattern in one process


class _Expired(Exception):
    """Raised by the timer inside a match that ran out of time."""


def _warn(message: str) -> None:
    print(f"prov: warning: {message}", file=sys.stderr)


class UserPattern:
    """A compiled user pattern with the `re.Pattern` methods provgraph uses, bounded in time."""

    def __init__(self, compiled: re.Pattern[str], where: str):
        self.compiled = compiled
        self.where = where
        self.pattern = compiled.pattern
        self.flags = compiled.flags
        self.groups = compiled.groups
        self.groupindex = compiled.groupindex
        self.spent = 0.0
        self.dropped = False

    def __repr__(self) -> str:
        state = ", dropped" if self.dropped else ""
        return f"UserPattern({self.pattern!r}, {self.where!r}{state})"

    # -- the re.Pattern methods ------------------------------------------------------------

    def search(self, string: str, *args: Any) -> re.Match[str] | None:
        return self._bounded(lambda p: p.search(string, *args), None)

    def match(self, string: str, *args: Any) -> re.Match[str] | None:
        return self._bounded(lambda p: p.match(string, *args), None)

    def fullmatch(self, string: str, *args: Any) -> re.Match[str] | None:
        return self._bounded(lambda p: p.fullmatch(string, *args), None)

    def finditer(self, string: str, *args: Any) -> Iterator[re.Match[str]]:
        """All matches, found within the limit (a list: the time is spent here, not later)."""
        return iter(self._bounded(lambda p: list(p.finditer(string, *args)), []))

    def findall(self, string: str, *args: Any) -> list[Any]:
        return self._bounded(lambda p: p.findall(string, *args), [])

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        return self._bounded(lambda p: p.sub(repl, string, count), string)

    # -- the limit -------------------------------------------------------------------------

    def _bounded(self, work: Callable[[Any], Any], nothing: Any) -> Any:
        if self.dropped:
            return nothing
        limit = min(CALL_LIMIT, BUDGET - self.spent)
        started = time.perf_counter()
        try:
            if threading.current_thread() is threading.main_thread():
                result = _with_alarm(lambda: work(self.compiled), limit)
            else:
                result = _with_regex_timeout(self.pattern, self.flags, work, limit)
        except _Expired:
            self._drop(time.perf_counter() - started)
            return nothing
        self.spent += time.perf_counter() - started
        if self.spent >= BUDGET:
            self._drop(0)
        return result

    def _drop(self, took: float) -> None:
        self.dropped = True
        reason = (f"took over {CALL_LIMIT:g} s on one text" if took
                  else f"took over {BUDGET:g} s in all")
        _warn(f"the regex {self.pattern!r} ({self.where}) {reason}: dropped")


def _with_alarm(work: Callable[[], Any], limit: float) -> Any:
    """Run `work` on the main thread, interrupted by SIGALRM after `limit` seconds.

    An earlier timer of the process (none in provgraph) is put back as it was."""

    def expire(_signum: int, _frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    outer = signal.setitimer(signal.ITIMER_REAL, max(limit, 1e-3))
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer[0]:
            signal.setitimer(signal.ITIMER_REAL, *outer)


def _with_regex_timeout(pattern: str, flags: int, work: Callable[[Any], Any],
                        limit: float) -> Any:
    """Off the main thread: the `regex` module, whose matcher takes a timeout itself."""
    import regex

    compiled = regex.compile(pattern, flags | regex.VERSION0)

    class Timed:  # the subset of methods `work` calls, each with the timeout
        def __getattr__(self, name: str) -> Any:
            method = getattr(compiled, name)
            return lambda *args: method(*args, timeout=limit)

    try:
        return work(Timed())
    except TimeoutError:
        raise _Expired from None


def compile_user(text: Any, where: str, flags: int = 0) -> UserPattern | None:
    """Compile a pattern from `.prov.toml`; None (and one warning) when it is not a regex.

    `where` names it for the user: "[[metrics]] loss in .prov.toml"."""
    if not isinstance(text, str):
        _warn(f"{where}: a regex must be a string, not {text!r}; ignored")
        return None
    try:
        return UserPattern(re.compile(text, flags), where)
    except (re.error, OverflowError, RecursionError) as exc:
        _warn(f"{where}: bad regex {text!r} ({exc}); ignored")
        return None
