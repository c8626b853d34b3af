#!/usr/bin/env bash
# The quick start: make a small analysis repository, run a three-step pipeline under prov,
# change a parameter file outside prov, retrain, and print where the model came from.
# Usage: examples/quickstart/run.sh [FOLDER]   (default: a new temporary folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-$(mktemp -d)/quickstart}
mkdir -p "$work"
cd "$work"
git init -q
git config user.name >/dev/null || git config user.name "Quick Start"
git config user.email >/dev/null || git config user.email "quickstart@example.com"
cp "$here/prepare.py" "$here/train.py" .
printf 'id,score,label\n' > raw.csv
for i in $(seq 1 40); do printf '%d,%d,%s\n' "$i" $(( (i * 37) % 101 )) "$([ $((i % 3)) = 0 ] && echo ' Cat' || echo 'dog ')" >> raw.csv; done
printf '41,,\n' >> raw.csv
echo "lr: 0.1" > params.yaml
git add -A && git commit -qm "data, scripts and parameters"

echo "== capturing the pipeline in $work"
prov python3 prepare.py raw.csv clean.csv
prov sort -t, -k2 -n -o sorted.csv clean.csv
prov 'cut -d, -f3 sorted.csv | sort | uniq -c > labels.txt && wc -l labels.txt'
prov python3 train.py params.yaml sorted.csv
echo "lr: 0.05" > params.yaml          # an edit made without prov
prov python3 train.py params.yaml sorted.csv

echo "== prov log -n 2"
prov log -n 2
echo "== prov lineage model.json"
prov lineage model.json
