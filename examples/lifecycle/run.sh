#!/usr/bin/env bash
# The team story of ProvDB's lifecycle management, with provgraph: Alice trains a model, Bob
# lowers the learning rate outside prov and trains again; they compare the runs, find the
# weights stale after new training data arrives, re-run what is needed, and sweep Bob's run
# over three learning rates. A stand-in for Caffe (./caffe) writes real Caffe logs.
# Usage: examples/lifecycle/run.sh [FOLDER]   (default: a new temporary folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)/lifecycle}
export PATH="$here:$PATH"  # the Caffe stand-in, as `caffe`
mkdir -p "$work"
cd "$work"
git init -q
git config user.name "Alice"
git config user.email "alice@example.com"
mkdir data
for i in $(seq 1 40); do echo "$i,$(( i * 7 % 10 ))"; done > data/train.csv
printf 'name: "FaceNet"\nlayer {\n  name: "data"\n  type: "Data"\n  data_param { source: "data/train.csv" }\n}\n' > net.prototxt
printf 'net: "net.prototxt"\nbase_lr: 0.01\nmax_iter: 500\ntest_interval: 100\nsnapshot_prefix: "snapshots/faces"\n' > solver.prototxt
git add -A && git commit -qm "training data, net and solver"

echo "== Alice trains; Bob lowers base_lr in solver.prototxt (outside prov) and trains"
prov caffe train --solver=solver.prototxt 2>/dev/null  # (Caffe's log: recorded, not shown)
sed -i 's/base_lr: 0.01/base_lr: 0.001/' solver.prototxt
PROV_AGENT="Bob <bob@example.com>" prov caffe train --solver=solver.prototxt 2>/dev/null

echo "== prov runs: the parameters that differ, the final and best of each series"
prov runs

echo "== new training data arrives; prov stale --why"
for i in $(seq 41 60); do echo "$i,$(( i * 7 % 10 ))"; done >> data/train.csv
prov stale --why

echo "== prov rerun snapshots/faces_iter_500.caffemodel"
prov rerun snapshots/faces_iter_500.caffemodel 2>/dev/null
echo "prov stale: $(prov stale | wc -l) stale outputs"

echo "== a template from Bob's run, swept over base_lr"
prov template lr-sweep --from '#2' --param 'solver.prototxt:base_lr=0.001:0.1:x10'
sweep=$(prov sweep lr-sweep --json 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "== prov runs --sweep $sweep"
prov runs --sweep "$sweep"
