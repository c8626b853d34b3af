"""The ptrace tracer (provgraph/capture/tracing/provtrace) against strace's ground truth.

Every command runs twice, in two identical copies of a folder: under `strace -f` and under
the real built tracer. Whatever strace shows a process of the command successfully doing to a
file of the folder (opened for reading or writing, renamed, linked, deleted, truncated) must be
in the trace with the same kind, and nothing else (precision and recall 100 %). The programs
are the kind the tracer exists for: Debian's static busybox, and static C programs compiled
here (a multi-threaded one included). Exit statuses, signals, leftover background processes
and a refused ptrace behave as the contract in tracer.c says.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provgraph.capture.tracing import TRACER
from provgraph.capture.tracing.elf import needs_tracer
from provgraph.capture.tracing.events import make_trace_file, read_trace

BUSYBOX = "/usr/bin/busybox"
STRACE = shutil.which("strace")
TIMEOUT = 120

if not os.access(TRACER, os.X_OK):
    pytest.skip("provtrace was not built (no C compiler at install time?)",
                allow_module_level=True)
if not (os.path.exists(BUSYBOX) and needs_tracer(BUSYBOX)):
    pytest.skip("needs Debian's static busybox (apt-get install busybox-static)",
                allow_module_level=True)
if STRACE is None:
    pytest.skip("needs strace for the ground truth (apt-get install strace)",
                allow_module_level=True)


def clean_env() -> dict[str, str]:
    """This environment without provgraph's tracing variables (the tests may run under prov)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROV_") and k != "LD_PRELOAD"}
    env["LC_ALL"] = "C"
    return env


def traced_env(trace: Path, root: Path) -> dict[str, str]:
    return {**clean_env(), "PROV_TRACE_FILE": str(trace), "PROV_TRACE_ROOTS": str(root)}


def tracer_argv(program: str, *args: str, argv0: str | None = None) -> list[str]:
    return [TRACER, "--argv0", argv0 or os.path.basename(program), "--", program, *args]


@pytest.fixture(scope="module")
def ptrace_allowed(tmp_path_factory) -> None:
    """Skip (with the reason) where this machine refuses ptrace: the tracer then writes U."""
    folder = tmp_path_factory.mktemp("probe")
    make_trace_file(str(folder / "trace"))
    subprocess.run(tracer_argv(BUSYBOX, "true", argv0="true"), cwd=folder, timeout=TIMEOUT,
                   env=traced_env(folder / "trace", folder), check=True)
    if any(e.op == "U" for e in read_trace(str(folder / "trace")).events):
        pytest.skip("ptrace with seccomp is not permitted here: the tracer runs programs "
                    "untraced (tested by test_a_refused_ptrace_writes_one_U_and_runs_untraced)")


# ------------------------------------------------------------------------------------------
# what happened, as the tracer and as strace saw it

O_ACCMODE = 3


def open_kind(read: bool, write: bool, rdwr: bool, trunc: bool) -> str:
    """preload.c's kind_of_open, on decoded flags."""
    if rdwr:
        return "u"
    if not write and not trunc:
        return "r"
    return "t" if trunc else "w"


def kind_of_flags(flags: int) -> str:
    acc = flags & O_ACCMODE
    return open_kind(acc == os.O_RDONLY, acc == os.O_WRONLY, acc == os.O_RDWR,
                     bool(flags & os.O_TRUNC))


def relative(path: str, root: Path) -> str | None:
    """The path inside the folder, or None when the tracer is not to record it (outside the
    folder, or in its .git)."""
    root_text = str(root)
    if path != root_text and not path.startswith(root_text + "/"):
        return None
    rest = path[len(root_text):].lstrip("/")
    if rest == ".git" or rest.startswith(".git/"):
        return None
    return rest or "."


def traced_facts(trace_file: Path, root: Path) -> set[tuple]:
    """What the trace says, as (op, kind, path[, path2]) with paths relative to the folder."""
    facts = set()
    for e in read_trace(str(trace_file)).events:
        if e.op == "O":
            facts.add(("O", kind_of_flags(e.flags), relative(e.path, root) or e.path))
        elif e.op in "RL":
            facts.add((e.op, "", relative(e.path, root) or e.path,
                       relative(e.target, root) or e.target))
        elif e.op in "SDT":
            facts.add((e.op, "", relative(e.path, root) or e.path))
    return facts


LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)")
FD = re.compile(r"^-?\d+<(.*)>$")


def split_args(text: str) -> list[str]:
    """strace's argument list, split at the top-level commas."""
    args, current, depth, quoted, i = [], [], 0, False, 0
    while i < len(text):
        ch = text[i]
        current.append(ch)
        if quoted:
            if ch == "\\":
                current.append(text[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            current.pop()
            args.append("".join(current).strip())
            current = []
        i += 1
    if current:
        args.append("".join(current).strip())
    return args


def string_arg(arg: str) -> str:
    assert arg.startswith('"') and arg.endswith('"'), arg
    return arg[1:-1].encode().decode("unicode_escape")


def joined_lines(text: str) -> list[str]:
    """strace -f's lines, an interrupted call ('<unfinished ...>' then '<... resumed>') put
    back together, in the order the calls started."""
    lines: list[str] = []
    open_at: dict[str, int] = {}
    for line in text.splitlines():
        pid = line.split(" ", 1)[0]
        if line.endswith("<unfinished ...>"):
            open_at[pid] = len(lines)
            lines.append(line[: -len("<unfinished ...>")].rstrip())
        elif " <... " in line and " resumed>" in line:
            at = open_at.pop(pid, None)
            rest = line.split(" resumed>", 1)[1]
            if at is not None:
                lines[at] = lines[at] + rest
        else:
            lines.append(line)
    return lines


def strace_facts(out: Path, root: Path) -> tuple[set[tuple], set[str]]:
    """What strace shows the command doing to the folder's files, as traced_facts, and the
    processes (pids) it saw. Relative paths are resolved against each process's cwd, followed
    through chdir/fchdir and inherited at fork."""
    lines = joined_lines(out.read_text())
    parent: dict[str, tuple[str, int]] = {}  # child -> (parent, line where the fork started)
    chdirs: dict[str, list[tuple[int, str]]] = {}
    calls = []
    for index, line in enumerate(lines):
        m = LINE.match(line)
        if not m:
            continue
        pid, name, args, result = m.group(1), m.group(2), split_args(m.group(3)), m.group(4)
        calls.append((index, pid, name, args, int(result)))
        if name in ("clone", "clone3", "fork", "vfork") and int(result) > 0:
            parent[result] = (pid, index)

    def cwd(pid: str, index: int) -> str:
        for at, folder in reversed(chdirs.get(pid, [])):
            if at < index:
                return folder
        if pid in parent:
            return cwd(*parent[pid])
        return str(root)

    def resolve(pid: str, index: int, dirfd: str, path: str) -> str:
        if not path.startswith("/"):
            fd = FD.match(dirfd)
            base = fd.group(1) if fd else cwd(pid, index)
            path = base + "/" + path
        return os.path.normpath(path).replace("//", "/")

    facts: set[tuple] = set()
    pids: set[str] = set()
    for index, pid, name, args, result in calls:
        pids.add(pid)
        if result < 0:
            continue
        fact = strace_fact(name, args, lambda d, p, i=index, q=pid: resolve(q, i, d, p))
        if name in ("chdir", "fchdir"):
            folder = (resolve(pid, index, "AT_FDCWD", string_arg(args[0])) if name == "chdir"
                      else FD.match(args[0]).group(1))
            chdirs.setdefault(pid, []).append((index, folder))
        if fact is None:
            continue
        op, kind, *paths = fact
        inside = [relative(p, root) for p in paths]
        if any(r is not None for r in inside):
            facts.add((op, kind, *(r or p for r, p in zip(inside, paths, strict=True))))
    return facts, pids


def strace_fact(name: str, args: list[str], at) -> tuple | None:
    """(op, kind, path...) of one successful strace line, the way the tracer records it."""
    cwd = "AT_FDCWD"
    if name in ("open", "openat", "openat2", "creat"):
        if name == "creat":
            flags = "O_WRONLY|O_CREAT|O_TRUNC"
        elif name == "openat2":
            flags = re.search(r"flags=([\w|]+)", args[2]).group(1)
        else:
            flags = args[1] if name == "open" else args[2]
        names = set(flags.split("|"))
        if "O_PATH" in names or ("O_DIRECTORY" in names and "O_CREAT" not in names):
            return None
        kind = open_kind("O_RDONLY" in names, "O_WRONLY" in names, "O_RDWR" in names,
                         "O_TRUNC" in names)
        path = at(cwd, string_arg(args[0])) if name in ("open", "creat") else \
            at(args[0], string_arg(args[1]))
        return ("O", kind, path)
    if name in ("rename", "link"):
        return ("R" if name == "rename" else "L", "", at(cwd, string_arg(args[0])),
                at(cwd, string_arg(args[1])))
    if name in ("renameat", "renameat2", "linkat"):
        return ("L" if name == "linkat" else "R", "", at(args[0], string_arg(args[1])),
                at(args[2], string_arg(args[3])))
    if name == "symlink":
        return ("S", "", at(cwd, string_arg(args[1])))
    if name == "symlinkat":
        return ("S", "", at(args[1], string_arg(args[2])))
    if name in ("unlink", "rmdir"):
        return ("D", "", at(cwd, string_arg(args[0])))
    if name == "unlinkat":
        return ("D", "", at(args[0], string_arg(args[1])))
    if name == "truncate":
        return ("T", "", at(cwd, string_arg(args[0])))
    return None


# ------------------------------------------------------------------------------------------
# one command, twice

FILES = {
    "a": "banana\napple\ncherry\n",
    "b": "2\n3\n1\n",
    "sub/inner.txt": "inner\n",
    "sub/gone.txt": "to be deleted\n",
    "in.txt": "input\n",
    ".git/config": "[core]\n",
}


def make_folder(root: Path) -> Path:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


class Run:
    """The same command under strace and under the tracer, in two copies of one folder."""

    def __init__(self, tmp_path: Path, argv: list[str], applet: bool = False):
        """`applet`: argv is [busybox, APPLET, ARGS...], run under the tracer as busybox with
        argv[0] = APPLET (as the interposer hands it over)."""
        self.strace_root = make_folder(tmp_path / "under-strace").resolve()
        self.traced_root = make_folder(tmp_path / "under-tracer").resolve()
        out = tmp_path / "strace.out"
        self.strace = subprocess.run(
            [STRACE, "-f", "-qq", "-y", "-e", "trace=%file,%process,fchdir", "-o", str(out),
             "--", *argv], cwd=self.strace_root, env=clean_env(), capture_output=True,
            timeout=TIMEOUT)
        self.trace = tmp_path / "trace"
        make_trace_file(str(self.trace))
        self.traced = subprocess.run(
            tracer_argv(argv[0], *argv[2 if applet else 1:], argv0=argv[1] if applet else None),
            cwd=self.traced_root,
            env=traced_env(self.trace, self.traced_root), capture_output=True, timeout=TIMEOUT)
        self.truth, self.strace_pids = strace_facts(out, self.strace_root)
        self.facts = traced_facts(self.trace, self.traced_root)
        self.events = read_trace(str(self.trace)).events

    def assert_same(self) -> None:
        assert self.traced.returncode == self.strace.returncode
        assert self.traced.stdout == self.strace.stdout
        missed = self.truth - self.facts
        extra = self.facts - self.truth
        assert not missed and not extra, f"missed {sorted(missed)}, extra {sorted(extra)}"
        assert self.truth, "the command touched no file: a useless comparison"

    @property
    def processes(self) -> set[int]:
        return {e.pid for e in self.events if e.op == "P"}


SH = [BUSYBOX, "sh", "-c"]

CASES = {
    "cat": [BUSYBOX, "cat", "a", "b", "missing", "sub/../a"],
    "cp": [BUSYBOX, "cp", "a", "sub/copy"],
    "mv": [BUSYBOX, "mv", "a", "sub/moved"],
    "rm": [BUSYBOX, "rm", "a", "sub/gone.txt"],
    "sort -o": [BUSYBOX, "sort", "-o", "sorted", "b", "a"],
    "redirections": [*SH, "cat a > b; cat a >> c; mv c d; cat < in.txt > e 2> f"],
    "subshell and background job": [
        *SH, "(cd sub && cat ../a > x; cat inner.txt >> ../y) ; cat b > z & wait; cat z"],
    "pipeline": [*SH, "cat a | sort | tee out | wc -l > count; cat count"],
    "links, folders, truncation": [
        *SH, "ln a hard; ln -s a soft; mkdir dd; rmdir dd; truncate -s 1 b; rm hard soft"],
    "100 concurrent writers": [*SH, "for i in $(seq 100); do cat a > o$i & done; wait"],
    "outside the folder and in .git": [
        *SH, "cat /etc/hostname .git/config > copied; echo x > .git/new; rm .git/new"],
}


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_busybox_matches_strace(tmp_path, ptrace_allowed, argv):
    run = Run(tmp_path, argv, applet=True)
    run.assert_same()
    # every process strace saw was written down once it started (P), none else
    assert len(run.processes) == len(run.strace_pids)


STATIC_PROGRAM = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void) {
    char buf[64];
    int fd = open("in.txt", O_RDONLY);
    if (read(fd, buf, sizeof buf) < 0) return 9;
    close(fd);
    fd = open("out.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, "x\n", 2) != 2) return 9;
    close(fd);
    rename("out.tmp", "out.txt");
    int dir = open("sub", O_RDONLY | O_DIRECTORY);        /* a folder: not recorded */
    close(openat(dir, "inner.txt", O_RDONLY));             /* relative to a dirfd */
    fd = openat(dir, "new.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (write(fd, "y\n", 2) != 2) return 9;
    close(fd);
    unlinkat(dir, "gone.txt", 0);
    close(creat("created.txt", 0644));
    truncate("created.txt", 0);
    link("out.txt", "hard.txt");
    symlink("out.txt", "soft.txt");
    mkdir("tmpdir", 0755);
    rmdir("tmpdir");
    struct { uint64_t flags, mode, resolve; } how = {O_RDWR, 0, 0};
    close((int)syscall(SYS_openat2, AT_FDCWD, "sub/../in.txt", &how, sizeof how));
    close(open("missing.txt", O_RDONLY));                   /* fails: not recorded */
    close(open("/etc/hostname", O_RDONLY));                 /* outside: not recorded */
    close(open(".", O_PATH));                               /* O_PATH: not recorded */
    pid_t child = fork();
    if (child == 0) {
        if (chdir("sub") != 0) _exit(9);
        fd = open("child.txt", O_WRONLY | O_CREAT, 0644);
        if (write(fd, "z\n", 2) != 2) _exit(9);
        close(fd);
        renameat(AT_FDCWD, "child.txt", dir, "child2.txt");
        _exit(0);
    }
    int status, spawned_status;
    waitpid(child, &status, 0);
    char *cp[] = {"cp", "in.txt", "spawned.txt", NULL};  /* glibc: clone(CLONE_VFORK) */
    pid_t spawned;
    if (posix_spawn(&spawned, "/usr/bin/busybox", NULL, NULL, cp, environ) != 0) return 9;
    waitpid(spawned, &spawned_status, 0);
    puts("done");
    return WEXITSTATUS(status) + WEXITSTATUS(spawned_status) + 4;
}
"""

THREADED_PROGRAM = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *worker(void *arg) {
    char name[32];
    snprintf(name, sizeof name, "t%ld.txt", (long)arg);
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(fd, name, 6) != 6) return NULL;
    close(fd);
    close(open("in.txt", O_RDONLY));
    return NULL;
}

/* exec from a thread that is not the leader: the process keeps its pid, the thread's changes */
static void *execer(void *arg) {
    (void)arg;
    char *argv[] = {"cp", "in.txt", "from-exec.txt", NULL};
    execv("/usr/bin/busybox", argv);
    return NULL;
}

int main(void) {
    pthread_t t[8];
    for (long i = 0; i < 8; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    pthread_t e;
    pthread_create(&e, NULL, execer, NULL);
    pthread_join(e, NULL);
    return 1; /* not reached: the exec replaces the process */
}
"""


def compile_static(tmp_path: Path, source: str, name: str) -> str:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("needs gcc to build a static test program")
    (tmp_path / f"{name}.c").write_text(source)
    binary = tmp_path / name
    proc = subprocess.run([gcc, "-static", "-O1", "-pthread", "-o", str(binary),
                           str(tmp_path / f"{name}.c")], capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        pytest.skip(f"no static C library to link a test program: {proc.stderr.strip()[-200:]}")
    assert needs_tracer(str(binary))
    return str(binary)


def test_a_static_c_program_matches_strace(tmp_path, ptrace_allowed):
    program = compile_static(tmp_path, STATIC_PROGRAM, "files")
    run = Run(tmp_path, [program])
    run.assert_same()
    assert run.traced.returncode == 4 and run.traced.stdout == b"done\n"
    assert len(run.processes) == len(run.strace_pids) == 3
    kinds = {f[:2] for f in run.facts}
    assert kinds == {("O", "r"), ("O", "t"), ("O", "w"), ("O", "u"), ("R", ""), ("L", ""),
                     ("S", ""), ("D", ""), ("T", "")}
    assert ("O", "w", "sub/new.txt") in run.facts  # openat relative to a dirfd
    assert ("O", "w", "sub/child.txt") in run.facts  # relative to a cwd changed by chdir
    assert ("O", "u", "in.txt") in run.facts  # openat2, its path normalised
    assert ("O", "t", "spawned.txt") in run.facts  # a vfork child's exec


def test_a_multithreaded_static_program_that_execs_from_a_thread(tmp_path, ptrace_allowed):
    program = compile_static(tmp_path, THREADED_PROGRAM, "threads")
    run = Run(tmp_path, [program])
    run.assert_same()
    assert run.traced.returncode == 0
    assert {("O", "t", f"t{i}.txt") for i in range(8)} <= run.facts
    assert ("O", "t", "from-exec.txt") in run.facts
    # one process: its threads are not processes; after the exec it is busybox, same pid
    [pid] = run.processes
    images = [e.path for e in run.events if e.op == "P"]
    assert images == [program, BUSYBOX]
    assert {e.pid for e in run.events} == {pid}


def go_program(name: str) -> str:
    path = shutil.which(name) or f"/usr/local/go/bin/{name}"
    if not (os.access(path, os.X_OK) and needs_tracer(path)):
        pytest.skip(f"needs Go's {name} (a Go program: raw system calls, goroutines)")
    return path


def test_a_go_program_matches_strace(tmp_path, ptrace_allowed, monkeypatch):
    """gofmt -w: goroutines read the files at once; each rewrite goes through a backup file
    made, written and removed (its name is random: made the same in both runs)."""
    gofmt = go_program("gofmt")
    sources = {f"pkg/f{i}.go": f"package pkg\nfunc F{i}( ) int {{ return {i} }}\n"
               for i in range(12)}
    monkeypatch.setitem(FILES, "pkg/ok.go", "package pkg\n")
    for name, text in sources.items():
        monkeypatch.setitem(FILES, name, text)
    run = Run(tmp_path, [gofmt, "-l", "-w", "pkg"])

    def same_backups(facts: set[tuple]) -> set[tuple]:
        return {tuple(re.sub(r"\.go\.\d+$", ".go.BACKUP", part) for part in fact)
                for fact in facts}

    run.truth, run.facts = same_backups(run.truth), same_backups(run.facts)
    run.assert_same()
    assert {("O", "r", name) for name in sources} <= run.facts
    assert {("O", "w", name) for name in sources} <= run.facts  # O_WRONLY, then ftruncate
    assert ("O", "r", "pkg/ok.go") in run.facts and ("O", "w", "pkg/ok.go") not in run.facts
    assert len(run.processes) == 1 < len(run.strace_pids)  # threads are not processes


# ------------------------------------------------------------------------------------------
# exit statuses, signals, leftovers, failures


def traced(tmp_path: Path, *args: str, argv0: str = "sh", **kwargs) -> subprocess.CompletedProcess:
    trace = tmp_path / "trace"
    if not trace.exists():
        make_trace_file(str(trace))
    return subprocess.run(tracer_argv(BUSYBOX, *args, argv0=argv0), cwd=tmp_path,
                          env=traced_env(trace, tmp_path), capture_output=True, text=True,
                          timeout=TIMEOUT, **kwargs)


@pytest.mark.parametrize("code", [0, 3, 255])
def test_the_exit_status_is_the_programs(tmp_path, ptrace_allowed, code):
    proc = traced(tmp_path, "-c", f"exit {code}")
    assert (proc.returncode, proc.stdout, proc.stderr) == (code, "", "")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGUSR1])
def test_death_by_a_signal_is_the_programs(tmp_path, ptrace_allowed, sig):
    proc = traced(tmp_path, "-c", f"kill -{sig.name[3:]} $$")
    assert proc.returncode == -sig
    assert proc.stderr == ""


def test_argv0_is_restored(tmp_path, ptrace_allowed):
    proc = traced(tmp_path, "hello", argv0="echo")
    assert (proc.returncode, proc.stdout) == (0, "hello\n")


def test_a_missing_program_exits_127(tmp_path):
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    proc = subprocess.run(tracer_argv(str(tmp_path / "no-such-program"), "x"), cwd=tmp_path,
                          env=traced_env(trace, tmp_path), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 127
    assert proc.stderr == f"prov: {tmp_path / 'no-such-program'}: command not found\n"


def test_a_program_that_cannot_be_executed_exits_126(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/usr/bin/busybox sh\nexit 0\n")
    script.chmod(0o644)
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    proc = subprocess.run(tracer_argv(str(script)), cwd=tmp_path, env=traced_env(trace, tmp_path),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 126
    assert proc.stderr == f"prov: {script}: permission denied\n"


def test_without_a_trace_file_the_program_just_runs(tmp_path):
    proc = subprocess.run(tracer_argv(BUSYBOX, "-c", "echo hi; exit 4", argv0="sh"),
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (4, "hi\n", "")
    env = {**clean_env(), "PROV_TRACE_FILE": str(tmp_path / "absent")}
    proc = subprocess.run(tracer_argv(BUSYBOX, "-c", "exit 5", argv0="sh"), cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert (proc.returncode, proc.stderr) == (5, "")
    assert not (tmp_path / "absent").exists()


def test_a_refused_ptrace_writes_one_U_and_runs_untraced(tmp_path):
    """Under another tracer (as where a container refuses ptrace) PTRACE_SEIZE fails: one U
    record for the program, nothing printed, the program runs with its own exit status."""
    (tmp_path / "a").write_text("a\n")
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    proc = subprocess.run(
        [STRACE, "-f", "-qq", "-o", os.devnull, *tracer_argv(BUSYBOX, "-c", "cat a; exit 6",
                                                             argv0="sh")],
        cwd=tmp_path, env=traced_env(trace, tmp_path), capture_output=True, text=True,
        timeout=TIMEOUT)
    assert (proc.returncode, proc.stdout, proc.stderr) == (6, "a\n", "")
    assert [(e.op, e.flags, e.path) for e in read_trace(str(trace)).events] == \
        [("U", 0, BUSYBOX)]


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    """Poll until `predicate()` holds; the timeout only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def state_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def test_a_leftover_background_process_does_not_hold_the_caller(tmp_path, ptrace_allowed):
    """The process started exits with the program, while what the program left behind is
    still running (it cannot end before `gate` exists), and is still traced afterwards."""
    (tmp_path / "a").write_text("late\n")
    script = ("(while [ ! -e gate ]; do busybox sleep 0.05; done; cat a > late) "
              ">/dev/null 2>&1 & echo $! > pid; exit 2")
    proc = traced(tmp_path, "-c", script)
    assert proc.returncode == 2
    leftover = int((tmp_path / "pid").read_text())
    assert state_of(leftover) not in (None, "Z"), "the leftover ended before the gate opened"
    (tmp_path / "gate").touch()
    wait_for(lambda: (tmp_path / "late").exists() and state_of(leftover) in (None, "Z"),
             "the leftover finished its work")
    # its file system calls worked (a tracee without its tracer would get ENOSYS)...
    assert (tmp_path / "late").read_text() == "late\n"
    # ...and were traced after the program had ended
    late = [e for e in read_trace(str(tmp_path / "trace")).events
            if e.op == "O" and e.path == str(tmp_path.resolve() / "late")]
    assert len(late) == 1 and late[0].pid == leftover


TRAP = ('trap "echo {name} > got; exit 7" {name}; echo > ready; '
        "while :; do busybox sleep 0.05; done")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1])
def test_signals_sent_to_the_waiter_reach_the_program(tmp_path, ptrace_allowed, sig):
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    # A signal ignored on entry stays ignored (a shell cannot trap it): under `nohup`, as CI
    # may run, SIGHUP is, so the program is started with the signal at its default.
    waiter = subprocess.Popen(
        tracer_argv(BUSYBOX, "-c", TRAP.format(name=sig.name[3:]), argv0="sh"), cwd=tmp_path,
        env=traced_env(trace, tmp_path), stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        wait_for(lambda: (tmp_path / "ready").exists(), "the program started")
        waiter.send_signal(sig)  # to the waiter alone: it must pass it on
        assert waiter.wait(timeout=TIMEOUT) == 7
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert (tmp_path / "got").read_text() == sig.name[3:] + "\n"


def test_a_stopped_program_stays_stopped_until_continued(tmp_path, ptrace_allowed):
    """Group-stops are kept (PTRACE_LISTEN): SIGSTOP stops the program, SIGCONT resumes it."""
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    waiter = subprocess.Popen(
        tracer_argv(BUSYBOX, "-c", "echo $$ > pid; kill -STOP $$; echo resumed > after",
                    argv0="sh"),
        cwd=tmp_path, env=traced_env(trace, tmp_path), stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(),
                 "the program started")
        program = int((tmp_path / "pid").read_text())
        wait_for(lambda: state_of(program) in ("T", "t"), "the program stopped")
        assert not (tmp_path / "after").exists()
        assert waiter.poll() is None
        os.kill(program, signal.SIGCONT)
        assert waiter.wait(timeout=TIMEOUT) == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert (tmp_path / "after").read_text() == "resumed\n"


class Terminal:
    """An interactive bash in a pseudo-terminal, as a user's."""

    def __init__(self, cwd: Path, env: dict[str, str]):
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes bash, the session's leader
            os.chdir(cwd)
            os.execve(shutil.which("bash"), ["bash", "--norc", "--noprofile", "-i"],
                      {**env, "PS1": "$ ", "TERM": "dumb"})
        self.seen = ""

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def expect(self, pattern: str) -> str:
        import select

        deadline = time.monotonic() + 60
        while not (found := re.search(pattern, self.seen)):
            assert time.monotonic() < deadline, f"never shown: {pattern!r} in {self.seen!r}"
            if select.select([self.fd], [], [], 0.1)[0]:
                self.seen += os.read(self.fd, 4096).decode(errors="replace")
        self.seen = self.seen[found.end():]
        return found.group(0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def test_job_control_in_a_terminal(tmp_path, ptrace_allowed):
    """Ctrl-Z stops the traced job (bash says so), fg resumes it, Ctrl-C kills it: bash sees a
    death by SIGINT (130), as without the tracer."""
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    trace = tmp_path / "trace"
    make_trace_file(str(trace))
    term = Terminal(tmp_path, traced_env(trace, tmp_path))
    try:
        term.expect(r"\$ ")
        command = shlex.join(tracer_argv(
            BUSYBOX, "-c", "echo $$ > pid; while [ ! -e gate ]; do busybox sleep 0.05; done",
            argv0="sh"))
        term.type(command + "\n")
        wait_for(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(),
                 "the program started")
        program = int((tmp_path / "pid").read_text())
        term.type("\x1a")  # Ctrl-Z
        term.expect(r"Stopped")
        wait_for(lambda: state_of(program) in ("T", "t"), "the program stopped")
        term.expect(r"\$ ")
        term.type("fg\n")
        wait_for(lambda: state_of(program) in ("S", "R"), "the program resumed")
        term.type("\x03")  # Ctrl-C
        term.expect(r"\$ ")
        term.type("echo rc=$?\n")
        assert term.expect(r"rc=\d+") == "rc=130"
    finally:
        term.close()


# ------------------------------------------------------------------------------------------
# cost (run by hand: python tests/capture/tracing/test_tracer.py)


def measure(rounds: int = 7, loops: int = 1000) -> None:
    """Medians of a busybox sh loop running `cat` `loops` times: bare, under provtrace,
    under strace -f (with and without its own seccomp filter). Printed, not asserted."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        (root / "a").write_text("x\n")
        script = f"i=0; while [ $i -lt {loops} ]; do cat a > /dev/null; i=$((i+1)); done"
        bare = [BUSYBOX, "sh", "-c", script]
        trace = root / "trace"

        def tracer_run() -> list[str]:
            trace.unlink(missing_ok=True)
            make_trace_file(str(trace))
            return tracer_argv(BUSYBOX, "-c", script, argv0="sh")

        ways = {
            "bare": lambda: bare,
            "provtrace": tracer_run,
            "strace -f": lambda: [STRACE, "-f", "-qq", "-o", os.devnull, *bare],
            "strace -f --seccomp-bpf": lambda: [STRACE, "-f", "-qq", "--seccomp-bpf", "-e",
                                               "trace=%file", "-o", os.devnull, *bare],
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        env = traced_env(trace, root)
        names = list(ways)
        for round_ in range(rounds):  # the order turns each round: no way always goes first
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                argv = ways[name]
                command = argv()
                start = time.perf_counter()
                subprocess.run(command, cwd=root, env=env, check=True)
                times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print(f"{name:24s} {value * 1000:8.1f} ms  {value / medians['bare']:5.2f}x bare"
                  f"  {value / medians['provtrace']:5.2f}x provtrace")


if __name__ == "__main__":
    measure(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 7)
