/*
 * tests/unit/json/test_reader.c - the JSON reader (JSONTestSuite-style cases).
 *
 * Every input is copied to the end of a page followed by a PROT_NONE page, so
 * a read past the input faults at once (as picohttpparser's test.c does).
 * The y_/n_ tables name each case in the failure output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json.h>
#include <galley/json_read.h>

#include "gly_test.h"

/* ------------------------------------------------------------------------ */
/* Guarded parsing                                                          */
/* ------------------------------------------------------------------------ */

static gly_arena arena;

static int setup(void **state)
{
    (void)state;
    gly_arena_init(&arena, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gly_arena_dispose(&arena);
    return 0;
}

/*
 * Parses a copy of s[0..n) that ends right before a PROT_NONE page, with lim
 * (NULL: defaults). Returns the result code; *out and *err as gly_json_parse.
 */
static int parse_lim(const char *s, size_t n, const gly_json_limits *lim, gly_jv **out,
                     gly_json_error *err)
{
    struct gly_test_guard g;
    char *p = gly_test_guarded(s, n, &g);
    int rc = gly_json_parse(&arena, p, n, lim, out, err);
    gly_test_unguard(&g);
    return rc;
}

static int parse(const char *s, size_t n, gly_jv **out, gly_json_error *err)
{
    return parse_lim(s, n, NULL, out, err);
}

/* Parses s (NUL-terminated) and fails the test with the error when it is rejected. */
static const gly_jv *ok(const char *s)
{
    gly_jv *v = NULL;
    gly_json_error e;
    int rc = parse(s, strlen(s), &v, &e);
    if (rc != 0) {
        fail_msg("rejected %s: rc %d at %zu:%zu: %s", s, rc, e.line, e.column, e.msg);
    }
    assert_non_null(v);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

#define C(lit) lit, sizeof(lit) - 1

struct ycase {
    const char *name;
    const char *text;
    size_t n;
    gly_json_type type;
};

static const struct ycase ycases[] = {
    {"y_number_zero", C("0"), GLY_JSON_NUMBER},
    {"y_number_minus_zero", C("-0"), GLY_JSON_NUMBER},
    {"y_number_1e308", C("1e308"), GLY_JSON_NUMBER},
    {"y_number_negative_frac_exp", C("-1.5e-3"), GLY_JSON_NUMBER},
    {"y_number_capital_E_plus", C("1E+2"), GLY_JSON_NUMBER},
    {"y_number_zero_frac", C("0.0"), GLY_JSON_NUMBER},
    {"y_number_huge_int", C("123456789012345678901234567890"), GLY_JSON_NUMBER},
    {"y_number_underflow_to_zero", C("1e-400"), GLY_JSON_NUMBER},
    {"y_number_in_array", C("[1,-2,3.5]"), GLY_JSON_ARRAY},
    {"y_string_empty", C("\"\""), GLY_JSON_STRING},
    {"y_string_simple_escapes", C("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), GLY_JSON_STRING},
    {"y_string_u_escape", C("\"\\u00e9\""), GLY_JSON_STRING},
    {"y_string_surrogate_pair", C("\"\\uD83D\\uDE00\""), GLY_JSON_STRING},
    {"y_string_u0000", C("\"a\\u0000b\""), GLY_JSON_STRING},
    {"y_string_utf8_2_3_4", C("\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\""), GLY_JSON_STRING},
    {"y_string_utf8_max", C("\"\xF4\x8F\xBF\xBF\""), GLY_JSON_STRING},
    {"y_string_del_raw", C("\"\x7F\""), GLY_JSON_STRING},
    {"y_string_u2028_raw", C("\"\xE2\x80\xA8\""), GLY_JSON_STRING},
    {"y_literal_true", C("true"), GLY_JSON_BOOL},
    {"y_literal_false", C("false"), GLY_JSON_BOOL},
    {"y_literal_null", C("null"), GLY_JSON_NULL},
    {"y_array_empty", C("[]"), GLY_JSON_ARRAY},
    {"y_array_empty_ws", C("[ \t\r\n]"), GLY_JSON_ARRAY},
    {"y_object_empty", C("{}"), GLY_JSON_OBJECT},
    {"y_object_empty_ws", C("{ \n }"), GLY_JSON_OBJECT},
    {"y_object_nested", C("{\"a\":{\"b\":[{},[],{\"c\":null}]}}"), GLY_JSON_OBJECT},
    {"y_ws_around", C(" \t\r\n[ 1 , 2 ]\n\r\t "), GLY_JSON_ARRAY},
    {"y_same_key_in_sibling_objects", C("[{\"a\":1},{\"a\":2}]"), GLY_JSON_ARRAY},
    {"y_same_key_parent_and_child", C("{\"a\":{\"a\":1}}"), GLY_JSON_OBJECT},
    {"y_keys_differ_after_unescape", C("{\"a\":1,\"\\u0061b\":2}"), GLY_JSON_OBJECT},
};

struct ncase {
    const char *name;
    const char *text;
    size_t n;
    int rc;
    const char *msg; /* expected error message (exact) */
    long offset;     /* expected byte offset */
};

static const struct ncase ncases[] = {
    {"n_empty", C(""), GLY_EINVAL, "unexpected end of input, expected a value", 0},
    {"n_only_ws", C(" \n "), GLY_EINVAL, "unexpected end of input, expected a value", 3},
    {"n_number_leading_zero", C("01"), GLY_EINVAL, "leading zeros are not allowed", 0},
    {"n_number_neg_leading_zero", C("-012"), GLY_EINVAL, "leading zeros are not allowed", 1},
    {"n_number_plus", C("+1"), GLY_EINVAL, "a number cannot start with '+'", 0},
    {"n_number_dot_first", C(".5"), GLY_EINVAL, "a number must have a digit before '.'", 0},
    {"n_number_dot_last", C("1."), GLY_EINVAL, "expected a digit after '.'", 2},
    {"n_number_dot_e", C("1.e3"), GLY_EINVAL, "expected a digit after '.'", 2},
    {"n_number_e_alone", C("1e"), GLY_EINVAL, "expected a digit in the exponent", 2},
    {"n_number_e_sign_alone", C("1e+"), GLY_EINVAL, "expected a digit in the exponent", 3},
    {"n_number_minus_alone", C("-"), GLY_EINVAL, "expected a digit after '-'", 1},
    {"n_number_minus_space", C("- 1"), GLY_EINVAL, "expected a digit after '-'", 1},
    {"n_number_1e309", C("1e309"), GLY_EINVAL, "number out of range", 0},
    {"n_number_neg_1e309", C("[-1e309]"), GLY_EINVAL, "number out of range", 1},
    {"n_number_nan", C("NaN"), GLY_EINVAL, "NaN and Infinity are not valid JSON", 0},
    {"n_number_infinity", C("Infinity"), GLY_EINVAL, "NaN and Infinity are not valid JSON", 0},
    {"n_number_minus_infinity", C("-Infinity"), GLY_EINVAL, "NaN and Infinity are not valid JSON",
     1},
    {"n_number_hex", C("0x1"), GLY_EINVAL, "trailing characters after the JSON value", 1},
    {"n_string_single_quote", C("'a'"), GLY_EINVAL, "strings must use double quotes", 0},
    {"n_string_unterminated", C("\"abc"), GLY_EINVAL, "unexpected end of input in a string", 4},
    {"n_string_escape_q", C("\"\\q\""), GLY_EINVAL, "invalid escape \\q", 1},
    {"n_string_escape_x", C("\"\\x41\""), GLY_EINVAL, "invalid escape \\x", 1},
    {"n_string_escape_ctrl", C("\"\\\x01\""), GLY_EINVAL, "invalid escape: byte 0x01 after '\\'",
     1},
    {"n_string_escape_at_end", C("\"\\"), GLY_EINVAL, "unexpected end of input in a string", 2},
    {"n_string_u_short", C("\"\\u12\""), GLY_EINVAL, "invalid \\u escape: expected 4 hex digits",
     5},
    {"n_string_u_bad_hex", C("\"\\u12G4\""), GLY_EINVAL,
     "invalid \\u escape: expected 4 hex digits", 5},
    {"n_string_lone_high", C("\"\\uD800\""), GLY_EINVAL, "unpaired surrogate \\uD800", 1},
    {"n_string_lone_high_then_char", C("\"\\uD800x\""), GLY_EINVAL, "unpaired surrogate \\uD800",
     1},
    {"n_string_high_high", C("\"\\uD800\\uD800\""), GLY_EINVAL, "unpaired surrogate \\uD800", 1},
    {"n_string_high_then_escape", C("\"\\uD800\\n\""), GLY_EINVAL, "unpaired surrogate \\uD800", 1},
    {"n_string_high_then_bad_u", C("\"\\uD800\\u12\""), GLY_EINVAL,
     "invalid \\u escape: expected 4 hex digits", 11},
    {"n_string_lone_low", C("\"\\uDC00\""), GLY_EINVAL, "unpaired surrogate \\uDC00", 1},
    {"n_string_lone_low_lowercase", C("\"a\\udfff\""), GLY_EINVAL, "unpaired surrogate \\uDFFF", 2},
    {"n_string_raw_newline", C("\"a\nb\""), GLY_EINVAL,
     "unescaped control character 0x0A in a string", 2},
    {"n_string_raw_tab", C("\"\t\""), GLY_EINVAL, "unescaped control character 0x09 in a string",
     1},
    {"n_string_raw_nul", C("\"\0\""), GLY_EINVAL, "unescaped control character 0x00 in a string",
     1},
    {"n_utf8_overlong_c0", C("\"\xC0\xAF\""), GLY_EINVAL, "invalid UTF-8 byte 0xC0", 1},
    {"n_utf8_overlong_c1", C("\"\xC1\xBF\""), GLY_EINVAL, "invalid UTF-8 byte 0xC1", 1},
    {"n_utf8_overlong_e0", C("\"\xE0\x80\xAF\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0x80 after 0xE0", 1},
    {"n_utf8_overlong_f0", C("\"\xF0\x80\x80\xAF\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0x80 after 0xF0", 1},
    {"n_utf8_surrogate_d800", C("\"\xED\xA0\x80\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0xA0 after 0xED", 1},
    {"n_utf8_past_10ffff", C("\"\xF4\x90\x80\x80\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0x90 after 0xF4", 1},
    {"n_utf8_f5", C("\"\xF5\x80\x80\x80\""), GLY_EINVAL, "invalid UTF-8 byte 0xF5", 1},
    {"n_utf8_ff", C("\"\xFF\""), GLY_EINVAL, "invalid UTF-8 byte 0xFF", 1},
    {"n_utf8_lone_continuation", C("\"\x80\""), GLY_EINVAL, "invalid UTF-8 byte 0x80", 1},
    {"n_utf8_truncated_before_quote", C("\"\xE2\x82\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0x22 after 0x82", 1},
    {"n_utf8_truncated_at_end", C("\"\xE2\x82"), GLY_EINVAL, "unexpected end of input in a string",
     3},
    {"n_utf8_bad_third_byte", C("\"\xF0\x9F\x98\x41\""), GLY_EINVAL,
     "invalid UTF-8 sequence: byte 0x41 after 0x98", 1},
    {"n_bom", C("\xEF\xBB\xBF{}"), GLY_EINVAL, "byte order mark (BOM) is not allowed", 0},
    {"n_utf8_outside_string", C("[\xC3\xA9]"), GLY_EINVAL, "unexpected byte 0xC3, expected a value",
     1},
    {"n_comment_line", C("// x\n1"), GLY_EINVAL, "comments are not allowed in JSON", 0},
    {"n_comment_block_in_array", C("[1,/* x */2]"), GLY_EINVAL, "comments are not allowed in JSON",
     3},
    {"n_trailing_garbage", C("[1] x"), GLY_EINVAL, "trailing characters after the JSON value", 4},
    {"n_two_values", C("1 2"), GLY_EINVAL, "trailing characters after the JSON value", 2},
    {"n_trailing_nul", C("{}\0"), GLY_EINVAL, "trailing characters after the JSON value", 2},
    {"n_array_trailing_comma", C("[1,]"), GLY_EINVAL, "trailing comma before ']'", 3},
    {"n_array_leading_comma", C("[,1]"), GLY_EINVAL, "unexpected character ',', expected a value",
     1},
    {"n_array_missing_comma", C("[1 2]"), GLY_EINVAL, "expected ',' or ']' after array element", 3},
    {"n_array_unclosed", C("[1"), GLY_EINVAL, "unexpected end of input, expected ',' or ']'", 2},
    {"n_array_mismatched", C("[1}"), GLY_EINVAL, "expected ',' or ']' after array element", 2},
    {"n_object_trailing_comma", C("{\"a\":1,}"), GLY_EINVAL, "trailing comma before '}'", 7},
    {"n_object_missing_colon", C("{\"a\" 1}"), GLY_EINVAL, "expected ':' after object key", 5},
    {"n_object_missing_value", C("{\"a\":}"), GLY_EINVAL, "expected a value before '}'", 5},
    {"n_object_unquoted_key", C("{a:1}"), GLY_EINVAL, "expected a string as object key", 1},
    {"n_object_single_quoted_key", C("{'a':1}"), GLY_EINVAL, "strings must use double quotes", 1},
    {"n_object_number_key", C("{1:1}"), GLY_EINVAL, "expected a string as object key", 1},
    {"n_object_missing_comma", C("{\"a\":1 \"b\":2}"), GLY_EINVAL,
     "expected ',' or '}' after object member", 7},
    {"n_object_unclosed", C("{\"a\":1"), GLY_EINVAL, "unexpected end of input, expected ',' or '}'",
     6},
    {"n_object_key_eof", C("{\"a\""), GLY_EINVAL, "unexpected end of input, expected ':'", 4},
    {"n_object_comma_eof", C("{\"a\":1,"), GLY_EINVAL,
     "unexpected end of input, expected an object key", 7},
    {"n_duplicate_key", C("{\"a\":1,\"a\":2}"), GLY_EINVAL, "duplicate key \"a\"", 7},
    {"n_duplicate_key_escaped", C("{\"a\":1,\"\\u0061\":2}"), GLY_EINVAL, "duplicate key \"a\"", 7},
    {"n_duplicate_key_nested", C("[{\"x\":{\"k\":1,\"j\":2,\"k\":3}}]"), GLY_EINVAL,
     "duplicate key \"k\"", 19},
    {"n_duplicate_key_after_child", C("{\"a\":{\"b\":1},\"a\":2}"), GLY_EINVAL,
     "duplicate key \"a\"", 13},
    {"n_duplicate_empty_key", C("{\"\":1,\"\":2}"), GLY_EINVAL, "duplicate key \"\"", 6},
    {"n_literal_caps", C("True"), GLY_EINVAL, "unexpected character 'T', expected a value", 0},
    {"n_literal_truncated", C("tru"), GLY_EINVAL, "unexpected end of input in 'true'", 3},
    {"n_literal_wrong", C("nul1"), GLY_EINVAL, "invalid literal, expected 'null'", 0},
    {"n_literal_nan_lower", C("nan"), GLY_EINVAL, "invalid literal, expected 'null'", 0},
    {"n_literal_extra", C("truex"), GLY_EINVAL, "trailing characters after the JSON value", 4},
    {"n_ws_formfeed", C("[\f1]"), GLY_EINVAL, "unexpected byte 0x0C, expected a value", 1},
    {"n_ws_vertical_tab", C("\v1"), GLY_EINVAL, "unexpected byte 0x0B, expected a value", 0},
    {"n_ws_nbsp",
     C("\xC2\xA0"
       "1"),
     GLY_EINVAL, "unexpected byte 0xC2, expected a value", 0},
    {"n_close_only", C("]"), GLY_EINVAL, "expected a value before ']'", 0},
};

static void reader_accepts_every_y_case(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof ycases / sizeof ycases[0]; k++) {
        const struct ycase *c = &ycases[k];
        gly_jv *v = NULL;
        gly_json_error e;
        int rc = parse(c->text, c->n, &v, &e);
        if (rc != 0) {
            fail_msg("%s: rejected (rc %d) at %zu:%zu: %s", c->name, rc, e.line, e.column, e.msg);
        }
        if (gly_jv_type(v) != c->type) {
            fail_msg("%s: type %d, want %d", c->name, gly_jv_type(v), c->type);
        }
    }
}

static void reader_rejects_every_n_case_with_its_message_and_offset(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t k = 0; k < sizeof ncases / sizeof ncases[0]; k++) {
        const struct ncase *c = &ncases[k];
        gly_jv *v = (gly_jv *)&v;
        gly_json_error e;
        int rc = parse(c->text, c->n, &v, &e);
        if (rc != c->rc || v != NULL || strcmp(e.msg, c->msg) != 0 || (long)e.offset != c->offset) {
            print_error("%s: rc %d offset %zu \"%s\"%s, want rc %d offset %ld \"%s\"\n", c->name,
                        rc, e.offset, rc ? e.msg : "", v ? " (*out set)" : "", c->rc, c->offset,
                        c->msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

static void assert_str(gly_str s, const char *want, size_t n)
{
    assert_non_null(s.p);
    assert_int_equal(s.n, n);
    assert_memory_equal(s.p, want, n);
    assert_int_equal(s.p[n], '\0');
}

static void reader_decodes_escapes_and_surrogate_pairs_to_utf8(void **state)
{
    (void)state;
    assert_str(gly_jv_str(ok("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"")), "\"\\/\b\f\n\r\t", 8);
    assert_str(gly_jv_str(ok("\"caf\\u00e9\"")), "caf\xC3\xA9", 5);
    assert_str(gly_jv_str(ok("\"\\u20AC\"")), "\xE2\x82\xAC", 3);
    assert_str(gly_jv_str(ok("\"\\uD83D\\uDE00!\"")), "\xF0\x9F\x98\x80!", 5);
    assert_str(gly_jv_str(ok("\"\\uDBFF\\uDFFF\"")), "\xF4\x8F\xBF\xBF", 4);
    assert_str(gly_jv_str(ok("\"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"")),
               "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF", 11);
    assert_str(gly_jv_str(ok("\"plain \xC3\xA9\"")), "plain \xC3\xA9", 8);
}

static void reader_keeps_u0000_inside_strings(void **state)
{
    (void)state;
    gly_str s = gly_jv_str(ok("\"a\\u0000b\""));
    assert_str(s, "a\0b", 3);
    assert_int_equal(strlen(s.p), 1);
}

static void reader_converts_numbers_and_keeps_their_text(void **state)
{
    (void)state;
    const gly_jv *v = ok("[0, -0, 1e308, -1.5e-3, 12345678901234567890, 1E+2, 0.1]");
    assert_int_equal(gly_jv_len(v), 7);
    assert_true(gly_jv_double(gly_jv_at(v, 0)) == 0.0);
    assert_true(signbit(gly_jv_double(gly_jv_at(v, 1))));
    assert_true(gly_jv_double(gly_jv_at(v, 2)) == 1e308);
    assert_true(gly_jv_double(gly_jv_at(v, 3)) == -1.5e-3);
    assert_true(gly_jv_double(gly_jv_at(v, 4)) == 12345678901234567890.0);
    assert_true(gly_jv_double(gly_jv_at(v, 5)) == 100.0);
    assert_true(gly_jv_double(gly_jv_at(v, 6)) == 0.1);
    assert_str(gly_jv_num_raw(gly_jv_at(v, 3)), "-1.5e-3", 7);
    assert_str(gly_jv_num_raw(gly_jv_at(v, 5)), "1E+2", 4);
    assert_null(gly_jv_num_raw(gly_jv_at(v, 7)).p);
    assert_null(gly_jv_str(gly_jv_at(v, 0)).p);
}

static void i64_is_true_only_for_exact_integers_in_range(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool exact;
        int64_t want;
    } cases[] = {
        {"0", true, 0},
        {"-0", true, 0},
        {"42", true, 42},
        {"-42", true, -42},
        {"9223372036854775807", true, INT64_MAX},
        {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0},
        {"-9223372036854775809", false, 0},
        {"123456789012345678901234567890", false, 0},
        {"1e3", true, 1000},
        {"10.0", true, 10},
        {"1.5e1", true, 15},
        {"1000e-3", true, 1},
        {"0.0e5", true, 0},
        {"00000000000000000000000000001e0", false, 0}, /* invalid text; not parsed */
        {"1.5", false, 0},
        {"1e-1", false, 0},
        {"1.0000000000000000001", false, 0},
        {"9.223372036854775807e18", true, INT64_MAX},
        {"1e19", false, 0},
        {"1e100000000000", false, 0},
        {"0e100000000000", true, 0},
        {"100000000000000000000e-2", true, 1000000000000000000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        gly_jv *v = NULL;
        gly_json_error e;
        int rc = parse(cases[k].text, strlen(cases[k].text), &v, &e);
        if (k == 14) {
            assert_int_equal(rc, GLY_EINVAL);
            continue;
        }
        if (rc != 0) {
            /* 1e100000000000 is out of range for a double: not a valid number here */
            assert_string_equal(cases[k].text, "1e100000000000");
            continue;
        }
        int64_t got = 777;
        bool exact = gly_jv_i64(v, &got);
        if (exact != cases[k].exact || (exact && got != cases[k].want)) {
            fail_msg("%s: exact %d value %lld, want %d %lld", cases[k].text, exact, (long long)got,
                     cases[k].exact, (long long)cases[k].want);
        }
        if (!exact) {
            assert_int_equal(got, 777);
        }
    }
    int64_t x;
    assert_false(gly_jv_i64(ok("\"1\""), &x));
    assert_false(gly_jv_i64(NULL, &x));
}

static void reader_builds_objects_in_order_with_lookup(void **state)
{
    (void)state;
    const gly_jv *v = ok("{\"b\":true,\"a\":false,\"c\":null,\"d\":[1,2],\"e\":{}}");
    assert_int_equal(gly_jv_type(v), GLY_JSON_OBJECT);
    assert_int_equal(gly_jv_len(v), 5);
    assert_str(gly_jv_key_at(v, 0), "b", 1);
    assert_str(gly_jv_key_at(v, 4), "e", 1);
    assert_null(gly_jv_key_at(v, 5).p);
    assert_true(gly_jv_bool(gly_jv_at(v, 0)));
    assert_false(gly_jv_bool(gly_jv_get(v, "a")));
    assert_int_equal(gly_jv_type(gly_jv_get(v, "a")), GLY_JSON_BOOL);
    assert_int_equal(gly_jv_type(gly_jv_get(v, "c")), GLY_JSON_NULL);
    assert_int_equal(gly_jv_len(gly_jv_get(v, "d")), 2);
    assert_int_equal(gly_jv_type(gly_jv_get(v, "e")), GLY_JSON_OBJECT);
    assert_null(gly_jv_get(v, "x"));
    assert_null(gly_jv_get(v, NULL));
    assert_null(gly_jv_get(gly_jv_get(v, "d"), "a"));
    assert_null(gly_jv_at(v, 5));
    assert_int_equal(gly_jv_type(NULL), GLY_JSON_NONE);
    assert_int_equal(gly_jv_len(gly_jv_get(v, "b")), 0);
}

static void lookup_in_large_objects_finds_every_key(void **state)
{
    (void)state;
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_putc(&b, '{');
    for (int k = 0; k < 500; k++) {
        gly_buf_printf(&b, "%s\"key%d\":%d", k ? "," : "", k, k);
    }
    gly_buf_putc(&b, '}');
    gly_jv *v = NULL;
    gly_json_error e;
    assert_int_equal(parse(b.p, b.len, &v, &e), 0);
    assert_int_equal(gly_jv_len(v), 500);
    for (int k = 0; k < 500; k++) {
        char key[16];
        snprintf(key, sizeof key, "key%d", k);
        int64_t x = -1;
        assert_true(gly_jv_i64(gly_jv_get(v, key), &x));
        assert_int_equal(x, k);
    }
    assert_null(gly_jv_get(v, "key500"));
    assert_null(gly_jv_get(v, ""));

    /* the same key twice, far apart, is still a duplicate */
    gly_buf_clear(&b);
    gly_buf_putc(&b, '{');
    for (int k = 0; k < 300; k++) {
        gly_buf_printf(&b, "\"k%d\":0,", k);
    }
    gly_buf_puts(&b, "\"k3\":1}");
    assert_int_equal(parse(b.p, b.len, &v, &e), GLY_EINVAL);
    assert_string_equal(e.msg, "duplicate key \"k3\"");

    /* the 17th key, where the object's keys move to the hash set, repeating the 1st */
    gly_buf_clear(&b);
    gly_buf_putc(&b, '{');
    for (int k = 0; k < 16; k++) {
        gly_buf_printf(&b, "\"k%d\":0,", k);
    }
    gly_buf_puts(&b, "\"k0\":1}");
    assert_int_equal(parse(b.p, b.len, &v, &e), GLY_EINVAL);
    assert_string_equal(e.msg, "duplicate key \"k0\"");

    /* many sibling objects with the same 20 keys are no duplicates */
    gly_buf_clear(&b);
    gly_buf_putc(&b, '[');
    for (int o = 0; o < 200; o++) {
        gly_buf_puts(&b, o ? ",{" : "{");
        for (int k = 0; k < 20; k++) {
            gly_buf_printf(&b, "%s\"k%d\":%d", k ? "," : "", k, o);
        }
        gly_buf_putc(&b, '}');
    }
    gly_buf_putc(&b, ']');
    assert_int_equal(parse(b.p, b.len, &v, &e), 0);
    int64_t x = -1;
    assert_true(gly_jv_i64(gly_jv_get(gly_jv_at(v, 199), "k19"), &x));
    assert_int_equal(x, 199);
    gly_buf_dispose(&b);
}

static void values_know_their_line_and_column(void **state)
{
    (void)state;
    const gly_jv *v = ok("{\n  \"a\": [1,\n\t\"x\"],\n  \"b\":null}");
    assert_int_equal(gly_jv_line(v), 1);
    assert_int_equal(gly_jv_column(v), 1);
    const gly_jv *a = gly_jv_get(v, "a");
    assert_int_equal(gly_jv_line(a), 2);
    assert_int_equal(gly_jv_column(a), 8);
    assert_int_equal(gly_jv_line(gly_jv_at(a, 0)), 2);
    assert_int_equal(gly_jv_column(gly_jv_at(a, 0)), 9);
    assert_int_equal(gly_jv_line(gly_jv_at(a, 1)), 3);
    assert_int_equal(gly_jv_column(gly_jv_at(a, 1)), 2);
    assert_int_equal(gly_jv_line(gly_jv_get(v, "b")), 4);
    assert_int_equal(gly_jv_column(gly_jv_get(v, "b")), 7);
    assert_int_equal(gly_jv_line(NULL), 0);
}

static void errors_on_multiline_input_report_line_and_column(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t line, column;
        const char *msg;
    } cases[] = {
        {"{\n  \"a\": 1,\n  \"b\" 2\n}", 3, 7, "expected ':' after object key"},
        {"[\n1,\n2,\n]", 4, 1, "trailing comma before ']'"},
        {"\n\n   \"\\q\"", 3, 5, "invalid escape \\q"},
        {"{\"a\":1,\r\n\"a\":2}", 2, 1, "duplicate key \"a\""},
        {"[1,\n 2", 2, 3, "unexpected end of input, expected ',' or ']'"},
        {"[\n  \"\xC3\xA9\",\n  \"\xC3\"]", 3, 4, "invalid UTF-8 sequence: byte 0x22 after 0xC3"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        gly_jv *v;
        gly_json_error e;
        assert_int_equal(parse(cases[k].text, strlen(cases[k].text), &v, &e), GLY_EINVAL);
        if (e.line != cases[k].line || e.column != cases[k].column ||
            strcmp(e.msg, cases[k].msg) != 0) {
            fail_msg("case %zu: %zu:%zu \"%s\", want %zu:%zu \"%s\"", k, e.line, e.column, e.msg,
                     cases[k].line, cases[k].column, cases[k].msg);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */
/* ------------------------------------------------------------------------ */

static int parse_nested(size_t depth, char open, char close, gly_json_error *e)
{
    char *s = malloc(2 * depth + 1);
    assert_non_null(s);
    memset(s, open, depth);
    memset(s + depth, close, depth);
    gly_jv *v;
    int rc = parse(s, 2 * depth, &v, e);
    free(s);
    return rc;
}

static void depth_64_is_accepted_and_65_rejected(void **state)
{
    (void)state;
    gly_json_error e;
    assert_int_equal(parse_nested(64, '[', ']', &e), 0);
    assert_int_equal(parse_nested(65, '[', ']', &e), GLY_ELIMIT);
    assert_string_equal(e.msg, "nesting deeper than 64");
    assert_int_equal(e.offset, 64);
    assert_int_equal(parse_nested(100000, '[', ']', &e), GLY_ELIMIT);

    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    for (int k = 0; k < 65; k++) {
        gly_buf_puts(&b, "{\"a\":");
    }
    gly_buf_puts(&b, "1");
    for (int k = 0; k < 65; k++) {
        gly_buf_putc(&b, '}');
    }
    gly_jv *v;
    assert_int_equal(parse(b.p, b.len, &v, &e), GLY_ELIMIT);
    assert_int_equal(e.column, 64 * 5 + 1);
    gly_json_limits lim = gly_json_limits_default();
    lim.max_depth = 65;
    assert_int_equal(parse_lim(b.p, b.len, &lim, &v, &e), 0);
    gly_buf_dispose(&b);

    lim.max_depth = 0;
    assert_int_equal(parse_lim("1", 1, &lim, &v, &e), 0);
    assert_int_equal(parse_lim("[]", 2, &lim, &v, &e), GLY_ELIMIT);
}

static void string_item_and_input_limits_fail_with_elimit(void **state)
{
    (void)state;
    gly_json_limits lim = gly_json_limits_default();
    assert_int_equal(lim.max_depth, 64);
    assert_int_equal(lim.max_string_bytes, 1 << 20);
    lim.max_string_bytes = 4;
    gly_jv *v;
    gly_json_error e;
    assert_int_equal(parse_lim(C("[\"abcd\"]"), &lim, &v, &e), 0);
    assert_int_equal(parse_lim(C("[\"\\u00e9\\u00e9\"]"), &lim, &v, &e), 0);
    assert_int_equal(parse_lim(C("[\"abcde\"]"), &lim, &v, &e), GLY_ELIMIT);
    assert_string_equal(e.msg, "string longer than 4 bytes");
    assert_int_equal(e.offset, 1);
    assert_int_equal(parse_lim(C("{\"abcde\":1}"), &lim, &v, &e), GLY_ELIMIT);

    lim = gly_json_limits_default();
    lim.max_items = 3;
    assert_int_equal(parse_lim(C("[1,2,3]"), &lim, &v, &e), 0);
    assert_int_equal(parse_lim(C("[1,2,3,4]"), &lim, &v, &e), GLY_ELIMIT);
    assert_string_equal(e.msg, "more than 3 elements in an array");
    assert_int_equal(parse_lim(C("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}"), &lim, &v, &e), GLY_ELIMIT);
    assert_string_equal(e.msg, "more than 3 members in an object");

    lim = gly_json_limits_default();
    lim.max_bytes = 3;
    assert_int_equal(parse_lim(C("[1]"), &lim, &v, &e), 0);
    assert_int_equal(parse_lim(C("[12]"), &lim, &v, &e), GLY_ELIMIT);
    assert_string_equal(e.msg, "input longer than 3 bytes");
}

static void out_of_memory_is_enomem(void **state)
{
    (void)state;
    gly_arena small;
    gly_arena_init(&small, 64);
    gly_jv *v = (gly_jv *)&v;
    gly_json_error e;
    const char *s = "[\"a long string that does not fit in sixty-four bytes of arena, surely\"]";
    assert_int_equal(gly_json_parse(&small, s, strlen(s), NULL, &v, &e), GLY_ENOMEM);
    assert_null(v);
    assert_string_equal(e.msg, "out of memory");
    assert_int_equal(gly_json_parse(&small, s, strlen(s), NULL, &v, NULL), GLY_ENOMEM);
    gly_arena_dispose(&small);
}

/* ------------------------------------------------------------------------ */
/* Writing back                                                             */
/* ------------------------------------------------------------------------ */

static void value_writes_the_tree_back_compactly(void **state)
{
    (void)state;
    const gly_jv *v = ok(" { \"a\" : [ 1.50 , -0, 1E+2 ] ,\n \"s\" : \"\\u00e9\\n\\u0000\" , "
                         "\"t\":true,\"f\":false,\"n\":null,\"o\":{}} ");
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_json_init(&j, &b);
    assert_int_equal(gly_json_value(&j, v), 0);
    assert_int_equal(gly_json_finish(&j), 0);
    assert_string_equal(gly_buf_cstr(&b), "{\"a\":[1.50,-0,1E+2],\"s\":\"\xC3\xA9\\n\\u0000\","
                                          "\"t\":true,\"f\":false,\"n\":null,\"o\":{}}");
    gly_buf_dispose(&b);

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_json_init(&j, &b);
    assert_int_equal(gly_json_value(&j, NULL), GLY_EINVAL);
    gly_buf_dispose(&b);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(reader_accepts_every_y_case),
        T(reader_rejects_every_n_case_with_its_message_and_offset),
        T(reader_decodes_escapes_and_surrogate_pairs_to_utf8),
        T(reader_keeps_u0000_inside_strings),
        T(reader_converts_numbers_and_keeps_their_text),
        T(i64_is_true_only_for_exact_integers_in_range),
        T(reader_builds_objects_in_order_with_lookup),
        T(lookup_in_large_objects_finds_every_key),
        T(values_know_their_line_and_column),
        T(errors_on_multiline_input_report_line_and_column),
        T(depth_64_is_accepted_and_65_rejected),
        T(string_item_and_input_limits_fail_with_elimit),
        T(out_of_memory_is_enomem),
        T(value_writes_the_tree_back_compactly),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
