"""The Caffe ingestor: what `caffe train|test|time` read, and what its solver and log say.

Before the command runs we read its flags (gflags syntax: `-solver x`, `-solver=x`,
`--solver x`, `--solver=x`) and its solver file, whose fields become the activity's
hyper-parameters and whose net files are inputs. After it ran we read its log, which is
glog on stderr: the stderr the framework captured, or the file the command itself sent
stderr to (`2> x.log`, `> x.log 2>&1`, `&> x.log`, `2>&1 | tee x.log`). The log gives the
loss and test curves, how each solver run ended, and the snapshot files it wrote.

A log appended to (`2>> x.log`, `tee -a x.log`) also holds earlier commands' runs: the
ingestor notes the file's size before the command and reads only what was added after it.

Standard library only: this runs around every caffe command.
"""

from __future__ import annotations

import io
import os
import re

from provgraph.ingestors import Ingestor
from provgraph.ingestors.caffe.log import CaffeLog, parse_log
from provgraph.ingestors.caffe.prototxt import PrototxtError, normalize_solver, parse
from provgraph.ingestors.redirects import absolute as _absolute
from provgraph.ingestors.redirects import created as _created
from provgraph.ingestors.redirects import stream_target

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from typing import Any

_CAFFE_PROGRAMS = frozenset({"caffe", "caffe.bin"})
_SUBCOMMANDS = frozenset({"train", "test", "time", "device_query"})
# gflags flags that take a value, so that `-solver x` takes x: Caffe's own and glog's.
_VALUE_FLAGS = frozenset({
    "solver", "model", "snapshot", "weights", "gpu", "iterations", "phase", "level", "stage",
    "sighup_effect", "sigint_effect", "flagfile", "log_dir", "minloglevel", "stderrthreshold",
    "v", "vmodule",
})
# Flags naming files the command reads; weights may list several, comma-separated.
_INPUT_FLAGS = ("solver", "weights", "snapshot", "model", "flagfile")
_NET_FIELDS = ("net", "train_net", "test_net")
# Inline net definitions are nets, not hyper-parameters: only their name is recorded.
_INLINE_NETS = frozenset({"net_param", "train_net_param", "test_net_param"})


class CaffeIngestor(Ingestor):
    """`caffe train|test|time`: solver hyper-parameters before, the training log after."""

    name = "caffe"
    pattern = re.compile(r"(^|[\s/])caffe(\.bin)?\s+(train|test|time)\b")
    streams = ("stderr",)
    timeout = 60.0  # reading a log of hundreds of megabytes takes seconds

    def __init__(self) -> None:
        # Size before the command of each log file it appends to; the framework keeps one
        # instance from the before hook to the after hook of a command.
        self.appended_from: dict[str, int] = {}

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        """The files the flags name, and the solver file's fields as hyper-parameters."""
        self.note_appended_log(context)
        subcommand, flags = caffe_flags(list(context.get("argv") or []))
        inputs = [path for name in _INPUT_FLAGS for value in flags.get(name, [])
                  for path in _flag_paths(name, value)]
        activity: dict[str, Any] = {}
        solver = (flags.get("solver") or [""])[-1]
        if solver and subcommand == "train":
            activity["solver"] = solver
            params, error = read_solver(os.path.join(context.get("cwd") or ".", solver))
            if error:
                activity["solver_error"] = error
            activity.update(solver_properties(params))
            inputs += net_files(params)
        if not inputs and not activity:
            return None
        return {"activity": activity, "inputs": list(dict.fromkeys(inputs))}

    def note_appended_log(self, context: dict[str, Any]) -> None:
        """Remember how long an appended-to log already is, so after() skips older runs."""
        target = _stderr_target(context)
        if target is not None and target[1]:
            path = _absolute(target[0], context)
            try:
                self.appended_from[path] = os.path.getsize(path)
            except OSError:
                self.appended_from[path] = 0  # created by this command

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        """Parse the log; its curves and run outcomes go to the activity, snapshots to files."""
        source = log_source(context)
        if source is None:
            return None
        path, appended = source
        offset = self.appended_from.get(path) if appended else None
        log = read_log(path, offset or 0)
        if log is None:
            return None
        if appended and offset is None and not _created(path, context):
            log = log.last_process()  # no size noted before: keep the last writer's runs
        if not (log.runs or log.fatal):
            return None  # no Caffe output there (`2>&1` to a terminal, GLOG_minloglevel)
        subcommand, _ = caffe_flags(list(context.get("argv") or []))
        if subcommand != "train":  # test and time print no training log: keep a fatal error
            return {"activity": {"fatal": log.fatal}} if log.fatal else None
        fragment: dict[str, Any] = {"activity": log.series()}
        entities = snapshot_entities(log, context.get("cwd") or ".", context.get("root"))
        if entities:
            fragment["entities"] = entities
        return fragment


def caffe_flags(argv: list[str]) -> tuple[str | None, dict[str, list[str]]]:
    """The caffe subcommand and its flags, each flag's values in order.

    gflags reads flags anywhere on the line, with one or two dashes, the value after `=` or
    in the next word; `--` ends them. Words before the caffe program (`mpirun -n 4 caffe`)
    are not caffe's.
    """
    start = next((i for i, word in enumerate(argv)
                  if os.path.basename(word) in _CAFFE_PROGRAMS), -1)
    subcommand: str | None = None
    flags: dict[str, list[str]] = {}
    index = start + 1
    while 0 < index < len(argv):
        word = argv[index]
        index += 1
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            if subcommand is None and word in _SUBCOMMANDS:
                subcommand = word
            continue
        name, equals, value = word.lstrip("-").partition("=")
        if not equals and name in _VALUE_FLAGS and index < len(argv):
            value = argv[index]
            index += 1
        flags.setdefault(name, []).append(value)
    return subcommand, flags


def _flag_paths(name: str, value: str) -> list[str]:
    """`-weights a.caffemodel,b.caffemodel` names two files (Caffe copies layers from each)."""
    if name == "weights":
        return [path for path in value.split(",") if path]
    return [value] if value else []


def read_solver(path: str) -> tuple[dict[str, Any], str | None]:
    """The solver as Caffe sees it, and a short error when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError as exc:
        return {}, f"cannot read {os.path.basename(path)}: {exc.strerror or exc}"
    try:
        return normalize_solver(parse(text)), None
    except PrototxtError as exc:
        return {}, f"{os.path.basename(path)}: {exc}"


def net_files(params: dict[str, Any]) -> list[str]:
    """The net files a solver names; Caffe opens them relative to its working directory."""
    files: list[str] = []
    for field in _NET_FIELDS:
        value = params.get(field)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                files.append(item)
    return files


def solver_properties(params: dict[str, Any]) -> dict[str, Any]:
    """Solver fields as properties: nested messages flattened with dots, lists of one type.

    A repeated message is numbered (`test_state.0.stage`); an inline net keeps only its name.
    """
    properties: dict[str, Any] = {}
    for name, value in params.items():
        if name in _INLINE_NETS:
            for index, net in enumerate(value if isinstance(value, list) else [value]):
                suffix = "" if not isinstance(value, list) else f".{index}"
                if isinstance(net, dict) and isinstance(net.get("name"), str):
                    properties[f"{name}{suffix}.name"] = net["name"]
            continue
        _flatten(name, value, properties)
    return properties


def _flatten(key: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            _flatten(f"{key}.{name}", item, out)
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for index, item in enumerate(value):
            _flatten(f"{key}.{index}", item, out)
    elif isinstance(value, list):
        out[key] = homogeneous(value)
    else:
        out[key] = value


def homogeneous(values: list[Any]) -> list[Any]:
    """A property list holds one type: ints with floats become floats, else mixed is str."""
    kinds = {type(value) for value in values}
    if len(kinds) <= 1:
        return list(values)
    if kinds == {int, float}:
        return [float(value) for value in values]
    return [_text(value) for value in values]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def log_source(context: dict[str, Any]) -> tuple[str, bool] | None:
    """Where the command's stderr went: (absolute path, whether it was appended to).

    Redirections are followed in order as the shell does (`> x 2>&1` sends both to x,
    `2>&1 > x` does not); stderr sent down the pipe reaches the first `tee` after caffe. A
    file that does not exist (the command never ran) falls back to the captured stderr.
    """
    target = _stderr_target(context)
    if target is not None:
        path = _absolute(target[0], context)
        if os.path.isfile(path):
            return path, target[1]
    streams = context.get("streams") or {}
    for name in ("stderr", "stdout"):  # stderr sent into stdout (`2>&1`): the teed stdout
        captured = streams.get(name)
        if captured and os.path.isfile(captured) and os.path.getsize(captured):
            return captured, False
    return None


def _stderr_target(context: dict[str, Any]) -> tuple[str, bool] | None:
    """The file stderr was redirected or tee'd to, as written, and whether it appends."""
    return stream_target(context, 2)


def read_log(path: str, offset: int = 0) -> CaffeLog | None:
    """Parse the log from byte offset on (what a command appended), None if unreadable."""
    try:
        with open(path, "rb") as raw:
            raw.seek(offset)
            with io.TextIOWrapper(raw, encoding="utf-8", errors="replace") as text:
                return parse_log(text)
    except OSError:
        return None


def snapshot_entities(log: CaffeLog, cwd: str, root: str | None) -> dict[str, dict[str, Any]]:
    """Properties of each snapshot file inside the repository, by repository path."""
    entities: dict[str, dict[str, Any]] = {}
    if not root:
        return entities
    for snapshot in log.snapshots:
        absolute = os.path.normpath(os.path.join(cwd, os.path.expanduser(snapshot.path)))
        relative = os.path.relpath(absolute, root)
        if relative.startswith(".." + os.sep) or relative == ".." or os.path.isabs(relative):
            continue
        properties: dict[str, Any] = {"snapshot_kind": snapshot.kind}
        if snapshot.iteration is not None:
            properties["snapshot_iteration"] = snapshot.iteration
        entities[relative] = properties
    return entities
