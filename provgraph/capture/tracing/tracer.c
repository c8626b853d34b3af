/*
 * provtrace: provgraph's file-access tracer for the programs the LD_PRELOAD interposer cannot
 * see (statically linked ones, Go programs: they do not go through a dynamic C library).
 *
 *     provtrace [--argv0 NAME] -- PROGRAM [ARGS...]
 *
 * runs PROGRAM (argv[0] = NAME: busybox picks its applet from it) and writes to
 * $PROV_TRACE_FILE, in record.h's format, what every process and thread of its tree did to
 * the files under $PROV_TRACE_ROOTS: P when a process starts or execs, O open/openat/openat2/
 * creat, R rename(at)(2), L link(at), S symlink(at), D unlink(at)/rmdir, T truncate, each
 * only when the call succeeded. When it cannot trace (no ptrace permission, as in many
 * containers; no seccomp; a kernel older than 5.3; another architecture) it writes one U
 * record for the program and runs it untraced: provgraph tells the user.
 *
 * Mechanism: ptrace with a seccomp-BPF filter, so that only the system calls above stop the
 * program (SECCOMP_RET_TRACE) and everything else runs at full speed; PTRACE_GET_SYSCALL_INFO
 * reads numbers, arguments and results the same way on every architecture. A call whose paths
 * are not wanted is let go at its seccomp stop; only a wanted one is followed to its exit, for
 * its result.
 *
 * Processes, so that a background process the command leaves behind never blocks provgraph:
 *
 *     provgraph -> waiter (this process) -> tracer -> program -> ...
 *
 * The waiter exits exactly when the program exits, the same way (status, or the same signal),
 * and passes on the signals a supervisor sends it (as provgraph/capture/runner.py does). The tracer
 * goes on tracing what the program left behind until the last of it ends: a process under a
 * RET_TRACE filter with no tracer would see its file system calls fail (ENOSYS), and with
 * PTRACE_O_EXITKILL a tracer that dies takes its tracees with it rather than leave them so.
 * The tracer ignores the user's signals, holds none of the program's standard streams once the
 * program has ended, and writes nothing but its own internal errors (one line, "prov: tracer:").
 * Job control is kept: a stopped tracee stays in its group-stop (PTRACE_LISTEN) until SIGCONT,
 * so Ctrl-Z, fg and bg work as without a tracer.
 *
 * Not seen (as by the interposer): files opened by io_uring or open_by_handle_at, calls made
 * through the 32-bit ABIs of an x86_64 kernel (int 0x80, x32). Under a tracer, a setuid
 * program does not gain its privileges (as under strace). A dynamically linked program started
 * by a traced one is recorded by both tracers (the same records twice, harmless), and each of
 * its file calls costs a stop: the filter cannot be taken back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record.h"
#include "paths.h"

extern char **environ;

#if defined(__x86_64__)
#define TRACE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TRACE_ARCH AUDIT_ARCH_AARCH64
#else
#define TRACE_ARCH 0 /* no tracing: can_trace() says so, the program runs untraced */
#define NO_TRACE_ARCH
#endif

/* ptrace and seccomp constants older headers may lack (values are the kernel's ABI) */
#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#ifndef PTRACE_O_EXITKILL
#define PTRACE_O_EXITKILL (1 << 20)
#endif
#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef SECCOMP_GET_ACTION_AVAIL
#define SECCOMP_GET_ACTION_AVAIL 2
#endif
#ifndef __NR_openat2
#define __NR_openat2 437 /* the same number on every architecture */
#endif

enum { INFO_NONE = 0, INFO_ENTRY = 1, INFO_EXIT = 2, INFO_SECCOMP = 3 };

/* struct ptrace_syscall_info (Linux 5.3), spelled out: libc headers differ on its name */
struct syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct { uint64_t nr; uint64_t args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr; uint64_t args[6]; uint32_t ret_data; } seccomp;
    };
};

/* The signals the waiter passes on to the program (runner.py's FORWARDED). */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define N_FORWARDED (int)(sizeof forwarded / sizeof forwarded[0])

/* ---------------------------------------------------------------------------------- */
/* messages, exec                                                                      */

/* One line on stderr. */
static void say(const char *fmt, ...) {
    char line[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t ignored = write(2, line, (size_t)n);
    (void)ignored;
}

/* Exec the program, as a shell would report a failure: 127 not found, 126 otherwise. The
   system call itself, not libc's execve: the interposer, loaded into this process when the
   command's environment has LD_PRELOAD, would hand a static program back to the tracer. */
static void exec_program(const char *program, char **args) {
    syscall(SYS_execve, program, args, environ);
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
        say("prov: %s: command not found", program);
        _exit(127);
    }
    if (e == EACCES || e == EPERM) say("prov: %s: permission denied", program);
    else say("prov: %s: %s", program, strerror(e));
    _exit(126);
}

/* ---------------------------------------------------------------------------------- */
/* the tracees                                                                         */

/* One traced thread. A call being followed to its exit keeps its record here (paths taken
   at the seccomp stop, as the thread named them then: its cwd and dirfds may change after). */
struct tracee {
    pid_t tid, tgid, ppid;
    uint64_t serial;  /* this process image: a fresh one at fork and exec, for the dedup */
    int pending;      /* a wanted call between its seccomp stop and its exit */
    char op;
    long flags;
    uint64_t key;     /* an open's dedup key */
    char *path, *path2; /* PATH_MAX each, allocated when first needed */
};

/* tid -> tracee: open addressing, grown at half full, backward-shift deletion */
static struct tracee **table;
static size_t table_cap, table_n;
static uint64_t serials;

static size_t slot_of(pid_t tid) {
    return ((uint32_t)tid * 2654435761u) & (table_cap - 1);
}

static struct tracee *find(pid_t tid) {
    if (!table_cap) return NULL;
    for (size_t i = slot_of(tid);; i = (i + 1) & (table_cap - 1)) {
        if (!table[i]) return NULL;
        if (table[i]->tid == tid) return table[i];
    }
}

static void place(struct tracee *t) {
    size_t i = slot_of(t->tid);
    while (table[i]) i = (i + 1) & (table_cap - 1);
    table[i] = t;
}

static int grow_table(void) {
    size_t old_cap = table_cap, cap = old_cap ? old_cap * 2 : 64;
    struct tracee **old = table, **fresh = calloc(cap, sizeof *fresh);
    if (!fresh) return -1;
    table = fresh;
    table_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) place(old[i]);
    free(old);
    return 0;
}

static struct tracee *insert(pid_t tid) {
    if ((table_n + 1) * 2 > table_cap && grow_table() != 0) return NULL;
    struct tracee *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->tid = t->tgid = tid;
    place(t);
    table_n++;
    return t;
}

static void drop(pid_t tid) {
    if (!table_cap) return;
    size_t mask = table_cap - 1, i = slot_of(tid);
    while (table[i] && table[i]->tid != tid) i = (i + 1) & mask;
    if (!table[i]) return;
    free(table[i]->path);
    free(table[i]->path2);
    free(table[i]);
    table[i] = NULL;
    table_n--;
    for (size_t j = (i + 1) & mask; table[j]; j = (j + 1) & mask) {
        size_t k = slot_of(table[j]->tid);
        /* the entry at j stays unless its home k lies cyclically outside (i, j] */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            table[i] = table[j];
            table[j] = NULL;
            i = j;
        }
    }
}

/* A record that could not be made (no memory for a tracee's state): counted where provgraph
   counts the records a full disk dropped, so it says the trace is incomplete. */
static void lose(void) {
    __atomic_fetch_add(word(3), 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------------------- */
/* what /proc says about a tracee                                                      */

/* "Tgid:" and "PPid:" of /proc/TID/status; 0 when it could not be read. */
static int read_status(pid_t tid, pid_t *tgid, pid_t *ppid) {
    char name[64], text[2048];
    snprintf(name, sizeof name, "/proc/%d/status", (int)tid);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    const char *g = strstr(text, "\nTgid:"), *p = strstr(text, "\nPPid:");
    if (!g || !p) return -1;
    *tgid = (pid_t)atoi(g + 6);
    *ppid = (pid_t)atoi(p + 6);
    return 0;
}

static void read_link(const char *fmt, pid_t tid, char *out_path) {
    char name[64];
    snprintf(name, sizeof name, fmt, (int)tid);
    ssize_t n = readlink(name, out_path, PATH_MAX - 1);
    out_path[n > 0 ? n : 0] = 0;
}

/* P: process `t` started or exec'd. */
static void note_process(struct tracee *t) {
    char exe[PATH_MAX];
    read_link("/proc/%d/exe", t->tid, exe);
    my_pid = t->tgid;
    append('P', (long)t->ppid, exe, NULL);
}

/* The tracee of this tid, made (and its process written down, if it is one) when it is first
   seen: a new child's first stop may come before or after its parent's fork event. `parent`:
   the process that forked it, when known to be a process (a fork or vfork event); otherwise
   /proc says whether it is a thread and whose. */
static struct tracee *tracee_of(pid_t tid, const struct tracee *parent) {
    struct tracee *t = find(tid);
    if (t) return t;
    t = insert(tid);
    if (!t) {
        lose();
        return NULL;
    }
    pid_t tgid = tid, ppid = parent ? parent->tgid : 0;
    if (!parent) read_status(tid, &tgid, &ppid);
    t->tgid = tgid;
    t->ppid = ppid;
    struct tracee *leader = tgid != tid ? find(tgid) : NULL;
    if (leader) {
        t->serial = leader->serial; /* a thread: same process image */
        t->ppid = leader->ppid;
    } else {
        t->serial = ++serials;
        if (tgid == tid) note_process(t);
    }
    return t;
}

/* ---------------------------------------------------------------------------------- */
/* reading the calls' arguments                                                        */

/* The NUL-terminated string at `addr` in the tracee, in `buf` (PATH_MAX). Read page by page:
   a path may end just before an unmapped page. */
static int read_string(pid_t tid, uint64_t addr, char *buf) {
    size_t got = 0;
    while (got < PATH_MAX) {
        uint64_t at = addr + got;
        size_t want = 4096 - (size_t)(at & 4095);
        if (want > PATH_MAX - got) want = PATH_MAX - got;
        struct iovec local = {buf + got, want}, remote = {(void *)(uintptr_t)at, want};
        ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
        if (n <= 0) return -1;
        if (memchr(buf + got, 0, (size_t)n)) return 0;
        got += (size_t)n;
    }
    return -1; /* longer than PATH_MAX: the call fails with ENAMETOOLONG anyway */
}

static int read_word(pid_t tid, uint64_t addr, uint64_t *value) {
    struct iovec local = {value, sizeof *value};
    struct iovec remote = {(void *)(uintptr_t)addr, sizeof *value};
    return process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof *value ? 0 : -1;
}

/* `path` as the tracee named it at this moment: relative to its cwd or to a dirfd. */
static int resolve(pid_t tid, int dirfd, const char *path, char *full) {
    if (!*path) return -1; /* AT_EMPTY_PATH: the dirfd itself, not a name */
    if (path[0] == '/') return join_path(NULL, path, full);
    char base[PATH_MAX], name[64];
    if (dirfd == AT_FDCWD) snprintf(name, sizeof name, "/proc/%d/cwd", (int)tid);
    else snprintf(name, sizeof name, "/proc/%d/fd/%d", (int)tid, dirfd);
    ssize_t n = readlink(name, base, sizeof base - 1);
    if (n <= 0) return -1;
    base[n] = 0;
    return join_path(base, path, full);
}

/* A file call as it will be recorded: op, flags, one or two (dirfd, path) pairs. */
struct call {
    char op;
    long flags;
    int dirfd, dirfd2;
    uint64_t path, path2; /* addresses in the tracee; path2 0 when there is none */
};

/* What system call `nr` with `a` does to files; 0 when it is not one we record. */
static int decode(pid_t tid, uint64_t nr, const uint64_t *a, struct call *c) {
    memset(c, 0, sizeof *c);
    c->dirfd = c->dirfd2 = AT_FDCWD;
    switch (nr) {
#ifdef __NR_open
    case __NR_open: c->op = 'O'; c->path = a[0]; c->flags = (long)(int)a[1]; return 1;
#endif
#ifdef __NR_creat
    case __NR_creat:
        c->op = 'O'; c->path = a[0]; c->flags = O_WRONLY | O_CREAT | O_TRUNC; return 1;
#endif
    case __NR_openat:
        c->op = 'O'; c->dirfd = (int)a[0]; c->path = a[1]; c->flags = (long)(int)a[2];
        return 1;
    case __NR_openat2: {
        uint64_t flags; /* struct open_how starts with its 64-bit flags */
        if (read_word(tid, a[2], &flags) != 0) return 0;
        c->op = 'O'; c->dirfd = (int)a[0]; c->path = a[1]; c->flags = (long)flags;
        return 1;
    }
#ifdef __NR_rename
    case __NR_rename: c->op = 'R'; c->path = a[0]; c->path2 = a[1]; return 1;
#endif
#ifdef __NR_renameat
    case __NR_renameat:
#endif
    case __NR_renameat2:
        c->op = 'R'; c->dirfd = (int)a[0]; c->path = a[1]; c->dirfd2 = (int)a[2];
        c->path2 = a[3];
        return 1;
#ifdef __NR_link
    case __NR_link: c->op = 'L'; c->path = a[0]; c->path2 = a[1]; return 1;
#endif
    case __NR_linkat:
        c->op = 'L'; c->dirfd = (int)a[0]; c->path = a[1]; c->dirfd2 = (int)a[2];
        c->path2 = a[3];
        return 1;
#ifdef __NR_symlink
    case __NR_symlink: c->op = 'S'; c->path = a[1]; return 1; /* the new link */
#endif
    case __NR_symlinkat: c->op = 'S'; c->dirfd = (int)a[1]; c->path = a[2]; return 1;
#ifdef __NR_unlink
    case __NR_unlink: c->op = 'D'; c->path = a[0]; return 1;
#endif
#ifdef __NR_rmdir
    case __NR_rmdir: c->op = 'D'; c->path = a[0]; return 1;
#endif
    case __NR_unlinkat: c->op = 'D'; c->dirfd = (int)a[0]; c->path = a[1]; return 1;
    case __NR_truncate: c->op = 'T'; c->path = a[0]; return 1;
    default: return 0;
    }
}

/* The system calls that stop the tracee (the cases of decode). */
static const int traced_calls[] = {
#ifdef __NR_open
    __NR_open,
#endif
#ifdef __NR_creat
    __NR_creat,
#endif
#ifdef __NR_rename
    __NR_rename,
#endif
#ifdef __NR_renameat
    __NR_renameat,
#endif
#ifdef __NR_link
    __NR_link,
#endif
#ifdef __NR_symlink
    __NR_symlink,
#endif
#ifdef __NR_unlink
    __NR_unlink,
#endif
#ifdef __NR_rmdir
    __NR_rmdir,
#endif
    __NR_openat, __NR_openat2, __NR_renameat2, __NR_linkat, __NR_symlinkat, __NR_unlinkat,
    __NR_truncate,
};
#define N_TRACED (int)(sizeof traced_calls / sizeof traced_calls[0])

/* ---------------------------------------------------------------------------------- */
/* opens already written down (as preload.c's `already`, per process image)            */

#define SEEN_SLOTS (1 << 16)
static uint64_t seen_keys[SEEN_SLOTS];

static uint64_t open_key(const struct tracee *t, long flags, const char *full) {
    return (hash(kind_of_open(flags), full) ^ (t->serial * 0x9e3779b97f4a7c15ull)) | 1;
}

/* Whether `key` is in the table; with `mark`, put it there. */
static int seen_key(uint64_t key, int mark) {
    size_t i = key & (SEEN_SLOTS - 1);
    for (int probe = 0; probe < 64; probe++, i = (i + 1) & (SEEN_SLOTS - 1)) {
        if (seen_keys[i] == key) return 1;
        if (seen_keys[i] == 0) {
            if (mark) seen_keys[i] = key;
            return 0;
        }
    }
    return 0; /* crowded: written down again, harmless */
}

/* ---------------------------------------------------------------------------------- */
/* the stops                                                                           */

static void resume(pid_t tid, int how, int sig) {
    ptrace(how, tid, 0L, (long)sig); /* ESRCH: killed meanwhile, its death comes next */
}

static int syscall_info(pid_t tid, struct syscall_info *info) {
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof *info, info);
    return n > 0 ? 0 : -1;
}

static int ensure_buffers(struct tracee *t) {
    if (!t->path) t->path = malloc(PATH_MAX);
    if (!t->path2) t->path2 = malloc(PATH_MAX);
    if (t->path && t->path2) return 0;
    lose();
    return -1;
}

/* A seccomp stop: a file call is about to run. Follow it to its exit only when it names a
   wanted path (and is not an open of this image already written down). */
static void on_seccomp(struct tracee *t) {
    struct syscall_info info;
    struct call c;
    char name[PATH_MAX];
    t->pending = 0;
    if (syscall_info(t->tid, &info) != 0 || info.op != INFO_SECCOMP ||
        info.arch != TRACE_ARCH ||
        !decode(t->tid, info.seccomp.nr, info.seccomp.args, &c) ||
        (c.op == 'O' && !open_recorded(c.flags)) || ensure_buffers(t) != 0) {
        resume(t->tid, PTRACE_CONT, 0);
        return;
    }
    int ok = read_string(t->tid, c.path, name) == 0 &&
             resolve(t->tid, c.dirfd, name, t->path) == 0;
    int keep = ok && wanted(t->path);
    if (ok && c.path2) {
        ok = read_string(t->tid, c.path2, name) == 0 &&
             resolve(t->tid, c.dirfd2, name, t->path2) == 0;
        keep = ok && (keep || wanted(t->path2));
    }
    if (keep && c.op == 'O') {
        t->key = open_key(t, c.flags, t->path);
        keep = !seen_key(t->key, 0);
    }
    if (!keep) {
        resume(t->tid, PTRACE_CONT, 0);
        return;
    }
    t->pending = 1;
    t->op = c.op;
    t->flags = c.op == 'O' ? c.flags : 0;
    if (!c.path2) t->path2[0] = 0;
    resume(t->tid, PTRACE_SYSCALL, 0);
}

/* A syscall stop (PTRACE_SYSCALL after a wanted call's seccomp stop): at its exit, write the
   record down if the call succeeded. */
static void on_syscall(struct tracee *t) {
    struct syscall_info info;
    if (syscall_info(t->tid, &info) != 0) info.op = INFO_NONE;
    if (info.op == INFO_ENTRY && t->pending) { /* kernels where seccomp came first */
        resume(t->tid, PTRACE_SYSCALL, 0);
        return;
    }
    if (info.op == INFO_EXIT && t->pending && !info.exit.is_error && info.exit.rval >= 0) {
        my_pid = t->tgid;
        append(t->op, t->flags, t->path, t->path2[0] ? t->path2 : NULL);
        if (t->op == 'O') seen_key(t->key, 1);
    }
    t->pending = 0;
    resume(t->tid, PTRACE_CONT, 0);
}

/* PTRACE_EVENT_EXEC: a new image (P; its parent the one that forked it, even if that one has
   ended since). A non-leader thread that exec'd takes the leader's tid; the thread it was is
   gone without a death being reported. */
static void on_exec(struct tracee *t) {
    unsigned long former = 0;
    if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &former) == 0 && (pid_t)former != t->tid)
        drop((pid_t)former);
    t->tgid = t->tid;
    t->pending = 0;
    t->serial = ++serials;
    note_process(t);
    resume(t->tid, PTRACE_CONT, 0);
}

static int is_stop_signal(int sig) {
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* One stop of a tracee, and how it goes on. */
static void on_stop(pid_t tid, int status) {
    struct tracee *t = tracee_of(tid, NULL);
    int sig = WSTOPSIG(status), event = (int)((unsigned)status >> 16);
    if (!t) { /* out of memory: let it run, unrecorded */
        resume(tid, PTRACE_CONT, event == 0 && sig != (SIGTRAP | 0x80) ? sig : 0);
        return;
    }
    if (sig == (SIGTRAP | 0x80)) {
        on_syscall(t);
        return;
    }
    switch (event) {
    case PTRACE_EVENT_SECCOMP:
        on_seccomp(t);
        return;
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
        unsigned long child = 0;
        if (ptrace(PTRACE_GETEVENTMSG, tid, 0L, &child) == 0 && child)
            tracee_of((pid_t)child, event == PTRACE_EVENT_CLONE ? NULL : t);
        resume(tid, PTRACE_CONT, 0);
        return;
    }
    case PTRACE_EVENT_EXEC:
        on_exec(t);
        return;
    case PTRACE_EVENT_STOP:
        /* a group-stop (Ctrl-Z, SIGSTOP): stay stopped, as without a tracer, until SIGCONT;
           otherwise a new tracee's first stop or an interrupt */
        if (is_stop_signal(sig)) resume(tid, PTRACE_LISTEN, 0);
        else resume(tid, PTRACE_CONT, 0);
        return;
    case 0: /* a signal on its way to the tracee: deliver it */
        resume(tid, PTRACE_CONT, sig);
        return;
    default:
        resume(tid, PTRACE_CONT, 0);
        return;
    }
}

/* ---------------------------------------------------------------------------------- */
/* the tracer process                                                                  */

struct launch {
    const char *program;       /* as given */
    char full[PATH_MAX];       /* absolute, for the U record */
    char **args;               /* argv[0] restored */
    struct sigaction original[N_FORWARDED];
    sigset_t original_mask;
};

static void untraced(const struct launch *l) {
    my_pid = (long)getpid();
    append('U', 0, l->full, NULL);
}

static int install_filter(void) {
    struct sock_filter code[4 + N_TRACED + 2];
    int n = 0;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, arch));
    code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TRACE_ARCH, 1, 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             offsetof(struct seccomp_data, nr));
    for (int i = 0; i < N_TRACED; i++) /* a match jumps to RET_TRACE, after the others */
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                 (uint32_t)traced_calls[i],
                                                 (uint8_t)(N_TRACED - i), 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
    struct sock_fprog prog = {(unsigned short)n, code};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0) return 0;
    /* without CAP_SYS_ADMIN a filter needs no_new_privs: setuid programs then stay
       unprivileged */
    if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : -1;
}

/* The program's process, forked by the tracer: waits for the tracer to be attached (or to
   give up), takes the filter, gets back the signal state the waiter was started with, and
   execs. Signals stay blocked until then, so nothing is lost and nothing runs early. */
static void program_process(const struct launch *l, int go) {
    char mode = 0;
    while (read(go, &mode, 1) < 0 && errno == EINTR) {
    }
    close(go);
    if (mode != 'T' && mode != 'U') _exit(127); /* the tracer died: the waiter says so */
    if (mode == 'T') {
        if (install_filter() == 0) setenv("PROV_TRACE_PTRACED", "1", 1);
        else untraced(l);
    }
    for (int i = 0; i < N_FORWARDED; i++) {
        struct sigaction sa = l->original[i];
        if (sa.sa_handler != SIG_IGN) sa.sa_handler = SIG_DFL;
        sa.sa_flags &= ~SA_SIGINFO;
        sigaction(forwarded[i], &sa, NULL);
    }
    sigprocmask(SIG_SETMASK, &l->original_mask, NULL);
    exec_program(l->program, l->args);
}

/* Ptrace `child` (blocked reading `go`): seize it, stop it, and check that the kernel can
   tell its system calls apart. 1 attached (child stopped), 0 not possible (child free), -1
   the child ended (its wait status in *status). */
static int attach(pid_t child, int *status) {
    long options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP |
                   PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SEIZE, child, 0L, options) != 0) return 0;
    if (ptrace(PTRACE_INTERRUPT, child, 0L, 0L) != 0) {
        ptrace(PTRACE_DETACH, child, 0L, 0L);
        return 0;
    }
    for (;;) {
        if (waitpid(child, status, __WALL) < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        if (!WIFSTOPPED(*status)) return -1;
        struct syscall_info info;
        if (syscall_info(child, &info) == 0) return 1;
        ptrace(PTRACE_DETACH, child, 0L, 0L);
        return 0;
    }
}

static void write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* The program ended: tell the waiter, and let go of the streams the tracer still held. */
static void report(int *to_waiter, int status) {
    if (*to_waiter < 0) return;
    int32_t word = status;
    write_all(*to_waiter, &word, sizeof word);
    close(*to_waiter);
    *to_waiter = -1;
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 2);
        close(null);
    }
}

/* Until the last tracee ends. */
static void trace_loop(pid_t first, int *to_waiter) {
    for (;;) {
        int status;
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR) continue;
            if (errno != ECHILD) say("prov: tracer: waitpid: %s", strerror(errno));
            return;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == first) report(to_waiter, status);
            drop(tid);
        } else if (WIFSTOPPED(status)) {
            on_stop(tid, status);
        }
    }
}

static void quiet_signals(void) {
    static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                  SIGPIPE, SIGTSTP, SIGTTIN, SIGTTOU};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        sigaction(ignored[i], &sa, NULL);
    sa.sa_handler = SIG_DFL; /* inherited SIG_IGN would reap the program before we see it */
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The tracer process: forks the program, attaches, tells the waiter the program's pid (or -1
   when it could not start it), traces until the last tracee ends. */
static int tracer_process(const struct launch *l, int to_waiter) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) go[0] = go[1] = -1;
    pid_t child = go[0] >= 0 ? fork() : -1;
    if (child == 0) {
        close(go[1]);
        close(to_waiter);
        program_process(l, go[0]);
    }
    quiet_signals();
    int32_t pid = child > 0 ? child : -1;
    if (child < 0) {
        write_all(to_waiter, &pid, sizeof pid);
        return 1;
    }
    close(go[0]);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        close(null);
    }
    int status = 0, attached = attach(child, &status);
    if (attached == 0) untraced(l);
    write_all(go[1], attached == 1 ? "T" : "U", 1);
    close(go[1]);
    write_all(to_waiter, &pid, sizeof pid);
    if (attached < 0) {
        report(&to_waiter, status);
        return 0;
    }
    if (attached == 1) {
        struct tracee *t = insert(child);
        if (t) {
            t->ppid = getpid();
            t->serial = ++serials;
        }
        resume(child, PTRACE_CONT, 0);
        trace_loop(child, &to_waiter);
    } else {
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }
        report(&to_waiter, status);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* the waiter                                                                          */

static volatile sig_atomic_t program_pid;
static int from_terminal;

/* A signal sent to the waiter goes to the program, unless the terminal gave it to the
   program itself (Ctrl-C, Ctrl-\ in the foreground). */
static void forward(int sig) {
    int tty = from_terminal && (sig == SIGINT || sig == SIGQUIT);
    if (program_pid > 0 && !tty) kill((pid_t)program_pid, sig);
}

/* Leave as the program left: its exit status, or killed by its signal. */
static void exit_like(int status) {
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the program's core is the program's, not ours */
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
}

static int read_word32(int fd, int32_t *word) {
    size_t got = 0;
    while (got < sizeof *word) {
        ssize_t n = read(fd, (char *)word + got, sizeof *word - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

/* The process provgraph started: forks the tracer, forwards signals to the program, exits
   with it. Falls back to running the program untraced when the tracer cannot start. */
static int waiter(struct launch *l) {
    from_terminal = tcgetpgrp(0) == getpgrp();
    sigprocmask(SIG_SETMASK, NULL, &l->original_mask);
    sigset_t block = l->original_mask;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (int i = 0; i < N_FORWARDED; i++) {
        sigaction(forwarded[i], NULL, &l->original[i]);
        sigaddset(&block, forwarded[i]);
    }
    /* blocked until the program's pid is known: then what came meanwhile is passed on */
    sigprocmask(SIG_SETMASK, &block, NULL);
    for (int i = 0; i < N_FORWARDED; i++)
        if (l->original[i].sa_handler != SIG_IGN) sigaction(forwarded[i], &sa, NULL);
    int pipe_fds[2];
    pid_t tracer = pipe2(pipe_fds, O_CLOEXEC) == 0 ? fork() : -1;
    if (tracer == 0) {
        close(pipe_fds[0]);
        _exit(tracer_process(l, pipe_fds[1]));
    }
    int32_t pid = -1, status;
    if (tracer > 0) {
        close(pipe_fds[1]);
        if (read_word32(pipe_fds[0], &pid) != 0) pid = -1;
    }
    if (pid <= 0) { /* no tracer, or it could not fork: run the program untraced here */
        for (int i = 0; i < N_FORWARDED; i++) sigaction(forwarded[i], &l->original[i], NULL);
        sigprocmask(SIG_SETMASK, &l->original_mask, NULL);
        untraced(l);
        exec_program(l->program, l->args);
    }
    program_pid = pid;
    sigprocmask(SIG_SETMASK, &l->original_mask, NULL);
    if (read_word32(pipe_fds[0], &status) != 0) {
        say("prov: tracer: the tracer ended before the program did");
        return 1;
    }
    waitpid(tracer, NULL, WNOHANG); /* reaped if nothing was left behind; never waited for */
    exit_like(status);
    return 1;
}

/* ---------------------------------------------------------------------------------- */

/* Whether seccomp can hand system calls to a tracer here (kernel, architecture). ptrace
   permission and PTRACE_GET_SYSCALL_INFO are checked on the program's process itself. */
static int can_trace(void) {
#ifndef NO_TRACE_ARCH
    uint32_t action = SECCOMP_RET_TRACE;
    return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
#else
    return 0;
#endif
}

int main(int argc, char **argv) {
    static struct launch l;
    int i = 1;
    const char *argv0 = NULL;
    if (i + 1 < argc && strcmp(argv[i], "--argv0") == 0) {
        argv0 = argv[i + 1];
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--") == 0) i++;
    if (i >= argc) {
        say("prov: tracer: usage: provtrace [--argv0 NAME] -- PROGRAM [ARGS...]");
        return 127;
    }
    l.program = argv[i];
    l.args = argv + i;
    if (argv0) argv[i] = (char *)argv0;
    const char *file = getenv("PROV_TRACE_FILE");
    /* not asked to trace, or inside a tree traced already (its tracer follows this exec) */
    if (!file || !*file || getenv("PROV_TRACE_PTRACED") || map_trace_file(file) != 0)
        exec_program(l.program, l.args);
    load_roots(getenv("PROV_TRACE_ROOTS"));
    char cwd[PATH_MAX];
    if (join_path(getcwd(cwd, sizeof cwd) ? cwd : "/", l.program, l.full) != 0)
        snprintf(l.full, sizeof l.full, "%s", l.program);
    if (!can_trace()) {
        untraced(&l);
        exec_program(l.program, l.args);
    }
    return waiter(&l);
}
