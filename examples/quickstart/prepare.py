"""Step 1: drop the header and malformed rows, normalise labels (reads raw, writes clean)."""

import csv
import sys

source, target = sys.argv[1], sys.argv[2]
with open(source, newline="") as inp, open(target, "w", newline="") as out:
    writer = csv.writer(out)
    rows = csv.reader(inp)
    next(rows)  # the header
    for row in rows:
        if len(row) == 3 and row[2].strip():
            writer.writerow([row[0], row[1], row[2].strip().lower()])
