"""The indexes the graph is kept in: `embedded` (DuckDB, the default), `adjacency` (its SQLite
copy clustered by node, for walks) and `neo4j`. They answer the same reads (`base.Store`).
"""

from __future__ import annotations

import os
import sys

from provgraph.state import Damaged


def damaged(exc: BaseException, prov_dir: str) -> Damaged | None:
    """`exc` as the damage of a derived file of `prov_dir` (a DuckDB or SQLite error met in
    the middle of a query), else None. Looks only at modules already loaded."""
    if isinstance(exc, Damaged):
        return exc
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.Error):
        from provgraph.stores.embedded import IndexDamaged, damage

        reason = damage(exc)
        index = os.path.join(prov_dir, "index.duckdb")
        named = str(exc).partition(' file "')[2].partition('"')[0]
        if reason and (not named or os.path.realpath(named) == os.path.realpath(index)):
            return IndexDamaged(index, reason)
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError) and any(
            sign in str(exc) for sign in ("malformed", "not a database")):
        from provgraph.stores.adjacency import SearchDamaged

        return SearchDamaged(os.path.join(prov_dir, "search.sqlite"), str(exc))
    return None
