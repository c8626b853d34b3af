"""How fast the Caffe ingestor reads a training log, against BVLC's parse_log.py approach.

Each log of the shared test data is read once into memory as lines; then
`parse_log(lines).series()` is timed, repeated until at least --seconds per file. The same is
done, in the same run, for BVLC's tools/extra/parse_log.py as of Caffe master, whose core loop
is reproduced below (`bvlc_parse_log`: the same regexes, the same row logic, its timestamp
parsing per line, the same year handling; only the file is replaced by the in-memory lines
and the file's creation year by a fixed one). To show the reproduction is faithful, its rows
are written as parse_log.py writes them (csv.DictWriter) and compared byte for byte with the
`*.ref_*.csv` files, which were made by the real script.

A failure is a parse that raised. Ours must have none; BVLC's crashes on a log that ends
with a blank line.

Usage: python benchmarks/caffe_parse.py [--seconds S] [--data DIR]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import re
import sys
import time
from collections import OrderedDict
from pathlib import Path

from provgraph.ingestors.caffe.log import parse_log

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "caffe" / "logs"
MB = 1e6
YEAR = 2017  # parse_log.py takes the year from the file's ctime; any year without Feb 29 does


# --- BVLC tools/extra/parse_log.py and extract_seconds.py (Caffe master), core loop -------

def _extract_datetime_from_line(line: str, year: int) -> datetime.datetime:
    # Expected format: I0210 13:39:22.381027 25210 solver.cpp:204] Iteration 100, lr = 0.00992565
    line = line.strip().split()
    month = int(line[0][1:3])
    day = int(line[0][3:])
    timestamp = line[1]
    pos = timestamp.rfind(".")
    ts = [int(x) for x in timestamp[:pos].split(":")]
    hour, minute, second = ts[0], ts[1], ts[2]
    microsecond = int(timestamp[pos + 1 :])
    return datetime.datetime(year, month, day, hour, minute, second, microsecond)


def _get_start_time(line_iterable, year: int):
    start_datetime = None
    for line in line_iterable:
        line = line.strip()
        if line.find("Solving") != -1:
            start_datetime = _extract_datetime_from_line(line, year)
            break
    return start_datetime


def bvlc_parse_log(lines: list[str], logfile_year: int = YEAR):
    """parse_log.parse_log with the file replaced by lines (one iterator, as the file was)."""
    regex_iteration = re.compile(r"Iteration (\d+)")
    regex_train_output = re.compile(r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)")
    regex_test_output = re.compile(r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)")
    regex_learning_rate = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")

    iteration = -1
    learning_rate = float("NaN")
    train_dict_list: list = []
    test_dict_list: list = []
    train_row = None
    test_row = None

    f = iter(lines)
    start_time = _get_start_time(f, logfile_year)
    last_time = start_time
    for line in f:
        iteration_match = regex_iteration.search(line)
        if iteration_match:
            iteration = float(iteration_match.group(1))
        if iteration == -1:
            continue
        try:
            time_ = _extract_datetime_from_line(line, logfile_year)
        except ValueError:
            continue  # "Skip lines with bad formatting, for example when resuming solver"
        if time_.month < last_time.month:  # "if it's another year"
            logfile_year += 1
            time_ = _extract_datetime_from_line(line, logfile_year)
        last_time = time_
        seconds = (time_ - start_time).total_seconds()
        learning_rate_match = regex_learning_rate.search(line)
        if learning_rate_match:
            learning_rate = float(learning_rate_match.group(1))
        train_dict_list, train_row = _parse_line_for_net_output(
            regex_train_output, train_row, train_dict_list, line, iteration, seconds,
            learning_rate)
        test_dict_list, test_row = _parse_line_for_net_output(
            regex_test_output, test_row, test_dict_list, line, iteration, seconds,
            learning_rate)
    _fix_initial_nan_learning_rate(train_dict_list)
    _fix_initial_nan_learning_rate(test_dict_list)
    return train_dict_list, test_dict_list


def _parse_line_for_net_output(regex_obj, row, row_dict_list, line, iteration, seconds,
                               learning_rate):
    output_match = regex_obj.search(line)
    if output_match:
        if not row or row["NumIters"] != iteration:
            if row:
                row_dict_list.append(row)
            row = OrderedDict([("NumIters", iteration), ("Seconds", seconds),
                               ("LearningRate", learning_rate)])
        row[output_match.group(2)] = float(output_match.group(3))
    if row and len(row_dict_list) >= 1 and len(row) == len(row_dict_list[0]):
        row_dict_list.append(row)
        row = None
    return row_dict_list, row


def _fix_initial_nan_learning_rate(dict_list) -> None:
    if len(dict_list) > 1:
        dict_list[0]["LearningRate"] = dict_list[1]["LearningRate"]


def _bvlc_csv(dict_list) -> bytes | None:
    """parse_log.write_csv: nothing for no rows, else csv.excel with the first row's keys."""
    if not dict_list:
        return None
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=dict_list[0].keys(), dialect=csv.excel)
    writer.writeheader()
    writer.writerows(dict_list)
    return out.getvalue().encode()


# --- timing ------------------------------------------------------------------------------

def timed(parse, lines: list[str], seconds: float) -> tuple[float, int, int]:
    """(seconds per parse, repetitions, failures): parse repeated for at least `seconds`."""
    repetitions = failures = 0
    start = time.perf_counter()
    while True:
        try:
            parse(lines)
        except Exception:
            failures += 1
        repetitions += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / repetitions, repetitions, failures


def ours(lines: list[str]) -> dict:
    return parse_log(lines).series()


def reproduces_reference(log: Path, lines: list[str]) -> str:
    """Whether our BVLC loop writes exactly the ref CSVs beside the log (or, like the real
    script, crashes or writes none where there are none)."""
    try:
        train, test = bvlc_parse_log(lines)
    except Exception as exc:
        crashed = f"crashes ({type(exc).__name__})"
        refs = list(log.parent.glob(log.stem + ".ref_*.csv"))
        return f"yes: {crashed}, no ref CSV" if not refs else f"NO: {crashed}"
    verdicts = []
    for phase, rows in (("train", train), ("test", test)):
        ref = log.parent / f"{log.stem}.ref_{phase}.csv"
        written = _bvlc_csv(rows)
        expected = ref.read_bytes() if ref.exists() else None
        verdicts.append(written == expected)
    return "yes" if all(verdicts) else "NO"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per file and parser")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of *.log files")
    args = parser.parse_args()
    logs = sorted(args.data.glob("*.log"))
    if not logs:
        print(f"no *.log in {args.data}", file=sys.stderr)
        return 1
    print("| log | KB | ours MB/s | ours failures | BVLC parse_log.py MB/s | BVLC failures "
          "| BVLC loop = ref CSVs |")
    print("|---|---:|---:|---:|---:|---:|---|")
    totals = {"bytes": 0, "ours": 0.0, "bvlc": 0.0, "ours_failed": 0, "bvlc_failed": 0}
    for log in logs:
        raw = log.read_bytes()
        lines = raw.decode("utf-8", errors="replace").splitlines(keepends=True)
        mine, _, mine_failed = timed(ours, lines, args.seconds)
        theirs, _, theirs_failed = timed(bvlc_parse_log, lines, args.seconds)
        totals["bytes"] += len(raw)
        totals["ours"] += mine
        totals["bvlc"] += theirs
        totals["ours_failed"] += mine_failed
        totals["bvlc_failed"] += theirs_failed
        print(f"| {log.name} | {len(raw) / 1000:.1f} | {len(raw) / mine / MB:.1f} | "
              f"{mine_failed} | {len(raw) / theirs / MB:.1f} | {theirs_failed} | "
              f"{reproduces_reference(log, lines)} |")
    size = totals["bytes"]
    print(f"| **total** | {size / 1000:.1f} | **{size / totals['ours'] / MB:.1f}** | "
          f"{totals['ours_failed']} | {size / totals['bvlc'] / MB:.1f} | "
          f"{totals['bvlc_failed']} | |")
    print(f"\nTotal MB/s is all bytes over the summed time of one parse of each log. "
          f"Python {sys.version.split()[0]}. BVLC's figure is not comparable where it does "
          "not do the work: it stops at the crash, and skims a log with no `Solving` line "
          "(no iteration) with one string search per line.")
    return 1 if totals["ours_failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
