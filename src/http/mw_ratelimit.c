/*
 * src/http/mw_ratelimit.c - rate limiting with token buckets.
 *
 * Each key (client IP, or what the limiter's key callback returns) has a
 * bucket of at most burst tokens, refilled lazily from the monotonic clock at
 * rate tokens per second; a request takes one. The buckets of a limiter live
 * in one table shared by the workers: 64 stripes, each with its own mutex,
 * a chained hash (seeded per table, so chains cannot be aimed at) and an LRU
 * list. A stripe holds at most max_keys/64 keys; a new key in a full stripe
 * replaces the least recently used one (that client then starts with a full
 * bucket - lenient, and memory stays bounded).
 *
 * Headers on every response of a limited request (draft-ietf-httpapi-
 * ratelimit-headers, the separate-fields form): RateLimit-Limit is the
 * burst, RateLimit-Remaining the whole tokens left, RateLimit-Reset the
 * seconds until the bucket is full again. A refused request answers 429
 * (problem code "rate-limited") with Retry-After, the seconds until one
 * token is there (at least 1).
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <galley/middleware.h>
#include <galley/time.h>

#include "http/internal.h"
#include "http/mw.h"

#define STRIPES      64
#define STRIPE_SHIFT 58 /* the top 6 bits of a hash choose the stripe */
#define KEY_MAX      64
#define NIL          UINT32_MAX
#define DEFAULT_KEYS 100000

_Static_assert(STRIPES == 1 << (64 - STRIPE_SHIFT), "stripe bits");

/* ------------------------------------------------------------------------ */
/* The token bucket                                                         */
/* ------------------------------------------------------------------------ */

static unsigned ceil_secs(double s)
{
    double c = ceil(s - 1e-9); /* 0.2 s of refill is 0.2, not 0.2000000001 */
    return c <= 0 ? 0 : c >= 4e9 ? 4000000000u : (unsigned)c;
}

void gly__bucket_take(struct gly__bucket *b, double rate, unsigned burst, uint64_t now_ns,
                      struct gly__rl_verdict *v)
{
    if (b->t_ns == 0) {
        b->tokens = burst;
        b->t_ns = now_ns;
    } else if (now_ns > b->t_ns) {
        b->tokens += rate * (double)(now_ns - b->t_ns) / 1e9;
        if (b->tokens > burst)
            b->tokens = burst;
        b->t_ns = now_ns;
    }
    v->limit = burst;
    v->allowed = b->tokens >= 1.0;
    if (v->allowed) {
        b->tokens -= 1.0;
        v->retry_after = 0;
    } else {
        v->retry_after = ceil_secs((1.0 - b->tokens) / rate);
        if (v->retry_after < 1)
            v->retry_after = 1;
    }
    v->remaining = (unsigned)floor(b->tokens);
    v->reset_s = ceil_secs(((double)burst - b->tokens) / rate);
}

/* ------------------------------------------------------------------------ */
/* The shared table                                                         */
/* ------------------------------------------------------------------------ */

struct entry {
    uint64_t hash;
    uint32_t hnext;      /* hash chain */
    uint32_t prev, next; /* LRU list, most recent first */
    uint8_t klen;
    uint8_t key[KEY_MAX];
    struct gly__bucket b;
};

struct stripe {
    uv_mutex_t lock;
    struct entry *e;
    uint32_t *heads;
    uint32_t mask, cap, alloc, count;
    uint32_t lru_head, lru_tail;
};

struct gly__rl_table {
    uint64_t seed;
    struct stripe s[STRIPES];
};

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* A seeded murmur3-style hash: enough to keep an outsider from choosing colliding keys. */
static uint64_t hash(uint64_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), k;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&k, p + i, 8);
        k *= 0x87c37b91114253d5ULL;
        k = rotl(k, 31);
        k *= 0x4cf5ad432745937fULL;
        h ^= k;
        h = rotl(h, 27) * 5 + 0x52dce729;
    }
    k = 0;
    memcpy(&k, p + i, n - i);
    h ^= fmix(k ^ seed);
    return fmix(h);
}

struct gly__rl_table *gly__rl_table_new(unsigned max_keys, uint64_t seed)
{
    struct gly__rl_table *t = calloc(1, sizeof *t);
    unsigned per = (max_keys ? max_keys : DEFAULT_KEYS) / STRIPES, nheads = 16;
    int i;

    if (!t)
        return NULL;
    per = per < 16 ? 16 : per;
    while (nheads < per)
        nheads *= 2;
    t->seed = seed;
    for (i = 0; i < STRIPES; i++) {
        struct stripe *s = &t->s[i];
        s->cap = per;
        s->mask = nheads - 1;
        s->lru_head = s->lru_tail = NIL;
        s->heads = malloc(nheads * sizeof *s->heads);
        if (!s->heads || uv_mutex_init(&s->lock) != 0) {
            free(s->heads);
            s->heads = NULL;
            goto fail;
        }
        memset(s->heads, 0xff, nheads * sizeof *s->heads);
    }
    return t;
fail:
    while (i-- > 0) {
        uv_mutex_destroy(&t->s[i].lock);
        free(t->s[i].heads);
    }
    free(t);
    return NULL;
}

void gly__rl_table_free(struct gly__rl_table *t)
{
    if (!t)
        return;
    for (int i = 0; i < STRIPES; i++) {
        uv_mutex_destroy(&t->s[i].lock);
        free(t->s[i].heads);
        free(t->s[i].e);
    }
    free(t);
}

static void lru_unlink(struct stripe *s, uint32_t i)
{
    struct entry *e = &s->e[i];
    if (e->prev != NIL)
        s->e[e->prev].next = e->next;
    else
        s->lru_head = e->next;
    if (e->next != NIL)
        s->e[e->next].prev = e->prev;
    else
        s->lru_tail = e->prev;
}

static void lru_push_front(struct stripe *s, uint32_t i)
{
    struct entry *e = &s->e[i];
    e->prev = NIL;
    e->next = s->lru_head;
    if (s->lru_head != NIL)
        s->e[s->lru_head].prev = i;
    s->lru_head = i;
    if (s->lru_tail == NIL)
        s->lru_tail = i;
}

static void chain_unlink(struct stripe *s, uint32_t i)
{
    uint32_t *pp = &s->heads[s->e[i].hash & s->mask];
    while (*pp != i) {
        assert(*pp != NIL);
        pp = &s->e[*pp].hnext;
    }
    *pp = s->e[i].hnext;
}

/* A free slot in s: a new one while under cap, else the least recently used, forgotten. */
static uint32_t slot(struct stripe *s)
{
    if (s->count < s->cap) {
        if (s->count == s->alloc) {
            uint32_t n = s->alloc ? s->alloc * 2 : 16;
            n = n > s->cap ? s->cap : n;
            struct entry *ne = realloc(s->e, n * sizeof *ne);
            if (ne) {
                s->e = ne;
                s->alloc = n;
            }
        }
        if (s->count < s->alloc)
            return s->count++;
        if (s->count == 0)
            return NIL; /* out of memory with nothing to reuse */
    }
    uint32_t i = s->lru_tail;
    lru_unlink(s, i);
    chain_unlink(s, i);
    return i;
}

void gly__rl_table_take(struct gly__rl_table *t, const void *key, size_t klen, double rate,
                        unsigned burst, uint64_t now_ns, struct gly__rl_verdict *v)
{
    uint8_t k[KEY_MAX];
    uint64_t h;

    if (klen > KEY_MAX) {
        /* 'h' and two independent 64-bit hashes stand for the long key */
        uint64_t h1 = hash(t->seed, key, klen), h2 = hash(~t->seed, key, klen);
        k[0] = 'h';
        memcpy(k + 1, &h1, 8);
        memcpy(k + 9, &h2, 8);
        key = k;
        klen = 17;
    }
    h = hash(t->seed, key, klen);
    struct stripe *s = &t->s[h >> STRIPE_SHIFT];
    uv_mutex_lock(&s->lock);
    uint32_t i = s->heads[h & s->mask];
    while (i != NIL &&
           !(s->e[i].hash == h && s->e[i].klen == klen && memcmp(s->e[i].key, key, klen) == 0))
        i = s->e[i].hnext;
    if (i == NIL) {
        i = slot(s);
        if (i == NIL) {
            /* no memory for a bucket: let the request through rather than fail it */
            uv_mutex_unlock(&s->lock);
            *v = (struct gly__rl_verdict){true, burst, burst, 0, 0};
            return;
        }
        struct entry *e = &s->e[i];
        e->hash = h;
        e->klen = (uint8_t)klen;
        memcpy(e->key, key, klen);
        e->b = (struct gly__bucket){0, 0};
        e->hnext = s->heads[h & s->mask];
        s->heads[h & s->mask] = i;
    } else {
        lru_unlink(s, i);
    }
    lru_push_front(s, i);
    gly__bucket_take(&s->e[i].b, rate, burst, now_ns ? now_ns : 1, v);
    uv_mutex_unlock(&s->lock);
}

unsigned gly__rl_table_count(struct gly__rl_table *t)
{
    unsigned n = 0;
    for (int i = 0; i < STRIPES; i++) {
        uv_mutex_lock(&t->s[i].lock);
        n += t->s[i].count;
        uv_mutex_unlock(&t->s[i].lock);
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* The middleware                                                           */
/* ------------------------------------------------------------------------ */

struct limiter {
    struct gly__rl_table *t;
    double rate;
    unsigned burst;
    bool exempt_health;
    gly_rate_limit_key key;
    void *key_arg;
    size_t plen;
    char prefix[]; /* plen bytes and a NUL */
};

static void limiter_free(void *p)
{
    struct limiter *l = p;
    if (l) {
        gly__rl_table_free(l->t);
        free(l);
    }
}

static bool has_prefix(gly_str path, const char *prefix, size_t n)
{
    return path.n >= n && memcmp(path.p, prefix, n) == 0;
}

/* The client IP as a key: the family and the address; IPv6 by its /64. */
static size_t ip_key(gly_req *req, uint8_t *k)
{
    struct gly__ip ip;
    gly__req_client_addr(req, &ip);
    k[0] = ip.fam;
    memcpy(k + 1, ip.a, ip.fam == 6 ? 8 : 4);
    return ip.fam == 6 ? 9 : 5;
}

static int set_uint(gly_req *req, const char *name, unsigned v)
{
    char text[16];
    snprintf(text, sizeof text, "%u", v);
    return gly_set_header(req, name, text);
}

static int rate_limit(gly_req *req)
{
    const struct limiter *l = gly_mw_ctx(req);
    gly_str path = gly_req_path(req);
    struct gly__rl_verdict v;
    uint8_t ipk[1 + 16];
    gly_str key = {0};
    int rc;

    if (!has_prefix(path, l->prefix, l->plen) ||
        (l->exempt_health && has_prefix(path, "/health/", 8)))
        return gly_next(req);
    if (l->key)
        key = l->key(req, l->key_arg);
    if (key.p) {
        /* a custom key is told apart from an IP key by a first byte no IP key has */
        uint8_t *k = gly_alloc(req, key.n + 1);
        if (!k)
            return GLY_ENOMEM;
        k[0] = 'k';
        memcpy(k + 1, key.p, key.n);
        gly__rl_table_take(l->t, k, key.n + 1, l->rate, l->burst, gly_now_ns(), &v);
    } else {
        size_t n = ip_key(req, ipk);
        gly__rl_table_take(l->t, ipk, n, l->rate, l->burst, gly_now_ns(), &v);
    }
    if ((rc = set_uint(req, "RateLimit-Limit", v.limit)) < 0 ||
        (rc = set_uint(req, "RateLimit-Remaining", v.remaining)) < 0 ||
        (rc = set_uint(req, "RateLimit-Reset", v.reset_s)) < 0)
        return rc;
    if (!v.allowed) {
        if ((rc = set_uint(req, "Retry-After", v.retry_after)) < 0)
            return rc;
        return gly_problem(req, 429, "rate-limited", "too many requests; see Retry-After");
    }
    return gly_next(req);
}

static uint64_t random_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
        seed = gly_now_ns() * 0x9e3779b97f4a7c15ULL; /* no entropy yet: still differs per run */
    return seed;
}

static int use_limiter(gly_app *app, const gly_rate_limit_opts *o, bool exempt_health)
{
    const char *prefix = o->prefix ? o->prefix : "";
    size_t plen = strlen(prefix);
    struct limiter *l;

    if (!(o->rate_per_sec > 0) || !isfinite(o->rate_per_sec) || o->burst < 1)
        return GLY_EINVAL;
    if (!(l = calloc(1, sizeof *l + plen + 1)))
        return GLY_ENOMEM;
    if (!(l->t = gly__rl_table_new(o->max_keys, random_seed()))) {
        free(l);
        return GLY_ENOMEM;
    }
    l->rate = o->rate_per_sec;
    l->burst = o->burst;
    l->exempt_health = exempt_health;
    l->key = o->key;
    l->key_arg = o->key_arg;
    l->plen = plen;
    memcpy(l->prefix, prefix, plen + 1);
    return gly_use_ctx(app, rate_limit, l, limiter_free);
}

int gly_use_rate_limit(gly_app *app, const gly_rate_limit_opts *opts)
{
    int rc = opts ? use_limiter(app, opts, false) : GLY_EINVAL;
    if (rc < 0 && !app->setup_err) {
        app->setup_err = rc;
        snprintf(app->setup_msg, sizeof app->setup_msg, "rate limit: %s", gly_strerror(rc));
    }
    return rc;
}

int gly__use_default_rate_limit(gly_app *app)
{
    const gly_config *cfg = &app->cfg;
    unsigned window = cfg->rate_limit_window_s;

    if (window != 1 && window != 60 && window != 3600)
        return GLY_EINVAL;
    gly_rate_limit_opts o = {
        .rate_per_sec = (double)cfg->rate_limit / window,
        .burst = cfg->rate_limit_burst ? cfg->rate_limit_burst : cfg->rate_limit,
    };
    return use_limiter(app, &o, true);
}

bool gly__rate_parse(const char *s, unsigned *count, unsigned *window_s)
{
    uint64_t n = 0;
    const char *p = s;

    if (strcmp(s, "off") == 0 || strcmp(s, "0") == 0) {
        *count = 0;
        *window_s = 1;
        return true;
    }
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > 1000000000)
            return false;
    }
    if (n == 0 || *p != '/' || p[1] == '\0' || p[2] != '\0')
        return false;
    switch (p[1]) {
    case 's':
        *window_s = 1;
        break;
    case 'm':
        *window_s = 60;
        break;
    case 'h':
        *window_s = 3600;
        break;
    default:
        return false;
    }
    *count = (unsigned)n;
    return true;
}
