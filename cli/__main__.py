"""`python -m provgraph.cli` is `prov` (how the background sync is started)."""

from provgraph.cli import main

main()
