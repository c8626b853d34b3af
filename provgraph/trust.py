"""Trust: what a repository's own `.prov.toml` may do in this clone.

`.prov.toml` is committed, so `git clone` and `git pull` bring whatever a stranger wrote into
it. Most of it is data (redaction rules, regexes over a command's output), but some settings
run or import code (`[[ingestor]]` `command` / `call`) or read files outside the work tree
(`[[metrics]] source = "/home/you/.ssh/id_rsa"`, or a committed symlink pointing out). Left
alone, those would run on the first `prov ls` after a clone. So, as git keeps hooks out of a
clone and direnv waits for `direnv allow`, they take effect only once the user has allowed this
exact file with `prov trust`, which records its SHA-256 in `.git/prov/trust.json`: a decision
of this clone, never committed, never pushed. A changed file (edited, pulled, checked out) is
untrusted again until `prov trust` is run on it; going back to a content trusted before needs
nothing (as direnv).

Untrusted, the gated settings are skipped with ONE warning line per command naming
`prov trust`, and everything else is captured as usual. Installed packages' ingestors (entry
point group `provgraph.ingestors`) were installed by the user and need no trust.

`GATES` classifies settings, in one place: a new setting that runs code or reaches outside
the repository gets a classifier there, and `prov trust --show`, the warning and the registry
follow. This module is on the capture path: it imports only the standard library, and a file
that asks for nothing gated is never hashed.
"""

from __future__ import annotations

import json
import os
import sys
import weakref

from provgraph.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from provgraph.config import Config

FILE = "trust.json"  # under .git/prov/
VERSION = 1
STREAMS = ("both", "stdout", "stderr")  # `[[metrics]] source` values that read no file


class Gated:
    """One setting of `.prov.toml` that waits for `prov trust`.

    `table` and `index` say which table it is (`config.tables(table)[index]`), so the
    registry can ask whether that table may act; `detail` is what `prov trust --show` prints.
    """

    def __init__(self, table: str, index: int, name: str, what: str, detail: dict[str, Any]):
        self.table = table
        self.index = index
        self.name = name
        self.what = what  # "run" (runs or imports code) or "read" (a file outside)
        self.detail = detail

    def describe(self) -> str:
        """One line for the user: `ingestor evil: command sh -c 'touch x' (match '.*')`."""
        if self.what == "send":
            return (f"neo4j.uri {self.detail['uri']} (every record, with the Neo4j "
                    "credentials of this clone, would be sent there)")
        if self.what == "read":
            target = self.detail["resolved"]
            via = "" if target == self.detail["source"] else f" -> {target}"
            return f"[[metrics]] source {self.detail['source']}{via} (a file outside the " \
                   "repository)"
        how = (f"call {self.detail['call']} (imports code from the repository)"
               if "call" in self.detail else f"command {self.detail['command']}")
        return f"ingestor {self.name}: {how} (match {self.detail['match']!r})"

    def as_json(self) -> dict[str, Any]:
        kind = {"run": "runs code", "read": "reads outside the repository",
                "send": "sends the record to a server"}[self.what]
        return {"table": self.table, "index": self.index, "name": self.name, "kind": kind,
                **self.detail}


def _ingestor(table: dict[str, Any], index: int, config: Config) -> list[Gated]:
    """`[[ingestor]]` with `call` (imports a module of the repository) or `command` (runs
    a program): both run code as the user."""
    name = str(table.get("name") or f"ingestor{index + 1}")
    for key in ("call", "command"):
        if key in table:
            value = table[key]
            if key == "command" and isinstance(value, list):
                import shlex

                value = shlex.join(str(word) for word in value)
            return [Gated("ingestor", index, name, "run",
                          {"match": str(table.get("match", "")), key: str(value)})]
    return []


def _metrics(table: dict[str, Any], index: int, config: Config) -> list[Gated]:
    """`[[metrics]]` reading a file (not a stream) that is absolute, escapes the work tree or
    leads through a symlink out of it, or into the git dir (`.git/prov/config.json` holds
    the Neo4j password)."""
    source = table.get("source", "both")
    if not isinstance(source, str) or source in STREAMS:
        return []
    resolved = outside(config, os.path.join(config.root, source))
    if resolved is None:
        return []
    return [Gated("metrics", index, "metrics", "read", {"match": str(table.get("match", "")),
                                                        "source": source,
                                                        "resolved": resolved})]


def _neo4j(table: dict[str, Any], index: int, config: Config) -> list[Gated]:
    """`[neo4j] uri`: a server a committed file names would receive every record of this
    clone, and the credentials this clone keeps for Neo4j (a URI set in this clone, or in
    the environment, is the user's own and overrides it)."""
    uri = table.get("uri")
    if not uri:
        return []
    from provgraph.capture.redact import uri_shown

    return [Gated("neo4j", index, "neo4j", "send", {"uri": uri_shown(str(uri))})]


#: The classifiers: `.prov.toml` table name -> what in one table waits for trust.
GATES: dict[str, Callable[[dict[str, Any], int, Config], list[Gated]]] = {
    "ingestor": _ingestor,
    "metrics": _metrics,
    "neo4j": _neo4j,
}


def outside(config: Config, path: str) -> str | None:
    """`path` resolved through symlinks, if it is outside the work tree or inside the git
    dir; None when it is an ordinary file of the repository (existing or not)."""
    resolved = os.path.realpath(path)
    root = os.path.realpath(config.root)
    git_dir = os.path.realpath(os.path.dirname(config.prov_dir))
    if resolved == git_dir or resolved.startswith(git_dir + os.sep):
        return resolved
    relative = os.path.relpath(resolved, root)
    first = relative.split(os.sep, 1)[0]
    if os.path.isabs(relative) or first in (os.pardir, ".git"):
        return resolved
    return None


def gated(config: Config) -> list[Gated]:
    """Every setting of the project's `.prov.toml` that waits for trust, in file order."""
    found: list[Gated] = []
    for table_name, classify in GATES.items():
        for index, table in enumerate(config.tables(table_name)):
            if isinstance(table, dict):
                found += classify(table, index, config)
    return found


class Verdict:
    """The trust state of `.prov.toml` in this clone, and its gated settings.

    `status`: "nothing" (no gated setting: nothing to trust), "trusted", "changed" (another
    content was trusted here, not this one) or "never"."""

    def __init__(self, config: Config, items: list[Gated], status: str,
                 digest: str | None, record: dict[str, Any] | None):
        self.config = config
        self.items = items
        self.status = status
        self.digest = digest
        self.record = record  # what `prov trust` stored for this digest
        self.warned = False

    @property
    def trusted(self) -> bool:
        return self.status in ("nothing", "trusted")

    def blocks(self, table: str, index: int) -> bool:
        """Whether `config.tables(table)[index]` must not act (gated and not trusted)."""
        return not self.trusted and any(g.table == table and g.index == index
                                        for g in self.items)

    def allows(self, table: str, index: int) -> bool:
        """Whether that table is gated and was allowed: what `prov trust` showed may act
        (a metrics file outside the repository is read only then)."""
        return self.status == "trusted" and any(g.table == table and g.index == index
                                                for g in self.items)

    def warning(self) -> str | None:
        """The one line an untrusted file costs a command (None when nothing is skipped)."""
        if self.trusted:
            return None
        runs = [g.name for g in self.items if g.what == "run"]
        reads = [g.detail["source"] for g in self.items if g.what == "read"]
        sends = [g.detail["uri"] for g in self.items if g.what == "send"]
        asks = []
        if sends:
            asks.append(f"to send the record to a Neo4j server ({_names(sends)})")
        if runs:
            asks.append(f"to run {_count(runs, 'ingestor')} ({_names(runs)})")
        if reads:
            asks.append(f"to read {_count(reads, 'file')} outside the repository "
                        f"({_names(reads)})")
        state = " changed since you trusted it and" if self.status == "changed" else ""
        return (f".prov.toml{state} asks {' and '.join(asks)}: skipped until you review it "
                "with `prov trust --show` and allow it with `prov trust`")


_VERDICTS: weakref.WeakKeyDictionary[Config, Verdict] = weakref.WeakKeyDictionary()


def verdict(config: Config) -> Verdict:
    """The trust state of `config`'s `.prov.toml` (worked out once per Config: one capture
    of `a && b` asks once and warns once)."""
    found = _VERDICTS.get(config)
    if found is None:
        found = _VERDICTS[config] = _judge(config)
    return found


def _judge(config: Config) -> Verdict:
    items = gated(config)
    if not items:
        return Verdict(config, items, "nothing", None, None)
    digest = _digest(config)
    trusted = _stored(config).get("trusted", {})
    if digest is not None and isinstance(trusted.get(digest), dict):
        return Verdict(config, items, "trusted", digest, trusted[digest])
    return Verdict(config, items, "changed" if trusted else "never", digest, None)


def _digest(config: Config) -> str | None:
    """SHA-256 of `.prov.toml` as it is now, provided it is still what `config` parsed (a
    file replaced between the two reads is judged as untrusted, never the other way)."""
    try:
        with open(config.project_file, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    import hashlib
    import tomllib

    try:
        if tomllib.loads(data.decode()) != config.project:
            return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    return hashlib.sha256(data).hexdigest()


def _path(config: Config) -> str:
    return os.path.join(config.prov_dir, FILE)


def _stored(config: Config) -> dict[str, Any]:
    """This clone's trust file; unreadable or malformed, it trusts nothing (and says so)."""
    from provgraph import state

    found = state.read_json(_path(config))
    if found is None:
        return {}
    if not isinstance(found, dict) or not isinstance(found.get("trusted"), dict):
        state.warn(f"{state.shown(_path(config))} is damaged: .prov.toml is trusted again "
                   "only by `prov trust`")
        return {}
    return found


def warn_untrusted(config: Config) -> None:
    """Print the untrusted file's warning, once per Config."""
    judged = verdict(config)
    line = judged.warning()
    if line and not judged.warned:
        judged.warned = True
        print(f"prov: warning: {printable(line)}", file=sys.stderr)


def allow(config: Config) -> Verdict:
    """`prov trust`: record the current file's digest as trusted in this clone."""
    from provgraph.errors import ProvError
    from provgraph.gitio import write_file_atomic
    from provgraph.timestamps import now

    judged = _judge(config)
    if judged.status == "nothing":
        return judged
    if judged.digest is None:
        raise ProvError(".prov.toml changed while it was read; run `prov trust` again")
    stored = _stored(config) or {"version": VERSION, "trusted": {}}
    stored["trusted"][judged.digest] = {"at": now(),
                                        "allowed": [g.as_json() for g in judged.items]}
    os.makedirs(config.prov_dir, exist_ok=True)
    write_file_atomic(_path(config), json.dumps(stored, indent=2, sort_keys=True).encode()
                      + b"\n")
    _VERDICTS.pop(config, None)
    return verdict(config)


def revoke(config: Config) -> int:
    """`prov trust --revoke`: forget every content trusted in this clone; how many were."""
    stored = _stored(config)
    count = len(stored.get("trusted", {}))
    if count:
        os.unlink(_path(config))
    _VERDICTS.pop(config, None)
    return count


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _names(items: list[str], shown: int = 5) -> str:
    text = ", ".join(items[:shown])
    return text + (f", and {len(items) - shown} more" if len(items) > shown else "")
