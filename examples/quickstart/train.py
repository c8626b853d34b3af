"""Step 3: 'train' a threshold model on the sorted data with the learning rate in params;
writes model.json."""

import json
import sys

params_path, data_path = sys.argv[1], sys.argv[2]
with open(params_path) as handle:
    params = dict(line.split(":", 1) for line in handle if ":" in line)
rate = float(params.get("lr", "0.1"))
with open(data_path) as handle:
    values = [float(line.split(",")[1]) for line in handle]
threshold = 0.0
for value in values:
    threshold += rate * (value - threshold)
with open("model.json", "w") as out:
    json.dump({"threshold": round(threshold, 4), "lr": rate, "n": len(values)}, out)
print(f"trained on {len(values)} rows, threshold {threshold:.3f}")
