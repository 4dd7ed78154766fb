/*
 * tests/unit/http/test_router.c - the radix-tree router.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <galley/http.h>

#include "gly_test.h"
#include "http/router.h"

/* Distinct non-NULL values to map routes to. */
static int v_a, v_b, v_c, v_d, v_e;
#define A (&v_a)
#define B (&v_b)
#define C (&v_c)
#define D (&v_d)
#define E (&v_e)

static int setup(void **state)
{
    *state = gly__router_new();
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    gly__router_free(*state);
    return 0;
}

static void *find(struct gly_router *r, unsigned method, const char *path,
                  struct gly_router_params *params, unsigned *allow)
{
    return gly__router_find(r, method, gly_str_c(path), params, allow, NULL);
}

static void assert_param(const struct gly_router_params *p, unsigned i, const char *name,
                         const char *value)
{
    assert_true(i < p->n);
    char got[256];
    snprintf(got, sizeof(got), "%.*s", (int)p->names[i].n, p->names[i].p);
    assert_string_equal(got, name);
    snprintf(got, sizeof(got), "%.*s", (int)p->values[i].n, p->values[i].p);
    assert_string_equal(got, value);
}

static void router_matches_static_routes(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/plaintext", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/json", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/", C), 0);

    assert_ptr_equal(find(r, GLY_GET, "/plaintext", &p, NULL), A);
    assert_int_equal(p.n, 0);
    assert_ptr_equal(find(r, GLY_GET, "/json", NULL, NULL), B);
    assert_ptr_equal(find(r, GLY_GET, "/", NULL, NULL), C);
    assert_null(find(r, GLY_GET, "/plain", NULL, NULL));
    assert_null(find(r, GLY_GET, "/plaintextx", NULL, NULL));
    assert_null(find(r, GLY_GET, "", NULL, NULL));
    assert_null(find(r, GLY_GET, "json", NULL, NULL));
}

static void router_prefers_static_over_param(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/users/:id", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/users/me", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/users/*rest", C), 0);

    assert_ptr_equal(find(r, GLY_GET, "/users/me", &p, NULL), B);
    assert_int_equal(p.n, 0);
    assert_ptr_equal(find(r, GLY_GET, "/users/42", &p, NULL), A);
    assert_param(&p, 0, "id", "42");
    assert_ptr_equal(find(r, GLY_GET, "/users/mex", &p, NULL), A);
    assert_param(&p, 0, "id", "mex");
    assert_ptr_equal(find(r, GLY_GET, "/users/42/x", &p, NULL), C);
    assert_param(&p, 0, "rest", "42/x");
}

static void router_backtracks_from_static_to_param_for_method(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    const char *pattern;
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/me", A), 0);
    assert_int_equal(gly__router_add(r, GLY_DELETE, "/u/:id", B), 0);
    assert_int_equal(gly__router_add(r, GLY_PUT, "/u/*all", C), 0);
    assert_int_equal(gly__router_add(r, GLY_POST, "/u/me/avatar", D), 0);
    assert_int_equal(gly__router_add(r, GLY_PATCH, "/u/:id/avatar", E), 0);

    assert_ptr_equal(gly__router_find(r, GLY_DELETE, GLY_STR("/u/me"), &p, NULL, &pattern), B);
    assert_string_equal(pattern, "/u/:id");
    assert_param(&p, 0, "id", "me");

    /* past the param, down to the rest, params of the abandoned branch dropped */
    assert_ptr_equal(gly__router_find(r, GLY_PUT, GLY_STR("/u/me/avatar"), &p, NULL, &pattern), C);
    assert_string_equal(pattern, "/u/*all");
    assert_int_equal(p.n, 1);
    assert_param(&p, 0, "all", "me/avatar");

    assert_ptr_equal(find(r, GLY_PATCH, "/u/me/avatar", &p, NULL), E);
    assert_int_equal(p.n, 1);
    assert_param(&p, 0, "id", "me");
}

static void router_param_captures_segment(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/orgs/:org/repos/:repo/issues", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/:a/x", B), 0);

    assert_ptr_equal(find(r, GLY_GET, "/orgs/galley/repos/core%2Fx/issues", &p, NULL), A);
    assert_int_equal(p.n, 2);
    assert_param(&p, 0, "org", "galley");
    assert_param(&p, 1, "repo", "core%2Fx");
    assert_null(find(r, GLY_GET, "/orgs/galley/repos/a/b/issues", NULL, NULL));

    assert_ptr_equal(find(r, GLY_GET, "/q:1/x", &p, NULL), B);
    assert_param(&p, 0, "a", "q:1");
}

static void router_param_does_not_match_empty_segment(void **state)
{
    struct gly_router *r = *state;
    unsigned allow = 99;
    assert_int_equal(gly__router_add(r, GLY_GET, "/users/:id", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/users/:id/posts", B), 0);

    assert_null(find(r, GLY_GET, "/users/", NULL, &allow));
    assert_int_equal(allow, 0);
    assert_null(find(r, GLY_GET, "/users//posts", NULL, NULL));
    assert_ptr_equal(find(r, GLY_GET, "/users/7/posts", NULL, NULL), B);
}

static void router_rest_matches_remaining_path_including_slashes(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/static/:ver/*path", A), 0);

    assert_ptr_equal(find(r, GLY_GET, "/static/v1/css/site/main.css", &p, NULL), A);
    assert_int_equal(p.n, 2);
    assert_param(&p, 0, "ver", "v1");
    assert_param(&p, 1, "path", "css/site/main.css");
    assert_ptr_equal(find(r, GLY_GET, "/static/v1//a//", &p, NULL), A);
    assert_param(&p, 1, "path", "/a//");
}

static void router_rest_matches_empty(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/files/*path", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/*all", B), 0);

    assert_ptr_equal(find(r, GLY_GET, "/files/", &p, NULL), A);
    assert_int_equal(p.n, 1);
    assert_param(&p, 0, "path", "");
    assert_ptr_equal(find(r, GLY_GET, "/", &p, NULL), B);
    assert_param(&p, 0, "all", "");
    assert_ptr_equal(find(r, GLY_GET, "/files", &p, NULL), B);
    assert_param(&p, 0, "all", "files");
}

static void router_reports_allow_mask_for_other_methods(void **state)
{
    struct gly_router *r = *state;
    unsigned allow = 0;
    assert_int_equal(gly__router_add(r, GLY_GET, "/items/:id", A), 0);
    assert_int_equal(gly__router_add(r, GLY_PUT, "/items/:id", B), 0);
    assert_int_equal(gly__router_add(r, GLY_POST, "/items/new", C), 0);
    assert_int_equal(gly__router_add(r, GLY_OPTIONS, "/*any", D), 0);
    assert_int_equal(gly__router_add(r, 31, "/items/new", E), 0);

    assert_null(find(r, GLY_DELETE, "/items/new", NULL, &allow));
    assert_int_equal(allow, (1u << GLY_GET) | (1u << GLY_PUT) | (1u << GLY_POST) |
                                (1u << GLY_OPTIONS) | (1u << 31));
    assert_null(find(r, GLY_DELETE, "/items/9", NULL, &allow));
    assert_int_equal(allow, (1u << GLY_GET) | (1u << GLY_PUT) | (1u << GLY_OPTIONS));
    /* a method the router cannot hold is not found, but the path still reports Allow */
    assert_null(find(r, 40, "/items/9", NULL, &allow));
    assert_int_equal(allow, (1u << GLY_GET) | (1u << GLY_PUT) | (1u << GLY_OPTIONS));
    assert_ptr_equal(find(r, 31, "/items/new", NULL, NULL), E);
}

static void router_returns_zero_allow_for_unknown_path(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    unsigned allow = 123;
    const char *pattern = "x";
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/:b", A), 0);

    assert_null(gly__router_find(r, GLY_GET, GLY_STR("/zzz"), &p, &allow, &pattern));
    assert_int_equal(allow, 0);
    assert_int_equal(p.n, 0);
    assert_null(pattern);
    assert_null(gly__router_find(r, GLY_GET, GLY_STR_NULL, NULL, &allow, NULL));
    assert_int_equal(allow, 0);
}

static void router_rejects_duplicate_route_eexist(void **state)
{
    struct gly_router *r = *state;
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/:id/b", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/:id/b", B), GLY_EEXIST);
    assert_int_equal(gly__router_add(r, GLY_POST, "/a/:id/b", C), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/:id", D), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/:id", D), GLY_EEXIST);

    assert_ptr_equal(find(r, GLY_GET, "/a/1/b", NULL, NULL), A);
    assert_ptr_equal(find(r, GLY_POST, "/a/1/b", NULL, NULL), C);
}

static void router_rejects_rest_not_last(void **state)
{
    struct gly_router *r = *state;
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/*rest/b", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/*rest/", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/*", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/a/*rest", A), 0);
    /* the rejected patterns left nothing behind: only the valid rest answers */
    assert_ptr_equal(find(r, GLY_GET, "/a/x/b", NULL, NULL), A);
}

static void router_rejects_conflicting_param_names(void **state)
{
    struct gly_router *r = *state;
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/:id", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/:uid/x", B), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_POST, "/u/:id/x", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/f/*path", C), 0);
    assert_int_equal(gly__router_add(r, GLY_POST, "/f/*file", C), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/:i-d", C), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/:", C), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/u/:/x", C), GLY_EINVAL);

    /* the failed adds left nothing behind */
    assert_null(find(r, GLY_GET, "/u/1/x", NULL, NULL));
    assert_ptr_equal(find(r, GLY_POST, "/u/1/x", NULL, NULL), B);
}

static void router_rejects_pattern_without_leading_slash(void **state)
{
    struct gly_router *r = *state;
    char many[256] = "";
    assert_int_equal(gly__router_add(r, GLY_GET, "users", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, ":id", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, 32, "/ok", A), GLY_EINVAL);
    assert_int_equal(gly__router_add(r, GLY_GET, "/ok", NULL), GLY_EINVAL);

    for (int i = 0; i <= GLY_ROUTER_MAX_PARAMS; i++) {
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "/:p%d", i);
    }
    assert_int_equal(gly__router_add(r, GLY_GET, many, A), GLY_EINVAL);
    *strrchr(many, '/') = '\0';
    assert_int_equal(gly__router_add(r, GLY_GET, many, A), 0);
}

static void router_handles_shared_prefixes_split(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/user", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/users", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/us", C), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/usx/:id", D), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/u", E), 0);

    assert_ptr_equal(find(r, GLY_GET, "/user", NULL, NULL), A);
    assert_ptr_equal(find(r, GLY_GET, "/users", NULL, NULL), B);
    assert_ptr_equal(find(r, GLY_GET, "/us", NULL, NULL), C);
    assert_ptr_equal(find(r, GLY_GET, "/u", NULL, NULL), E);
    assert_ptr_equal(find(r, GLY_GET, "/usx/9", &p, NULL), D);
    assert_param(&p, 0, "id", "9");
    assert_null(find(r, GLY_GET, "/use", NULL, NULL));
    assert_null(find(r, GLY_GET, "/usx", NULL, NULL));
    assert_null(find(r, GLY_GET, "/userss", NULL, NULL));
}

/* "records:aggregate" is a static segment: only a ':' that starts a segment makes a param. */
static void router_matches_a_colon_inside_a_static_segment(void **state)
{
    struct gly_router *r = *state;
    struct gly_router_params p;
    assert_int_equal(gly__router_add(r, GLY_GET, "/c/:name/records", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/c/:name/records/:id", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/c/:name/records:aggregate", C), 0);

    assert_ptr_equal(find(r, GLY_GET, "/c/posts/records:aggregate", &p, NULL), C);
    assert_int_equal(p.n, 1);
    assert_param(&p, 0, "name", "posts");
    assert_ptr_equal(find(r, GLY_GET, "/c/posts/records", &p, NULL), A);
    assert_ptr_equal(find(r, GLY_GET, "/c/posts/records/aggregate", &p, NULL), B);
    assert_param(&p, 1, "id", "aggregate");
    assert_ptr_equal(find(r, GLY_GET, "/c/a:b/records:aggregate", &p, NULL), C);
    assert_param(&p, 0, "name", "a:b");
    assert_null(find(r, GLY_GET, "/c/posts/records:count", NULL, NULL));
    assert_null(find(r, GLY_GET, "/c/posts/records:aggregate/x", NULL, NULL));
}

static void router_many_routes(void **state)
{
    struct gly_router *r = *state;
    static int values[1000];
    char path[64];
    struct gly_router_params p;
    const char *pattern;

    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 0) {
            snprintf(path, sizeof(path), "/api/v%d/item%d", i % 7, i);
        } else if (i % 3 == 1) {
            snprintf(path, sizeof(path), "/api/v%d/item%d/:id", i % 7, i);
        } else {
            snprintf(path, sizeof(path), "/r%d/:a/s%d/*tail", i, i % 11);
        }
        assert_int_equal(gly__router_add(r, (unsigned)i % GLY_METHOD_COUNT, path, &values[i]), 0);
    }
    for (int i = 0; i < 1000; i++) {
        char want[64];
        if (i % 3 == 0) {
            snprintf(path, sizeof(path), "/api/v%d/item%d", i % 7, i);
            snprintf(want, sizeof(want), "%s", path);
        } else if (i % 3 == 1) {
            snprintf(path, sizeof(path), "/api/v%d/item%d/x%d", i % 7, i, i);
            snprintf(want, sizeof(want), "/api/v%d/item%d/:id", i % 7, i);
        } else {
            snprintf(path, sizeof(path), "/r%d/b/s%d/t/u", i, i % 11);
            snprintf(want, sizeof(want), "/r%d/:a/s%d/*tail", i, i % 11);
        }
        void *v = gly__router_find(r, (unsigned)i % GLY_METHOD_COUNT, gly_str_c(path), &p, NULL,
                                   &pattern);
        assert_ptr_equal(v, &values[i]);
        assert_string_equal(pattern, want);
    }
}

static void router_trailing_slash_is_distinct(void **state)
{
    struct gly_router *r = *state;
    assert_int_equal(gly__router_add(r, GLY_GET, "/docs", A), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/docs/", B), 0);
    assert_int_equal(gly__router_add(r, GLY_GET, "/p/:id", C), 0);

    assert_ptr_equal(find(r, GLY_GET, "/docs", NULL, NULL), A);
    assert_ptr_equal(find(r, GLY_GET, "/docs/", NULL, NULL), B);
    assert_ptr_equal(find(r, GLY_GET, "/p/1", NULL, NULL), C);
    assert_null(find(r, GLY_GET, "/p/1/", NULL, NULL));
}

static void router_returns_pattern(void **state)
{
    struct gly_router *r = *state;
    const char *pattern = NULL;
    char buf[] = "/blog/:year/*slug";
    assert_int_equal(gly__router_add(r, GLY_GET, buf, A), 0);
    memset(buf, 'x', sizeof(buf) - 1); /* the router keeps its own copy */

    assert_ptr_equal(gly__router_find(r, GLY_GET, GLY_STR("/blog/2024/a/b"), NULL, NULL, &pattern),
                     A);
    assert_string_equal(pattern, "/blog/:year/*slug");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(router_matches_static_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(router_prefers_static_over_param, setup, teardown),
        cmocka_unit_test_setup_teardown(router_backtracks_from_static_to_param_for_method, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_param_captures_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(router_param_does_not_match_empty_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(router_rest_matches_remaining_path_including_slashes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_rest_matches_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(router_reports_allow_mask_for_other_methods, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_returns_zero_allow_for_unknown_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_rejects_duplicate_route_eexist, setup, teardown),
        cmocka_unit_test_setup_teardown(router_rejects_rest_not_last, setup, teardown),
        cmocka_unit_test_setup_teardown(router_rejects_conflicting_param_names, setup, teardown),
        cmocka_unit_test_setup_teardown(router_rejects_pattern_without_leading_slash, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_handles_shared_prefixes_split, setup, teardown),
        cmocka_unit_test_setup_teardown(router_matches_a_colon_inside_a_static_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(router_many_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(router_trailing_slash_is_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(router_returns_pattern, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
