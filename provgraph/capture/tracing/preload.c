/*
 * provgraph's file-access tracer for dynamically linked programs (LD_PRELOAD).
 *
 * Loaded into every dynamically linked process of a captured command, it writes down which
 * files the process opens for reading or writing, renames, links and deletes, without
 * changing what the program does: each interposed function records, then calls the real one
 * (records of writes are kept only when the call succeeded).
 *
 * Where records go: every process of the command appends to one file, $PROV_TRACE_FILE, mapped
 * into memory (MAP_SHARED), so a record costs a memcpy, not a system call, and survives the
 * process being killed (the pages belong to the file). Paths outside $PROV_TRACE_ROOTS (the work tree,
 * as given and as resolved) are not written down; nor are paths under its .git folder.
 *
 * Record format (parsed by provgraph.capture.tracing.events): a header "OP FLAGS PID NS", a NUL, one
 * path (two for rename, link and symlink: source then target), each followed by a NUL.
 *   P  a process started: path = its executable (FLAGS = parent pid)
 *   O  open (FLAGS = open(2) flags), T truncate, R rename, L link, S symlink (target, name),
 *   D  unlink / rmdir, X a static or Go program handed to the ptrace tracer, U one that could
 *   not be (no tracer): it runs untraced.
 *
 * What it cannot see: programs that do not go through the C library (statically linked ones,
 * Go programs): exec of those is redirected to $PROV_TRACE_TRACER, the ptrace tracer.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "record.h"
#include "paths.h"

extern char **environ;

#define INITIAL_SIZE (256 * 1024)
#define SEEN_SLOTS (1 << 16)

static int active;                    /* PROV_TRACE_FILE was set and mapped */
static const char *tracer = "";       /* the ptrace tracer, for static and Go programs */
static int under_ptrace;              /* this process tree is traced by the tracer already */

/* The environment every traced program must keep, put back by exec if a program drops it:
   the process's own "NAME=value" strings, which live as long as it does (a program that
   changes its environment makes new strings; the ones it started with stay). Pointers, not
   copies, as with the roots (paths.h): a short process touches as few pages as it can. */
static char *keep_env[6];
static int n_keep_env;


static uint64_t seen_table[SEEN_SLOTS];  /* hashes of (kind, path) already written down */
static uint64_t *seen;

static char cwd[PATH_MAX];
static size_t cwd_len;                /* 0: unknown, ask the kernel */

static __thread int busy;             /* inside our own bookkeeping: record nothing */

/* ---------------------------------------------------------------------------------- */
/* the real functions                                                                  */

#define REAL(name) static __typeof__(name) *real_##name
REAL(open); REAL(open64); REAL(openat); REAL(openat64); REAL(creat); REAL(creat64);
REAL(fopen); REAL(fopen64); REAL(freopen); REAL(freopen64);
REAL(rename); REAL(renameat); REAL(renameat2); REAL(link); REAL(linkat);
REAL(symlink); REAL(symlinkat); REAL(unlink); REAL(unlinkat); REAL(remove); REAL(rmdir);
REAL(truncate); REAL(truncate64); REAL(chdir); REAL(fchdir);
REAL(mkstemp); REAL(mkstemps); REAL(mkostemp); REAL(mkostemps);
REAL(execve);
REAL(posix_spawn); REAL(posix_spawnp);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);

#define RESOLVE(name) \
    do { if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name); } while (0)

/* ---------------------------------------------------------------------------------- */
/* the trace file                                                                      */


/* ---------------------------------------------------------------------------------- */
/* paths                                                                               */

static const char *current_dir(void) {
    if (cwd_len == 0) {
        if (syscall(SYS_getcwd, cwd, sizeof cwd) <= 0) return NULL;
        cwd_len = strlen(cwd);
    }
    return cwd;
}

/* `path` relative to `dirfd` as an absolute, lexically normalised path in `full`. */
static int absolute(int dirfd, const char *path, char *full) {
    if (!path || !*path) return -1;
    if (path[0] == '/') return join_path(NULL, path, full);
    char base[PATH_MAX];
    if (dirfd == AT_FDCWD) {
        const char *dir = current_dir();
        if (!dir) return -1;
        strcpy(base, dir);
    } else {
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n <= 0) return -1;
        base[n] = 0;
    }
    return join_path(base, path, full);
}

/* Whether (kind, path) was written down before; marks it written. */
static int already(char kind, const char *full) {
    if (!seen) return 0;
    uint64_t h = hash(kind, full);
    size_t i = h & (SEEN_SLOTS - 1);
    for (int probe = 0; probe < 64; probe++, i = (i + 1) & (SEEN_SLOTS - 1)) {
        uint64_t old = __atomic_load_n(&seen[i], __ATOMIC_RELAXED);
        if (old == h) return 1;
        if (old == 0) {
            if (__atomic_compare_exchange_n(&seen[i], &old, h, 0, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                return 0;
            if (old == h) return 1;
        }
    }
    return 0; /* table crowded: write it down again, harmless */
}

static void note_open(int dirfd, const char *path, int flags, int result) {
    if (!active || busy || result < 0) return;
    if (!open_recorded(flags)) return;
    busy = 1;
    char full[PATH_MAX];
    if (absolute(dirfd, path, full) == 0 && wanted(full) &&
        !already(kind_of_open(flags), full))
        append('O', flags, full, NULL);
    busy = 0;
}

static void note(char op, int dirfd, const char *path, int dirfd2, const char *path2) {
    if (!active || busy) return;
    busy = 1;
    char full[PATH_MAX], full2[PATH_MAX];
    if (absolute(dirfd, path, full) == 0) {
        if (path2) {
            if (absolute(dirfd2, path2, full2) == 0 && (wanted(full) || wanted(full2)))
                append(op, 0, full, full2);
        } else if (wanted(full)) {
            append(op, 0, full, NULL);
        }
    }
    busy = 0;
}

static int mode_flags(const char *mode) {
    int plus = strchr(mode, '+') != NULL;
    switch (mode[0]) {
    case 'r': return plus ? O_RDWR : O_RDONLY;
    case 'w': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
    case 'a': return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
    default: return O_RDONLY;
    }
}

/* ---------------------------------------------------------------------------------- */
/* start-up, fork                                                                      */

static char exe[PATH_MAX];  /* the program this process runs (a forked child runs it too) */

static void start_process(void) {
    my_pid = (long)getpid();
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    append('P', (long)getppid(), exe, NULL);
}

/* A forked child shares the trace file's mapping (MAP_SHARED) and keeps a private copy of
   the table of what was written down: it only has to say that it exists, and runs the
   program its parent runs. */
static void after_fork_in_child(void) {
    if (!active) return;
    my_pid = (long)getpid();
    append('P', (long)getppid(), exe, NULL);
}

static void save_env(const char *name) {
    size_t ln = strlen(name);
    for (char **e = environ; e && *e && n_keep_env < 6; e++) {
        if (strncmp(*e, name, ln) == 0 && (*e)[ln] == '=') {
            keep_env[n_keep_env++] = *e;
            return;
        }
    }
}

__attribute__((constructor)) static void provtrace_init(void) {
    const char *file = getenv("PROV_TRACE_FILE");
    if (!file || !*file) return;
    load_roots(getenv("PROV_TRACE_ROOTS"));
    const char *t = getenv("PROV_TRACE_TRACER");
    if (t && strlen(t) < PATH_MAX) tracer = t;
    under_ptrace = getenv("PROV_TRACE_PTRACED") != NULL;
    save_env("LD_PRELOAD");
    save_env("PROV_TRACE_FILE");
    save_env("PROV_TRACE_ROOTS");
    save_env("PROV_TRACE_TRACER");
    save_env("PROV_AUDIT_FILE");
    if (map_trace_file(file) != 0) return;
    seen = seen_table;
    active = 1;
    start_process();
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* ---------------------------------------------------------------------------------- */
/* the interposed functions: open family                                               */

static int open_mode_needed(int flags) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_BODY(realname, call)                                  \
    mode_t mode = 0;                                               \
    if (open_mode_needed(flags)) {                                 \
        va_list ap; va_start(ap, flags);                           \
        mode = (mode_t)va_arg(ap, int); va_end(ap);                \
    }                                                              \
    RESOLVE(realname);                                             \
    int fd = call;                                                 \
    int saved = errno;                                             \
    note_open(DIRFD, path, flags, fd);                             \
    errno = saved;                                                 \
    return fd;

#define DIRFD AT_FDCWD
int open(const char *path, int flags, ...) { OPEN_BODY(open, real_open(path, flags, mode)) }
int open64(const char *path, int flags, ...) { OPEN_BODY(open64, real_open64(path, flags, mode)) }
#undef DIRFD
#define DIRFD dirfd
int openat(int dirfd, const char *path, int flags, ...) {
    OPEN_BODY(openat, real_openat(dirfd, path, flags, mode))
}
int openat64(int dirfd, const char *path, int flags, ...) {
    OPEN_BODY(openat64, real_openat64(dirfd, path, flags, mode))
}
#undef DIRFD

int __open_2(const char *path, int flags) {
    if (!real___open_2) real___open_2 = dlsym(RTLD_NEXT, "__open_2");
    int fd = real___open_2(path, flags), saved = errno;
    note_open(AT_FDCWD, path, flags, fd);
    errno = saved;
    return fd;
}
int __open64_2(const char *path, int flags) {
    if (!real___open64_2) real___open64_2 = dlsym(RTLD_NEXT, "__open64_2");
    int fd = real___open64_2(path, flags), saved = errno;
    note_open(AT_FDCWD, path, flags, fd);
    errno = saved;
    return fd;
}
int __openat_2(int dirfd, const char *path, int flags) {
    if (!real___openat_2) real___openat_2 = dlsym(RTLD_NEXT, "__openat_2");
    int fd = real___openat_2(dirfd, path, flags), saved = errno;
    note_open(dirfd, path, flags, fd);
    errno = saved;
    return fd;
}
int __openat64_2(int dirfd, const char *path, int flags) {
    if (!real___openat64_2) real___openat64_2 = dlsym(RTLD_NEXT, "__openat64_2");
    int fd = real___openat64_2(dirfd, path, flags), saved = errno;
    note_open(dirfd, path, flags, fd);
    errno = saved;
    return fd;
}

int creat(const char *path, mode_t mode) {
    RESOLVE(creat);
    int fd = real_creat(path, mode), saved = errno;
    note_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, fd);
    errno = saved;
    return fd;
}
int creat64(const char *path, mode_t mode) {
    RESOLVE(creat64);
    int fd = real_creat64(path, mode), saved = errno;
    note_open(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, fd);
    errno = saved;
    return fd;
}

FILE *fopen(const char *path, const char *mode) {
    RESOLVE(fopen);
    FILE *f = real_fopen(path, mode);
    int saved = errno;
    if (mode) note_open(AT_FDCWD, path, mode_flags(mode), f ? 0 : -1);
    errno = saved;
    return f;
}
FILE *fopen64(const char *path, const char *mode) {
    RESOLVE(fopen64);
    FILE *f = real_fopen64(path, mode);
    int saved = errno;
    if (mode) note_open(AT_FDCWD, path, mode_flags(mode), f ? 0 : -1);
    errno = saved;
    return f;
}
FILE *freopen(const char *path, const char *mode, FILE *stream) {
    RESOLVE(freopen);
    FILE *f = real_freopen(path, mode, stream);
    int saved = errno;
    if (path && mode) note_open(AT_FDCWD, path, mode_flags(mode), f ? 0 : -1);
    errno = saved;
    return f;
}
FILE *freopen64(const char *path, const char *mode, FILE *stream) {
    RESOLVE(freopen64);
    FILE *f = real_freopen64(path, mode, stream);
    int saved = errno;
    if (path && mode) note_open(AT_FDCWD, path, mode_flags(mode), f ? 0 : -1);
    errno = saved;
    return f;
}

/* mkstemp and friends create a file in a folder the program names (often the output's). */
static void note_created(const char *path, int fd) {
    note_open(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, fd);
}
int mkstemp(char *t) { RESOLVE(mkstemp); int fd = real_mkstemp(t), e = errno; note_created(t, fd); errno = e; return fd; }
int mkstemps(char *t, int s) { RESOLVE(mkstemps); int fd = real_mkstemps(t, s), e = errno; note_created(t, fd); errno = e; return fd; }
int mkostemp(char *t, int f) { RESOLVE(mkostemp); int fd = real_mkostemp(t, f), e = errno; note_created(t, fd); errno = e; return fd; }
int mkostemps(char *t, int s, int f) { RESOLVE(mkostemps); int fd = real_mkostemps(t, s, f), e = errno; note_created(t, fd); errno = e; return fd; }

/* ---------------------------------------------------------------------------------- */
/* renames, links, deletions, truncation, folders                                      */

#define RECORDED(call, recording) \
    int r = call; int saved = errno; if (r == 0) { recording; } errno = saved; return r;

int rename(const char *a, const char *b) {
    RESOLVE(rename); RECORDED(real_rename(a, b), note('R', AT_FDCWD, a, AT_FDCWD, b))
}
int renameat(int fa, const char *a, int fb, const char *b) {
    RESOLVE(renameat); RECORDED(real_renameat(fa, a, fb, b), note('R', fa, a, fb, b))
}
int renameat2(int fa, const char *a, int fb, const char *b, unsigned int flags) {
    RESOLVE(renameat2);
    RECORDED(real_renameat2(fa, a, fb, b, flags), note('R', fa, a, fb, b))
}
int link(const char *a, const char *b) {
    RESOLVE(link); RECORDED(real_link(a, b), note('L', AT_FDCWD, a, AT_FDCWD, b))
}
int linkat(int fa, const char *a, int fb, const char *b, int flags) {
    RESOLVE(linkat); RECORDED(real_linkat(fa, a, fb, b, flags), note('L', fa, a, fb, b))
}
int symlink(const char *target, const char *name) {
    RESOLVE(symlink);
    RECORDED(real_symlink(target, name), note('S', AT_FDCWD, name, AT_FDCWD, NULL))
}
int symlinkat(const char *target, int fd, const char *name) {
    RESOLVE(symlinkat);
    RECORDED(real_symlinkat(target, fd, name), note('S', fd, name, AT_FDCWD, NULL))
}
int unlink(const char *p) { RESOLVE(unlink); RECORDED(real_unlink(p), note('D', AT_FDCWD, p, 0, NULL)) }
int unlinkat(int fd, const char *p, int flags) {
    RESOLVE(unlinkat); RECORDED(real_unlinkat(fd, p, flags), note('D', fd, p, 0, NULL))
}
int remove(const char *p) { RESOLVE(remove); RECORDED(real_remove(p), note('D', AT_FDCWD, p, 0, NULL)) }
int rmdir(const char *p) { RESOLVE(rmdir); RECORDED(real_rmdir(p), note('D', AT_FDCWD, p, 0, NULL)) }
int truncate(const char *p, off_t n) {
    RESOLVE(truncate); RECORDED(real_truncate(p, n), note('T', AT_FDCWD, p, 0, NULL))
}
int truncate64(const char *p, off64_t n) {
    RESOLVE(truncate64); RECORDED(real_truncate64(p, n), note('T', AT_FDCWD, p, 0, NULL))
}
int chdir(const char *p) { RESOLVE(chdir); int r = real_chdir(p); cwd_len = 0; return r; }
int fchdir(int fd) { RESOLVE(fchdir); int r = real_fchdir(fd); cwd_len = 0; return r; }

/* ---------------------------------------------------------------------------------- */
/* exec: keep the environment, hand static and Go programs to the ptrace tracer         */
/* (these may run in a vfork child: no malloc, no shared state but the trace file)      */

static int read_at(int fd, void *buf, size_t n, off_t at) {
    return syscall(SYS_pread64, fd, buf, n, at) == (long)n ? 0 : -1;
}

/* Whether the program is Go's: its PT_NOTE segments hold a note owned by "Go" (the build
   id, type 4), which Go's linker puts near the start of the file, usually in `head`. */
static int is_go(int fd, const unsigned char *head, long n, const Elf64_Phdr *ph, int phnum) {
    for (int i = 0; i < phnum; i++) {
        if (ph[i].p_type != PT_NOTE || ph[i].p_filesz == 0 || ph[i].p_filesz > 4096) continue;
        unsigned char buf[4096];
        const unsigned char *notes;
        size_t size = ph[i].p_filesz;
        if (ph[i].p_offset + size <= (size_t)n) {
            notes = head + ph[i].p_offset;
        } else {
            if (read_at(fd, buf, size, (off_t)ph[i].p_offset)) continue;
            notes = buf;
        }
        for (size_t at = 0; at + 12 <= size; ) {
            uint32_t namesz, descsz, type;
            memcpy(&namesz, notes + at, 4);
            memcpy(&descsz, notes + at + 4, 4);
            memcpy(&type, notes + at + 8, 4);
            size_t name_at = at + 12;
            if ((namesz == 3 || namesz == 4) && name_at + 3 <= size &&
                memcmp(notes + name_at, "Go", 3) == 0 && type == 4)
                return 1;
            at = name_at + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
        }
    }
    return 0;
}

/* 1 when the program does not go through a dynamic C library: statically linked, or Go. */
static int needs_tracer(const char *path, int depth) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char head[4096];
    long n = syscall(SYS_pread64, fd, head, sizeof head - 1, 0);
    int result = 0;
    if (n >= 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
        head[n] = 0;
        char *p = (char *)head + 2;
        while (*p == ' ' || *p == '\t') p++;
        char *e = p;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n') e++;
        *e = 0;
        result = *p ? needs_tracer(p, 1) : 0;
    } else if (n >= (long)sizeof(Elf64_Ehdr) && memcmp(head, ELFMAG, SELFMAG) == 0 &&
               head[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        memcpy(&eh, head, sizeof eh);
        int interp = 0, phnum = eh.e_phnum < 64 ? eh.e_phnum : 64;
        Elf64_Phdr ph[64];
        size_t bytes = (size_t)phnum * sizeof ph[0];
        if (eh.e_phentsize == sizeof ph[0] && eh.e_phoff + bytes <= (size_t)n)
            memcpy(ph, head + eh.e_phoff, bytes);  /* usually within the first page */
        else if (eh.e_phentsize != sizeof ph[0] || read_at(fd, ph, bytes, (off_t)eh.e_phoff))
            phnum = 0;
        for (int i = 0; i < phnum; i++)
            if (ph[i].p_type == PT_INTERP) { interp = 1; break; }
        result = phnum && (!interp || is_go(fd, head, n, ph, phnum));
    }
    syscall(SYS_close, fd);
    return result;
}

/* envp with our variables put back where a program dropped them; `room` has space for
   count(envp) + n_keep_env + 1 pointers. */
static char *const *kept_env(char *const envp[], char **room) {
    int n = 0, missing = 0;
    for (; envp && envp[n]; n++) room[n] = envp[n];
    for (int k = 0; k < n_keep_env; k++) {
        const char *eq = strchr(keep_env[k], '=');
        size_t len = (size_t)(eq - keep_env[k]) + 1;
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strncmp(room[i], keep_env[k], len) == 0) { found = 1; break; }
        if (!found) { room[n + missing++] = keep_env[k]; }
    }
    room[n + missing] = NULL;
    return room;
}

static int count(char *const v[]) { int n = 0; while (v && v[n]) n++; return n; }

/* Exec `path` through the tracer when it needs one: argv becomes
   [tracer, "--argv0", argv0, "--", path, argv[1]...]. */
static int exec_traced(const char *path, char *const argv[], char *const envp[]) {
    int n = count(argv);
    const char *args[n + 6];
    args[0] = tracer;
    args[1] = "--argv0";
    args[2] = n ? argv[0] : path;
    args[3] = "--";
    args[4] = path;
    for (int i = 1; i < n; i++) args[4 + i] = argv[i];
    args[4 + (n ? n : 1)] = NULL;
    RESOLVE(execve);
    return real_execve(tracer, (char *const *)args, envp);
}

static int exec_checked(const char *path, char *const argv[], char *const envp[]) {
    RESOLVE(execve);
    if (!active) return real_execve(path, argv, envp);
    int n = count(envp);
    char *room[n + n_keep_env + 1];
    char *const *env = kept_env(envp, room);
    if (!under_ptrace && needs_tracer(path, 0)) {
        char full[PATH_MAX];
        int known = absolute(AT_FDCWD, path, full) == 0;
        if (tracer[0] && access(tracer, X_OK) == 0) {
            if (known) append('X', 0, full, NULL);
            int r = exec_traced(path, argv, env);
            if (r != 0 && errno != ENOENT && errno != EACCES) return r;
        } else if (known) {
            append('U', 0, full, NULL);
        }
    }
    return real_execve(path, argv, env);
}

int execve(const char *path, char *const argv[], char *const envp[]) {
    return exec_checked(path, argv, envp);
}
int execv(const char *path, char *const argv[]) { return exec_checked(path, argv, environ); }

/* execvp's search of PATH, done here so the program found can be checked. */
static int exec_search(const char *file, char *const argv[], char *const envp[]) {
    if (strchr(file, '/')) return exec_checked(file, argv, envp);
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/bin:/usr/bin";
    int last = ENOENT;
    for (const char *p = path;; ) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char candidate[PATH_MAX];
        if (n + strlen(file) + 2 < sizeof candidate) {
            if (n == 0) snprintf(candidate, sizeof candidate, "%s", file);
            else snprintf(candidate, sizeof candidate, "%.*s/%s", (int)n, p, file);
            exec_checked(candidate, argv, envp);
            if (errno == ENOEXEC) {
                /* a script without #!: run it with sh, as execvp does */
                int c = count(argv);
                char *args[c + 2];
                args[0] = "sh";
                args[1] = candidate;
                for (int i = 1; i <= c; i++) args[i + 1] = argv[i];
                return exec_checked("/bin/sh", args, envp);
            }
            if (errno != ENOENT && errno != ENOTDIR) last = errno;
            if (errno == EACCES) last = EACCES;
        }
        if (!e) break;
        p = e + 1;
    }
    errno = last;
    return -1;
}

int execvp(const char *file, char *const argv[]) { return exec_search(file, argv, environ); }
int execvpe(const char *file, char *const argv[], char *const envp[]) {
    return exec_search(file, argv, envp);
}

/* posix_spawn (glibc's spawns exec internally, out of our reach): the environment is put
   back; static programs are spawned through the tracer. */
static int spawn(int search, pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *actions, const posix_spawnattr_t *attr,
                 char *const argv[], char *const envp[]) {
    RESOLVE(posix_spawn);
    RESOLVE(posix_spawnp);
    if (!active)
        return (search ? real_posix_spawnp : real_posix_spawn)(pid, file, actions, attr, argv,
                                                                envp);
    int n = count(envp);
    char *room[n + n_keep_env + 1];
    char *const *env = kept_env(envp, room);
    const char *path = file;
    char found[PATH_MAX];
    if (search && !strchr(file, '/')) {
        const char *dirs = getenv("PATH");
        if (!dirs) dirs = "/usr/local/bin:/bin:/usr/bin";
        for (const char *p = dirs;; ) {
            const char *e = strchr(p, ':');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len && len + strlen(file) + 2 < sizeof found) {
                snprintf(found, sizeof found, "%.*s/%s", (int)len, p, file);
                if (access(found, X_OK) == 0) { path = found; break; }
            }
            if (!e) break;
            p = e + 1;
        }
    }
    if (!under_ptrace && needs_tracer(path, 0) && tracer[0] && access(tracer, X_OK) == 0) {
        int c = count(argv);
        char *args[c + 6];
        args[0] = (char *)tracer;
        args[1] = "--argv0";
        args[2] = c ? argv[0] : (char *)path;
        args[3] = "--";
        args[4] = (char *)path;
        for (int i = 1; i < c; i++) args[4 + i] = argv[i];
        args[4 + (c ? c : 1)] = NULL;
        char full[PATH_MAX];
        if (absolute(AT_FDCWD, path, full) == 0) append('X', 0, full, NULL);
        return real_posix_spawn(pid, tracer, actions, attr, args, env);
    }
    return (search ? real_posix_spawnp : real_posix_spawn)(pid, file, actions, attr, argv, env);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return spawn(0, pid, path, actions, attr, argv, envp);
}
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
    return spawn(1, pid, file, actions, attr, argv, envp);
}

/* execl, execlp, execle: glibc builds the vector and calls its internal execve; do it here. */
#define COLLECT_ARGS(first, argv)                                       \
    va_list ap; int n = 1; va_start(ap, first);                         \
    while (va_arg(ap, char *)) n++;                                     \
    va_end(ap);                                                         \
    char *argv[n + 1]; argv[0] = (char *)first; va_start(ap, first);    \
    for (int i = 1; i <= n; i++) argv[i] = va_arg(ap, char *);          \

int execl(const char *path, const char *arg, ...) {
    COLLECT_ARGS(arg, argv)
    va_end(ap);
    return exec_checked(path, argv, environ);
}
int execlp(const char *file, const char *arg, ...) {
    COLLECT_ARGS(arg, argv)
    va_end(ap);
    return exec_search(file, argv, environ);
}
int execle(const char *path, const char *arg, ...) {
    COLLECT_ARGS(arg, argv)
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return exec_checked(path, argv, envp);
}
