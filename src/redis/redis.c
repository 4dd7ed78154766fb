/*
 * src/redis/redis.c - the Redis client: one pipelined connection per worker
 * for commands, one subscriber connection per process on worker 0, both on
 * the workers' libuv loops.
 *
 *   gly_redis ── rworker[worker] ── cmd: link ── rconn (the live connection)
 *                    │                  ├── ops in flight, in the order sent
 *                    │                  └── done: ops finished, their handlers to wake
 *                    └── worker 0 only: sub: link ── rconn (SUBSCRIBE)
 *
 * A link is a role that outlives its connections: it remembers whether the
 * server is down, the backoff and the last reason. A connection resolves
 * its host (unless it is an address), connects, and sends AUTH and SELECT
 * (or SUBSCRIBE) ahead of anything else; commands given meanwhile queue
 * behind them. A connection that breaks fails its operations with
 * GLY_ECONNLOST and is made again at once; a connection attempt that fails
 * marks the link down (commands then fail at once with GLY_EUNAVAIL) and
 * the next attempt comes after 50 ms, doubling to 2 s.
 *
 * Operations of handlers live on their coroutine stacks until woken; the
 * client's own (handshake, fire-and-forget PUBLISH) are on the heap. As in
 * db/pg.c, handlers are woken only at the end of this file's loop callbacks
 * (or the kick timer), never in the middle of a state change.
 *
 * The URL's password never reaches a message: messages name host:port.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <galley/galley.h>

#include "redis/internal.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define PING_MS        5000 /* the subscriber's keepalive */
#define KEEPALIVE_S    30   /* TCP keepalive of every connection */
#define READ_MIN       16384
#define KEEP_MAX       (1024 * 1024)           /* buffers past this size are released once empty */
#define INPUT_MAX      (RESP_BULK_MAX + 65536) /* bytes buffered for one reply at most */
#define MSGLEN         160
#define DEFAULT_PORT   6379

enum op_kind { OP_USER, OP_HELLO, OP_FIRE };
enum conn_state { C_CONNECTING, C_HANDSHAKE, C_READY, C_DEAD };

/* One command whose reply is awaited. */
struct op {
    struct op *next;
    gly_req *req;     /* OP_USER: the handler to wake */
    int kind;         /* an op_kind */
    const char *what; /* OP_HELLO: the command, for the log */
    uint64_t t0;      /* loop ms: when it was sent */
    int rc;
    gly_redis_reply *reply;
};

struct link;

struct rconn {
    struct link *l;
    int state; /* a conn_state */
    uv_tcp_t tcp;
    uv_timer_t timer; /* the connect deadline, the first op's deadline, the keepalive */
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    uv_write_t wreq;
    unsigned handles; /* handles open or closing, requests pending: freed at 0 once dead */
    bool tcp_open, resolving, writing, pong_wait;
    gly_buf out;  /* commands not yet handed to the socket */
    gly_buf wbuf; /* the write in flight */
    char *in;
    size_t inpos, inlen, incap;
    struct op *head, *tail;
    unsigned nhello; /* handshake replies still expected */
};

/* A connection's role on a worker: commands, or the process's subscriber. */
struct link {
    struct rworker *w;
    bool sub;
    struct rconn *c; /* NULL between connections */
    bool down;       /* the last connection attempt failed */
    bool ever;       /* a connection was ever ready (for the "again" message) */
    unsigned backoff_ms;
    uv_timer_t retry;
    char lasterr[MSGLEN];
    _Atomic bool up; /* ready (commands) or subscribed (subscriber), for any thread */
};

struct rworker {
    struct gly_redis *r;
    unsigned id;
    uv_loop_t *loop;
    bool started, stopping, draining;
    struct link cmd, sub;
    struct op *done_head, *done_tail;
    uv_timer_t kick;
    gly_arena scratch; /* replies nobody waits for */
    _Atomic uint64_t commands, errors;
};

struct sub {
    char *channel;
    gly_redis_sub_fn fn;
    void *ctx;
};

struct gly_redis {
    gly_app *app;
    char host[256];
    char hostport[280]; /* for messages */
    int port;
    char *user, *password; /* NULL: none; wiped at free */
    unsigned db;
    unsigned timeout_ms;
    struct sockaddr_storage addr; /* when host is an address */
    bool literal;
    struct rworker *w;
    unsigned nw;
    struct sub *subs;
    size_t nsubs;
    _Atomic bool running;
    _Atomic uint64_t messages, dropped, reconnects;
};

/* The worker whose thread this is, for publishing without a hop. */
static __thread struct rworker *tls_worker;

static void link_connect(struct link *l);
static void conn_lost(struct rconn *c, const char *msg);
static void conn_flush(struct rconn *c);
static void conn_arm(struct rconn *c);
static void on_write(uv_write_t *req, int status);

/* ------------------------------------------------------------------------ */
/* Waking handlers                                                          */
/* ------------------------------------------------------------------------ */

static void on_kick(uv_timer_t *t);

static void done_push(struct rworker *w, struct op *op)
{
    op->next = NULL;
    if (w->done_tail)
        w->done_tail->next = op;
    else
        w->done_head = op;
    w->done_tail = op;
    if (!w->draining && !w->stopping)
        uv_timer_start(&w->kick, on_kick, 0, 0);
}

/* Wakes the handlers of finished operations; only at the end of a callback. */
static void drain(struct rworker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    struct op *op;
    while ((op = w->done_head)) {
        w->done_head = op->next;
        if (!w->done_head)
            w->done_tail = NULL;
        gly_req_wake(op->req, 0);
    }
    w->draining = false;
    if (!w->stopping)
        uv_timer_stop(&w->kick);
}

static void on_kick(uv_timer_t *t)
{
    drain(t->data);
}

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_release(struct rconn *c)
{
    if (--c->handles == 0 && c->state == C_DEAD) {
        gly_buf_dispose(&c->wbuf);
        free(c);
    }
}

static void on_close(uv_handle_t *h)
{
    conn_release(h->data);
}

/* Ends an operation that failed with rc. */
static void op_fail(struct rworker *w, struct op *op, int rc)
{
    if (op->kind == OP_USER) {
        op->rc = rc;
        done_push(w, op);
        return;
    }
    if (op->kind == OP_FIRE)
        count(&w->r->dropped);
    free(op);
}

/*
 * Drops a connection: its operations fail with rc (the first one with
 * first_rc), its handles close, the memory goes with the last close
 * callback. Idempotent.
 */
static void conn_discard(struct rconn *c, int first_rc, int rc)
{
    struct link *l = c->l;
    struct rworker *w = l->w;
    if (c->state == C_DEAD)
        return;
    c->state = C_DEAD;
    if (l->c == c)
        l->c = NULL;
    atomic_store_explicit(&l->up, false, memory_order_relaxed);
    struct op *op;
    bool first = true;
    while ((op = c->head)) {
        c->head = op->next;
        op_fail(w, op, first ? first_rc : rc);
        first = false;
    }
    c->tail = NULL;
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->tcp_open)
        uv_close((uv_handle_t *)&c->tcp, on_close);
    uv_close((uv_handle_t *)&c->timer, on_close);
    gly_buf_dispose(&c->out);
    free(c->in);
    c->in = NULL;
}

static void on_retry(uv_timer_t *t)
{
    link_connect(t->data);
}

/* A connection attempt failed: the link is down until one succeeds. */
static void connect_failed(struct rconn *c, const char *why)
{
    struct link *l = c->l;
    struct rworker *w = l->w;
    const char *role = l->sub ? "subscriber" : "commands";
    if (!l->down)
        gly_log_warn("worker %u: cannot connect to Redis at %s (%s): %s", w->id, w->r->hostport,
                     role, why);
    else
        gly_log_debug("worker %u: cannot connect to Redis at %s (%s): %s", w->id, w->r->hostport,
                      role, why);
    l->down = true;
    snprintf(l->lasterr, sizeof l->lasterr, "%s", why);
    l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (l->backoff_ms > BACKOFF_MAX_MS)
        l->backoff_ms = BACKOFF_MAX_MS;
    conn_discard(c, GLY_ECONNLOST, GLY_ECONNLOST);
    if (!w->stopping)
        uv_timer_start(&l->retry, on_retry, l->backoff_ms, 0);
}

/* An established connection broke: its operations fail, the link connects again at once. */
static void conn_lost(struct rconn *c, const char *why)
{
    struct link *l = c->l;
    if (c->state == C_DEAD)
        return;
    if (c->state != C_READY) {
        connect_failed(c, why);
        return;
    }
    gly_log_warn("worker %u: Redis connection lost (%s): %s", l->w->id,
                 l->sub ? "subscriber" : "commands", why);
    snprintf(l->lasterr, sizeof l->lasterr, "%s", why);
    count(&l->w->r->reconnects);
    conn_discard(c, GLY_ECONNLOST, GLY_ECONNLOST);
    link_connect(l);
}

/* The handshake is through: the connection serves. */
static void conn_ready(struct rconn *c)
{
    struct link *l = c->l;
    c->state = C_READY;
    if (l->down || l->ever)
        gly_log_info("worker %u: connected to Redis at %s again (%s)", l->w->id, l->w->r->hostport,
                     l->sub ? "subscriber" : "commands");
    l->down = false;
    l->ever = true;
    l->backoff_ms = 0;
    l->lasterr[0] = '\0';
    if (!l->sub)
        atomic_store_explicit(&l->up, true, memory_order_relaxed);
    conn_arm(c);
}

/* Sends the bytes in c->out when no write is in flight. */
static void conn_flush(struct rconn *c)
{
    if (c->writing || !c->out.len || c->state == C_DEAD || c->state == C_CONNECTING)
        return;
    gly_buf t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    gly_buf_clear(&c->out);
    uv_buf_t b = uv_buf_init(c->wbuf.p, (unsigned)c->wbuf.len);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        conn_lost(c, uv_strerror(rc));
        return;
    }
    c->writing = true;
}

/*
 * Queues op with the command argv (already encoded when argc is 0: raw, n
 * bytes) on c. Returns 0 with op in flight, or GLY_ENOMEM (op is not).
 */
static int conn_send(struct rconn *c, struct op *op, unsigned argc, const gly_str *argv,
                     const char *raw, size_t n)
{
    size_t before = c->out.len;
    int rc = argc ? gly__resp_command(&c->out, argc, argv) : gly_buf_append(&c->out, raw, n);
    if (rc < 0) {
        c->out.len = before;
        c->out.err = 0;
        return rc;
    }
    if (op) {
        op->next = NULL;
        op->t0 = uv_now(c->l->w->loop);
        if (c->tail) {
            c->tail->next = op;
        } else {
            c->head = op;
            conn_arm(c);
        }
        c->tail = op;
    }
    conn_flush(c);
    return 0;
}

static void on_conn_timer(uv_timer_t *t);

/* The connection's timer: connect deadline, first op's deadline, or the keepalive. */
static void conn_arm(struct rconn *c)
{
    struct rworker *w = c->l->w;
    unsigned limit = w->r->timeout_ms;
    if (c->state == C_CONNECTING || c->state == C_DEAD)
        return; /* the connect deadline stays */
    if (c->head) {
        uint64_t due = c->head->t0 + limit, now = uv_now(w->loop);
        uv_timer_start(&c->timer, on_conn_timer, due > now ? due - now : 0, 0);
    } else if (c->l->sub && c->state == C_READY) {
        uv_timer_start(&c->timer, on_conn_timer, c->pong_wait ? limit : PING_MS, 0);
    } else if (c->state == C_HANDSHAKE) {
        uv_timer_start(&c->timer, on_conn_timer, limit, 0); /* the subscriber's confirmations */
    } else {
        uv_timer_stop(&c->timer);
    }
}

static void on_conn_timer(uv_timer_t *t)
{
    struct rconn *c = t->data;
    struct rworker *w = c->l->w;
    if (c->state == C_CONNECTING) {
        connect_failed(c, "timeout while connecting");
    } else if (c->state == C_HANDSHAKE) {
        connect_failed(c, "no answer to the handshake");
    } else if (c->head) {
        struct link *l = c->l;
        gly_log_warn("worker %u: Redis did not answer within redis-timeout (%u ms); dropping the "
                     "connection",
                     w->id, w->r->timeout_ms);
        snprintf(l->lasterr, sizeof l->lasterr, "no answer within %u ms", w->r->timeout_ms);
        count(&w->r->reconnects);
        conn_discard(c, GLY_ETIMEDOUT, GLY_ECONNLOST);
        link_connect(l);
    } else if (c->l->sub && c->pong_wait) {
        conn_lost(c, "no answer to PING");
    } else if (c->l->sub) {
        static const gly_str ping[] = {{"PING", 4}};
        c->pong_wait = true;
        if (conn_send(c, NULL, 1, ping, NULL, 0) == 0)
            conn_arm(c);
    }
    drain(w);
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                  */
/* ------------------------------------------------------------------------ */

static bool is_str(const gly_redis_reply *r, const char *s)
{
    size_t n = strlen(s);
    return r->type == GLY_REDIS_STRING && r->len == n && strncasecmp(r->str, s, n) == 0;
}

/* A message on the subscriber connection: ["message", ch, payload], ["subscribe", ch, n], pong. */
static void sub_push(struct rconn *c, const gly_redis_reply *m)
{
    struct gly_redis *r = c->l->w->r;
    if (m->type != GLY_REDIS_ARRAY || m->len < 2 || m->element[0]->type != GLY_REDIS_STRING) {
        gly_log_debug("redis subscriber: unexpected reply ignored");
        return;
    }
    const gly_redis_reply *kind = m->element[0], *ch = m->element[1];
    if (is_str(kind, "pong")) {
        c->pong_wait = false;
        conn_arm(c);
        return;
    }
    bool msg = is_str(kind, "message") && m->len == 3;
    bool subscribed = is_str(kind, "subscribe");
    if ((!msg && !subscribed) || ch->type != GLY_REDIS_STRING)
        return;
    if (subscribed) {
        if (c->state != C_READY)
            conn_ready(c);
        atomic_store_explicit(&c->l->up, true, memory_order_relaxed);
    } else {
        count(&r->messages);
    }
    gly_str channel = {ch->str, ch->len};
    gly_str payload =
        msg ? (gly_str){m->element[2]->str ? m->element[2]->str : "", m->element[2]->len}
            : GLY_STR_NULL;
    for (size_t i = 0; i < r->nsubs; i++)
        if (strlen(r->subs[i].channel) == ch->len &&
            memcmp(r->subs[i].channel, ch->str, ch->len) == 0)
            r->subs[i].fn(r->subs[i].ctx, channel, payload);
}

/* Files the reply p[0 .. n) (a whole one, scanned) to the first op in flight, or as a push. */
static void conn_reply(struct rconn *c, const char *p, size_t n)
{
    struct rworker *w = c->l->w;
    struct op *op = c->head;
    gly_redis_reply *rep = NULL;
    if (!op) {
        if (!c->l->sub) {
            conn_lost(c, "a reply nobody asked for");
            return;
        }
        if (gly__resp_build(&w->scratch, p, n, &rep) == 0)
            sub_push(c, rep);
        gly_arena_reset(&w->scratch);
        return;
    }
    c->head = op->next;
    if (!c->head)
        c->tail = NULL;
    conn_arm(c);
    if (op->kind == OP_USER) {
        op->rc = gly__resp_build(gly_req_arena(op->req), p, n, &op->reply);
        if (op->rc == 0 && op->reply->type == GLY_REDIS_ERROR)
            op->rc = GLY_EREDIS;
        done_push(w, op);
        return;
    }
    int rc = gly__resp_build(&w->scratch, p, n, &rep);
    bool failed = rc < 0 || rep->type == GLY_REDIS_ERROR;
    if (op->kind == OP_HELLO) {
        char why[MSGLEN];
        if (failed) {
            snprintf(why, sizeof why, "%s refused: %.100s", op->what,
                     rc < 0 ? gly_strerror(rc) : rep->str);
            free(op);
            gly_arena_reset(&w->scratch);
            /* a failed handshake is a failed connection attempt: back off */
            gly_log_error("worker %u: Redis at %s: %s", w->id, w->r->hostport, why);
            connect_failed(c, why);
            return;
        }
        if (--c->nhello == 0 && !c->l->sub)
            conn_ready(c);
    } else if (failed) {
        count(&w->errors);
        gly_log_debug("redis: a published message failed: %.100s",
                      rc < 0 ? gly_strerror(rc) : rep->str);
    }
    free(op);
    gly_arena_reset(&w->scratch);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct rconn *c = h->data;
    (void)hint;
    if (c->inpos && c->inpos == c->inlen) {
        c->inpos = c->inlen = 0;
    } else if (c->inpos && c->incap - c->inlen < READ_MIN) {
        memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
        c->inlen -= c->inpos;
        c->inpos = 0;
    }
    if (c->incap - c->inlen < READ_MIN) {
        size_t cap = c->incap ? c->incap * 2 : 4 * READ_MIN;
        while (cap - c->inlen < READ_MIN)
            cap *= 2;
        char *in = realloc(c->in, cap);
        if (!in) {
            *buf = uv_buf_init(NULL, 0); /* libuv answers UV_ENOBUFS */
            return;
        }
        c->in = in;
        c->incap = cap;
    }
    *buf = uv_buf_init(c->in + c->inlen, (unsigned)(c->incap - c->inlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct rconn *c = s->data;
    struct rworker *w = c->l->w;
    (void)buf;
    if (c->state == C_DEAD)
        return;
    if (nread < 0) {
        conn_lost(c, nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
        drain(w);
        return;
    }
    c->inlen += (size_t)nread;
    while (c->state != C_DEAD && c->inpos < c->inlen) {
        ssize_t n = gly__resp_scan(c->in + c->inpos, c->inlen - c->inpos);
        if (n < 0) {
            conn_lost(c, n == GLY_ELIMIT ? "a reply past the limits" : "protocol error");
            break;
        }
        if (n == 0) {
            if (c->inlen - c->inpos > INPUT_MAX)
                conn_lost(c, "a reply past the limits");
            break;
        }
        const char *p = c->in + c->inpos;
        c->inpos += (size_t)n;
        conn_reply(c, p, (size_t)n);
    }
    if (c->state != C_DEAD && c->inpos == c->inlen) {
        c->inpos = c->inlen = 0;
        if (c->incap > KEEP_MAX) {
            free(c->in);
            c->in = NULL;
            c->incap = 0;
        }
    }
    drain(w);
}

static void on_write(uv_write_t *req, int status)
{
    struct rconn *c = req->handle->data;
    struct rworker *w = c->l->w;
    c->writing = false;
    if (c->wbuf.cap > KEEP_MAX) {
        gly_buf_dispose(&c->wbuf);
        gly_buf_init(&c->wbuf, NULL, 0, NULL, 0);
    }
    gly_buf_clear(&c->wbuf);
    if (c->state == C_DEAD)
        return;
    if (status < 0)
        conn_lost(c, uv_strerror(status));
    else
        conn_flush(c);
    drain(w);
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                               */
/* ------------------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status)
{
    struct rconn *c = req->data;
    struct rworker *w = c->l->w;
    if (c->state == C_DEAD)
        return;
    if (status < 0) {
        connect_failed(c, uv_strerror(status));
        drain(w);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        connect_failed(c, uv_strerror(rc));
        drain(w);
        return;
    }
    c->state = C_HANDSHAKE;
    if (!c->nhello && !c->l->sub)
        conn_ready(c);
    else
        conn_arm(c);
    conn_flush(c);
    drain(w);
}

static void tcp_connect(struct rconn *c, const struct sockaddr *addr)
{
    struct rworker *w = c->l->w;
    int rc = uv_tcp_init(w->loop, &c->tcp);
    if (rc < 0) {
        connect_failed(c, uv_strerror(rc));
        return;
    }
    c->tcp.data = c;
    c->tcp_open = true;
    c->handles++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, KEEPALIVE_S);
    c->creq.data = c;
    if ((rc = uv_tcp_connect(&c->creq, &c->tcp, addr, on_connect)) < 0)
        connect_failed(c, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rconn *c = req->data;
    struct rworker *w = c->l->w;
    c->resolving = false;
    if (c->state != C_DEAD) {
        if (status < 0 || !res)
            connect_failed(c, status < 0 ? uv_strerror(status) : "no address");
        else
            tcp_connect(c, res->ai_addr);
    }
    uv_freeaddrinfo(res);
    conn_release(c);
    if (!w->stopping)
        drain(w);
}

/* Queues the handshake: AUTH, then SELECT (commands) or SUBSCRIBE (the subscriber). */
static int conn_hello(struct rconn *c)
{
    struct gly_redis *r = c->l->w->r;
    int rc = 0;
    if (r->password) {
        struct op *op = calloc(1, sizeof *op);
        gly_str argv[3] = {GLY_STR("AUTH"), gly_str_c(r->user), gly_str_c(r->password)};
        if (!r->user)
            argv[1] = argv[2];
        if (!op)
            return GLY_ENOMEM;
        op->kind = OP_HELLO;
        op->what = "AUTH";
        if ((rc = conn_send(c, op, r->user ? 3 : 2, argv, NULL, 0)) < 0) {
            free(op);
            return rc;
        }
        c->nhello++;
    }
    if (!c->l->sub && r->db) {
        char db[16];
        snprintf(db, sizeof db, "%u", r->db);
        struct op *op = calloc(1, sizeof *op);
        gly_str argv[2] = {GLY_STR("SELECT"), gly_str_c(db)};
        if (!op)
            return GLY_ENOMEM;
        op->kind = OP_HELLO;
        op->what = "SELECT";
        if ((rc = conn_send(c, op, 2, argv, NULL, 0)) < 0) {
            free(op);
            return rc;
        }
        c->nhello++;
    }
    if (c->l->sub) {
        gly_str *argv = calloc(r->nsubs + 1, sizeof *argv);
        unsigned n = 0;
        if (!argv)
            return GLY_ENOMEM;
        argv[n++] = GLY_STR("SUBSCRIBE");
        for (size_t i = 0; i < r->nsubs; i++) {
            bool seen = false;
            for (unsigned j = 1; j < n && !seen; j++)
                seen = strcmp(argv[j].p, r->subs[i].channel) == 0;
            if (!seen)
                argv[n++] = gly_str_c(r->subs[i].channel);
        }
        rc = conn_send(c, NULL, n, argv, NULL, 0);
        free(argv);
    }
    return rc;
}

/* Starts a connection of the link (not during a backoff, not when one is there). */
static void link_connect(struct link *l)
{
    struct rworker *w = l->w;
    struct gly_redis *r = w->r;
    if (!w->started || w->stopping || l->c || uv_is_active((uv_handle_t *)&l->retry))
        return;
    struct rconn *c = calloc(1, sizeof *c);
    if (!c) {
        gly_log_error("worker %u: Redis: out of memory", w->id);
        l->down = true;
        uv_timer_start(&l->retry, on_retry, BACKOFF_MAX_MS, 0);
        return;
    }
    c->l = l;
    c->state = C_CONNECTING;
    gly_buf_init(&c->out, NULL, 0, NULL, 0);
    gly_buf_init(&c->wbuf, NULL, 0, NULL, 0);
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    l->c = c;
    uv_timer_start(&c->timer, on_conn_timer, r->timeout_ms, 0);
    if (conn_hello(c) < 0) {
        connect_failed(c, "out of memory");
        return;
    }
    if (r->literal) {
        tcp_connect(c, (const struct sockaddr *)&r->addr);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", r->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    int rc = uv_getaddrinfo(w->loop, &c->gai, on_resolved, r->host, port, &hints);
    if (rc < 0) {
        connect_failed(c, uv_strerror(rc));
        return;
    }
    c->resolving = true;
    c->handles++;
}

/* ------------------------------------------------------------------------ */
/* Commands from handlers                                                   */
/* ------------------------------------------------------------------------ */

struct reqstate {
    const char *err;
};

static struct rworker *worker_of(struct gly_redis *r, gly_req *req)
{
    unsigned i = gly_req_worker(req);
    return r && i < r->nw ? &r->w[i] : NULL;
}

int gly_redis_cmdv(gly_req *req, gly_redis_reply **out, unsigned argc, const gly_str *argv)
{
    struct gly_redis *r = gly_app_redis(gly_req_app(req));
    struct rworker *w = worker_of(r, req);
    struct op op = {.req = req, .kind = OP_USER};
    int rc;
    if (out)
        *out = NULL;
    if (!argc)
        return GLY_EINVAL;
    if (!r)
        return GLY_EUNAVAIL;
    if (!w)
        return GLY_ESTATE;
    struct link *l = &w->cmd;
    if (!w->started || w->stopping || !l->c || l->down) {
        rc = GLY_EUNAVAIL;
        goto done;
    }
    if ((rc = conn_send(l->c, &op, argc, argv, NULL, 0)) < 0)
        goto done;
    gly_req_suspend(req);
    rc = op.rc;
done:
    count(&w->commands);
    if (rc < 0 && rc != GLY_EREDIS)
        count(&w->errors);
    if (rc == GLY_EREDIS) {
        struct reqstate *st = gly_req_slot(req, GLY_SLOT_REDIS);
        if (!st && (st = gly_alloc(req, sizeof *st)))
            gly_req_set_slot(req, GLY_SLOT_REDIS, st);
        if (st)
            st->err = op.reply->str;
        gly_log_debug("redis %.*s: %s", (int)argv[0].n, argv[0].p, op.reply->str);
    } else if (rc == GLY_ECONNLOST || rc == GLY_ETIMEDOUT) {
        gly_log_warn("redis %.*s failed: %s", (int)argv[0].n, argv[0].p, gly_strerror(rc));
    }
    if (out && (rc == 0 || rc == GLY_EREDIS))
        *out = op.reply;
    return rc;
}

int gly_redis_cmd_strs(gly_req *req, gly_redis_reply **out, unsigned argc, const char *const *argv)
{
    gly_str sv[16];
    gly_str *v = argc <= 16 ? sv : gly_alloc(req, argc * sizeof *v);
    if (!v)
        return GLY_ENOMEM;
    for (unsigned i = 0; i < argc; i++)
        v[i] = gly_str_c(argv[i] ? argv[i] : "");
    return gly_redis_cmdv(req, out, argc, v);
}

const char *gly_redis_error(gly_req *req)
{
    struct reqstate *st = gly_req_slot(req, GLY_SLOT_REDIS);
    return st && st->err ? st->err : "";
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                               */
/* ------------------------------------------------------------------------ */

/* Sends an encoded command on the worker's connection, fire and forget. */
static void fire(struct rworker *w, unsigned argc, const gly_str *argv, const char *raw, size_t n)
{
    struct link *l = &w->cmd;
    struct op *op;
    count(&w->commands);
    if (!w->started || w->stopping || !l->c || l->down || !(op = calloc(1, sizeof *op))) {
        count(&w->r->dropped);
        return;
    }
    op->kind = OP_FIRE;
    if (conn_send(l->c, op, argc, argv, raw, n) < 0) {
        free(op);
        count(&w->r->dropped);
    }
}

struct pubtask {
    gly_task task;
    struct gly_redis *r;
    size_t n;
    char bytes[];
};

static void on_pubtask(gly_task *t)
{
    struct pubtask *pt = (struct pubtask *)t;
    fire(&pt->r->w[0], 0, NULL, pt->bytes, pt->n);
    free(pt);
}

int gly_redis_publish(gly_redis *r, const char *channel, const void *message, size_t len)
{
    gly_str argv[3] = {GLY_STR("PUBLISH"), gly_str_c(channel), {message ? message : "", len}};
    struct rworker *w = tls_worker;
    if (!r)
        return GLY_EUNAVAIL;
    if (!atomic_load_explicit(&r->running, memory_order_acquire))
        return GLY_ESTATE;
    if (w && w->r == r) {
        fire(w, 3, argv, NULL, 0);
        return 0;
    }
    gly_buf b;
    gly_buf_init(&b, NULL, 0, NULL, 0);
    int rc = gly__resp_command(&b, 3, argv);
    struct pubtask *pt = rc < 0 ? NULL : malloc(sizeof *pt + b.len);
    if (pt) {
        pt->task.fn = on_pubtask;
        pt->r = r;
        pt->n = b.len;
        memcpy(pt->bytes, b.p, b.len);
    }
    gly_buf_dispose(&b);
    if (!pt)
        return GLY_ENOMEM;
    if ((rc = gly_worker_post(r->app, 0, &pt->task)) < 0)
        free(pt);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Workers, readiness, metrics                                              */
/* ------------------------------------------------------------------------ */

static int on_worker_start(gly_app *app, unsigned wi, void *loop, void *ctx)
{
    struct gly_redis *r = ctx;
    (void)app;
    if (wi >= r->nw)
        return GLY_EINVAL;
    struct rworker *w = &r->w[wi];
    w->loop = loop;
    w->stopping = w->draining = false;
    uv_timer_init(loop, &w->kick);
    w->kick.data = w;
    struct link *links[2] = {&w->cmd, &w->sub};
    for (int i = 0; i < 2; i++) {
        uv_timer_init(loop, &links[i]->retry);
        links[i]->retry.data = links[i];
        links[i]->down = links[i]->ever = false;
        links[i]->backoff_ms = 0;
    }
    gly_arena_init(&w->scratch, 0);
    w->started = true;
    tls_worker = w;
    atomic_store_explicit(&r->running, true, memory_order_release);
    link_connect(&w->cmd);
    if (wi == 0 && r->nsubs)
        link_connect(&w->sub);
    return 0;
}

static void on_worker_stop(gly_app *app, unsigned wi, void *ctx)
{
    struct gly_redis *r = ctx;
    (void)app;
    if (wi >= r->nw || !r->w[wi].started)
        return;
    struct rworker *w = &r->w[wi];
    if (wi == 0)
        atomic_store_explicit(&r->running, false, memory_order_release);
    /* every handler is done by now: only the client's own operations are in flight */
    w->stopping = true;
    if (w->cmd.c)
        conn_discard(w->cmd.c, GLY_ECANCELED, GLY_ECANCELED);
    if (w->sub.c)
        conn_discard(w->sub.c, GLY_ECANCELED, GLY_ECANCELED);
    assert(!w->done_head);
    uv_close((uv_handle_t *)&w->cmd.retry, NULL);
    uv_close((uv_handle_t *)&w->sub.retry, NULL);
    uv_close((uv_handle_t *)&w->kick, NULL);
    gly_arena_dispose(&w->scratch);
    w->started = false;
    if (tls_worker == w)
        tls_worker = NULL;
}

static int ready_check(gly_req *req, void *ctx, char *msg, size_t msglen)
{
    struct gly_redis *r = ctx;
    struct rworker *w = worker_of(r, req);
    if (!w)
        return GLY_ESTATE;
    if (!w->cmd.c || w->cmd.down) {
        snprintf(msg, msglen, "cannot connect to %s: %s", r->hostport,
                 w->cmd.lasterr[0] ? w->cmd.lasterr : "unavailable");
        return GLY_EUNAVAIL;
    }
    int rc = gly_redis_cmd(req, NULL, "PING");
    if (rc < 0) {
        snprintf(msg, msglen, "PING: %s", gly_strerror(rc));
        return rc;
    }
    if (r->nsubs && !atomic_load_explicit(&r->w[0].sub.up, memory_order_relaxed)) {
        snprintf(msg, msglen, "the subscription to %s is down", r->hostport);
        return GLY_EUNAVAIL;
    }
    return 0;
}

static void redis_metrics(gly_buf *b, void *ctx)
{
    struct gly_redis *r = ctx;
    uint64_t cmds = 0, errs = 0, up = 0;
    for (unsigned i = 0; i < r->nw; i++) {
        cmds += atomic_load_explicit(&r->w[i].commands, memory_order_relaxed);
        errs += atomic_load_explicit(&r->w[i].errors, memory_order_relaxed);
        up += atomic_load_explicit(&r->w[i].cmd.up, memory_order_relaxed);
    }
    bool sub = r->nsubs && atomic_load_explicit(&r->w[0].sub.up, memory_order_relaxed);
    gly_buf_printf(
        b,
        "# HELP galley_redis_commands_total Redis commands sent (or refused while down).\n"
        "# TYPE galley_redis_commands_total counter\n"
        "galley_redis_commands_total %" PRIu64 "\n"
        "# HELP galley_redis_command_errors_total Redis commands that failed without a reply "
        "(down, connection lost, timeout).\n"
        "# TYPE galley_redis_command_errors_total counter\n"
        "galley_redis_command_errors_total %" PRIu64 "\n"
        "# HELP galley_redis_connections Redis connections, by role and state.\n"
        "# TYPE galley_redis_connections gauge\n"
        "galley_redis_connections{role=\"commands\",state=\"up\"} %" PRIu64 "\n"
        "galley_redis_connections{role=\"commands\",state=\"down\"} %" PRIu64 "\n"
        "galley_redis_connections{role=\"subscriber\",state=\"up\"} %d\n"
        "galley_redis_connections{role=\"subscriber\",state=\"down\"} %d\n"
        "# HELP galley_redis_reconnects_total Established Redis connections that were lost.\n"
        "# TYPE galley_redis_reconnects_total counter\n"
        "galley_redis_reconnects_total %" PRIu64 "\n"
        "# HELP galley_redis_messages_total Messages received on subscribed channels.\n"
        "# TYPE galley_redis_messages_total counter\n"
        "galley_redis_messages_total %" PRIu64 "\n"
        "# HELP galley_redis_publish_dropped_total Fire-and-forget messages dropped while "
        "Redis was unreachable.\n"
        "# TYPE galley_redis_publish_dropped_total counter\n"
        "galley_redis_publish_dropped_total %" PRIu64 "\n",
        cmds, errs, up, r->nw - up, sub ? 1 : 0, r->nsubs && !sub ? 1 : 0,
        atomic_load_explicit(&r->reconnects, memory_order_relaxed),
        atomic_load_explicit(&r->messages, memory_order_relaxed),
        atomic_load_explicit(&r->dropped, memory_order_relaxed));
}

/* ------------------------------------------------------------------------ */
/* The client                                                               */
/* ------------------------------------------------------------------------ */

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static void redis_free(void *p)
{
    struct gly_redis *r = p;
    if (!r)
        return;
    for (size_t i = 0; i < r->nsubs; i++)
        free(r->subs[i].channel);
    free(r->subs);
    free(r->w);
    wipe_free(r->user);
    wipe_free(r->password);
    free(r);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A copy of p[0 .. n) with %XX decoded; NULL when out of memory or malformed. */
static char *pct_decode(const char *p, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            *o++ = p[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(p[i + 1]) : -1, lo = i + 2 < n ? hexval(p[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    return out;
}

/*
 * Parses redis://[[user]:password@]host[:port][/db]. Returns 0, or
 * GLY_EINVAL with a reason in why (never the password), or GLY_ENOMEM.
 */
static int parse_url(struct gly_redis *r, const char *url, char *why, size_t whylen)
{
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(why, whylen, "expected redis://");
        return GLY_EINVAL;
    }
    const char *p = url + 8, *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (uend > p && !(r->user = pct_decode(p, (size_t)(uend - p))))
            goto bad_auth;
        if (colon && !(r->password = pct_decode(colon + 1, (size_t)(at - colon - 1))))
            goto bad_auth;
        if (r->user && !r->password) {
            /* redis://secret@host: a lone word is the password, as in most clients */
            r->password = r->user;
            r->user = NULL;
        }
        p = at + 1;
    }
    const char *hend;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb) {
            snprintf(why, whylen, "an IPv6 host without ]");
            return GLY_EINVAL;
        }
        snprintf(r->host, sizeof r->host, "%.*s", (int)(rb - p - 1), p + 1);
        hend = rb + 1;
    } else {
        hend = p;
        while (hend < end && *hend != ':')
            hend++;
        if ((size_t)(hend - p) >= sizeof r->host) {
            snprintf(why, whylen, "host name too long");
            return GLY_EINVAL;
        }
        snprintf(r->host, sizeof r->host, "%.*s", (int)(hend - p), p);
    }
    if (!r->host[0]) {
        snprintf(why, whylen, "no host");
        return GLY_EINVAL;
    }
    r->port = DEFAULT_PORT;
    if (hend < end) {
        if (*hend != ':' || hend + 1 == end) {
            snprintf(why, whylen, "bad port");
            return GLY_EINVAL;
        }
        long port = 0;
        for (const char *q = hend + 1; q < end; q++) {
            if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535) {
                snprintf(why, whylen, "bad port");
                return GLY_EINVAL;
            }
        }
        if (port == 0) {
            snprintf(why, whylen, "bad port");
            return GLY_EINVAL;
        }
        r->port = (int)port;
    }
    if (*end == '/' && end[1]) {
        unsigned long db = 0;
        for (const char *q = end + 1; *q; q++) {
            if (*q < '0' || *q > '9' || (db = db * 10 + (unsigned)(*q - '0')) > 1000000) {
                snprintf(why, whylen, "the database must be a number (/0 .. /15)");
                return GLY_EINVAL;
            }
        }
        r->db = (unsigned)db;
    } else if (*end && !(*end == '/' && !end[1])) {
        snprintf(why, whylen, "unexpected text after the host");
        return GLY_EINVAL;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&r->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&r->addr;
    r->literal = uv_ip4_addr(r->host, r->port, a4) == 0 || uv_ip6_addr(r->host, r->port, a6) == 0;
    snprintf(r->hostport, sizeof r->hostport, strchr(r->host, ':') ? "[%s]:%d" : "%s:%d", r->host,
             r->port);
    return 0;
bad_auth:
    snprintf(why, whylen, "a bad %%-escape in the user or password");
    return GLY_EINVAL;
}

gly_redis *gly_app_redis(const gly_app *app)
{
    return gly_app_slot(app, GLY_SLOT_REDIS);
}

int gly_redis_use(gly_app *app, gly_redis **out)
{
    const gly_config *cfg = gly_app_config(app);
    *out = gly_app_redis(app);
    if (*out)
        return 0;
    if (!cfg->redis_url[0])
        return GLY_ENOENT;
    struct gly_redis *r = calloc(1, sizeof *r);
    if (!r)
        return GLY_ENOMEM;
    r->app = app;
    r->timeout_ms = cfg->redis_timeout_ms ? cfg->redis_timeout_ms : 2000;
    char why[128];
    int rc = parse_url(r, cfg->redis_url, why, sizeof why);
    if (rc < 0) {
        gly_log_error("redis-url: %s", rc == GLY_EINVAL ? why : gly_strerror(rc));
        redis_free(r);
        return rc;
    }
    r->nw = gly_app_workers(app);
    if (!(r->w = calloc(r->nw ? r->nw : 1, sizeof *r->w))) {
        redis_free(r);
        return GLY_ENOMEM;
    }
    for (unsigned i = 0; i < r->nw; i++) {
        r->w[i].r = r;
        r->w[i].id = i;
        r->w[i].cmd.w = r->w[i].sub.w = &r->w[i];
        r->w[i].sub.sub = true;
    }
    if ((rc = gly_app_set_slot(app, GLY_SLOT_REDIS, r, redis_free)) < 0) {
        redis_free(r);
        return rc;
    }
    if ((rc = gly_app_on_worker(app, on_worker_start, on_worker_stop, r)) < 0 ||
        (rc = gly_health_add(app, "redis", ready_check, r)) < 0 ||
        (rc = gly_metrics_add(app, redis_metrics, r)) < 0)
        return rc;
    *out = r;
    return 0;
}

int gly_redis_subscribe(gly_redis *r, const char *channel, gly_redis_sub_fn fn, void *ctx)
{
    if (!r || !channel || !*channel || !fn)
        return GLY_EINVAL;
    if (atomic_load_explicit(&r->running, memory_order_acquire))
        return GLY_ESTATE;
    struct sub *s = realloc(r->subs, (r->nsubs + 1) * sizeof *s);
    if (!s)
        return GLY_ENOMEM;
    r->subs = s;
    if (!(s[r->nsubs].channel = strdup(channel)))
        return GLY_ENOMEM;
    s[r->nsubs].fn = fn;
    s[r->nsubs].ctx = ctx;
    r->nsubs++;
    return 0;
}
