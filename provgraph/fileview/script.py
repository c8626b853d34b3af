"""Script views: a command pipeline over input files, its standard output the view.

    prov fileview -n counts.txt -s 'sort | uniq -c' -i words.txt
    prov fileview -n joined.txt -s 'join {a.txt} {b.txt}'

Inputs reach the script two ways, which may be mixed:

- `-i FILE` (repeatable): the files are concatenated, in the order given, on its standard
  input;
- `{FILE}` in the script: replaced by the file's path, shell-quoted. Braces whose content is
  not a file name (`awk '{print $1}'`, `{1..3}`) are left alone; one that looks like a file
  name (`{x.csv}`) but names no file is a missing input.

The script runs under your shell (`$SHELL` when it speaks POSIX sh, else /bin/sh) in the folder
the view was defined in.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import threading
from dataclasses import dataclass

from provgraph.errors import ProvError

_BRACED = re.compile(r"\{([^\s{}'\"$,;|&<>()`*?]+)\}")
_FILE_LIKE = re.compile(r"[\w./-]*\.[A-Za-z][\w]*")


@dataclass
class Prepared:
    text: str  # the script with placeholders replaced by quoted paths
    stdin: list[str]  # repository paths concatenated on standard input
    inputs: list[str]  # every input, repository paths, in order


def prepare(script: str, stdin: list[str], cwd: str, root: str) -> Prepared:
    """Resolve a script's inputs (`stdin` are repository paths) and placeholders."""
    from provgraph.fileview.paths import input_path

    if not script.strip():
        raise ProvError("the script is empty")
    placeholders: list[str] = []

    def replace(match: re.Match[str]) -> str:
        word = match.group(1)
        full = os.path.normpath(os.path.join(root, cwd, word))
        if os.path.isfile(full):
            placeholders.append(input_path(root, cwd, word))  # links followed, in the tree
            return shlex.quote(word)
        if _FILE_LIKE.fullmatch(word):
            raise ProvError(f"input {word} does not exist")
        return match.group(0)

    text = _BRACED.sub(replace, script)
    resolved = [input_path(root, ".", path) for path in stdin]
    for path in resolved:
        if not os.path.isfile(os.path.join(root, path)):
            raise ProvError(f"input {path} does not exist")
    return Prepared(text, resolved, list(dict.fromkeys([*resolved, *placeholders])))


def run(prepared: Prepared, cwd: str, root: str, stdout) -> None:
    """Run the script, its output going to the file object `stdout`; a failure raises."""
    from provgraph.capture.runner import user_shell

    feed = [os.path.join(root, p) for p in prepared.stdin]
    stdin = subprocess.DEVNULL if not feed else subprocess.PIPE
    with subprocess.Popen([user_shell(), "-c", prepared.text], cwd=os.path.join(root, cwd),
                          stdin=stdin, stdout=stdout) as proc:
        writer = None
        if feed:
            writer = threading.Thread(target=_concatenate, args=(feed, proc.stdin), daemon=True)
            writer.start()
        code = proc.wait()
        if writer:
            writer.join()
    if code != 0:
        how = f"signal {-code}" if code < 0 else f"status {code}"
        raise ProvError(f"the script exited with {how}; nothing was written")


def _concatenate(paths: list[str], pipe) -> None:
    try:
        for path in paths:
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    pipe.write(chunk)
    except (BrokenPipeError, OSError):
        pass  # the script stopped reading (head): its exit status tells the rest
    finally:
        with contextlib.suppress(OSError):
            pipe.close()
