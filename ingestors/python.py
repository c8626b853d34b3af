"""Python scripts: the script and its local imports, its argparse-style parameters, and the
files it really read.

- `python train.py --lr 0.1 --epochs=5 --augment data.csv`: `python.script` is the script's
  path from the repository's root (as typed when it lies elsewhere); the script and the repository
  modules it imports (found statically, following imports from module to module) are used;
  `python.args.lr = 0.1`, `python.args.epochs = 5`, `python.args.augment = true` (names as
  argparse makes them: dashes stripped, inner dashes as underscores; values typed).
- Hydra/OmegaConf-style overrides after the script (`python train.py lr=0.1 +model.depth=3
  ~aux`) are parameters: `params.overrides.lr = 0.1`, `params.overrides.model.depth = 3`
  (values typed as YAML 1.2 reads them, as Hydra does: `[1,2]` is a list, `on` text), and
  `params.overrides._deleted = ["aux"]` for `~key` (remove the key from the config). Read
  here, not with Hydra's own parser: that costs ~150 ms of imports on every capture.
- `python -m pkg.tool ...`: the module (`pkg/tool.py` or `pkg/tool/__main__.py`) likewise.
- What the program really read and wrote is traced by provgraph.capture.tracing for every command;
  without tracing, the imports found by reading the code stand in for it.
"""

from __future__ import annotations

import ast
import os
import re

from provgraph.ingestors import Ingestor
from provgraph.ingestors.posix import parse_arguments, script_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_MODULES = 500  # local modules followed per script
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$")


class PythonIngestor(Ingestor):
    name = "python"
    pattern = re.compile(r"(^|[\s/])python[0-9.]*\s")

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        argv = context["argv"]
        if not argv or not re.fullmatch(r"python[0-9.]*", os.path.basename(argv[0])):
            return None
        parsed = parse_arguments(argv)
        cwd = context["cwd"]
        activity: dict[str, Any] = {}
        start: str | None = None
        args: list[str] = []
        if parsed.subcommand and parsed.subcommand.startswith("-m "):
            module = parsed.subcommand[3:]
            activity["module"] = module
            start = _module_file(module, cwd)
            args = parsed.operands
        elif parsed.subcommand:
            activity["script"] = script_path(parsed.subcommand, context)  # from the root
            start = os.path.join(cwd, parsed.subcommand)
            args = parsed.operands[1:]
        if args:
            activity["args"] = parse_options(args)
        fragment: dict[str, Any] = {"activity": activity}
        overrides = hydra_overrides(args)
        if overrides:
            fragment["params"] = overrides
        if start and os.path.isfile(start) and not context.get("traced"):
            # Untraced, the imports are found by reading the code (the trace sees them).
            files = local_modules(start, context["root"])
            fragment["used"] = [{"path": path, "role": "code"} for path in files]
        return fragment


def parse_options(words: list[str]) -> dict[str, Any]:
    """argparse-style options of a script's command line, typed; positionals are left out."""
    options: dict[str, Any] = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            break
        if not word.startswith("-") or word == "-" or _NUMBER.match(word):
            continue
        name, sep, value = word.lstrip("-").partition("=")
        if not name:
            continue
        if not sep:
            nxt = words[index] if index < len(words) else None
            if nxt is not None and (not nxt.startswith("-") or _NUMBER.match(nxt)):
                value, index = nxt, index + 1
            else:
                value = None
        key = name.replace("-", "_")
        typed = True if value is None else _typed(value)
        if key in options:
            previous = options[key]
            options[key] = [*previous, typed] if isinstance(previous, list) else [previous, typed]
        else:
            options[key] = typed
    return options


#: A Hydra override: `key=value`, `+key=value`, `++key=value`, `~key[=value]`; a key is a
#: dotted path, a config group (`db`, `hydra/launcher`) or a group with a package (`db@x`).
_OVERRIDE = re.compile(r"(\+\+|\+|~)?([A-Za-z_$][\w$-]*(?:[./@][\w$-]+)*)(=(.*))?", re.S)


def hydra_overrides(words: list[str]) -> dict[str, Any]:
    """`params.overrides.*` of a script's command line (without the `params.` prefix)."""
    found: dict[str, Any] = {}
    deleted: list[str] = []
    for word in words:
        match = _OVERRIDE.fullmatch(word)
        if not match or word.startswith("-"):
            continue
        prefix, key, assigned, value = match.groups()
        if prefix == "~":
            deleted.append(key)
        elif assigned:
            found[key] = value
    if not found and not deleted:
        return {}
    from provgraph.capture.params import Limits, flatten, typed_yaml

    kept, note = flatten({key: typed_yaml(value) for key, value in found.items()}, Limits())
    overrides = {f"overrides.{key}": value for key, value in kept.items()}
    if deleted:
        overrides["overrides._deleted"] = deleted
    if note:
        overrides["overrides._truncated"] = note
    return overrides


def _typed(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if re.fullmatch(r"[+-]?\d+", value):
        return int(value)
    if _NUMBER.match(value):
        return float(value)
    return value


def local_modules(start: str, root: str) -> list[str]:
    """The script and every module of the repository it imports, directly or not."""
    root = os.path.join(os.path.realpath(root), "")
    todo, found = [os.path.realpath(start)], []
    seen: set[str] = set()
    while todo and len(found) < MAX_MODULES:
        path = todo.pop()
        if path in seen or not path.startswith(root):
            continue
        seen.add(path)
        found.append(path)
        todo += [m for m in _imports(path, os.path.dirname(path)) if m not in seen]
    return found


def _imports(path: str, folder: str) -> list[str]:
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return []
    package = folder if os.path.isfile(os.path.join(folder, "__init__.py")) else None
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _resolve(alias.name, [folder])
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x: relative to the package
                base = folder
                for _ in range(node.level - 1):
                    base = os.path.dirname(base)
                module = node.module or ""
                parts = [module] if module else []
                found += _resolve(".".join(parts), [base]) if parts else []
                found += [f for alias in node.names
                          for f in _resolve(".".join([*parts, alias.name]), [base])]
            elif node.module:
                found += _resolve(node.module, [folder] + ([package] if package else []))
                found += [f for alias in node.names
                          for f in _resolve(f"{node.module}.{alias.name}", [folder])]
    return found


def _resolve(dotted: str, folders: list[str]) -> list[str]:
    """`a.b` as a file under one of the folders (a/b.py or a/b/__init__.py), with the
    packages on the way (a/__init__.py)."""
    found = []
    for folder in folders:
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):
            base = os.path.join(folder, *parts[:depth])
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if os.path.isfile(candidate):
                    found.append(os.path.realpath(candidate))
        if found:
            break
    return found


def _module_file(module: str, cwd: str) -> str | None:
    base = os.path.join(cwd, *module.split("."))
    for candidate in (base + ".py", os.path.join(base, "__main__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None
