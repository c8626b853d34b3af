"""What `prov note`, `prov tag` and `prov set` share: find the node, record, say what was done."""

from __future__ import annotations

import shlex
import sys

from provgraph.cli.common import json_out, opened_index
from provgraph.text import printable


def record(reference: str, change, as_json: bool, done: str) -> None:
    """Annotate the node REFERENCE names (from the folder typed in) with `change`; print
    `done` with the node for `{node}`, or the `--json`."""
    from provgraph.annotate import annotate, find_target
    from provgraph.cli.common import node_path

    with opened_index() as (repo, store):
        target = find_target(store, reference, node_path(repo, reference))
        found = annotate(repo, store, [target], change,
                         shlex.join(["prov", *sys.argv[1:]]))
    if as_json:
        json_out(found.to_dict())
        return
    print(done.format(node=f"{printable(target.name)} ({printable(target.id)})"))
