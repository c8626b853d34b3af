/*
 * Which paths provgraph's tracers write down, and how they name them: shared by preload.c
 * (inside each dynamically linked process) and tracer.c (the ptrace tracer, looking at other
 * processes), so both record exactly the same paths in the same spelling.
 *
 * A path is joined to the folder it is relative to (the process's cwd or a dirfd's folder,
 * found by the caller) and normalised lexically: "", "." dropped, ".." resolved without
 * following symlinks (provgraph resolves those itself, against the work tree). Only paths
 * under one of $PROV_TRACE_ROOTS, and not under its .git folder, are wanted.
 */
#ifndef PROVGRAPH_PATHS_H
#define PROVGRAPH_PATHS_H

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAX_ROOTS 4

/* Pointers into the $PROV_TRACE_ROOTS string itself (the environment strings a process
   starts with live as long as it does), not copies: each copy would cost the process a page
   of memory to touch, paid by every one of a command's thousand short processes. */
static const char *roots[MAX_ROOTS];
static size_t root_len[MAX_ROOTS];
static int n_roots;

/* The colon-separated folders of $PROV_TRACE_ROOTS, trailing slashes dropped. */
static void load_roots(const char *r) {
    while (r && *r && n_roots < MAX_ROOTS) {
        const char *e = strchr(r, ':');
        size_t n = e ? (size_t)(e - r) : strlen(r);
        while (n > 1 && r[n - 1] == '/') n--;
        if (n > 0 && n < PATH_MAX) {
            roots[n_roots] = r;
            root_len[n_roots++] = n;
        }
        r = e ? e + 1 : NULL;
    }
}

/* `path` (relative to the folder `base` unless it is absolute; `base` is not read then) as an
   absolute, lexically normalised path in `full` (PATH_MAX bytes). 0 when it could be. */
static int join_path(const char *base, const char *path, char *full) {
    char joined[PATH_MAX * 2];
    if (!path || !*path) return -1;
    if (path[0] == '/') {
        if (strlen(path) >= sizeof joined) return -1;
        strcpy(joined, path);
    } else if (snprintf(joined, sizeof joined, "%s/%s", base, path) >= (int)sizeof joined) {
        return -1;
    }
    char *w = full;
    const char *s = joined;
    *w = 0;
    size_t len = 0;
    while (*s) {
        while (*s == '/') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != '/') e++;
        size_t n = (size_t)(e - s);
        if (n == 1 && s[0] == '.') {
        } else if (n == 2 && s[0] == '.' && s[1] == '.') {
            while (len > 0 && full[len - 1] != '/') len--;
            if (len > 0) len--;
        } else {
            if (len + 1 + n >= PATH_MAX) return -1;
            full[len++] = '/';
            memcpy(full + len, s, n);
            len += n;
        }
        s = e;
    }
    if (len == 0) full[len++] = '/';
    full[len] = 0;
    return 0;
}

/* Inside the work tree and not in its .git folder. */
static int wanted(const char *full) {
    for (int i = 0; i < n_roots; i++) {
        size_t n = root_len[i];
        if (strncmp(full, roots[i], n) == 0 && (full[n] == '/' || full[n] == 0)) {
            const char *rest = full + n;
            if (strncmp(rest, "/.git", 5) == 0 && (rest[5] == '/' || rest[5] == 0)) return 0;
            return 1;
        }
    }
    return 0;
}

/* Opens that name a file's content: not O_PATH (no access at all), not a folder opened to
   list it or to use as a dirfd. */
static int open_recorded(long flags) {
    return !((flags & O_PATH) || ((flags & O_DIRECTORY) && !(flags & O_CREAT)));
}

/* What an open does to the file, for telling repeated opens apart: read, update, truncate,
   write. */
static char kind_of_open(long flags) {
    long acc = flags & O_ACCMODE;
    if (acc == O_RDONLY && !(flags & O_TRUNC)) return 'r';
    if (acc == O_RDWR) return 'u';
    return (flags & O_TRUNC) ? 't' : 'w';
}

/* FNV-1a of (kind, path), never 0 (0 marks an empty slot of the tables of what was seen). */
static uint64_t hash(char kind, const char *s) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(unsigned char)kind;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h | 1;
}

#endif
