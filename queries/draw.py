"""Graphs as Graphviz DOT and Mermaid text, drawn with PROV's conventions (entities as
yellow ellipses, activities as blue boxes, agents as orange houses; edges labelled with their
PROV type), for segments and summaries alike."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from provgraph.model import ACTIVITY, AGENT
from provgraph.text import printable


@dataclass
class Vertex:
    id: str
    kind: str  # Entity, Activity or Agent
    label: str


@dataclass
class Arc:
    source: str
    target: str
    label: str


_DOT_STYLE = {
    ACTIVITY: 'shape=box, style=filled, fillcolor="#9fb1fc"',
    AGENT: 'shape=house, style=filled, fillcolor="#fed37f"',
}
_DOT_ENTITY = 'shape=ellipse, style=filled, fillcolor="#fffc87"'


def _dot_string(text: str) -> str:
    # DOT's strings take JSON's escapes; names come from the record: control characters are
    # shown as escapes (provgraph.text), so the drawing printed on a terminal cannot drive it
    return json.dumps(printable(text, multiline=True), ensure_ascii=False)


def to_dot(vertices: Iterable[Vertex], arcs: Iterable[Arc], name: str = "provenance") -> str:
    lines = [f"digraph {_dot_string(name)} {{", "  rankdir=BT;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for v in vertices:
        style = _DOT_STYLE.get(v.kind, _DOT_ENTITY)
        lines.append(f"  {_dot_string(v.id)} [label={_dot_string(v.label)}, {style}];")
    for a in arcs:
        lines.append(f"  {_dot_string(a.source)} -> {_dot_string(a.target)} "
                     f"[label={_dot_string(a.label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Mermaid labels in double quotes take entity codes for the characters it would parse."""
    text = printable(text, multiline=True)  # control characters as escapes, as in _quoted
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;").replace("\n", "<br/>"))


def to_mermaid(vertices: Iterable[Vertex], arcs: Iterable[Arc]) -> str:
    """A `flowchart BT`; node ids are n0, n1, ... (Mermaid ids cannot hold every character)."""
    vertices = list(vertices)
    lines = ["flowchart BT"]
    short: dict[str, str] = {}
    for v in vertices:
        short[v.id] = key = f"n{len(short)}"
        text = f'"{_mermaid_text(v.label)}"'
        shape = {ACTIVITY: f"[{text}]", AGENT: f"[/{text}\\]"}.get(v.kind, f"([{text}])")
        lines.append(f"  {key}{shape}")
    for a in arcs:
        lines.append(f"  {short[a.source]} -->|{_mermaid_text(a.label)}| {short[a.target]}")
    lines += ["  classDef entity fill:#fffc87,stroke:#808080",
              "  classDef activity fill:#9fb1fc,stroke:#0000ff",
              "  classDef agent fill:#fed37f,stroke:#808080"]
    for kind in ("Entity", "Activity", "Agent"):
        keys = [short[v.id] for v in vertices if v.kind == kind]
        if keys:
            lines.append(f"  class {','.join(keys)} {kind.lower()}")
    return "\n".join(lines) + "\n"
