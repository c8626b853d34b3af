"""Ingestors a project declares in its `.prov.toml`, in Python or in any language.

    [[ingestor]]
    name = "mytool"                 # the namespace of its properties
    match = '(^|\\s)mytool\\b'      # regex searched in the command line
    call = "tools.prov_hooks:ingest"  # a function (hook, context) -> fragment, importable
                                      # from the repository root ...
    command = ["./tools/ingest.sh"]   # ... or any executable: {"hook", "context"} as JSON on
                                      # stdin, the fragment as JSON on stdout
    streams = ["stderr"]            # optional: streams to tee for it
    hooks = ["after"]               # optional: which hooks to call (default both)
    timeout = 10                    # optional: seconds per hook

Both kinds run code as the user, so the registry loads them only once `prov trust` has
allowed this `.prov.toml` (`provgraph.trust`); `match` is bounded in time
(`provgraph.patterns`).
"""

from __future__ import annotations

import importlib
import json
import shlex
import subprocess
import sys

from provgraph.ingestors import Ingestor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provgraph.config import Config
    from provgraph.patterns import UserPattern


class _Declared(Ingestor):
    def __init__(self, name: str, table: dict[str, Any], config: Config,
                 pattern: UserPattern | None = None):
        """`pattern`: the registry's bounded `match` (one pattern, one time budget, one
        warning if it runs away); compiled here when the ingestor is made on its own.

        The registry makes none untrusted; refusing here too keeps any other caller from
        running a clone's code by mistake."""
        from provgraph.trust import verdict

        if not verdict(config).trusted:
            raise PermissionError(".prov.toml is not trusted in this clone (`prov trust`)")
        if pattern is None:
            from provgraph.patterns import compile_user

            pattern = compile_user(table["match"], f"[[ingestor]] {name} in .prov.toml")
            if pattern is None:
                raise ValueError(f"bad `match` regex {table['match']!r}")
        self.name = name
        self.pattern = pattern  # type: ignore[assignment]
        self.streams = tuple(table.get("streams", ()))
        self.timeout = float(table.get("timeout", 10))
        self.hooks = set(table.get("hooks", ("before", "after")))
        self.source = ".prov.toml"
        self.root = str(config.root)

    def before(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return self.answer("before", context) if "before" in self.hooks else None

    def after(self, context: dict[str, Any]) -> dict[str, Any] | None:
        return self.answer("after", context) if "after" in self.hooks else None

    def answer(self, hook: str, context: dict[str, Any]) -> Any:
        raise NotImplementedError


class CallableIngestor(_Declared):
    """`call = "module:function"`: the function gets (hook, context), returns a fragment."""

    def __init__(self, name: str, table: dict[str, Any], config: Config,
                 pattern: UserPattern | None = None):
        super().__init__(name, table, config, pattern)
        module, _, function = str(table["call"]).partition(":")
        if self.root not in sys.path:
            sys.path.insert(0, self.root)  # project-local modules
        self.function = getattr(importlib.import_module(module), function or "ingest")

    def answer(self, hook: str, context: dict[str, Any]) -> Any:
        return self.function(hook, context)


class ExecutableIngestor(_Declared):
    """`command = [...]`: an executable in any language speaking JSON on stdin/stdout."""

    def __init__(self, name: str, table: dict[str, Any], config: Config,
                 pattern: UserPattern | None = None):
        super().__init__(name, table, config, pattern)
        command = table["command"]
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.timeout_process = self.timeout
        self.timeout = self.timeout + 1  # the process times out first, with a clear message

    def answer(self, hook: str, context: dict[str, Any]) -> Any:
        try:
            proc = subprocess.run(self.command, cwd=self.root, capture_output=True,
                                  input=json.dumps({"hook": hook, "context": context}).encode(),
                                  timeout=self.timeout_process)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"no answer within {self.timeout_process:g} s") from None
        except OSError as exc:
            raise RuntimeError(f"cannot run {self.command[0]}: {exc.strerror or exc}") from None
        if proc.returncode != 0:
            reason = proc.stderr.decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"exit {proc.returncode}" + (f": {reason[-1]}" if reason else ""))
        text = proc.stdout.decode(errors="replace").strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"its output is not JSON ({exc})") from None
