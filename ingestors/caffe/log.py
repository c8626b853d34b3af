"""Read a Caffe training log (glog on stderr) into train rows, test rows, runs and snapshots.

The reader is line-driven and forgiving: a line it does not know is skipped, a line cut in
the middle keeps what it has, and no input makes it raise (logs are truncated by crashes,
garbled by interleaved threads, and decoded with errors="replace"). It is fast because most
lines of a Caffe log (the echoed net definition, layer set-up) are dismissed by a plain
substring test before any regular expression runs.

BVLC's own tools/extra/parse_log.py is the reference most people know. We agree with it on
every iteration and value it records, and differ where it is wrong (see CAFFE.md):
the final `Iteration N, loss = X` line is a row; `lr` belongs to the row of its own
iteration; outputs that share a name stay in one test row (`accuracy`, `accuracy#2`, ...);
a lone row is kept; display losses without `Train net output` lines are kept.

Standard library only, no dataclasses: this runs after every caffe command.
"""

from __future__ import annotations

import math
import re
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds on `prov CMD`
    from collections.abc import Iterable
    from typing import Any

NAN = float("nan")

# A number as Caffe's iostreams print it, including glibc's `-nan` and MSVC's `1.#QNAN`.
# Nothing may follow it in the pattern: a line garbled after the value still gives the value.
_NUMBER = (r"([-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?:#[A-Za-z]+\d*)?"
           r"|(?i:nan|inf(?:inity)?)))")
# `Iteration 100, loss = 0.3`; Caffe 1.0 and Intel Caffe:
# `Iteration 100 (1.23 iter/s, 81.3s/100 iters), loss = 0.3`; NVIDIA Caffe prints the elapsed
# time instead for its first iterations, `Iteration 0 (5.50154 s), loss = 6.9`, and 0.17 the
# epochs before the loss, `Iteration 100 (9.8 iter/s, 10.2s/100 iter), 0.5/30ep, loss = 2.1`.
_DISPLAY = re.compile(r"Iteration (\d+)(?: \((?:" + _NUMBER + r" iter/s[^)]*|[^\s)]+ s)\))?"
                      r"(?:, [^\s,]+ep)?, loss = " + _NUMBER)
# NVIDIA Caffe goes on: `Iteration 100, lr = 0.01, m = 0.9, wd = 0.0005, gs = 1`.
_LEARNING_RATE = re.compile(r"Iteration (\d+), lr = " + _NUMBER)
# `Iteration 500, Testing net (#0)`; the first 2014 releases had one test net and no `(#k)`.
_TESTING = re.compile(r"Iteration (\d+), Testing net(?: \(#(\d+)\))?")
# `Train net output #1: loss1/loss = 4.33 (* 0.3 = 1.30 loss)`
_OUTPUT = re.compile(r"(Train|Test) net output #(\d+): (.+?) = " + _NUMBER
                     + r"(?: \(\* " + _NUMBER + r" = " + _NUMBER + r" loss\))?")
_TEST_LOSS = re.compile(r"Test loss: " + _NUMBER)  # 2014: with test_compute_loss
_TEST_SCORE = re.compile(r"Test score #(\d+): " + _NUMBER)  # 2014, before named outputs
# `Snapshotting to binary proto file X`, `Snapshotting solver state to binary proto fileX`
# (2015 printed no space), the HDF5 forms, and the older `Snapshotting to X`.
_SNAPSHOT = re.compile(r"Snapshotting (solver state )?to (?:binary proto file|HDF5 file|)"
                       r"\s*(\S.*?)\s*$")
_SNAPSHOT_ITERATION = re.compile(r"_iter_(\d+)\.(?:caffemodel|solverstate)(?:\.h5)?$")
_RESUME = re.compile(r"(?:Resuming from|Restoring previous solver status from) (\S.*?)\s*$")
_SOLVING = re.compile(r"(?:^|\] )Solving (\S.*?)\s*$")
# glog: `I0603 04:24:33.434226   822 caffe.cpp:279] msg`; the number after the time is the
# thread id, which is the process id for the main thread that logs a run's start.
_GLOG = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d(?:\.\d+)?\s+(\d+) [^\]]*\] ?(.*?)\s*$")
_SIGNAL = re.compile(r"\*\*\* (SIG[A-Z]+)")

# A run ends one of four ways (Run.end).
DONE, STOPPED, FAILED, CUT = "done", "stopped", "failed", "cut"
# Series names a net output may not take: they are the row's own fields.
TRAIN_FIELDS = frozenset({"iteration", "run", "loss", "lr", "speed"})
TEST_FIELDS = frozenset({"iteration"})


class TrainRow:
    """One display iteration: the `Iteration N, loss = X` line, its lr and its net outputs.

    loss, lr and speed (iter/s) are NaN when the log does not print them. outputs maps each
    output name (duplicates suffixed `#2`, `#3`) to its raw value; weighted maps the names
    printed with a loss weight other than 1, `(* 0.3 = z loss)`, to z (with weight 1, z is
    the raw value again).
    """

    __slots__ = ("iteration", "loss", "lr", "outputs", "run", "speed", "weighted")

    def __init__(self, iteration: int, run: int) -> None:
        self.iteration, self.run = iteration, run
        self.loss = self.lr = self.speed = NAN
        self.outputs: dict[str, float] = {}
        self.weighted: dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"TrainRow(iteration={self.iteration}, run={self.run}, loss={self.loss}, "
                f"lr={self.lr}, speed={self.speed}, outputs={self.outputs})")


class TestRow:
    """One `Iteration N, Testing net (#k)` block and the outputs printed under it."""

    __slots__ = ("iteration", "net", "outputs", "run", "weighted")
    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, iteration: int, net: int, run: int) -> None:
        self.iteration, self.net, self.run = iteration, net, run
        self.outputs: dict[str, float] = {}
        self.weighted: dict[str, float] = {}

    def __repr__(self) -> str:
        return (f"TestRow(iteration={self.iteration}, net={self.net}, run={self.run}, "
                f"outputs={self.outputs})")


class Snapshot(namedtuple("Snapshot", "iteration kind path run")):
    """A file Caffe says it wrote: kind is "weights" or "solverstate".

    Fields:
        iteration: int | None  # from the `_iter_N.` of the name, else the last iteration seen
        kind: str
        path: str  # as printed: relative to Caffe's working directory, or absolute
        run: int
    """

    __slots__ = ()


class Run:
    """One solver run: a `caffe train` process, or one of several appended to one log.

    A run starts at the first of `Initializing solver from parameters`, `Starting
    Optimization`, `Solving <net>`, `Resuming from`, `Restoring previous solver status from`
    after the previous run made progress; the others that follow before any progress belong
    to the same start-up.
    """

    __slots__ = ("done", "failed", "index", "nan", "net", "pid", "progressed", "resumed_from",
                 "stopped")

    def __init__(self, index: int, pid: int | None) -> None:
        self.index, self.pid = index, pid
        self.net: str | None = None
        self.resumed_from: str | None = None
        self.done = self.stopped = self.failed = self.nan = self.progressed = False

    @property
    def end(self) -> str:
        """done: `Optimization Done.` without `Optimization stopped early.`; stopped: Caffe
        said it stopped early (a SIGINT/SIGHUP stop request); failed: a glog FATAL line or a
        fatal signal and no `Optimization Done.`; cut: none of these (the log ends, or the
        next run starts, with no word on how this one ended: killed, or still running)."""
        if self.stopped:
            return STOPPED
        if self.done:
            return DONE
        return FAILED if self.failed else CUT

    @property
    def stopped_early(self) -> bool:
        """Whether the run ended any other way than with a plain `Optimization Done.`."""
        return self.end != DONE

    def __repr__(self) -> str:
        return (f"Run(index={self.index}, pid={self.pid}, net={self.net!r}, "
                f"resumed_from={self.resumed_from!r}, end={self.end!r}, nan={self.nan})")


class CaffeLog:
    """What one log says: rows and snapshots in log order, the runs, the first fatal error."""

    __slots__ = ("fatal", "fatal_pid", "final_iteration", "runs", "snapshots", "test", "train")

    def __init__(self) -> None:
        self.train: list[TrainRow] = []
        self.test: list[TestRow] = []
        self.snapshots: list[Snapshot] = []
        self.runs: list[Run] = []
        self.fatal: str | None = None
        self.fatal_pid: int | None = None
        self.final_iteration: int | None = None

    def __repr__(self) -> str:
        return (f"CaffeLog(train={len(self.train)} rows, test={len(self.test)} rows, "
                f"runs={self.runs}, snapshots={len(self.snapshots)}, fatal={self.fatal!r})")

    def last_process(self) -> CaffeLog:
        """Only the runs of the process that wrote last (a log appended to by several runs).

        The trailing runs logged under the same process id as the last run are kept, with
        their rows and snapshots; runs are renumbered from 0.
        """
        if not self.runs:
            return self
        pid = self.runs[-1].pid
        first = len(self.runs) - 1
        while first > 0 and self.runs[first - 1].pid == pid:
            first -= 1
        return self._from_run(first, pid)

    def _from_run(self, first: int, pid: int | None) -> CaffeLog:
        """Runs first.. with their rows and snapshots, renumbered so that `first` is 0."""
        part = CaffeLog()
        part.runs = [_copy(run, index=run.index - first) for run in self.runs[first:]]
        part.train = [_copy(row, run=row.run - first) for row in self.train if row.run >= first]
        part.test = [_copy(row, run=row.run - first) for row in self.test if row.run >= first]
        part.snapshots = [s._replace(run=s.run - first) for s in self.snapshots
                          if s.run >= first]
        if self.fatal is not None and self.fatal_pid in (None, pid):
            part.fatal, part.fatal_pid = self.fatal, self.fatal_pid
        if part.train or part.test or part.snapshots:  # the log's last point is theirs
            part.final_iteration = self.final_iteration
        return part

    def series(self) -> dict[str, Any]:
        """The properties of CAFFE.md, without the `caffe.` prefix the framework adds."""
        properties: dict[str, Any] = {}
        properties.update(_train_series(self.train))
        for net in sorted({row.net for row in self.test}):
            rows = [row for row in self.test if row.net == net]
            properties.update(_test_series(rows, "test" if net == 0 else f"test{net}"))
        properties.update(self._run_scalars())
        return properties

    def _run_scalars(self) -> dict[str, Any]:
        runs = self.runs
        scalars: dict[str, Any] = {
            "runs": len(runs),
            "optimization_done": bool(runs) and runs[-1].end == DONE,
            "stopped_early": any(run.stopped_early for run in runs),
            "nan": any(run.nan for run in runs),
        }
        if runs:
            scalars["run_end"] = [run.end for run in runs]
        resumed = [run.resumed_from for run in runs if run.resumed_from]
        if resumed:
            scalars["resumed_from"] = resumed
        if self.final_iteration is not None:
            scalars["final_iteration"] = self.final_iteration
        if self.fatal is not None:
            scalars["fatal"] = self.fatal
        return scalars


def _copy(item: Any, **changes: Any) -> Any:
    """A copy of a row or run (plain classes with __slots__) with some attributes changed."""
    copy = object.__new__(type(item))
    for name in type(item).__slots__:
        setattr(copy, name, changes[name] if name in changes else getattr(item, name))
    return copy


def _train_series(rows: list[TrainRow]) -> dict[str, Any]:
    """`train.iteration`, `train.run`, then loss, lr, speed and every output, as columns."""
    if not rows:
        return {}
    series: dict[str, Any] = {
        "train.iteration": [row.iteration for row in rows],
        "train.run": [row.run for row in rows],
    }
    for field in ("loss", "lr", "speed"):
        column = [getattr(row, field) for row in rows]
        if not all(math.isnan(value) for value in column):
            series[f"train.{field}"] = column
    series.update(_output_columns(rows, "train", TRAIN_FIELDS))
    return series


def _test_series(rows: list[TestRow], prefix: str) -> dict[str, Any]:
    series: dict[str, Any] = {f"{prefix}.iteration": [row.iteration for row in rows]}
    series.update(_output_columns(rows, prefix, TEST_FIELDS))
    return series


def _output_columns(rows: list[Any], prefix: str, reserved: frozenset[str]) -> dict[str, Any]:
    """One column per output name, in order of first appearance; NaN where a row lacks it.

    An output named like one of the row's own fields goes under `output.` (LeNet's train
    output `loss` is `train.output.loss`; `train.loss` is the display line's loss).
    """
    names = dict.fromkeys(name for row in rows for name in row.outputs)
    weighted = dict.fromkeys(name for row in rows for name in row.weighted)
    columns: dict[str, Any] = {}
    for name in names:
        key = f"output.{name}" if name in reserved else name
        columns[f"{prefix}.{key}"] = [row.outputs.get(name, NAN) for row in rows]
        if name in weighted:
            columns[f"{prefix}.{key}.weighted"] = [row.weighted.get(name, NAN) for row in rows]
    return columns


def parse_log(lines: Iterable[str]) -> CaffeLog:
    """Read a Caffe log, line by line; never raise, whatever the lines hold."""
    reader = _Reader()
    feed = reader.feed
    try:
        for line in lines:
            try:
                feed(line)
            except Exception:  # a garbled line is skipped, never fatal
                if isinstance(line, bytes | bytearray):
                    _feed_bytes(feed, line)
    except Exception:  # the iterable itself failed (an I/O or decoding error): keep what we have
        pass
    return reader.log


def _feed_bytes(feed: Any, line: bytes | bytearray) -> None:
    try:
        feed(bytes(line).decode("utf-8", errors="replace"))
    except Exception:
        return


def _number(text: str | None) -> float:
    """Caffe's printed number as a float: `-nan` and `1.#QNAN` are NaN, `1.#INF` infinite."""
    if text is None:
        return NAN
    try:
        return float(text)
    except ValueError:
        if "#" in text and "INF" in text.upper():
            return -math.inf if text.startswith("-") else math.inf
        return NAN


def _unique(name: str, taken: dict[str, float]) -> str:
    """`accuracy` printed four times in one row is accuracy, accuracy#2, accuracy#3, ..."""
    if name not in taken:
        return name
    count = 2
    while f"{name}#{count}" in taken:
        count += 1
    return f"{name}#{count}"


class _Reader:
    """The state of one pass over a log: the open run, the open rows, the last iteration."""

    def __init__(self) -> None:
        self.log = CaffeLog()
        self.run: Run | None = None
        self.train_row: TrainRow | None = None
        self.test_row: TestRow | None = None
        # The row an `Iteration N, lr = X` line opened, its display line not yet seen.
        self.lr_row: TrainRow | None = None
        self.iteration: int | None = None

    def feed(self, line: str) -> None:
        """Dispatch one line by cheap substring tests; most lines match none of them."""
        if line[:1] == "F" and self.fatal_line(line):
            return
        if "Iteration " in line:
            self.iteration_line(line)
        elif "net output #" in line:
            self.output_line(line)
        elif "Test " in line:
            self.old_test_line(line)
        elif "Snapshotting " in line:
            self.snapshot_line(line)
        elif "ptimization" in line:
            self.optimization_line(line)
        elif "Solving " in line:
            self.solving_line(line)
        elif "solver " in line or "Resuming from" in line:
            self.solver_line(line)
        elif "***" in line:
            self.fatal_line(line)

    # --- runs -----------------------------------------------------------------------------

    def current_run(self) -> Run:
        """The open run; a log that starts mid-run (no start line) gets an implicit one."""
        if self.run is None:
            self.start_run(None)
        assert self.run is not None
        return self.run

    def start_run(self, line: str | None) -> Run:
        """A start-up line opens a new run unless the open one has not made progress yet."""
        if self.run is not None and not self.run.progressed:
            return self.run
        pid = _pid(line) if line is not None else None
        self.run = Run(len(self.log.runs), pid)
        self.log.runs.append(self.run)
        self.train_row = self.test_row = self.lr_row = None
        self.iteration = None
        return self.run

    def progress(self, iteration: int | None) -> Run:
        run = self.current_run()
        run.progressed = True
        if iteration is not None:
            self.log.final_iteration = iteration
        return run

    # --- lines ----------------------------------------------------------------------------

    def iteration_line(self, line: str) -> None:
        if "loss = " in line:
            match = _DISPLAY.search(line)
            if match:
                self.display(int(match.group(1)), match.group(2), match.group(3))
                return
        if "lr = " in line:
            match = _LEARNING_RATE.search(line)
            if match:
                self.learning_rate(int(match.group(1)), _number(match.group(2)))
                return
        if "Testing net" in line:
            match = _TESTING.search(line)
            if match:
                self.testing(int(match.group(1)), int(match.group(2) or 0))

    def display(self, iteration: int, speed: str | None, loss: str) -> None:
        """A display line opens row N, or completes the one its own lr line opened (2014)."""
        run = self.progress(iteration)
        row = self.lr_row
        if row is None or row is not self.train_row or row.iteration != iteration:
            row = TrainRow(iteration, run.index)
            self.log.train.append(row)
        self.lr_row = None
        row.loss = _number(loss)
        row.speed = _number(speed)
        if math.isnan(row.loss) and "nan" in loss.lower():
            run.nan = True
        self.train_row, self.test_row = row, None
        self.iteration = iteration

    def learning_rate(self, iteration: int, lr: float) -> None:
        """`Iteration N, lr = X` is row N's lr: it follows the outputs of display N, or, in the
        early 2014 releases, comes just before display N (it opens the row the display fills)."""
        row = self.train_row
        if row is None or row.iteration != iteration:
            row = TrainRow(iteration, self.progress(iteration).index)
            self.log.train.append(row)
            self.train_row = self.lr_row = row
        row.lr = lr
        self.iteration = iteration

    def testing(self, iteration: int, net: int) -> None:
        run = self.progress(iteration)
        self.test_row = TestRow(iteration, net, run.index)
        self.log.test.append(self.test_row)
        self.iteration = iteration

    def output_line(self, line: str) -> None:
        match = _OUTPUT.search(line)
        if not match:
            return
        phase, _, name, value, weight, weighted = match.groups()
        row = self.train_output_row() if phase == "Train" else self.test_output_row()
        if row is not None:
            self.add_output(row, name, value, weighted if _number(weight) != 1 else None)

    def train_output_row(self) -> TrainRow | None:
        """Outputs follow their display line; without one, they open a row of their own."""
        if self.train_row is None and self.iteration is not None:
            self.train_row = TrainRow(self.iteration, self.progress(self.iteration).index)
            self.log.train.append(self.train_row)
        return self.train_row

    def test_output_row(self) -> TestRow | None:
        """Outputs belong to the open `Testing net` block; without one, to a block of net 0."""
        if self.test_row is None and self.iteration is not None:
            self.testing(self.iteration, 0)
        return self.test_row

    def add_output(self, row: TrainRow | TestRow, name: str, value: str,
                   weighted: str | None) -> None:
        key = _unique(name, row.outputs)
        number = row.outputs[key] = _number(value)
        if weighted is not None:
            row.weighted[key] = _number(weighted)
        if "loss" in name and math.isnan(number) and "nan" in value.lower():
            self.current_run().nan = True

    def old_test_line(self, line: str) -> None:
        """2014 logs: `Test loss: X` and `Test score #j: X` under a `Testing net` line."""
        match = _TEST_LOSS.search(line)
        if match:
            name, value = "loss", match.group(1)
        else:
            match = _TEST_SCORE.search(line)
            if not match:
                return
            name, value = f"score#{match.group(1)}", match.group(2)
        row = self.test_output_row()
        if row is not None:
            self.add_output(row, name, value, None)

    def snapshot_line(self, line: str) -> None:
        match = _SNAPSHOT.search(line)
        if not match:
            return
        path = match.group(2)
        kind = "solverstate" if match.group(1) or path.endswith(".solverstate") else "weights"
        named = _SNAPSHOT_ITERATION.search(path)
        iteration = int(named.group(1)) if named else self.iteration
        run = self.progress(iteration)
        self.log.snapshots.append(Snapshot(iteration, kind, path, run.index))

    def optimization_line(self, line: str) -> None:
        if "Optimization Done." in line:
            self.progress(None).done = True
        elif "Optimization stopped early" in line:
            self.progress(None).stopped = True
        elif "Starting Optimization" in line:
            self.start_run(line)

    def solving_line(self, line: str) -> None:
        match = _SOLVING.search(line)
        if match:
            self.start_run(line).net = match.group(1)

    def solver_line(self, line: str) -> None:
        if "Initializing solver" in line:
            self.start_run(line)
            return
        match = _RESUME.search(line)
        if match:
            run = self.start_run(line)
            run.resumed_from = run.resumed_from or match.group(1)

    def fatal_line(self, line: str) -> bool:
        """A glog FATAL line (`F0603 ...] Check failed: ...`) or a fatal signal's report
        (`*** SIGSEGV (@0x0) received by PID ...`); return whether it was one."""
        if line[:1] == "F":
            match = _GLOG.match(line)
            if not match or match.group(1) != "F":
                return False
            message, pid = match.group(3), int(match.group(2))
        else:
            match = _SIGNAL.search(line)
            if not match:
                return False
            message, pid = match.group(1), None
        if self.log.fatal is None:
            self.log.fatal, self.log.fatal_pid = message, pid
        if self.run is not None:
            self.run.failed = self.run.progressed = True
        return True


def _pid(line: str) -> int | None:
    match = _GLOG.match(line)
    return int(match.group(2)) if match else None
