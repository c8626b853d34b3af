"""Loaded by Python at start-up in a command provgraph captures (this folder is put first on
PYTHONPATH): an audit hook (PEP 578) writes down every file the program opens for reading,
one line per file, in PROV_AUDIT_FILE, without changing what it does.
Child Python processes inherit the environment and are recorded too. A `sitecustomize` of
the user's own, further on sys.path, is run afterwards as Python would have run it.
"""

import os
import sys


def _interposer_loaded():
    """Whether provgraph's LD_PRELOAD tracer (the first library of LD_PRELOAD, as provgraph
    sets it) is in this process: it sees every file the program opens through the C library,
    so the hook would only repeat it, at a cost on every open (a static Python, or one whose
    environment lost LD_PRELOAD, keeps the hook)."""
    preload = os.environ.get("LD_PRELOAD", "").replace(":", " ").split()
    if not preload or not os.environ.get("PROV_TRACE_FILE"):
        return False
    try:
        with open("/proc/self/maps", "rb") as maps:
            loaded = maps.read()
    except OSError:
        return False
    return os.fsencode(os.path.realpath(preload[0])) + b"\n" in loaded


def _install():
    target = os.environ.get("PROV_AUDIT_FILE")
    if not target or _interposer_loaded():
        return
    # The hook runs for every audit event of the program, so it does as little as it can:
    # a read never seen before is written down at once (a program killed, or ended by
    # os._exit, loses nothing) as "<folder>\0<path as given>"; provgraph joins, normalises
    # and keeps the paths of the repository afterwards.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    known = set()  # paths as the program passed them, since it last changed folder
    state = {"cwd": None}

    def hook(event, args, known=known, state=state, write=os.write, fsencode=os.fsencode):
        if event != "open":
            if event == "os.chdir":
                state["cwd"] = None
                known.clear()
            return
        try:
            given = args[0]
            if given in known:  # the common case, a file read again: one set lookup
                return
            mode = args[1]
            if mode is None:
                if args[2] & 3 == 1:  # O_WRONLY
                    return
            elif "r" not in mode and "+" not in mode:
                return
            if given is None or type(given) is int:
                return  # a file descriptor
            known.add(given)
            cwd = state["cwd"]
            if cwd is None:
                cwd = state["cwd"] = fsencode(os.getcwd()) + b"\0"
            write(fd, cwd + fsencode(given) + b"\n")
        except Exception:  # recording must never disturb the program
            pass

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
