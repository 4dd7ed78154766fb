/*
 * tests/unit/core/test_time.c - clocks, IMF-fixdate and RFC 3339 formatting,
 * and the per-thread cached Date.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <galley/time.h>

#include "gly_test.h"

static void check_http_date(int64_t t, const char *want)
{
    char out[30];

    memset(out, '#', sizeof(out));
    gly_http_date_format(t, out);
    assert_string_equal(out, want);
}

static void check_iso(int64_t ms, const char *want)
{
    char out[25];

    memset(out, '#', sizeof(out));
    gly_iso_time_format(ms, out);
    assert_string_equal(out, want);
}

static void http_date_formats_known_epochs(void **state)
{
    check_http_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    check_http_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    check_http_date(946684799, "Fri, 31 Dec 1999 23:59:59 GMT");
    check_http_date(INT64_C(2147483648), "Tue, 19 Jan 2038 03:14:08 GMT");
}

static void http_date_handles_leap_years(void **state)
{
    /* 2000 is a leap year (divisible by 400), 2100 is not (divisible by 100). */
    check_http_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    check_http_date(951868800, "Wed, 01 Mar 2000 00:00:00 GMT");
    check_http_date(1709208000, "Thu, 29 Feb 2024 12:00:00 GMT");
    check_http_date(INT64_C(4107456000), "Sun, 28 Feb 2100 00:00:00 GMT");
    check_http_date(INT64_C(4107542400), "Mon, 01 Mar 2100 00:00:00 GMT");
}

static void http_date_formats_times_before_1970(void **state)
{
    check_http_date(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    check_http_date(INT64_C(-2203891200), "Thu, 01 Mar 1900 00:00:00 GMT");
}

static void http_date_matches_gmtime_from_year_1_to_9999(void **state)
{
    char got[30], want[64], day[16], hms[16];
    struct tm tm;
    int64_t t;

    /* A step of one week plus 3607 s walks through every weekday, hour and leap rule. */
    for (t = INT64_C(-62135596800); t <= INT64_C(253402300799); t += 7 * 86400 + 3607) {
        time_t tt = (time_t)t;
        assert_non_null(gmtime_r(&tt, &tm));
        /* glibc's %Y does not pad years below 1000, so the year is printed separately. */
        strftime(day, sizeof(day), "%a, %d %b", &tm);
        strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
        snprintf(want, sizeof(want), "%s %04d %s GMT", day, tm.tm_year + 1900, hms);
        gly_http_date_format(t, got);
        if (strcmp(got, want) != 0)
            fail_msg("t=%lld: got \"%s\", want \"%s\"", (long long)t, got, want);
    }
}

static void http_date_clamps_to_four_digit_years(void **state)
{
    check_http_date(INT64_C(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
    check_http_date(INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT");
    check_http_date(INT64_MIN, "Sat, 01 Jan 0000 00:00:00 GMT");
}

static void iso_time_formats_milliseconds(void **state)
{
    check_iso(0, "1970-01-01T00:00:00.000Z");
    check_iso(1234, "1970-01-01T00:00:01.234Z");
    check_iso(INT64_C(1795860000123), "2026-11-28T10:00:00.123Z");
    check_iso(INT64_C(951782400007), "2000-02-29T00:00:00.007Z");
    check_iso(-1, "1969-12-31T23:59:59.999Z");
    check_iso(INT64_MAX, "9999-12-31T23:59:59.999Z");
}

static void now_ns_never_goes_backwards(void **state)
{
    uint64_t prev = gly_now_ns();

    for (int i = 0; i < 1000; i++) {
        uint64_t now = gly_now_ns();
        assert_true(now >= prev);
        prev = now;
    }
    assert_true(prev > 0);
}

static void wall_ms_agrees_with_time(void **state)
{
    int64_t before = (int64_t)time(NULL);
    int64_t ms = gly_wall_ms();
    int64_t after = (int64_t)time(NULL);

    assert_true(ms / 1000 >= before && ms / 1000 <= after);
}

static void http_date_cache_holds_the_current_second(void **state)
{
    char want[30];
    const char *d;
    int64_t before = gly_wall_ms() / 1000;

    d = gly_http_date();
    assert_int_equal(strlen(d), 29);
    /* Either the second it was computed in or, across a boundary, the one after. */
    gly_http_date_format(before, want);
    if (strcmp(d, want) != 0) {
        gly_http_date_format(before + 1, want);
        assert_string_equal(d, want);
    }
}

static void date_refresh_rewrites_the_cache_when_the_second_changes(void **state)
{
    char want[30];
    const char *d = gly_http_date();
    int64_t start = gly_wall_ms() / 1000, now;
    struct timespec nap = {0, 10 * 1000 * 1000};

    do {
        nanosleep(&nap, NULL);
        now = gly_wall_ms() / 1000;
    } while (now == start);
    gly_date_refresh();
    /* Same storage, new content: callers may keep the pointer. */
    assert_ptr_equal(gly_http_date(), d);
    gly_http_date_format(now, want);
    if (strcmp(d, want) != 0) {
        gly_http_date_format(now + 1, want);
        assert_string_equal(d, want);
    }
}

static void *thread_date(void *arg)
{
    const char *d = gly_http_date();

    /* cmocka asserts must not run off the main thread: report through the result. */
    return strlen(d) == 29 ? (void *)d : NULL;
}

static void http_date_cache_is_per_thread(void **state)
{
    pthread_t th;
    void *other;

    assert_int_equal(pthread_create(&th, NULL, thread_date, NULL), 0);
    assert_int_equal(pthread_join(th, &other), 0);
    assert_non_null(other);
    assert_ptr_not_equal(other, gly_http_date());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_date_formats_known_epochs),
        cmocka_unit_test(http_date_handles_leap_years),
        cmocka_unit_test(http_date_formats_times_before_1970),
        cmocka_unit_test(http_date_matches_gmtime_from_year_1_to_9999),
        cmocka_unit_test(http_date_clamps_to_four_digit_years),
        cmocka_unit_test(iso_time_formats_milliseconds),
        cmocka_unit_test(now_ns_never_goes_backwards),
        cmocka_unit_test(wall_ms_agrees_with_time),
        cmocka_unit_test(http_date_cache_holds_the_current_second),
        cmocka_unit_test(date_refresh_rewrites_the_cache_when_the_second_changes),
        cmocka_unit_test(http_date_cache_is_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
