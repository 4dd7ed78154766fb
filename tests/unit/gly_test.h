/*
 * tests/unit/gly_test.h - cmocka with the headers it needs before it.
 *
 * cmocka.h uses size_t, va_list and jmp_buf without including their headers;
 * including it through this file keeps clang-format's include sorting from
 * breaking the build.
 */
#ifndef GLY_TEST_H
#define GLY_TEST_H

// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Parser tests read their input from a copy that ends right before a
 * PROT_NONE page, so that reading one byte too far faults at once.
 */
struct gly_test_guard {
    char *base;
    size_t size;
};

/* Returns a writable copy of s[0..n) that ends right before a PROT_NONE page. */
static inline char *gly_test_guarded(const void *s, size_t n, struct gly_test_guard *g)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = n ? (n + pg - 1) / pg * pg : pg;
    char *base = mmap(NULL, span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(mprotect(base + span, pg, PROT_NONE), 0);
    g->base = base;
    g->size = span + pg;
    char *p = base + span - n;
    if (n > 0)
        memcpy(p, s, n);
    return p;
}

/* Unmaps a copy made by gly_test_guarded(). */
static inline void gly_test_unguard(struct gly_test_guard *g)
{
    munmap(g->base, g->size);
    g->base = NULL;
}

#endif
