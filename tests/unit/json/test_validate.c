/*
 * tests/unit/json/test_validate.c - declarative validation: types,
 * constraints, formats, paths, every error at once, and the JSON Schema output.
 */
#include <stdio.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json.h>
#include <galley/json_read.h>
#include <galley/validate.h>

#include "gly_test.h"

static gly_arena arena;
static gly_verrors errs;

static int setup(void **state)
{
    (void)state;
    gly_arena_init(&arena, 0);
    gly_verrors_init(&errs, &arena);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gly_arena_dispose(&arena);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Schemas                                                                  */
/* ------------------------------------------------------------------------ */

static const gly_field user_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
    GLY_FIELD_STR("name", .min_len = 1, .max_len = 5),
    GLY_FIELD_INT("age", .min = 0, .max = 150),
    GLY_FIELD_STR("role", .enum_values = (const char *const[]){"admin", "user", NULL}),
    GLY_FIELD_STR("slug", .pattern = "^[a-z0-9-]+$"),
    GLY_FIELD_NUM("score", .min = 0.5, .max = 9.75),
    GLY_FIELD_BOOL("active"),
    GLY_FIELD_STR("nick", .nullable = true),
    GLY_FIELD_END};
static const gly_schema user_schema = {.fields = user_fields, .additional = false};
static const gly_jv *json_schema_of(const gly_schema *s);

static const gly_field address_fields[] = {
    GLY_FIELD_STR("zip", .required = true, .pattern = "^[0-9]{5}$"),
    GLY_FIELD_STR("city", .min_len = 1), GLY_FIELD_END};
static const gly_schema address_schema = {.fields = address_fields, .additional = false};

static const gly_field order_fields[] = {
    GLY_FIELD_OBJ("address", .required = true, .schema = &address_schema),
    GLY_FIELD_ARR("tags", .min_items = 1, .max_items = 3,
                  .items = &(const gly_field)GLY_ITEM_STR(.max_len = 4)),
    GLY_FIELD_ARR("lines", .items = &(const gly_field)GLY_ITEM_OBJ(.schema = &address_schema)),
    GLY_FIELD_INT("big", .min = -9007199254740993.0, .max = 9223372036854775807.0), GLY_FIELD_END};
static const gly_schema order_schema = {.fields = order_fields, .additional = true};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static const gly_jv *parse(const char *text)
{
    gly_jv *v = NULL;
    gly_json_error e;
    int rc = gly_json_parse(&arena, text, strlen(text), NULL, &v, &e);
    if (rc != 0) {
        fail_msg("test JSON does not parse: %s: %s", text, e.msg);
    }
    return v;
}

/* Validates text against s into the fresh errs; returns the error count. */
static size_t run(const gly_schema *s, const char *text)
{
    gly_verrors_init(&errs, &arena);
    assert_int_equal(gly_validate(s, parse(text), &errs), 0);
    return errs.count;
}

/* Asserts errors[i] has this field and code. */
static void expect(size_t i, const char *field, const char *code)
{
    if (i >= errs.count) {
        fail_msg("expected error %zu (%s %s), have only %zu", i, field, code, errs.count);
    }
    assert_string_equal(errs.items[i].field, field);
    assert_string_equal(errs.items[i].code, code);
}

/* Validates {"v": <value>} against a one-field schema; returns 0 (valid) or the code. */
static const char *one(const gly_field *f, const char *value)
{
    gly_field fields[2] = {*f, GLY_FIELD_END};
    fields[0].name = "v";
    gly_schema s = {.fields = fields, .additional = true};
    char text[512];
    snprintf(text, sizeof text, "{\"v\": %s}", value);
    size_t n = run(&s, text);
    if (n == 0) {
        return NULL;
    }
    assert_int_equal(n, 1);
    assert_string_equal(errs.items[0].field, "v");
    return errs.items[0].code;
}

/* As one(), for a string value (quoted here). */
static const char *one_str(const gly_field *f, const char *s)
{
    char q[400];
    snprintf(q, sizeof q, "\"%s\"", s);
    return one(f, q);
}

static void valid(const gly_field *f, const char *v)
{
    const char *code = one(f, v);
    if (code) {
        fail_msg("%s: expected valid, got %s (%s)", v, code, errs.items[0].message);
    }
}

static void invalid(const gly_field *f, const char *v, const char *code)
{
    const char *got = one(f, v);
    if (got == NULL) {
        fail_msg("%s: expected %s, got valid", v, code);
    }
    assert_string_equal(got, code);
}

static void svalid(const gly_field *f, const char *s)
{
    const char *code = one_str(f, s);
    if (code) {
        fail_msg("\"%s\": expected valid, got %s (%s)", s, code, errs.items[0].message);
    }
}

static void sinvalid(const gly_field *f, const char *s, const char *code)
{
    const char *got = one_str(f, s);
    if (got == NULL) {
        fail_msg("\"%s\": expected %s, got valid", s, code);
    }
    assert_string_equal(got, code);
}

#define VALID(f, v)          valid(&(f), (v))
#define INVALID(f, v, code)  invalid(&(f), (v), (code))
#define SVALID(f, s)         svalid(&(f), (s))
#define SINVALID(f, s, code) sinvalid(&(f), (s), (code))

/* ------------------------------------------------------------------------ */
/* Types and constraints                                                    */
/* ------------------------------------------------------------------------ */

static void valid_document_has_no_errors(void **state)
{
    (void)state;
    assert_int_equal(run(&user_schema, "{\"email\":\"ann@example.com\",\"name\":\"Ann\",\"age\":"
                                       "30,\"role\":\"admin\",\"slug\":\"ann-1\",\"score\":"
                                       "9.75,\"active\":true,\"nick\":null}"),
                     0);
}

static void every_failing_field_is_reported_at_once(void **state)
{
    (void)state;
    assert_int_equal(run(&user_schema, "{\"name\":\"\",\"age\":151,\"role\":\"root\",\"slug\":"
                                       "\"A B\",\"score\":0.25,\"active\":1,\"zzz\":2}"),
                     8);
    expect(0, "email", "required");
    expect(1, "name", "min_length");
    expect(2, "age", "max");
    assert_string_equal(errs.items[2].message, "must be at most 150");
    expect(3, "role", "enum");
    assert_string_equal(errs.items[3].message, "must be one of: admin, user");
    expect(4, "slug", "pattern");
    expect(5, "score", "min");
    assert_string_equal(errs.items[5].message, "must be at least 0.5");
    expect(6, "active", "type");
    expect(7, "zzz", "unknown_field");
    assert_int_equal(errs.total, 8);
}

static void a_non_object_document_is_one_type_error(void **state)
{
    (void)state;
    assert_int_equal(run(&user_schema, "[1]"), 1);
    expect(0, "", "type");
}

static void integers_are_exact_int64(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_INT("v", .min = -5, .max = 10);
    VALID(f, "10");
    VALID(f, "-5");
    VALID(f, "1e1");
    VALID(f, "-0");
    INVALID(f, "11", "max");
    INVALID(f, "-6", "min");
    INVALID(f, "1.5", "type");
    INVALID(f, "9223372036854775808", "type");
    INVALID(f, "\"3\"", "type");
    INVALID(f, "null", "type");
    assert_string_equal(errs.items[0].message, "must be an integer, not null");
}

static void integer_bounds_compare_exactly_past_2_pow_53(void **state)
{
    (void)state;
    /* the bound -9007199254740993.0 is the double -2^53; -2^53 - 1 converts to it too */
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"big\":"
                                        "9223372036854775807}"),
                     0);
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"big\":"
                                        "-9007199254740992}"),
                     0);
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"big\":"
                                        "-9007199254740993}"),
                     1);
    expect(0, "big", "min");
    gly_field unbounded = GLY_FIELD_INT("v");
    VALID(unbounded, "-9223372036854775808");
    VALID(unbounded, "9223372036854775807");
}

static void numbers_accept_any_number_within_bounds(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_NUM("v", .min = -1.5, .max = 2);
    VALID(f, "2");
    VALID(f, "-1.5");
    VALID(f, "1e-3");
    INVALID(f, "2.0000001", "max");
    INVALID(f, "-1.6", "min");
    INVALID(f, "true", "type");
}

static void booleans_accept_only_true_and_false(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_BOOL("v");
    VALID(f, "true");
    VALID(f, "false");
    INVALID(f, "0", "type");
    INVALID(f, "\"true\"", "type");
}

static void string_length_counts_code_points_not_bytes(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .min_len = 2, .max_len = 3);
    SVALID(f, "\xC3\xA9\xC3\xA9\xC3\xA9");         /* 3 code points, 6 bytes */
    SVALID(f, "\xF0\x9F\x98\x80\xF0\x9F\x98\x80"); /* 2 emoji, 8 bytes */
    SINVALID(f, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", "max_length");
    assert_string_equal(errs.items[0].message, "must be at most 3 characters long");
    SINVALID(f, "\xE2\x82\xAC", "min_length");
    INVALID(f, "12", "type");
}

static void nullable_accepts_null_and_still_checks_values(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .nullable = true, .max_len = 1);
    VALID(f, "null");
    SVALID(f, "a");
    SINVALID(f, "ab", "max_length");
    gly_field g = GLY_FIELD_STR("v");
    INVALID(g, "null", "type");
}

static void missing_optional_fields_are_fine_and_required_ones_are_not(void **state)
{
    (void)state;
    assert_int_equal(run(&user_schema, "{\"email\":\"a@b.co\"}"), 0);
    assert_int_equal(run(&user_schema, "{}"), 1);
    expect(0, "email", "required");
    assert_string_equal(errs.items[0].message, "is required");
}

static void partial_schema_requires_nothing_but_checks_what_is_there(void **state)
{
    static const gly_schema patch = {.fields = user_fields, .additional = false, .partial = true};
    (void)state;
    assert_int_equal(run(&patch, "{}"), 0);
    assert_int_equal(run(&patch, "{\"email\":\"not an email\"}"), 1);
    expect(0, "email", "format");
    const gly_jv *doc = json_schema_of(&patch);
    assert_null(gly_jv_get(doc, "required"));
}

static void additional_true_ignores_unknown_members(void **state)
{
    (void)state;
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"x\":1}"), 0);
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\",\"x\":1}}"), 1);
    expect(0, "address.x", "unknown_field");
}

static void enum_matches_whole_strings_only(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .enum_values = (const char *const[]){"a", "bc", NULL});
    SVALID(f, "bc");
    SINVALID(f, "b", "enum");
    SINVALID(f, "bcd", "enum");
    SINVALID(f, "A", "enum");
}

static void pattern_uses_pcre2_in_utf_mode(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .pattern = "^\\p{Lu}.{2}$");
    SVALID(f, "\xC3\x89t\xC3\xA9"); /* "Été": '.' is one code point, \p{Lu} matches É */
    SINVALID(f, "\xC3\xA9t\xC3\xA9", "pattern");
    SINVALID(f, "Abcd", "pattern");
    gly_field unanchored = GLY_FIELD_STR("v", .pattern = "[0-9]");
    SVALID(unanchored, "ab1");
    assert_string_equal(one_str(&f, "x"), "pattern");
    assert_string_equal(errs.items[0].message, "must match the pattern ^\\p{Lu}.{2}$");
}

static void a_broken_pattern_fails_the_validation_with_einval(void **state)
{
    (void)state;
    static const gly_field fields[] = {GLY_FIELD_STR("v", .pattern = "(unclosed"), GLY_FIELD_END};
    static const gly_schema s = {.fields = fields};
    assert_int_equal(gly_validate(&s, parse("{\"v\":\"x\"}"), &errs), GLY_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Nesting and arrays                                                       */
/* ------------------------------------------------------------------------ */

static void nested_objects_report_dotted_paths(void **state)
{
    (void)state;
    assert_int_equal(run(&order_schema, "{\"address\":{\"city\":\"\"}}"), 2);
    expect(0, "address.zip", "required");
    expect(1, "address.city", "min_length");
    assert_int_equal(run(&order_schema, "{\"address\":\"x\"}"), 1);
    expect(0, "address", "type");
    assert_int_equal(run(&order_schema, "{}"), 1);
    expect(0, "address", "required");
}

static void array_items_report_indexed_paths(void **state)
{
    (void)state;
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"tags\":[\"ok\",\"ok\","
                                        "\"toolong\"],\"lines\":[{\"zip\":\"1\"},{\"zip\":"
                                        "\"12345\"},{}]}"),
                     3);
    expect(0, "tags[2]", "max_length");
    expect(1, "lines[0].zip", "pattern");
    expect(2, "lines[2].zip", "required");
}

static void array_item_counts_are_bounded(void **state)
{
    (void)state;
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"tags\":[]}"), 1);
    expect(0, "tags", "min_items");
    assert_int_equal(
        run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"tags\":[\"a\",\"b\",\"c\",\"d\"]}"),
        1);
    expect(0, "tags", "max_items");
    assert_string_equal(errs.items[0].message, "must have at most 3 items");
    assert_int_equal(run(&order_schema, "{\"address\":{\"zip\":\"12345\"},\"tags\":{}}"), 1);
    expect(0, "tags", "type");
}

static void errors_past_the_cap_are_counted_not_stored(void **state)
{
    (void)state;
    char text[4096] = "{\"address\":{\"zip\":\"12345\"},\"lines\":[";
    for (int i = 0; i < 150; i++) {
        strcat(text, i ? ",1" : "1");
    }
    strcat(text, "]}");
    assert_int_equal(run(&order_schema, text), GLY_VERRORS_MAX);
    assert_int_equal(errs.total, 150);
    expect(99, "lines[99]", "type");
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */
/* ------------------------------------------------------------------------ */

static void email_format_is_pragmatic(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_EMAIL);
    SVALID(f, "ann@example.com");
    SVALID(f, "a.b+tag@mail.example.co.uk");
    SINVALID(f, "ann@localhost", "format"); /* dot-less domain */
    SINVALID(f, "ann.example.com", "format");
    SINVALID(f, "a@@example.com", "format");
    SINVALID(f, ".ann@example.com", "format");
    SINVALID(f, "a..b@example.com", "format");
    SINVALID(f, "ann@-example.com", "format");
    SINVALID(f, "ann@example..com", "format");
    SINVALID(f, "a b@example.com", "format");
    char local[80];
    memset(local, 'a', 65);
    strcpy(local + 65, "@example.com");
    SINVALID(f, local, "format"); /* local part over 64 bytes */
    local[1] = '@';
    local[2] = '\0';
    SINVALID(f, local, "format");
}

static void url_format_takes_absolute_http_urls(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_URL);
    SVALID(f, "https://example.com");
    SVALID(f, "HTTP://user:pw@example.com:8080/a/b?q=1&r=%20#frag");
    SVALID(f, "http://[::1]:80/");
    SINVALID(f, "ftp://example.com/", "format");
    SINVALID(f, "example.com", "format");
    SINVALID(f, "https://", "format");
    SINVALID(f, "https:///path", "format");
    SINVALID(f, "https://exa mple.com", "format");
    SINVALID(f, "https://example.com:0/", "format");
    SINVALID(f, "https://example.com:65536/", "format");
    SINVALID(f, "https://example.com/%zz", "format");
}

static void uuid_format_is_8_4_4_4_12_hex(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_UUID);
    SVALID(f, "123e4567-e89b-12d3-a456-426614174000");
    SVALID(f, "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF");
    SINVALID(f, "123e4567e89b12d3a456426614174000", "format");
    SINVALID(f, "123e4567-e89b-12d3-a456-42661417400g", "format");
    SINVALID(f, "123e4567-e89b-12d3-a456-4266141740000", "format");
}

static void date_format_checks_calendar_dates(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_DATE);
    SVALID(f, "2024-02-29");
    SVALID(f, "2000-02-29");
    SINVALID(f, "1900-02-29", "format");
    SINVALID(f, "2026-02-29", "format");
    SINVALID(f, "2026-04-31", "format");
    SINVALID(f, "2026-13-01", "format");
    SINVALID(f, "2026-1-01", "format");
    SINVALID(f, "2026-01-01T00:00:00Z", "format");
}

static void date_time_format_is_rfc3339_with_offset(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_DATE_TIME);
    SVALID(f, "2026-01-31T12:00:00Z");
    SVALID(f, "2026-01-31t12:00:00.123456z");
    SVALID(f, "2026-01-31T23:59:59+05:30");
    SVALID(f, "2024-02-29T00:00:00-00:00");
    SINVALID(f, "2026-02-29T00:00:00Z", "format"); /* not a leap year */
    SINVALID(f, "2026-01-31T12:00:00", "format");  /* no offset */
    SINVALID(f, "2026-01-31 12:00:00Z", "format");
    SINVALID(f, "2026-01-31T24:00:00Z", "format");
    SINVALID(f, "2026-01-31T12:60:00Z", "format");
    SINVALID(f, "2026-01-31T12:00:00.Z", "format");
    SINVALID(f, "2026-01-31T12:00:00+24:00", "format");
    SINVALID(f, "2026-01-31T12:00:00+0100", "format");
}

static void leap_seconds_are_accepted_only_at_23_59_utc(void **state)
{
    (void)state;
    gly_field f = GLY_FIELD_STR("v", .format = GLY_FMT_DATE_TIME);
    SVALID(f, "2024-02-29T23:59:60Z");
    SVALID(f, "1998-12-31T15:59:60.123-08:00");
    SINVALID(f, "2024-02-29T12:59:60Z", "format");
    SINVALID(f, "2024-02-29T23:59:60+01:00", "format");
}

/* ------------------------------------------------------------------------ */
/* JSON Schema output                                                       */
/* ------------------------------------------------------------------------ */

static const gly_jv *json_schema_of(const gly_schema *s)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, &arena, 0);
    gly_json_init(&j, &b);
    assert_int_equal(gly_schema_to_json_schema(s, &j), 0);
    assert_int_equal(gly_json_finish(&j), 0);
    return parse(gly_buf_cstr(&b));
}

static void json_schema_describes_every_constraint(void **state)
{
    (void)state;
    const gly_jv *js = json_schema_of(&user_schema);
    assert_string_equal(gly_jv_str(gly_jv_get(js, "type")).p, "object");
    assert_int_equal(gly_jv_type(gly_jv_get(js, "additionalProperties")), GLY_JSON_BOOL);
    assert_false(gly_jv_bool(gly_jv_get(js, "additionalProperties")));
    const gly_jv *req = gly_jv_get(js, "required");
    assert_int_equal(gly_jv_len(req), 1);
    assert_string_equal(gly_jv_str(gly_jv_at(req, 0)).p, "email");

    const gly_jv *props = gly_jv_get(js, "properties");
    assert_int_equal(gly_jv_len(props), 8);
    const gly_jv *email = gly_jv_get(props, "email");
    assert_string_equal(gly_jv_str(gly_jv_get(email, "format")).p, "email");
    int64_t n;
    assert_true(gly_jv_i64(gly_jv_get(email, "maxLength"), &n));
    assert_int_equal(n, 254);
    assert_null(gly_jv_get(email, "minLength"));

    const gly_jv *age = gly_jv_get(props, "age");
    assert_string_equal(gly_jv_str(gly_jv_get(age, "type")).p, "integer");
    assert_string_equal(gly_jv_num_raw(gly_jv_get(age, "minimum")).p, "0");
    assert_string_equal(gly_jv_num_raw(gly_jv_get(age, "maximum")).p, "150");
    const gly_jv *score = gly_jv_get(props, "score");
    assert_true(gly_jv_double(gly_jv_get(score, "maximum")) == 9.75);

    const gly_jv *role = gly_jv_get(props, "role");
    assert_int_equal(gly_jv_len(gly_jv_get(role, "enum")), 2);
    assert_string_equal(gly_jv_str(gly_jv_at(gly_jv_get(role, "enum"), 1)).p, "user");
    assert_string_equal(gly_jv_str(gly_jv_get(gly_jv_get(props, "slug"), "pattern")).p,
                        "^[a-z0-9-]+$");
    assert_string_equal(gly_jv_str(gly_jv_get(gly_jv_get(props, "active"), "type")).p, "boolean");

    const gly_jv *nick_type = gly_jv_get(gly_jv_get(props, "nick"), "type");
    assert_int_equal(gly_jv_len(nick_type), 2);
    assert_string_equal(gly_jv_str(gly_jv_at(nick_type, 0)).p, "string");
    assert_string_equal(gly_jv_str(gly_jv_at(nick_type, 1)).p, "null");
}

static void json_schema_nests_objects_and_arrays(void **state)
{
    (void)state;
    const gly_jv *js = json_schema_of(&order_schema);
    assert_null(gly_jv_get(js, "additionalProperties"));
    const gly_jv *props = gly_jv_get(js, "properties");
    const gly_jv *addr = gly_jv_get(props, "address");
    assert_string_equal(gly_jv_str(gly_jv_get(addr, "type")).p, "object");
    assert_false(gly_jv_bool(gly_jv_get(addr, "additionalProperties")));
    assert_string_equal(
        gly_jv_str(gly_jv_get(gly_jv_get(gly_jv_get(addr, "properties"), "zip"), "pattern")).p,
        "^[0-9]{5}$");
    const gly_jv *tags = gly_jv_get(props, "tags");
    assert_string_equal(gly_jv_str(gly_jv_get(tags, "type")).p, "array");
    assert_string_equal(gly_jv_num_raw(gly_jv_get(tags, "minItems")).p, "1");
    assert_string_equal(gly_jv_num_raw(gly_jv_get(tags, "maxItems")).p, "3");
    const gly_jv *items = gly_jv_get(tags, "items");
    assert_string_equal(gly_jv_str(gly_jv_get(items, "type")).p, "string");
    assert_string_equal(gly_jv_num_raw(gly_jv_get(items, "maxLength")).p, "4");
    const gly_jv *lines = gly_jv_get(props, "lines");
    assert_non_null(gly_jv_get(gly_jv_get(gly_jv_get(lines, "items"), "properties"), "zip"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(valid_document_has_no_errors),
        T(every_failing_field_is_reported_at_once),
        T(a_non_object_document_is_one_type_error),
        T(integers_are_exact_int64),
        T(integer_bounds_compare_exactly_past_2_pow_53),
        T(numbers_accept_any_number_within_bounds),
        T(booleans_accept_only_true_and_false),
        T(string_length_counts_code_points_not_bytes),
        T(nullable_accepts_null_and_still_checks_values),
        T(missing_optional_fields_are_fine_and_required_ones_are_not),
        T(partial_schema_requires_nothing_but_checks_what_is_there),
        T(additional_true_ignores_unknown_members),
        T(enum_matches_whole_strings_only),
        T(pattern_uses_pcre2_in_utf_mode),
        T(a_broken_pattern_fails_the_validation_with_einval),
        T(nested_objects_report_dotted_paths),
        T(array_items_report_indexed_paths),
        T(array_item_counts_are_bounded),
        T(errors_past_the_cap_are_counted_not_stored),
        T(email_format_is_pragmatic),
        T(url_format_takes_absolute_http_urls),
        T(uuid_format_is_8_4_4_4_12_hex),
        T(date_format_checks_calendar_dates),
        T(date_time_format_is_rfc3339_with_offset),
        T(leap_seconds_are_accepted_only_at_23_59_utc),
        T(json_schema_describes_every_constraint),
        T(json_schema_nests_objects_and_arrays),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
