"""Which activities `prov log` and `prov runs` show: the filters they share, combined with AND.

- `paths`: activities that used or generated a version of the file (any version), or of any
  file under the folder; repository-relative, `""` for the whole repository. Several paths:
  any of them.
- `agents`: associated with an agent of that name or email (emails ignore case). Several: any.
- `command`: a glob over the whole command line (`*` any text, `?` one character, `[...]` a
  class, `[!...]` its complement): `python train.py*`.
- `status`: `ok` (exit 0), `failed` (ended non-zero, a program not found included) or
  `interrupted` (stopped by Ctrl-C or killed while `prov` watched); an imported activity
  without a status counts by its exit code.
- `since` / `until`: the activity started at or after `since`, before `until` (see
  `parse_time` for what a time may be).
- `tags`: its `tags` list holds every one of them; `sweep`: its `sweep` property is that id.
- `where`: a `--where` expression (queries.where).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from provgraph.errors import BadInput
from provgraph.model import Node
from provgraph.queries.where import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Contains,
    IsNull,
    Matches,
    Params,
    activities,
    every,
    parse,
    regex_literal,
)

STATUSES = ("ok", "failed", "interrupted")

_RELATIVE = re.compile(r"^(\d+)\s*(s|sec|m|min|h|d|w)$")
_UNITS = {"s": "seconds", "sec": "seconds", "m": "minutes", "min": "minutes", "h": "hours",
          "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A time as `--since` / `--until` take it, as an aware datetime.

    - ISO 8601: `2026-12-01`, `2026-12-01T09:30`, `2026-12-01 09:30:00+01:00` (no offset:
      local time; a date alone: its midnight, local time);
    - relative to now: `90s`, `30m` (minutes), `2h`, `3d`, `2w`;
    - `now`, `today` (local midnight), `yesterday` (the midnight before it).
    """
    now = now or datetime.now().astimezone()
    word = text.strip().lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "now":
        return now
    if word == "today":
        return midnight
    if word == "yesterday":
        return midnight - timedelta(days=1)
    if match := _RELATIVE.match(word):
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{text!r} is not a time: give an ISO date or time (2026-12-01, "
                       "2026-12-01T09:30), an age (30m, 2h, 3d, 2w), today or yesterday"
                       ) from None
    return when if when.tzinfo is not None else when.astimezone()


@dataclass(frozen=True)
class Started(Condition):
    """The activity started at or after (`after`) or before (`before`) a time."""

    when: datetime
    after: bool

    def sql(self, p: Params) -> str:
        op = ">=" if self.after else "<"
        return (f"(TRY_CAST(json_extract_string(properties, '$.started') AS TIMESTAMPTZ) "
                f"{op} CAST({p.q(self.when.isoformat())} AS TIMESTAMPTZ))")

    def cypher(self, p: Params) -> str:
        op = ">=" if self.after else "<"
        return (f"(CASE WHEN n.started IS :: STRING THEN datetime(n.started) END {op} "
                f"datetime({p.named(self.when.isoformat())}))")


@dataclass(frozen=True)
class Touches(Condition):
    """The activity used or generated a version of `path` (or of a file under it)."""

    path: str

    def _match(self, p: Params, sql: bool) -> str:
        if not self.path:
            return "m.properties->>'path' IS NOT NULL" if sql else "m.path IS NOT NULL"
        if sql:
            return (f"(m.properties->>'path' = {p.q(self.path)} OR "
                    f"starts_with(m.properties->>'path', {p.q(self.path + '/')}))")
        return (f"(m.path = {p.named(self.path)} OR "
                f"m.path STARTS WITH {p.named(self.path + '/')})")

    def sql(self, p: Params) -> str:
        used = self._match(p, True)
        generated = self._match(p, True)
        return ("(id IN (SELECT e.source FROM edges e JOIN nodes m ON m.id = e.target "
                f"WHERE e.type = 'used' AND {used}) OR id IN (SELECT e.target FROM edges e "
                f"JOIN nodes m ON m.id = e.source WHERE e.type = 'wasGeneratedBy' AND "
                f"{generated}))")

    def cypher(self, p: Params) -> str:
        used = self._match(p, False)
        generated = self._match(p, False)
        return (f"(EXISTS {{ MATCH (n)-[:used]->(m:Entity) WHERE {used} }} OR "
                f"EXISTS {{ MATCH (m:Entity)-[:wasGeneratedBy]->(n) WHERE {generated} }})")


@dataclass(frozen=True)
class AssociatedWith(Condition):
    """The activity was associated with an agent of this name or email."""

    agent: str

    def sql(self, p: Params) -> str:
        return ("(id IN (SELECT e.source FROM edges e JOIN nodes g ON g.id = e.target "
                f"WHERE e.type = 'wasAssociatedWith' AND (g.name = {p.q(self.agent)} OR "
                f"lower(g.properties->>'email') = lower({p.q(self.agent)}))))")

    def cypher(self, p: Params) -> str:
        return ("EXISTS { MATCH (n)-[:wasAssociatedWith]->(g:Agent) "
                f"WHERE g.name = {p.named(self.agent)} OR "
                f"toLower(g.email) = toLower({p.named(self.agent)}) }}")


def glob_regex(pattern: str) -> str:
    """A shell glob as a whole-string regular expression RE2 and Java read alike."""
    out = ["(?s)"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and (end := _class_end(pattern, i)) is not None:
            body = pattern[i + 1:end]
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            items = []
            for j, c in enumerate(body):
                is_range = c == "-" and 0 < j < len(body) - 1
                items.append("-" if is_range else regex_literal(c) if not c.isalnum() else c)
            out.append("[" + ("^" if negate else "") + "".join(items) + "]")
            i = end
        else:
            out.append(regex_literal(char))
        i += 1
    return "".join(out)


def _class_end(pattern: str, start: int) -> int | None:
    """Where the `[...]` class opened at `start` closes (a `]` first in it is a member)."""
    j = start + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end if end != -1 else None


def status_condition(status: str) -> Condition:
    """`--status ok|failed|interrupted` as a condition (see the module's docstring)."""
    if status not in STATUSES:
        raise BadInput(f"unknown status {status!r}: give one of {', '.join(STATUSES)}")
    if status == "interrupted":
        return Compare("status", "=", "interrupted")
    no_status = IsNull("status")
    if status == "ok":
        return AnyOf((Compare("status", "=", "ok"),
                      AllOf((no_status, Compare("exit_code", "=", 0)))))
    return AnyOf((Compare("status", "=", "failed"), Compare("status", "=", "not-found"),
                  AllOf((no_status, Compare("exit_code", "!=", 0)))))


@dataclass
class Filters:
    """What `prov log` and `prov runs` filter on (see the module's docstring)."""

    paths: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    command: str | None = None
    status: str | None = None
    since: str | datetime | None = None
    until: str | datetime | None = None
    where: str | None = None
    tags: list[str] = field(default_factory=list)
    sweep: str | None = None

    def condition(self) -> Condition | None:
        """All the filters given, as one condition (None: no filter); BadInput for a bad
        status, time or `--where`."""
        parts: list[Condition | None] = []
        if self.paths:
            parts.append(AnyOf(tuple(Touches(p.strip("/")) for p in self.paths)))
        if self.agents:
            parts.append(AnyOf(tuple(AssociatedWith(a) for a in self.agents)))
        if self.command is not None:
            parts.append(Matches("command", glob_regex(self.command)))
        if self.status is not None:
            parts.append(status_condition(self.status))
        for when, after in ((self.since, True), (self.until, False)):
            if when is not None:
                moment = when if isinstance(when, datetime) else parse_time(when)
                if moment.tzinfo is None:
                    moment = moment.astimezone()
                parts.append(Started(moment.astimezone(UTC), after))
        parts.extend(Contains("tags", tag) for tag in self.tags)
        if self.sweep is not None:
            parts.append(Compare("sweep", "=", str(self.sweep)))
        if self.where is not None:
            parts.append(parse(self.where))
        return every(parts)

    def __bool__(self) -> bool:
        return bool(self.paths or self.agents or self.tags) or any(
            v is not None for v in (self.command, self.status, self.since, self.until,
                                    self.where, self.sweep))


def select(store: Any, filters: Filters | None = None, limit: int | None = None) -> list[Node]:
    """The activities of `store` the filters keep, newest first."""
    return activities(store, filters.condition() if filters else None, limit)
