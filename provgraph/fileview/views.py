"""View definitions live in the journal, so they travel with `prov push` / `prov pull`.

Two kinds of journal record speak of views:

- `{"kind": "view", "action": "define", "view": DEFINITION, ...}` defines (or redefines) a
  virtual view; `{"kind": "view", "action": "drop", "name": NAME, ...}` drops one. These
  records hold no snapshots and make no nodes: the replay skips them.
- a materialization is an ordinary capture record (an activity with before and after
  snapshots, replayed like any other) that also carries `"fileview": {"view": DEFINITION,
  "inputs": {path: oid}, "output": oid, "rows": N}`: the definition it evaluated, the git
  objects of the input versions it read and of the file it wrote.

A view's state is the latest of these records by the time it ended (ties broken by id, as the
replay orders records), whichever clone wrote it; `View.chain` says which clone's journal
chain holds that record, `View.own` the digests of the definitions this clone wrote itself
(a definition from another clone runs only once accepted: `provgraph.fileview.trust`).
DEFINITION is a dict:

    {"name": "results.csv",            # the output's repository path (the view's name)
     "kind": "sql" | "script",
     "query": "select ... {t.csv} ...", "dialect": "duckdb",        # kind sql
     "header": true | false | null,    # header default for CSV inputs (null: detect)
     "script": "sort | uniq -c", "stdin": ["words.txt"],            # kind script
     "inputs": ["t.csv", ...],         # every input, repository paths
     "cwd": ".",                       # folder (from the root) the paths were written in
     "format": "csv"}                  # output format

What was read is cached in `.git/prov/fileview/views.json` with the journal tips it covers,
so only new records are read.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from provgraph import gitio
from provgraph.errors import NotFound
from provgraph.journal.records import Journal
from provgraph.repo import Repository

CACHE_VERSION = 2  # 2: events carry the chain (clone) that wrote them


@dataclass
class Materialization:
    """One recorded evaluation of a view into its file."""

    activity: str
    ended: str
    inputs: dict[str, str | None]  # input path -> git object read (None: not in the snapshot)
    output: str | None  # git object written (None: not in the snapshot, e.g. .gitignored)
    definition: dict[str, Any]
    agent: str = ""
    rows: int | None = None


@dataclass
class View:
    name: str
    definition: dict[str, Any]
    materialized: bool  # the latest record made the file (else: a virtual definition)
    defined: str  # when the latest record ended
    agent: str = ""
    last: Materialization | None = None  # the latest materialization, of any definition
    outputs: set[str] = field(default_factory=set)  # every object a materialization wrote
    chain: str = ""  # the clone whose journal chain holds the latest record (its author)
    own: set[str] = field(default_factory=set)  # digests of definitions this clone wrote

    @property
    def kind(self) -> str:
        return self.definition.get("kind", "sql")

    @property
    def inputs(self) -> list[str]:
        return list(self.definition.get("inputs", []))


def digest(definition: dict[str, Any]) -> str:
    """The SHA-256 of a definition, canonical JSON: the same definition, the same digest."""
    import hashlib

    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def definition_of(record: dict[str, Any]) -> dict[str, Any] | None:
    view = record.get("fileview", {}).get("view") if "fileview" in record else None
    return view if isinstance(view, dict) else None


def _events(record: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, slot, event) pairs a journal record contributes; slot `state` or `made`."""
    key = [record.get("ended") or record.get("started") or "", record.get("id", "")]
    agent = (record.get("agent") or {}).get("name", "")
    if record.get("kind") == "view":
        if record.get("action") == "define" and isinstance(record.get("view"), dict):
            view = record["view"]
            return [(view["name"], "state", {"key": key, "definition": view,
                                             "materialized": False, "agent": agent})]
        if record.get("action") == "drop" and record.get("name"):
            return [(record["name"], "state", {"key": key, "dropped": True, "agent": agent})]
        return []
    view = definition_of(record)
    if view is None:
        return []
    info = record["fileview"]
    # a view whose `prov` was killed after it wrote its file is recorded, by the next `prov`,
    # as interrupted, with the file it wrote
    written = record.get("status") == "interrupted" and info.get("output")
    if not (record.get("status") == "ok" or written):
        return []
    made = {"key": key, "activity": record["id"], "ended": key[0], "definition": view,
            "inputs": info.get("inputs", {}), "output": info.get("output"),
            "rows": info.get("rows"), "agent": agent}
    return [(view["name"], "state", {"key": key, "definition": view, "materialized": True,
                                     "agent": agent}),
            (view["name"], "made", made)]


def _cache_path(repo: Repository) -> str:
    return repo.prov_path("fileview/views.json")


def _read_cache(repo: Repository) -> dict[str, Any]:
    """What was read of the journal; nothing when there is no cache, or it is damaged (it is
    derived: the journal is read again)."""
    from provgraph import state

    cache = state.read_json(_cache_path(repo))
    if (isinstance(cache, dict) and cache.get("version") == CACHE_VERSION
            and state.dict_of(cache.get("tips"), str, str)
            and state.dict_of(cache.get("views"), str, dict)
            and all(_sound_slots(slots) for slots in cache["views"].values())):
        return cache
    return {"version": CACHE_VERSION, "tips": {}, "views": {}}


def _sound_slots(slots: dict[str, Any]) -> bool:
    """Whether a cached view's slots have the shape `_scan` writes and `load` reads."""
    from provgraph import state

    def event(value: Any, *keys: str) -> bool:
        return (isinstance(value, dict) and state.list_of(value.get("key"), str)
                and len(value["key"]) == 2 and all(k in value for k in keys)
                and isinstance(value.get("definition", {}), dict))

    made = slots.get("made")
    return (("state" not in slots or event(slots["state"]))
            and (made is None or (event(made, "activity", "ended", "inputs", "definition")
                                  and isinstance(made["definition"], dict)))
            and state.list_of(slots.get("outputs", []), str)
            and state.list_of(slots.get("own", []), str))


def _scan(repo: Repository) -> dict[str, Any]:
    """Every view's latest state and materialization, caught up with the journal."""
    repo.ensure_prov_dir()
    journal = Journal(repo)
    tips = journal.tips()
    cache = _read_cache(repo)
    if cache["tips"] == tips:
        return cache["views"]
    try:
        entries = list(journal.entries(cache["tips"], tips))
    except gitio.GitError:  # a chain we had read is gone: read everything again
        cache = {"version": CACHE_VERSION, "tips": {}, "views": {}}
        entries = list(journal.entries({}, tips))
    views = cache["views"]
    for entry in entries:
        for name, slot, event in _events(entry.record):
            event["chain"] = entry.chain
            slots = views.setdefault(name, {})
            if entry.chain == repo.clone_id and event.get("definition"):
                own = slots.setdefault("own", [])
                if (found := digest(event["definition"])) not in own:
                    own.append(found)
            if slot == "made":
                slots.setdefault("outputs", [])
                if event.get("output") and event["output"] not in slots["outputs"]:
                    slots["outputs"].append(event["output"])
            if slot not in slots or list(slots[slot]["key"]) < event["key"]:
                slots[slot] = event
    cache = {"version": CACHE_VERSION, "tips": tips, "views": views}
    os.makedirs(os.path.dirname(_cache_path(repo)), exist_ok=True)
    gitio.write_file_atomic(_cache_path(repo), json.dumps(cache).encode(), durable=False)
    return views


def load(repo: Repository, include_dropped: bool = False) -> dict[str, View]:
    """The views of this repository by name (the latest record of each, from every clone)."""
    found = {}
    for name, slots in sorted(_scan(repo).items()):
        state = slots.get("state")
        if not state or (state.get("dropped") and not include_dropped):
            continue
        made = slots.get("made")
        last = None
        if made:
            last = Materialization(made["activity"], made["ended"], made["inputs"],
                                   made.get("output"), made["definition"], made.get("agent", ""),
                                   made.get("rows"))
        definition = state.get("definition") or (made or {}).get("definition") or {}
        found[name] = View(name, definition, bool(state.get("materialized")), state["key"][0],
                           state.get("agent", ""), last, set(slots.get("outputs", [])),
                           state.get("chain", ""), set(slots.get("own", [])))
    return found


def get(repo: Repository, name: str) -> View:
    views = load(repo)
    if name not in views:
        known = ", ".join(sorted(views)) or "none yet"
        raise NotFound(f"no view named {name} (views: {known})")
    return views[name]


def append_definition(repo: Repository, definition: dict[str, Any], agent: dict[str, str],
                      command: str) -> str:
    return _append(repo, {"action": "define", "view": definition, "command": command}, agent)


def append_drop(repo: Repository, name: str, agent: dict[str, str], command: str) -> str:
    return _append(repo, {"action": "drop", "name": name, "command": command}, agent)


def _append(repo: Repository, fields: dict[str, Any], agent: dict[str, str]) -> str:
    from provgraph.timestamps import now

    stamp = now()
    return Journal(repo).append({"kind": "view", "id": "view-" + os.urandom(8).hex(),
                                 "project": repo.project, "agent": agent, "started": stamp,
                                 "ended": stamp, **fields})


def command_line(definition: dict[str, Any], materialize: bool = True) -> str:
    """The `prov fileview` command that defines (and with `-c` materializes) a view, paths
    relative to the folder it was defined in: how its activity reads in `prov log`."""
    cwd = definition.get("cwd", ".")
    argv = ["prov", "fileview"] + (["-c"] if materialize else [])
    argv += ["-n", _relative(definition["name"], cwd)]
    if definition.get("kind") == "script":
        argv += ["-s", definition["script"]]
        for path in definition.get("stdin", []):
            argv += ["-i", _relative(path, cwd)]
    else:
        argv += ["-q", definition["query"]]
        if definition.get("dialect", "duckdb") != "duckdb":
            argv += ["--dialect", definition["dialect"]]
        if definition.get("header") is not None:
            argv.append("--header" if definition["header"] else "--no-header")
    if definition.get("format_given"):
        argv += ["--format", definition["format"]]
    return shlex.join(argv)


def _relative(path: str, cwd: str) -> str:
    return os.path.relpath(path, cwd) if cwd not in ("", ".") else path
