"""Finding a RUN: the activity a user names on the command line.

A RUN is an activity id (`act-…`, or the id of an imported activity), its exact name
(`caffe train #14`), `#14` (the one activity whose name ends with ` #14`), `latest` (the
activity that ended last) or `latest~N` (N before it, as git's `HEAD~N`).
"""

from __future__ import annotations

import re
from typing import Any

from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.model import ACTIVITY, Node
from provgraph.stores.base import Store

_NUMBER = re.compile(r"^#(\d+)$")
_LATEST = re.compile(r"^latest(?:~(\d+))?$")
_NAMED = re.compile(r"^\S.* #\d+$")  # an activity's name: `caffe train #14`
_FORMS = "an activity id (act-…), its name (caffe train #14), #14, latest or latest~N"


def run_summary(run: Node) -> dict[str, Any]:
    """A run as the `--json` of metrics, plot and diff name it."""
    return {"id": run.id, "name": run.name, "command": run.properties.get("command")}


def is_run_reference(text: str) -> bool:
    """Whether `text` is written as a RUN is (`#14`, `latest`, `latest~2`, `caffe train #14`)
    rather than as a path: commands naming any node try it as a RUN first."""
    text = text.strip()
    return bool(_NUMBER.match(text) or _LATEST.match(text) or _NAMED.match(text))


def is_run_shorthand(text: str) -> bool:
    """`#14`, `latest`, `latest~N`: only ever a RUN (`./latest` is the file)."""
    text = text.strip()
    return bool(_NUMBER.match(text) or _LATEST.match(text))


def find_run(store: Store, reference: str) -> Node:
    """The activity `reference` names, or a one-line error naming the reference."""
    reference = reference.strip()
    if not reference:
        raise BadInput(f"no run given: name one by {_FORMS}")
    if match := _LATEST.match(reference):
        back = int(match[1] or 0)
        found = store.activities(limit=1, offset=back)
        if not found:
            recorded = len(store.activities())
            raise NotFound(f"no run {reference}: {recorded} activit"
                            f"{'y is' if recorded == 1 else 'ies are'} recorded")
        return found[0]
    if match := _NUMBER.match(reference):
        # `#n` ends names made of a command's words: scan the activities (names are short
        # and the number of runs of one repository is modest).
        suffix = f" #{int(match[1])}"
        return _one(reference, [a for a in store.activities() if a.name.endswith(suffix)])
    found = store.named(reference, ACTIVITY)
    if not found:
        node = store.node(reference)
        if node is not None:
            if node.label != ACTIVITY:
                raise ProvError(f"{reference} is an {node.label.lower()} ({node.name}), "
                                "not a run")
            return node
        if reference.startswith("act-"):
            raise NotFound(f"no activity with id {reference}")
    return _one(reference, found)


def _one(reference: str, found: list[Node]) -> Node:
    if not found:
        raise NotFound(f"no run {reference}: name one by {_FORMS}")
    if len(found) > 1:
        names = ", ".join(f"{n.name} ({n.id})" for n in sorted(found, key=lambda n: n.id))
        raise ProvError(f"{reference} is ambiguous: {names}; give an id")
    return found[0]
