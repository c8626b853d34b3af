"""The capture path (`prov CMD`): snapshots, the command runner, the shell,
tracing, recovery of killed captures, redaction. Hot: imports no DuckDB, networkx,
click, rich, sqlglot or Neo4j driver."""
