"""Reading the recorded graph in tests, through the library the CLI uses."""

from __future__ import annotations

from provgraph.model import Edge, Node


class Graph:
    """A snapshot of a repository's whole graph, with small lookups tests read well."""

    def __init__(self, nodes: list[Node], edges: list[Edge]):
        self.nodes = {n.id: n for n in nodes}
        self.edges = edges
        self.by_name = {n.name: n for n in nodes}

    @classmethod
    def of(cls, repo) -> Graph:
        with repo.store() as store:
            return cls(store.all_nodes(), store.all_edges())

    def activities(self) -> list[Node]:
        found = [n for n in self.nodes.values() if n.label == "Activity"]
        return sorted(found, key=lambda n: (n.properties.get("ended", ""), n.id))

    def entities(self, path: str | None = None) -> list[Node]:
        found = [n for n in self.nodes.values() if n.label == "Entity"
                 and (path is None or n.properties["path"] == path)]
        return sorted(found, key=lambda n: (n.properties["path"], n.properties["version"]))

    def agents(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.label == "Agent"]

    def node(self, name: str) -> Node:
        return self.by_name[name]

    def targets(self, source: Node, kind: str) -> list[str]:
        """Names at the far end of `kind` edges leaving `source`."""
        return sorted(self.nodes[e.target].name for e in self.edges
                      if e.source == source.id and e.type == kind)

    def sources(self, target: Node, kind: str) -> list[str]:
        return sorted(self.nodes[e.source].name for e in self.edges
                      if e.target == target.id and e.type == kind)

    def edge(self, kind: str, source: str, target: str) -> Edge | None:
        s, t = self.by_name[source].id, self.by_name[target].id
        return next((e for e in self.edges if (e.type, e.source, e.target) == (kind, s, t)), None)

    def used(self, activity: Node) -> list[str]:
        return self.targets(activity, "used")

    def generated(self, activity: Node) -> list[str]:
        return self.sources(activity, "wasGeneratedBy")


def neo4j_store(repo):
    """The Neo4j index of `repo`, through the library (as `prov cypher` reaches it)."""
    from provgraph.config import Config
    from provgraph.remotes import neo4j as sync
    from provgraph.repo import Repository

    r = Repository.discover(repo.root)
    return sync.Target(Config(r.root, r.prov_dir)).store(r.project)


def either_store(repo, index: str):
    """The embedded index ("embedded") or the Neo4j one ("neo4j") of `repo`: the same query
    tests run on both."""
    return repo.store() if index == "embedded" else neo4j_store(repo)
