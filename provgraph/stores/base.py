"""What every index answers: the reads the queries (`provgraph.queries`) are written against.

The three stores (`embedded` DuckDB, its `adjacency` copy in SQLite, `neo4j`) hold the same
graph and answer these calls with the same results (tests/stores/test_both_indexes.py,
tests/queries/test_segment.py compare them); a new store implements this Protocol and the
queries work on it unchanged. Writes are per store (the embedded index is written by the
journal's replay, Neo4j by `prov sync`, the adjacency copy catches up from the embedded index).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from provgraph.model import Edge, Node


@runtime_checkable
class Store(Protocol):
    """Read access to one project's PROV graph."""

    def node(self, node_id: str) -> Node | None:
        """The node with this id, or None."""

    def nodes(self, ids: Iterable[str]) -> dict[str, Node]:
        """The nodes with these ids that exist, by id."""

    def edges(self, ids: Iterable[str], direction: str = "out",
              types: Iterable[str] | None = None) -> list[Edge]:
        """Edges leaving (`out`), entering (`in`) or touching (`both`) the nodes, of `types`
        (all when None), in a stable order."""

    def step(self, ids: Iterable[str], direction: str, types: Iterable[str]
             ) -> list[tuple[Edge, Node]]:
        """One hop of a walk: each edge of `types` leaving (`out`) or entering (`in`) the
        nodes, with the node at its other end (one round trip, however many nodes)."""

    def entity(self, path: str, version: int | None = None) -> Node | None:
        """A version of a file by its repository path: the latest when `version` is None."""

    def versions(self, path: str) -> list[Node]:
        """Every recorded version of a file, oldest first."""

    def named(self, name: str, label: str | None = None) -> list[Node]:
        """Nodes by their human name (`alice`, `caffe train #14`), optionally of one label."""

    def activities(self, limit: int | None = None, offset: int = 0) -> list[Node]:
        """Activities, the one that ended last first."""

    def close(self) -> None:
        """Release the connection."""
