"""`prov CMD`: snapshot, run, snapshot, let the ingestors speak, write the journal.

This is the hot path. It imports only the standard library and provgraph's own small modules:
no DuckDB, Neo4j driver, click or rich (the indexes catch up from the journal when read).

A command given as one string with shell syntax (`prov 'a && b; c'`) runs under the user's
shell, split at `;`, `&&` and `||` into separate activities, each with its own snapshots; `cd`
carries over between parts as it would in the shell.
"""

from __future__ import annotations

import os
import shlex
import signal
import stat
import sys
import time

from provgraph import gitio
from provgraph.capture import params, recovery, runner, tracing
from provgraph.capture.redact import Redactor
from provgraph.capture.shell import ShellSyntaxError, needs_shell, parse_pipeline, split_list
from provgraph.capture.snapshot import LargeFile, Snapshot, Snapshotter, Walk, locked
from provgraph.capture.tracing import findings
from provgraph.config import Config
from provgraph.errors import ProvError
from provgraph.ingestors.hooks import Hooks
from provgraph.journal.records import Journal, new_activity_id
from provgraph.repo import Repository
from provgraph.timestamps import now

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

GLOB_CHARS = set("*?[")


class Session:
    """What every activity of one `prov` invocation shares."""

    def __init__(self, repo: Repository, config: Config, redactor: Redactor,
                 agent: Agent, message: str | None = None,
                 properties: dict[str, Any] | None = None):
        self.repo = repo
        self.config = config
        self.redactor = redactor
        self.agent = agent
        self.message = redactor.text(message) if message else message  # a note may quote one
        self.snapshots = Snapshotter(repo, config.large_file_limit)
        self.journal = Journal(repo)
        self.walk: Walk | None = None  # the first snapshot's walk, if started early
        #: activity properties provgraph itself gives each activity (`rerun_of`, a sweep's
        #: trial): they win over an ingestor's of the same name
        self.properties = dict(properties or {})

    @classmethod
    def open(cls, cwd: str | None = None, message: str | None = None,
             repo: Repository | None = None, walk: Walk | None = None,
             properties: dict[str, Any] | None = None) -> Session:
        """Find the repository and finish any capture a killed `prov` left behind."""
        repo = repo or Repository.discover(cwd)
        repo.ensure_prov_dir()
        repo.ensure_recordable()
        session = cls.for_repository(repo, message)
        session.properties = properties if properties is not None else _given_properties()
        session.journal.check_lock()  # one that stays: said before the command runs
        reconcile(session)
        session.walk = walk
        return session

    @classmethod
    def for_repository(cls, repo: Repository, message: str | None = None) -> Session:
        config = Config(repo.root, repo.prov_dir)
        redactor = Redactor(config.get("redact.patterns") or [], config.get("redact.names") or [])
        return cls(repo, config, redactor, Agent(repo), message)


#: Activity properties a provgraph command that runs `prov CMD` as a process (a sweep's
#: trials) gives it: a JSON object of scalars and lists of scalars. Taken out of the
#: environment at once, so a `prov` the command itself runs does not inherit them.
PROPERTIES_ENV = "PROV_ACTIVITY_PROPERTIES"


def _given_properties() -> dict[str, Any]:
    import json

    text = os.environ.pop(PROPERTIES_ENV, None)
    if not text:
        return {}
    try:
        given = json.loads(text)
    except ValueError:
        given = None
    if not isinstance(given, dict) or not all(
            isinstance(k, str) and (_scalar(v) or _scalars(v)) for k, v in given.items()):
        raise ProvError(f"{PROPERTIES_ENV} must hold a JSON object of scalars and lists of "
                        "scalars")
    return given


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(map(_scalar, value))


def recover(repo: Repository) -> None:
    """What every reading command does first: finish the records of killed captures, and
    clear the scratch files killed processes left."""
    if recovery.abandoned(repo):
        reconcile(Session.for_repository(repo))
    recovery.remove_abandoned_scratch(repo)


def reconcile(session: Session) -> None:
    """Record captures whose `prov` was killed, as interrupted activities."""
    if not recovery.abandoned(session.repo):
        return
    with locked(session.repo.prov_path("recovery.lock")):
        for marker in recovery.abandoned(session.repo):
            written = recovery.recorded(session.repo, marker)
            if written is not None:  # killed between writing its record and tidying up
                recovery.done(session.repo, marker, written.get("after"))
                continue
            record = marker.record["record"]
            large = {p: LargeFile(**f) for p, f in marker.record.get("large", {}).items()}
            before = Snapshot(record["before"], large)
            after = session.snapshots.take()
            record["ended"] = now()
            recovery.fileview_output(session.repo, marker, after.tree)
            observe_run(session, record, before, after, record.get("used", []), None)
            finish(session, record, before, after, None)
            recovery.done(session.repo, marker, after.tree)
            print(f"prov: recorded an interrupted capture: {record['command']}", file=sys.stderr)


class Agent:
    """The person running the command: PROV_AGENT ('Name <email>' or a name), else git's
    ident. Git is asked in the background while the before-snapshot is taken."""

    def __init__(self, repo: Repository):
        self.override = os.environ.get("PROV_AGENT", "").strip()
        self.query = None if self.override else gitio.Started(["var", "GIT_AUTHOR_IDENT"],
                                                               repo.root)
        self._value: dict[str, str] | None = None

    def value(self) -> dict[str, str]:
        if self._value is None:
            text = self.override
            if self.query is not None:
                out = self.query.output(check=False).decode().strip()
                text = out.rsplit(" ", 2)[0] if out.count(" ") >= 2 else ""
            self._value = _parse_agent(text)
        return self._value


def _parse_agent(text: str) -> dict[str, str]:
    if not text:
        import getpass

        text = getpass.getuser()
    if "<" in text and text.endswith(">"):
        name, email = text[:-1].split("<", 1)
        return {"name": name.strip() or email.strip(), "email": email.strip()}
    return {"name": text, "email": ""}


def run(args: list[str], cwd: str | None = None, message: str | None = None,
        repo: Repository | None = None, walk: Walk | None = None,
        properties: dict[str, Any] | None = None) -> runner.Outcome:
    """Capture `args` (argv, or one shell string) and return how the last part ended.

    `repo` and `walk` let `prov CMD` find the repository and start the first snapshot's walk
    while it is still importing this module."""
    if not args:
        raise ProvError("nothing to run: give a command, e.g. prov python train.py")
    session = Session.open(cwd, message, repo, walk, properties)
    cwd = os.path.abspath(cwd or os.getcwd())
    if needs_shell(args):
        try:
            parts = split_list(args[0])
        except ShellSyntaxError as exc:
            raise ProvError(f"shell syntax: {exc}") from None
        outcome = _run_list(session, parts, cwd)
    else:
        outcome = capture(session, args, None, cwd)
    if session.config.neo4j_configured and session.config.neo4j_autosync:
        from provgraph.remotes import neo4j as sync

        sync.start_background(session.repo)
    _retention(session)
    return outcome


#: Seconds between two automatic `prov gc` runs of a `[retention]` policy.
RETENTION_EVERY = 86400


def _retention(session: Session) -> None:
    """A `[retention]` policy is applied in the background (`prov gc --auto`), at most once a
    day: the capture pays one stat of `.git/prov/gc.last`, and ~1 ms to start it when due."""
    config = session.config
    if config.retention_keep_last is None and config.retention_keep_days is None:
        return
    stamp = session.repo.prov_path("gc.last")
    try:
        if time.time() - os.stat(stamp).st_mtime < RETENTION_EVERY:
            return
    except OSError:
        pass
    import subprocess

    try:
        with open(stamp, "w") as handle:  # claimed now: the next captures need not start one
            handle.write(str(int(time.time())))
        subprocess.Popen([sys.executable, "-m", "provgraph.cli", "gc", "--auto"],
                         cwd=session.repo.root, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    except OSError:
        pass


def _run_list(session: Session, parts: list, cwd: str) -> runner.Outcome:
    """Each part of an `a && b; c || d` list is an activity, run as the shell would."""
    last = runner.Outcome(0)
    for part in parts:
        if (part.op == "&&" and last.exit_code != 0) or (part.op == "||" and last.exit_code == 0):
            continue
        new_cwd = _cd_target(part.text, cwd)
        if new_cwd is not None:
            cwd, last = _change_directory(new_cwd, cwd)
            continue
        last = capture(session, None, part.text, cwd)
        if last.signal in (signal.SIGINT, signal.SIGQUIT):
            break  # the shell abandons a list the user interrupted
    return last


def _cd_target(text: str, cwd: str) -> str | None:
    """`cd DIR` as a whole part: provgraph carries the directory over to the next part."""
    commands = parse_pipeline(text)
    if len(commands) != 1 or not commands[0].argv or commands[0].argv[0] != "cd":
        return None
    argv = commands[0].argv
    if len(argv) == 1:
        return os.path.expanduser("~")
    if argv[1] == "-":
        return os.environ.get("OLDPWD", cwd)
    return os.path.join(cwd, os.path.expandvars(os.path.expanduser(argv[1])))


def _change_directory(target: str, cwd: str) -> tuple[str, runner.Outcome]:
    if os.path.isdir(target):
        return os.path.normpath(target), runner.Outcome(0)
    print(f"prov: cd: {target}: No such file or directory", file=sys.stderr)
    return cwd, runner.Outcome(1)


def capture(session: Session, argv: list[str] | None, text: str | None, cwd: str
            ) -> runner.Outcome:
    """One activity: before-snapshot, run, after-snapshot, durable journal record."""
    repo = session.repo
    redirects: list[dict[str, Any]] = []
    if argv is not None:
        commands = [argv]
        command = shlex.join(session.redactor.argv(argv))
        launch = argv
    else:
        assert text is not None
        pipeline = parse_pipeline(text)
        commands = [c.argv for c in pipeline if c.argv]
        redirects = [{"op": r.op, "fd": r.fd, "target": r.target} for c in pipeline
                     for r in c.redirects if r.op != "<<<"]
        command = session.redactor.text(text)
        launch = [runner.user_shell(), "-c", text]

    # Ingestors see the redacted words: a secret never reaches a record, and a secret is
    # never the name of an input file, so nothing is lost for finding used files.
    activity_id, nonce = new_activity_id(repo.clone_id)
    scratch = repo.prov_path(f"running/{activity_id}.d")  # for ingestors that need files
    tracer = start_tracing(session, scratch)
    hooks = Hooks(session.config, command, [session.redactor.argv(c) for c in commands],
                  redirects, cwd, repo.root, scratch)
    hooks.context["traced"] = tracer is not None
    hooks.before()
    shell = text is not None
    files = [r for r in redirects if r["op"] not in (">&", "<&")]  # `2>&1` names no file
    inputs = [(r["target"], "redirect") for r in files if r["op"] in ("<", "<>")]
    inputs += [(word, "argument") for word in hooks.inputs]
    # What the command line names: what was used when tracing is not possible (the trace
    # replaces it otherwise); `named` lets untraced concurrent captures tell outputs apart.
    used = _used_files(repo, inputs, cwd, shell)
    words = [w for w, _ in inputs] + hooks.outputs + [r["target"] for r in files]
    named = sorted({p for w in words for p in _paths(repo, w, cwd, shell)})
    before = session.snapshots.take(session.walk)
    session.walk = None
    record: dict[str, Any] = {
        "id": activity_id,
        "nonce": nonce,  # proves the id is this clone's (provgraph.journal.quarantine)
        "project": repo.project,
        "command": command,
        "shell": text is not None,
        "cwd": relative_cwd(repo, cwd),
        "agent": session.agent.value(),
        "activity": {**hooks.activity, **session.properties},
        "used": used,
        "named": named,
        "prev": recovery.last_snapshot(repo),
        "before": before.tree,
        "before_at": before.taken,
        "before_done": before.done,
    }
    if tracer:
        record["trace"] = {"mechanism": tracer.mechanism}
    if session.message:
        record["message"] = session.message
    streams = {name: repo.prov_path(f"running/{activity_id}.{name}") for name in hooks.streams}
    env = {**os.environ, **hooks.env,
           **(tracer.env if tracer else tracing.audit_env(_audit_file(scratch)))}
    if tracer:
        env.pop("PROV_TRACE_PTRACED", None)  # a capture inside a traced tree starts afresh
        launch = tracer.launch(launch, env.get("PATH"))
    record["started"] = now()
    marker = recovery.start(repo, record, before)
    outcome = runner.run(launch, cwd, env=env,
                         on_start=lambda pid: recovery.started_child(marker, pid),
                         tee=streams, on_data=hooks.during if streams else None)
    ended_ns = time.time_ns()
    record["ended"] = now()
    if outcome.error:
        print(f"prov: {outcome.error}", file=sys.stderr)
    after = session.snapshots.take()
    observe_run(session, record, before, after, used, ended_ns)
    if hooks.others:
        _after_hooks(repo, hooks, session.properties, record, before, after, outcome, streams)
    finish(session, record, before, after, outcome)
    recovery.done(repo, marker, after.tree)  # also removes the streams and the scratch folder
    return outcome


def start_tracing(session: Session, scratch: str) -> tracing.Tracing | None:
    """Tracing for one capture, or None (said once per clone) where it cannot be done."""
    reason = tracing.unavailable() if session.config.trace else "capture.trace is off"
    if reason is None:
        repo = session.repo
        return tracing.Tracing(scratch, [repo.root, os.path.realpath(repo.root)])
    if session.config.trace:
        _say_once(session.repo, reason)
    return None


def _say_once(repo: Repository, reason: str) -> None:
    """Tell the user, once per clone and reason, that file access is not traced."""
    path = repo.prov_path("trace-notice")
    try:
        with open(path, "rb") as handle:
            if handle.read().strip() == reason.encode():
                return
    except OSError:
        pass
    print(f"prov: note: {reason}: recording what Python programs read (audit hook) and "
          "what command lines name instead of tracing every process", file=sys.stderr)
    gitio.write_file_atomic(path, reason.encode(), durable=False)


def _audit_file(scratch: str) -> str:
    os.makedirs(scratch, exist_ok=True)
    return os.path.join(scratch, "python-reads.txt")


def observe_run(session: Session, record: dict[str, Any], before: Snapshot, after: Snapshot,
                fallback: list[dict[str, Any]], ended_ns: int | None) -> None:
    """What the command read and wrote: from its trace when it was traced, else from the
    audit hook of its Python processes and, for what it generated, the snapshots' heuristics
    for commands running at once. `fallback`: the files its command line names."""
    repo = session.repo
    scratch = repo.prov_path(f"running/{record['id']}.d")
    reads = findings.audit_reads(_audit_file(scratch))
    if "trace" in record:
        trace = findings.apply(repo, record, os.path.join(scratch, "trace"), reads,
                               before.tree, after.tree, session.config.ignored_mode,
                               session.config.large_file_limit, [])
        if trace.untraced:
            _say_once(repo, f"{trace.untraced[0]} ran untraced (ptrace is not allowed "
                            "here)")
        if record["trace"]["complete"]:
            return
        # a program escaped the trace: what the command line names counts too
        traced = {u["path"] for u in record["used"]}
        record["used"] += [u for u in fallback if u["path"] not in traced]
    else:
        from provgraph.capture.tracing.observe import Resolver

        known = {u["path"] for u in record["used"]}
        resolve = Resolver(repo.root)
        for path in reads:
            rel = resolve(os.path.normpath(path))
            if rel and rel not in known and stat.S_ISREG(resolve.mode(rel) or 0):
                known.add(rel)
                record["used"].append({"path": rel, "role": "read"})
    if ended_ns is not None:
        theirs = _concurrent_changes(repo, record, before, after, ended_ns)
        if theirs:
            record["concurrent_changes"] = theirs


def _concurrent_changes(repo: Repository, record: dict[str, Any], before: Snapshot,
                        after: Snapshot, ended_ns: int) -> list[str]:
    """Changes in this command's snapshots that other commands, running at the same time, made.

    A snapshot sees every change, whoever made it. When other captures ran alongside this one,
    two signs tell their changes apart: a file they name as an output and this command does
    not, and a file last written after this command had exited.
    """
    others = recovery.others_outputs(repo, record["id"]) - set(record["named"])
    if recovery.last_snapshot(repo) != record["prev"] or others:
        changed = repo.git("diff-tree", "-r", "-z", "--name-only", before.tree, after.tree)
        for path in gitio.split_z(changed):
            try:
                if os.lstat(os.path.join(repo.root, path)).st_mtime_ns > ended_ns:
                    others.add(path)
            except FileNotFoundError:
                continue
    return sorted(others)


def _after_hooks(repo: Repository, hooks: Hooks, properties: dict[str, Any],
                 record: dict[str, Any], before: Snapshot,
                 after: Snapshot, outcome: runner.Outcome, streams: dict[str, str]) -> None:
    """Let the ingestors read what the command printed and changed, and keep what they say."""
    changes = []
    if hooks.wants_changes and before.tree != after.tree:
        out = repo.git("diff-tree", "-r", "-z", "--name-status", before.tree, after.tree)
        items = gitio.split_z(out)
        changes = [{"path": path, "status": status[0]}
                   for status, path in zip(items[::2], items[1::2], strict=True)]
    hooks.after({"exit_code": outcome.exit_code, "signal": outcome.signal,
                 "streams": {n: p for n, p in streams.items() if os.path.exists(p)},
                 "changes": changes})
    record["activity"] = {**hooks.activity, **properties}
    known = {u["path"]: i for i, u in enumerate(record["used"])}
    for item in hooks.used:
        path = _repository_path(repo, item["path"], record)
        if not path:
            continue
        if path not in known:
            known[path] = len(record["used"])
            record["used"].append({**item, "path": path})
        elif item.get("oid"):  # the ingestor knows which version (a commit's, not the tree's)
            record["used"][known[path]] = {**item, "path": path}
    if hooks.entities:
        record["entities"] = {p: props for path, props in hooks.entities.items()
                              if (p := _repository_path(repo, path, record))}


def _repository_path(repo: Repository, path: str, record: dict[str, Any]) -> str | None:
    """An ingestor's path (absolute, or relative to the root) as a repository path."""
    if os.path.isabs(path):
        return repo.relpath(path, repo.root)
    return repo.relpath(path, repo.root) if path else None


def finish(session: Session, record: dict[str, Any], before: Snapshot, after: Snapshot,
           outcome: runner.Outcome | None) -> str:
    """Complete the record with how the command ended and make it durable."""
    for key in ("command", "message", "activity", "named"):
        if key in record:
            record[key] = _valid_text(record[key])
    record["after"] = after.tree
    record["after_at"] = after.taken
    record["after_done"] = after.done
    large = {**before.large, **after.large}
    if large:
        record["large"] = {p: {"sha256": f.sha256, "size": f.size, "pointer": f.pointer}
                           for p, f in sorted(large.items())}
    if outcome is None:
        record["status"] = "interrupted"
    else:
        record["exit_code"] = outcome.exit_code
        if outcome.signal is not None:
            record["signal"] = outcome.signal
        record["status"] = status(outcome)
    if "before" in record and "diff" not in record:
        # the versions it used, found once: for the journal and for the parameters
        from provgraph.journal.changes import describe

        record["diff"] = describe(session.repo, [record])[0]
    _read_params(session, record)
    return session.journal.append(record)


def _read_params(session: Session, record: dict[str, Any]) -> None:
    """The values of the configuration files the command read, as activity properties
    (`params.<file>.<key>`, provgraph.capture.params); what it says itself, an ingestor or
    provgraph (a sweep's trial) wins. A failure here costs a warning, never the record."""
    try:
        found = params.of_record(session.repo, record, session.config, session.redactor)
    except Exception as exc:  # a bug in reading parameters must not cost the user the record
        print(f"prov: warning: parameters not read: {exc}", file=sys.stderr)
        return
    if found:
        record["activity"] = {**found, **record.get("activity", {})}


def status(outcome: runner.Outcome) -> str:
    """`interrupted` for a command stopped by Ctrl-C: killed by SIGINT, or ending in failure
    after the SIGINT `prov` got too (a program that catches it and exits 1); a program that
    still finishes successfully is `ok`."""
    if outcome.exit_code == 0:
        return "ok"
    if outcome.signal == signal.SIGINT or outcome.interrupted:
        return "interrupted"
    return "not-found" if outcome.exit_code == 127 and outcome.error else "failed"


def _valid_text(value: Any) -> Any:
    """Words that were not UTF-8 (a byte such as 0x9b in an argument) as the escapes
    `\\x9b`: the record says what was typed, in text every store and terminal takes."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    return value


def _paths(repo: Repository, word: str, cwd: str, shell: bool) -> list[str]:
    """The repository paths a command word names (a shell word may be a glob or use ~, $X)."""
    if not word or (word.startswith("-") and word != "-"):
        return []
    candidates = [word]
    if shell:
        word = os.path.expandvars(os.path.expanduser(word))
        candidates = [word]
        if GLOB_CHARS & set(word):
            import glob

            candidates = sorted(glob.glob(word, root_dir=cwd)) or [word]
    return [rel for c in candidates if (rel := repo.relpath(c, cwd)) is not None]


def _used_files(repo: Repository, inputs: list[tuple[str, str]], cwd: str, shell: bool
                ) -> list[dict[str, str]]:
    """Words that name existing files of the repository, as repository paths."""
    used: dict[str, str] = {}
    for word, role in inputs:
        for path in _paths(repo, word, cwd, shell):
            if os.path.isfile(os.path.join(repo.root, path)):
                used.setdefault(path, role)
    return [{"path": path, "role": role} for path, role in used.items()]


def relative_cwd(repo: Repository, cwd: str) -> str:
    rel = os.path.relpath(cwd, repo.root)
    return rel.replace(os.sep, "/")
