"""`prov sweep`: run a template's grid, each trial a captured run linked to the plan.

How a trial gets its values: command-line parameters are put into the template's words,
`env:` ones into the trial's environment, and config-file keys are written into the file IN
PLACE, in the user's work tree, for the time of that trial only:

1. the file's bytes are saved in `.git/prov/sweeps/<id>/backup.json` (durable) first;
2. the file is rewritten with the trial's values and the trial runs as `prov -- CMD`, so its
   record shows the version it read (the substituted one: a change made outside prov, then
   used);
3. the saved bytes are put back (a second external version, the same content as before).

Ctrl-C and SIGTERM stop the running trial and put the files back before the sweep ends; after a
SIGKILL, the next `prov sweep` (any) puts them back before doing anything else, unless the file
was changed since (then it says so and leaves it). Because one work tree holds one version of a
file, trials that rewrite a config file run one at a time: `--jobs N` runs trials in parallel
only for templates whose parameters are all on the command line or in the environment.

The trial list is `.git/prov/sweeps/<id>/sweep.json`, written before the first trial and after
each; `--resume` runs the trials not done, `--retry-failed` the failed ones (of the latest sweep
of the template). Each trial's activity carries `sweep`, `sweep.trial`, `plan`, `tags` (with the
sweep id) and `sweep.params.<KEY>` (its values), given through PROV_ACTIVITY_PROPERTIES.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provgraph import configfiles, gitio
from provgraph.errors import BadInput, NotFound, ProvError
from provgraph.repo import Repository
from provgraph.specs import expand, parse_assignment
from provgraph.templates import Template

#: A grid larger than this is a typo in a range, not a plan.
MAX_TRIALS = 10_000
DONE = ("ok", "reused")


@dataclass
class Trial:
    trial: int
    params: dict[str, str]
    status: str = "pending"  # pending, running, ok, failed, reused
    exit_code: int | None = None
    run: str | None = None  # the activity id

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "params": dict(self.params), "status": self.status,
                "exit_code": self.exit_code, "run": self.run}


@dataclass
class Sweep:
    """One sweep of a template: its trials and where each stands (`--json`)."""

    id: str
    template: str
    plan: str
    created: str
    keys: list[str]
    trials: list[Trial] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "template": self.template, "plan": self.plan,
                "created": self.created, "keys": list(self.keys),
                "trials": [t.to_dict() for t in self.trials], "counts": self.counts()}

    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "failed": 0, "reused": 0, "pending": 0}
        for trial in self.trials:
            key = "pending" if trial.status == "running" else trial.status
            counts[key] = counts.get(key, 0) + 1
        return counts

    @classmethod
    def of(cls, data: dict[str, Any]) -> Sweep:
        trials = [Trial(t["trial"], dict(t["params"]), t.get("status", "pending"),
                        t.get("exit_code"), t.get("run")) for t in data["trials"]]
        return cls(data["id"], data["template"], data["plan"], data["created"],
                   list(data["keys"]), trials)


#: How a trial runs: `prov -- CMD`, in the sweep's process group (a Ctrl-C, a hang-up or a
#: kill of the group reaches the trial's command as it would without the sweep). A Ctrl-C that
#: comes while the trial's provgraph is still loading ends it quietly (exit 130), not with the
#: traceback `python -m` would print from the middle of its imports.
TRIAL = """\
import sys
try:
    from provgraph.cli import main
    main()
except KeyboardInterrupt:
    sys.exit(130)
"""


def grid(template: Template, overrides: list[str]) -> list[dict[str, str]]:
    """The cartesian product of the specs, overrides from the sweep's command line first."""
    specs = {p["key"]: p["values"] for p in template.params}
    for text in overrides:
        key, spec = parse_assignment(text)
        if key not in specs:
            raise BadInput(f"unknown key {key}: template {template.name} has "
                           f"{', '.join(specs)}")
        specs[key] = expand(key, spec)
    total = 1
    for values in specs.values():
        total *= len(values)
    if total > MAX_TRIALS:
        raise BadInput(f"the grid has {total} trials (at most {MAX_TRIALS})")
    keys = list(specs)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*specs.values())]


def argv_of(template: Template, params: dict[str, str]) -> list[str]:
    words = list(template.argv)
    for param in template.params:
        if "at" in param:
            words[param["at"]] = param.get("prefix", "") + params[param["key"]]
    return words


# -- the state under .git/prov/sweeps/ ------------------------------------------------------


def folder(repo: Repository, sweep_id: str) -> str:
    return repo.prov_path(f"sweeps/{sweep_id}")


def save(repo: Repository, sweep: Sweep) -> None:
    path = os.path.join(folder(repo, sweep.id), "sweep.json")
    gitio.write_file_atomic(path, json.dumps(sweep.to_dict(), indent=1).encode())


def sweeps_of(repo: Repository, name: str) -> list[Sweep]:
    """The sweeps of template `name` this clone ran, oldest first."""
    from provgraph import state

    base = repo.prov_path("sweeps")
    found = []
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        data = state.read_json(os.path.join(base, entry, "sweep.json"))
        if isinstance(data, dict) and data.get("template") == name:
            with contextlib.suppress(KeyError, TypeError):
                found.append(Sweep.of(data))
    return sorted(found, key=lambda s: (s.created, s.id))


def new_sweep(repo: Repository, template: Template, trials: list[dict[str, str]]) -> Sweep:
    from provgraph.timestamps import now

    sweep_id = "sweep-" + os.urandom(4).hex()
    os.makedirs(folder(repo, sweep_id), exist_ok=True)
    sweep = Sweep(sweep_id, template.name, template.id, now(), list(trials[0]) if trials else [],
                  [Trial(n, params) for n, params in enumerate(trials, 1)])
    save(repo, sweep)
    return sweep


@contextlib.contextmanager
def held(repo: Repository, sweep_id: str) -> Iterator[None]:
    """One process runs a sweep at a time."""
    path = os.path.join(folder(repo, sweep_id), "lock")
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProvError(f"{sweep_id} is running in another process") from None
        yield


# -- config files: rewritten for a trial, always put back ------------------------------------


def restore_left(repo: Repository, say: Callable[[str], None]) -> None:
    """Files a killed sweep left rewritten are put back (unless changed since)."""
    base = repo.prov_path("sweeps")
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        backup = os.path.join(base, entry, "backup.json")
        if os.path.exists(backup):
            _put_back(repo, backup, say)


def _put_back(repo: Repository, backup: str, say: Callable[[str], None]) -> None:
    import binascii

    try:
        with open(backup) as handle:
            saved = json.load(handle)
        originals = {path: (base64.b64decode(info["original"], validate=True), info["mode"],
                            info["wrote"]) for path, info in saved.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ProvError(f"{backup} is damaged: the config files a killed sweep rewrote may not "
                        "be as they were; check them, then remove it") from None
    for path, (original, mode, wrote) in sorted(originals.items()):
        full = os.path.join(repo.root, path)
        try:
            with open(full, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            data = None
        if data == original:
            continue  # killed before the file was rewritten, or already put back
        if data is None or hashlib.sha256(data).hexdigest() != wrote:
            say(f"prov sweep: {path} changed after the sweep rewrote it: left as it is "
                f"(its content before the sweep is in {backup})")
            continue
        gitio.write_file_atomic(full, original)
        os.chmod(full, mode)
    os.unlink(backup)


@contextlib.contextmanager
def substituted(repo: Repository, sweep: Sweep, files: dict[str, str]) -> Iterator[None]:
    """`files` (path -> new text) in the work tree for the time of the block."""
    if not files:
        yield
        return
    saved = {}
    for path, text in files.items():
        full = os.path.join(repo.root, path)
        with open(full, "rb") as handle:
            original = handle.read()
        saved[path] = {"original": base64.b64encode(original).decode(),
                       "mode": os.stat(full).st_mode & 0o7777,
                       "wrote": hashlib.sha256(text.encode()).hexdigest()}
    backup = os.path.join(folder(repo, sweep.id), "backup.json")
    gitio.write_file_atomic(backup, json.dumps(saved).encode())
    try:
        for path, text in files.items():
            full = os.path.join(repo.root, path)
            gitio.write_file_atomic(full, text.encode(), durable=False)
            os.chmod(full, saved[path]["mode"])
        yield
    finally:
        _put_back(repo, backup, lambda line: print(line, file=sys.stderr))


def config_texts(repo: Repository, template: Template, params: dict[str, str]
                 ) -> dict[str, str]:
    """The trial's version of each config file its parameters name."""
    texts: dict[str, str] = {}
    for param in template.params:
        if param.get("kind") != "config":
            continue
        path = param["file"]
        if path not in texts:
            try:
                with open(os.path.join(repo.root, path), encoding="utf-8") as handle:
                    texts[path] = handle.read()
            except FileNotFoundError:
                raise NotFound(f"{path} is not in the work tree: template "
                               f"{template.name} sets {param['key']} in it") from None
        texts[path] = configfiles.substitute(path, texts[path], param["path"],
                                             params[param["key"]])
    return texts


# -- running ---------------------------------------------------------------------------------


class Stopped(KeyboardInterrupt):
    """SIGTERM: end as Ctrl-C does, files put back."""


class Runner:
    def __init__(self, repo: Repository, template: Template, sweep: Sweep, jobs: int,
                 say: Callable[[str], None]):
        self.repo, self.template, self.sweep, self.jobs, self.say = (repo, template, sweep,
                                                                      jobs, say)
        self.children: set[subprocess.Popen] = set()
        self.stopping = False

    def run(self, trials: list[Trial], reuse: dict[int, str]) -> None:
        from provgraph.journal.records import Journal

        journal = Journal(self.repo)
        since = journal.tips()
        todo = []
        for trial in trials:
            if trial.trial in reuse:
                trial.status, trial.run, trial.exit_code = "reused", reuse[trial.trial], 0
                self.say(f"trial {trial.trial}: reused {reuse[trial.trial]} "
                         f"({_params_text(trial.params)})")
            else:
                trial.status = "running"
                todo.append(trial)
        save(self.repo, self.sweep)
        previous = signal.signal(signal.SIGTERM, self._terminate)
        try:
            if self.jobs > 1:
                with ThreadPoolExecutor(self.jobs) as pool:
                    list(pool.map(self._one, todo))
            else:
                for trial in todo:
                    self._one(trial)
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._find_runs(journal, since)
            save(self.repo, self.sweep)

    def _terminate(self, _signum: int, _frame: Any) -> None:
        self.stopping = True
        for child in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        raise Stopped()

    def _one(self, trial: Trial) -> None:
        if self.stopping:
            return
        self.say(f"trial {trial.trial}: {_params_text(trial.params)}")
        argv = argv_of(self.template, trial.params)
        properties = {"sweep": self.sweep.id, "sweep.trial": trial.trial,
                      "plan": self.template.id, "tags": [self.sweep.id],
                      **{f"sweep.params.{k}": v for k, v in trial.params.items()}}
        env = {**os.environ, "PROV_ACTIVITY_PROPERTIES": json.dumps(properties)}
        for param in self.template.params:
            if param.get("kind") == "env":
                env[param["name"]] = trial.params[param["key"]]
        cwd = os.path.join(self.repo.root, self.template.cwd)
        texts = config_texts(self.repo, self.template, trial.params)
        with substituted(self.repo, self.sweep, texts):
            child = subprocess.Popen([sys.executable, "-c", TRIAL, "--", *argv],
                                     cwd=cwd, env=env)
            self.children.add(child)
            try:
                code = child.wait()
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGINT)
                child.wait()
                raise
            finally:
                self.children.discard(child)
        if self.stopping:
            return
        trial.exit_code = code
        trial.status = "ok" if code == 0 else "failed"
        save(self.repo, self.sweep)

    def _find_runs(self, journal: Any, since: dict[str, str]) -> None:
        """Each trial's activity id, from the records appended since the sweep began."""
        by_trial = {t.trial: t for t in self.sweep.trials}
        for entry in journal.entries(since=since):
            props = entry.record.get("activity") or {}
            if props.get("sweep") == self.sweep.id and props.get("sweep.trial") in by_trial:
                trial = by_trial[props["sweep.trial"]]
                if trial.status != "reused":
                    trial.run = entry.record["id"]


def _check_jobs(template: Template, jobs: int) -> None:
    if jobs > 1 and any(p.get("kind") == "config" for p in template.params):
        files = sorted({p["file"] for p in template.params if p.get("kind") == "config"})
        raise BadInput(f"--jobs {jobs}: the trials rewrite {', '.join(files)} in the work tree, "
                       "which holds one version at a time: run them one by one")


def planned(repo: Repository, name: str, overrides: list[str]) -> Sweep:
    """`--print-trials`: the grid, not saved, not run."""
    from provgraph.templates import find

    template = find(repo, name)
    trials = grid(template, overrides)
    return Sweep("", template.name, template.id, "", list(trials[0]) if trials else [],
                 [Trial(n, params) for n, params in enumerate(trials, 1)])


def _params_text(params: dict[str, str]) -> str:
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in params.items())


def reusable(repo: Repository, store: Any, template: Template, trials: list[Trial]
             ) -> dict[int, str]:
    """`--skip-existing`: trial -> a run of the same plan with the same parameters that
    succeeded and whose inputs have, today, the digests it read (config files as the trial
    would write them)."""
    from provgraph.model import USED

    runs = [a for a in store.activities() if a.properties.get("plan") == template.id
            and a.properties.get("exit_code") == 0]
    found: dict[int, str] = {}
    hexlen = 40 if repo.object_format == "sha1" else 64
    for trial in trials:
        texts = config_texts(repo, template, trial.params)
        for run in runs:
            if any(run.properties.get(f"sweep.params.{k}") != v for k, v in trial.params.items()):
                continue
            used = [n for e, n in store.step([run.id], "out", [USED])
                    if e.properties.get("role") != "plan" and n.properties.get("path")]
            if all(_digest_now(repo, n.properties["path"], texts, hexlen)
                   == n.properties.get("digest") for n in used):
                found[trial.trial] = run.id
                break
    return found


def _digest_now(repo: Repository, path: str, texts: dict[str, str], hexlen: int) -> str | None:
    if path in texts:
        data = texts[path].encode()
        blob = hashlib.new(repo.object_format, f"blob {len(data)}\0".encode() + data)
        return blob.hexdigest()[:hexlen]
    full = os.path.join(repo.root, path)
    if not os.path.isfile(full):
        return None
    return gitio.hash_file(full, repo.object_format)[0]



def sweep(repo: Repository, name: str, overrides: list[str], jobs: int = 1,
          resume: bool = False, retry_failed: bool = False, skip_existing: bool = False,
          say: Callable[[str], None] = print, store: Callable[[], Any] | None = None) -> Sweep:
    """`prov sweep`: a new sweep of template `name` (or the latest one, resumed/retried)."""
    from provgraph.templates import find

    if jobs < 1:
        raise BadInput("--jobs must be 1 or more")
    restore_left(repo, say)
    if resume or retry_failed:
        if overrides:
            raise BadInput("--resume and --retry-failed take no KEY=SPEC: they run the trials "
                           "of the sweep as it was planned")
        template = find(repo, name)
        earlier = sweeps_of(repo, template.name)
        if not earlier:
            raise NotFound(f"template {template.name} has no sweep to "
                           f"{'resume' if resume else 'retry'}")
        current = earlier[-1]
        template = find(repo, current.plan)
        _check_jobs(template, jobs)
        wanted = {"pending", "running"} if resume else set()
        if retry_failed:
            wanted.add("failed")
        todo = [t for t in current.trials if t.status in wanted]
        say(f"{current.id}: {'resuming' if resume else 'retrying'} {len(todo)} of "
            f"{len(current.trials)} trials of template {template.name} v{template.version}")
    else:
        template = find(repo, name)
        _check_jobs(template, jobs)
        current = new_sweep(repo, template, grid(template, overrides))
        todo = list(current.trials)
        say(f"{current.id}: {len(todo)} trials of template {template.name} "
            f"v{template.version}")
    with held(repo, current.id):
        reuse: dict[int, str] = {}
        if skip_existing and todo and store is not None:
            reuse = reusable(repo, store(), template, todo)
        try:
            Runner(repo, template, current, jobs, say).run(todo, reuse)
        except KeyboardInterrupt:
            say(f"{current.id}: stopped; the files are as before; `prov sweep "
                f"{template.name} --resume` runs the trials not done")
            raise
    return current
