"""Record-level why-provenance of a file view: which input rows made output row N.

The why-provenance of an output row (Buneman, Khanna and Tan, "Why and Where: A
Characterization of Data Provenance", ICDT 2001; Cui, Widom and Wiener's lineage for
aggregates, TODS 2000), as input rows:

- select-project-join (filters, inner and outer joins, ORDER BY, LIMIT): the one row of
  each joined file that the output row was built from (a file an outer join padded with
  NULLs contributes no row);
- GROUP BY aggregates (HAVING, ROLLUP/CUBE/GROUPING SETS too), SELECT DISTINCT, and
  aggregates without GROUP BY: every row of each file that falls into the output row's
  group after WHERE (for a join: that is part of a joined combination of the group).

It is computed by rewriting the query with sqlglot so that every input relation carries its
row number (the file's rows are copied into a table in file order, and its `rowid + 1` is
the 1-based data row, the header not counted) and the output carries those numbers along:
as extra columns for select-project-join, as one `list(DISTINCT ...)` per input and group
otherwise. The rewritten query runs once, into a temporary table; the view's file is written
from that table, so output row N of the file and the lineage of row N come from the same run,
whatever order DuckDB would have chosen on another run.

The lineage is kept in the embedded index (`.git/prov/index.duckdb`) as (output row, input,
input row) pairs, in two tables the indexer never touches (a `prov rebuild` empties only the
graph's tables, and a schema migration drops only those):

- `fileview_lineage_outputs(output_id, path, oid, sha256, created, sql, shape, inputs JSON,
  output JSON, rows, pairs)`: one per materialized version of a view's file (by git blob id);
- `fileview_lineage(output_id, output_row, input, source_row)`: in output-row order per
  input, so a `why --row N` reads few blocks.

The work is in four parts, each a module, one way down (no part imports a later one):

- `rewriting`: the query rewritten by sqlglot (pure: no file read, nothing run);
- `running`: the rewritten query run once into a temporary table, and its pairs;
- `storing`: the pairs and the output's description written into the index;
- `explaining`: one output row's input rows, read back from the index and the inputs;

and `writer`, the file views' SQL writer that runs them in that order. This module is the front
door: what callers use is importable from `provgraph.fileview.why`.
"""

from __future__ import annotations

from provgraph.fileview.why.explaining import Explanation, SourceRow, explain
from provgraph.fileview.why.rewriting import (
    SCOPE,
    Input,
    Rewritten,
    Unsupported,
    rewrite,
)
from provgraph.fileview.why.running import keep_insertion_order, lineage_sql, prepare
from provgraph.fileview.why.storing import (
    LINEAGE_SCHEMA,
    Recorded,
    default_scan,
    digest_of,
    index_path,
    record,
)
from provgraph.fileview.why.writer import enabled, install, write_view

__all__ = ["LINEAGE_SCHEMA", "SCOPE", "Explanation", "Input", "Recorded", "Rewritten",
           "SourceRow", "Unsupported", "default_scan", "digest_of", "enabled", "explain",
           "index_path", "install", "keep_insertion_order", "lineage_sql", "prepare", "record",
           "rewrite", "write_view"]
