/*
 * src/auth/throttle.c - brute-force defence for logins.
 *
 * Failed logins are counted per account (the email as typed, lower-cased,
 * whether or not it exists, so the answers reveal nothing) and per client
 * IP, in a 15-minute window, in the database so that every node sees them.
 * Past a few failures each further attempt is delayed (the handler sleeps:
 * it costs the server nothing but a connection), growing to a few seconds;
 * (settings login-delay-after, login-lock-after, login-lock-time; an IP may
 * fail IP_FACTOR times as often as an account, since many users share NATs)
 * past the lock threshold the key is locked and logins answer 429 with
 * Retry-After, without checking the password, until the lock runs out. A
 * successful login clears its account's count.
 */
#include <stdio.h>
#include <string.h>

#include "auth/internal.h"

#define WINDOW_S      900 /* failures older than this are forgotten */
#define IP_FACTOR     10  /* an IP may fail this many times more than an account */
#define DELAY_STEP_MS 100 /* the first delay; it doubles with each failure */
#define DELAY_MAX_MS  3200

static void key_of(char *out, size_t cap, const char *kind, const char *what)
{
    snprintf(out, cap, "%s:%s", kind, what ? what : "");
}

static uint64_t delay_ms(int64_t failures, int64_t from)
{
    if (failures < from)
        return 0;
    int64_t steps = failures - from;
    uint64_t ms = steps >= 6 ? DELAY_MAX_MS : (uint64_t)DELAY_STEP_MS << steps;
    return ms > DELAY_MAX_MS ? DELAY_MAX_MS : ms;
}

int gly__throttle_check(gly_req *req, const char *email, int64_t *retry_after)
{
    char acc[300], ip[80];
    key_of(acc, sizeof acc, "a", email);
    key_of(ip, sizeof ip, "ip", gly_req_client_ip(req));
    gly_res *res;
    int64_t now = gly__now_s();
    int rc = gly_db_all(req, &res,
                        "-- name: throttle_check\n"
                        "SELECT key, failures, window_start, locked_until FROM auth_throttle "
                        "WHERE key = $1 OR key = $2",
                        GLY_TEXT(acc), GLY_TEXT(ip));
    if (rc < 0)
        return rc;
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    uint64_t wait = 0;
    *retry_after = 0;
    for (size_t i = 0; i < gly_res_count(res); i++) {
        gly_row *r = gly_res_row(res, i);
        int64_t locked = gly_row_i64(r, "locked_until");
        if (locked > now && locked - now > *retry_after)
            *retry_after = locked - now;
        if (gly_row_i64(r, "window_start") < now - WINDOW_S)
            continue;
        bool is_ip = strncmp(gly_row_str(r, "key").p, "ip:", 3) == 0;
        int64_t from = (int64_t)cfg->login_delay_after * (is_ip ? IP_FACTOR : 1);
        uint64_t d = delay_ms(gly_row_i64(r, "failures"), from);
        wait = d > wait ? d : wait;
    }
    if (*retry_after > 0)
        return 1;
    if (wait > 0 && gly_sleep(req, wait) < 0)
        return GLY_ECANCELED;
    return 0;
}

/* Counts a failure of key; locks it at lock failures within the window. */
static void count_failure(gly_req *req, const char *key, int64_t lock)
{
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    int64_t now = gly__now_s();
    int64_t n =
        gly_db_exec(req,
                    "-- name: throttle_fail\n"
                    "INSERT INTO auth_throttle (key, failures, window_start, locked_until) "
                    "VALUES ($1, 1, $2, 0) ON CONFLICT (key) DO UPDATE SET "
                    "failures = CASE WHEN auth_throttle.window_start < $3 THEN 1 "
                    "ELSE auth_throttle.failures + 1 END, "
                    "locked_until = CASE WHEN auth_throttle.window_start >= $3 AND "
                    "auth_throttle.failures + 1 >= $4 THEN $5 ELSE auth_throttle.locked_until END, "
                    "window_start = CASE WHEN auth_throttle.window_start < $3 THEN $2 "
                    "ELSE auth_throttle.window_start END",
                    GLY_TEXT(key), GLY_I64(now), GLY_I64(now - WINDOW_S), GLY_I64(lock),
                    GLY_I64(now + cfg->login_lock_ms / 1000));
    if (n < 0)
        gly_log_error("login throttle not counted: %s", gly_err_name((int)n));
}

void gly__throttle_fail(gly_req *req, const char *email)
{
    char acc[300], ip[80];
    key_of(acc, sizeof acc, "a", email);
    key_of(ip, sizeof ip, "ip", gly_req_client_ip(req));
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    count_failure(req, acc, cfg->login_lock_after);
    count_failure(req, ip, (int64_t)cfg->login_lock_after * IP_FACTOR);
}

void gly__throttle_ok(gly_req *req, const char *email)
{
    char acc[300];
    key_of(acc, sizeof acc, "a", email);
    int64_t n = gly_db_exec(
        req, "-- name: throttle_clear\nDELETE FROM auth_throttle WHERE key = $1", GLY_TEXT(acc));
    if (n < 0)
        gly_log_error("login throttle not cleared: %s", gly_err_name((int)n));
}
