"""Running the ingestors of one activity: their hooks, merged into what the record keeps."""

from __future__ import annotations

import os

from provgraph.ingestors import Ingestor, call, namespaced, warn
from provgraph.ingestors.registry import matching

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provgraph.config import Config


class Hooks:
    """The ingestors matching one command, and what they said about it."""

    def __init__(self, config: Config, command: str, commands: list[list[str]],
                 redirects: list[dict[str, Any]], cwd: str, root: str, scratch: str):
        self.context: dict[str, Any] = {
            "command": command, "commands": commands, "argv": commands[0] if commands else [],
            "redirects": redirects, "cwd": cwd, "root": root, "scratch": scratch,
        }
        self.posix: list[Ingestor] = []
        self.others: list[Ingestor] = []
        for ingestor in matching(command, config, config.prov_dir):
            (self.posix if ingestor.name == "posix" else self.others).append(ingestor)
        self.activity: dict[str, Any] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.used: list[dict[str, Any]] = []
        self.entities: dict[str, dict[str, Any]] = {}
        self.env: dict[str, str] = {}

    @property
    def streams(self) -> set[str]:
        """The streams to tee; stderr sent into stdout by the command (`2>&1`) is teed there."""
        wanted = {stream for i in self.others for stream in i.streams
                  if stream in ("stdout", "stderr")}
        if "stderr" in wanted and any(r["op"] == ">&" and r["fd"] == 2 and r["target"] == "1"
                                      for r in self.context["redirects"]):
            wanted.add("stdout")
        return wanted

    @property
    def wants_changes(self) -> bool:
        """Whether the after hooks need the list of changed files (it costs a git diff)."""
        return any(type(i).after is not Ingestor.after for i in self.others)

    def before(self) -> None:
        # The POSIX ingestor reads every command of a pipeline; the others see the command
        # their pattern names (`time caffe train ...`: the caffe command, not `time`).
        for index, words in enumerate(self.context["commands"]):
            for ingestor in self.posix:
                fragment = ingestor.before({**self.context, "argv": words})
                if index == 0:
                    self.activity.update(fragment.get("activity", {}))
                elif self.activity.get("utility"):
                    self.activity.setdefault("pipeline", [self.activity["utility"]])
                    self.activity["pipeline"].append(os.path.basename(words[0]))
                self.inputs += fragment.get("inputs", [])
                self.outputs += fragment.get("outputs", [])
        self.context["activity"] = dict(self.activity)
        for ingestor in self.others:
            context = {**self.context, "hook": "before", "argv": self._argv_for(ingestor)}
            self._merge(ingestor, call(ingestor, "before", context), before=True)

    def during(self, stream: str, data: bytes) -> None:
        for ingestor in self.others:
            if stream in ingestor.streams and type(ingestor).during is not Ingestor.during:
                try:
                    ingestor.during(self.context, stream, data)
                except Exception as exc:
                    warn(f"ingestor {ingestor.name} failed in during: {exc}")
                    ingestor.during = lambda *args: None  # once is enough

    def after(self, outcome: dict[str, Any]) -> None:
        for ingestor in self.others:
            context = {**self.context, **outcome, "hook": "after",
                       "argv": self._argv_for(ingestor)}
            self._merge(ingestor, call(ingestor, "after", context), before=False)

    def _argv_for(self, ingestor: Ingestor) -> list[str]:
        for words in self.context["commands"]:
            if ingestor.pattern.search(" ".join(words)):
                return words
        return self.context["argv"]

    def _merge(self, ingestor: Ingestor, fragment: dict[str, Any] | None, before: bool) -> None:
        if not fragment:
            return
        self.activity.update(namespaced(ingestor.name, fragment.get("activity", {})))
        self.activity.update({f"params.{key}": value
                              for key, value in fragment.get("params", {}).items()})
        self.inputs += fragment.get("inputs", [])
        self.outputs += fragment.get("outputs", [])
        for item in fragment.get("used", []):
            entry = {"path": item} if isinstance(item, str) else dict(item)
            entry.setdefault("role", ingestor.name)
            self.used.append(entry)
        for path, props in fragment.get("entities", {}).items():
            self.entities.setdefault(path, {}).update(namespaced(ingestor.name, props))
        if before:
            self.env.update(fragment.get("env", {}))
        elif fragment.get("env"):
            warn(f"ingestor {ingestor.name} returned env from after; ignored")
