"""A stand-in for Caffe on PATH, for tests: it replays a real log of the shared test data."""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "caffe"

STAND_IN = """\
#!{python}
# A stand-in for Caffe: prints a real log on stderr, byte for byte, writes the snapshot
# files it names, and ends as the run did.
import os, re, sys
# read the solver and the net it names, as Caffe does
for arg in sys.argv[1:]:
    if arg.startswith("--solver="):
        solver = open(arg.split("=", 1)[1]).read()
        net = re.search(r'^\\s*net\\s*:\\s*"([^"]+)"', solver, re.M)
        if net and os.path.exists(net.group(1)):
            open(net.group(1)).read()
log = open(os.environ["CAFFE_LOG"], "rb").read()
sys.stderr.buffer.write(log)
sys.stderr.flush()
for path in re.findall(rb"Snapshotting (?:solver state )?to (?:binary proto file ?)?(\\S+)", log):
    path = os.fsdecode(path)
    if not os.path.isabs(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        open(path, "wb").write(b"snapshot " + path.encode())
sys.exit(1 if re.search(rb"^F\\d{{4}}", log, re.M) else 0)
"""


def install_caffe(folder: Path) -> Path:
    """Write the stand-in as `caffe` in `folder`; put the folder first on PATH and name the
    log to replay in CAFFE_LOG."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "caffe"
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(0o755)
    return folder
