/*
 * tests/unit/core/test_log.c - the JSON-lines logger: line format, escaping,
 * level filtering, and the per-thread buffer.
 *
 * Each test points the logger at a pipe and reads back what reached it; the
 * read end is non-blocking, so "nothing written yet" is observable.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <galley/log.h>

#include "gly_test.h"

static int pipe_fd[2];
static char got[65536];

static int setup(void **state)
{
    if (pipe(pipe_fd) != 0)
        return -1;
    if (fcntl(pipe_fd[0], F_SETFL, O_NONBLOCK) != 0)
        return -1;
    gly_log_set_fd(pipe_fd[1]);
    gly_log_set_level(GLY_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    gly_log_thread_end();
    gly_log_set_fd(2);
    gly_log_set_level(GLY_LOG_INFO);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    return 0;
}

/* Reads everything the pipe holds into got (NUL-terminated) and returns its length. */
static size_t drain(void)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(pipe_fd[0], got + n, sizeof(got) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    got[n] = '\0';
    return n;
}

/*
 * Checks that line starts with {"time":"<RFC 3339 with ms>", and returns
 * the line with the timestamp replaced by "T" so the rest compares exactly.
 */
static const char *without_time(const char *line)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    static char out[65536];

    assert_memory_equal(line, "{\"time\":\"", 9);
    for (size_t i = 0; i < 24; i++) {
        char c = line[9 + i];
        if (pattern[i] == 'd')
            assert_true(c >= '0' && c <= '9');
        else
            assert_int_equal(c, pattern[i]);
    }
    snprintf(out, sizeof(out), "{\"time\":\"T%s", line + 9 + 24);
    return out;
}

static void log_event_writes_one_json_line(void **state)
{
    gly_log_info("hello %d", 42);
    drain();
    assert_string_equal(without_time(got),
                        "{\"time\":\"T\",\"level\":\"info\",\"msg\":\"hello 42\"}\n");
}

static void log_event_escapes_the_message_and_appends_fields(void **state)
{
    gly_log_event(GLY_LOG_WARN, "\"route\":\"/x\",\"n\":3", "say \"%s\"\n\ttab", "hi");
    drain();
    assert_string_equal(without_time(got), "{\"time\":\"T\",\"level\":\"warn\","
                                           "\"msg\":\"say \\\"hi\\\"\\n\\ttab\","
                                           "\"route\":\"/x\",\"n\":3}\n");
}

static void log_event_replaces_invalid_utf8_in_the_message(void **state)
{
    gly_log_error("bad %s", "\xC0\xAF");
    drain();
    assert_string_equal(without_time(got), "{\"time\":\"T\",\"level\":\"error\","
                                           "\"msg\":\"bad \xEF\xBF\xBD\xEF\xBF\xBD\"}\n");
}

static int evaluations;

static int count(void)
{
    return ++evaluations;
}

static void log_below_threshold_does_not_evaluate_arguments(void **state)
{
    evaluations = 0;
    gly_log_debug("n=%d", count());
    assert_int_equal(evaluations, 0);
    gly_log_set_level(GLY_LOG_ERROR);
    gly_log_warn("n=%d", count());
    gly_log_info("n=%d", count());
    assert_int_equal(evaluations, 0);
    assert_int_equal(drain(), 0);
}

static void log_at_debug_threshold_evaluates_and_writes(void **state)
{
    evaluations = 0;
    gly_log_set_level(GLY_LOG_DEBUG);
    gly_log_debug("n=%d", count());
    assert_int_equal(evaluations, 1);
    drain();
    assert_string_equal(without_time(got),
                        "{\"time\":\"T\",\"level\":\"debug\",\"msg\":\"n=1\"}\n");
}

static void log_level_off_silences_even_errors(void **state)
{
    gly_log_set_level(GLY_LOG_OFF);
    gly_log_error("nope");
    gly_log_event(GLY_LOG_ERROR, NULL, "nope");
    assert_int_equal(drain(), 0);
}

static void log_event_filters_direct_calls_too(void **state)
{
    gly_log_event(GLY_LOG_DEBUG, NULL, "hidden");
    gly_log_event(GLY_LOG_OFF, NULL, "not a level to log at");
    gly_log_event(99, NULL, "nor this");
    assert_int_equal(drain(), 0);
}

static void log_level_parse_and_name_round_trip(void **state)
{
    for (int l = GLY_LOG_DEBUG; l <= GLY_LOG_OFF; l++)
        assert_int_equal(gly_log_level_parse(gly_log_level_name(l)), l);
    assert_string_equal(gly_log_level_name(GLY_LOG_WARN), "warn");
    assert_int_equal(gly_log_level_parse("INFO"), GLY_LOG_INFO);
    assert_int_equal(gly_log_level_parse("verbose"), GLY_EINVAL);
    assert_int_equal(gly_log_level_parse("inf"), GLY_EINVAL);
    assert_int_equal(gly_log_level_parse(""), GLY_EINVAL);
    assert_int_equal(gly_log_level_parse(NULL), GLY_EINVAL);
    assert_string_equal(gly_log_level_name(-1), "unknown");
}

static void log_line_appends_the_raw_line_and_a_newline(void **state)
{
    gly_log_line("{\"raw\":true}", 12);
    gly_log_line("ignored tail", 7);
    drain();
    assert_string_equal(got, "{\"raw\":true}\nignored\n");
}

static void log_keeps_errno(void **state)
{
    errno = EPIPE;
    gly_log_info("x");
    gly_log_line("y", 1);
    assert_int_equal(errno, EPIPE);
    /* Even when the write itself fails. */
    gly_log_set_fd(-1);
    gly_log_info("lost");
    assert_int_equal(errno, EPIPE);
}

static void log_message_longer_than_the_cap_is_cut_to_valid_json(void **state)
{
    char *big = malloc(10000);

    memset(big, 'x', 9999);
    big[9999] = '\0';
    gly_log_info("%s", big);
    free(big);
    size_t n = drain();
    const char *line = without_time(got);
    const char *msg = strstr(line, "\"msg\":\"") + 7;
    size_t xs = strspn(msg, "x");
    assert_int_equal(xs, 4095);
    assert_string_equal(msg + xs, "\"}\n");
    assert_int_equal(got[n - 1], '\n');
}

static void log_thread_buffer_holds_lines_until_flush(void **state)
{
    assert_int_equal(gly_log_thread_begin(4096), 0);
    gly_log_line("one", 3);
    gly_log_line("two", 3);
    gly_log_line("three", 5);
    assert_int_equal(drain(), 0);
    gly_log_flush();
    drain();
    assert_string_equal(got, "one\ntwo\nthree\n");
    /* Flushing an empty buffer writes nothing. */
    gly_log_flush();
    assert_int_equal(drain(), 0);
}

static void log_thread_buffer_flushes_when_the_next_line_would_not_fit(void **state)
{
    char line[59];

    memset(line, 'a', sizeof(line));
    assert_int_equal(gly_log_thread_begin(128), 0);
    gly_log_line(line, sizeof(line)); /* 60 bytes with the newline */
    gly_log_line(line, sizeof(line)); /* 120 */
    assert_int_equal(drain(), 0);
    gly_log_line("b", 1); /* 122: still fits */
    assert_int_equal(drain(), 0);
    gly_log_line(line, sizeof(line)); /* would be 182: the first three go out */
    assert_int_equal(drain(), 122);
    gly_log_thread_end();
    assert_int_equal(drain(), 60);
}

static void log_line_longer_than_the_thread_buffer_goes_out_after_queued_lines(void **state)
{
    char line[200];

    memset(line, 'L', sizeof(line));
    assert_int_equal(gly_log_thread_begin(64), 0);
    gly_log_line("first", 5);
    gly_log_line(line, sizeof(line));
    assert_int_equal(drain(), 6 + 201);
    assert_memory_equal(got, "first\nLLL", 9);
    assert_int_equal(got[206], '\n');
    gly_log_flush();
    assert_int_equal(drain(), 0);
}

static void log_thread_end_flushes_the_remaining_lines(void **state)
{
    assert_int_equal(gly_log_thread_begin(1024), 0);
    gly_log_warn("bye");
    assert_int_equal(drain(), 0);
    gly_log_thread_end();
    drain();
    assert_string_equal(without_time(got), "{\"time\":\"T\",\"level\":\"warn\",\"msg\":\"bye\"}\n");
    /* Back to unbuffered. */
    gly_log_line("now", 3);
    drain();
    assert_string_equal(got, "now\n");
}

static pthread_barrier_t barrier;

static void *buffered_worker(void *arg)
{
    gly_log_thread_begin(4096);
    gly_log_line("worker", 6);
    pthread_barrier_wait(&barrier); /* 1: the line is queued */
    pthread_barrier_wait(&barrier); /* 2: main has checked */
    gly_log_thread_end();
    return NULL;
}

static void log_thread_buffers_belong_to_one_thread(void **state)
{
    pthread_t th;

    pthread_barrier_init(&barrier, NULL, 2);
    assert_int_equal(pthread_create(&th, NULL, buffered_worker, NULL), 0);
    pthread_barrier_wait(&barrier);
    /* The worker's line waits in its buffer; this thread has none and writes at once. */
    assert_int_equal(drain(), 0);
    gly_log_line("main", 4);
    drain();
    assert_string_equal(got, "main\n");
    pthread_barrier_wait(&barrier);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&barrier);
    drain();
    assert_string_equal(got, "worker\n");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(log_event_writes_one_json_line),
        T(log_event_escapes_the_message_and_appends_fields),
        T(log_event_replaces_invalid_utf8_in_the_message),
        T(log_below_threshold_does_not_evaluate_arguments),
        T(log_at_debug_threshold_evaluates_and_writes),
        T(log_level_off_silences_even_errors),
        T(log_event_filters_direct_calls_too),
        T(log_level_parse_and_name_round_trip),
        T(log_line_appends_the_raw_line_and_a_newline),
        T(log_keeps_errno),
        T(log_message_longer_than_the_cap_is_cut_to_valid_json),
        T(log_thread_buffer_holds_lines_until_flush),
        T(log_thread_buffer_flushes_when_the_next_line_would_not_fit),
        T(log_line_longer_than_the_thread_buffer_goes_out_after_queued_lines),
        T(log_thread_end_flushes_the_remaining_lines),
        T(log_thread_buffers_belong_to_one_thread),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
