"""`prov set`: values of your own on any node, set or unset after the fact."""

from __future__ import annotations

import click

from provgraph.cli.annotating import record


@click.command("set")
@click.argument("node")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@click.option("--unset", "unset", multiple=True, metavar="KEY",
              help="Remove a key set before (repeat for several).")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
def command(node: str, assignments: tuple[str, ...], unset: tuple[str, ...],
            as_json: bool) -> None:
    """Give NODE (a run: #14, latest; a PATH[@vN]; an agent's name or email) values of your
    own: numbers stay numbers, true/false are booleans, anything else is text. A key the
    record already holds (exit_code, caffe.base_lr...) is refused: annotations never rewrite
    history."""
    from provgraph.annotate import Change
    from provgraph.annotate import assignments as parse
    from provgraph.text import printable

    values = parse(list(assignments))
    change = Change(values=values, unset=list(unset))
    said = [f"{k}={_shown(v)}" for k, v in values.items()] + [f"unset {k}" for k in unset]
    listed = printable(", ".join(said)).replace("{", "{{").replace("}", "}}")
    record(node, change, as_json, f"On {{node}}: {listed}")


def _shown(value: object) -> str:
    """A value as typed back: text quoted (it stayed text), true/false, numbers."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)
