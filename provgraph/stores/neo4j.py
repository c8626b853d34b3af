"""The Neo4j index: the same PROV graph, where a team queries it with Cypher and the Browser.

Schema (DESIGN.md): labels `Entity`, `Activity`, `Agent`; relationship types `used`,
`wasGeneratedBy`, `wasAssociatedWith`, `wasAttributedTo`, `wasDerivedFrom`; every node has
`id`, `name` and `project`; ingestor properties are dotted keys (query them with backticks:
``a.`caffe.base_lr` ``). Several repositories share one database: every node carries its
`project`, a node is one node per (`project`, `id`) (a uniqueness constraint on the pair,
created on first use with indexes on `path`, `name` and `project`), and every statement here
is scoped by it, so two projects holding the same id (one imported the other's export) never
touch each other's nodes. A node an imported document declared as several kinds (an agent that
is also an entity) has each label, its kinds listed in its `labels` property. A relationship
an imported document gave an identifier has it as `id` (two may join the same two nodes).

Writes are idempotent and batched: `UNWIND $rows ... MERGE (n:Label {project: $project, id:
row.id}) SET n = row.props`,
a few thousand rows a statement, each batch its own transaction (retried by the driver on
transient errors). Values are always parameters; the only text put into a statement is a
label or relationship type from the fixed lists below.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from neo4j import GraphDatabase
from neo4j.exceptions import DriverError, Neo4jError

from provgraph.capture.redact import redact_text, uri_credentials, uri_shown
from provgraph.errors import BadInput, ProvError, StoreUnavailable
from provgraph.model import (
    ACTIVITY,
    AGENT,
    ENTITY,
    LABELS,
    USED,
    WAS_ASSOCIATED_WITH,
    WAS_ATTRIBUTED_TO,
    WAS_DERIVED_FROM,
    WAS_GENERATED_BY,
    Edge,
    Node,
)

#: The labels at both ends of each relationship type, as PROV defines them.
ENDPOINTS = {
    USED: (ACTIVITY, ENTITY),
    WAS_GENERATED_BY: (ENTITY, ACTIVITY),
    WAS_ASSOCIATED_WITH: (ACTIVITY, AGENT),
    WAS_ATTRIBUTED_TO: (ENTITY, AGENT),
    WAS_DERIVED_FROM: (ENTITY, ENTITY),
}

#: Names the constraints and indexes `ensure_schema` makes: change it with them, and every
#: target gets them at its next sync (a sync remembers, per target, the SCHEMA it made).
SCHEMA = "2026-12 (project, id) unique; name, project, path indexed"

#: Rows per statement (PROV_NEO4J_BATCH overrides: smaller for a slow link, larger for bulk).
BATCH = int(os.environ.get("PROV_NEO4J_BATCH") or 5000)

# One node of this project by id, whatever its label: a union of three index seeks (a
# label-less match would scan every node of the database).
_BY_ID = " UNION ".join(f"WITH id MATCH (n:{label} {{project: $project, id: id}}) RETURN n"
                        for label in LABELS)
# A node of several kinds is listed once, under its first (its label in the embedded index).
_PRIMARY = "(n.labels IS NULL OR n.labels[0] = '{label}')"


class Neo4jStore:
    def __init__(self, uri: str, project: str, user: str | None = None,
                 password: str | None = None, database: str = "neo4j"):
        # Credentials in the URI (bolt://user:pw@host) go to the driver as auth: it refuses
        # them in the URI and would quote the whole URI, password and all, in its error.
        self.uri = uri_shown(uri)  # for messages: bolt://user:***@host
        uri, uri_user, uri_password = uri_credentials(uri)
        user, password = user or uri_user, password or uri_password
        self.project = project
        self.database = database
        auth = (user, password or "") if user else None
        # The driver reports its own retries through logging: provgraph reports one line.
        logging.getLogger("neo4j").setLevel(logging.CRITICAL)
        try:
            self.driver = GraphDatabase.driver(
                uri, auth=auth, notifications_min_severity="OFF", connection_timeout=10,
                max_transaction_retry_time=10)
        except (DriverError, ValueError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri}: {redact_text(str(exc))}") from None

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Neo4jStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------

    def run(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one statement (with retries on transient errors) and return its records."""
        params.setdefault("project", self.project)
        try:
            records, _, _ = self.driver.execute_query(cypher, params, database_=self.database)
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri}: {_reason(exc)}") from None
        return [record.data() for record in records]

    def query(self, cypher: str, params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
        """Any statement from a user (`prov cypher`), with `$project` always available."""
        params = {"project": self.project, **params}
        try:
            records, _summary, keys = self.driver.execute_query(cypher, params,
                                                               database_=self.database)
        except (DriverError, Neo4jError, OSError) as exc:
            raise BadInput(f"Cypher: {_reason(exc)}") from None
        return list(keys), [[_plain(record[key]) for key in keys] for record in records]

    def check(self) -> None:
        """Fail with one clear line when the server cannot be reached."""
        try:
            self.driver.verify_connectivity()
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri}: {_reason(exc)}") from None

    # -- writing -----------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Constraints and indexes (SCHEMA names this set: a sync remembers it per target and
        runs this again only when SCHEMA changes or the graph is sent whole)."""
        for label in LABELS:
            low = label.lower()
            # an id is unique within a project, not across the database (provgraph before
            # 2026-12 made it unique across: two projects could not both hold one id)
            self.run(f"DROP CONSTRAINT provgraph_{low}_id IF EXISTS")
            self.run(f"CREATE CONSTRAINT provgraph_{low}_project_id IF NOT EXISTS "
                     f"FOR (n:{label}) REQUIRE (n.project, n.id) IS UNIQUE")
            for key in ("name", "project") + (("path",) if label == ENTITY else ()):
                self.run(f"CREATE INDEX provgraph_{low}_{key} IF NOT EXISTS "
                         f"FOR (n:{label}) ON (n.{key})")

    def write(self, nodes: Iterable[Node], edges: Iterable[Edge]) -> int:
        """MERGE nodes, then relationships; returns how many elements were sent.

        Statements of up to BATCH rows each, grouped into transactions of about BATCH rows
        (a small sync is one commit, one flush of Neo4j's log, where a transaction per
        statement paid one for each label and relation type)."""
        groups: list[list[tuple[str, list[dict[str, Any]]]]] = [[]]
        weight = 0
        for statement in self._statements(nodes, edges):
            if weight >= BATCH:
                groups.append([])
                weight = 0
            groups[-1].append(statement)
            weight += len(statement[1])
        sent = 0
        try:
            with self.driver.session(database=self.database) as session:
                for group in groups:
                    if group:
                        session.execute_write(self._run_all, group)
                        sent += sum(len(rows) for _cypher, rows in group)
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri}: {_reason(exc)}") from None
        return sent

    def _run_all(self, tx, statements: list[tuple[str, list[dict[str, Any]]]]) -> None:
        for cypher, rows in statements:
            tx.run(cypher, rows=rows, project=self.project).consume()

    def _statements(self, nodes: Iterable[Node], edges: Iterable[Edge]
                    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """The statements writing nodes, then relationships: (Cypher, rows) pairs, the rows
        always a parameter."""
        statements: list[tuple[str, list[dict[str, Any]]]] = []
        by_label: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}
        for node in nodes:
            props = {**node.properties, "id": node.id, "project": self.project}
            if node.label not in LABELS:
                raise ProvError(f"cannot store a node labelled {node.label!r} in Neo4j")
            by_label.setdefault((node.label, _also(node)), []).append(
                {"id": node.id, "props": props})
        for (label, also), rows in sorted(by_label.items()):
            extra = "".join(f" SET n:{kind}" for kind in also)  # from LABELS only
            statements += [(f"UNWIND $rows AS row "
                            f"MERGE (n:{label} {{project: $project, id: row.id}}) "
                            f"SET n = row.props{extra}", chunk) for chunk in _chunks(rows)]
        by_type: dict[tuple[str, bool], list[dict[str, Any]]] = {}
        for edge in edges:
            relation = edge.identity[3]
            by_type.setdefault((edge.type, bool(relation)), []).append(
                {"source": edge.source, "target": edge.target, "id": relation,
                 "props": edge.properties})
        for (kind, identified), rows in sorted(by_type.items()):
            if kind not in ENDPOINTS:
                raise ProvError(f"cannot store a relationship of type {kind!r} in Neo4j")
            source, target = ENDPOINTS[kind]
            ends = (f"UNWIND $rows AS row "
                    f"MATCH (a:{source} {{project: $project, id: row.source}}) "
                    f"MATCH (b:{target} {{project: $project, id: row.target}}) ")
            if identified:  # one of several relations between a and b: its own id says which
                merge = f"MERGE (a)-[r:{kind} {{id: row.id}}]->(b) SET r = row.props"
            else:  # the relation without an id (MERGE would take one that has an id)
                merge = (f"OPTIONAL MATCH (a)-[old:{kind}]->(b) WHERE old.id IS NULL "
                         "WITH a, b, row, collect(old) AS found "
                         "FOREACH (r IN found | SET r = row.props) "
                         "FOREACH (_ IN CASE WHEN size(found) = 0 THEN [1] ELSE [] END | "
                         f"CREATE (a)-[r:{kind}]->(b) SET r = row.props)")
            statements += [(ends + merge, chunk) for chunk in _chunks(rows)]
        return statements

    def delete_project(self) -> None:
        """Remove every node of this project (and its relationships), in small transactions
        (which Neo4j runs only in an auto-commit transaction)."""
        try:
            with self.driver.session(database=self.database) as session:
                for label in LABELS:
                    session.run(f"MATCH (n:{label} {{project: $project}}) "
                                "CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
                                project=self.project).consume()
        except (DriverError, Neo4jError, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.uri}: {_reason(exc)}") from None

    # -- reading (the interface the queries use on either store) ----------------------------

    def node(self, node_id: str) -> Node | None:
        return self.nodes([node_id]).get(node_id)

    def nodes(self, ids: Iterable[str]) -> dict[str, Node]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = self.run(f"UNWIND $ids AS id CALL {{ {_BY_ID} }} "
                        "RETURN labels(n)[0] AS label, properties(n) AS props", ids=ids)
        return {row["props"]["id"]: _node(row) for row in rows}

    def edges(self, ids: Iterable[str], direction: str = "out",
              types: Iterable[str] | None = None) -> list[Edge]:
        ids = sorted(set(ids))
        if not ids:
            return []
        types = list(types) if types is not None else list(ENDPOINTS)
        patterns = {"out": ["(n)-[r]->(m)"], "in": ["(n)<-[r]-(m)"],
                    "both": ["(n)-[r]->(m)", "(n)<-[r]-(m)"]}[direction]
        found: dict[tuple[str, str, str, str], Edge] = {}
        for pattern in patterns:
            rows = self.run(
                f"UNWIND $ids AS id CALL {{ {_BY_ID} }} "
                f"WITH DISTINCT n MATCH {pattern} WHERE type(r) IN $types "
                "RETURN type(r) AS type, startNode(r).id AS source, endNode(r).id AS target, "
                "properties(r) AS props", ids=ids, types=types)
            for row in rows:
                edge = Edge(row["type"], row["source"], row["target"], row["props"])
                found[edge.identity] = edge
        return [found[key] for key in sorted(found)]

    def step(self, ids: Iterable[str], direction: str, types: Iterable[str]
             ) -> list[tuple[Edge, Node]]:
        """One hop of a search, in one statement: the relationships of `types` leaving (`out`)
        or entering (`in`) the given nodes, each with the node at its other end."""
        ids = sorted(set(ids))
        if not ids:
            return []
        pattern = "(n)-[r]->(m)" if direction == "out" else "(n)<-[r]-(m)"
        rows = self.run(
            f"UNWIND $ids AS id CALL {{ {_BY_ID} }} "
            f"WITH DISTINCT n MATCH {pattern} WHERE type(r) IN $types "
            "RETURN type(r) AS type, startNode(r).id AS source, endNode(r).id AS target, "
            "properties(r) AS rprops, labels(m)[0] AS label, properties(m) AS props",
            ids=ids, types=list(types))
        return [(Edge(row["type"], row["source"], row["target"], row["rprops"]), _node(row))
                for row in rows]

    def versions(self, path: str) -> list[Node]:
        rows = self.run("MATCH (n:Entity {project: $project, path: $path}) "
                        "RETURN 'Entity' AS label, properties(n) AS props ORDER BY n.version",
                        path=path)
        return [_node(row) for row in rows]

    def entity(self, path: str, version: int | None = None) -> Node | None:
        rows = self.run(
            "MATCH (n:Entity {project: $project, path: $path}) "
            "WHERE $version IS NULL OR n.version = $version "
            "RETURN 'Entity' AS label, properties(n) AS props ORDER BY n.version DESC LIMIT 1",
            path=path, version=version)
        return _node(rows[0]) if rows else None

    def named(self, name: str, label: str | None = None) -> list[Node]:
        found = []
        for each in ([label] if label else LABELS):
            if each not in LABELS:
                return []
            rows = self.run(f"MATCH (n:{each} {{project: $project, name: $name}}) "
                            f"WHERE {_PRIMARY.format(label=each)} "
                            f"RETURN '{each}' AS label, properties(n) AS props", name=name)
            found += [_node(row) for row in rows]
        return sorted(found, key=lambda n: n.id)

    def activities(self, limit: int | None = None, offset: int = 0) -> list[Node]:
        rows = self.run(
            "MATCH (n:Activity {project: $project}) RETURN 'Activity' AS label, "
            "properties(n) AS props ORDER BY n.ended DESC, n.id DESC SKIP $offset LIMIT $limit",
            offset=offset, limit=limit if limit is not None else 2**62)
        return [_node(row) for row in rows]

    def all_nodes(self) -> list[Node]:
        nodes = []
        for label in LABELS:
            rows = self.run(f"MATCH (n:{label} {{project: $project}}) "
                            f"WHERE {_PRIMARY.format(label=label)} "
                            f"RETURN '{label}' AS label, properties(n) AS props")
            nodes += [_node(row) for row in rows]
        return sorted(nodes, key=lambda n: (n.label, n.id))

    def all_edges(self) -> list[Edge]:
        edges = []
        for kind, (source, _target) in ENDPOINTS.items():
            rows = self.run(f"MATCH (a:{source} {{project: $project}})-[r:{kind}]->(b) "
                            "RETURN a.id AS source, b.id AS target, properties(r) AS props")
            edges += [Edge(kind, row["source"], row["target"], row["props"]) for row in rows]
        return sorted(edges, key=lambda e: e.identity)

    def counts(self) -> dict[str, int]:
        counts = {}
        for label in LABELS:
            counts[label] = self.run(f"MATCH (n:{label} {{project: $project}}) "
                                     f"WHERE {_PRIMARY.format(label=label)} "
                                     "RETURN count(n) AS n")[0]["n"]
        counts["edges"] = sum(
            self.run(f"MATCH (a:{source} {{project: $project}})-[r:{kind}]->() "
                     "RETURN count(r) AS n")[0]["n"]
            for kind, (source, _target) in ENDPOINTS.items())
        return counts


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _node(row: dict[str, Any]) -> Node:
    props = dict(row["props"])
    node_id = props.pop("id")
    kinds = props.get("labels")
    label = kinds[0] if isinstance(kinds, list) and kinds and kinds[0] in LABELS else row["label"]
    return Node(node_id, label, props)


def _also(node: Node) -> tuple[str, ...]:
    """The labels of a node's other PROV kinds (its `labels` property), from LABELS only."""
    kinds = node.properties.get("labels")
    if not isinstance(kinds, list):
        return ()
    return tuple(sorted({kind for kind in kinds if kind in LABELS} - {node.label}))


def _plain(value: Any) -> Any:
    """Nodes, relationships and paths as plain data a table or JSON can show."""
    from neo4j.graph import Node as GraphNode
    from neo4j.graph import Path, Relationship

    if isinstance(value, GraphNode):
        return {"labels": sorted(value.labels), **dict(value)}
    if isinstance(value, Relationship):
        return {"type": value.type, **dict(value)}
    if isinstance(value, Path):
        return [_plain(node) for node in value.nodes]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "iso_format"):  # neo4j.time types
        return value.iso_format()
    return value


def _reason(exc: BaseException) -> str:
    from neo4j.exceptions import AuthError, ServiceUnavailable

    if isinstance(exc, ServiceUnavailable):
        return "cannot connect (is the server running and the URI right?)"
    if isinstance(exc, AuthError):
        return "authentication failed (check neo4j.user and the password)"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.splitlines()[0].rstrip(":")
