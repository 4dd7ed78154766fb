/*
 * tests/unit/redis/test_resp.c - the RESP2 codec: scanning and building
 * replies, encoding commands.
 *
 * Every input is copied to the end of a page followed by a PROT_NONE page,
 * so a read past it faults at once. Every accepted reply is also scanned at
 * each shorter length, which must answer "need more" (0) and never an
 * error or a length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/arena.h>
#include <galley/buf.h>

#include "gly_test.h"
#include "redis/internal.h"

/* Scans s[0 .. n) from a guarded copy. */
static ssize_t scan_n(const char *s, size_t n)
{
    struct gly_test_guard g;
    char *p = gly_test_guarded(s, n, &g);
    ssize_t r = gly__resp_scan(p, n);
    gly_test_unguard(&g);
    return r;
}

static ssize_t scan(const char *s)
{
    return scan_n(s, strlen(s));
}

/* Scans s whole (its length must be the answer), every prefix (0), and builds it. */
static gly_redis_reply *parse(gly_arena *a, const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++)
        assert_int_equal(scan_n(s, k), 0);
    assert_int_equal(scan_n(s, n), (ssize_t)n);
    struct gly_test_guard g;
    char *p = gly_test_guarded(s, n, &g);
    gly_redis_reply *r = NULL;
    assert_int_equal(gly__resp_build(a, p, n, &r), 0);
    gly_test_unguard(&g);
    assert_non_null(r);
    return r;
}

#define PARSE(a, lit) parse((a), (lit), sizeof(lit) - 1)

static void scan_reads_each_simple_type(void **state)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_redis_reply *r = PARSE(&a, "+OK\r\n");
    assert_int_equal(r->type, GLY_REDIS_STATUS);
    assert_string_equal(r->str, "OK");
    assert_int_equal(r->len, 2);

    r = PARSE(&a, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
    assert_int_equal(r->type, GLY_REDIS_ERROR);
    assert_string_equal(r->str,
                        "WRONGTYPE Operation against a key holding the wrong kind of value");

    r = PARSE(&a, ":-9223372036854775808\r\n");
    assert_int_equal(r->type, GLY_REDIS_INTEGER);
    assert_true(r->integer == INT64_MIN);
    r = PARSE(&a, ":9223372036854775807\r\n");
    assert_true(r->integer == INT64_MAX);
    r = PARSE(&a, ":0\r\n");
    assert_int_equal(r->integer, 0);

    r = PARSE(&a, "$-1\r\n");
    assert_int_equal(r->type, GLY_REDIS_NIL);
    r = PARSE(&a, "*-1\r\n");
    assert_int_equal(r->type, GLY_REDIS_NIL);
    r = PARSE(&a, "+\r\n");
    assert_int_equal(r->type, GLY_REDIS_STATUS);
    assert_int_equal(r->len, 0);
    gly_arena_dispose(&a);
}

static void bulk_strings_are_binary_safe(void **state)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_redis_reply *r = PARSE(&a, "$7\r\na\r\nb\0c\n\r\n");
    assert_int_equal(r->type, GLY_REDIS_STRING);
    assert_int_equal(r->len, 7);
    assert_memory_equal(r->str, "a\r\nb\0c\n", 7);
    assert_int_equal(r->str[7], '\0');
    r = PARSE(&a, "$0\r\n\r\n");
    assert_int_equal(r->type, GLY_REDIS_STRING);
    assert_int_equal(r->len, 0);
    assert_string_equal(r->str, "");
    gly_arena_dispose(&a);
}

static void arrays_nest_and_count_their_elements(void **state)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_redis_reply *r = PARSE(&a, "*3\r\n$7\r\nmessage\r\n*2\r\n:1\r\n*0\r\n$5\r\nhello\r\n");
    assert_int_equal(r->type, GLY_REDIS_ARRAY);
    assert_int_equal(r->len, 3);
    assert_string_equal(r->element[0]->str, "message");
    assert_int_equal(r->element[1]->type, GLY_REDIS_ARRAY);
    assert_int_equal(r->element[1]->len, 2);
    assert_int_equal(r->element[1]->element[0]->integer, 1);
    assert_int_equal(r->element[1]->element[1]->type, GLY_REDIS_ARRAY);
    assert_int_equal(r->element[1]->element[1]->len, 0);
    assert_string_equal(r->element[2]->str, "hello");
    gly_arena_dispose(&a);
}

static void scan_measures_only_the_first_of_pipelined_replies(void **state)
{
    assert_int_equal(scan("+OK\r\n:1\r\n"), 5);
    assert_int_equal(scan("*1\r\n:1\r\n$3\r\nabc\r\n"), 8);
    assert_int_equal(scan("$3\r\nabc\r\n+"), 9);
}

static void scan_rejects_what_is_not_resp(void **state)
{
    assert_int_equal(scan("?x\r\n"), GLY_EPROTO);
    assert_int_equal(scan("+a\nb\r\n"), GLY_EPROTO);
    assert_int_equal(scan("+a\rb\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":-\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":1x\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":9223372036854775808\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":-9223372036854775809\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":1\rx"), GLY_EPROTO);
    assert_int_equal(scan("$-2\r\n"), GLY_EPROTO);
    assert_int_equal(scan("$3\r\nabcd\r\n"), GLY_EPROTO);
    assert_int_equal(scan("*-2\r\n"), GLY_EPROTO);
    assert_int_equal(scan("*2\r\n:1\r\n?\r\n"), GLY_EPROTO);
    assert_int_equal(scan(":00000000000000000000000001\r\n"), GLY_EPROTO);
}

static void scan_enforces_its_limits(void **state)
{
    char buf[256];
    snprintf(buf, sizeof buf, "$%lld\r\n", RESP_BULK_MAX + 1);
    assert_int_equal(scan(buf), GLY_ELIMIT);
    snprintf(buf, sizeof buf, "*%lld\r\n", RESP_ARRAY_MAX + 1);
    assert_int_equal(scan(buf), GLY_ELIMIT);
    /* RESP_DEPTH_MAX arrays nest; one more does not */
    size_t n = 0;
    for (int i = 0; i < RESP_DEPTH_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "*1\r\n");
    n += (size_t)snprintf(buf + n, sizeof buf - n, ":1\r\n");
    assert_int_equal(scan(buf), (ssize_t)n);
    n = 0;
    for (int i = 0; i <= RESP_DEPTH_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "*1\r\n");
    n += (size_t)snprintf(buf + n, sizeof buf - n, ":1\r\n");
    assert_int_equal(scan(buf), GLY_ELIMIT);
    /* a status line past RESP_LINE_MAX without its end */
    char *line = malloc(RESP_LINE_MAX + 2);
    assert_non_null(line);
    line[0] = '+';
    memset(line + 1, 'x', RESP_LINE_MAX + 1);
    assert_int_equal(scan_n(line, RESP_LINE_MAX + 2), GLY_ELIMIT);
    assert_int_equal(scan_n(line, RESP_LINE_MAX), 0);
    free(line);
}

static void build_fails_cleanly_when_the_arena_is_full(void **state)
{
    gly_arena a;
    gly_arena_init(&a, 64);
    static const char big[] =
        "*2\r\n$100\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "012345678901234567890123456789\r\n:1\r\n";
    gly_redis_reply *r = NULL;
    assert_int_equal(scan_n(big, sizeof big - 1), (ssize_t)(sizeof big - 1));
    assert_int_equal(gly__resp_build(&a, big, sizeof big - 1, &r), GLY_ENOMEM);
    gly_arena_dispose(&a);
}

static void commands_encode_as_arrays_of_bulk_strings(void **state)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_str argv[3] = {GLY_STR("SET"), GLY_STR("k"), {"a\0b", 3}};
    assert_int_equal(gly__resp_command(&b, 3, argv), 0);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\0b\r\n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.p, want, sizeof want - 1);
    /* what we send, a server would parse back: the same shape as a reply */
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_redis_reply *r = parse(&a, b.p, b.len);
    assert_int_equal(r->len, 3);
    assert_memory_equal(r->element[2]->str, "a\0b", 3);
    gly_arena_dispose(&a);
    gly_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_reads_each_simple_type),
        cmocka_unit_test(bulk_strings_are_binary_safe),
        cmocka_unit_test(arrays_nest_and_count_their_elements),
        cmocka_unit_test(scan_measures_only_the_first_of_pipelined_replies),
        cmocka_unit_test(scan_rejects_what_is_not_resp),
        cmocka_unit_test(scan_enforces_its_limits),
        cmocka_unit_test(build_fails_cleanly_when_the_arena_is_full),
        cmocka_unit_test(commands_encode_as_arrays_of_bulk_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
