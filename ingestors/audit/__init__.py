"""The folder put first on PYTHONPATH of a captured Python command: it holds the
`sitecustomize` that records which files the program reads (see provgraph.ingestors.python)."""
