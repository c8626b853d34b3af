"""Which programs the LD_PRELOAD interposer cannot see: those that do not call a dynamic C
library (statically linked ones, Go programs). The same test as `needs_tracer` in preload.c,
for the command provgraph starts itself."""

from __future__ import annotations

import os

PT_INTERP = 3


def which(program: str, path: str | None = None) -> str | None:
    """The file `program` names, searched in PATH as exec does."""
    if "/" in program:
        return program if os.path.isfile(program) else None
    for folder in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep):
        candidate = os.path.join(folder or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def needs_tracer(path: str, depth: int = 0) -> bool:
    """A 64-bit ELF file without a dynamic loader, or with Go's build information; a script
    whose #! interpreter is one."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            if head[:2] == b"#!" and depth == 0:
                words = head[2:].split(b"\n", 1)[0].split()
                return bool(words) and needs_tracer(os.fsdecode(words[0]), 1)
            if head[:4] != b"\x7fELF" or head[4] != 2 or len(head) < 64:
                return False
            order = "little" if head[5] == 1 else "big"
            phoff = int.from_bytes(head[32:40], order)
            phentsize = int.from_bytes(head[54:56], order)
            phnum = int.from_bytes(head[56:58], order)
            handle.seek(phoff)
            table = handle.read(phentsize * min(phnum, 64))
            types = {int.from_bytes(table[i:i + 4], order)
                     for i in range(0, len(table) - 3, phentsize or 56)}
            if PT_INTERP not in types:
                return True
            return _has_go_buildinfo(handle, head, order)
    except (OSError, IndexError):
        return False


def _has_go_buildinfo(handle, head: bytes, order: str) -> bool:
    shoff = int.from_bytes(head[40:48], order)
    shentsize = int.from_bytes(head[58:60], order)
    shnum = int.from_bytes(head[60:62], order)
    shstrndx = int.from_bytes(head[62:64], order)
    if not shoff or shstrndx >= shnum or shentsize != 64 or shnum > 256:
        return False
    handle.seek(shoff)
    table = handle.read(shnum * 64)
    names = table[shstrndx * 64:(shstrndx + 1) * 64]
    offset = int.from_bytes(names[24:32], order)
    size = min(int.from_bytes(names[32:40], order), 8192)
    handle.seek(offset)
    strings = handle.read(size)
    return b"\0.go.buildinfo\0" in b"\0" + strings
