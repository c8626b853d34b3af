"""Loaded by Python at start-up in a command provgraph captures (this folder is put first on
PYTHONPATH): an audit hook (PEP 578) writes down every file of the repository the program
opens for reading, one path per line, in PROV_AUDIT_FILE, without changing what it does.
Child Python processes inherit the environment and are recorded too. A `sitecustomize` of
the user's own, further on sys.path, is run afterwards as Python would have run it.
"""

import os
import sys


def _install():
    target = os.environ.get("PROV_AUDIT_FILE")
    root = os.environ.get("PROV_AUDIT_ROOT")
    if not target or not root:
        return
    roots = tuple({os.path.join(os.path.normpath(root), ""),
                   os.path.join(os.path.realpath(root), "")})
    seen = set()
    state = {"out": None, "busy": False}
    fsdecode, isabs, join, normpath, getcwd = (os.fsdecode, os.path.isabs, os.path.join,
                                               os.path.normpath, os.getcwd)

    def hook(event, args):
        if event != "open" or state["busy"]:
            return
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        if mode is None:
            if flags & 3 == 1:  # O_WRONLY
                return
        elif "r" not in mode and "+" not in mode:
            return
        path = fsdecode(path)
        if not isabs(path):
            path = join(getcwd(), path)
        path = normpath(path)
        if path in seen or not path.startswith(roots):
            return
        seen.add(path)
        state["busy"] = True  # our own open and write are not the program's reads
        try:
            if state["out"] is None:
                # kept open for the life of the process: one line per new file read
                state["out"] = open(  # noqa: SIM115
                    target, "a", encoding="utf-8", errors="surrogateescape")
            state["out"].write(path + "\n")
            state["out"].flush()
        except OSError:
            pass
        finally:
            state["busy"] = False

    sys.addaudithook(hook)


def _run_the_users_own():
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        folder = os.path.abspath(entry or ".")
        candidate = os.path.join(folder, "sitecustomize.py")
        if folder != here and os.path.isfile(candidate):
            import importlib.util

            spec = importlib.util.spec_from_file_location("sitecustomize", candidate)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return


_install()
_run_the_users_own()
