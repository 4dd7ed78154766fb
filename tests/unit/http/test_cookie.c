/*
 * tests/unit/http/test_cookie.c - gly_cookie_find, the Cookie field parser.
 * Each field sits right before a PROT_NONE page: an over-read faults.
 */
#include <stdio.h>
#include <string.h>

#include <galley/http.h>

#include "gly_test.h"

/* Looks name up in field; returns the value as a C string ("<none>" when absent). */
static const char *find(const char *field, const char *name)
{
    static char out[256];
    struct gly_test_guard g;
    size_t n = strlen(field);
    char *p = gly_test_guarded(field, n, &g);
    gly_str v;
    if (gly_cookie_find((gly_str){p, n}, name, &v)) {
        assert_true(v.p >= p && v.p + v.n <= p + n);
        snprintf(out, sizeof out, "%.*s", (int)v.n, v.p);
    } else {
        snprintf(out, sizeof out, "<none>");
    }
    gly_test_unguard(&g);
    return out;
}

static void finds_a_cookie_among_others(void **state)
{
    (void)state;
    assert_string_equal(find("a=1; b=2; c=3", "b"), "2");
    assert_string_equal(find("a=1; b=2; c=3", "a"), "1");
    assert_string_equal(find("a=1; b=2; c=3", "c"), "3");
    assert_string_equal(find("a=1;b=2", "b"), "2");
}

static void names_match_exactly_and_with_case(void **state)
{
    (void)state;
    assert_string_equal(find("ab=1; a=2", "a"), "2");
    assert_string_equal(find("A=1", "a"), "<none>");
    assert_string_equal(find("xa=1", "a"), "<none>");
    assert_string_equal(find("a b=1", "b"), "<none>");
}

static void white_space_and_quotes_are_trimmed(void **state)
{
    (void)state;
    assert_string_equal(find("  a =  1  ;b=2", "a"), "1");
    assert_string_equal(find("a=\"quoted value\"", "a"), "quoted value");
    assert_string_equal(find("a=\"", "a"), "\"");
    assert_string_equal(find("a=", "a"), "");
}

static void the_first_of_two_counts_and_pairs_without_equals_are_skipped(void **state)
{
    (void)state;
    assert_string_equal(find("a=1; a=2", "a"), "1");
    assert_string_equal(find("a; a=2", "a"), "2");
    assert_string_equal(find(";;; a=3 ;", "a"), "3");
    assert_string_equal(find("", "a"), "<none>");
    assert_string_equal(find("a", "a"), "<none>");
}

static void a_value_never_holds_a_separator(void **state)
{
    (void)state;
    assert_string_equal(find("a=x=y; b=z", "a"), "x=y");
    assert_string_equal(find("a=1;;b=2", "b"), "2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_a_cookie_among_others),
        cmocka_unit_test(names_match_exactly_and_with_case),
        cmocka_unit_test(white_space_and_quotes_are_trimmed),
        cmocka_unit_test(the_first_of_two_counts_and_pairs_without_equals_are_skipped),
        cmocka_unit_test(a_value_never_holds_a_separator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
