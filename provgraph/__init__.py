"""provgraph: how every file of a git repository came to be, as a W3C PROV graph.

The Python API mirrors the CLI (this module stays import-light: `prov CMD` loads it):

    import provgraph, provgraph.capture.command
    outcome = provgraph.capture.command.run(["python", "train.py"], cwd="my-analysis")
    with provgraph.open_store("my-analysis") as store:
        for entry in provgraph.queries.log.log(store, limit=5): ...
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:  # no runtime import: `prov CMD` loads this module
    from pathlib import Path

    from provgraph.stores.embedded import EmbeddedStore


def open_store(path: str | Path = ".", rebuild: bool = False) -> EmbeddedStore:
    """The embedded index of the repository at `path`, caught up with its journal."""
    from provgraph.capture.command import recover
    from provgraph.journal.indexer import open_index
    from provgraph.repo import Repository

    repo = Repository.discover(path)
    repo.ensure_prov_dir()
    recover(repo)
    return open_index(repo, rebuild=rebuild)
