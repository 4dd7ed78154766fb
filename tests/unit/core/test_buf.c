/*
 * tests/unit/core/test_buf.c - the buffer builder, JSON string escaping,
 * integer formatting, and the error table and slice helpers of common.h.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/common.h>

#include "gly_test.h"

/* Escapes s[0..n) into a fresh buffer and checks the result and the return value. */
static void check_json(const char *s, size_t n, const char *want, int want_ret)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_int_equal(gly_buf_json_str(&b, s, n), want_ret);
    assert_string_equal(gly_buf_cstr(&b), want);
    gly_buf_dispose(&b);
}

#define CHECK_JSON(lit, want, ret) check_json(lit, sizeof(lit) - 1, want, ret)
#define FFFD                       "\xEF\xBF\xBD"

static void buf_append_uses_seed_before_heap(void **state)
{
    char seed[16];
    gly_buf b;

    gly_buf_init(&b, seed, sizeof(seed), NULL, 0);
    assert_int_equal(gly_buf_puts(&b, "0123456789"), 0);
    assert_ptr_equal(b.p, seed);
    assert_false(b.owned);
    assert_string_equal(gly_buf_cstr(&b), "0123456789");
    gly_buf_dispose(&b);
}

static void buf_grows_past_seed_and_keeps_content(void **state)
{
    char seed[8];
    gly_buf b;

    gly_buf_init(&b, seed, sizeof(seed), NULL, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(gly_buf_putc(&b, (char)('a' + i % 26)), 0);
    assert_ptr_not_equal(b.p, seed);
    assert_true(b.owned);
    assert_int_equal(b.len, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(b.p[i], 'a' + i % 26);
    gly_buf_dispose(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void buf_append_past_max_sets_sticky_e2big(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 10);
    assert_int_equal(gly_buf_append(&b, "12345678", 8), 0);
    assert_int_equal(gly_buf_append(&b, "abc", 3), GLY_E2BIG);
    assert_int_equal(b.len, 8);
    /* Sticky: even a byte that would fit is refused now, and the first error stays. */
    assert_int_equal(gly_buf_putc(&b, 'x'), GLY_E2BIG);
    assert_int_equal(gly_buf_put_u64(&b, 1), GLY_E2BIG);
    assert_int_equal(gly_buf_printf(&b, "%d", 1), GLY_E2BIG);
    assert_null(gly_buf_reserve(&b, 1));
    assert_int_equal(b.len, 8);
    assert_int_equal(gly_buf_err(&b), GLY_E2BIG);
    assert_null(gly_buf_cstr(&b));
    /* Clearing forgets the error. */
    gly_buf_clear(&b);
    assert_int_equal(gly_buf_err(&b), 0);
    assert_int_equal(gly_buf_puts(&b, "ok"), 0);
    assert_string_equal(gly_buf_cstr(&b), "ok");
    gly_buf_dispose(&b);
}

static void buf_max_caps_content_even_with_a_bigger_seed(void **state)
{
    char seed[64];
    gly_buf b;

    gly_buf_init(&b, seed, sizeof(seed), NULL, 10);
    assert_int_equal(gly_buf_append(&b, "0123456789", 10), 0);
    assert_string_equal(gly_buf_cstr(&b), "0123456789");
    assert_int_equal(gly_buf_putc(&b, 'x'), GLY_E2BIG);
    assert_int_equal(b.len, 10);
    gly_buf_dispose(&b);
}

static void buf_max_counts_content_not_the_nul(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 5);
    assert_int_equal(gly_buf_puts(&b, "abcde"), 0);
    assert_string_equal(gly_buf_cstr(&b), "abcde");
    gly_buf_dispose(&b);
}

static void buf_reserve_and_commit_write_in_place(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_puts(&b, "n=");
    char *w = gly_buf_reserve(&b, 100);
    assert_non_null(w);
    memcpy(w, "42", 2);
    gly_buf_commit(&b, 2);
    assert_string_equal(gly_buf_cstr(&b), "n=42");
    assert_null(gly_buf_reserve(&b, SIZE_MAX));
    assert_int_equal(gly_buf_err(&b), GLY_E2BIG);
    gly_buf_dispose(&b);
}

static void buf_grows_in_arena_and_dispose_leaves_it_to_the_arena(void **state)
{
    char seed[4];
    gly_arena a;
    gly_buf b;

    gly_arena_init(&a, 0);
    gly_buf_init(&b, seed, sizeof(seed), &a, 0);
    for (int i = 0; i < 3000; i++)
        gly_buf_putc(&b, (char)('0' + i % 10));
    assert_int_equal(gly_buf_err(&b), 0);
    assert_int_equal(b.len, 3000);
    assert_int_equal(b.p[2999], '9');
    assert_true(gly_arena_used(&a) >= 3000);
    /* dispose must not free arena memory: valgrind and ASan catch a bad free here. */
    gly_buf_dispose(&b);
    gly_arena_dispose(&a);
}

static void buf_arena_limit_sets_sticky_enomem(void **state)
{
    gly_arena a;
    gly_buf b;
    char big[300];

    memset(big, 'z', sizeof(big));
    gly_arena_init(&a, 256);
    gly_buf_init(&b, NULL, 0, &a, 0);
    assert_int_equal(gly_buf_append(&b, big, 100), 0);
    assert_int_equal(gly_buf_append(&b, big, 300), GLY_ENOMEM);
    assert_int_equal(b.len, 100);
    assert_int_equal(gly_buf_putc(&b, 'a'), GLY_ENOMEM);
    gly_buf_dispose(&b);
    gly_arena_dispose(&a);
}

static void buf_append_of_its_own_content_survives_growth(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_puts(&b, "ab");
    for (int i = 0; i < 10; i++)
        assert_int_equal(gly_buf_append(&b, b.p, b.len), 0);
    assert_int_equal(b.len, 2048);
    for (size_t i = 0; i < b.len; i += 2)
        assert_memory_equal(b.p + i, "ab", 2);
    gly_buf_dispose(&b);
}

static void buf_append_of_an_absent_slice_is_a_no_op(void **state)
{
    char seed[8];
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_int_equal(gly_buf_append_str(&b, GLY_STR_NULL), 0);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    gly_buf_init(&b, seed, sizeof(seed), NULL, 0);
    assert_int_equal(gly_buf_append_str(&b, GLY_STR_NULL), 0);
    assert_int_equal(gly_buf_json_str(&b, NULL, 0), 0);
    assert_string_equal(gly_buf_cstr(&b), "\"\"");
    gly_buf_dispose(&b);
}

static void buf_cstr_of_an_empty_buffer_is_an_empty_string(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_string_equal(gly_buf_cstr(&b), "");
    gly_buf_dispose(&b);
}

static void buf_printf_formats_in_place_and_when_growing(void **state)
{
    char seed[16];
    char big[500];
    gly_buf b;

    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    gly_buf_init(&b, seed, sizeof(seed), NULL, 0);
    assert_int_equal(gly_buf_printf(&b, "%s-%d", "id", 7), 0);
    assert_string_equal(gly_buf_cstr(&b), "id-7");
    assert_int_equal(gly_buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 4 + 501);
    assert_memory_equal(b.p, "id-7[yyy", 8);
    assert_int_equal(b.p[b.len - 1], ']');
    gly_buf_dispose(&b);
}

static void buf_put_i64_formats_extremes(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_put_i64(&b, INT64_MIN);
    gly_buf_putc(&b, ' ');
    gly_buf_put_i64(&b, INT64_MAX);
    gly_buf_putc(&b, ' ');
    gly_buf_put_i64(&b, 0);
    gly_buf_putc(&b, ' ');
    gly_buf_put_i64(&b, -1);
    gly_buf_putc(&b, ' ');
    gly_buf_put_u64(&b, UINT64_MAX);
    assert_string_equal(gly_buf_cstr(&b),
                        "-9223372036854775808 9223372036854775807 0 -1 18446744073709551615");
    gly_buf_dispose(&b);
}

static void u64_to_dec_matches_printf(void **state)
{
    char got[21], want[32];
    uint64_t v = 1;

    /* Every digit count, on both sides of each power of ten, and a spread in between. */
    for (int i = 0; i < 20; i++, v *= 10) {
        uint64_t probes[] = {v - 1, v, v + 1, v * 3 + 7};
        for (size_t k = 0; k < 4; k++) {
            size_t n = gly_u64_to_dec(got, probes[k]);
            int m = snprintf(want, sizeof(want), "%" PRIu64, probes[k]);
            assert_int_equal(n, (size_t)m);
            assert_memory_equal(got, want, n);
        }
    }
    for (uint64_t x = 0x9e3779b97f4a7c15u, i = 0; i < 10000;
         i++, x = x * 6364136223846793005u + 1) {
        size_t n = gly_u64_to_dec(got, x >> (i % 64));
        int m = snprintf(want, sizeof(want), "%" PRIu64, x >> (i % 64));
        assert_int_equal(n, (size_t)m);
        assert_memory_equal(got, want, n);
    }
}

static void json_str_quotes_plain_ascii(void **state)
{
    CHECK_JSON("hello world", "\"hello world\"", 0);
    CHECK_JSON("", "\"\"", 0);
}

static void json_str_escapes_quotes_backslash_and_controls(void **state)
{
    CHECK_JSON("a\"b\\c/", "\"a\\\"b\\\\c/\"", 0);
    CHECK_JSON("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"", 0);
    CHECK_JSON("\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\"", 0);
}

static void json_str_escapes_embedded_nul(void **state)
{
    CHECK_JSON("a\0b", "\"a\\u0000b\"", 0);
}

static void json_str_escapes_del(void **state)
{
    CHECK_JSON("x\x7fy", "\"x\\u007fy\"", 0);
}

static void json_str_escapes_line_and_paragraph_separators(void **state)
{
    CHECK_JSON("a\xE2\x80\xA8"
               "b\xE2\x80\xA9"
               "c",
               "\"a\\u2028b\\u2029c\"", 0);
    /* Their neighbours U+2027 and U+202A are ordinary characters. */
    CHECK_JSON("\xE2\x80\xA7\xE2\x80\xAA", "\"\xE2\x80\xA7\xE2\x80\xAA\"", 0);
}

static void json_str_copies_valid_utf8_unchanged(void **state)
{
    /* 2, 3 and 4 byte forms at the edges of their ranges. */
    CHECK_JSON(
        "\xC2\x80 h\xC3\xA9llo \xE2\x82\xAC \xEF\xBF\xBF \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF",
        "\"\xC2\x80 h\xC3\xA9llo \xE2\x82\xAC \xEF\xBF\xBF \xF0\x90\x80\x80 \xF4\x8F\xBF\xBF\"", 0);
    CHECK_JSON("\xED\x9F\xBF\xEE\x80\x80", "\"\xED\x9F\xBF\xEE\x80\x80\"", 0);
}

static void json_str_replaces_overlong_utf8_with_replacement_char(void **state)
{
    CHECK_JSON("\xC0\xAF", "\"" FFFD FFFD "\"", 1);
    CHECK_JSON("\xC1\xBF", "\"" FFFD FFFD "\"", 1);
    CHECK_JSON("\xE0\x80\xAF", "\"" FFFD FFFD FFFD "\"", 1);
    CHECK_JSON("\xE0\x9F\xBF", "\"" FFFD FFFD FFFD "\"", 1);
    CHECK_JSON("\xF0\x8F\xBF\xBF", "\"" FFFD FFFD FFFD FFFD "\"", 1);
}

static void json_str_replaces_utf16_surrogates(void **state)
{
    CHECK_JSON("\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"", 1);
    CHECK_JSON("\xED\xBF\xBF", "\"" FFFD FFFD FFFD "\"", 1);
}

static void json_str_replaces_code_points_past_10ffff(void **state)
{
    CHECK_JSON("\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"", 1);
    CHECK_JSON("a\xF5z", "\"a" FFFD "z\"", 1);
    CHECK_JSON("\xFF", "\"" FFFD "\"", 1);
}

static void json_str_replaces_truncated_and_stray_bytes(void **state)
{
    CHECK_JSON("a\xE2\x82", "\"a" FFFD FFFD "\"", 1);
    CHECK_JSON("\xE2\x82z", "\"" FFFD FFFD "z\"", 1);
    CHECK_JSON("\xF0\x9F\x98", "\"" FFFD FFFD FFFD "\"", 1);
    CHECK_JSON("x\x80y", "\"x" FFFD "y\"", 1);
    CHECK_JSON("\xC3", "\"" FFFD "\"", 1);
}

static void json_str_appends_after_existing_content(void **state)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_puts(&b, "{\"k\":");
    gly_buf_json_str(&b, "v\n", 2);
    gly_buf_putc(&b, '}');
    assert_string_equal(gly_buf_cstr(&b), "{\"k\":\"v\\n\"}");
    gly_buf_dispose(&b);
}

static void json_str_past_max_sets_e2big(void **state)
{
    gly_buf b;

    /* Six bytes of input, but four escapes make it 2 + 2 + 4 * 6 bytes. */
    gly_buf_init(&b, NULL, 0, NULL, 16);
    assert_int_equal(gly_buf_json_str(&b,
                                      "\x01\x02\x03\x04"
                                      "ab",
                                      6),
                     GLY_E2BIG);
    assert_int_equal(gly_buf_err(&b), GLY_E2BIG);
    assert_int_equal(gly_buf_json_str(&b, "a", 1), GLY_E2BIG);
    gly_buf_dispose(&b);
}

static void strerror_and_err_name_come_from_the_table(void **state)
{
    assert_string_equal(gly_err_name(GLY_EINVAL), "EINVAL");
    assert_string_equal(gly_strerror(GLY_EINVAL), "invalid argument");
    assert_string_equal(gly_err_name(GLY_EOF), "EOF");
    assert_string_equal(gly_strerror(GLY_EOF), "end of file");
    assert_string_equal(gly_err_name(GLY_ESTATE), "ESTATE");
    assert_int_equal(GLY_ENOMEM, -ENOMEM);
    assert_string_equal(gly_err_name(0), "UNKNOWN");
    assert_string_equal(gly_strerror(12345), "unknown error");
}

static void str_ieq_folds_ascii_letters_only(void **state)
{
    assert_true(gly_str_ieq(GLY_STR("Content-Length"), GLY_STR("content-LENGTH")));
    assert_false(gly_str_ieq(GLY_STR("abc"), GLY_STR("abd")));
    assert_false(gly_str_ieq(GLY_STR("abc"), GLY_STR("abcd")));
    /* '@' and '`' differ only in bit 0x20, but they are not letters. */
    assert_false(gly_str_ieq(GLY_STR("@"), GLY_STR("`")));
    assert_false(gly_str_ieq(GLY_STR("["), GLY_STR("{")));
    /* No locale folding of UTF-8 bytes (0xC3 0xA9 vs 0xC3 0x89). */
    assert_false(gly_str_ieq(GLY_STR("\xC3\xA9"), GLY_STR("\xC3\x89")));
    assert_true(gly_str_ieq(GLY_STR(""), GLY_STR_NULL));
}

static void str_ieq_c_compares_against_a_c_string(void **state)
{
    assert_true(gly_str_ieq_c(GLY_STR("GET"), "get"));
    assert_false(gly_str_ieq_c(GLY_STR("GET"), "gets"));
    assert_false(gly_str_ieq_c(GLY_STR("GETS"), "get"));
    assert_false(gly_str_ieq_c((gly_str){"a\0b", 3}, "a"));
    assert_true(gly_str_ieq_c(GLY_STR(""), ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_uses_seed_before_heap),
        cmocka_unit_test(buf_grows_past_seed_and_keeps_content),
        cmocka_unit_test(buf_append_past_max_sets_sticky_e2big),
        cmocka_unit_test(buf_max_caps_content_even_with_a_bigger_seed),
        cmocka_unit_test(buf_max_counts_content_not_the_nul),
        cmocka_unit_test(buf_reserve_and_commit_write_in_place),
        cmocka_unit_test(buf_grows_in_arena_and_dispose_leaves_it_to_the_arena),
        cmocka_unit_test(buf_arena_limit_sets_sticky_enomem),
        cmocka_unit_test(buf_append_of_its_own_content_survives_growth),
        cmocka_unit_test(buf_append_of_an_absent_slice_is_a_no_op),
        cmocka_unit_test(buf_cstr_of_an_empty_buffer_is_an_empty_string),
        cmocka_unit_test(buf_printf_formats_in_place_and_when_growing),
        cmocka_unit_test(buf_put_i64_formats_extremes),
        cmocka_unit_test(u64_to_dec_matches_printf),
        cmocka_unit_test(json_str_quotes_plain_ascii),
        cmocka_unit_test(json_str_escapes_quotes_backslash_and_controls),
        cmocka_unit_test(json_str_escapes_embedded_nul),
        cmocka_unit_test(json_str_escapes_del),
        cmocka_unit_test(json_str_escapes_line_and_paragraph_separators),
        cmocka_unit_test(json_str_copies_valid_utf8_unchanged),
        cmocka_unit_test(json_str_replaces_overlong_utf8_with_replacement_char),
        cmocka_unit_test(json_str_replaces_utf16_surrogates),
        cmocka_unit_test(json_str_replaces_code_points_past_10ffff),
        cmocka_unit_test(json_str_replaces_truncated_and_stray_bytes),
        cmocka_unit_test(json_str_appends_after_existing_content),
        cmocka_unit_test(json_str_past_max_sets_e2big),
        cmocka_unit_test(strerror_and_err_name_come_from_the_table),
        cmocka_unit_test(str_ieq_folds_ascii_letters_only),
        cmocka_unit_test(str_ieq_c_compares_against_a_c_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
