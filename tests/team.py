"""The team example of docs/operators.md, captured with real `prov` commands: Alice trains,
Bob lowers the learning rate and trains again, Alice plots the log.

Activities, in order: a1 `python3 train.py ...` (Alice), a2 `sed -i ...` (Bob),
a3 `python3 train.py ...` (Bob), a4 `python3 plot.py train.log` (Alice).
"""

from __future__ import annotations

TRAIN = """\
import sys
data, net, solver = sys.argv[1:4]
text = "".join(open(p).read() for p in (data, net, solver))
open("weights.caffemodel", "w").write(str(len(text)) + text)
open("train.log", "a").write("trained with " + solver + "\\n")
"""

PLOT = """\
import sys
open("acc.png", "w").write(open(sys.argv[1]).read().upper())
"""

BOB = {"PROV_AGENT": "Bob <bob@example.com>"}


def capture_team(repo) -> dict[str, str]:
    """Run the four commands in `repo`; return the activity ids as a1..a4."""
    repo.write("train.py", TRAIN)
    repo.write("plot.py", PLOT)
    repo.write("faces.csv", "pixels,label\n0 1 0,smile\n1 0 1,frown\n")
    repo.write("train_val.prototxt", 'name: "FaceNet"\n')
    repo.write("solver.prototxt", 'net: "train_val.prototxt"\nbase_lr: 0.01\n')
    repo.commit_all("inputs")
    repo.ok("python3", "train.py", "faces.csv", "train_val.prototxt", "solver.prototxt")
    repo.ok("sed", "-i", "s/0.01/0.001/", "solver.prototxt", env=BOB)
    repo.ok("python3", "train.py", "faces.csv", "train_val.prototxt", "solver.prototxt",
            env=BOB)
    repo.ok("python3", "plot.py", "train.log")
    with repo.store() as store:
        newest_first = [a.id for a in store.activities()]
    return dict(zip(("a4", "a3", "a2", "a1"), newest_first, strict=True))
