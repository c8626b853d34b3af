"""Which programs the LD_PRELOAD interposer cannot see: those that do not call a dynamic C
library (statically linked ones, Go programs). The same test as `needs_tracer` in preload.c,
for the command provgraph starts itself."""

from __future__ import annotations

import os

PT_INTERP = 3
PT_NOTE = 4


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
            return _is_go(handle, head, table, phentsize or 56, order)
    except (OSError, IndexError):
        return False


def _is_go(handle, head: bytes, table: bytes, size: int, order: str) -> bool:
    """A PT_NOTE segment holding the note Go's linker writes (owner "Go", type 4)."""
    for i in range(0, len(table) - size + 1, size):
        if int.from_bytes(table[i:i + 4], order) != PT_NOTE:
            continue
        offset = int.from_bytes(table[i + 8:i + 16], order)
        length = min(int.from_bytes(table[i + 32:i + 40], order), 4096)
        if offset + length <= len(head):
            notes = head[offset:offset + length]
        else:
            handle.seek(offset)
            notes = handle.read(length)
        at = 0
        while at + 12 <= len(notes):
            namesz = int.from_bytes(notes[at:at + 4], order)
            descsz = int.from_bytes(notes[at + 4:at + 8], order)
            kind = int.from_bytes(notes[at + 8:at + 12], order)
            if namesz in (3, 4) and notes[at + 12:at + 15] == b"Go\0" and kind == 4:
                return True
            at += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False
