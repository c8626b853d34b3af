"""`prov template`: a recorded run turned into a plan whose parameters take ranges of values.

A template is a journal record of its own, `{"kind": "plan", ...}`, replayed as a `prov:Plan`
entity (`provgraph.journal.replay`): its id is the record's (`plan-<16 hex>`, in this clone's
namespace), its properties the template's name and version, the run it came from, the command
line with placeholders and each parameter's SPEC. Defining a NAME again appends a new version;
`list` shows the latest version of each name and `show NAME` the latest (`NAME@vN` an older).

KEY, what a parameter names in the run:
- `--lr` (or `-l`): the option's value, written `--lr 0.1` or `--lr=0.1`;
- `lr`: the same as `--lr`, else `-lr`, else a Hydra-style operand `lr=0.1` (`+lr=0.1`);
- `@N`: the N-th word of the command line after the program (`python train.py 0.1`: `@2`);
- `@=VALUE`: the one word of the command line that is VALUE (an operand by its value);
- `env:NAME`: an environment variable the trials are given;
- `FILE:KEY.PATH`: a key of a YAML, JSON, TOML or .prototxt file the run read, in the version
  it read (`params.yaml:train.lr`, `solver.prototxt:base_lr`); FILE is the repository path or
  its unique tail among the files the run used.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from provgraph.errors import BadInput, NotFound
from provgraph.model import Node
from provgraph.repo import Repository
from provgraph.specs import expand, parse_assignment

KIND = "plan"
PLAN_ID = re.compile(r"plan-[0-9a-f]{16}\Z")
_ENV = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)\Z")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")
_VERSIONED = re.compile(r"(.+)@v(\d+)\Z")


@dataclass
class Template:
    """One version of a template, as its journal record says."""

    id: str
    name: str
    version: int
    source: str  # the activity it was made from
    argv: list[str]
    cwd: str
    params: list[dict[str, Any]]
    defined: str
    agent: str = ""
    versions: int = 1  # how many versions the name has

    @property
    def command(self) -> str:
        """The command line with `{KEY}` where a parameter's value goes."""
        words = list(self.argv)
        for param in self.params:
            if "at" in param:
                words[param["at"]] = param.get("prefix", "") + "{" + param["key"] + "}"
        return shlex.join(words)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version,
                "versions": self.versions, "source": self.source, "command": self.command,
                "argv": self.argv, "cwd": self.cwd, "defined": self.defined, "agent": self.agent,
                "params": [dict(p) for p in self.params]}

    @classmethod
    def of(cls, record: dict[str, Any]) -> Template:
        plan = record["plan"]
        return cls(record["id"], record["name"], record.get("version", 1), record["source"],
                   list(plan["argv"]), plan.get("cwd", "."), [dict(p) for p in plan["params"]],
                   record.get("ended", ""), (record.get("agent") or {}).get("name", ""))


@dataclass
class Templates:
    """`prov template list`: the latest version of each name."""

    templates: list[Template] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"templates": [t.to_dict() for t in self.templates]}


def node_properties(record: dict[str, Any]) -> dict[str, Any]:
    """The Plan entity's properties (flattened by the replay)."""
    template = Template.of(record)
    return {"name": template.name, "version": template.version,
            "prov:type": "prov:Plan", "prov:type^^": "xsd:QName",
            "template": {"name": template.name, "source": template.source,
                         "command": template.command, "cwd": template.cwd,
                         "params": [p["key"] for p in template.params],
                         "spec": {p["key"]: p["spec"] for p in template.params}},
            "defined": record.get("ended")}


def all_versions(repo: Repository) -> dict[str, list[Template]]:
    """Every template record, by name, oldest first (by when it was defined, then id)."""
    from provgraph.journal.records import Journal

    found: dict[str, list[Template]] = {}
    for entry in Journal(repo).entries():
        if entry.record.get("kind") == KIND:
            template = Template.of(entry.record)
            found.setdefault(template.name, []).append(template)
    for versions in found.values():
        versions.sort(key=lambda t: (t.defined, t.version, t.id))
        for template in versions:
            template.versions = len(versions)
    return found


def listing(repo: Repository) -> Templates:
    return Templates([versions[-1] for _name, versions in sorted(all_versions(repo).items())])


def find(repo: Repository, reference: str) -> Template:
    """NAME (its latest version), NAME@vN, or a plan id."""
    every = all_versions(repo)
    if PLAN_ID.match(reference):
        for versions in every.values():
            for template in versions:
                if template.id == reference:
                    return template
        raise NotFound(f"no template has the id {reference}")
    match = _VERSIONED.match(reference)
    name, version = (match[1], int(match[2])) if match else (reference, None)
    versions = every.get(name)
    if not versions:
        known = ", ".join(sorted(every)) or "none is defined (prov template NAME --from RUN)"
        raise NotFound(f"no template {name!r} (templates: {known})")
    if version is None:
        return versions[-1]
    for template in versions:
        if template.version == version:
            return template
    raise NotFound(f"template {name!r} has no version {version} (it has "
                   f"{', '.join(f'v{t.version}' for t in versions)})")


# -- defining --------------------------------------------------------------------------------


def define(repo: Repository, store: Any, name: str, run: Node, assignments: list[str],
           agent: dict[str, str], command: str) -> Template:
    """Check every KEY against the run's record and append the plan record."""
    from provgraph.journal.records import Journal, new_id
    from provgraph.timestamps import now

    if not _NAME.match(name):
        raise BadInput(f"template name {name!r}: letters, digits, '_', '.', '-' (at most 100)")
    if not assignments:
        raise BadInput("name at least one parameter: --param KEY=SPEC")
    argv = run_argv(run)
    params: list[dict[str, Any]] = []
    for text in assignments:
        key, spec = parse_assignment(text)
        if any(p["key"] == key for p in params):
            raise BadInput(f"parameter {key} is given twice")
        param = resolve_key(repo, store, run, argv, key)
        param.update(key=key, spec=spec, values=expand(key, spec))
        params.append(param)
    taken = [p["at"] for p in params if "at" in p]
    if len(taken) != len(set(taken)):
        raise BadInput("two parameters name the same word of the command line")
    version = len(all_versions(repo).get(name, [])) + 1
    plan_id, nonce = new_id("plan", repo.clone_id)
    stamp = now()
    record = {"kind": KIND, "id": plan_id, "nonce": nonce, "project": repo.project,
              "agent": agent, "started": stamp, "ended": stamp, "command": command,
              "name": name, "version": version, "source": run.id,
              "plan": {"argv": argv, "cwd": run.properties.get("cwd") or ".", "params": params}}
    Journal(repo).append(record)
    return Template.of(record)


def run_argv(run: Node) -> list[str]:
    """The words of a recorded run, if it is one simple command that can be run again."""
    if not run.id.startswith("act-"):
        raise BadInput(f"{run.name} was imported, not run here: only a captured run can "
                       "become a template")
    from provgraph.capture.redact import REDACTED
    from provgraph.capture.shell import ShellSyntaxError, parse_pipeline

    text = run.properties.get("command") or ""
    try:
        commands = parse_pipeline(text)
    except ShellSyntaxError:
        commands = []
    if len(commands) != 1 or commands[0].redirects or not commands[0].argv:
        raise BadInput(f"{run.name} ran {text!r}: only one simple command (no pipe, list or "
                       "redirection) can become a template")
    argv = list(commands[0].argv)
    if any(REDACTED in word for word in argv):
        raise BadInput(f"{run.name}: its command line was recorded with a secret hidden "
                       f"({REDACTED}), so it cannot be run again")
    return argv


def resolve_key(repo: Repository, store: Any, run: Node, argv: list[str], key: str
                ) -> dict[str, Any]:
    """Where KEY's value goes: a word of the command line, a variable, a config file's key."""
    if match := _ENV.match(key):
        return {"kind": "env", "name": match[1]}
    if key.startswith("@"):
        return _operand(argv, key)
    if ":" in key:
        return _config(repo, store, run, key)
    return _option(argv, key)


def _operand(argv: list[str], key: str) -> dict[str, Any]:
    if key.startswith("@="):
        found = [n for n, word in enumerate(argv) if n and word == key[2:]]
        if len(found) != 1:
            raise BadInput(f"unknown key {key}: {len(found)} words of {shlex.join(argv)!r} are "
                           f"{key[2:]!r}")
        return {"kind": "operand", "at": found[0], "default": argv[found[0]]}
    if not key[1:].isdigit() or not 1 <= int(key[1:]) < len(argv):
        raise BadInput(f"unknown key {key}: the command line {shlex.join(argv)!r} has words "
                       f"@1 to @{len(argv) - 1} after the program")
    at = int(key[1:])
    return {"kind": "operand", "at": at, "default": argv[at]}


def _option(argv: list[str], key: str) -> dict[str, Any]:
    names = [key] if key.startswith("-") else [f"--{key}", f"-{key}"]
    for name in names:
        hits = []
        for n, word in enumerate(argv[1:], 1):
            if word == name and n + 1 < len(argv):
                hits.append({"kind": "option", "at": n + 1, "default": argv[n + 1]})
            elif word.startswith(name + "="):
                hits.append({"kind": "option", "at": n, "prefix": name + "=",
                             "default": word[len(name) + 1:]})
        if len(hits) > 1:
            raise BadInput(f"key {key}: {name} is given {len(hits)} times on the command line")
        if hits:
            return hits[0]
    if not key.startswith("-"):  # a Hydra-style override: lr=0.1, +lr=0.1
        for n, word in enumerate(argv[1:], 1):
            for prefix in (f"{key}=", f"+{key}=", f"++{key}="):
                if word.startswith(prefix):
                    return {"kind": "override", "at": n, "prefix": prefix,
                            "default": word[len(prefix):]}
    raise BadInput(f"unknown key {key}: the command line {shlex.join(argv)!r} has no "
                   f"{' or '.join(names)} option with a value"
                   + ("" if key.startswith("-") else f" and no {key}=VALUE"))


def _config(repo: Repository, store: Any, run: Node, key: str) -> dict[str, Any]:
    from provgraph import configfiles, gitio
    from provgraph.content import missing
    from provgraph.model import USED

    wanted, _sep, dotted = key.partition(":")
    if not dotted:
        raise BadInput(f"key {key}: write FILE:KEY.PATH (params.yaml:train.lr)")
    configfiles.kind_of(wanted)
    used = [(edge, node) for edge, node in store.step([run.id], "out", [USED])
            if node.properties.get("path") and edge.properties.get("role") != "plan"]
    paths = sorted({node.properties["path"] for _edge, node in used})
    matches = [(e, n) for e, n in used if n.properties["path"] == wanted] or [
        (e, n) for e, n in used if n.properties["path"].endswith("/" + wanted)]
    if len({n.properties["path"] for _e, n in matches}) != 1:
        said = "names several" if matches else "did not read"
        raise BadInput(f"unknown key {key}: {run.name} {said} {wanted} (it read: "
                       f"{', '.join(paths) or 'no file'})")
    node = matches[0][1]
    path, version = node.properties["path"], node.properties.get("version")
    blob = gitio.blob_reader(repo.root)(str(node.properties.get("digest")))
    if blob is None:
        raise missing(f"{path}@v{version}")
    data = configfiles.read(path, blob.decode("utf-8", errors="replace"))
    if not configfiles.has(data, dotted):
        raise BadInput(f"unknown key {key}: {path}@v{version}, as {run.name} read it, has no "
                       f"key {dotted}")
    default = configfiles.lookup(data, dotted)
    return {"kind": "config", "file": path, "path": dotted, "read": node.id,
            "default": default if isinstance(default, (str, int, float, bool)) else None}
