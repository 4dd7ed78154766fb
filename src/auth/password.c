/*
 * src/auth/password.c - argon2id password hashes and the password policy.
 *
 * Hashing costs 19+ MiB and tens of milliseconds of one CPU, so it never runs
 * on a worker's loop: each hash is offloaded to the thread pool, and a gate
 * lets at most hash-concurrency of them run at once across the process. The
 * others wait in a FIFO (their handlers suspended, costing nothing); past
 * GATE_QUEUE_MAX waiting, a request gets GLY_EUNAVAIL (503), so a login storm
 * can neither exhaust memory nor starve the loops.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/internal.h"

#define GATE_QUEUE_MAX 512

extern const char *const gly__common_passwords[];
extern const size_t gly__common_password_count;

/* ------------------------------------------------------------------------ */
/* The gate: a counting semaphore whose waiters are suspended handlers.      */
/* ------------------------------------------------------------------------ */

struct waiter {
    gly_req *req;
    gly_app *app;
    gly_task task;
    struct waiter *next;
};

static void waiter_wake(gly_task *t)
{
    struct waiter *w = (struct waiter *)((char *)t - offsetof(struct waiter, task));
    gly_req_wake(w->req, 0);
}

int gly__gate_init(struct gate *g, unsigned max)
{
    memset(g, 0, sizeof *g);
    g->max = max ? max : 1;
    return uv_mutex_init(&g->lock);
}

void gly__gate_dispose(struct gate *g)
{
    uv_mutex_destroy(&g->lock);
}

/* Takes a slot, waiting for one when all are busy. 0, or GLY_EUNAVAIL when too many wait. */
static int gate_enter(struct gate *g, gly_req *req)
{
    uv_mutex_lock(&g->lock);
    if (g->busy < g->max) {
        g->busy++;
        uv_mutex_unlock(&g->lock);
        return 0;
    }
    if (g->waiting >= GATE_QUEUE_MAX) {
        uv_mutex_unlock(&g->lock);
        return GLY_EUNAVAIL;
    }
    struct waiter w = {.req = req, .app = gly_req_app(req), .task = {.fn = waiter_wake}};
    if (g->tail)
        ((struct waiter *)g->tail)->next = &w;
    else
        g->head = &w;
    g->tail = &w;
    g->waiting++;
    uv_mutex_unlock(&g->lock);
    /* the slot is handed over by gate_leave(); w lives on this stack until then */
    return gly_req_suspend(req);
}

/* Gives the slot to the first waiter, or frees it. */
static void gate_leave(struct gate *g)
{
    uv_mutex_lock(&g->lock);
    struct waiter *w = g->head;
    if (w) {
        g->head = w->next;
        if (!g->head)
            g->tail = NULL;
        g->waiting--;
    } else {
        g->busy--;
    }
    uv_mutex_unlock(&g->lock);
    if (w) {
        int rc = gly_worker_post(w->app, gly_req_worker(w->req), &w->task);
        assert(rc == 0);
        (void)rc;
    }
}

/* ------------------------------------------------------------------------ */
/* Hashing on the thread pool                                               */
/* ------------------------------------------------------------------------ */

struct job {
    const char *password;
    size_t n;
    const char *hash; /* verify: the stored hash */
    char *out;        /* hash: the new one */
    unsigned long long ops;
    size_t mem;
    int rc;
};

static void do_hash(void *arg)
{
    struct job *j = arg;
    j->rc = crypto_pwhash_str_alg(j->out, j->password, j->n, j->ops, j->mem,
                                  crypto_pwhash_ALG_ARGON2ID13) == 0
                ? 0
                : GLY_ENOMEM;
}

static void do_verify(void *arg)
{
    struct job *j = arg;
    j->rc = crypto_pwhash_str_verify(j->hash, j->password, j->n) == 0 ? 1 : 0;
}

static int run_gated(gly_req *req, void (*fn)(void *), struct job *j)
{
    struct auth *au = gly__auth_of(gly_req_app(req));
    int rc = gate_enter(&au->gate, req);
    if (rc < 0)
        return rc;
    rc = gly_req_offload(req, fn, j);
    gate_leave(&au->gate);
    return rc < 0 ? rc : j->rc;
}

int gly_password_hash(gly_req *req, const char *password, size_t n, char out[GLY_PASSWORD_HASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= GLY_PASSWORD_HASH_MAX, "room for a PHC string");
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    struct job j = {.password = password,
                    .n = n,
                    .out = out,
                    .ops = cfg->argon2_time,
                    .mem = cfg->argon2_memory};
    return run_gated(req, do_hash, &j);
}

int gly_password_verify(gly_req *req, const char *hash, const char *password, size_t n,
                        bool *rehash)
{
    struct auth *au = gly__auth_of(gly_req_app(req));
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    bool unknown = hash == NULL;
    if (rehash)
        *rehash = false;
    /* an unknown user costs one verification too, against a hash of the same parameters */
    struct job j = {.password = password, .n = n, .hash = unknown ? au->dummy_hash : hash};
    int rc = run_gated(req, do_verify, &j);
    if (rc < 0 || unknown)
        return rc < 0 ? rc : 0;
    if (rc == 1 && rehash)
        *rehash = crypto_pwhash_str_needs_rehash(hash, cfg->argon2_time, cfg->argon2_memory) != 0;
    return rc;
}

/* Makes the hash that unknown users are checked against (at start, on the main thread). */
int gly__password_dummy(struct auth *au, const gly_config *cfg)
{
    unsigned char pw[16];
    randombytes_buf(pw, sizeof pw);
    int rc = crypto_pwhash_str_alg(au->dummy_hash, (const char *)pw, sizeof pw, cfg->argon2_time,
                                   cfg->argon2_memory, crypto_pwhash_ALG_ARGON2ID13);
    sodium_memzero(pw, sizeof pw);
    return rc == 0 ? 0 : GLY_ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* Policy                                                                   */
/* ------------------------------------------------------------------------ */

/* Code points of valid UTF-8 (the JSON reader already checked it); bytes otherwise. */
static size_t chars(const char *p, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)p[i] & 0xC0) != 0x80;
    return count;
}

static int cmp_word(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static bool is_common(const char *password, size_t n)
{
    char lower[130];
    if (n >= sizeof lower)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = password[i];
        lower[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    lower[n] = '\0';
    return bsearch(lower, gly__common_passwords, gly__common_password_count,
                   sizeof gly__common_passwords[0], cmp_word) != NULL;
}

const char *gly_password_policy(const char *password, size_t n, const char *email,
                                const char **message)
{
    size_t len = chars(password, n);
    if (len < 12) {
        *message = "must be at least 12 characters";
        return "too_short";
    }
    if (len > 128) {
        *message = "must be at most 128 characters";
        return "too_long";
    }
    if (email) {
        size_t elen = strlen(email), local = strcspn(email, "@");
        if ((n == elen && strncasecmp(password, email, n) == 0) ||
            (n == local && strncasecmp(password, email, n) == 0)) {
            *message = "must not be the email address";
            return "same_as_email";
        }
    }
    if (is_common(password, n)) {
        *message = "is a commonly used password";
        return "too_common";
    }
    return NULL;
}
