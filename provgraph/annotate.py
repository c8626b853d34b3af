"""`prov note`, `prov tag`, `prov set`: annotations that never rewrite history.

Each command checks what it is told against the index (the node exists; a key would not
shadow a recorded property; a removed tag is there) and appends one journal record
(`provgraph.journal.annotations`), whatever the number of nodes it names; the next read
applies it. What the record says, and how the index shows it, is documented in that module
and in docs/annotations.md.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provgraph.errors import BadInput, NotFound
from provgraph.journal import annotations as notes
from provgraph.model import AGENT, Node, agent_id

if TYPE_CHECKING:
    from provgraph.repo import Repository
    from provgraph.stores.embedded import EmbeddedStore


@dataclass
class Change:
    """What one annotation says: a note, tags added or removed, values set or unset."""

    note: str | None = None
    tag: list[str] = field(default_factory=list)
    untag: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The record's fields for it (only those it has)."""
        found = {"note": self.note, "tag": sorted(set(self.tag)),
                 "untag": sorted(set(self.untag)), "set": self.values,
                 "unset": sorted(set(self.unset))}
        return {key: value for key, value in found.items() if value}


@dataclass
class Annotated:
    """What `prov note/tag/set` recorded: its record's id, the nodes it names, the change."""

    id: str
    targets: list[Node]
    change: Change

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id,
                "targets": [{"id": n.id, "label": n.label, "name": n.name}
                            for n in self.targets],
                **self.change.fields()}


def assignments(texts: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` words as a dict of typed values (`parse_value`)."""
    values: dict[str, Any] = {}
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep:
            raise BadInput(f"{text!r} is not KEY=VALUE")
        if raw == "":
            raise BadInput(f"{key}= gives no value: to remove a key, use --unset {key}")
        values[key.strip()] = notes.parse_value(raw)
    return values


def find_target(store: EmbeddedStore, reference: str, path: str | None = None) -> Node:
    """The node a NODE names (`queries.nodes.find`), or an agent by email."""
    from provgraph.queries.nodes import find

    try:
        return find(store, reference, path)
    except NotFound:
        if "@" in reference:
            found = store.node(agent_id(store.meta("project") or "", "", reference))
            if found is not None and found.label == AGENT:
                return found
        raise


def check(store: EmbeddedStore, targets: list[Node], change: Change) -> None:
    """Refuse, in one line, what the record would not do as asked."""
    if change.note is not None and (reason := notes.note_problem(change.note)):
        raise BadInput(f"{reason}: a note says something")
    for tag in change.tag + change.untag:
        if reason := notes.tag_problem(tag):
            raise BadInput(reason)
    for key in list(change.values) + change.unset:
        if reason := notes.key_problem(key):
            raise BadInput(reason)
    for key, value in change.values.items():
        if reason := notes.value_problem(value):
            raise BadInput(f"{key}: {reason}")
    if not (change.note is not None or change.tag or change.untag or change.values
            or change.unset):
        raise BadInput("nothing to record: give a note, a tag or KEY=VALUE")
    states = store.annotations(n.id for n in targets)
    for node in targets:
        state = states.get(node.id) or notes.State()
        set_before = set(state.values)
        for key in change.values:
            if key in node.properties and key not in set_before:
                raise BadInput(f"{node.name} has a recorded {key!r} "
                               f"({node.properties[key]!r}): annotations never rewrite history;"
                               " choose another key")
        if len(targets) == 1:
            for key in change.unset:
                if key not in set_before:
                    raise BadInput(f"{node.name} has no {key!r} set by prov set")
    for tag in change.untag:
        having = [n for n in targets if tag in (states.get(n.id) or notes.State()).tags]
        if having:
            continue
        recorded = [n for n in targets if tag in notes.recorded_tags(n.properties)]
        if recorded:
            raise BadInput(f"{recorded[0].name}'s tag {tag!r} is recorded by the run itself: "
                           "annotations cannot remove it")
        whom = targets[0].name if len(targets) == 1 else f"none of the {len(targets)} nodes"
        raise BadInput(f"{whom} has no tag {tag!r}")


def annotate(repo: Repository, store: EmbeddedStore, targets: list[Node], change: Change,
             command: str) -> Annotated:
    """Check `change` against the index and append its one record."""
    from provgraph.capture.command import Agent
    from provgraph.journal.records import Journal, new_id
    from provgraph.timestamps import now

    if not targets:
        raise BadInput("no node to annotate")
    if len(targets) > notes.MAX_TARGETS:
        raise BadInput(f"{len(targets):,} nodes: annotate at most {notes.MAX_TARGETS:,} at once")
    check(store, targets, change)
    record_id, nonce = new_id("ann", repo.clone_id)
    stamp = now()
    Journal(repo).append({
        "kind": notes.KIND, "id": record_id, "nonce": nonce, "clone": repo.clone_id,
        "project": repo.project, "agent": Agent(repo).value(), "started": stamp,
        "ended": stamp, "command": command, "targets": [n.id for n in targets],
        **change.fields()})
    _sync_later(repo)
    return Annotated(record_id, targets, change)


def tag_many(repo: Repository, store: EmbeddedStore, ids: list[str], tags: list[str],
             remove: bool = False, command: str | None = None) -> Annotated:
    """Tag (or untag) many nodes by id at once: one record for all of them (`prov tag
    --where` gives the ids of the activities its predicate matches)."""
    ids = list(dict.fromkeys(ids))
    found = store.nodes(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no node with id {missing[0]}"
                       + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    change = Change(untag=list(tags)) if remove else Change(tag=list(tags))
    words = ["prov", "tag", *(["--remove"] if remove else []), *tags]
    return annotate(repo, store, [found[i] for i in ids], change,
                    command or shlex.join(words) + f"  # {len(ids)} nodes")


def _sync_later(repo: Repository) -> None:
    """As after a capture: Neo4j catches up in the background when autosync is on."""
    from provgraph.config import Config

    config = Config(repo.root, repo.prov_dir)
    if config.neo4j_configured and config.neo4j_autosync:
        from provgraph.remotes import neo4j as sync

        sync.start_background(repo)
