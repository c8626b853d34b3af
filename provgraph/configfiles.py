"""Config files a template parameter names (`params.yaml:train.lr`): read a key, write a value.

YAML, JSON and TOML files are read and written whole with their libraries (the file a trial
reads is a fresh dump: comments and layout are not kept, the values are; the user's own file
is put back byte for byte after the trial). Caffe `.prototxt` files are edited in place, line by
line, for top-level fields (`base_lr: 0.01`), so everything else in them stays as written.
"""

from __future__ import annotations

import json
import re
from typing import Any

from provgraph.errors import BadInput
from provgraph.specs import typed

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml",
           ".prototxt": "prototxt"}
_NOT_THERE = object()


def kind_of(path: str) -> str:
    for suffix, kind in FORMATS.items():
        if path.endswith(suffix):
            return kind
    raise BadInput(f"{path}: only keys of YAML, JSON, TOML and .prototxt files can be swept")


def read(path: str, text: str) -> dict[str, Any]:
    kind = kind_of(path)
    try:
        if kind == "yaml":
            import yaml

            data = yaml.safe_load(text)
        elif kind == "json":
            data = json.loads(text)
        elif kind == "toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            from provgraph.ingestors.caffe.prototxt import parse

            data = parse(text)
    except Exception as exc:  # each library has its own error tree: all mean "cannot read"
        raise BadInput(f"{path} cannot be read as {kind}: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} does not hold a mapping of keys")
    return data


def lookup(data: dict[str, Any], dotted: str) -> Any:
    """The value at `train.lr`, or `_NOT_THERE`."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _NOT_THERE
        node = node[part]
    return node


def has(data: dict[str, Any], dotted: str) -> bool:
    return lookup(data, dotted) is not _NOT_THERE


def substitute(path: str, text: str, dotted: str, value: str) -> str:
    """`text` (the file as the user has it) with `dotted` set to `value`."""
    kind = kind_of(path)
    if kind == "prototxt":
        return _prototxt(path, text, dotted, value)
    data = read(path, text)
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = typed(value, node.get(parts[-1]))
    if kind == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False)
    if kind == "json":
        return json.dumps(data, indent=2) + "\n"
    import tomli_w

    return tomli_w.dumps(data)


def _prototxt(path: str, text: str, key: str, value: str) -> str:
    if "." in key:
        raise BadInput(f"{path}:{key}: only top-level fields of a .prototxt can be swept")
    depth = 0
    lines = text.splitlines(keepends=True)
    pattern = re.compile(rf"^(\s*{re.escape(key)}\s*:\s*)(\"[^\"]*\"|'[^']*'|[^\s#]+)(.*)$",
                         re.S)
    done = False
    for n, line in enumerate(lines):
        match = pattern.match(line) if depth == 0 and not done else None
        if match:
            old = match[2]
            new = json.dumps(value) if old[:1] in "\"'" else value
            lines[n] = match[1] + new + match[3]
            done = True
        code = line.split("#", 1)[0]
        depth += code.count("{") + code.count("<") - code.count("}") - code.count(">")
    if not done:
        raise BadInput(f"{path} has no top-level field {key}")
    return "".join(lines)
