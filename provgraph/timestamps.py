"""Timestamps as provgraph records them: ISO 8601 in UTC with microseconds.

Written with `time` alone (what `datetime.now(UTC).isoformat(timespec="microseconds")` gives),
because importing datetime costs a millisecond on every `prov CMD`.
"""

from __future__ import annotations

import time


def now() -> str:
    """The current time, e.g. 2026-11-26T05:58:29.792056+00:00."""
    return from_ns(time.time_ns())


def from_ns(ns: int) -> str:
    """A time in nanoseconds since the epoch, as provgraph records times."""
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{rest // 1000:06d}+00:00"
