/*
 * tests/unit/records/test_filter.c - the filter language, sorts and keyset
 * conditions (src/records/filter.c).
 *
 * Three kinds of tests: the exact SQL and parameters compiled for both
 * dialects; errors with their positions and messages, and hostile inputs
 * that must be refused without a byte of them reaching the SQL; and the
 * SQLite SQL executed against a real in-memory database, to check that
 * what the SQL means is what docs/filter.md says.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/json_read.h>

#include "db/internal.h"
#include "gly_test.h"
#include "records/filter.h"
#include "records/filter_schema.h"

/* ------------------------------------------------------------------------ */
/* Compiling                                                                */
/* ------------------------------------------------------------------------ */

static gly_arena arena;
static gly_buf sql;
static struct flt F;
static const gly_row *auth_row; /* @request.auth of the next compilation */
static const gly_jv *body;      /* @request.body of the next compilation */

static int setup(void **state)
{
    (void)state;
    fs_init();
    gly_arena_init(&arena, 0);
    auth_row = NULL;
    body = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gly_arena_dispose(&arena);
    return 0;
}

static void reset(enum flt_dialect d, const struct coll *coll)
{
    gly_buf_init(&sql, NULL, 0, &arena, 0);
    F = (struct flt){.arena = &arena,
                     .schema = &fs_schema,
                     .coll = coll,
                     .alias = "r",
                     .dialect = d,
                     .auth = auth_row,
                     .body = body,
                     .now = "2024-06-01T00:00:00.000Z",
                     .sql = &sql};
}

/* Compiles src (n bytes) over posts in dialect d from a guarded copy. */
static int compile_n(enum flt_dialect d, const char *src, size_t n)
{
    struct gly_test_guard g;
    char *p = gly_test_guarded(src, n, &g);
    reset(d, &fs_posts);
    int rc = flt_where(&F, p, n);
    gly_test_unguard(&g);
    gly_buf_cstr(&sql);
    return rc;
}

static int compile(enum flt_dialect d, const char *src)
{
    return compile_n(d, src, strlen(src));
}

/* The parameters as one line: 'text', 5, 1.5, NULL. */
static const char *params_str(void)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, &arena, 0);
    for (unsigned i = 0; i < F.nparams; i++) {
        const gly_db_val *v = &F.params[i];
        if (i)
            gly_buf_puts(&b, ", ");
        if (v->type == GLY_DB_TEXT)
            gly_buf_printf(&b, "'%.*s'", (int)v->v.s.n, v->v.s.p);
        else if (v->type == GLY_DB_INT)
            gly_buf_printf(&b, "%lld", (long long)v->v.i);
        else if (v->type == GLY_DB_REAL)
            gly_buf_printf(&b, "%g", v->v.d);
        else
            gly_buf_puts(&b, "NULL");
    }
    return gly_buf_cstr(&b);
}

/* One filter, its SQL in each dialect and its parameters. */
struct sql_case {
    const char *src, *sqlite, *pg, *params;
};

static void check_cases(const struct sql_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sql_case *t = &cases[i];
        for (int d = FLT_SQLITE; d <= FLT_PG; d++) {
            int rc = compile((enum flt_dialect)d, t->src);
            if (rc != 0)
                fail_msg("%s: rc %d at %zu: %s", t->src, rc, F.err_pos, F.err_msg);
            const char *want = d == FLT_PG && t->pg ? t->pg : t->sqlite;
            if (strcmp(sql.p, want) != 0)
                fail_msg("%s (%s)\n  got  %s\n  want %s", t->src, d ? "pg" : "sqlite", sql.p, want);
            if (strcmp(params_str(), t->params) != 0)
                fail_msg("%s: params %s, want %s", t->src, params_str(), t->params);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* SQL                                                                      */
/* ------------------------------------------------------------------------ */

static void plain_columns_compile_to_indexable_comparisons(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"", "(1=1)", NULL, ""},
        {" \t\r\n ", "(1=1)", NULL, ""},
        {"title = \"Hello\"", "(r.\"title\" = $1)", NULL, "'Hello'"},
        {"title='it\\'s'", "(r.\"title\" = $1)", NULL, "'it's'"},
        {"title = \"a\\\\b\\n\"", "(r.\"title\" = $1)", NULL, "'a\\b\\n'"},
        {"title != \"x\"", "(r.\"title\" IS NOT $1)", "(r.\"title\" IS DISTINCT FROM $1)", "'x'"},
        {"votes > 5", "(r.\"votes\" > $1)", NULL, "5"},
        {"votes >= -2.5e1", "(r.\"votes\" >= $1)", NULL, "-25"},
        {"votes < 0.5", "(r.\"votes\" < $1)", NULL, "0.5"},
        {"votes <= 12345678901234567890", "(r.\"votes\" <= $1)", NULL, "1.23457e+19"},
        {"5 < votes", "(r.\"votes\" > $1)", NULL, "5"},
        {"published = true", "(r.\"published\" = $1)", NULL, "1"},
        {"published != false", "(r.\"published\" IS NOT $1)",
         "(r.\"published\" IS DISTINCT FROM $1)", "0"},
        {"author = \"u1\"", "(r.\"author\" = $1)", NULL, "'u1'"},
        {"author != \"u1\"", "(r.\"author\" IS NOT $1)", "(r.\"author\" IS DISTINCT FROM $1)",
         "'u1'"},
        {"when > @now", "(r.\"when\" > $1)", NULL, "'2024-06-01T00:00:00.000Z'"},
        {"created = updated", "(r.\"created\" IS r.\"updated\")",
         "(r.\"created\" IS NOT DISTINCT FROM r.\"updated\")", ""},
        {"votes > published", "(r.\"votes\" > r.\"published\")", NULL, ""},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void empty_and_null_match_empty_values(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"title = \"\"", "((r.\"title\" IS NULL OR r.\"title\" = ''))", NULL, ""},
        {"title = null", "((r.\"title\" IS NULL OR r.\"title\" = ''))", NULL, ""},
        {"title != null", "((r.\"title\" IS NOT NULL AND r.\"title\" <> ''))", NULL, ""},
        {"author = \"\"", "((r.\"author\" IS NULL OR r.\"author\" = ''))", NULL, ""},
        {"null = author", "((r.\"author\" IS NULL OR r.\"author\" = ''))", NULL, ""},
        {"author != \"\"", "((r.\"author\" IS NOT NULL AND r.\"author\" <> ''))", NULL, ""},
        {"meta = null", "((r.\"meta\" IS NULL OR r.\"meta\" = 'null'))", NULL, ""},
        {"meta != null", "((r.\"meta\" IS NOT NULL AND r.\"meta\" <> 'null'))", NULL, ""},
        {"votes = null", "(r.\"votes\" IS NULL)", NULL, ""},
        {"title > \"\"", "(r.\"title\" > $1)", NULL, "''"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void like_wraps_and_escapes_unless_the_value_has_a_percent(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"title ~ \"hel_lo\"", "(r.\"title\" LIKE $1 ESCAPE '\\')",
         "(r.\"title\" ILIKE $1 ESCAPE '\\')", "'%hel\\_lo%'"},
        {"title ~ \"a\\\\b\"", "(r.\"title\" LIKE $1 ESCAPE '\\')",
         "(r.\"title\" ILIKE $1 ESCAPE '\\')", "'%a\\\\b%'"},
        {"title ~ \"10%\"", "(r.\"title\" LIKE $1 ESCAPE '\\')",
         "(r.\"title\" ILIKE $1 ESCAPE '\\')", "'10%'"},
        {"title ~ \"%x\\\\\"", "(r.\"title\" LIKE $1 ESCAPE '\\')",
         "(r.\"title\" ILIKE $1 ESCAPE '\\')", "'%x\\\\'"},
        {"title !~ \"x\"", "(r.\"title\" NOT LIKE $1 ESCAPE '\\')",
         "(r.\"title\" NOT ILIKE $1 ESCAPE '\\')", "'%x%'"},
        {"author !~ \"u\"", "((r.\"author\" IS NULL OR r.\"author\" NOT LIKE $1 ESCAPE '\\'))",
         "((r.\"author\" IS NULL OR r.\"author\" NOT ILIKE $1 ESCAPE '\\'))", "'%u%'"},
        {"meta ~ \"k\"", "(r.\"meta\" LIKE $1 ESCAPE '\\')",
         "(CAST(r.\"meta\" AS TEXT) ILIKE $1 ESCAPE '\\')", "'%k%'"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void multi_valued_fields_are_any_with_question_mark_and_every_without(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"tags ?= \"a\"",
         "(EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r1 WHERE r1.value = $1))",
         "(EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS r1(value) WHERE "
         "r1.value = $1))",
         "'a'"},
        {"tags = \"a\"",
         "((NOT EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r1 WHERE NOT (r1.value = $1)) AND "
         "EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r2)))",
         "((NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS r1(value) WHERE "
         "NOT (r1.value = $1)) AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS "
         "r2(value))))",
         "'a'"},
        {"tags != \"a\"",
         "(NOT EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r1 WHERE NOT (r1.value <> $1)))",
         "(NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS r1(value) WHERE "
         "NOT (r1.value <> $1)))",
         "'a'"},
        {"tags ?!= \"a\"",
         "((EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r1 WHERE r1.value <> $1) OR NOT EXISTS "
         "(SELECT 1 FROM json_each(r.\"tags\") AS r2)))",
         "((EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS r1(value) WHERE "
         "r1.value <> $1) OR NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS "
         "r2(value))))",
         "'a'"},
        {"tags = \"\"",
         "(NOT EXISTS (SELECT 1 FROM json_each(r.\"tags\") AS r1 WHERE NOT (r1.value = '')))",
         "(NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"tags\") AS r1(value) WHERE "
         "NOT (r1.value = '')))",
         ""},
        {"reviewers ?= \"u2\"",
         "(EXISTS (SELECT 1 FROM json_each(r.\"reviewers\") AS r1 WHERE r1.value = $1))",
         "(EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"reviewers\") AS r1(value) WHERE "
         "r1.value = $1))",
         "'u2'"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void relation_paths_compile_to_subqueries_with_own_aliases(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"author.name = \"ann\"",
         "(EXISTS (SELECT 1 FROM \"users\" AS r1 WHERE r1.\"id\" = r.\"author\" AND r1.\"name\" = "
         "$1))",
         NULL, "'ann'"},
        {"author.name != \"ann\"",
         "((EXISTS (SELECT 1 FROM \"users\" AS r1 WHERE r1.\"id\" = r.\"author\" AND r1.\"name\" "
         "<> $1) OR NOT EXISTS (SELECT 1 FROM \"users\" AS r2 WHERE r2.\"id\" = r.\"author\")))",
         NULL, "'ann'"},
        {"author.team.name ~ \"re\"",
         "(EXISTS (SELECT 1 FROM \"users\" AS r1 JOIN \"teams\" AS r2 ON r2.\"id\" = r1.\"team\" "
         "WHERE r1.\"id\" = r.\"author\" AND r2.\"name\" LIKE $1 ESCAPE '\\'))",
         "(EXISTS (SELECT 1 FROM \"users\" AS r1 JOIN \"teams\" AS r2 ON r2.\"id\" = r1.\"team\" "
         "WHERE r1.\"id\" = r.\"author\" AND r2.\"name\" ILIKE $1 ESCAPE '\\'))",
         "'%re%'"},
        {"author.team = \"\"",
         "((EXISTS (SELECT 1 FROM \"users\" AS r1 WHERE r1.\"id\" = r.\"author\" AND "
         "COALESCE(r1.\"team\", '') = '') OR NOT EXISTS (SELECT 1 FROM \"users\" AS r2 WHERE "
         "r2.\"id\" = r.\"author\")))",
         NULL, ""},
        {"reviewers.name ?= \"bob\"",
         "(EXISTS (SELECT 1 FROM json_each(r.\"reviewers\") AS r1 JOIN \"users\" AS r2 ON "
         "r2.\"id\" = r1.value WHERE r2.\"name\" = $1))",
         "(EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"reviewers\") AS r1(value) JOIN "
         "\"users\" AS r2 ON r2.\"id\" = r1.value WHERE r2.\"name\" = $1))",
         "'bob'"},
        {"title = \"a\" && reviewers.team.name = \"red\"",
         "(r.\"title\" = $1 AND (NOT EXISTS (SELECT 1 FROM json_each(r.\"reviewers\") AS r1 JOIN "
         "\"users\" AS r2 ON r2.\"id\" = r1.value JOIN \"teams\" AS r3 ON r3.\"id\" = r2.\"team\" "
         "WHERE NOT (r3.\"name\" = $2)) AND EXISTS (SELECT 1 FROM json_each(r.\"reviewers\") AS "
         "r4 JOIN \"users\" AS r5 ON r5.\"id\" = r4.value JOIN \"teams\" AS r6 ON r6.\"id\" = "
         "r5.\"team\")))",
         "(r.\"title\" = $1 AND (NOT EXISTS (SELECT 1 FROM "
         "jsonb_array_elements_text(r.\"reviewers\") "
         "AS r1(value) JOIN \"users\" AS r2 ON r2.\"id\" = r1.value JOIN \"teams\" AS r3 ON "
         "r3.\"id\" "
         "= r2.\"team\" WHERE NOT (r3.\"name\" = $2)) AND EXISTS (SELECT 1 FROM "
         "jsonb_array_elements_text(r.\"reviewers\") AS r4(value) JOIN \"users\" AS r5 ON "
         "r5.\"id\" "
         "= r4.value JOIN \"teams\" AS r6 ON r6.\"id\" = r5.\"team\")))",
         "'a', 'red'"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void and_or_and_parentheses_group_as_written(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"title = \"a\" && votes > 1 || published = true",
         "((r.\"title\" = $1 AND r.\"votes\" > $2) OR r.\"published\" = $3)", NULL, "'a', 1, 1"},
        {"title = \"a\" && (votes > 1 || published = true)",
         "(r.\"title\" = $1 AND (r.\"votes\" > $2 OR r.\"published\" = $3))", NULL, "'a', 1, 1"},
        {"((((title = \"a\"))))", "(r.\"title\" = $1)", NULL, "'a'"},
        {"(title=\"a\")&&(title=\"b\")&&(title=\"c\")",
         "(r.\"title\" = $1 AND r.\"title\" = $2 AND r.\"title\" = $3)", NULL, "'a', 'b', 'c'"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void comparisons_of_known_values_are_decided_at_compile_time(void **state)
{
    (void)state;
    static const struct sql_case cases[] = {
        {"\"a\" = \"a\"", "(1=1)", NULL, ""},
        {"1 = 1.0", "(1=1)", NULL, ""},
        {"\"\" = null", "(1=1)", NULL, ""},
        {"2 > 10", "(1=0)", NULL, ""},
        {"\"b\" > \"a\"", "(1=1)", NULL, ""},
        {"\"Hello\" ~ \"ELL\"", "(1=1)", NULL, ""},
        {"\"a_c\" ~ \"a%\"", "(1=1)", NULL, ""},
        {"\"abc\" ~ \"a_c\"", "(1=0)", NULL, ""},
        {"\"abc\" !~ \"z\"", "(1=1)", NULL, ""},
        {"@request.auth.id = \"\"", "(1=1)", NULL, ""},
        {"@request.auth.id != \"\" || title = \"x\"", "(1=0 OR r.\"title\" = $1)", NULL, "'x'"},
        {"1 = \"1\"", "(1=0)", NULL, ""},
        {"true = 1", "(1=1)", NULL, ""},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

/* A one-row result standing for the signed-in user. */
static const gly_row *make_auth(const char *id, const char *role, int64_t verified)
{
    gly_res *res = gly__res_new(&arena, 4);
    assert_non_null(res);
    gly__res_name(res, &arena, 0, "id");
    gly__res_name(res, &arena, 1, "role");
    gly__res_name(res, &arena, 2, "email_verified");
    gly__res_name(res, &arena, 3, "name");
    gly_db_val *v = gly__res_push(res, &arena);
    assert_non_null(v);
    v[0] = GLY_TEXT(id);
    v[1] = GLY_TEXT(role);
    v[2] = GLY_I64(verified);
    v[3] = GLY_NULL;
    return gly_res_row(res, 0);
}

static const gly_jv *make_body(const char *json)
{
    gly_jv *v = NULL;
    assert_int_equal(gly_json_parse(&arena, json, strlen(json), NULL, &v, NULL), 0);
    return v;
}

static void auth_values_are_parameters_and_a_guest_matches_no_owner(void **state)
{
    (void)state;
    auth_row = make_auth("u1", "admin", 1);
    static const struct sql_case user[] = {
        {"author = @request.auth.id", "(r.\"author\" = $1)", NULL, "'u1'"},
        {"@request.auth.id = author", "(r.\"author\" = $1)", NULL, "'u1'"},
        {"reviewers ?= @request.auth.id",
         "(EXISTS (SELECT 1 FROM json_each(r.\"reviewers\") AS r1 WHERE r1.value = $1))",
         "(EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.\"reviewers\") AS r1(value) WHERE "
         "r1.value = $1))",
         "'u1'"},
        {"@request.auth.role = \"admin\"", "(1=1)", NULL, ""},
        {"@request.auth.email_verified = true", "(1=1)", NULL, ""},
        {"@request.auth.name = null", "(1=1)", NULL, ""},
        {"@request.auth.nosuch = null", "(1=1)", NULL, ""},
        {"votes > @request.auth.email_verified", "(r.\"votes\" > $1)", NULL, "1"},
        {"published = @request.auth.email_verified", "(r.\"published\" = $1)", NULL, "1"},
        {"title = @request.auth.email_verified", "(r.\"title\" = $1)", NULL, "'1'"},
    };
    check_cases(user, sizeof user / sizeof user[0]);
    auth_row = NULL;
    static const struct sql_case guest[] = {
        {"author = @request.auth.id", "(1=0)", NULL, ""},
        {"author != @request.auth.id", "(1=1)", NULL, ""},
        {"title = @request.auth.id", "(r.\"title\" = $1)", NULL, "''"},
        {"@request.auth.id != \"\" && author = @request.auth.id", "(1=0 AND 1=0)", NULL, ""},
        {"@request.auth.role = \"admin\"", "(1=0)", NULL, ""},
    };
    check_cases(guest, sizeof guest / sizeof guest[0]);
}

static void body_values_convert_to_the_field_type_or_decide_the_comparison(void **state)
{
    (void)state;
    body = make_body("{\"title\":\"Hi\",\"votes\":\"10\",\"n\":7,\"bad\":\"x\",\"b\":true,"
                     "\"arr\":[1,\"a\"],\"z\":\"a\\u0000b\",\"nul\":null}");
    static const struct sql_case cases[] = {
        {"title = @request.body.title", "(r.\"title\" = $1)", NULL, "'Hi'"},
        {"votes = @request.body.votes", "(r.\"votes\" = $1)", NULL, "10"},
        {"votes < @request.body.n", "(r.\"votes\" < $1)", NULL, "7"},
        {"votes = @request.body.bad", "(1=0)", NULL, ""},
        {"votes != @request.body.bad", "(1=1)", NULL, ""},
        {"published = @request.body.b", "(r.\"published\" = $1)", NULL, "1"},
        {"title = @request.body.arr", "(r.\"title\" = $1)", NULL, "'[1,\"a\"]'"},
        {"title = @request.body.z", "(1=0)", NULL, ""},
        {"title = @request.body.nul", "(1=0)", NULL, ""},
        {"title = @request.body.missing", "(1=0)", NULL, ""},
        {"@request.body.missing = null", "(1=1)", NULL, ""},
        {"@request.body.n > 5", "(1=1)", NULL, ""},
        {"title ~ @request.body.title", "(r.\"title\" LIKE $1 ESCAPE '\\')",
         "(r.\"title\" ILIKE $1 ESCAPE '\\')", "'%Hi%'"},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

static void parameter_numbers_continue_from_the_callers(void **state)
{
    (void)state;
    reset(FLT_SQLITE, &fs_posts);
    gly_buf_puts(&sql, "r.\"id\" = $1 AND ");
    assert_int_equal(flt_param(&F, GLY_TEXT("x")), 0);
    gly_buf_puts(&sql, " AND ");
    assert_int_equal(flt_where(&F, "title = \"a\" || votes = 2", 24), 0);
    assert_string_equal(gly_buf_cstr(&sql),
                        "r.\"id\" = $1 AND $1 AND (r.\"title\" = $2 OR r.\"votes\" = $3)");
    assert_int_equal(F.nparams, 3);
    assert_string_equal(params_str(), "'x', 'a', 2");
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

struct err_case {
    const char *src;
    size_t pos;
    const char *msg;
};

static void check_errors(const struct err_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct err_case *t = &cases[i];
        for (int d = FLT_SQLITE; d <= FLT_PG; d++) {
            int rc = compile((enum flt_dialect)d, t->src);
            if (rc != GLY_EINVAL)
                fail_msg("%s: rc %d, sql %s", t->src, rc, sql.p);
            if (F.err_pos != t->pos || strcmp(F.err_msg, t->msg) != 0)
                fail_msg("%s: error at %zu \"%s\", want at %zu \"%s\"", t->src, F.err_pos,
                         F.err_msg, t->pos, t->msg);
            assert_int_equal(sql.len, 0);
            assert_int_equal(F.nparams, 0);
        }
    }
}

static void syntax_errors_name_the_position_and_the_token(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {")", 0, "unexpected \")\""},
        {"title = \"a\")", 11, "unexpected \")\""},
        {"(title = 1", 10, "unexpected end of filter"},
        {"title", 5, "unexpected end of filter"},
        {"title =", 7, "unexpected end of filter"},
        {"title \"a\"", 6, "unexpected string"},
        {"title = \"a\" title = \"b\"", 12, "unexpected \"title\""},
        {"title == \"a\"", 7, "unexpected \"=\""},
        {"title = \"a\" & votes = 1", 12, "unexpected \"&\""},
        {"title = \"a\" | votes = 1", 12, "unexpected \"|\""},
        {"title = \"a\" ||", 14, "unexpected end of filter"},
        {"&& title = \"a\"", 0, "unexpected \"&&\""},
        {"title = \"abc", 8, "unterminated string"},
        {"title = 'abc\\'", 8, "unterminated string"},
        {"title = \"\xc3\x28\"", 9, "invalid UTF-8 in string"},
        {"title = \"\xed\xa0\x80\"", 9, "invalid UTF-8 in string"},
        {"votes = 1.", 8, "invalid number"},
        {"votes = 1e", 8, "invalid number"},
        {"votes = 12ab", 8, "invalid number"},
        {"votes = 1e999", 8, "number out of range"},
        {"votes = -", 8, "unexpected \"-\""},
        {"title ?", 6, "expected an operator after \"?\""},
        {"title # 1", 6, "unexpected \"#\""},
        {"title = \xc3\xa9", 8, "unexpected byte 0xC3"},
        {"title. = 1", 6, "expected a name after \".\""},
        {"@ = 1", 1, "expected a name after \"@\""},
        {"@request.auth = 1", 0, "unknown variable \"@request.auth\""},
        {"@request.auth.team.name = 1", 0, "unknown variable \"@request.auth.team.name\""},
        {"@nope = 1", 0, "unknown variable \"@nope\""},
    };
    check_errors(cases, sizeof cases / sizeof cases[0]);
}

static void schema_errors_point_at_the_field_or_the_literal(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {"titel = \"a\"", 0, "unknown field \"titel\""},
        {"votes > 1 && author.nmae = \"a\"", 20, "unknown field \"nmae\""},
        {"author.password_hash = \"x\"", 7, "unknown field \"password_hash\""},
        {"title.name = \"x\"", 0, "\"title\" is not a relation"},
        {"votes > \"abc\"", 8, "\"votes\" is a number: compare it with a number"},
        {"title = 5", 8, "\"title\" is text: compare it with a string"},
        {"title = true", 8, "\"title\" is text: compare it with a string"},
        {"published = 1", 12, "\"published\" is a bool: compare it with true or false"},
        {"votes ~ \"1\"", 6, "\"votes\" is not text: ~ compares text"},
        {"title > null", 8, "null can only be compared with = or !="},
        {"meta = \"x\"", 5, "\"meta\" is json: use = null, != null, ~ or !~"},
        {"\"x\" ~ title", 4, "~ needs the field on its left"},
        {"title ~ votes", 6, "~ compares a field with a value"},
        {"title = votes", 8, "cannot compare \"title\" with \"votes\""},
        {"tags = title", 0, "a relation path or multi-valued field compares with a value"},
        {"title = author.name", 8, "a relation path or multi-valued field compares with a value"},
        {"tags ~ 1", 7, "\"tags\" is text: compare it with a string"},
    };
    check_errors(cases, sizeof cases / sizeof cases[0]);
}

static void limits_are_enforced_at_their_position(void **state)
{
    (void)state;
    char buf[FLT_MAX_LEN + 2];
    /* 32 parentheses deep is allowed, 33 is not */
    size_t n = 0;
    for (int i = 0; i < 32; i++)
        buf[n++] = '(';
    n += (size_t)sprintf(buf + n, "votes=1");
    for (int i = 0; i < 32; i++)
        buf[n++] = ')';
    assert_int_equal(compile_n(FLT_SQLITE, buf, n), 0);
    memmove(buf + 1, buf, n++);
    buf[n++] = ')';
    assert_int_equal(compile_n(FLT_SQLITE, buf, n), GLY_EINVAL);
    assert_int_equal(F.err_pos, 32);
    assert_string_equal(F.err_msg, "parentheses nested deeper than 32");

    /* 64 comparisons are allowed, the 65th is refused where it starts */
    n = 0;
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(buf + n, "%svotes=%d", i ? "||" : "", i);
    size_t last = n - strlen("votes=64");
    assert_int_equal(compile_n(FLT_SQLITE, buf, last - 2), 0);
    assert_int_equal(F.nparams, 64);
    assert_int_equal(compile_n(FLT_SQLITE, buf, n), GLY_EINVAL);
    assert_int_equal(F.err_pos, last);
    assert_string_equal(F.err_msg, "more than 64 comparisons");

    /* FLT_MAX_LEN bytes are read; one more is refused unread */
    memset(buf, ' ', sizeof buf);
    memcpy(buf + FLT_MAX_LEN - 9, "votes = 1", 9);
    assert_int_equal(compile_n(FLT_SQLITE, buf, FLT_MAX_LEN), 0);
    assert_int_equal(compile_n(FLT_SQLITE, buf, FLT_MAX_LEN + 1), GLY_EINVAL);
    assert_int_equal(F.err_pos, FLT_MAX_LEN);
    assert_string_equal(F.err_msg, "filter longer than 4096 bytes");

    /* a long string literal is fine while the whole filter fits */
    buf[0] = 't', memcpy(buf, "title = \"", 9);
    memset(buf + 9, 'x', FLT_MAX_LEN - 10);
    buf[FLT_MAX_LEN - 1] = '"';
    assert_int_equal(compile_n(FLT_SQLITE, buf, FLT_MAX_LEN), 0);
    assert_int_equal(F.params[0].v.s.n, FLT_MAX_LEN - 10);
}

static void paths_cross_at_most_six_relations(void **state)
{
    (void)state;
    static struct fld fields[] = {FS_SYSTEM, {.name = "next", .type = FLD_RELATION}};
    static struct coll nodes = {.name = "nodes", .fields = fields, .nfields = 4};
    fields[3].to = &nodes;
    static const char six[] = "next.next.next.next.next.next.id = \"x\"";
    static const char seven[] = "next.next.next.next.next.next.next.id = \"x\"";
    reset(FLT_SQLITE, &nodes);
    assert_int_equal(flt_where(&F, six, strlen(six)), 0);
    reset(FLT_SQLITE, &nodes);
    assert_int_equal(flt_where(&F, seven, strlen(seven)), GLY_EINVAL);
    assert_int_equal(F.err_pos, 35);
    assert_string_equal(F.err_msg, "a path crosses at most 6 relations");
}

/* ------------------------------------------------------------------------ */
/* Hostile input                                                            */
/* ------------------------------------------------------------------------ */

/* The words a compiled filter may hold besides names of the schema and $N. */
static bool sql_word_allowed(const char *w, size_t n)
{
    static const char *const words[] = {"r",
                                        "AND",
                                        "OR",
                                        "NOT",
                                        "IS",
                                        "NULL",
                                        "EXISTS",
                                        "SELECT",
                                        "FROM",
                                        "WHERE",
                                        "JOIN",
                                        "ON",
                                        "CROSS",
                                        "LIKE",
                                        "ILIKE",
                                        "ESCAPE",
                                        "DISTINCT",
                                        "COALESCE",
                                        "CAST",
                                        "AS",
                                        "TEXT",
                                        "json_each",
                                        "jsonb_array_elements_text",
                                        "value",
                                        NULL};
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && memcmp(words[i], w, n) == 0)
            return true;
    if (n >= 2 && w[0] == 'r') { /* subquery aliases r1, r2, ... */
        for (size_t i = 1; i < n; i++)
            if (w[i] < '0' || w[i] > '9')
                return false;
        return true;
    }
    return false;
}

/*
 * Checks that s is made only of allowed words, schema names in double
 * quotes, $N numbered in order, the quoted constants '' 'null' '\', and
 * punctuation; and that its parentheses balance. Sound for any input.
 */
static void assert_sql_is_clean(const char *s, unsigned first_param, unsigned nparams)
{
    int depth = 0;
    unsigned next = first_param;
    for (size_t i = 0; s[i];) {
        char ch = s[i];
        if (ch == '(' || ch == ')') {
            depth += ch == '(' ? 1 : -1;
            assert_true(depth >= 0);
            i++;
        } else if (ch == '"') {
            size_t j = i + 1;
            while (s[j] && s[j] != '"')
                j++;
            assert_int_equal(s[j], '"');
            bool known = false;
            for (size_t k = 0; k < fs_schema.ncolls && !known; k++) {
                const struct coll *c = fs_schema.colls[k];
                known = strlen(c->name) == j - i - 1 && !memcmp(c->name, s + i + 1, j - i - 1);
                for (size_t m = 0; m < c->nfields && !known; m++)
                    known = strlen(c->fields[m].name) == j - i - 1 &&
                            !memcmp(c->fields[m].name, s + i + 1, j - i - 1);
            }
            if (!known)
                fail_msg("unknown name at %zu in %s", i, s);
            i = j + 1;
        } else if (ch == '\'') {
            if (strncmp(s + i, "''", 2) == 0)
                i += 2;
            else if (strncmp(s + i, "'null'", 6) == 0)
                i += 6;
            else if (strncmp(s + i, "'\\'", 3) == 0)
                i += 3;
            else
                fail_msg("a quoted string at %zu in %s", i, s);
        } else if (ch == '$') {
            char *end;
            unsigned long k = strtoul(s + i + 1, &end, 10);
            assert_true(k >= first_param && k <= next && k <= nparams);
            if (k == next)
                next++;
            i = (size_t)(end - s);
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') {
            size_t j = i;
            while ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || s[j] == '_' ||
                   (s[j] >= '0' && s[j] <= '9'))
                j++;
            if (!sql_word_allowed(s + i, j - i))
                fail_msg("word \"%.*s\" in %s", (int)(j - i), s + i, s);
            i = j;
        } else if (strchr(" .,=<>!10", ch)) {
            i++;
        } else {
            fail_msg("byte 0x%02x at %zu in %s", (unsigned char)ch, i, s);
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(next, nparams + 1);
}

static void hostile_values_never_reach_the_sql(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "title = \"'; DROP TABLE posts; --\"",
        "title = '\" OR 1=1 --'",
        "title ~ \"%' OR ''='\"",
        "title = \"/* comment */\" && votes > 1",
        "title = \"a\\\\\" || title = \"\\\\\"",
        "title = \"\xe2\x80\x8f\xf0\x9f\x98\x80 \xef\xbb\xbf\"",
        "title = 'x);DELETE FROM users;--'",
        "tags ?= \"$1\"",
        "author.name = \"\\\"users\\\"\"",
        "title = \"r.\\\"title\\\"\"",
        "meta ~ \"\\\\'\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        for (int d = FLT_SQLITE; d <= FLT_PG; d++) {
            if (compile((enum flt_dialect)d, ok[i]) != 0)
                fail_msg("%s: %s", ok[i], F.err_msg);
            assert_sql_is_clean(sql.p, 1, F.nparams);
        }
    }
    static const struct {
        const char *src;
        size_t n;
    } bad[] = {
        {"title = \"a\"; DROP TABLE posts", 30},
        {"title = \"a\" -- comment", 22},
        {"title = \"a\" /* c */", 19},
        {"title = \"a\0b\"", 13},
        {"title\0 = \"a\"", 12},
        {"title = `a`", 11},
        {"r.title = \"a\"", 13},
        {"title = \"a\" OR 1=1", 18},
        {"title = \"a\" and votes = 1", 25},
        {"TITLE = \"a\"", 11},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = compile_n(FLT_SQLITE, bad[i].src, bad[i].n);
        if (rc != GLY_EINVAL)
            fail_msg("accepted %.*s as %s", (int)bad[i].n, bad[i].src, sql.p);
        assert_true(F.err_pos <= bad[i].n);
        assert_true(strlen(F.err_msg) < 100);
    }
    /* a quoted name is a string: two strings compared, decided without the column */
    assert_int_equal(compile(FLT_SQLITE, "\"title\" = \"a\""), 0);
    assert_string_equal(sql.p, "(1=0)");
}

static void huge_and_deep_inputs_are_refused_quickly(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    char *p = malloc(big);
    assert_non_null(p);
    memset(p, '(', big);
    assert_int_equal(compile_n(FLT_SQLITE, p, big), GLY_EINVAL);
    assert_int_equal(F.err_pos, FLT_MAX_LEN);
    assert_int_equal(compile_n(FLT_SQLITE, p, FLT_MAX_LEN), GLY_EINVAL);
    assert_int_equal(F.err_pos, 32);
    memset(p, 'x', FLT_MAX_LEN);
    assert_int_equal(compile_n(FLT_SQLITE, p, FLT_MAX_LEN), GLY_EINVAL);
    assert_string_equal(F.err_msg,
                        "unknown field \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
    memset(p, '"', FLT_MAX_LEN);
    assert_int_equal(compile_n(FLT_SQLITE, p, FLT_MAX_LEN), GLY_EINVAL);
    /* many short comparisons: at the limit, SQL and parameters stay proportionate */
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(p + n, "%stags?~\"%d\"", i ? "&&" : "", i);
    assert_int_equal(compile_n(FLT_PG, p, n), 0);
    assert_int_equal(F.nparams, 64);
    assert_sql_is_clean(sql.p, 1, 64);
    free(p);
}

/* ------------------------------------------------------------------------ */
/* Sorts and keyset conditions                                              */
/* ------------------------------------------------------------------------ */

static int sort(enum flt_dialect d, const char *src, struct flt_sort *s)
{
    reset(d, &fs_posts);
    int rc = flt_sort_parse(&F, src, strlen(src), s);
    if (rc == 0)
        rc = flt_sort_sql(&F, s);
    gly_buf_cstr(&sql);
    return rc;
}

static void sorts_add_the_id_and_read_null_relations_as_empty(void **state)
{
    (void)state;
    struct flt_sort s;
    assert_int_equal(sort(FLT_SQLITE, "-votes, title", &s), 0);
    assert_string_equal(sql.p, "r.\"votes\" DESC, r.\"title\" ASC, r.\"id\" ASC");
    assert_int_equal(s.n, 3);
    assert_int_equal(sort(FLT_PG, "+author,-id", &s), 0);
    assert_string_equal(sql.p, "COALESCE(r.\"author\", '') ASC, r.\"id\" DESC");
    assert_int_equal(sort(FLT_SQLITE, "", &s), 0);
    assert_string_equal(sql.p, "r.\"id\" ASC");
    assert_int_equal(sort(FLT_SQLITE, "@random", &s), 0);
    assert_string_equal(sql.p, "RANDOM() ASC, r.\"id\" ASC");
    assert_int_equal(sort(FLT_PG, "@random", &s), 0);
    assert_string_equal(sql.p, "random() ASC, r.\"id\" ASC");

    static const struct err_case bad[] = {
        {"titel", 0, "unknown field \"titel\""},
        {"title,,votes", 6, "empty sort key"},
        {"title,", 6, "empty sort key"},
        {"-", 1, "empty sort key"},
        {"tags", 0, "\"tags\" cannot be sorted"},
        {"meta", 0, "\"meta\" cannot be sorted"},
        {"title,-title", 7, "\"title\" sorted twice"},
        {"title,votes,published,author,when,created,updated,id,@random", 53,
         "more than 8 sort keys"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sort(FLT_SQLITE, bad[i].src, &s), GLY_EINVAL);
        if (F.err_pos != bad[i].pos || strcmp(F.err_msg, bad[i].msg) != 0)
            fail_msg("%s: %zu %s", bad[i].src, F.err_pos, F.err_msg);
    }
}

static void keyset_condition_reuses_one_parameter_per_key(void **state)
{
    (void)state;
    struct flt_sort s;
    assert_int_equal(sort(FLT_SQLITE, "-votes,author", &s), 0);
    reset(FLT_PG, &fs_posts);
    F.nparams = 0;
    gly_db_val vals[] = {GLY_F64(10), GLY_NULL, GLY_TEXT("p1")};
    assert_int_equal(flt_after_sql(&F, &s, vals), 0);
    assert_string_equal(gly_buf_cstr(&sql),
                        "((r.\"votes\" < $1) OR (r.\"votes\" = $1 AND COALESCE(r.\"author\", '') > "
                        "$2) OR (r.\"votes\" = $1 AND COALESCE(r.\"author\", '') = $2 AND r.\"id\" "
                        "> $3))");
    assert_string_equal(params_str(), "10, '', 'p1'");
    assert_int_equal(sort(FLT_SQLITE, "@random", &s), 0);
    assert_int_equal(flt_after_sql(&F, &s, vals), GLY_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* Executed on SQLite                                                       */
/* ------------------------------------------------------------------------ */

static sqlite3 *db;

static const char schema_sql[] =
    "CREATE TABLE teams (id TEXT PRIMARY KEY, created TEXT, updated TEXT, name TEXT NOT NULL);"
    "CREATE TABLE users (id TEXT PRIMARY KEY, created TEXT, updated TEXT, name TEXT NOT NULL,"
    " email TEXT NOT NULL, team TEXT REFERENCES teams(id), password_hash TEXT);"
    "CREATE TABLE posts (id TEXT PRIMARY KEY, created TEXT, updated TEXT, title TEXT NOT NULL,"
    " votes REAL NOT NULL, published INTEGER NOT NULL, tags TEXT NOT NULL,"
    " author TEXT REFERENCES users(id), reviewers TEXT NOT NULL, meta TEXT, \"when\" TEXT NOT "
    "NULL);"
    "INSERT INTO teams VALUES ('t1','c','c','red'), ('t2','c','c','blue');"
    "INSERT INTO users VALUES ('u1','c','c','ann','ann@x.io','t1','h'),"
    " ('u2','c','c','bob','bob@x.io','t2','h'), ('u3','c','c','cid','cid@x.io',NULL,'h');"
    "INSERT INTO posts VALUES"
    " ('p1','2024-01','2024-01','Hello world',10,1,'[\"a\",\"b\"]','u1','[\"u1\",\"u2\"]',"
    "  '{\"x\":1}','2024-01-01T00:00:00.000Z'),"
    " ('p2','2024-02','2024-03','100% sure',5,0,'[\"a\"]','u2','[\"u2\"]',NULL,''),"
    " ('p3','2024-03','2024-03','',0,0,'[]',NULL,'[]',NULL,''),"
    " ('p4','2024-04','2024-05','snake_case',-2.5,1,'[\"c\"]','u3','[\"u3\"]','null',"
    "  '2025-06-01T00:00:00.000Z'),"
    " ('p5','2024-05','2024-05','Hello',10,1,'[\"b\",\"c\"]','u1','[\"u1\",\"gone\"]',"
    "  '{\"y\":\"z\"}','2023-01-01T00:00:00.000Z');";

static int db_setup(void **state)
{
    setup(state);
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, schema_sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("schema: %s", err);
    return 0;
}

static int db_teardown(void **state)
{
    sqlite3_close(db);
    return teardown(state);
}

static void bind_all(sqlite3_stmt *st)
{
    for (unsigned i = 0; i < F.nparams; i++) {
        char name[16];
        snprintf(name, sizeof name, "$%u", i + 1);
        int k = sqlite3_bind_parameter_index(st, name);
        const gly_db_val *v = &F.params[i];
        if (k == 0)
            fail_msg("%s is not used", name);
        if (v->type == GLY_DB_TEXT)
            sqlite3_bind_text(st, k, v->v.s.p, (int)v->v.s.n, SQLITE_STATIC);
        else if (v->type == GLY_DB_INT)
            sqlite3_bind_int64(st, k, v->v.i);
        else if (v->type == GLY_DB_REAL)
            sqlite3_bind_double(st, k, v->v.d);
        else
            sqlite3_bind_null(st, k);
    }
}

/* Runs "SELECT id FROM posts AS r WHERE <where> ORDER BY <order>" and joins the ids. */
static const char *select_ids(const char *where, const char *order, int limit)
{
    char *q = gly_arena_printf(&arena, "SELECT id FROM posts AS r WHERE %s ORDER BY %s LIMIT %d",
                               where, order, limit);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
    bind_all(st);
    gly_buf out;
    gly_buf_init(&out, NULL, 0, &arena, 0);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        gly_buf_printf(&out, "%s%s", out.len ? "," : "", (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return gly_buf_cstr(&out);
}

/* The ids of the posts that the filter selects, in id order. */
static const char *matching(const char *src)
{
    if (compile(FLT_SQLITE, src) != 0)
        fail_msg("%s: %s at %zu", src, F.err_msg, F.err_pos);
    return select_ids(sql.p, "id", 100);
}

struct exec_case {
    const char *src, *ids;
};

static void check_exec(const struct exec_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = matching(cases[i].src);
        if (strcmp(got, cases[i].ids) != 0)
            fail_msg("%s\n  matched %s\n  want    %s\n  sql %s", cases[i].src, got, cases[i].ids,
                     sql.p);
    }
}

static void filters_select_the_rows_they_describe(void **state)
{
    (void)state;
    static const struct exec_case cases[] = {
        {"", "p1,p2,p3,p4,p5"},
        {"title = \"Hello\"", "p5"},
        {"title != \"Hello\"", "p1,p2,p3,p4"},
        {"title ~ \"hello\"", "p1,p5"},
        {"title ~ \"HELLO W\"", "p1"},
        {"title !~ \"hello\"", "p2,p3,p4"},
        {"title ~ \"100%\"", "p2"},
        {"title ~ \"%o\"", "p5"},
        {"title ~ \"_\"", "p4"},
        {"title ~ \"e_c\"", "p4"},
        {"title ~ \"%_\"", "p1,p2,p4,p5"},
        {"title = \"\"", "p3"},
        {"title = null", "p3"},
        {"title != \"\"", "p1,p2,p4,p5"},
        {"votes > 5", "p1,p5"},
        {"votes >= 5 && published = true", "p1,p5"},
        {"votes < 0", "p4"},
        {"votes = 10 || title = \"\"", "p1,p3,p5"},
        {"published = false", "p2,p3"},
        {"(title ~ \"hello\" || tags ?= \"c\") && votes > 0", "p1,p5"},
        {"created = updated", "p1,p3,p5"},
        {"created < updated", "p2,p4"},
        {"author = null", "p3"},
        {"author = \"\"", "p3"},
        {"author != \"\"", "p1,p2,p4,p5"},
        {"author = \"u1\"", "p1,p5"},
        {"author != \"u1\"", "p2,p3,p4"},
        {"author !~ \"1\"", "p2,p3,p4"},
        {"meta = null", "p2,p3,p4"},
        {"meta != null", "p1,p5"},
        {"meta ~ \"z\"", "p5"},
        {"when = \"\"", "p2,p3"},
        {"when > \"2024\"", "p1,p4"},
        {"when != \"\" && when < @now", "p1,p5"},
    };
    check_exec(cases, sizeof cases / sizeof cases[0]);
}

static void multi_valued_fields_select_by_any_and_every_element(void **state)
{
    (void)state;
    static const struct exec_case cases[] = {
        {"tags ?= \"a\"", "p1,p2"},
        {"tags = \"a\"", "p2"},
        {"tags != \"a\"", "p3,p4,p5"},
        {"tags ?!= \"a\"", "p1,p3,p4,p5"},
        {"tags = \"\"", "p3"},
        {"tags = null", "p3"},
        {"tags != \"\"", "p1,p2,p4,p5"},
        {"tags ?= \"\"", "p3"},
        {"tags ?~ \"C\"", "p4,p5"},
        {"tags ?> \"b\"", "p4,p5"},
        {"tags > \"a\"", "p4,p5"},
        {"reviewers ?= \"u2\"", "p1,p2"},
        {"reviewers = \"\"", "p3"},
        {"reviewers.name ?= \"bob\"", "p1,p2"},
        {"reviewers.name = \"ann\"", "p5"},
        {"reviewers.name != \"ann\"", "p2,p3,p4"},
        {"reviewers.team.name ?= \"blue\"", "p1,p2"},
        {"reviewers.team.name ?= \"\"", "p3,p4"},
        {"reviewers.team ?= \"\"", "p3,p4"},
    };
    check_exec(cases, sizeof cases / sizeof cases[0]);
}

static void relation_paths_read_an_empty_relation_as_empty(void **state)
{
    (void)state;
    static const struct exec_case cases[] = {
        {"author.name = \"ann\"", "p1,p5"},
        {"author.name ?= \"ann\"", "p1,p5"},
        {"author.name != \"ann\"", "p2,p3,p4"},
        {"author.name = \"\"", "p3"},
        {"author.name ~ \"O\"", "p2"},
        {"author.email ~ \"@x.io\" && author.name < \"b\"", "p1,p5"},
        {"author.team.name = \"red\"", "p1,p5"},
        {"author.team.name != \"red\"", "p2,p3,p4"},
        {"author.team = \"\"", "p3,p4"},
        {"author.team.name = \"\"", "p3,p4"},
        {"author.team.id = \"t2\"", "p2"},
        {"author.id = \"u3\"", "p4"},
    };
    check_exec(cases, sizeof cases / sizeof cases[0]);
}

static void variables_select_rows_for_the_user_and_body(void **state)
{
    (void)state;
    auth_row = make_auth("u1", "member", 1);
    static const struct exec_case user[] = {
        {"author = @request.auth.id", "p1,p5"},
        {"author != @request.auth.id", "p2,p3,p4"},
        {"reviewers ?= @request.auth.id", "p1,p5"},
        {"@request.auth.role = \"admin\" || author = @request.auth.id", "p1,p5"},
        {"@request.auth.id != \"\" && published = true", "p1,p4,p5"},
    };
    check_exec(user, sizeof user / sizeof user[0]);
    auth_row = NULL;
    static const struct exec_case guest[] = {
        {"author = @request.auth.id", ""},
        {"author != @request.auth.id", "p1,p2,p3,p4,p5"},
        {"reviewers ?= @request.auth.id", ""},
        {"@request.auth.id != \"\" && published = true", ""},
        {"@request.auth.id = \"\" && published = true", "p1,p4,p5"},
    };
    check_exec(guest, sizeof guest / sizeof guest[0]);
    body = make_body("{\"title\":\"Hello\",\"votes\":\"10\",\"tag\":\"c\"}");
    static const struct exec_case b[] = {
        {"title = @request.body.title", "p5"},
        {"votes = @request.body.votes", "p1,p5"},
        {"tags ?= @request.body.tag", "p4,p5"},
        {"votes = @request.body.missing", ""},
    };
    check_exec(b, sizeof b / sizeof b[0]);
}

/* Pages through posts in the order src, one row per page, with the keyset condition. */
static const char *page_through(const char *src, int per_page)
{
    struct flt_sort s;
    assert_int_equal(sort(FLT_SQLITE, src, &s), 0);
    const char *order = gly_arena_strdup(&arena, sql.p);
    gly_buf all;
    gly_buf_init(&all, NULL, 0, &arena, 0);
    const char *where = "(1=1)";
    for (int page = 0; page < 10; page++) {
        F.sql = &sql; /* the sort's compilation holds params of the last page */
        const char *ids = select_ids(where, order, per_page);
        if (!*ids)
            break;
        gly_buf_printf(&all, "%s%s", all.len ? "|" : "", ids);
        /* read the last row's key values */
        const char *last = strrchr(ids, ',') ? strrchr(ids, ',') + 1 : ids;
        gly_buf cols;
        gly_buf_init(&cols, NULL, 0, &arena, 0);
        for (unsigned k = 0; k < s.n; k++)
            gly_buf_printf(&cols, "%s\"%s\"", k ? ", " : "", s.keys[k].field->name);
        char *q = gly_arena_printf(&arena, "SELECT %s FROM posts WHERE id = '%s'",
                                   gly_buf_cstr(&cols), last);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        gly_db_val vals[9];
        for (unsigned k = 0; k < s.n; k++) {
            switch (sqlite3_column_type(st, (int)k)) {
            case SQLITE_INTEGER:
                vals[k] = GLY_I64(sqlite3_column_int64(st, (int)k));
                break;
            case SQLITE_FLOAT:
                vals[k] = GLY_F64(sqlite3_column_double(st, (int)k));
                break;
            case SQLITE_NULL:
                vals[k] = GLY_NULL;
                break;
            default:
                vals[k] = GLY_TEXT(
                    gly_arena_strdup(&arena, (const char *)sqlite3_column_text(st, (int)k)));
            }
        }
        sqlite3_finalize(st);
        reset(FLT_SQLITE, &fs_posts);
        assert_int_equal(flt_after_sql(&F, &s, vals), 0);
        where = gly_buf_cstr(&sql);
    }
    return gly_buf_cstr(&all);
}

static void keyset_pages_follow_the_sort_across_ties_and_nulls(void **state)
{
    (void)state;
    assert_string_equal(page_through("-votes,title", 1), "p5|p1|p2|p3|p4");
    assert_string_equal(page_through("-votes,title", 2), "p5,p1|p2,p3|p4");
    assert_string_equal(page_through("-votes", 2), "p5,p1|p2,p3|p4"); /* id DESC after a DESC key */
    assert_string_equal(page_through("published,-votes", 1), "p2|p3|p5|p1|p4");
    assert_string_equal(page_through("author,-created", 1), "p3|p5|p1|p2|p4");
    assert_string_equal(page_through("-author", 3), "p4,p2,p5|p1,p3");
    assert_string_equal(page_through("-updated,-id", 2), "p5,p4|p3,p2|p1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(plain_columns_compile_to_indexable_comparisons, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(empty_and_null_match_empty_values, setup, teardown),
        cmocka_unit_test_setup_teardown(like_wraps_and_escapes_unless_the_value_has_a_percent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            multi_valued_fields_are_any_with_question_mark_and_every_without, setup, teardown),
        cmocka_unit_test_setup_teardown(relation_paths_compile_to_subqueries_with_own_aliases,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(and_or_and_parentheses_group_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(comparisons_of_known_values_are_decided_at_compile_time,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(auth_values_are_parameters_and_a_guest_matches_no_owner,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            body_values_convert_to_the_field_type_or_decide_the_comparison, setup, teardown),
        cmocka_unit_test_setup_teardown(parameter_numbers_continue_from_the_callers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(syntax_errors_name_the_position_and_the_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(schema_errors_point_at_the_field_or_the_literal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(limits_are_enforced_at_their_position, setup, teardown),
        cmocka_unit_test_setup_teardown(paths_cross_at_most_six_relations, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_values_never_reach_the_sql, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_and_deep_inputs_are_refused_quickly, setup, teardown),
        cmocka_unit_test_setup_teardown(sorts_add_the_id_and_read_null_relations_as_empty, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(keyset_condition_reuses_one_parameter_per_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(filters_select_the_rows_they_describe, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(multi_valued_fields_select_by_any_and_every_element,
                                        db_setup, db_teardown),
        cmocka_unit_test_setup_teardown(relation_paths_read_an_empty_relation_as_empty, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(variables_select_rows_for_the_user_and_body, db_setup,
                                        db_teardown),
        cmocka_unit_test_setup_teardown(keyset_pages_follow_the_sort_across_ties_and_nulls,
                                        db_setup, db_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
