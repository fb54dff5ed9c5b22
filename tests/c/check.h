/*
 * A minimal test harness for the C tests of sturdycache: CHECK macros that
 * count and report failures (the test goes on), scratch directories, and
 * small helpers. Header-only; plain C11 that also compiles as C++.
 */
#ifndef STURDY_CHECK_H
#define STURDY_CHECK_H

#if !defined(_XOPEN_SOURCE) && !defined(__cplusplus)
#define _XOPEN_SOURCE 700
#endif

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sturdycache.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        check_count++;                                                                \
        if (!(cond)) {                                                                \
            check_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

/* Checks that `expr` returns status `want`; on a mismatch prints both names
   and the thread's last error message. */
#define CHECK_STATUS(expr, want)                                                                  \
    do {                                                                                          \
        sturdy_status got_ = (expr);                                                              \
        check_count++;                                                                            \
        if (got_ != (want)) {                                                                     \
            check_failures++;                                                                     \
            fprintf(stderr, "%s:%d: %s\n  returned %s, expected %s (last error: %s)\n", __FILE__, \
                    __LINE__, #expr, sturdy_status_name((int)got_), sturdy_status_name((int)(want)), \
                    sturdy_last_error_message());                                                 \
        }                                                                                         \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, STURDY_STATUS_OK)

/* Checks that the last error message contains `needle`. */
#define CHECK_MESSAGE(needle)                                                                        \
    do {                                                                                             \
        const char *msg_ = sturdy_last_error_message();                                              \
        check_count++;                                                                               \
        if (msg_ == NULL || strstr(msg_, (needle)) == NULL) {                                        \
            check_failures++;                                                                        \
            fprintf(stderr, "%s:%d: last error %s does not mention \"%s\"\n", __FILE__, __LINE__, \
                    msg_ ? msg_ : "(null)", (needle));                                               \
        }                                                                                            \
    } while (0)

/* Aborts the test run: for set-up steps the rest depends on. */
#define REQUIRE_OK(expr)                                                                             \
    do {                                                                                             \
        sturdy_status got_ = (expr);                                                                 \
        if (got_ != STURDY_STATUS_OK) {                                                              \
            fprintf(stderr, "%s:%d: %s returned %s (%s); cannot go on\n", __FILE__, __LINE__, #expr, \
                    sturdy_status_name((int)got_), sturdy_last_error_message());                     \
            exit(2);                                                                                 \
        }                                                                                            \
    } while (0)

/* Key literals as (pointer, length) pairs. */
#define K(s) (const uint8_t *)(s), (sizeof(s) - 1)

/* Whether a value holds exactly the bytes of the literal `s`. */
#define VALUE_IS(v, s) ((v).len == sizeof(s) - 1 && (v).data != NULL && memcmp((v).data, (s), (v).len) == 0)

static inline int check_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree (best effort). */
static inline void remove_tree(const char *path) {
    nftw(path, check_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh scratch directory under $TMPDIR (or /tmp); `out` holds at least 256 bytes. */
static inline void make_temp_dir(char *out, const char *label) {
    const char *base = getenv("TMPDIR");
    snprintf(out, 256, "%s/sturdy-c-%s-XXXXXX", base && *base ? base : "/tmp", label);
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "mkdtemp(%s): %s\n", out, strerror(errno));
        exit(2);
    }
}

/* Writes `len` bytes to a new file at `path`; returns 0 on success. */
static inline int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* Reads a whole file into a malloc'd buffer (caller frees); NULL on error. */
static inline unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = (unsigned char *)malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            unsigned char *grown = (unsigned char *)realloc(buf, cap);
            if (grown == NULL) break;
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Prints the summary and returns the process exit code. */
static inline int check_summary(const char *suite) {
    if (check_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", suite, check_failures, check_count);
        return 1;
    }
    printf("%s: all %d checks passed\n", suite, check_count);
    return 0;
}

#endif
