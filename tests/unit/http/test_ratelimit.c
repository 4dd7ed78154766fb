/*
 * tests/unit/http/test_ratelimit.c - the token bucket with an injected clock, and the shared
 * table: keys apart, bounded memory with LRU replacement.
 */
#include <stdio.h>
#include <string.h>

#include <galley/middleware.h>

#include "gly_test.h"
#include "http/internal.h"
#include "http/mw.h"

#define SEC ((uint64_t)1000000000)
#define T0  (1000 * SEC) /* any clock reading but 0 */

static void bucket_allows_the_burst_then_refuses(void **state)
{
    struct gly__bucket b = {0};
    struct gly__rl_verdict v;

    (void)state;
    for (unsigned i = 0; i < 5; i++) {
        gly__bucket_take(&b, 5.0, 5, T0, &v);
        assert_true(v.allowed);
        assert_int_equal(v.limit, 5);
        assert_int_equal(v.remaining, 4 - i);
    }
    gly__bucket_take(&b, 5.0, 5, T0, &v);
    assert_false(v.allowed);
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.retry_after, 1); /* 0.2 s for one token, rounded up to whole seconds */
    assert_int_equal(v.reset_s, 1);     /* 5 tokens at 5/s */
}

static void bucket_refills_by_elapsed_time_up_to_the_burst(void **state)
{
    struct gly__bucket b = {0};
    struct gly__rl_verdict v;

    (void)state;
    for (unsigned i = 0; i < 10; i++) {
        gly__bucket_take(&b, 2.0, 10, T0, &v);
    }
    gly__bucket_take(&b, 2.0, 10, T0, &v);
    assert_false(v.allowed);
    gly__bucket_take(&b, 2.0, 10, T0 + SEC / 4, &v); /* half a token */
    assert_false(v.allowed);
    assert_int_equal(v.retry_after, 1);
    gly__bucket_take(&b, 2.0, 10, T0 + SEC / 2, &v); /* one token */
    assert_true(v.allowed);
    assert_int_equal(v.remaining, 0);
    assert_int_equal(v.reset_s, 5);                     /* 10 tokens at 2/s */
    gly__bucket_take(&b, 2.0, 10, T0 + 3600 * SEC, &v); /* long idle: full, not more */
    assert_true(v.allowed);
    assert_int_equal(v.remaining, 9);
}

static void bucket_retry_after_is_the_time_to_one_token(void **state)
{
    struct gly__bucket b = {0};
    struct gly__rl_verdict v;
    double per_min = 6.0 / 60; /* "6/m" */

    (void)state;
    gly__bucket_take(&b, per_min, 1, T0, &v);
    assert_true(v.allowed);
    gly__bucket_take(&b, per_min, 1, T0, &v);
    assert_false(v.allowed);
    assert_int_equal(v.retry_after, 10);
    gly__bucket_take(&b, per_min, 1, T0 + 4 * SEC, &v);
    assert_false(v.allowed);
    assert_int_equal(v.retry_after, 6);
    gly__bucket_take(&b, per_min, 1, T0 + 10 * SEC, &v);
    assert_true(v.allowed);
}

static void bucket_ignores_a_clock_that_goes_back(void **state)
{
    struct gly__bucket b = {0};
    struct gly__rl_verdict v;

    (void)state;
    gly__bucket_take(&b, 1.0, 1, T0, &v);
    gly__bucket_take(&b, 1.0, 1, T0 - 5 * SEC, &v);
    assert_false(v.allowed);
}

static void table_keeps_keys_apart(void **state)
{
    struct gly__rl_table *t = gly__rl_table_new(1000, 42);
    struct gly__rl_verdict v;

    (void)state;
    assert_non_null(t);
    gly__rl_table_take(t, "a", 1, 1.0, 1, T0, &v);
    assert_true(v.allowed);
    gly__rl_table_take(t, "a", 1, 1.0, 1, T0, &v);
    assert_false(v.allowed);
    gly__rl_table_take(t, "b", 1, 1.0, 1, T0, &v);
    assert_true(v.allowed);
    gly__rl_table_take(t, "ab", 2, 1.0, 1, T0, &v);
    assert_true(v.allowed);
    assert_int_equal(gly__rl_table_count(t), 3);
    gly__rl_table_free(t);
}

static void table_hashes_long_keys_and_still_tells_them_apart(void **state)
{
    struct gly__rl_table *t = gly__rl_table_new(1000, 7);
    struct gly__rl_verdict v;
    char k1[200], k2[200];

    (void)state;
    memset(k1, 'x', sizeof k1);
    memcpy(k2, k1, sizeof k2);
    k2[199] = 'y';
    gly__rl_table_take(t, k1, sizeof k1, 1.0, 1, T0, &v);
    assert_true(v.allowed);
    gly__rl_table_take(t, k1, sizeof k1, 1.0, 1, T0, &v);
    assert_false(v.allowed);
    gly__rl_table_take(t, k2, sizeof k2, 1.0, 1, T0, &v);
    assert_true(v.allowed);
    gly__rl_table_free(t);
}

static void table_memory_is_bounded_and_forgets_the_least_recently_used(void **state)
{
    /* 64 stripes of at least 16 keys: at most 1024 keys whatever max_keys says below that */
    struct gly__rl_table *t = gly__rl_table_new(64, 1);
    struct gly__rl_verdict v;
    char key[16];

    (void)state;
    gly__rl_table_take(t, "hot", 3, 1.0, 1, T0, &v);
    for (unsigned i = 0; i < 20000; i++) {
        int n = snprintf(key, sizeof key, "k%u", i);
        gly__rl_table_take(t, key, (size_t)n, 1.0, 1, T0, &v);
        assert_true(v.allowed);
        if (i % 8 == 0) {
            gly__rl_table_take(t, "hot", 3, 1.0, 1, T0, &v); /* keeps "hot" recent */
            assert_false(v.allowed);
        }
    }
    assert_true(gly__rl_table_count(t) <= 64 * 16);
    gly__rl_table_take(t, "k0", 2, 1.0, 1, T0, &v); /* forgotten: a full bucket again */
    assert_true(v.allowed);
    gly__rl_table_free(t);
}

static void rate_parse_reads_count_and_window(void **state)
{
    unsigned n = 99, w = 99;

    (void)state;
    assert_true(gly__rate_parse("100/s", &n, &w));
    assert_int_equal(n, 100);
    assert_int_equal(w, 1);
    assert_true(gly__rate_parse("600/m", &n, &w));
    assert_int_equal(w, 60);
    assert_true(gly__rate_parse("off", &n, &w));
    assert_int_equal(n, 0);
    assert_false(gly__rate_parse("", &n, &w));
    assert_false(gly__rate_parse("/s", &n, &w));
    assert_false(gly__rate_parse("1/", &n, &w));
    assert_false(gly__rate_parse(" 1/s", &n, &w));
}

static void table_free_accepts_null(void **state)
{
    (void)state;
    gly__rl_table_free(NULL);
}

static void use_rate_limit_refuses_bad_options(void **state)
{
    gly_config cfg;
    gly_config_init(&cfg);
    gly_app *app = gly_app_new_config(&cfg);

    (void)state;
    assert_non_null(app);
    unsigned before = app->nmw;
    assert_int_equal(gly_use_rate_limit(app, NULL), GLY_EINVAL);
    assert_int_equal(gly_use_rate_limit(app, &(gly_rate_limit_opts){.rate_per_sec = 0, .burst = 1}),
                     GLY_EINVAL);
    assert_int_equal(gly_use_rate_limit(app, &(gly_rate_limit_opts){.rate_per_sec = 1, .burst = 0}),
                     GLY_EINVAL);
    assert_int_equal(app->setup_err, GLY_EINVAL); /* gly_run() will refuse to start */
    assert_int_equal(app->nmw, before);
    assert_int_equal(gly_use_rate_limit(app, &(gly_rate_limit_opts){.rate_per_sec = 0.5,
                                                                    .burst = 3,
                                                                    .prefix = "/api/v1/auth/"}),
                     0);
    assert_int_equal(app->nmw, before + 1);
    gly_app_free(app);
}

static void defaults_install_only_what_is_enabled(void **state)
{
    gly_config cfg;
    char err[160];

    (void)state;
    gly_config_init(&cfg);
    cfg.security_headers = false;
    gly_app *app = gly_app_new_config(&cfg);
    unsigned base = app->nmw; /* everything off: none of ours runs per request */
    gly_app_free(app);

    gly_config_init(&cfg); /* the default: security headers only */
    app = gly_app_new_config(&cfg);
    assert_int_equal(app->nmw, base + 1);
    gly_app_free(app);

    assert_int_equal(gly_config_set(&cfg, "trusted-proxies", "10.0.0.0/8", err, sizeof err), 0);
    assert_int_equal(gly_config_set(&cfg, "cors-origins", "https://a.example", err, sizeof err), 0);
    assert_int_equal(gly_config_set(&cfg, "rate-limit", "10/s", err, sizeof err), 0);
    app = gly_app_new_config(&cfg);
    assert_int_equal(app->nmw, base + 4);
    assert_int_equal(app->setup_err, 0);
    gly_app_free(app);
}

static void defaults_refuse_fields_written_badly(void **state)
{
    gly_config cfg;

    (void)state;
    gly_config_init(&cfg);
    cfg.rate_limit = 10;
    cfg.rate_limit_window_s = 7;
    gly_app *app = gly_app_new_config(&cfg);
    assert_int_equal(app->setup_err, GLY_EINVAL);
    gly_app_free(app);

    gly_config_init(&cfg);
    snprintf(cfg.trusted_proxies, sizeof cfg.trusted_proxies, "not-an-ip");
    app = gly_app_new_config(&cfg);
    assert_int_equal(app->setup_err, GLY_EINVAL);
    gly_app_free(app);

    gly_config_init(&cfg);
    snprintf(cfg.cors_origins, sizeof cfg.cors_origins, "*");
    cfg.cors_credentials = true;
    app = gly_app_new_config(&cfg);
    assert_int_equal(app->setup_err, GLY_EINVAL);
    gly_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_allows_the_burst_then_refuses),
        cmocka_unit_test(bucket_refills_by_elapsed_time_up_to_the_burst),
        cmocka_unit_test(bucket_retry_after_is_the_time_to_one_token),
        cmocka_unit_test(bucket_ignores_a_clock_that_goes_back),
        cmocka_unit_test(table_keeps_keys_apart),
        cmocka_unit_test(table_hashes_long_keys_and_still_tells_them_apart),
        cmocka_unit_test(table_memory_is_bounded_and_forgets_the_least_recently_used),
        cmocka_unit_test(rate_parse_reads_count_and_window),
        cmocka_unit_test(table_free_accepts_null),
        cmocka_unit_test(use_rate_limit_refuses_bad_options),
        cmocka_unit_test(defaults_install_only_what_is_enabled),
        cmocka_unit_test(defaults_refuse_fields_written_badly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
