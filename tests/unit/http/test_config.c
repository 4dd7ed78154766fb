/*
 * tests/unit/http/test_config.c - settings: defaults, values, environment, flags, usage, checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <galley/buf.h>
#include <galley/http.h>
#include <galley/log.h>

#include "gly_test.h"
#include "http/config.h"

#define KIB ((uint64_t)1 << 10)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define TIB ((uint64_t)1 << 40)

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL) {                                                     \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
        }                                                                                          \
    } while (0)

/* Removes every GALLEY_* variable, so the runner's environment cannot leak into a test. */
static int clear_galley_env(void **state)
{
    (void)state;
    for (char **e = environ; e && *e;) {
        if (strncmp(*e, "GALLEY_", 7) == 0) {
            char name[256];
            size_t n = strcspn(*e, "=");
            snprintf(name, sizeof(name), "%.*s", (int)n, *e);
            unsetenv(name);
            e = environ; /* environ may have moved */
        } else {
            e++;
        }
    }
    return 0;
}

static gly_config defaults(void)
{
    gly_config c;
    gly_config_init(&c);
    return c;
}

/* Compares field by field (padding bytes are not part of a config). */
static void assert_config_equal(const gly_config *a, const gly_config *b)
{
    assert_string_equal(a->http, b->http);
    assert_int_equal(a->workers, b->workers);
    assert_int_equal(a->max_request_line, b->max_request_line);
    assert_int_equal(a->max_head, b->max_head);
    assert_int_equal(a->max_headers, b->max_headers);
    assert_int_equal(a->max_body, b->max_body);
    assert_int_equal(a->header_timeout_ms, b->header_timeout_ms);
    assert_int_equal(a->idle_timeout_ms, b->idle_timeout_ms);
    assert_int_equal(a->body_timeout_ms, b->body_timeout_ms);
    assert_int_equal(a->write_timeout_ms, b->write_timeout_ms);
    assert_int_equal(a->shutdown_timeout_ms, b->shutdown_timeout_ms);
    assert_int_equal(a->coro_stack, b->coro_stack);
    assert_int_equal(a->backlog, b->backlog);
    assert_int_equal(a->log_level, b->log_level);
    assert_int_equal(a->access_log, b->access_log);
    assert_int_equal(a->request_id, b->request_id);
    assert_string_equal(a->trusted_proxies, b->trusted_proxies);
    assert_int_equal(a->security_headers, b->security_headers);
    assert_int_equal(a->hsts, b->hsts);
    assert_string_equal(a->cors_origins, b->cors_origins);
    assert_int_equal(a->cors_credentials, b->cors_credentials);
    assert_int_equal(a->cors_max_age, b->cors_max_age);
    assert_string_equal(a->cors_headers, b->cors_headers);
    assert_string_equal(a->cors_expose, b->cors_expose);
    assert_int_equal(a->rate_limit, b->rate_limit);
    assert_int_equal(a->rate_limit_window_s, b->rate_limit_window_s);
    assert_int_equal(a->rate_limit_burst, b->rate_limit_burst);
}

static void set_ok(gly_config *c, const char *name, const char *value)
{
    char err[256] = "";
    int rc = gly_config_set(c, name, value, err, sizeof(err));
    if (rc != 0) {
        fail_msg("set %s=\"%s\" returned %d: %s", name, value, rc, err);
    }
}

/* Expects value to be refused for name with GLY_EINVAL, leaving the config as it was. */
static void set_bad(const char *name, const char *value)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";

    int rc = gly_config_set(&c, name, value, err, sizeof(err));
    if (rc != GLY_EINVAL) {
        fail_msg("set %s=\"%s\" returned %d, expected GLY_EINVAL", name, value, rc);
    }
    assert_config_equal(&c, &before);
    assert_contains(err, "invalid value for --");
}

static int args(gly_config *c, int *rest, char *err, size_t errlen, int argc, ...)
{
    char *argv[16];
    va_list ap;

    assert_true(argc <= 16);
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, char *);
    }
    va_end(ap);
    return gly_config_from_args(c, argc, argv, rest, err, errlen);
}

/* ---- defaults ------------------------------------------------------------ */

static void init_sets_the_documented_defaults(void **state)
{
    gly_config c;

    (void)state;
    memset(&c, 0xa5, sizeof(c));
    gly_config_init(&c);
    assert_string_equal(c.http, "127.0.0.1:8090");
    assert_int_equal(c.workers, 0);
    assert_int_equal(c.max_request_line, 8 * KIB);
    assert_int_equal(c.max_head, 64 * KIB);
    assert_int_equal(c.max_headers, 100);
    assert_int_equal(c.max_body, 10 * MIB);
    assert_int_equal(c.header_timeout_ms, 10000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.body_timeout_ms, 30000);
    assert_int_equal(c.write_timeout_ms, 30000);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_int_equal(c.coro_stack, 128 * KIB);
    assert_int_equal(c.backlog, 1024);
    assert_int_equal(c.log_level, GLY_LOG_INFO);
    assert_true(c.access_log);
    assert_true(c.request_id);
}

/* ---- gly_config_set: names ---------------------------------------------- */

static void set_treats_dash_and_underscore_alike(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "max-body", "1");
    assert_int_equal(c.max_body, 1);
    set_ok(&c, "max_body", "2");
    assert_int_equal(c.max_body, 2);
    set_ok(&c, "shutdown_timeout", "3");
    assert_int_equal(c.shutdown_timeout_ms, 3);
}

static void set_rejects_an_unknown_name_with_enoent(void **state)
{
    gly_config c = defaults(), before = c;
    char err[128] = "";

    (void)state;
    assert_int_equal(gly_config_set(&c, "foo", "1", err, sizeof(err)), GLY_ENOENT);
    assert_string_equal(err, "unknown setting \"foo\"");
    /* --port is a flag only: it would race GALLEY_HTTP in the environment */
    assert_int_equal(gly_config_set(&c, "port", "80", err, sizeof(err)), GLY_ENOENT);
    assert_string_equal(err, "unknown setting \"port\"");
    assert_int_equal(gly_config_set(&c, "", "1", err, sizeof(err)), GLY_ENOENT);
    assert_config_equal(&c, &before);
}

static void set_error_names_the_setting_the_value_and_the_range(void **state)
{
    gly_config c = defaults();
    char err[160] = "";

    (void)state;
    assert_int_equal(gly_config_set(&c, "workers", "abc", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid value for --workers: \"abc\" (expected an integer 0..1024)");
    assert_int_equal(gly_config_set(&c, "max_request_line", "255", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid value for --max-request-line: \"255\" "
                             "(expected a size 256..1M; suffixes K, M, G, T)");
    assert_int_equal(gly_config_set(&c, "header-timeout", "0", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err,
                        "invalid value for --header-timeout: \"0\" "
                        "(expected a time 1ms..1d; suffixes ms, s, m, h, d; plain numbers are ms)");
    assert_int_equal(gly_config_set(&c, "workers", NULL, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "missing value for --workers");
}

static void set_error_is_one_line_even_for_control_bytes(void **state)
{
    gly_config c = defaults();
    char err[256] = "", value[200];

    (void)state;
    assert_int_equal(gly_config_set(&c, "workers", "1\n2\r\x1b", err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "\"1?2??\"");
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_int_equal(gly_config_set(&c, "workers", value, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "xxx...\" (expected");
    assert_null(strchr(err, '\n'));
}

static void set_accepts_a_null_or_short_error_buffer(void **state)
{
    gly_config c = defaults();
    char err[8];

    (void)state;
    assert_int_equal(gly_config_set(&c, "workers", "x", NULL, 0), GLY_EINVAL);
    assert_int_equal(gly_config_set(&c, "nope", "x", NULL, 0), GLY_ENOENT);
    assert_int_equal(gly_config_set(&c, "workers", "x", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid");
}

/* ---- values -------------------------------------------------------------- */

static void integers_accept_their_bounds_and_reject_past_them(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "workers", "0");
    assert_int_equal(c.workers, 0);
    set_ok(&c, "workers", "1024");
    assert_int_equal(c.workers, 1024);
    set_bad("workers", "1025");
    set_ok(&c, "max-headers", "1");
    assert_int_equal(c.max_headers, 1);
    set_ok(&c, "max-headers", "128");
    assert_int_equal(c.max_headers, 128);
    set_bad("max-headers", "0");
    set_bad("max-headers", "129");
    set_ok(&c, "backlog", "65535");
    assert_int_equal(c.backlog, 65535);
    set_bad("backlog", "0");
    set_bad("backlog", "65536");
}

static void integers_reject_signs_spaces_suffixes_and_overflow(void **state)
{
    (void)state;
    set_bad("workers", "");
    set_bad("workers", "+1");
    set_bad("workers", "-1");
    set_bad("workers", " 1");
    set_bad("workers", "1 ");
    set_bad("workers", "0x10");
    set_bad("workers", "1K");
    set_bad("backlog", "4294967297"); /* wraps to 1 in 32 bits */
    set_bad("backlog", "18446744073709551617");
}

static void sizes_accept_binary_suffixes_in_either_case(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "max-body", "0");
    assert_int_equal(c.max_body, 0);
    set_ok(&c, "max-body", "8K");
    assert_int_equal(c.max_body, 8 * KIB);
    set_ok(&c, "max-body", "8k");
    assert_int_equal(c.max_body, 8 * KIB);
    set_ok(&c, "max-body", "8KiB");
    assert_int_equal(c.max_body, 8 * KIB);
    set_ok(&c, "max-body", "3M");
    assert_int_equal(c.max_body, 3 * MIB);
    set_ok(&c, "max-body", "3MiB");
    assert_int_equal(c.max_body, 3 * MIB);
    set_ok(&c, "max-body", "5G");
    assert_int_equal(c.max_body, 5 * GIB);
    set_ok(&c, "max-body", "5gib");
    assert_int_equal(c.max_body, 5 * GIB);
    set_ok(&c, "max-body", "1T");
    assert_int_equal(c.max_body, TIB);
    set_ok(&c, "max-body", "1tib");
    assert_int_equal(c.max_body, TIB);
    set_ok(&c, "max-body", "1000");
    assert_int_equal(c.max_body, 1000);
}

static void sizes_reject_other_suffixes_and_overflow(void **state)
{
    (void)state;
    set_bad("max-body", "8KB");
    set_bad("max-body", "8 K");
    set_bad("max-body", "K");
    set_bad("max-body", "1.5M");
    set_bad("max-body", "-1");
    set_bad("max-body", "18446744073709551616");
    set_bad("max-body", "17179869184G"); /* 2^64 after scaling */
}

static void sizes_enforce_their_bounds(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "max-request-line", "256");
    assert_int_equal(c.max_request_line, 256);
    set_ok(&c, "max-request-line", "1M");
    assert_int_equal(c.max_request_line, MIB);
    set_bad("max-request-line", "255");
    set_bad("max-request-line", "1048577");
    set_ok(&c, "max-head", "1K");
    assert_int_equal(c.max_head, KIB);
    set_ok(&c, "max-head", "16M");
    assert_int_equal(c.max_head, 16 * MIB);
    set_bad("max-head", "1023");
    set_bad("max-head", "16777217");
    set_bad("max-body", "1099511627777");
    set_bad("max-body", "1025G");
    set_ok(&c, "coro-stack", "16K");
    assert_int_equal(c.coro_stack, 16 * KIB);
    set_ok(&c, "coro-stack", "8M");
    assert_int_equal(c.coro_stack, 8 * MIB);
    set_bad("coro-stack", "16383");
    set_bad("coro-stack", "8193K");
}

static void durations_take_plain_milliseconds_and_ms_s_m_suffixes(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "header-timeout", "250");
    assert_int_equal(c.header_timeout_ms, 250);
    set_ok(&c, "idle-timeout", "250ms");
    assert_int_equal(c.idle_timeout_ms, 250);
    set_ok(&c, "body-timeout", "10s");
    assert_int_equal(c.body_timeout_ms, 10000);
    set_ok(&c, "write-timeout", "2m");
    assert_int_equal(c.write_timeout_ms, 120000);
    set_ok(&c, "write-timeout", "3S");
    assert_int_equal(c.write_timeout_ms, 3000);
    set_ok(&c, "shutdown-timeout", "0");
    assert_int_equal(c.shutdown_timeout_ms, 0);
    set_ok(&c, "idle-timeout", "1440m");
    assert_int_equal(c.idle_timeout_ms, 86400000);
}

static void durations_reject_zero_past_a_day_and_other_units(void **state)
{
    (void)state;
    set_bad("header-timeout", "0");
    set_bad("idle-timeout", "0s");
    set_bad("body-timeout", "1441m");
    set_bad("shutdown-timeout", "86400001");
    set_bad("write-timeout", "25h");
    set_bad("write-timeout", "2d");
    set_bad("write-timeout", "10sec");
    set_bad("write-timeout", "10 s");
    set_bad("write-timeout", "1.5s");
    set_bad("write-timeout", "s");
    set_bad("write-timeout", "-1");
    set_bad("write-timeout", "307445734561825861m"); /* overflows when scaled */
}

static void booleans_accept_on_off_true_false_yes_no_1_0(void **state)
{
    static const char *const on[] = {"on", "true", "yes", "1", "ON", "True"};
    static const char *const off[] = {"off", "false", "no", "0", "OFF", "No"};
    gly_config c = defaults();

    (void)state;
    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        set_ok(&c, "access-log", off[i]);
        assert_false(c.access_log);
        set_ok(&c, "access-log", on[i]);
        assert_true(c.access_log);
        set_ok(&c, "request_id", off[i]);
        assert_false(c.request_id);
        set_ok(&c, "request_id", on[i]);
        assert_true(c.request_id);
    }
    set_bad("access-log", "");
    set_bad("access-log", "2");
    set_bad("access-log", "onn");
    set_bad("request-id", "enabled");
}

static void log_level_takes_the_level_names(void **state)
{
    gly_config c = defaults();
    char err[160] = "";

    (void)state;
    set_ok(&c, "log-level", "debug");
    assert_int_equal(c.log_level, GLY_LOG_DEBUG);
    set_ok(&c, "log-level", "warn");
    assert_int_equal(c.log_level, GLY_LOG_WARN);
    set_ok(&c, "log-level", "error");
    assert_int_equal(c.log_level, GLY_LOG_ERROR);
    set_ok(&c, "log-level", "off");
    assert_int_equal(c.log_level, GLY_LOG_OFF);
    set_ok(&c, "log_level", "info");
    assert_int_equal(c.log_level, GLY_LOG_INFO);
    set_bad("log-level", "verbose");
    set_bad("log-level", "");
    assert_int_equal(gly_config_set(&c, "log-level", "loud", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid value for --log-level: \"loud\" "
                             "(expected debug, info, warn, error or off)");
}

static void http_accepts_ipv4_bracketed_ipv6_and_host_names(void **state)
{
    static const char *const good[] = {
        "0.0.0.0:80",     "127.0.0.1:0",
        "[::1]:8090",     "[::]:65535",
        "[fe80::1:2]:1",  "localhost:3000",
        "LocalHost:3000", "api.example.com:443",
        "a-b.c1:1",       "xn--bcher-kva.example:8080",
    };
    gly_config c = defaults();

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        set_ok(&c, "http", good[i]);
        assert_string_equal(c.http, good[i]);
    }
}

static void http_rejects_malformed_addresses_and_says_why(void **state)
{
    static const char *const bad[][2] = {
        {"localhost", "expected HOST:PORT"},
        {"localhost:", "expected a port 0..65535"},
        {"localhost:65536", "expected a port 0..65535"},
        {"localhost:+80", "expected a port 0..65535"},
        {"localhost:80 ", "expected a port 0..65535"},
        {":8090", "missing host"},
        {"::1:8090", "needs brackets"},
        {"[::1]8090", "expected [IPv6]:PORT"},
        {"[::1:8090", "expected [IPv6]:PORT"},
        {"[nope]:80", "not an IPv6 address"},
        {"[1.2.3.4]:80", "not an IPv6 address"},
        {"1.2.3.256:80", "not an IPv4 address"},
        {"1.2.3:80", "not an IPv4 address"},
        {"host_name:80", "not a valid host name"},
        {"-bad.example:80", "not a valid host name"},
        {"bad-.example:80", "not a valid host name"},
        {"a..b:80", "not a valid host name"},
        {"example.com.:80", "not a valid host name"},
        {"h\xc3\xa9.example:80", "not a valid host name"},
    };
    gly_config c = defaults();
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = gly_config_set(&c, "http", bad[i][0], err, sizeof(err));
        if (rc != GLY_EINVAL) {
            fail_msg("http \"%s\" returned %d", bad[i][0], rc);
        }
        assert_contains(err, "invalid value for --http: \"");
        assert_contains(err, bad[i][1]);
        assert_string_equal(c.http, "127.0.0.1:8090");
    }
}

static void http_must_fit_in_127_bytes_with_labels_of_63(void **state)
{
    gly_config c = defaults();
    char addr[160], err[256];

    (void)state;
    /* 63 + 1 + 58 + ":8090" = 127 bytes */
    memset(addr, 'a', 63);
    addr[63] = '.';
    memset(addr + 64, 'b', 58);
    strcpy(addr + 122, ":8090");
    assert_int_equal(strlen(addr), 127);
    set_ok(&c, "http", addr);
    assert_string_equal(c.http, addr);

    memset(addr + 64, 'b', 59);
    strcpy(addr + 123, ":8090");
    assert_int_equal(gly_config_set(&c, "http", addr, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "longer than 127 bytes");

    /* a label of a host name is at most 63 bytes */
    memset(addr, 'a', 64);
    strcpy(addr + 64, ".example:80");
    assert_int_equal(gly_config_set(&c, "http", addr, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "not a valid host name");
}

/* ---- environment --------------------------------------------------------- */

static void env_applies_galley_variables(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    setenv("GALLEY_WORKERS", "4", 1);
    setenv("GALLEY_MAX_BODY", "1M", 1);
    setenv("GALLEY_HTTP", "[::1]:9000", 1);
    setenv("GALLEY_ACCESS_LOG", "off", 1);
    setenv("GALLEY_IDLE_TIMEOUT", "5s", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.max_body, MIB);
    assert_string_equal(c.http, "[::1]:9000");
    assert_false(c.access_log);
    assert_int_equal(c.idle_timeout_ms, 5000);
    assert_int_equal(c.backlog, 1024); /* untouched */
}

static void env_names_ignore_case_after_the_prefix(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    setenv("GALLEY_Max_Body", "2K", 1);
    setenv("galley_workers", "9", 1); /* the prefix itself is upper case */
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), 0);
    assert_int_equal(c.max_body, 2 * KIB);
    assert_int_equal(c.workers, 0);
}

static void env_skips_unknown_galley_variables(void **state)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";

    (void)state;
    setenv("GALLEY_DATABASE_URL", "postgres://db/app", 1);
    setenv("GALLEY_PORT", "not a port", 1);
    setenv("GALLEY_", "x", 1);
    setenv("GALLEYWORKERS", "x", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), 0);
    assert_config_equal(&c, &before);
    unsetenv("GALLEYWORKERS");
}

static void env_bad_value_names_the_variable_and_changes_nothing(void **state)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";

    (void)state;
    setenv("GALLEY_BACKLOG", "7", 1);
    setenv("GALLEY_WORKERS", "lots", 1);
    setenv("GALLEY_MAX_HEADERS", "9", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err,
                        "invalid value for GALLEY_WORKERS: \"lots\" (expected an integer 0..1024)");
    assert_config_equal(&c, &before);
}

static void env_empty_value_is_an_error(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    setenv("GALLEY_LOG_LEVEL", "", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "GALLEY_LOG_LEVEL: \"\"");
}

/* ---- flags ----------------------------------------------------------------- */

static void args_take_space_and_equals_forms(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 6, "--workers", "3", "--max-body=64K",
                          "--log_level", "debug", "--http=0.0.0.0:80"),
                     0);
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.max_body, 64 * KIB);
    assert_int_equal(c.log_level, GLY_LOG_DEBUG);
    assert_string_equal(c.http, "0.0.0.0:80");
    assert_int_equal(rest, 6);
}

static void args_override_the_environment(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    setenv("GALLEY_WORKERS", "4", 1);
    setenv("GALLEY_BACKLOG", "64", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), 0);
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--workers", "8"), 0);
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.backlog, 64);
}

static void args_later_flags_win(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--workers=1", "--workers=2"), 0);
    assert_int_equal(c.workers, 2);
}

static void args_port_replaces_only_the_port(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--port", "9000"), 0);
    assert_string_equal(c.http, "127.0.0.1:9000");
    assert_int_equal(args(&c, NULL, err, sizeof(err), 3, "--http", "[::1]:8090", "--port=0"), 0);
    assert_string_equal(c.http, "[::1]:0");
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--port", "65536"), GLY_EINVAL);
    assert_string_equal(err, "invalid value for --port: \"65536\" (expected a port 0..65535)");
    assert_string_equal(c.http, "[::1]:0");
}

static void args_port_refuses_to_overflow_http(void **state)
{
    gly_config c = defaults();
    char host[160], err[256] = "";

    (void)state;
    memset(host, 'a', 63);
    host[63] = '.';
    memset(host + 64, 'b', 58);
    strcpy(host + 122, ":8090"); /* 127 bytes */
    set_ok(&c, "http", host);
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--port", "65535"), GLY_EINVAL);
    assert_contains(err, "longer than 127 bytes");
    assert_int_equal(args(&c, NULL, err, sizeof(err), 2, "--port", "1"), 0);
    assert_string_equal(c.http + 122, ":1");
}

static void args_bare_boolean_is_on_and_no_prefix_is_off(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 2, "--no-access-log", "--no_request_id"), 0);
    assert_false(c.access_log);
    assert_false(c.request_id);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 3, "--access-log", "--request-id", "serve"),
                     0);
    assert_true(c.access_log);
    assert_true(c.request_id);
    assert_int_equal(rest, 2);
}

static void args_boolean_takes_a_following_boolean_word(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 3, "--access-log", "off", "run"), 0);
    assert_false(c.access_log);
    assert_int_equal(rest, 2);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--access-log=no"), 0);
    assert_false(c.access_log);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--access-log=maybe"), GLY_EINVAL);
    assert_contains(err, "invalid value for --access-log: \"maybe\"");
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--no-access-log=on"), GLY_EINVAL);
    assert_string_equal(err, "--no-access-log takes no value");
}

static void args_stop_at_the_first_word_and_report_its_index(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(
        args(&c, &rest, err, sizeof(err), 5, "--workers", "2", "serve", "--backlog", "5"), 0);
    assert_int_equal(rest, 2);
    assert_int_equal(c.workers, 2);
    assert_int_equal(c.backlog, 1024);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 2, "-", "--workers=1"), 0);
    assert_int_equal(rest, 0);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 0), 0);
    assert_int_equal(rest, 0);
}

static void args_double_dash_stops_and_is_skipped(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 4, "--workers=2", "--", "--workers=5", "x"),
                     0);
    assert_int_equal(rest, 2);
    assert_int_equal(c.workers, 2);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--"), 0);
    assert_int_equal(rest, 1);
}

static void args_rest_is_argc_when_all_are_flags(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 3, "--backlog", "10", "--no-access-log"), 0);
    assert_int_equal(rest, 3);
}

static void args_unknown_flag_is_enoent_and_named(void **state)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 3, "--workers=2", "--foo", "1"), GLY_ENOENT);
    assert_string_equal(err, "unknown flag --foo");
    assert_int_equal(rest, 1);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--foo=bar"), GLY_ENOENT);
    assert_string_equal(err, "unknown flag --foo");
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--no-workers"), GLY_ENOENT);
    assert_string_equal(err, "unknown flag --no-workers");
    assert_int_equal(args(&c, &rest, err, sizeof(err), 2, "-w", "2"), GLY_ENOENT);
    assert_string_equal(err, "unknown flag -w");
    /* flags are case-sensitive; only environment names fold case */
    assert_int_equal(args(&c, &rest, err, sizeof(err), 2, "--Workers", "2"), GLY_ENOENT);
    assert_string_equal(err, "unknown flag --Workers");
    assert_config_equal(&c, &before);
}

static void args_missing_value_is_einval_and_named(void **state)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--workers"), GLY_EINVAL);
    assert_string_equal(err, "missing value for --workers");
    assert_int_equal(rest, 0);
    assert_int_equal(args(&c, &rest, err, sizeof(err), 3, "--max-body", "--backlog", "5"),
                     GLY_EINVAL);
    assert_string_equal(err, "missing value for --max-body");
    assert_int_equal(args(&c, &rest, err, sizeof(err), 1, "--port"), GLY_EINVAL);
    assert_string_equal(err, "missing value for --port");
    assert_config_equal(&c, &before);
}

static void args_bad_value_names_the_flag_as_given_and_changes_nothing(void **state)
{
    gly_config c = defaults(), before = c;
    char err[256] = "";
    int rest = -1;

    (void)state;
    assert_int_equal(
        args(&c, &rest, err, sizeof(err), 4, "--backlog", "5", "--max_headers=200", "x"),
        GLY_EINVAL);
    assert_string_equal(err,
                        "invalid value for --max_headers: \"200\" (expected an integer 1..128)");
    assert_int_equal(rest, 2);
    assert_config_equal(&c, &before);
}

/* ---- usage ---------------------------------------------------------------- */

static void usage_lists_every_setting_with_its_default_and_variable(void **state)
{
    static const char *const names[] = {
        "http",
        "workers",
        "max-request-line",
        "max-head",
        "max-headers",
        "max-body",
        "header-timeout",
        "idle-timeout",
        "body-timeout",
        "write-timeout",
        "shutdown-timeout",
        "coro-stack",
        "backlog",
        "log-level",
        "access-log",
        "request-id",
        "trusted-proxies",
        "security-headers",
        "hsts",
        "cors-origins",
        "cors-credentials",
        "cors-max-age",
        "cors-headers",
        "cors-expose",
        "rate-limit",
        "rate-limit-burst",
        "config",
        "data",
        "database-url",
        "db-sync",
        "db-timeout",
        "db-cache",
        "db-mmap",
        "db-pool-min",
        "db-pool-max",
        "db-wait",
        "migrate",
        "redis-url",
        "redis-timeout",
        "jwt-secret",
        "jwt-secret-file",
        "jwt-issuer",
        "jwt-audience",
        "jwt-alg",
        "jwt-key-file",
        "oidc-providers",
        "oidc-clients",
        "access-ttl",
        "refresh-ttl",
        "argon2-memory",
        "argon2-time",
        "login-delay-after",
        "login-lock-after",
        "login-lock-time",
        "session-cache",
        "smtp-url",
        "mail-from",
        "public-url",
        "hash-concurrency",
    };
    gly_buf b;
    const char *text;
    size_t lines = 0;

    (void)state;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_int_equal(gly_config_usage(&b), 0);
    text = gly_buf_cstr(&b);
    assert_non_null(text);
    for (const char *p = text; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, sizeof(names) / sizeof(names[0]) + 1); /* and --port */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "--%s ", names[i]);
        if (strstr(text, want) == NULL) {
            snprintf(want, sizeof(want), "--[no-]%s ", names[i]);
            assert_contains(text, want);
        }
    }
    assert_contains(text, "  --workers N ");
    assert_contains(text, "worker threads; 0 = one per CPU (default 0, env GALLEY_WORKERS)\n");
    assert_contains(text, "(default 127.0.0.1:8090, env GALLEY_HTTP)\n");
    assert_contains(text, "(default 8K, env GALLEY_MAX_REQUEST_LINE)\n");
    assert_contains(text, "(default 10s, env GALLEY_SHUTDOWN_TIMEOUT)\n");
    assert_contains(text, "(default on, env GALLEY_ACCESS_LOG)\n");
    assert_contains(text, "  --port N ");
    assert_contains(text, "(default none, env GALLEY_TRUSTED_PROXIES)\n");
    assert_contains(text, "(default off, env GALLEY_RATE_LIMIT)\n");
    gly_buf_dispose(&b);
}

/* ---- gly__config_check ---------------------------------------------------- */

static void check_accepts_the_defaults(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), 0);
}

static void check_wants_max_head_at_least_max_request_line(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    /* each value is fine alone, in either order; only the pair is wrong */
    set_ok(&c, "max-head", "4K");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "--max-head 4K is less than --max-request-line 8K");
    set_ok(&c, "max-request-line", "4K");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), 0);
}

static void check_rejects_fields_written_out_of_range(void **state)
{
    gly_config c;
    char err[256] = "";

    (void)state;
    c = defaults();
    c.workers = 5000;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "--workers is 5000 (expected an integer 0..1024)");

    c = defaults();
    c.max_headers = 129;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--max-headers is 129");

    c = defaults();
    c.max_body = TIB + 1;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--max-body is 1099511627777");

    c = defaults();
    c.header_timeout_ms = 0;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--header-timeout is 0");

    c = defaults();
    c.log_level = 9;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--log-level is 9");

    c = defaults();
    strcpy(c.http, "nowhere");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid --http \"nowhere\" (expected HOST:PORT)");

    c = defaults();
    memset(c.http, 'a', sizeof(c.http));
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "--http is not NUL-terminated");
}

/* ---- built-in middleware settings ------------------------------------------ */

static void middleware_settings_have_strict_defaults(void **state)
{
    gly_config c = defaults();

    (void)state;
    assert_string_equal(c.trusted_proxies, "");
    assert_true(c.security_headers);
    assert_false(c.hsts);
    assert_string_equal(c.cors_origins, "");
    assert_false(c.cors_credentials);
    assert_int_equal(c.cors_max_age, 600);
    assert_string_equal(c.cors_headers, "Content-Type, Authorization, X-Request-Id, X-API-Key");
    assert_string_equal(c.cors_expose, "X-Request-Id");
    assert_int_equal(c.rate_limit, 0);
    assert_int_equal(c.rate_limit_burst, 0);
}

static void trusted_proxies_take_ips_and_cidrs_of_both_families(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "trusted-proxies", "127.0.0.1, 10.0.0.0/8,::1,fd00::/8, 0.0.0.0/0");
    assert_string_equal(c.trusted_proxies, "127.0.0.1, 10.0.0.0/8,::1,fd00::/8, 0.0.0.0/0");
    set_ok(&c, "trusted-proxies", "");
    assert_string_equal(c.trusted_proxies, "");
    set_bad("trusted-proxies", "10.0.0.0/33");
    set_bad("trusted-proxies", "::/129");
    set_bad("trusted-proxies", "10.0.0.1,");
    set_bad("trusted-proxies", "10.0.0.1,,10.0.0.2");
    set_bad("trusted-proxies", "proxy.example.com");
    set_bad("trusted-proxies", "10.0.0.1/");
    set_bad("trusted-proxies", "10.0.0.1/-1");
}

static void trusted_proxies_error_names_the_bad_item(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    assert_int_equal(gly_config_set(&c, "trusted-proxies", "10.0.0.1, 300.1.1.1", err, sizeof(err)),
                     GLY_EINVAL);
    assert_contains(err, "--trusted-proxies");
    assert_contains(err, "\"300.1.1.1\" is not an IP address or CIDR range");
}

static void trusted_proxies_refuse_a_list_too_long_for_the_field(void **state)
{
    char big[600];

    (void)state;
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    set_bad("trusted-proxies", big);
}

static void cors_origins_take_star_or_exact_origins(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "cors-origins", "*");
    set_ok(&c, "cors-origins", "https://app.example.com, http://localhost:5173");
    assert_string_equal(c.cors_origins, "https://app.example.com, http://localhost:5173");
    set_bad("cors-origins", "https://app.example.com/");
    set_bad("cors-origins", "app.example.com");
    set_bad("cors-origins", "https://a.example.com, *");
    set_bad("cors-origins", "https://*.example.com");
    set_bad("cors-origins", "null");
    set_bad("cors-origins", "https://a.example.com,");
}

static void cors_header_lists_take_tokens(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "cors-headers", "X-One,X-Two");
    assert_string_equal(c.cors_headers, "X-One,X-Two");
    set_ok(&c, "cors-expose", "");
    set_bad("cors-headers", "X One");
    set_bad("cors-expose", "X-A, X:B");
    set_ok(&c, "cors-max-age", "0");
    set_bad("cors-max-age", "86401");
}

static void rate_limit_takes_count_per_second_minute_or_hour(void **state)
{
    gly_config c = defaults();

    (void)state;
    set_ok(&c, "rate-limit", "100/s");
    assert_int_equal(c.rate_limit, 100);
    assert_int_equal(c.rate_limit_window_s, 1);
    set_ok(&c, "rate-limit", "600/m");
    assert_int_equal(c.rate_limit, 600);
    assert_int_equal(c.rate_limit_window_s, 60);
    set_ok(&c, "rate-limit", "5/h");
    assert_int_equal(c.rate_limit_window_s, 3600);
    set_ok(&c, "rate-limit", "off");
    assert_int_equal(c.rate_limit, 0);
    set_ok(&c, "rate-limit-burst", "20");
    assert_int_equal(c.rate_limit_burst, 20);
    set_bad("rate-limit", "0/s");
    set_bad("rate-limit", "100");
    set_bad("rate-limit", "100/d");
    set_bad("rate-limit", "100/ss");
    set_bad("rate-limit", "-1/s");
    set_bad("rate-limit", "99999999999/s");
    set_bad("rate-limit-burst", "x");
}

static void rate_limit_error_says_what_is_expected(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    assert_int_equal(gly_config_set(&c, "rate-limit", "fast", err, sizeof(err)), GLY_EINVAL);
    assert_string_equal(err, "invalid value for --rate-limit: \"fast\" (expected N/s, N/m or N/h "
                             "with N >= 1, or off)");
}

static void middleware_settings_come_from_flags_and_env(void **state)
{
    gly_config c = defaults();
    char err[256] = "";
    int rest = -1;

    (void)state;
    setenv("GALLEY_CORS_ORIGINS", "https://a.example", 1);
    assert_int_equal(gly_config_from_env(&c, err, sizeof(err)), 0);
    assert_string_equal(c.cors_origins, "https://a.example");
    assert_int_equal(args(&c, &rest, err, sizeof(err), 5, "--rate-limit", "5/s",
                          "--no-security-headers", "--trusted-proxies=127.0.0.1", "--hsts"),
                     0);
    assert_int_equal(c.rate_limit, 5);
    assert_false(c.security_headers);
    assert_true(c.hsts);
    assert_string_equal(c.trusted_proxies, "127.0.0.1");
}

static void check_refuses_star_origin_with_credentials(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    set_ok(&c, "cors-origins", "*");
    set_ok(&c, "cors-credentials", "on");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--cors-origins \"*\" cannot be used with --cors-credentials");
    set_ok(&c, "cors-origins", "https://a.example");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), 0);
}

static void database_url_is_redacted_in_the_dump_and_in_errors(void **state)
{
    gly_config cfg;
    char err[256];
    gly_buf b;

    (void)state;
    gly_config_init(&cfg);
    assert_int_equal(gly_config_set(&cfg, "database-url",
                                    "postgres://app:hunter2secret@db:5432/app?password=p2&x=1", err,
                                    sizeof err),
                     0);
    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_int_equal(gly_config_dump(&cfg, &b), 0);
    const char *text = gly_buf_cstr(&b);
    assert_contains(text, "\"database-url\":\"postgres://app:***@db:5432/app?password=***&x=1\"");
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "p2"));
    gly_buf_dispose(&b);

    assert_int_equal(gly_config_set(&cfg, "database-url", "mysql://u:hunter2@h/d", err, sizeof err),
                     GLY_EINVAL);
    assert_null(strstr(err, "hunter2"));
    assert_contains(err, "--database-url");
    /* other secrets show as *** whole */
    assert_int_equal(gly_config_set(&cfg, "jwt-secret", "0123456789abcdef0123456789abcdef-s3cr3t",
                                    err, sizeof err),
                     0);
    gly_buf_init(&b, NULL, 0, NULL, 0);
    assert_int_equal(gly_config_dump(&cfg, &b), 0);
    assert_contains(gly_buf_cstr(&b), "\"jwt-secret\":\"***\"");
    assert_null(strstr(gly_buf_cstr(&b), "s3cr3t"));
    gly_buf_dispose(&b);
    assert_int_equal(gly_config_set(&cfg, "jwt-secret", "short-s3cr3t", err, sizeof err),
                     GLY_EINVAL);
    assert_null(strstr(err, "s3cr3t"));
    /* --db is the short flag of the same setting */
    char *argv[] = {"--db", "postgres://h/d", NULL};
    int rest;
    assert_int_equal(gly_config_from_args(&cfg, 2, argv, &rest, err, sizeof err), 0);
    assert_string_equal(cfg.database_url, "postgres://h/d");
}

static void check_refuses_middleware_fields_written_badly(void **state)
{
    gly_config c = defaults();
    char err[256] = "";

    (void)state;
    snprintf(c.trusted_proxies, sizeof(c.trusted_proxies), "10.0.0.0/99");
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "invalid --trusted-proxies \"10.0.0.0/99\"");
    c = defaults();
    memset(c.cors_expose, 'x', sizeof(c.cors_expose));
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--cors-expose is not NUL-terminated");
    c = defaults();
    c.rate_limit = 10;
    c.rate_limit_window_s = 7;
    assert_int_equal(gly__config_check(&c, err, sizeof(err)), GLY_EINVAL);
    assert_contains(err, "--rate-limit window is 7 s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_sets_the_documented_defaults),
        cmocka_unit_test(set_treats_dash_and_underscore_alike),
        cmocka_unit_test(set_rejects_an_unknown_name_with_enoent),
        cmocka_unit_test(set_error_names_the_setting_the_value_and_the_range),
        cmocka_unit_test(set_error_is_one_line_even_for_control_bytes),
        cmocka_unit_test(set_accepts_a_null_or_short_error_buffer),
        cmocka_unit_test(integers_accept_their_bounds_and_reject_past_them),
        cmocka_unit_test(integers_reject_signs_spaces_suffixes_and_overflow),
        cmocka_unit_test(sizes_accept_binary_suffixes_in_either_case),
        cmocka_unit_test(sizes_reject_other_suffixes_and_overflow),
        cmocka_unit_test(sizes_enforce_their_bounds),
        cmocka_unit_test(durations_take_plain_milliseconds_and_ms_s_m_suffixes),
        cmocka_unit_test(durations_reject_zero_past_a_day_and_other_units),
        cmocka_unit_test(booleans_accept_on_off_true_false_yes_no_1_0),
        cmocka_unit_test(log_level_takes_the_level_names),
        cmocka_unit_test(http_accepts_ipv4_bracketed_ipv6_and_host_names),
        cmocka_unit_test(http_rejects_malformed_addresses_and_says_why),
        cmocka_unit_test(http_must_fit_in_127_bytes_with_labels_of_63),
        cmocka_unit_test_setup_teardown(env_applies_galley_variables, clear_galley_env,
                                        clear_galley_env),
        cmocka_unit_test_setup_teardown(env_names_ignore_case_after_the_prefix, clear_galley_env,
                                        clear_galley_env),
        cmocka_unit_test_setup_teardown(env_skips_unknown_galley_variables, clear_galley_env,
                                        clear_galley_env),
        cmocka_unit_test_setup_teardown(env_bad_value_names_the_variable_and_changes_nothing,
                                        clear_galley_env, clear_galley_env),
        cmocka_unit_test_setup_teardown(env_empty_value_is_an_error, clear_galley_env,
                                        clear_galley_env),
        cmocka_unit_test(args_take_space_and_equals_forms),
        cmocka_unit_test_setup_teardown(args_override_the_environment, clear_galley_env,
                                        clear_galley_env),
        cmocka_unit_test(args_later_flags_win),
        cmocka_unit_test(args_port_replaces_only_the_port),
        cmocka_unit_test(args_port_refuses_to_overflow_http),
        cmocka_unit_test(args_bare_boolean_is_on_and_no_prefix_is_off),
        cmocka_unit_test(args_boolean_takes_a_following_boolean_word),
        cmocka_unit_test(args_stop_at_the_first_word_and_report_its_index),
        cmocka_unit_test(args_double_dash_stops_and_is_skipped),
        cmocka_unit_test(args_rest_is_argc_when_all_are_flags),
        cmocka_unit_test(args_unknown_flag_is_enoent_and_named),
        cmocka_unit_test(args_missing_value_is_einval_and_named),
        cmocka_unit_test(args_bad_value_names_the_flag_as_given_and_changes_nothing),
        cmocka_unit_test(usage_lists_every_setting_with_its_default_and_variable),
        cmocka_unit_test(check_accepts_the_defaults),
        cmocka_unit_test(check_wants_max_head_at_least_max_request_line),
        cmocka_unit_test(check_rejects_fields_written_out_of_range),
        cmocka_unit_test(middleware_settings_have_strict_defaults),
        cmocka_unit_test(trusted_proxies_take_ips_and_cidrs_of_both_families),
        cmocka_unit_test(trusted_proxies_error_names_the_bad_item),
        cmocka_unit_test(trusted_proxies_refuse_a_list_too_long_for_the_field),
        cmocka_unit_test(cors_origins_take_star_or_exact_origins),
        cmocka_unit_test(cors_header_lists_take_tokens),
        cmocka_unit_test(rate_limit_takes_count_per_second_minute_or_hour),
        cmocka_unit_test(rate_limit_error_says_what_is_expected),
        cmocka_unit_test_setup_teardown(middleware_settings_come_from_flags_and_env,
                                        clear_galley_env, clear_galley_env),
        cmocka_unit_test(check_refuses_star_origin_with_credentials),
        cmocka_unit_test(check_refuses_middleware_fields_written_badly),
        cmocka_unit_test(database_url_is_redacted_in_the_dump_and_in_errors),
    };
    return cmocka_run_group_tests(tests, clear_galley_env, NULL);
}
