"""Builds provgraph's two file-access tracers (C, Linux) with the install; everything else is
in pyproject.toml.

- `provgraph/capture/tracing/libprovtrace.so`, loaded with LD_PRELOAD into every dynamically linked
  process of a captured command;
- `provgraph/capture/tracing/provtrace`, the ptrace tracer for statically linked and Go programs.

Both are optional: without a C compiler (or off Linux) the install still succeeds and
provgraph says, once, that it falls back to the Python audit hook and the command line.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.join("provgraph", "capture", "tracing")


class BuildTracers(build_ext):
    """Compile the tracers where the package's files go (the build folder for a wheel, the
    source tree for an editable install); a failure is a warning, never a failed install."""

    def build_extension(self, ext: Extension) -> None:
        folder = self._folder()
        os.makedirs(folder, exist_ok=True)
        self.built = []
        if not sys.platform.startswith("linux"):
            self.warn("provgraph: file-access tracing needs Linux; not built")
            return
        for build in (self._preload, self._tracer):
            try:
                self.built.append(build(folder))
            except Exception as exc:  # no compiler, missing headers: capture falls back
                self.warn(f"provgraph: could not build a tracer ({exc}); captures will fall "
                          "back to the Python audit hook and the command line")

    def _cc(self) -> list[str]:
        """The C compiler alone: Python's own link flags (an rpath to its lib folder, say) would
        make every traced process's loader search there."""
        return [os.environ.get("CC") or self.compiler.compiler_so[0]]

    def _preload(self, folder: str) -> str:
        target = os.path.join(folder, "libprovtrace.so")
        self.spawn([*self._cc(), "-O2", "-fPIC", "-shared", "-Wall", "-I", HERE, "-o", target,
                    os.path.join(HERE, "preload.c"), "-ldl"])
        return target

    def _tracer(self, folder: str) -> str:
        target = os.path.join(folder, "provtrace")
        self.spawn([*self._cc(), "-O2", "-Wall", "-I", HERE, "-o", target,
                    os.path.join(HERE, "tracer.c")])
        return target

    def _folder(self) -> str:
        """The source tree for an editable install (its package folder is the source), else
        the build folder the wheel is made from."""
        if getattr(self, "editable_mode", False) or self.inplace:
            return os.path.abspath(HERE)
        return os.path.dirname(self.get_ext_fullpath("provgraph.capture.tracing._native"))

    def get_outputs(self) -> list[str]:
        folder = self._folder()
        return [os.path.join(folder, name) for name in ("libprovtrace.so", "provtrace")
                if os.path.exists(os.path.join(folder, name))]

    def get_output_mapping(self) -> dict[str, str]:
        return {}  # built where they are used: nothing to copy


setup(
    ext_modules=[Extension("provgraph.capture.tracing._native",
                           sources=[os.path.join(HERE, "preload.c")], optional=True)],
    cmdclass={"build_ext": BuildTracers},
)
