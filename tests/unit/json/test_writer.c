/*
 * tests/unit/json/test_writer.c - the streaming JSON writer.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <galley/buf.h>
#include <galley/json.h>

#include "gly_test.h"

struct fixture {
    gly_buf b;
    gly_json j;
};

static int setup(void **state)
{
    struct fixture *f = malloc(sizeof(*f));
    if (f == NULL) {
        return -1;
    }
    gly_buf_init(&f->b, NULL, 0, NULL, 0);
    gly_json_init(&f->j, &f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    gly_buf_dispose(&f->b);
    free(f);
    return 0;
}

static const char *text(struct fixture *f)
{
    const char *s = gly_buf_cstr(&f->b);
    assert_non_null(s);
    return s;
}

static void json_writes_nested_objects_and_arrays_with_commas(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "message"), 0);
    assert_int_equal(gly_json_str(j, "Hello, World!"), 0);
    assert_int_equal(gly_json_key(j, "list"), 0);
    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_i64(j, 1), 0);
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_bool(j, true), 0);
    assert_int_equal(gly_json_bool(j, false), 0);
    assert_int_equal(gly_json_null(j), 0);
    assert_int_equal(gly_json_str(j, NULL), 0);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_key_str(j, GLY_STR("o")), 0);
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "x"), 0);
    assert_int_equal(gly_json_u64(j, 7), 0);
    assert_int_equal(gly_json_key(j, "y"), 0);
    assert_int_equal(gly_json_strn(j, "abc", 2), 0);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);

    assert_string_equal(text(f), "{\"message\":\"Hello, World!\",\"list\":[1,{},[],true,false,null,"
                                 "null],\"o\":{\"x\":7,\"y\":\"ab\"}}");
}

static void json_escapes_control_chars_and_quotes(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "k\"ey"), 0);
    assert_int_equal(gly_json_strn(j, "a\"b\\c\n\t\r\x01\x1f\0z", 12), 0);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);

    assert_string_equal(text(f), "{\"k\\\"ey\":\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001f\\u0000z\"}");
}

static void json_replaces_invalid_utf8(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    /* a stray continuation byte, then a valid two-byte "é" */
    assert_int_equal(gly_json_str(j, "a\x80"
                                     "b\xc3\xa9"),
                     0);
    assert_int_equal(gly_json_finish(j), 0);

    assert_string_equal(text(f), "\"a\xef\xbf\xbd"
                                 "b\xc3\xa9\"");
}

static void json_value_without_key_in_object_sets_estate(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_i64(j, 1), GLY_ESTATE);
    assert_int_equal(gly_json_err(j), GLY_ESTATE);
    /* sticky: a correct call afterwards still fails and writes nothing */
    assert_int_equal(gly_json_key(j, "a"), GLY_ESTATE);
    assert_int_equal(gly_json_finish(j), GLY_ESTATE);
    assert_string_equal(text(f), "{");
}

static void json_key_outside_object_sets_estate(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_key(j, "a"), GLY_ESTATE);
    assert_int_equal(gly_json_err(j), GLY_ESTATE);
    assert_string_equal(text(f), "[");

    gly_buf_clear(&f->b);
    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_key(j, "top"), GLY_ESTATE);

    /* two keys in a row: the first one's value is due */
    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "a"), 0);
    assert_int_equal(gly_json_key(j, "b"), GLY_ESTATE);
}

static void json_mismatched_end_sets_estate(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_arr_end(j), GLY_ESTATE);
    assert_int_equal(gly_json_err(j), GLY_ESTATE);

    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_arr_end(j), GLY_ESTATE); /* nothing open */

    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "a"), 0);
    assert_int_equal(gly_json_obj_end(j), GLY_ESTATE); /* the key has no value */

    /* a second top-level value */
    gly_buf_clear(&f->b);
    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_i64(j, 1), 0);
    assert_int_equal(gly_json_i64(j, 2), GLY_ESTATE);
    assert_string_equal(text(f), "1");
}

static void json_depth_past_64_sets_elimit(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    for (int i = 0; i < GLY_JSON_MAX_DEPTH; i++) {
        assert_int_equal(i % 2 ? gly_json_arr_begin(j) : gly_json_obj_begin(j), 0);
        if (i % 2 == 0) {
            assert_int_equal(gly_json_key(j, "k"), 0);
        }
    }
    assert_int_equal(gly_json_arr_begin(j), GLY_ELIMIT);
    assert_int_equal(gly_json_err(j), GLY_ELIMIT);
    assert_int_equal(gly_json_i64(j, 1), GLY_ELIMIT);
    assert_int_equal(gly_json_finish(j), GLY_ELIMIT);

    /* exactly 64 levels is fine */
    gly_buf_clear(&f->b);
    gly_json_init(j, &f->b);
    for (int i = 0; i < GLY_JSON_MAX_DEPTH; i++) {
        assert_int_equal(gly_json_arr_begin(j), 0);
    }
    for (int i = 0; i < GLY_JSON_MAX_DEPTH; i++) {
        assert_int_equal(gly_json_arr_end(j), 0);
    }
    assert_int_equal(gly_json_finish(j), 0);
}

static void json_doubles_round_trip(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;
    const double values[] = {
        0.1,  1e300, -0.0, 5e-324,  1.0 / 3, 123456789.125, -2.5e-8, 1e21,
        1e-7, 0.3,   2.0,  DBL_MAX, DBL_MIN, 1e15 + 0.3,    -1e100,  9007199254740993.0};

    assert_int_equal(gly_json_arr_begin(j), 0);
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        assert_int_equal(gly_json_double(j, values[i]), 0);
    }
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);

    const char *s = text(f);
    assert_int_equal(*s, '[');
    s++;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char *e;
        double back = strtod(s, &e);
        assert_true(e > s);
        for (const char *c = s; c < e; c++) {
            /* only the characters of a JSON number */
            assert_non_null(strchr("0123456789-+.e", *c));
        }
        assert_memory_equal(&back, &values[i], sizeof(double));
        assert_int_equal(*e, i + 1 < sizeof(values) / sizeof(values[0]) ? ',' : ']');
        s = e + 1;
    }
    /* shortest forms */
    assert_non_null(strstr(text(f), "[0.1,1e+300,-0,"));
    assert_non_null(strstr(text(f), ",0.3,2,"));
}

static void json_nan_becomes_null(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_double(j, NAN), 0);
    assert_int_equal(gly_json_double(j, INFINITY), 0);
    assert_int_equal(gly_json_double(j, -INFINITY), 0);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);
    assert_string_equal(text(f), "[null,null,null]");
}

static void json_i64_min_and_u64_max(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_i64(j, INT64_MIN), 0);
    assert_int_equal(gly_json_i64(j, INT64_MAX), 0);
    assert_int_equal(gly_json_i64(j, -1), 0);
    assert_int_equal(gly_json_i64(j, 0), 0);
    assert_int_equal(gly_json_u64(j, UINT64_MAX), 0);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);
    assert_string_equal(text(f), "[-9223372036854775808,9223372036854775807,-1,0,"
                                 "18446744073709551615]");
}

static void json_finish_reports_incomplete_document(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_finish(j), GLY_ESTATE); /* nothing written */
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "a"), 0);
    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_finish(j), GLY_ESTATE);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_finish(j), GLY_ESTATE);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);
    /* asking does not break a good document */
    assert_int_equal(gly_json_err(j), 0);
    assert_string_equal(text(f), "{\"a\":[]}");
}

static void json_raw_inserts_value(void **state)
{
    struct fixture *f = *state;
    gly_json *j = &f->j;

    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_key(j, "a"), 0);
    assert_int_equal(gly_json_raw(j, "[1,2]", 5), 0);
    assert_int_equal(gly_json_key(j, "b"), 0);
    assert_int_equal(gly_json_arr_begin(j), 0);
    assert_int_equal(gly_json_raw(j, "{}", 2), 0);
    assert_int_equal(gly_json_raw(j, "3", 1), 0);
    assert_int_equal(gly_json_arr_end(j), 0);
    assert_int_equal(gly_json_obj_end(j), 0);
    assert_int_equal(gly_json_finish(j), 0);
    assert_string_equal(text(f), "{\"a\":[1,2],\"b\":[{},3]}");

    /* raw is a value like any other: not where a key is due */
    gly_json_init(j, &f->b);
    assert_int_equal(gly_json_obj_begin(j), 0);
    assert_int_equal(gly_json_raw(j, "1", 1), GLY_ESTATE);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(json_writes_nested_objects_and_arrays_with_commas),
        T(json_escapes_control_chars_and_quotes),
        T(json_replaces_invalid_utf8),
        T(json_value_without_key_in_object_sets_estate),
        T(json_key_outside_object_sets_estate),
        T(json_mismatched_end_sets_estate),
        T(json_depth_past_64_sets_elimit),
        T(json_doubles_round_trip),
        T(json_nan_becomes_null),
        T(json_i64_min_and_u64_max),
        T(json_finish_reports_incomplete_document),
        T(json_raw_inserts_value),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
