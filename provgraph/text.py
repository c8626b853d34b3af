"""Text from the record, made safe to print on a terminal.

Commands, names, paths, notes and properties come from the journal, and the journal holds
what teammates pushed: a pulled record may name a file `\\x1b]0;owned\\x07` or run a command
whose words clear the screen, move the cursor over earlier lines, set the window title or
rewrite the clipboard (OSC 52). Printed raw, such text takes over the reader's terminal or
forges lines of `prov log`. So every reader prints record text through `printable`, which
shows each control character as a visible escape (`\\x1b`, `\\r`, `\\n`) and keeps ordinary
Unicode (accents, CJK, emoji) as it is.

What counts as a control character: anything `str.isprintable` refuses, that is C0 (ESC,
CR, BEL, backspace, ...), DEL, C1 (`\\x9b` is a CSI on its own), Unicode format characters
(bidirectional overrides such as U+202E, which reorder what is shown), line and paragraph
separators, and unassigned code points. Backslashes are left alone: a command's own
`printf '\\x1b'` is shown as typed, and an escape made here always stands for a character
that the record really holds.

Standard library only and a fast path for the usual all-printable text: `prov log` calls this
for every field of every activity.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(value: object, multiline: bool = False) -> str:
    """`value` as text with control and other non-printable characters escaped.

    `multiline` keeps `\\n` for a field that is legitimately several lines (a diff); anywhere
    else a newline could forge a line of output, so it is shown as `\\n`."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or (multiline and ch == "\n") else _escaped(ch)
                   for ch in text)


def _escaped(ch: str) -> str:
    named = _NAMED.get(ch)
    if named:
        return named
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
