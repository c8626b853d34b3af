"""Annotations: notes, tags and values given to a node after the fact, without rewriting it.

`prov note`, `prov tag` and `prov set` each append one journal record of its own
(`"kind": "annotation"`, see `record`), naming its targets by node id. The record is history
too: it says who annotated and when, and it travels with `prov push`/`pull` like any record.
The indexer (`settle`) turns the annotations of a node into properties of that node, in
journal order, so that every reader sees them without knowing they are annotations:

- `tags`: the sorted distinct tags (a run's own recorded `tags`, a sweep trial's, are kept and
  unioned with the annotated ones; an annotation cannot remove a recorded tag);
- `notes`, `notes.by`, `notes.at`: the notes oldest first, who wrote each and when;
- each `prov set` key as a property of its own, and `annotated.keys` listing those keys.

A recorded property always wins: a set key that a recorded property of the node holds is
refused by the command, and ignored by the replay if a pulled record carries one. The node's
recorded properties are kept beside the annotations (the index's `annotations` table, `base`),
so a catch-up can annotate a node an earlier catch-up wrote, and a later record that writes
the node again (an agent is written by each of its captures) keeps its annotations.
An annotation whose target is not (yet) in the index is kept there and applies when a record
that makes the target is replayed, whichever order the records came in.

This module only decides; `provgraph.annotate` is the command side.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from provgraph.model import Node

KIND = "annotation"
ID = re.compile(r"ann-[0-9a-f]{16}\Z")
#: What a `prov set` key looks like: a Cypher- and SQL-friendly dotted name.
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\Z")
#: A tag: printable, no blank, no comma (tags are listed with commas), not an option.
TAG = re.compile(r"[^\s,\-][^\s,]*\Z")
MAX_TAG = 100
MAX_KEY = 200
MAX_NOTE = 10_000
MAX_TARGETS = 100_000
INT64 = (-(2**63), 2**63 - 1)

TAGS, NOTES, NOTES_BY, NOTES_AT, SET_KEYS = "tags", "notes", "notes.by", "notes.at", \
    "annotated.keys"
#: Properties no `prov set` may name: the graph's own, the annotations' own, what PROV
#: export and other parts of provgraph give a meaning (a rerun's `rerun_of`, a sweep's).
RESERVED = frozenset({
    "id", "name", "project", "label", "labels", "path", "version", "digest", "size", "large",
    "ignored", "overwritten", "command", "utility", "subcommand", "options", "operands",
    "exit_code", "signal", "status", "started", "ended", "cwd", "shell", "message", "deleted",
    "processes", "email", TAGS, NOTES, NOTES_BY, NOTES_AT, SET_KEYS, "rerun_of", "sweep",
    "sweep.trial", "plan",
})
RESERVED_PREFIXES = ("params.", "notes.", "tags.", "annotated.", "prov.", "provgraph.")


def key_problem(key: Any) -> str | None:
    """Why `key` cannot be a `prov set` key, or None."""
    if not isinstance(key, str) or not key:
        return "an empty key"
    if len(key) > MAX_KEY or not KEY.match(key):
        return (f"key {key!r} is not a name (letters, digits, _ and -, in parts joined by dots, "
                "starting with a letter or _)")
    if key in RESERVED or key.startswith(RESERVED_PREFIXES):
        return f"key {key!r} is reserved (provgraph gives it its own meaning)"
    return None


def tag_problem(tag: Any) -> str | None:
    if not isinstance(tag, str) or not tag:
        return "an empty tag"
    if len(tag) > MAX_TAG or not TAG.match(tag) or not tag.isprintable():
        return (f"tag {tag!r} is not a tag (printable, without blanks or commas, not starting "
                f"with -, at most {MAX_TAG} characters)")
    return None


def note_problem(text: Any) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return "an empty note"
    if len(text) > MAX_NOTE:
        return f"a note longer than {MAX_NOTE:,} characters"
    return None


def value_problem(value: Any) -> str | None:
    """What a set value may be: a string, a boolean, a 64-bit integer or a finite number."""
    if isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        return None if INT64[0] <= value <= INT64[1] else "an integer beyond 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite"
    return f"a value that is not a string, number or boolean ({type(value).__name__})"


_INT = re.compile(r"[-+]?\d+\Z")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\Z")


def parse_value(text: str) -> str | int | float | bool:
    """A value as typed: numbers stay numbers, `true`/`false` are booleans, else the text."""
    if text in ("true", "false"):
        return text == "true"
    if _INT.match(text):
        number = int(text)
        if INT64[0] <= number <= INT64[1]:
            return number
    if _FLOAT.match(text):
        number = float(text)
        if math.isfinite(number):
            return number
    return text


def problem(record: dict[str, Any]) -> str | None:
    """What is wrong with an annotation record's own fields (`provgraph.journal.schema` checks
    the fields every record has), in a few words, or None."""
    targets = record.get("targets")
    if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
        return "an annotation's targets are not a list of 1 to 100,000 node ids"
    for target in targets:
        if not isinstance(target, str) or not target or len(target) > 4096:
            return "an annotation target is not a node id"
    if not any(op in record for op in OPERATIONS):
        return "the annotation changes nothing"
    if "note" in record and (reason := note_problem(record["note"])):
        return f"it holds {reason}"
    for op in ("tag", "untag"):
        if op in record:
            if not isinstance(record[op], list) or not record[op]:
                return f"annotation {op} is not a list of tags"
            for tag in record[op]:
                if reason := tag_problem(tag):
                    return f"it holds {reason}"
    if "set" in record:
        values = record["set"]
        if not isinstance(values, dict) or not values:
            return "annotation set is not an object of keys and values"
        for key, value in values.items():
            if (reason := key_problem(key)) or (reason := value_problem(value)):
                return f"it sets {reason}"
    if "unset" in record:
        if not isinstance(record["unset"], list) or not record["unset"]:
            return "annotation unset is not a list of keys"
        for key in record["unset"]:
            if reason := key_problem(key):
                return f"it unsets {reason}"
    return None


OPERATIONS = ("note", "tag", "untag", "set", "unset")


@dataclass
class State:
    """What the annotations replayed so far say of one node, and the node as recorded."""

    tags: list[str] = field(default_factory=list)
    notes: list[list[str]] = field(default_factory=list)  # [text, who, when]
    values: dict[str, Any] = field(default_factory=dict)
    base: dict[str, Any] | None = None  # the node's recorded properties; None: not met yet
    label: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        return cls(list(data.get("tags", [])), [list(n) for n in data.get("notes", [])],
                   dict(data.get("set", {})), data.get("base"), data.get("label"))

    def to_json(self) -> dict[str, Any]:
        return {"tags": self.tags, "notes": self.notes, "set": self.values, "base": self.base,
                "label": self.label}

    def apply(self, record: dict[str, Any]) -> None:
        """One annotation record, in journal order."""
        agent = record.get("agent") or {}
        if "note" in record:
            self.notes.append([record["note"], agent.get("name") or agent.get("email") or "",
                               record.get("ended") or ""])
        tags = set(self.tags) | set(record.get("tag", ()))
        self.tags = sorted(tags - set(record.get("untag", ())))
        self.values.update(record.get("set", {}))
        for key in record.get("unset", ()):
            self.values.pop(key, None)

    def merged(self) -> dict[str, Any]:
        """The node's properties: recorded ones, with the annotations added (never replacing
        a recorded one)."""
        base = self.base or {}
        props = dict(base)
        tags = sorted(set(recorded_tags(base)) | set(self.tags))
        if tags:
            props[TAGS] = tags
        if self.notes:
            before = strings(base.get(NOTES))
            props[NOTES] = before + [n[0] for n in self.notes]
            for key, index in ((NOTES_BY, 1), (NOTES_AT, 2)):
                given = strings(base.get(key))
                given = (given + [""] * len(before))[:len(before)]
                props[key] = given + [n[index] for n in self.notes]
        keys = [key for key in sorted(self.values) if key not in base]
        for key in keys:
            props[key] = self.values[key]
        if keys:
            props[SET_KEYS] = sorted(set(strings(base.get(SET_KEYS))) | set(keys))
        return props


def recorded_tags(props: dict[str, Any]) -> list[str]:
    """The tags a node's record gives it (a sweep trial's), a string or a list of them."""
    return strings(props.get(TAGS))


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def settle(store: Any, nodes: list[Node], records: list[dict[str, Any]]) -> list[Node]:
    """The nodes a catch-up batch writes, annotated: `nodes` (what its records made, as
    recorded) with the annotations each target has, and the targets of `records` (this
    batch's annotation records, in journal order) that earlier catch-ups wrote, again.
    The embedded store keeps each annotated node's state (`annotations`, `save_annotations`)."""
    if not records and not store.has_annotations():
        return nodes
    targets = {target for record in records for target in record["targets"]}
    states = store.annotations({node.id for node in nodes} | targets)
    for record in records:
        for target in record["targets"]:
            states.setdefault(target, State()).apply(record)
    if not states:
        return nodes
    out = []
    made = set()
    for node in nodes:
        state = states.get(node.id)
        if state is not None:
            state.base, state.label = node.properties, node.label
            node = Node(node.id, node.label, state.merged())
        made.add(node.id)
        out.append(node)
    earlier = store.nodes(targets - made)
    for target in sorted(targets - made):
        state = states[target]
        found = earlier.get(target)
        if found is None:
            continue  # not (yet) in the index: applies when a record makes it
        if state.base is None:  # first annotated now: what the index holds is as recorded
            state.base, state.label = found.properties, found.label
        out.append(Node(target, found.label, state.merged()))
    store.save_annotations(states)
    return out
