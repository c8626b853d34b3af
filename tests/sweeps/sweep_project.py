"""A small training project for template and sweep tests: a real Python script that reads
`params.yaml` and `--lr`, and writes a metric; it fails when told to (FAIL_AT names an lr)."""

from __future__ import annotations

TRAIN = """\
import argparse, json, os, time
import yaml

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
with open("params.yaml") as handle:
    params = yaml.safe_load(handle)
if os.environ.get("FAIL_AT") and float(os.environ["FAIL_AT"]) == args.lr:
    raise SystemExit(3)
if os.environ.get("SLEEP"):
    time.sleep(float(os.environ["SLEEP"]))
seed = os.environ.get("SEED", "0")
os.makedirs("out", exist_ok=True)
with open(f"out/metric-{args.lr}-{params['train']['batch']}-{seed}.json", "w") as handle:
    json.dump({"lr": args.lr, "batch": params["train"]["batch"], "seed": seed,
               "accuracy": 1 - args.lr}, handle)
"""

PARAMS = "# training parameters\ntrain:\n  batch: 16   # per device\n  dropout: 0.5\n"


def training_project(repo) -> str:
    """Write and commit the project, record one run; returns that run's id."""
    repo.write("train.py", TRAIN)
    repo.write("params.yaml", PARAMS)
    repo.commit_all("training project")
    repo.ok("python", "train.py", "--lr", "0.1")
    return latest_id(repo)


def latest_id(repo) -> str:
    import json

    return json.loads(repo.ok("show", "latest", "--json").stdout)["id"]
