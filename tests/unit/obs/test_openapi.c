/*
 * tests/unit/obs/test_openapi.c - gly_route_doc() and gly_openapi_info() on an
 * application that is never run.
 */
#include <string.h>

#include "gly_test.h"
#include "http/internal.h"

static int handler(gly_req *req)
{
    return gly_send_text(req, 200, "x");
}

static gly_app *app_new(void)
{
    gly_config cfg;
    gly_config_init(&cfg);
    gly_app *app = gly_app_new_config(&cfg);
    assert_non_null(app);
    assert_int_equal(gly_get(app, "/users/:id", handler), 0);
    assert_int_equal(gly_delete(app, "/users/:id", handler), 0);
    return app;
}

static const struct route *find(gly_app *app, int method, const char *pattern)
{
    for (unsigned i = 0; i < app->nroutes; i++)
        if (app->routes[i]->method == method && strcmp(app->routes[i]->pattern, pattern) == 0)
            return app->routes[i];
    fail_msg("no route %s", pattern);
    return NULL;
}

static void route_doc_copies_the_strings_and_tags(void **state)
{
    gly_app *app = app_new();
    char summary[] = "Get a user", tag[] = "users";
    const char *tags[] = {tag, "people", NULL};
    assert_int_equal(
        gly_route_doc(app, "GET", "/users/:id",
                      &(gly_doc){.summary = summary, .tags = tags, .deprecated = true}),
        0);
    summary[0] = tag[0] = 'X';
    const struct route *r = find(app, GLY_GET, "/users/:id");
    assert_string_equal(r->summary, "Get a user");
    assert_string_equal(r->tags[0], "users");
    assert_string_equal(r->tags[1], "people");
    assert_null(r->tags[2]);
    assert_true(r->deprecated);
    assert_null(r->description);
    assert_null(find(app, GLY_DELETE, "/users/:id")->summary);
    /* a second call replaces the first */
    assert_int_equal(gly_route_doc(app, "GET", "/users/:id", &(gly_doc){.description = "d"}), 0);
    assert_null(r->summary);
    assert_null(r->tags);
    assert_string_equal(r->description, "d");
    gly_app_free(app);
}

static void route_doc_refuses_unknown_routes_and_taken_operation_ids(void **state)
{
    gly_app *app = app_new();
    const gly_doc d = {.operation_id = "getUser"};
    assert_int_equal(gly_route_doc(app, "POST", "/users/:id", &d), GLY_ENOENT);
    assert_int_equal(gly_route_doc(app, "GET", "/users/:uid", &d), GLY_ENOENT);
    assert_int_equal(gly_route_doc(app, "BREW", "/users/:id", &d), GLY_ENOENT);
    assert_int_equal(gly_route_doc(app, "GET", "/users/:id", NULL), GLY_EINVAL);
    assert_int_equal(gly_route_doc(app, "GET", "/users/:id", &d), 0);
    assert_int_equal(gly_route_doc(app, "GET", "/users/:id", &d), 0); /* itself: fine */
    assert_int_equal(gly_route_doc(app, "DELETE", "/users/:id", &d), GLY_EEXIST);
    gly_app_free(app);
}

static void builtin_routes_are_tagged_system(void **state)
{
    gly_app *app = app_new();
    const char *builtin[] = {"/metrics", "/health/ready", "/health/live", "/openapi.json", "/docs"};
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++) {
        const struct route *r = find(app, GLY_GET, builtin[i]);
        assert_non_null(r->tags);
        assert_string_equal(r->tags[0], "system");
    }
    assert_null(find(app, GLY_GET, "/users/:id")->tags);
    gly_app_free(app);
}

static void openapi_info_keeps_what_null_leaves(void **state)
{
    gly_app *app = app_new();
    assert_int_equal(gly_openapi_info(app, "Shop", NULL, "The shop"), 0);
    assert_int_equal(gly_openapi_info(app, NULL, "2.0", NULL), 0);
    assert_string_equal(app->oa_title, "Shop");
    assert_string_equal(app->oa_version, "2.0");
    assert_string_equal(app->oa_description, "The shop");
    gly_app_free(app);
}

static void docs_assets_are_embedded(void **state)
{
    const struct gly__asset *a = gly__docs_asset_find(GLY_STR("swagger-ui-bundle.js"));
    assert_non_null(a);
    assert_true(a->len > 100 * 1024);
    assert_string_equal(a->content_type, "text/javascript; charset=utf-8");
    assert_non_null(gly__docs_asset_find(GLY_STR("index.html")));
    assert_null(gly__docs_asset_find(GLY_STR("swagger-ui-bundle.j")));
    assert_null(gly__docs_asset_find(GLY_STR_NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_doc_copies_the_strings_and_tags),
        cmocka_unit_test(route_doc_refuses_unknown_routes_and_taken_operation_ids),
        cmocka_unit_test(builtin_routes_are_tagged_system),
        cmocka_unit_test(openapi_info_keeps_what_null_leaves),
        cmocka_unit_test(docs_assets_are_embedded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
