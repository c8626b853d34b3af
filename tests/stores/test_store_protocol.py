"""The three stores implement `provgraph.stores.base.Store` call for call: the same methods with
the same parameters (instances are checked against real indexes in test_both_indexes.py)."""

from __future__ import annotations

import inspect

import pytest

from provgraph.stores.adjacency import SearchIndex
from provgraph.stores.base import Store
from provgraph.stores.embedded import EmbeddedStore
from provgraph.stores.neo4j import Neo4jStore

READS = [name for name, value in vars(Store).items()
         if callable(value) and not name.startswith("_")]


def test_the_protocol_names_the_reads_queries_use():
    assert sorted(READS) == ["activities", "close", "edges", "entity", "named", "node", "nodes",
                             "step", "versions"]


@pytest.mark.parametrize("store", [EmbeddedStore, SearchIndex, Neo4jStore])
@pytest.mark.parametrize("name", READS)
def test_every_store_answers_every_read_with_the_same_parameters(store, name):
    wanted = inspect.signature(getattr(Store, name))
    given = inspect.signature(getattr(store, name))
    assert [(p.name, p.kind, p.default) for p in given.parameters.values()] == [
        (p.name, p.kind, p.default) for p in wanted.parameters.values()], f"{store.__name__}.{name}"
