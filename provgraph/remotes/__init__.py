"""Sharing the record: through a git remote (`prov push`/`prov pull`) and
into Neo4j (`prov sync`)."""
