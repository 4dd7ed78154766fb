/*
 * tests/unit/core/test_coro.c - stackful coroutines.
 */
#include <fcntl.h>
#include <fenv.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* after stdarg.h, stddef.h and setjmp.h, which it needs */
#include "core/coro.h"
#include "gly_test.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define STACK (64u * 1024)

static int setup(void **state)
{
    *state = gly__coro_pool_new(STACK, 8);
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    gly__coro_pool_free(*state);
    return 0;
}

/* ---- running, yielding, arguments ---------------------------------------- */

static void set_flag(void *arg)
{
    *(int *)arg = 1;
}

static void coro_runs_to_completion_without_yield(void **state)
{
    int ran = 0;
    gly_coro *co = gly__coro_new(*state, set_flag, &ran);
    assert_non_null(co);
    assert_int_equal(ran, 0); /* creating runs nothing */
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(ran, 1);
}

static void count_with_yields(void *arg)
{
    int *steps = arg;
    for (int i = 0; i < 3; i++) {
        (*steps)++;
        gly__coro_yield();
    }
    (*steps)++;
}

static void coro_yield_returns_to_resumer_and_resume_continues(void **state)
{
    int steps = 0;
    gly_coro *co = gly__coro_new(*state, count_with_yields, &steps);
    assert_non_null(co);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(gly__coro_resume(co), 1);
        assert_int_equal(steps, i);
    }
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(steps, 4);
}

struct arg_probe {
    void *seen_arg;
    void *seen_data_at_start;
    gly_coro *seen_current;
};

static void probe_arg(void *arg)
{
    struct arg_probe *p = arg;
    p->seen_arg = arg;
    p->seen_current = gly__coro_current();
    p->seen_data_at_start = gly__coro_get_data(p->seen_current);
    gly__coro_set_data(p->seen_current, p);
    gly__coro_yield();
}

static void coro_passes_arg(void **state)
{
    struct arg_probe p = {0};
    gly_coro *co = gly__coro_new(*state, probe_arg, &p);
    assert_non_null(co);
    assert_null(gly__coro_get_data(co));
    assert_int_equal(gly__coro_resume(co), 1);
    assert_ptr_equal(p.seen_arg, &p);
    assert_ptr_equal(p.seen_current, co);
    assert_null(p.seen_data_at_start);
    assert_ptr_equal(gly__coro_get_data(co), &p);
    assert_int_equal(gly__coro_resume(co), 0);

    /* A reused coroutine starts with its data slot empty again. */
    struct arg_probe q = {0};
    co = gly__coro_new(*state, probe_arg, &q);
    assert_non_null(co);
    assert_null(gly__coro_get_data(co));
    assert_int_equal(gly__coro_resume(co), 1);
    assert_ptr_equal(q.seen_arg, &q);
    assert_null(q.seen_data_at_start);
    assert_int_equal(gly__coro_resume(co), 0);
}

/* ---- nesting ------------------------------------------------------------- */

struct nest {
    gly_coro_pool *pool;
    gly_coro *outer, *inner;
    char trace[64];
    int bad_current;
};

static void trace(struct nest *n, const char *step)
{
    strcat(n->trace, step);
}

static void inner_fn(void *arg)
{
    struct nest *n = arg;
    n->bad_current |= gly__coro_current() != n->inner;
    trace(n, "i1 ");
    gly__coro_yield(); /* back to outer, not to the test */
    n->bad_current |= gly__coro_current() != n->inner;
    trace(n, "i2 ");
}

static void outer_fn(void *arg)
{
    struct nest *n = arg;
    trace(n, "o1 ");
    n->inner = gly__coro_new(n->pool, inner_fn, n);
    if (n->inner == NULL) {
        return;
    }
    trace(n, gly__coro_resume(n->inner) == 1 ? "o2 " : "o2! ");
    n->bad_current |= gly__coro_current() != n->outer;
    gly__coro_yield();
    trace(n, "o3 ");
    trace(n, gly__coro_resume(n->inner) == 0 ? "o4 " : "o4! ");
    n->bad_current |= gly__coro_current() != n->outer;
}

static void coro_nested_resume_returns_to_right_resumer(void **state)
{
    struct nest n = {.pool = *state};
    n.outer = gly__coro_new(*state, outer_fn, &n);
    assert_non_null(n.outer);
    assert_int_equal(gly__coro_resume(n.outer), 1);
    trace(&n, "m1 ");
    assert_null(gly__coro_current());
    assert_int_equal(gly__coro_resume(n.outer), 0);
    assert_null(gly__coro_current());
    assert_string_equal(n.trace, "o1 i1 o2 m1 o3 i2 o4 ");
    assert_int_equal(n.bad_current, 0);
}

/* A coroutine suspended by one resumer and resumed by another yields to the second. */
struct relay {
    gly_coro *target;
    int target_result;
    char *trace;
};

static void steps_abc(void *arg)
{
    char *trace = arg;
    strcat(trace, "a");
    gly__coro_yield();
    strcat(trace, "b");
    gly__coro_yield();
    strcat(trace, "c");
}

static void resume_target(void *arg)
{
    struct relay *r = arg;
    r->target_result = gly__coro_resume(r->target);
    strcat(r->trace, "Y");
}

static void coro_yield_goes_to_latest_resumer(void **state)
{
    char trace[16] = "";
    gly_coro *x = gly__coro_new(*state, steps_abc, trace);
    assert_non_null(x);
    assert_int_equal(gly__coro_resume(x), 1); /* from the thread's stack */
    assert_string_equal(trace, "a");

    struct relay r = {.target = x, .trace = trace};
    gly_coro *y = gly__coro_new(*state, resume_target, &r);
    assert_non_null(y);
    assert_int_equal(gly__coro_resume(y), 0); /* x yields to y, y finishes */
    assert_int_equal(r.target_result, 1);
    assert_string_equal(trace, "abY");

    assert_int_equal(gly__coro_resume(x), 0); /* and x is finished from here */
    assert_string_equal(trace, "abYc");
}

/* ---- the pool ------------------------------------------------------------ */

static void noop(void *arg)
{
    (void)arg;
}

static void coro_stack_is_reused_from_pool(void **state)
{
    gly_coro_pool *pool = *state;
    gly_coro *first = gly__coro_new(pool, noop, NULL);
    assert_non_null(first);
    assert_int_equal(gly__coro_resume(first), 0);
    size_t mapped = gly__coro_pool_mapped(pool);
    assert_int_equal(mapped, 1);
    for (int i = 0; i < 10000; i++) {
        gly_coro *co = gly__coro_new(pool, i % 2 ? noop : count_with_yields, &(int){0});
        assert_non_null(co);
        assert_ptr_equal(co, first);
        while (gly__coro_resume(co) == 1) {
        }
        assert_int_equal(gly__coro_pool_mapped(pool), mapped);
    }
}

static void coro_pool_bounds_idle_stacks(void **state)
{
    (void)state;
    gly_coro_pool *pool = gly__coro_pool_new(0, 2);
    gly_coro *co[5];
    int steps[5] = {0};

    assert_non_null(pool);
    assert_int_equal(gly__coro_pool_mapped(pool), 0);
    for (int i = 0; i < 5; i++) {
        co[i] = gly__coro_new(pool, count_with_yields, &steps[i]);
        assert_non_null(co[i]);
        assert_int_equal(gly__coro_resume(co[i]), 1);
    }
    assert_int_equal(gly__coro_pool_mapped(pool), 5);
    for (int i = 0; i < 5; i++) {
        while (gly__coro_resume(co[i]) == 1) {
        }
        assert_int_equal(steps[i], 4);
    }
    /* Two kept for reuse, three unmapped. */
    assert_int_equal(gly__coro_pool_mapped(pool), 2);
    gly_coro *a = gly__coro_new(pool, noop, NULL);
    gly_coro *b = gly__coro_new(pool, noop, NULL);
    assert_int_equal(gly__coro_pool_mapped(pool), 2);
    gly_coro *c = gly__coro_new(pool, noop, NULL);
    assert_int_equal(gly__coro_pool_mapped(pool), 3);
    assert_int_equal(gly__coro_resume(a), 0);
    assert_int_equal(gly__coro_resume(b), 0);
    assert_int_equal(gly__coro_resume(c), 0);
    assert_int_equal(gly__coro_pool_mapped(pool), 2);
    gly__coro_pool_free(pool);
    gly__coro_pool_free(NULL);
}

static void coro_pool_with_no_idle_unmaps_every_finished_stack(void **state)
{
    (void)state;
    gly_coro_pool *pool = gly__coro_pool_new(STACK, 0);
    assert_non_null(pool);
    gly_coro *co = gly__coro_new(pool, noop, NULL);
    assert_non_null(co);
    assert_int_equal(gly__coro_pool_mapped(pool), 1);
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(gly__coro_pool_mapped(pool), 0);
    gly__coro_pool_free(pool);
}

/* ---- machine state ------------------------------------------------------- */

struct acc {
    uint64_t i[8];
    double d[8];
};

/*
 * Keeps sixteen values live across each between() call, so with optimization
 * they sit in callee-saved registers (rbx, rbp, r12-r15 on x86-64; x19-x28
 * and d8-d15 on aarch64) while the other side of a switch churns the same
 * registers.
 */
static __attribute__((noinline)) void churn(struct acc *out, unsigned rounds,
                                            void (*between)(void *), void *ctx)
{
    uint64_t a = 1, b = 2, c = 3, d = 5, e = 7, f = 11, g = 13, h = 17;
    double p = 1.5, q = 2.25, r = 0.1, s = 3.0, t = -1.0, u = 1e-3, v = 0.75, w = 42.0;

    for (unsigned k = 0; k < rounds; k++) {
        a = a * 6364136223846793005u + 1442695040888963407u;
        b ^= a >> 7;
        c += b * 3;
        d = (d << 5) ^ c;
        e += d >> 3;
        f = f * 31 + e;
        g ^= f + (g << 7);
        h = h * 5 + g;
        p = p * 1.0000001 + q;
        q = q * 0.9999 - r;
        r = r + s * 1e-6;
        s = s / 1.0001 + t;
        t = -t * 0.5 + u;
        u = u * 1.1 - p * 1e-9;
        v = v * 0.5 + w * 1e-3;
        w = w - v * 1e-2;
        between(ctx);
    }
    *out = (struct acc){{a, b, c, d, e, f, g, h}, {p, q, r, s, t, u, v, w}};
}

static void between_nothing(void *ctx)
{
    (void)ctx;
}

static void between_yield(void *ctx)
{
    (void)ctx;
    gly__coro_yield();
}

static void between_resume(void *ctx)
{
    gly__coro_resume(ctx);
}

struct churn_job {
    struct acc result;
    unsigned rounds;
};

static void churn_in_coro(void *arg)
{
    struct churn_job *job = arg;
    churn(&job->result, job->rounds, between_yield, NULL);
}

#if defined(__x86_64__)
struct rounding_probe {
    int mode_after_yield;
    double quotient;
    long double long_quotient;
};

static void round_up_then_yield(void *arg)
{
    struct rounding_probe *p = arg;
    volatile double one = 1.0, seven = 7.0;
    volatile long double lone = 1.0L, lseven = 7.0L;

    fesetround(FE_UPWARD);
    gly__coro_yield();
    p->mode_after_yield = fegetround();
    p->quotient = one / seven;        /* through MXCSR */
    p->long_quotient = lone / lseven; /* through the x87 control word */
}
#endif

static void coro_preserves_callee_saved_and_fp_state(void **state)
{
    enum { ROUNDS = 200 };
    struct acc ref, outside;
    struct churn_job job = {.rounds = ROUNDS};

    churn(&ref, ROUNDS, between_nothing, NULL);
    gly_coro *co = gly__coro_new(*state, churn_in_coro, &job);
    assert_non_null(co);
    /* Both sides churn: each resume in the test is a yield in the coroutine. */
    churn(&outside, ROUNDS, between_resume, co);
    assert_int_equal(gly__coro_resume(co), 0);
    for (int k = 0; k < 8; k++) {
        assert_int_equal(outside.i[k], ref.i[k]);
        assert_int_equal(job.result.i[k], ref.i[k]);
        assert_memory_equal(&outside.d[k], &ref.d[k], sizeof(double));
        assert_memory_equal(&job.result.d[k], &ref.d[k], sizeof(double));
    }

#if defined(__x86_64__)
    /* The rounding mode lives in MXCSR and the x87 control word, both switched on x86-64. */
    struct rounding_probe p = {0};
    volatile double one = 1.0, seven = 7.0;
    volatile long double lone = 1.0L, lseven = 7.0L;
    double nearest = one / seven;
    long double lnearest = lone / lseven;

    assert_int_equal(fegetround(), FE_TONEAREST);
    co = gly__coro_new(*state, round_up_then_yield, &p);
    assert_non_null(co);
    assert_int_equal(gly__coro_resume(co), 1);
    assert_int_equal(fegetround(), FE_TONEAREST);
    assert_memory_equal(&(double){one / seven}, &nearest, sizeof(double));
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(fegetround(), FE_TONEAREST);
    assert_int_equal(p.mode_after_yield, FE_UPWARD);
    if (!RUNNING_ON_VALGRIND) { /* valgrind computes in round-to-nearest whatever the mode */
        assert_true(p.quotient > nearest);
        assert_true(p.long_quotient > lnearest);
    }
#endif
}

/* ---- the stack ----------------------------------------------------------- */

struct deep {
    char *top;
    size_t budget;
    unsigned depth;
    int corrupt;
};

static __attribute__((noinline)) uint64_t recurse(struct deep *d, unsigned n)
{
    volatile unsigned char buf[200];
    char *here = __builtin_frame_address(0);
    uint64_t below = 0;

    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(n + i);
    }
    if ((size_t)(d->top - here) < d->budget) {
        below = recurse(d, n + 1);
    } else {
        d->depth = n;
    }
    for (size_t i = 0; i < sizeof(buf); i++) {
        d->corrupt |= buf[i] != (unsigned char)(n + i);
    }
    return below + n;
}

static void recurse_half_the_stack(void *arg)
{
    struct deep *d = arg;
    d->top = __builtin_frame_address(0);
    uint64_t sum = recurse(d, 1);
    d->corrupt |= sum != (uint64_t)d->depth * (d->depth + 1) / 2;
}

static void coro_deep_recursion_within_stack_works(void **state)
{
    struct deep d = {.budget = STACK / 2};
    gly_coro *co = gly__coro_new(*state, recurse_half_the_stack, &d);
    assert_non_null(co);
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(d.corrupt, 0);
    /* Each frame is at most a few hundred bytes without sanitizers; it did go deep. */
    assert_true(d.depth >= 16);
}

/*
 * Libraries that report errors by longjmp (libpng, some parsers) may do so
 * inside a handler. Under ASan this also checks that it knows which stack we
 * are on: otherwise it ignores the longjmp's unpoisoning and warns.
 */
static void jump(jmp_buf *env, int value)
{
    longjmp(*env, value);
}

/* Called through a pointer so GCC does not take the longjmp for endless recursion. */
static void (*volatile jump_fn)(jmp_buf *, int) = jump;

static __attribute__((noinline)) void unwind_from(jmp_buf *env, unsigned n)
{
    volatile char buf[64];
    buf[0] = (char)n;
    if (n == 0) {
        jump_fn(env, buf[0] + 1);
    } else {
        unwind_from(env, n - 1);
    }
    buf[1] = buf[0]; /* not a tail call: the frames pile up */
}

static void longjmp_inside(void *arg)
{
    int *got = arg;
    jmp_buf env;
    int r = setjmp(env);
    if (r == 0) {
        unwind_from(&env, 20);
    }
    *got = r;
    gly__coro_yield();
    *got += 100;
}

static void coro_longjmp_within_a_coroutine_works(void **state)
{
    int got = 0;
    gly_coro *co = gly__coro_new(*state, longjmp_inside, &got);
    assert_non_null(co);
    assert_int_equal(gly__coro_resume(co), 1);
    assert_int_equal(got, 1);
    assert_int_equal(gly__coro_resume(co), 0);
    assert_int_equal(got, 101);
}

static volatile int keep_going = 1;

static __attribute__((noinline)) unsigned overflow(unsigned n)
{
    volatile char buf[256];
    buf[0] = (char)n;
    if (keep_going) {
        return overflow(n + 1) + buf[0];
    }
    return buf[0];
}

static void overflow_the_stack(void *arg)
{
    (void)arg;
    overflow(0);
}

static void coro_guard_page_faults_on_overflow(void **state)
{
    (void)state;
    if (RUNNING_ON_VALGRIND) {
        skip(); /* the child's crash report would read like a failure */
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        /* Keep ASan's report of the expected overflow out of the test log. */
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, STDERR_FILENO);
        }
        gly_coro_pool *pool = gly__coro_pool_new(16 * 1024, 0);
        gly_coro *co = pool ? gly__coro_new(pool, overflow_the_stack, NULL) : NULL;
        if (co == NULL) {
            _exit(2);
        }
        gly__coro_resume(co);
        _exit(0); /* the overflow went unnoticed */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
#if defined(TEST_ASAN)
    /* ASan's SEGV handler reports the stack overflow and exits non-zero. */
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 2);
#else
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
#endif
}

/* ---- many at once -------------------------------------------------------- */

struct ticket {
    unsigned id;
    unsigned turns;
    unsigned *order;
    unsigned *next;
};

static void take_turns(void *arg)
{
    struct ticket *t = arg;
    for (unsigned k = 0; k < 3; k++) {
        t->order[(*t->next)++] = t->id; /* must interleave exactly round-robin */
        t->turns++;
        gly__coro_yield();
    }
}

static void coro_many_alive_at_once(void **state)
{
    (void)state;
    enum { N = 1000 };
    static struct ticket t[N];
    static gly_coro *co[N];
    static unsigned order[3 * N];
    unsigned next = 0;
    gly_coro_pool *pool = gly__coro_pool_new(16 * 1024, 16);

    assert_non_null(pool);
    for (unsigned i = 0; i < N; i++) {
        t[i] = (struct ticket){.id = i, .order = order, .next = &next};
        co[i] = gly__coro_new(pool, take_turns, &t[i]);
        assert_non_null(co[i]);
    }
    assert_int_equal(gly__coro_pool_mapped(pool), N);
    unsigned finished = 0;
    for (unsigned round = 0; round < 4; round++) {
        for (unsigned i = 0; i < N; i++) {
            int r = gly__coro_resume(co[i]);
            assert_int_equal(r, round < 3 ? 1 : 0);
            finished += r == 0;
        }
    }
    assert_int_equal(finished, N);
    assert_int_equal(next, 3 * N);
    for (unsigned k = 0; k < 3 * N; k++) {
        assert_int_equal(order[k], k % N);
    }
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(t[i].turns, 3);
    }
    assert_int_equal(gly__coro_pool_mapped(pool), 16);
    gly__coro_pool_free(pool);
}

/* ---- current ------------------------------------------------------------- */

static void record_current(void *arg)
{
    gly_coro **seen = arg;
    seen[0] = gly__coro_current();
    gly__coro_yield();
    seen[1] = gly__coro_current();
}

static void coro_current_is_null_outside(void **state)
{
    gly_coro *seen[2] = {NULL, NULL};
    assert_null(gly__coro_current());
    gly_coro *co = gly__coro_new(*state, record_current, seen);
    assert_non_null(co);
    assert_null(gly__coro_current());
    assert_int_equal(gly__coro_resume(co), 1);
    assert_null(gly__coro_current());
    assert_int_equal(gly__coro_resume(co), 0);
    assert_null(gly__coro_current());
    assert_ptr_equal(seen[0], co);
    assert_ptr_equal(seen[1], co);
}

/* ---- a figure, not a check ----------------------------------------------- */

static void yield_forever(void *arg)
{
    volatile int *stop = arg;
    while (!*stop) {
        gly__coro_yield();
    }
}

static void coro_switch_speed_is_printed(void **state)
{
    unsigned pairs = RUNNING_ON_VALGRIND ? 10000 : 2000000;
    volatile int stop = 0;
    struct timespec t0, t1;
    gly_coro *co = gly__coro_new(*state, yield_forever, (void *)&stop);

    assert_non_null(co);
    assert_int_equal(gly__coro_resume(co), 1); /* warm up */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned i = 0; i < pairs; i++) {
        gly__coro_resume(co);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    stop = 1;
    assert_int_equal(gly__coro_resume(co), 0);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("coro: %.1f ns per resume+yield pair (%u pairs)\n", ns / pairs, pairs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(coro_runs_to_completion_without_yield, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_yield_returns_to_resumer_and_resume_continues, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(coro_passes_arg, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_nested_resume_returns_to_right_resumer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(coro_yield_goes_to_latest_resumer, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_stack_is_reused_from_pool, setup, teardown),
        cmocka_unit_test(coro_pool_bounds_idle_stacks),
        cmocka_unit_test(coro_pool_with_no_idle_unmaps_every_finished_stack),
        cmocka_unit_test_setup_teardown(coro_preserves_callee_saved_and_fp_state, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_deep_recursion_within_stack_works, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_longjmp_within_a_coroutine_works, setup, teardown),
        cmocka_unit_test(coro_guard_page_faults_on_overflow),
        cmocka_unit_test(coro_many_alive_at_once),
        cmocka_unit_test_setup_teardown(coro_current_is_null_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(coro_switch_speed_is_printed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
