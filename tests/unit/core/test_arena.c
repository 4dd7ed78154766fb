/*
 * tests/unit/core/test_arena.c - the region allocator: alignment, chunks and
 * large blocks, the limit, realloc, cleanups, reset, and ASan poisoning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <galley/arena.h>

#include "gly_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static void arena_alloc_returns_16_byte_aligned_pointers(void **state)
{
    static const size_t sizes[] = {1, 3, 15, 16, 17, 100, 1023, 1024, 1025, 5000, 7, 64};
    gly_arena a;

    gly_arena_init(&a, 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *p = gly_arena_alloc(&a, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, sizes[i]);
    }
    gly_arena_dispose(&a);
}

static void arena_alloc_zero_returns_distinct_pointers(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    void *p = gly_arena_alloc(&a, 0);
    void *q = gly_arena_alloc(&a, 0);
    void *r = gly_arena_alloc(&a, 1);
    assert_non_null(p);
    assert_non_null(q);
    assert_ptr_not_equal(p, q);
    assert_ptr_not_equal(q, r);
    gly_arena_dispose(&a);
}

static void arena_small_allocations_spanning_chunks_keep_their_bytes(void **state)
{
    enum { N = 200, SZ = 100 };
    unsigned char *blocks[N];
    gly_arena a;

    /* 200 * 100 bytes needs several 4 KiB chunks; no block may overlap another. */
    gly_arena_init(&a, 0);
    for (int i = 0; i < N; i++) {
        blocks[i] = gly_arena_alloc(&a, SZ);
        assert_non_null(blocks[i]);
        memset(blocks[i], i, SZ);
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < SZ; j++)
            assert_int_equal(blocks[i][j], (unsigned char)i);
    }
    gly_arena_dispose(&a);
}

static void arena_large_allocation_gets_its_own_block(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *small = gly_arena_alloc(&a, 32);
    char *cur = a.cur;
    char *big = gly_arena_alloc(&a, GLY_ARENA_CHUNK / 4 + 1);
    assert_non_null(small);
    assert_non_null(big);
    assert_non_null(a.large);
    /* The chunk did not give up any space for it. */
    assert_ptr_equal(a.cur, cur);
    memset(big, 1, GLY_ARENA_CHUNK / 4 + 1);
    gly_arena_dispose(&a);
}

static void arena_used_counts_rounded_sizes_and_reset_clears_it(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    assert_int_equal(gly_arena_used(&a), 0);
    gly_arena_alloc(&a, 1);
    assert_int_equal(gly_arena_used(&a), 16);
    gly_arena_alloc(&a, 17);
    assert_int_equal(gly_arena_used(&a), 48);
    gly_arena_alloc(&a, 2000);
    assert_int_equal(gly_arena_used(&a), 48 + 2000);
    gly_arena_reset(&a);
    assert_int_equal(gly_arena_used(&a), 0);
    gly_arena_dispose(&a);
}

static void arena_limit_refuses_allocations_past_it(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 100);
    assert_non_null(gly_arena_alloc(&a, 64));
    assert_non_null(gly_arena_alloc(&a, 32));
    assert_int_equal(gly_arena_used(&a), 96);
    assert_null(gly_arena_alloc(&a, 5));
    assert_null(gly_arena_alloc(&a, 5000));
    assert_int_equal(gly_arena_used(&a), 96);
    assert_null(gly_arena_alloc(&a, 96));
    /* A reset gives the whole budget back. */
    gly_arena_reset(&a);
    assert_non_null(gly_arena_alloc(&a, 96));
    gly_arena_dispose(&a);
}

static void arena_limit_refuses_realloc_growth_and_keeps_the_block(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 64);
    char *p = gly_arena_alloc(&a, 32);
    memcpy(p, "keep", 5);
    assert_null(gly_arena_realloc(&a, p, 32, 100));
    assert_string_equal(p, "keep");
    assert_int_equal(gly_arena_used(&a), 32);
    gly_arena_dispose(&a);
}

static void arena_refuses_absurd_sizes_with_null(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    assert_null(gly_arena_alloc(&a, SIZE_MAX));
    assert_null(gly_arena_alloc(&a, SIZE_MAX / 2));
    assert_null(gly_arena_calloc(&a, SIZE_MAX / 8, 16));
    assert_null(gly_arena_strndup(&a, "x", SIZE_MAX));
    void *p = gly_arena_alloc(&a, 8);
    assert_null(gly_arena_realloc(&a, p, 8, SIZE_MAX));
    assert_int_equal(gly_arena_used(&a), 16);
    gly_arena_dispose(&a);
}

static void arena_calloc_returns_zeroed_memory(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    /* Dirty the chunk first so that zeroes cannot come from fresh pages. */
    memset(gly_arena_alloc(&a, 512), 0xff, 512);
    gly_arena_reset(&a);
    unsigned char *p = gly_arena_calloc(&a, 64, 8);
    assert_non_null(p);
    for (int i = 0; i < 512; i++)
        assert_int_equal(p[i], 0);
    gly_arena_dispose(&a);
}

static void arena_realloc_grows_last_allocation_in_place(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 10);
    memcpy(p, "0123456789", 10);
    char *q = gly_arena_realloc(&a, p, 10, 500);
    assert_ptr_equal(q, p);
    memset(q + 10, 'x', 490);
    assert_memory_equal(q, "0123456789", 10);
    assert_int_equal(gly_arena_used(&a), 512);
    gly_arena_dispose(&a);
}

static void arena_realloc_shrinks_last_allocation_and_reuses_the_space(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 800);
    assert_ptr_equal(gly_arena_realloc(&a, p, 800, 16), p);
    assert_int_equal(gly_arena_used(&a), 16);
    char *q = gly_arena_alloc(&a, 16);
    assert_true(q > p && q < p + 800);
    gly_arena_dispose(&a);
}

static void arena_realloc_copies_when_block_is_not_last(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 16);
    memcpy(p, "hello, arena!!!", 16);
    assert_non_null(gly_arena_alloc(&a, 16));
    char *q = gly_arena_realloc(&a, p, 16, 64);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_string_equal(q, "hello, arena!!!");
    gly_arena_dispose(&a);
}

static void arena_realloc_moves_a_growing_block_to_its_own_block(void **state)
{
    gly_arena a;
    char *p, *q;

    gly_arena_init(&a, 0);
    p = gly_arena_alloc(&a, 1000);
    memset(p, 'a', 1000);
    q = gly_arena_realloc(&a, p, 1000, 3000);
    assert_non_null(q);
    assert_non_null(a.large);
    memset(q + 1000, 'b', 2000);
    /* Now large: it grows with realloc(3), content intact. */
    q = gly_arena_realloc(&a, q, 3000, 100000);
    assert_non_null(q);
    q[99999] = 'z';
    for (int i = 0; i < 1000; i++)
        assert_int_equal(q[i], 'a');
    for (int i = 1000; i < 3000; i++)
        assert_int_equal(q[i], 'b');
    assert_int_equal(gly_arena_used(&a), 1008 + 100000);
    gly_arena_dispose(&a);
}

static void arena_realloc_of_one_large_block_keeps_the_others_linked(void **state)
{
    gly_arena a;
    char *b[3];

    gly_arena_init(&a, 0);
    for (int i = 0; i < 3; i++) {
        b[i] = gly_arena_alloc(&a, 2000);
        memset(b[i], 'a' + i, 2000);
    }
    /* The middle one of the list moves; dispose must still free all three (valgrind/ASan). */
    b[1] = gly_arena_realloc(&a, b[1], 2000, 200000);
    assert_non_null(b[1]);
    b[0] = gly_arena_realloc(&a, b[0], 2000, 300000);
    assert_non_null(b[0]);
    assert_int_equal(b[0][1999], 'a');
    assert_int_equal(b[1][1999], 'b');
    assert_int_equal(b[2][1999], 'c');
    gly_arena_dispose(&a);
}

static void arena_realloc_of_null_allocates(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_realloc(&a, NULL, 0, 40);
    assert_non_null(p);
    memset(p, 0, 40);
    assert_int_equal(gly_arena_used(&a), 48);
    gly_arena_dispose(&a);
}

static void arena_strdup_and_strndup_copy_with_nul(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *s = gly_arena_strdup(&a, "galley");
    char *t = gly_arena_strndup(&a, "kitchen", 3);
    char *u = gly_arena_strndup(&a, "a\0b", 3);
    assert_string_equal(s, "galley");
    assert_string_equal(t, "kit");
    assert_memory_equal(u, "a\0b\0", 4);
    assert_null(gly_arena_strdup(&a, NULL));
    gly_arena_dispose(&a);
}

static void arena_printf_formats_short_and_long_strings(void **state)
{
    char big[1000];
    gly_arena a;

    gly_arena_init(&a, 0);
    assert_string_equal(gly_arena_printf(&a, "%s=%d", "n", 42), "n=42");
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *s = gly_arena_printf(&a, "<%s>", big);
    assert_non_null(s);
    assert_int_equal(strlen(s), 1001);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[999], 'q');
    assert_int_equal(s[1000], '>');
    gly_arena_dispose(&a);
}

static char order[8];
static size_t order_len;

static void record(void *arg)
{
    order[order_len++] = *(const char *)arg;
}

static void arena_reset_runs_cleanups_newest_first(void **state)
{
    gly_arena a;

    order_len = 0;
    gly_arena_init(&a, 0);
    assert_int_equal(gly_arena_defer(&a, record, "1"), 0);
    assert_int_equal(gly_arena_defer(&a, record, "2"), 0);
    assert_int_equal(gly_arena_defer(&a, record, "3"), 0);
    gly_arena_reset(&a);
    assert_int_equal(order_len, 3);
    assert_memory_equal(order, "321", 3);
    /* They ran once: a second reset or the dispose does not call them again. */
    gly_arena_reset(&a);
    gly_arena_dispose(&a);
    assert_int_equal(order_len, 3);
}

static void arena_dispose_runs_cleanups(void **state)
{
    gly_arena a;

    order_len = 0;
    gly_arena_init(&a, 0);
    gly_arena_alloc(&a, 5000);
    gly_arena_defer(&a, record, "a");
    gly_arena_defer(&a, free, malloc(32));
    gly_arena_dispose(&a);
    assert_int_equal(order_len, 1);
    assert_int_equal(order[0], 'a');
}

static gly_arena *nested_arena;

static void defer_another(void *arg)
{
    record(arg);
    gly_arena_defer(nested_arena, record, "n");
}

static void arena_cleanup_registered_by_a_cleanup_also_runs(void **state)
{
    gly_arena a;

    order_len = 0;
    nested_arena = &a;
    gly_arena_init(&a, 0);
    gly_arena_defer(&a, defer_another, "o");
    gly_arena_reset(&a);
    assert_int_equal(order_len, 2);
    assert_memory_equal(order, "on", 2);
    gly_arena_dispose(&a);
}

static void arena_defer_is_not_counted_against_the_limit(void **state)
{
    gly_arena a;

    order_len = 0;
    gly_arena_init(&a, 16);
    assert_non_null(gly_arena_alloc(&a, 16));
    assert_int_equal(gly_arena_defer(&a, record, "x"), 0);
    assert_int_equal(gly_arena_used(&a), 16);
    gly_arena_dispose(&a);
    assert_int_equal(order_len, 1);
}

static void arena_reset_keeps_the_first_chunk_for_reuse(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *first = gly_arena_alloc(&a, 64);
    for (int i = 0; i < 100; i++)
        assert_non_null(gly_arena_alloc(&a, 500));
    gly_arena_reset(&a);
    assert_ptr_equal(gly_arena_alloc(&a, 64), first);
    gly_arena_dispose(&a);
}

static void arena_can_be_disposed_twice_and_reused(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    gly_arena_alloc(&a, 10);
    gly_arena_dispose(&a);
    gly_arena_dispose(&a);
    gly_arena_reset(&a);
    assert_non_null(gly_arena_alloc(&a, 10));
    gly_arena_dispose(&a);
}

#ifdef TEST_ASAN
static void arena_bytes_past_an_allocation_are_poisoned(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 16);
    char *q = gly_arena_alloc(&a, 5);
    assert_false(__asan_address_is_poisoned(p + 15));
    assert_true(__asan_address_is_poisoned(p + 16));
    assert_false(__asan_address_is_poisoned(q + 4));
    assert_true(__asan_address_is_poisoned(q + 5));
    /* The untouched rest of the chunk is poisoned too. */
    assert_true(__asan_address_is_poisoned(a.cur));
    gly_arena_dispose(&a);
}

static void arena_memory_is_poisoned_after_reset(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 100);
    gly_arena_reset(&a);
    assert_true(__asan_address_is_poisoned(p));
    char *q = gly_arena_alloc(&a, 100);
    assert_ptr_equal(q, p);
    assert_false(__asan_address_is_poisoned(q + 99));
    gly_arena_dispose(&a);
}

static void arena_realloc_shrink_poisons_the_cut_tail(void **state)
{
    gly_arena a;

    gly_arena_init(&a, 0);
    char *p = gly_arena_alloc(&a, 64);
    assert_non_null(gly_arena_alloc(&a, 8));
    assert_ptr_equal(gly_arena_realloc(&a, p, 64, 10), p);
    assert_false(__asan_address_is_poisoned(p + 9));
    assert_true(__asan_address_is_poisoned(p + 10));
    gly_arena_dispose(&a);
}
#else
static void arena_bytes_past_an_allocation_are_poisoned(void **state)
{
    skip();
}

static void arena_memory_is_poisoned_after_reset(void **state)
{
    skip();
}

static void arena_realloc_shrink_poisons_the_cut_tail(void **state)
{
    skip();
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_alloc_returns_16_byte_aligned_pointers),
        cmocka_unit_test(arena_alloc_zero_returns_distinct_pointers),
        cmocka_unit_test(arena_small_allocations_spanning_chunks_keep_their_bytes),
        cmocka_unit_test(arena_large_allocation_gets_its_own_block),
        cmocka_unit_test(arena_used_counts_rounded_sizes_and_reset_clears_it),
        cmocka_unit_test(arena_limit_refuses_allocations_past_it),
        cmocka_unit_test(arena_limit_refuses_realloc_growth_and_keeps_the_block),
        cmocka_unit_test(arena_refuses_absurd_sizes_with_null),
        cmocka_unit_test(arena_calloc_returns_zeroed_memory),
        cmocka_unit_test(arena_realloc_grows_last_allocation_in_place),
        cmocka_unit_test(arena_realloc_shrinks_last_allocation_and_reuses_the_space),
        cmocka_unit_test(arena_realloc_copies_when_block_is_not_last),
        cmocka_unit_test(arena_realloc_moves_a_growing_block_to_its_own_block),
        cmocka_unit_test(arena_realloc_of_one_large_block_keeps_the_others_linked),
        cmocka_unit_test(arena_realloc_of_null_allocates),
        cmocka_unit_test(arena_strdup_and_strndup_copy_with_nul),
        cmocka_unit_test(arena_printf_formats_short_and_long_strings),
        cmocka_unit_test(arena_reset_runs_cleanups_newest_first),
        cmocka_unit_test(arena_dispose_runs_cleanups),
        cmocka_unit_test(arena_cleanup_registered_by_a_cleanup_also_runs),
        cmocka_unit_test(arena_defer_is_not_counted_against_the_limit),
        cmocka_unit_test(arena_reset_keeps_the_first_chunk_for_reuse),
        cmocka_unit_test(arena_can_be_disposed_twice_and_reused),
        cmocka_unit_test(arena_bytes_past_an_allocation_are_poisoned),
        cmocka_unit_test(arena_memory_is_poisoned_after_reset),
        cmocka_unit_test(arena_realloc_shrink_poisons_the_cut_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
