"""The shape of journal records: what every reader may rely on, checked before anything reads it.

A record pulled from another clone was written by whoever controls that clone: any JSON, any
ids, any times, any paths. Readers (the indexer, the replay, the file views, metrics, export,
sync) were written for the records provgraph writes, so each record is checked here first, by
plain type checks, against the kinds provgraph writes today:

- a capture (no `kind`): `prov CMD`, an interrupted capture recorded by the next `prov`, a
  file-view materialization (which also carries `fileview`), a `git commit` under prov;
- `kind: "graph"`: provenance imported from a PROV document (`Journal.append_graph`);
- `kind: "view"`: a file view defined or dropped (`provgraph.fileview.views`);
- `kind: "annotation"`: a note, tags or values given to nodes (`provgraph.journal.annotations`),
  which must prove its id (`nonce`) and name the clone whose chain holds it (`clone`, checked
  against the chain by the quarantine).
- `kind: "plan"`: a template (`provgraph.templates`), replayed as a `prov:Plan` entity.

`problem(record, hexlen)` names the first thing wrong, in a few words, or returns None. A
record with a problem is quarantined (`provgraph.journal.quarantine`): no reader ever sees it.
Fields this provgraph does not know are tolerated (a later provgraph may add some), except where
they
would change what a reader does (an ingestor's annotation that would rename a file's version).
A record of an unknown `kind`, or of a later `format`, is not this provgraph's to judge:
`readable` says to skip it, without quarantine.

Paths in records are *repository paths*: relative to the work tree's top, normalised, never
leaving it (`..`, a leading `/`), never inside `.git/` (nor, for the files a view reads and
writes, inside a nested `.git/`). Object ids are lowercase hex of the
repository's hash length. Times are ISO-8601 as provgraph writes them
(`2026-01-02T03:04:05.123456+00:00`). Property values are what the graph can hold once
flattened: strings, booleans, 64-bit integers, floats, lists and objects of those, nested at
most `MAX_DEPTH` deep.
"""

from __future__ import annotations

import re
from typing import Any

from provgraph.model import EDGE_TYPES, LABELS

FORMAT = 2  # the journal format this provgraph writes and reads (provgraph.journal.records.FORMAT)
KNOWN_KINDS = (None, "graph", "view", "annotation", "plan")
MAX_DEPTH = 32
INT64 = (-(2**63), 2**63 - 1)

ACTIVITY_ID = re.compile(r"act-[0-9a-f]{16}\Z")
GRAPH_ID = re.compile(r"imp-[0-9a-f]{16}\Z")
VIEW_ID = re.compile(r"view-[0-9a-f]{16}\Z")
ANNOTATION_ID = re.compile(r"ann-[0-9a-f]{16}\Z")
PLAN_ID = re.compile(r"plan-[0-9a-f]{16}\Z")
NONCE = re.compile(r"[0-9a-f]{16,64}\Z")
CLONE_ID = re.compile(r"[0-9a-f]{8,64}\Z")
SHA256 = re.compile(r"[0-9a-f]{64}\Z")
PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")
NOT_IRI = re.compile(r"[\s<>\"{}|\\^`\x00-\x1f]")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?\Z")

#: Properties the replay gives a file's version; an ingestor's annotation may not replace them.
ENTITY_CORE = frozenset({"id", "name", "project", "path", "version", "digest", "size", "large",
                         "ignored", "overwritten"})


class Invalid(Exception):
    """What is wrong with a record, in a few words (the quarantine's reason)."""


def readable(record: Any) -> bool:
    """Whether this provgraph reads the record at all: a kind or format it does not know is a
    later provgraph's, skipped (not quarantined) so that an upgrade can still read it."""
    if not isinstance(record, dict):
        return True  # judged (and quarantined) by `problem`
    fmt = record.get("format", FORMAT)
    if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT:
        return False
    kind = record.get("kind")
    return not isinstance(kind, str) or kind in KNOWN_KINDS


def problem(record: Any, hexlen: int, texts: bool = True) -> str | None:
    """The first thing wrong with `record` (a parsed `record.json`), or None if it is sound.

    `texts=False` skips looking for lone surrogates in every string: the caller knows there
    can be none (`may_hold_surrogates` of the text the record was parsed from), which spares
    an imported graph of 10^5 nodes a million checks."""
    global _CHECK_TEXTS
    _CHECK_TEXTS = texts
    try:
        _record(record, hexlen)
    except Invalid as exc:
        return str(exc)
    finally:
        _CHECK_TEXTS = True
    return None


_CHECK_TEXTS = True  # set by `problem` for the one check it runs (readers are one thread)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def may_hold_surrogates(data: bytes) -> bool:
    """Whether JSON text may parse into a string with a lone surrogate: only a `\\udXXX`
    escape makes one (a UTF-8 decoder refuses them as bytes)."""
    return _SURROGATE_ESCAPE.search(data) is not None


def _record(record: Any, hexlen: int) -> None:
    if not isinstance(record, dict):
        raise Invalid(f"record.json holds a JSON {_json_type(record)}, not an object")
    fmt = record.get("format", FORMAT)
    if not _is_int(fmt) or fmt < 1:
        raise Invalid(f"format {shown(fmt)} is not a journal format number")
    kind = record.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise Invalid(f"kind {shown(kind)} is not a string")
    if not readable(record):
        return  # a later provgraph's: not ours to judge
    if "id" not in record:
        raise Invalid("the record has no id")
    pattern = {None: ACTIVITY_ID, "graph": GRAPH_ID, "view": VIEW_ID,
               "annotation": ANNOTATION_ID, "plan": PLAN_ID}[kind]
    if not isinstance(record["id"], str) or not pattern.match(record["id"]):
        example = {None: "act-", "graph": "imp-", "view": "view-", "annotation": "ann-",
                   "plan": "plan-"}[kind]
        raise Invalid(f"id {shown(record['id'])} is not {example}<16 hex digits>")
    for key in ("started", "ended"):
        _time(record, key, required=True)
    for key in ("before_at", "after_at"):
        _time(record, key)
    _optional(record, "nonce", lambda v: isinstance(v, str) and NONCE.match(v),
              "16 to 64 hex digits")
    for key in ("project", "command", "source"):
        _optional(record, key, lambda v: isinstance(v, str), "a string")
    _optional(record, "message", lambda v: v is None or isinstance(v, str), "a string")
    _agent(record.get("agent"))
    if kind is None:
        _capture(record, hexlen)
    elif kind == "graph":
        _graph(record)
    elif kind == "annotation":
        _annotation(record)
    elif kind == "plan":
        _plan(record)
    else:
        _view_record(record)


def _annotation(record: dict[str, Any]) -> None:
    from provgraph.journal.annotations import problem

    if "nonce" not in record:
        raise Invalid("the annotation has no nonce to prove its id")
    if not (isinstance(record.get("clone"), str) and CLONE_ID.match(record["clone"])):
        raise Invalid(f"clone {shown(record.get('clone'))} is not a clone id")
    reason = problem(record)
    if reason is not None:
        raise Invalid(reason)
    for key in ("targets", "note", "tag", "untag", "set", "unset"):
        if key in record:  # no lone surrogate: the index could not write the batch
            _value(record[key], f"annotation {key}", 1)


# -- captures ----------------------------------------------------------------------------------


def _capture(record: dict[str, Any], hexlen: int) -> None:
    for key in ("before", "after"):
        if key not in record:
            raise Invalid(f"the capture has no {key} snapshot")
        _oid(record[key], key, hexlen)
    if record.get("prev") is not None:
        _oid(record["prev"], "prev", hexlen)
    if record.get("format", 1) >= 2 or "diff" in record:
        _diff(record, hexlen)
    cwd = record.get("cwd", ".")
    if cwd != ".":
        _path(cwd, "cwd")
    _optional(record, "shell", lambda v: isinstance(v, bool), "true or false")
    for key in ("exit_code", "signal"):
        _optional(record, key, lambda v: v is None or _is_int(v), "an integer")
    _optional(record, "status", lambda v: v is None or isinstance(v, str), "a string")
    activity = record.get("activity", {})
    if not isinstance(activity, dict):
        raise Invalid(f"activity is a JSON {_json_type(activity)}, not an object")
    _properties(activity, "activity")
    used = record.get("used", [])
    if not isinstance(used, list):
        raise Invalid(f"used is a JSON {_json_type(used)}, not a list")
    for item in used:
        _used(item, hexlen)
    for key in ("named", "concurrent_changes"):
        _paths(record.get(key, []), key)
    _entities(record.get("entities", {}))
    _large(record.get("large", {}), hexlen)
    _ignored(record.get("ignored", {}), hexlen)
    if "trace" in record:
        _trace(record["trace"])
    if "fileview" in record:
        _fileview(record["fileview"], hexlen)


MODE = re.compile(r"[0-7]{1,6}\Z")


def _diff(record: dict[str, Any], hexlen: int) -> None:
    """A format 2 capture says what its snapshots hold (`provgraph.journal.changes`): the
    replay trusts it as it trusted `git diff-tree`, so it is checked as strictly."""
    diff = record.get("diff")
    if not isinstance(diff, dict):
        raise Invalid(f"diff is a JSON {_json_type(diff)}, not an object")
    for key in ("external", "made"):
        changes = diff.get(key, [])
        if not isinstance(changes, list):
            raise Invalid(f"diff {key} is a JSON {_json_type(changes)}, not a list")
        for change in changes:
            if not (isinstance(change, list) and len(change) == 6):
                raise Invalid(f"a diff {key} change is {shown(change)}, not six fields")
            path, status, old, new, old_mode, new_mode = change
            _path(path, f"diff {key} path")
            if status not in ("A", "D", "M", "T") or (old is None and new is None):
                raise Invalid(f"diff {key} change of {shown(path)} is not a change")
            for oid in (old, new):
                if oid is not None:
                    _oid(oid, f"diff {key} oid", hexlen)
            for mode in (old_mode, new_mode):
                if not (isinstance(mode, str) and MODE.match(mode)):
                    raise Invalid(f"diff {key} mode {shown(mode)} is not a file mode")
    used = diff.get("used", [])
    if not isinstance(used, list) or len(used) != len(record.get("used", [])):
        raise Invalid("diff used does not match the used files")
    for oid in used:
        if oid is not None:
            _oid(oid, "diff used oid", hexlen)
    regenerated = diff.get("regenerated", [])
    if not isinstance(regenerated, list):
        raise Invalid(f"diff regenerated is a JSON {_json_type(regenerated)}, not a list")
    for item in regenerated:
        if not (isinstance(item, list) and len(item) == 2):
            raise Invalid(f"a diff regenerated item is {shown(item)}, not [path, oid]")
        _path(item[0], "diff regenerated path")
        _oid(item[1], "diff regenerated oid", hexlen)
    sizes = diff.get("sizes", {})
    if not isinstance(sizes, dict):
        raise Invalid(f"diff sizes is a JSON {_json_type(sizes)}, not an object")
    for oid, size in sizes.items():
        _oid(oid, "diff sizes oid", hexlen)
        if not (_is_int(size) and 0 <= size <= INT64[1]):
            raise Invalid(f"diff size {shown(size)} is not a size")


def _used(item: Any, hexlen: int) -> None:
    if not isinstance(item, dict):
        raise Invalid(f"a used file is a JSON {_json_type(item)}, not an object")
    if "path" not in item:
        raise Invalid("a used file has no path")
    _path(item["path"], "used path")
    _optional(item, "role", lambda v: isinstance(v, str), "a string", "used role")
    if item.get("oid") is not None:
        _oid(item["oid"], "used oid", hexlen)
    _optional(item, "ignored", lambda v: isinstance(v, bool), "true or false", "used ignored")
    if item.get("ignored"):
        _version(item, hexlen, f"used file {item['path']!r}")


def _entities(entities: Any) -> None:
    if not isinstance(entities, dict):
        raise Invalid(f"entities is a JSON {_json_type(entities)}, not an object")
    for path, props in entities.items():
        _path(path, "entities path")
        if not isinstance(props, dict):
            raise Invalid(f"the annotation of {path!r} is not an object")
        core = sorted(ENTITY_CORE.intersection(props))
        if core:
            raise Invalid(f"the annotation of {path!r} would replace its {core[0]!r}")
        _properties(props, f"the annotation of {path!r}")


def _large(large: Any, hexlen: int) -> None:
    if not isinstance(large, dict):
        raise Invalid(f"large is a JSON {_json_type(large)}, not an object")
    for path, info in large.items():
        _path(path, "large path")
        if not isinstance(info, dict):
            raise Invalid(f"large file {path!r} is not described by an object")
        if not (isinstance(info.get("sha256"), str) and SHA256.match(info["sha256"])):
            raise Invalid(f"large file {path!r} has no SHA-256")
        if not (_is_int(info.get("size")) and info["size"] >= 0):
            raise Invalid(f"large file {path!r} has no size")
        _oid(info.get("pointer"), f"large file {path!r} pointer", hexlen)


def _ignored(ignored: Any, hexlen: int) -> None:
    if not isinstance(ignored, dict):
        raise Invalid(f"ignored is a JSON {_json_type(ignored)}, not an object")
    for path, version in ignored.items():
        _path(path, "ignored path")
        if not isinstance(version, dict):
            raise Invalid(f"ignored file {path!r} is not described by an object")
        _version(version, hexlen, f"ignored file {path!r}")


def _version(version: dict[str, Any], hexlen: int, what: str) -> None:
    """A git-ignored file's version: its blob, or its SHA-256 (how the replay names it)."""
    if version.get("oid") is not None:
        _oid(version["oid"], f"{what} oid", hexlen)
    elif not (isinstance(version.get("sha256"), str) and SHA256.match(version["sha256"])):
        raise Invalid(f"{what} has neither a blob nor a SHA-256")
    if version.get("size") is not None and not (_is_int(version["size"]) and version["size"] >= 0):
        raise Invalid(f"{what} has a size that is not a number of bytes")


def _trace(trace: Any) -> None:
    if not isinstance(trace, dict):
        raise Invalid(f"trace is a JSON {_json_type(trace)}, not an object")
    _optional(trace, "mechanism", lambda v: isinstance(v, str), "a string", "trace mechanism")
    _optional(trace, "complete", lambda v: isinstance(v, bool), "true or false",
              "trace complete")
    written = trace.get("written", {})
    if not isinstance(written, dict):
        raise Invalid("trace written is not an object")
    for path, whole in written.items():
        _path(path, "trace written path")
        if not isinstance(whole, bool):
            raise Invalid(f"trace written {path!r} is not true or false")
    for key in ("deleted", "overwritten"):
        _paths(trace.get(key, []), f"trace {key}")
    last = trace.get("last_write", {})
    if not isinstance(last, dict):
        raise Invalid("trace last_write is not an object")
    for path, when in last.items():
        _path(path, "trace last_write path")
        if not (isinstance(when, str) and TIME.match(when)):
            raise Invalid(f"trace last_write {path!r} is {shown(when)}, not an ISO-8601 time")
    if "processes" in trace:
        _value(trace["processes"], "trace processes", 0)


# -- templates ------------------------------------------------------------------------------


def _plan(record: dict[str, Any]) -> None:
    """A template: what `provgraph.templates` reads of it, and plain values in its params."""
    if not isinstance(record.get("name"), str) or not record["name"]:
        raise Invalid("the plan has no name")
    _optional(record, "version", _is_int, "an integer")
    if not isinstance(record.get("source"), str):
        raise Invalid("the plan names no source run")
    plan = record.get("plan")
    if not isinstance(plan, dict):
        raise Invalid("the plan's plan is not an object")
    argv = plan.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(w, str) for w in argv):
        raise Invalid("the plan's argv is not a list of words")
    params = plan.get("params")
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise Invalid("the plan's params are not a list of objects")
    for param in params:
        _properties(param, "a plan parameter")
        if not isinstance(param.get("key"), str) or not isinstance(param.get("spec"), str):
            raise Invalid("a plan parameter has no key or spec")
        at = param.get("at")
        if at is not None and not (_is_int(at) and 0 < at < len(argv)):
            raise Invalid(f"a plan parameter's word {shown(at)} is not in its argv")
        if param.get("kind") == "config":
            _path(param.get("file"), "a plan parameter's file", strict=True)


# -- file views --------------------------------------------------------------------------------


def _fileview(info: Any, hexlen: int) -> None:
    if not isinstance(info, dict):
        raise Invalid(f"fileview is a JSON {_json_type(info)}, not an object")
    _definition(info.get("view"))
    inputs = info.get("inputs", {})
    if not isinstance(inputs, dict):
        raise Invalid("fileview inputs is not an object")
    for path, oid in inputs.items():
        _path(path, "fileview input", strict=True)
        if oid is not None:
            _oid(oid, f"fileview input {path!r}", hexlen)
    if info.get("output") is not None:
        _oid(info["output"], "fileview output", hexlen)
    _optional(info, "rows", lambda v: v is None or _is_int(v), "an integer", "fileview rows")


def _view_record(record: dict[str, Any]) -> None:
    action = record.get("action")
    if action == "define":
        _definition(record.get("view"))
    elif action == "drop":
        _path(record.get("name"), "dropped view name", strict=True)
    else:
        raise Invalid(f"view action {shown(action)} is neither define nor drop")


def _definition(view: Any) -> None:
    """A view's definition: its name and inputs are paths a refresh writes and reads."""
    if not isinstance(view, dict):
        raise Invalid("the view definition is not an object")
    _path(view.get("name"), "view name", strict=True)
    kind = view.get("kind", "sql")
    if kind not in ("sql", "script"):
        raise Invalid(f"view kind {shown(kind)} is neither sql nor script")
    text = "query" if kind == "sql" else "script"
    if not isinstance(view.get(text), str):
        raise Invalid(f"the {kind} view has no {text}")
    _paths(view.get("inputs", []), "view input", strict=True)
    _paths(view.get("stdin", []), "view stdin", strict=True)
    cwd = view.get("cwd", ".")
    if cwd != ".":
        _path(cwd, "view cwd", strict=True)
    for key in ("dialect", "format"):
        _optional(view, key, lambda v: v is None or isinstance(v, str), "a string", f"view {key}")
    _optional(view, "header", lambda v: v is None or isinstance(v, bool), "true, false or null",
              "view header")


# -- imported graphs ---------------------------------------------------------------------------


def _graph(record: dict[str, Any]) -> None:
    """Nodes `{id, label, properties}` and edges `{type, source, target, properties}`, taken
    into the graph as they are: checked at C speed where possible (a record may hold 50,000
    elements), the slow checks run only to name what is wrong."""
    nodes, edges = record.get("nodes", []), record.get("edges", [])
    if type(nodes) is not list or type(edges) is not list:
        raise Invalid("an imported graph's nodes and edges are not lists")
    _optional(record, "namespaces", _namespaces, "an object of prefixes and namespace URIs")
    for node in nodes:
        if type(node) is not dict:
            raise Invalid(f"a graph node is a JSON {_json_type(node)}, not an object")
        node_id = node.get("id")
        if type(node_id) is not str or not node_id or len(node_id) > 4096 or _CHECK_TEXTS:
            _name(node_id, "a graph node id")
        if node.get("label") not in LABELS:
            raise Invalid(f"graph node {node_id!r} is labelled {shown(node.get('label'))}, "
                          "not Entity, Activity or Agent")
        props = node.get("properties", {})
        if type(props) is not dict or not _plain(props):
            _graph_properties(props, f"graph node {node_id!r}")
    for edge in edges:
        if type(edge) is not dict:
            raise Invalid(f"a graph edge is a JSON {_json_type(edge)}, not an object")
        if edge.get("type") not in EDGE_TYPES:
            raise Invalid(f"graph edge type {shown(edge.get('type'))} is not one of the five "
                          "PROV relations")
        for end in ("source", "target"):
            value = edge.get(end)
            if type(value) is not str or not value or len(value) > 4096 or _CHECK_TEXTS:
                _name(value, f"a graph edge {end}")
        props = edge.get("properties", {})
        if type(props) is not dict or not _plain(props):
            _graph_properties(props, f"graph edge {edge['type']} from {edge['source']!r}")


def _namespaces(value: Any) -> bool:
    """The prefixes of an imported graph's names (`provgraph.interchange.export.Names`): a PROV-N
    prefix name for an IRI without spaces or angle brackets."""
    return isinstance(value, dict) and all(
        isinstance(prefix, str) and PREFIX.match(prefix) and isinstance(uri, str)
        and 0 < len(uri) <= 4096 and not NOT_IRI.search(uri) for prefix, uri in value.items())


def _plain(props: dict[str, Any]) -> bool:
    """Whether every property is a scalar, or a list of scalars, the graph holds as it is
    (the common case)."""
    if _CHECK_TEXTS:
        return False
    for key, value in props.items():
        if not key:
            return False
        kind = type(value)
        if kind is list:
            if not all(_scalar(item) for item in value):
                return False
        elif not _scalar(value):
            return False
    return True


def _scalar(value: Any) -> bool:
    kind = type(value)
    return (kind is str or kind is float or kind is bool or value is None
            or (kind is int and INT64[0] <= value <= INT64[1]))


def _graph_properties(props: Any, what: str) -> None:
    if not isinstance(props, dict):
        raise Invalid(f"the properties of {what} are not an object")
    _properties(props, what)


def _name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise Invalid(f"{what} is {shown(value)}, not a non-empty string")
    _text(value, what)


# -- values ------------------------------------------------------------------------------------


def _agent(agent: Any) -> None:
    if agent is None:
        return
    if not isinstance(agent, dict):
        raise Invalid(f"agent is a JSON {_json_type(agent)}, not an object")
    for key, value in agent.items():
        if not isinstance(value, str):
            raise Invalid(f"agent {key} is {shown(value)}, not a string")
        _text(value, f"agent {key}")


def _properties(props: dict[str, Any], what: str) -> None:
    for key, value in props.items():
        if not key:
            raise Invalid(f"{what} has a property with an empty name")
        _text(key, f"a property name of {what}")
        _value(value, f"{what} property {key!r}", 1)


def _value(value: Any, what: str, depth: int) -> None:
    """What flattening and both indexes can hold (DuckDB's JSON, Neo4j's scalars and lists)."""
    if depth > MAX_DEPTH:
        raise Invalid(f"{what} nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, float)):
        return
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise Invalid(f"{what} is an integer beyond 64 bits")
    elif isinstance(value, str):
        _text(value, what)
    elif isinstance(value, list):
        for item in value:
            _value(item, what, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _text(key, what)
            _value(item, what, depth + 1)
    else:  # pragma: no cover - json.loads makes nothing else
        raise Invalid(f"{what} is not a JSON value")


def _text(value: str, what: str) -> None:
    """Lone surrogates (`"\\ud800"` is valid JSON) cannot be written as UTF-8: the index
    would refuse the whole batch."""
    if not _CHECK_TEXTS:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{what} is not valid Unicode text") from None


def _time(record: dict[str, Any], key: str, required: bool = False) -> None:
    if key not in record:
        if required:
            raise Invalid(f"the record has no {key} time")
        return
    value = record[key]
    if not (isinstance(value, str) and TIME.match(value) and _valid_time(value)):
        raise Invalid(f"{key} is {shown(value)}, not an ISO-8601 time")


def _valid_time(value: str) -> bool:
    from datetime import datetime

    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _oid(value: Any, what: str, hexlen: int) -> None:
    if not (isinstance(value, str) and len(value) == hexlen and _is_hex(value)):
        raise Invalid(f"{what} is {shown(value)}, not a git object id")


def _is_hex(value: str) -> bool:
    return all(c in "0123456789abcdef" for c in value)


def path_problem(path: Any, strict: bool = False) -> str | None:
    """Why `path` is not a repository path, or None: the rule of every path in a record.

    `.git/` at the top is git's own folder; further down (`sub/.git/index`, a nested
    repository a traced command wrote in) it is an ordinary path of this work tree, except
    where a path is read or written on another clone's say (`strict`: a view's files)."""
    if not isinstance(path, str) or not path:
        return "is not a path"
    parts = path.split("/")
    if path.startswith("/") or ".." in parts:
        return "leaves the repository"
    if any(part in ("", ".") for part in parts) or "\0" in path:
        return "is not a normalised repository path"
    if any(part.lower() == ".git" for part in (parts if strict else parts[:1])):
        return "is inside .git/"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def _path(path: Any, what: str, strict: bool = False) -> None:
    reason = path_problem(path, strict)
    if reason:
        raise Invalid(f"{what} {shown(path)} {reason}")


def _paths(paths: Any, what: str, strict: bool = False) -> None:
    if not isinstance(paths, list):
        raise Invalid(f"{what} is a JSON {_json_type(paths)}, not a list")
    for path in paths:
        _path(path, what, strict)


def _optional(record: dict[str, Any], key: str, check, expected: str,
              what: str | None = None) -> None:
    if key in record and not check(record[key]):
        raise Invalid(f"{what or key} is {shown(record[key])}, not {expected}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "list", str: "string", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value as the reason quotes it: short, one line, JSON-like."""
    import json

    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    if isinstance(value, str):
        text = "'" + text[1:-1].replace("\\\"", '"').replace("'", "\\'") + "'"
    return text if len(text) <= 60 else text[:57] + "..."
