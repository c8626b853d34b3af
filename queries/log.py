"""`prov log`: what happened, newest first."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provgraph.model import USED, WAS_ASSOCIATED_WITH, WAS_GENERATED_BY, Node
from provgraph.stores.base import Store

if TYPE_CHECKING:
    from provgraph.queries.filters import Filters


@dataclass
class LogEntry:
    activity: Node
    agents: list[Node] = field(default_factory=list)
    used: list[Node] = field(default_factory=list)
    generated: list[Node] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """One activity as `prov log --json` prints it."""
        return {"id": self.activity.id, "name": self.activity.name,
                "agent": [a.name for a in self.agents], "used": [n.name for n in self.used],
                "generated": [n.name for n in self.generated],
                "properties": self.activity.properties}


def log(store: Store, limit: int | None = None, filters: Filters | None = None
        ) -> list[LogEntry]:
    """Activities newest first, each with its agent and the files it used and generated;
    only those `filters` keep (queries.filters) when given.

    Four batched queries whatever the number of activities.
    """
    if filters:
        from provgraph.queries.filters import select

        activities = select(store, filters, limit)
    else:
        activities = store.activities(limit)
    entries = {a.id: LogEntry(a) for a in activities}
    outgoing = store.edges(entries, "out", [USED, WAS_ASSOCIATED_WITH])
    incoming = store.edges(entries, "in", [WAS_GENERATED_BY])
    related = store.nodes([e.target for e in outgoing] + [e.source for e in incoming])
    lists: dict[tuple[str, str], dict[str, Node]] = defaultdict(dict)
    for edge in outgoing:  # a node once, however many relations join them (imported PROV)
        lists[(edge.source, edge.type)][edge.target] = related[edge.target]
    for edge in incoming:
        lists[(edge.target, edge.type)][edge.source] = related[edge.source]
    for activity_id, entry in entries.items():
        entry.agents = list(lists[(activity_id, WAS_ASSOCIATED_WITH)].values())
        entry.used = sorted(lists[(activity_id, USED)].values(), key=lambda n: n.name)
        entry.generated = sorted(lists[(activity_id, WAS_GENERATED_BY)].values(),
                                 key=lambda n: n.name)
    return list(entries.values())
