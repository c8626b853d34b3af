/*
 * The trace file shared by provgraph's two tracers (preload.c in dynamically linked
 * processes, tracer.c for the others) and read by provgraph.capture.tracing.events.
 */
#ifndef PROVGRAPH_RECORD_H
#define PROVGRAPH_RECORD_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char *out;                     /* the mapped trace file */
static long my_pid;                   /* getpid(), kept across the records of a process */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The trace file is made by provgraph before the command starts and shared by every process
   of the command, each mapping it into memory (MAP_SHARED). It starts with a header of four
   64-bit words: the magic, the bytes reserved by writers so far, the bytes of the file
   allocated on disk, and the records lost. A process reserves room for a record with an
   atomic add on the second word, then copies the record in: no lock, no system call, and what
   is written survives the process being killed (the pages belong to the file). Each record
   starts with RS (0x1e), so a reader skips one a killed process left half-written.

   Only allocated bytes are ever written (a write into a hole of a full disk would kill the
   program with SIGBUS): a writer that needs more extends the allocation with fallocate(2);
   when that fails (disk full, the file size limit), the record is dropped and counted, and
   provgraph says so. */
#define MAGIC "PROVTRC3"
#define HEADER 32
#define TRACE_SIZE (1ull << 34)       /* address space reserved; the file grows as needed */
#define GROW (8ull << 20)

/* The file is opened again by name to grow it, never through a kept descriptor: a program
   may close descriptors it did not open and reuse their numbers for its own files. The name
   is the caller's string, which must live as long as the process (an environment string). */
static const char *trace_path;

static int map_trace_file(const char *path) {
    if (strlen(path) >= 4096) return -1;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    void *map = mmap(NULL, TRACE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
                     0);
    syscall(SYS_close, fd);
    if (map == MAP_FAILED) return -1;
    if (memcmp(map, MAGIC, 8) != 0) { munmap(map, TRACE_SIZE); return -1; }
    trace_path = path;
    out = map;
    return 0;
}

static int grow_file(uint64_t size) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, trace_path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    long r = syscall(SYS_fallocate, fd, 0, 0L, (long)size);
    syscall(SYS_close, fd);
    return r == 0 ? 0 : -1;
}

static uint64_t *word(int i) { return (uint64_t *)(out + 8 * i); }

/* The most the trace file may hold: past the file size limit (ulimit -f) the kernel would
   kill the program with SIGXFSZ, which is the program's own limit, not ours to spend. */
static uint64_t size_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY
        || limit.rlim_cur > TRACE_SIZE)
        return TRACE_SIZE;
    return (uint64_t)limit.rlim_cur;
}

/* Make sure bytes up to `end` are allocated; 0 when they are. */
static int allocated(uint64_t end) {
    uint64_t have = __atomic_load_n(word(2), __ATOMIC_ACQUIRE);
    while (end > have) {
        uint64_t want = (end + GROW - 1) / GROW * GROW, most = size_limit();
        if (want > most)
            want = most;
        if (want < end || grow_file(want) != 0)
            return -1;
        if (__atomic_compare_exchange_n(word(2), &have, want, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_ACQUIRE))
            have = want;
    }
    return 0;
}

/* `value` in decimal at `p`; returns the end. (Not snprintf: its code is pages a short
   process would otherwise never touch, each a page fault.) */
static char *decimal(char *p, unsigned long long value, int negative) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value);
    if (negative) *p++ = '-';
    while (n) *p++ = digits[--n];
    return p;
}

static void append(char op, long flags, const char *a, const char *b) {
    if (!out) return;
    char head[80];
    char *p = head;
    *p++ = '\x1e';
    *p++ = op;
    *p++ = ' ';
    p = decimal(p, flags < 0 ? 0ull - (unsigned long long)flags : (unsigned long long)flags,
                flags < 0);
    *p++ = ' ';
    p = decimal(p, (unsigned long long)(my_pid ? my_pid : (long)getpid()), 0);
    *p++ = ' ';
    p = decimal(p, (unsigned long long)now_ns(), 0);
    *p = 0;
    int h = (int)(p - head);
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    size_t need = (size_t)h + 1 + la + 1 + (b ? lb + 1 : 0);
    uint64_t at = HEADER + __atomic_fetch_add(word(1), need, __ATOMIC_RELAXED);
    if (allocated(at + need) != 0) {
        __atomic_fetch_add(word(3), 1, __ATOMIC_RELAXED);
        return;
    }
    char *q = out + at;
    memcpy(q, head, (size_t)h + 1); q += h + 1;
    memcpy(q, a, la + 1); q += la + 1;
    if (b) memcpy(q, b, lb + 1);
}

#endif
