/*
 * src/db/pg.c - the PostgreSQL driver: libpq in non-blocking mode on each
 * worker's loop.
 *
 *   pgdb ── main: one blocking connection (open, scripts, migrations)
 *     └── pgw[worker] ── conns: the worker's pool (min..max connections)
 *           ├── waiting: operations no connection could take yet (FIFO,
 *           │            db-wait bound, then GLY_EUNAVAIL)
 *           └── done: operations finished, their handlers to wake
 *
 * A connection is made with PQconnectStart/PQconnectPoll driven by a
 * uv_poll_t on its socket, then put in pipeline mode. An operation (a query,
 * BEGIN, COMMIT) is sent as Parse (the first time the connection sees the
 * SQL text) + Bind/Execute + Sync, so each is one round trip and its errors
 * stay its own; several requests' operations may be in flight on one
 * connection at once (up to PIPE_MAX) once the pool is at its max. A
 * transaction pins its connection: only its own statements go there until
 * COMMIT/ROLLBACK has been sent.
 *
 * Operations live on their handler's coroutine stack: the handler stays
 * suspended until the operation is on the done list and drain() wakes it.
 * Handlers are woken only from the end of this driver's loop callbacks (or
 * the kick timer), never from the middle of a state change, because a woken
 * handler runs at once and may come back into the driver.
 *
 * A connection that breaks fails its operations with GLY_ECONNLOST and is
 * dropped; the pool connects again at once, then with a backoff of 50 ms
 * doubling to 2 s while the server refuses. Messages from libpq never carry
 * the URL or the password (redact()).
 */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"

#define PIPE_MAX       16   /* operations in flight on one connection */
#define STMT_MAX       128  /* prepared statements per connection; more run unnamed */
#define BACKOFF_MIN_MS 50   /* reconnect delays: doubling from here ... */
#define BACKOFF_MAX_MS 2000 /* ... to here */
#define BACKSTOP_MS    1000 /* a query's own timer: statement_timeout plus this */
#define CONNECT_MS     5000 /* a connection attempt's limit when db-timeout is 0 */
#define PARAMS_STACK   16   /* parameters converted without allocating */
#define PARAMS_BUF     512
#define MSGLEN         160

/* PostgreSQL type OIDs (catalog/pg_type.h, stable) */
#define OID_BOOL    16
#define OID_BYTEA   17
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_OID     26
#define OID_FLOAT4  700
#define OID_FLOAT8  701
#define OID_NUMERIC 1700

enum op_kind { OP_QUERY, OP_BEGIN, OP_COMMIT, OP_ROLLBACK };
enum conn_state { C_CONNECTING, C_READY, C_DEAD };

struct pgconn;
struct pgw;

/* A transaction: the connection pinned to it (NULL once that connection is gone). */
struct pgtx {
    struct pgconn *conn;
};

/* One operation of a handler, on its coroutine stack until it is woken. */
struct op {
    struct op *next;
    struct db_query *q;
    int kind;          /* an op_kind */
    struct pgtx *tx;   /* OP_BEGIN: the transaction to pin a connection to */
    uint64_t t_wait;   /* loop ms: when it began to wait for a connection */
    uint64_t t_start;  /* loop ms: when it became the first in flight on its connection */
    int stmt;          /* the statement cache entry it used, or -1 */
    bool prepare;      /* a Parse went before its Bind/Execute */
    bool prepare_seen; /* the Parse's result has come */
    bool retried;      /* sent again (the table changed under a prepared statement) */
    int rc;            /* set by the driver when it failed without a server error */
    PGresult *res;     /* the execute's result (owned) */
    PGresult *err;     /* the first error the server gave (owned) */
};

/* A prepared statement of a connection. */
struct stmt {
    uint64_t hash;
    char *sql;
    size_t len;
    unsigned id; /* the name is "s<id>" */
    bool ready;  /* a Parse was sent and has not failed */
};

struct pollh {
    uv_poll_t h;
    struct pgconn *c;
};

struct pgconn {
    struct pgw *w;
    struct pgconn *prev, *next;
    PGconn *pg;
    int state; /* a conn_state */
    struct pollh *poll;
    int fd;
    int events;             /* what poll watches */
    uv_timer_t timer;       /* the connect deadline, then the first operation's backstop */
    unsigned handles;       /* uv handles open or closing: freed at 0 once dead */
    struct op *head, *tail; /* in flight, in the order sent */
    unsigned depth;
    struct pgtx *tx; /* pinned to this transaction */
    struct stmt stmts[STMT_MAX];
    unsigned nstmts, next_id;
};

/* A worker's pool. Fields without _Atomic are the worker's alone. */
struct pgw {
    struct pgdb *pd;
    unsigned id;
    uv_loop_t *loop;
    bool started, stopping, draining;
    bool down; /* the last connection attempt failed */
    struct pgconn *conns;
    unsigned nconns, nconnecting; /* nconns counts those connecting */
    struct op *wait_head, *wait_tail, *done_head, *done_tail;
    unsigned nwait;
    uv_timer_t wait_timer;  /* the first waiter's db-wait */
    uv_timer_t retry_timer; /* the reconnect backoff */
    uv_timer_t kick;        /* wakes handlers finished outside a callback */
    unsigned backoff_ms;
    char lasterr[MSGLEN]; /* why the last attempt failed, short, for /health/ready */
    _Atomic unsigned g_in_use, g_idle, g_connecting, g_waiting;
};

struct pgdb {
    struct gly_db *db;
    PGconn *main;
    char *password; /* to scrub from messages; wiped at close */
    char *options;  /* the URL's options plus statement_timeout */
    const char *keys[4], *vals[4];
    unsigned min, max, wait_ms, timeout_ms;
    unsigned nw;
    struct pgw *w;
};

static void conn_lost(struct pgconn *c, const char *msg);
static void dispatch(struct pgw *w);
static void pool_fill(struct pgw *w);

/* ------------------------------------------------------------------------ */
/* Messages                                                                 */
/* ------------------------------------------------------------------------ */

/* Replaces every occurrence of what (n bytes) in s with with. */
static void replace_all(char *s, size_t cap, const char *what, size_t n, const char *with)
{
    size_t wn = strlen(with);
    char *p = s;
    while (n && (p = strstr(p, what))) {
        size_t tail = strlen(p + n);
        if ((size_t)(p - s) + wn + tail + 1 > cap) {
            *p = '\0';
            return;
        }
        memmove(p + wn, p + n, tail + 1);
        memcpy(p, with, wn);
        p += wn;
    }
}

/*
 * Copies the first line of libpq's message msg into out (outlen > 0), with
 * any URL and the password replaced, so that it may be logged.
 */
static void redact(const struct pgdb *pd, const char *msg, char *out, size_t outlen)
{
    size_t n = strcspn(msg ? msg : "", "\n");
    snprintf(out, outlen, "%.*s", (int)n, msg ? msg : "");
    n = strlen(out);
    while (n && isspace((unsigned char)out[n - 1]))
        out[--n] = '\0';
    if (pd && pd->password && pd->password[0])
        replace_all(out, outlen, pd->password, strlen(pd->password), "***");
    char *p;
    while ((p = strstr(out, "://"))) {
        char *b = p, *e = p + 3;
        while (b > out && (isalnum((unsigned char)b[-1]) || b[-1] == '+'))
            b--;
        while (*e && !isspace((unsigned char)*e) && *e != '"' && *e != '\'')
            e++;
        const char *with = "(database-url)";
        size_t wn = strlen(with), tail = strlen(e);
        if ((size_t)(b - out) + wn + tail + 1 > outlen) {
            *b = '\0';
            break;
        }
        memmove(b + wn, e, tail + 1);
        memcpy(b, with, wn);
    }
}

/*
 * A short reason from a redacted connection message, for /health/ready:
 * 'connection to server at "h", port 5432 failed: Connection refused' gives
 * "connection refused".
 */
static void short_reason(const char *msg, char *out, size_t outlen)
{
    const char *p = msg, *f;
    while ((f = strstr(p, "failed: ")))
        p = f + 8;
    if (strncmp(p, "FATAL:", 6) == 0 || strncmp(p, "ERROR:", 6) == 0)
        p += 6;
    while (*p == ' ')
        p++;
    snprintf(out, outlen, "%.*s", (int)outlen - 1, *p ? p : "unavailable");
    if (isupper((unsigned char)out[0]) && islower((unsigned char)out[1]))
        out[0] = (char)tolower((unsigned char)out[0]);
}

/* Notices (NOTICE: ... skipping) go to the debug log, not to stderr. */
static void on_notice(void *arg, const char *msg)
{
    (void)arg;
    gly_log_debug("postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* ------------------------------------------------------------------------ */
/* Parameters and results                                                   */
/* ------------------------------------------------------------------------ */

struct params {
    const char **values;
    int *lengths, *formats;
    Oid *types;
    void *heap;
    const char *sv[PARAMS_STACK];
    int sl[PARAMS_STACK], sf[PARAMS_STACK];
    Oid st[PARAMS_STACK];
    char sbuf[PARAMS_BUF];
};

/*
 * Converts q's parameters for libpq: text for numbers and text (copied, for
 * the NUL), binary bytea for blobs. Numbers and text go without a type, so
 * the server infers each from where it stands, as for a literal: an integer
 * into a boolean, a bigint or a numeric column, text into a date, a uuid or
 * json. Where nothing fixes a type ("$1 + 0"), write a CAST, which both
 * backends read the same. Returns 0 (release with params_free()),
 * GLY_EINVAL (text with a NUL, too many) or GLY_ENOMEM, with q->err.
 */
static int params_make(struct params *pp, struct db_query *q)
{
    unsigned n = q->nargs;
    size_t need = 0;
    pp->heap = NULL;
    if (n > 65535) {
        snprintf(q->err, sizeof q->err, "too many parameters (%u)", n);
        return GLY_EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        const gly_db_val *v = &q->args[i];
        if (v->type == GLY_DB_TEXT) {
            if (v->v.s.n && memchr(v->v.s.p, '\0', v->v.s.n)) {
                snprintf(q->err, sizeof q->err, "parameter $%u: text with a NUL byte", i + 1);
                return GLY_EINVAL;
            }
            need += v->v.s.n + 1;
        } else if (v->type == GLY_DB_INT || v->type == GLY_DB_REAL) {
            need += 32;
        }
    }
    char *buf = pp->sbuf;
    if (n <= PARAMS_STACK && need <= PARAMS_BUF) {
        pp->values = pp->sv;
        pp->lengths = pp->sl;
        pp->formats = pp->sf;
        pp->types = pp->st;
    } else {
        size_t arrays = n * (sizeof(char *) + 2 * sizeof(int) + sizeof(Oid));
        if (!(pp->heap = malloc(arrays + need + 1))) {
            snprintf(q->err, sizeof q->err, "out of memory");
            return GLY_ENOMEM;
        }
        pp->values = pp->heap;
        pp->lengths = (int *)(pp->values + n);
        pp->formats = pp->lengths + n;
        pp->types = (Oid *)(pp->formats + n);
        buf = (char *)(pp->types + n);
    }
    for (unsigned i = 0; i < n; i++) {
        const gly_db_val *v = &q->args[i];
        pp->lengths[i] = 0;
        pp->formats[i] = 0;
        pp->types[i] = 0;
        switch (v->type) {
        case GLY_DB_INT:
            pp->values[i] = buf;
            buf += snprintf(buf, 32, "%" PRId64, v->v.i) + 1;
            break;
        case GLY_DB_REAL:
            pp->values[i] = buf;
            if (isnan(v->v.d))
                buf += snprintf(buf, 32, "NaN") + 1;
            else if (isinf(v->v.d))
                buf += snprintf(buf, 32, "%sInfinity", v->v.d < 0 ? "-" : "") + 1;
            else
                buf += snprintf(buf, 32, "%.17g", v->v.d) + 1;
            break;
        case GLY_DB_TEXT:
            pp->values[i] = buf;
            if (v->v.s.n)
                memcpy(buf, v->v.s.p, v->v.s.n);
            buf[v->v.s.n] = '\0';
            buf += v->v.s.n + 1;
            break;
        case GLY_DB_BLOB:
            if (v->v.s.n > INT32_MAX) {
                free(pp->heap);
                snprintf(q->err, sizeof q->err, "parameter $%u: blob too large", i + 1);
                return GLY_EINVAL;
            }
            pp->values[i] = v->v.s.n ? v->v.s.p : "";
            pp->lengths[i] = (int)v->v.s.n;
            pp->formats[i] = 1;
            pp->types[i] = OID_BYTEA;
            break;
        default:
            pp->values[i] = NULL;
            break;
        }
    }
    return 0;
}

static void params_free(struct params *pp)
{
    free(pp->heap);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes a bytea in text form (\x hex, or the old escape form) into the arena. */
static int bytea_decode(gly_arena *a, const char *p, size_t n, gly_db_val *v)
{
    unsigned char *out;
    size_t len = 0;
    if (n >= 2 && p[0] == '\\' && p[1] == 'x') {
        if (!(out = gly_arena_alloc(a, (n - 2) / 2 + 1)))
            return GLY_ENOMEM;
        for (size_t i = 2; i + 1 < n; i += 2) {
            int hi = hexval(p[i]), lo = hexval(p[i + 1]);
            if (hi < 0 || lo < 0)
                return GLY_EPROTO;
            out[len++] = (unsigned char)(hi << 4 | lo);
        }
    } else {
        size_t un = 0;
        unsigned char *u = PQunescapeBytea((const unsigned char *)p, &un);
        if (!u)
            return GLY_ENOMEM;
        out = gly_arena_alloc(a, un + 1);
        if (out)
            memcpy(out, u, un);
        PQfreemem(u);
        if (!out)
            return GLY_ENOMEM;
        len = un;
    }
    out[len] = '\0';
    v->type = GLY_DB_BLOB;
    v->v.s.p = (const char *)out;
    v->v.s.n = len;
    return 0;
}

/* Converts a result into a gly_res in the arena: values by column type. */
static int convert(PGresult *r, gly_arena *a, gly_res **out)
{
    int nf = PQnfields(r), nt = PQntuples(r);
    gly_res *res = gly__res_new(a, (unsigned)nf);
    if (!res)
        return GLY_ENOMEM;
    for (int i = 0; i < nf; i++)
        if (gly__res_name(res, a, (unsigned)i, PQfname(r, i)) < 0)
            return GLY_ENOMEM;
    for (int t = 0; t < nt; t++) {
        gly_db_val *v = gly__res_push(res, a);
        if (!v)
            return GLY_ENOMEM;
        for (int i = 0; i < nf; i++) {
            if (PQgetisnull(r, t, i))
                continue; /* gly__res_push() made it NULL */
            const char *p = PQgetvalue(r, t, i);
            size_t n = (size_t)PQgetlength(r, t, i);
            switch (PQftype(r, i)) {
            case OID_INT2:
            case OID_INT4:
            case OID_INT8:
            case OID_OID:
                v[i].type = GLY_DB_INT;
                v[i].v.i = strtoll(p, NULL, 10);
                break;
            case OID_FLOAT4:
            case OID_FLOAT8:
            case OID_NUMERIC:
                v[i].type = GLY_DB_REAL;
                v[i].v.d = strtod(p, NULL);
                break;
            case OID_BOOL:
                v[i].type = GLY_DB_INT;
                v[i].v.i = p[0] == 't';
                break;
            case OID_BYTEA: {
                int rc = bytea_decode(a, p, n, &v[i]);
                if (rc < 0)
                    return rc;
                break;
            }
            default: {
                char *s = gly__arena_strndup(a, p, n);
                if (!s)
                    return GLY_ENOMEM;
                v[i].type = GLY_DB_TEXT;
                v[i].v.s.p = s;
                v[i].v.s.n = n;
                break;
            }
            }
        }
    }
    const char *tuples = PQcmdTuples(r);
    res->changes = tuples[0] ? strtoll(tuples, NULL, 10) : 0;
    *out = res;
    return 0;
}

/* "Key (email)=(a@b.c) already exists." gives "email". */
static void key_column(const char *detail, char *out, size_t outlen)
{
    const char *b, *e;
    if (!detail || !(b = strstr(detail, "Key (")) || !(e = strstr(b + 5, ")=(")))
        return;
    b += 5;
    snprintf(out, outlen, "%.*s", (int)(e - b), b);
}

/* Maps a server error to a code, with its message in q->err and the column in q->errfield. */
static int map_error(const PGresult *r, struct db_query *q)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!msg)
        msg = PQresultErrorMessage(r);
    snprintf(q->err, sizeof q->err, "%.*s", (int)strcspn(msg, "\n"), msg);
    q->errfield[0] = '\0';
    if (!state)
        return GLY_EDB;
    const char *col = PQresultErrorField(r, PG_DIAG_COLUMN_NAME);
    if (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0) {
        key_column(PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL), q->errfield, sizeof q->errfield);
        return state[4] == '5' ? GLY_EUNIQUE : GLY_EFOREIGN;
    }
    if (strcmp(state, "23502") == 0) {
        snprintf(q->errfield, sizeof q->errfield, "%s", col ? col : "");
        return GLY_ENOTNULL;
    }
    if (strcmp(state, "23514") == 0) {
        /* a column's check is named <table>_<column>_check unless named otherwise */
        const char *cons = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        const char *table = PQresultErrorField(r, PG_DIAG_TABLE_NAME);
        if (col) {
            snprintf(q->errfield, sizeof q->errfield, "%s", col);
        } else if (cons && table) {
            size_t tn = strlen(table), cn = strlen(cons);
            if (cn > tn + 7 && strncmp(cons, table, tn) == 0 && cons[tn] == '_' &&
                strcmp(cons + cn - 6, "_check") == 0)
                snprintf(q->errfield, sizeof q->errfield, "%.*s", (int)(cn - tn - 7),
                         cons + tn + 1);
        }
        return GLY_ECHECK;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return GLY_ESERIAL;
    if (strcmp(state, "57014") == 0)
        return GLY_ETIMEDOUT;
    if (strcmp(state, "08P01") == 0 || strncmp(state, "42", 2) == 0)
        return GLY_EINVAL; /* a parameter count the statement does not take; bad SQL */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0)
        return GLY_ECONNLOST;
    return GLY_EDB;
}

/*
 * The handler's end of an operation: maps what the driver collected to a
 * code and converts the rows into q->arena (when there is one). Frees the
 * libpq results.
 */
static int op_finish(struct op *op)
{
    struct db_query *q = op->q;
    int rc = op->rc;
    if (rc == 0 && op->err) {
        rc = map_error(op->err, q);
    } else if (rc == 0 && !op->res) {
        snprintf(q->err, sizeof q->err, "the statement was not run");
        rc = GLY_EDB;
    } else if (rc == 0 && op->kind == OP_COMMIT && strcmp(PQcmdStatus(op->res), "ROLLBACK") == 0) {
        /* COMMIT of a transaction an error aborted answers ROLLBACK */
        snprintf(q->err, sizeof q->err, "the transaction had failed and was rolled back");
        rc = GLY_EDB;
    } else if (rc == 0 && q->arena) {
        if ((rc = convert(op->res, q->arena, &q->res)) < 0)
            snprintf(q->err, sizeof q->err, "%s", gly_strerror(rc));
    }
    PQclear(op->res);
    PQclear(op->err);
    op->res = op->err = NULL;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Waking handlers                                                          */
/* ------------------------------------------------------------------------ */

static void on_kick(uv_timer_t *t);

/* Queues a finished operation for drain(); the kick timer runs it if no callback does. */
static void done_push(struct pgw *w, struct op *op)
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

/* The pool's gauges, for /metrics on any thread. */
static void gauges(struct pgw *w)
{
    unsigned in_use = 0, idle = 0;
    for (struct pgconn *c = w->conns; c; c = c->next) {
        if (c->state != C_READY)
            continue;
        if (c->depth || c->tx)
            in_use++;
        else
            idle++;
    }
    atomic_store_explicit(&w->g_in_use, in_use, memory_order_relaxed);
    atomic_store_explicit(&w->g_idle, idle, memory_order_relaxed);
    atomic_store_explicit(&w->g_connecting, w->nconnecting, memory_order_relaxed);
    atomic_store_explicit(&w->g_waiting, w->nwait, memory_order_relaxed);
}

/*
 * Wakes the handlers of the finished operations, in order. Runs only at the
 * end of a callback: a handler runs at once when woken, and may queue more.
 */
static void drain(struct pgw *w)
{
    gauges(w);
    if (w->draining)
        return;
    w->draining = true;
    struct op *op;
    while ((op = w->done_head)) {
        w->done_head = op->next;
        if (!w->done_head)
            w->done_tail = NULL;
        gly_req_wake(op->q->req, 0);
    }
    w->draining = false;
    if (!w->stopping)
        uv_timer_stop(&w->kick);
}

static void on_kick(uv_timer_t *t)
{
    drain(t->data);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_release(struct pgconn *c)
{
    if (--c->handles == 0 && c->state == C_DEAD)
        free(c);
}

static void on_poll_close(uv_handle_t *h)
{
    struct pollh *ph = h->data;
    conn_release(ph->c);
    free(ph);
}

static void on_timer_close(uv_handle_t *h)
{
    conn_release(h->data);
}

/* Watches events (UV_READABLE, UV_WRITABLE) on the connection's socket. */
static int conn_watch(struct pgconn *c, int events);

/*
 * Drops a connection: its operations in flight end with rc and msg, its
 * transaction loses it, its handles close (the memory goes with the last
 * close callback). Idempotent.
 */
static void conn_discard(struct pgconn *c, int rc, const char *msg)
{
    struct pgw *w = c->w;
    if (c->state == C_DEAD)
        return;
    if (c->state == C_CONNECTING)
        w->nconnecting--;
    c->state = C_DEAD;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    struct op *op;
    while ((op = c->head)) {
        c->head = op->next;
        op->rc = rc;
        snprintf(op->q->err, sizeof op->q->err, "%s", msg);
        done_push(w, op);
    }
    c->tail = NULL;
    c->depth = 0;
    if (c->tx) {
        c->tx->conn = NULL;
        c->tx = NULL;
    }
    /* the poll handle goes before PQfinish() closes its socket */
    if (c->poll) {
        uv_close((uv_handle_t *)&c->poll->h, on_poll_close);
        c->poll = NULL;
    }
    uv_close((uv_handle_t *)&c->timer, on_timer_close);
    PQfinish(c->pg);
    c->pg = NULL;
    for (unsigned i = 0; i < c->nstmts; i++)
        free(c->stmts[i].sql);
    c->nstmts = 0;
}

static void on_retry(uv_timer_t *t)
{
    struct pgw *w = t->data;
    pool_fill(w);
    dispatch(w);
    drain(w);
}

/* A connection attempt failed: remember why and wait before the next one. */
static void connect_failed(struct pgw *w, const char *libpq_msg)
{
    char msg[DB_ERRLEN];
    redact(w->pd, libpq_msg, msg, sizeof msg);
    if (!w->down)
        gly_log_warn("worker %u: cannot connect to PostgreSQL: %s", w->id, msg);
    else
        gly_log_debug("worker %u: cannot connect to PostgreSQL: %s", w->id, msg);
    w->down = true;
    short_reason(msg, w->lasterr, sizeof w->lasterr);
    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (w->backoff_ms > BACKOFF_MAX_MS)
        w->backoff_ms = BACKOFF_MAX_MS;
    if (!w->stopping)
        uv_timer_start(&w->retry_timer, on_retry, w->backoff_ms, 0);
}

static void conn_connect_failed(struct pgconn *c, const char *libpq_msg)
{
    struct pgw *w = c->w;
    connect_failed(w, libpq_msg);
    conn_discard(c, GLY_ECONNLOST, "could not connect");
}

/* An established connection broke: its operations fail, the pool connects again. */
static void conn_lost(struct pgconn *c, const char *libpq_msg)
{
    struct pgw *w = c->w;
    char msg[DB_ERRLEN];
    if (c->state == C_DEAD)
        return;
    redact(w->pd, libpq_msg, msg, sizeof msg);
    if (!msg[0])
        snprintf(msg, sizeof msg, "connection lost");
    gly_log_warn("worker %u: PostgreSQL connection lost: %s", w->id, msg);
    char err[DB_ERRLEN];
    snprintf(err, sizeof err, "database connection lost: %.200s", msg);
    conn_discard(c, GLY_ECONNLOST, err);
    pool_fill(w);
}

static void conn_arm(struct pgconn *c);

/* Sends what libpq holds; watches writability while some is left. */
static void conn_flush(struct pgconn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_lost(c, PQerrorMessage(c->pg));
        return;
    }
    if (conn_watch(c, r ? UV_READABLE | UV_WRITABLE : UV_READABLE) < 0)
        conn_lost(c, "cannot poll the socket");
}

static int stmt_find(struct pgconn *c, const char *sql, size_t len, uint64_t hash)
{
    for (unsigned i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == hash && c->stmts[i].len == len &&
            memcmp(c->stmts[i].sql, sql, len) == 0)
            return (int)i;
    return -1;
}

/*
 * Sends op on c: Parse (when c has not prepared its SQL yet), Bind/Execute
 * and Sync. Returns 0 with op in flight, or a negative code with op->q->err
 * (op is not in flight; when c broke, c is discarded).
 */
static int conn_send(struct pgconn *c, struct op *op)
{
    struct db_query *q = op->q;
    struct params pp;
    uint64_t hash = q->hash;
    int rc = params_make(&pp, q);
    if (rc < 0)
        return rc;
    int si = stmt_find(c, q->sql, q->sqllen, hash);
    if (si < 0 && c->nstmts < STMT_MAX) {
        char *copy = malloc(q->sqllen + 1);
        if (copy) {
            memcpy(copy, q->sql, q->sqllen + 1);
            si = (int)c->nstmts++;
            c->stmts[si] = (struct stmt){hash, copy, q->sqllen, 0, false};
        }
    }
    op->stmt = si;
    op->prepare = op->prepare_seen = false;
    int ok = 1;
    if (si >= 0) {
        struct stmt *s = &c->stmts[si];
        char name[16];
        if (!s->ready) {
            s->id = ++c->next_id;
            snprintf(name, sizeof name, "s%u", s->id);
            ok = PQsendPrepare(c->pg, name, q->sql, (int)q->nargs, pp.types);
            op->prepare = true;
            s->ready = true;
        }
        snprintf(name, sizeof name, "s%u", s->id);
        ok = ok &&
             PQsendQueryPrepared(c->pg, name, (int)q->nargs, pp.values, pp.lengths, pp.formats, 0);
    } else {
        ok = PQsendQueryParams(c->pg, q->sql, (int)q->nargs, pp.types, pp.values, pp.lengths,
                               pp.formats, 0);
    }
    ok = ok && PQpipelineSync(c->pg);
    params_free(&pp);
    if (!ok) {
        char msg[DB_ERRLEN];
        redact(c->w->pd, PQerrorMessage(c->pg), msg, sizeof msg);
        snprintf(q->err, sizeof q->err, "database connection lost: %.200s", msg);
        conn_lost(c, msg);
        return GLY_ECONNLOST;
    }
    op->next = NULL;
    if (c->tail) {
        c->tail->next = op;
    } else {
        c->head = op;
        op->t_start = uv_now(c->w->loop);
        conn_arm(c);
    }
    c->tail = op;
    c->depth++;
    conn_flush(c);
    return 0;
}

static void on_conn_timer(uv_timer_t *t);

/* Arms the backstop of the first operation in flight (statement_timeout should come first). */
static void conn_arm(struct pgconn *c)
{
    unsigned limit = c->w->pd->timeout_ms;
    if (!c->head || !limit) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t due = c->head->t_start + limit + BACKSTOP_MS, now = uv_now(c->w->loop);
    uv_timer_start(&c->timer, on_conn_timer, due > now ? due - now : 0, 0);
}

/* The first operation in flight has its Sync: it is done, or sent again. */
static void op_done(struct pgconn *c)
{
    struct pgw *w = c->w;
    struct op *op = c->head;
    c->head = op->next;
    if (!c->head)
        c->tail = NULL;
    c->depth--;
    const char *state = op->err ? PQresultErrorField(op->err, PG_DIAG_SQLSTATE) : NULL;
    bool again = false;
    if (state && (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0)) {
        /* the table changed under a prepared SELECT *, or the Parse an earlier operation
         * sent for this SQL failed: prepare again (and get the real error) */
        if (op->stmt >= 0)
            c->stmts[op->stmt].ready = false;
        again = true;
    }
    /* a failed statement aborts a transaction: that one fails, the next one knows */
    if (again && op->kind == OP_QUERY && !op->q->tx && !op->retried) {
        PQclear(op->err);
        PQclear(op->res);
        op->err = op->res = NULL;
        op->retried = true;
        int rc = conn_send(c, op);
        if (rc < 0) {
            op->rc = rc;
            done_push(w, op);
        }
    } else {
        done_push(w, op);
    }
    if (c->state == C_READY && c->head) {
        c->head->t_start = uv_now(w->loop);
        conn_arm(c);
    } else if (c->state == C_READY) {
        uv_timer_stop(&c->timer);
    }
}

/* Files one result of the first operation in flight. */
static void op_result(struct pgconn *c, PGresult *r)
{
    struct op *op = c->head;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
        PQclear(r);
        op_done(c);
        return;
    }
    if (op->prepare && !op->prepare_seen) {
        op->prepare_seen = true;
        if (st == PGRES_COMMAND_OK) {
            PQclear(r);
            return;
        }
        if (op->stmt >= 0)
            c->stmts[op->stmt].ready = false;
    }
    switch (st) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        if (!op->res && !op->err)
            op->res = r;
        else
            PQclear(r);
        break;
    case PGRES_PIPELINE_ABORTED:
        PQclear(r);
        break;
    case PGRES_COPY_IN:
    case PGRES_COPY_OUT:
    case PGRES_COPY_BOTH:
        PQclear(r);
        conn_lost(c, "COPY is not supported on the pool");
        break;
    default:
        if (!op->err)
            op->err = r;
        else
            PQclear(r);
        break;
    }
}

/* Takes every complete result libpq has read. */
static void conn_collect(struct pgconn *c)
{
    int nulls = 0;
    while (c->state == C_READY && c->head && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            /* one NULL ends each statement's results; two: nothing more is there */
            if (++nulls > 1)
                break;
            continue;
        }
        nulls = 0;
        op_result(c, r);
    }
}

/* The connection is up: pipeline mode, then work. */
static void conn_ready(struct pgconn *c)
{
    struct pgw *w = c->w;
    if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
        conn_connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
    c->state = C_READY;
    w->nconnecting--;
    uv_timer_stop(&c->timer);
    if (w->down)
        gly_log_info("worker %u: connected to PostgreSQL again", w->id);
    w->down = false;
    w->backoff_ms = 0;
    w->lasterr[0] = '\0';
    if (conn_watch(c, UV_READABLE) < 0) {
        conn_lost(c, "cannot poll the socket");
        return;
    }
    pool_fill(w);
    dispatch(w);
}

/* Follows PQconnectPoll's answer: the socket may change between attempts (host lists, TLS). */
static void conn_connecting(struct pgconn *c, PostgresPollingStatusType ps)
{
    switch (ps) {
    case PGRES_POLLING_OK:
        conn_ready(c);
        return;
    case PGRES_POLLING_READING:
    case PGRES_POLLING_WRITING:
        if (conn_watch(c, ps == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE) < 0)
            conn_connect_failed(c, "cannot poll the socket");
        return;
    default:
        conn_connect_failed(c, PQerrorMessage(c->pg));
        return;
    }
}

/* Reads, files results, flushes. */
static void conn_io(struct pgconn *c, int events)
{
    if (events & UV_READABLE) {
        if (!PQconsumeInput(c->pg)) {
            conn_lost(c, PQerrorMessage(c->pg));
            return;
        }
        conn_collect(c);
        if (c->state != C_READY)
            return;
        PGnotify *n;
        while ((n = PQnotifies(c->pg)))
            PQfreemem(n);
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            conn_lost(c, PQerrorMessage(c->pg));
            return;
        }
    }
    conn_flush(c);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pollh *ph = h->data;
    struct pgconn *c = ph->c;
    struct pgw *w = c->w;
    if (c->poll != ph || c->state == C_DEAD)
        return;
    if (status < 0) {
        /* POLLERR (libuv says EBADF and stops the handle): libpq reads the real reason */
        c->events = 0;
        events = UV_READABLE | UV_WRITABLE;
    }
    if (c->state == C_CONNECTING) {
        conn_connecting(c, PQconnectPoll(c->pg));
    } else {
        conn_io(c, events);
    }
    dispatch(w);
    drain(w);
}

static void on_conn_timer(uv_timer_t *t)
{
    struct pgconn *c = t->data;
    struct pgw *w = c->w;
    if (c->state == C_CONNECTING) {
        conn_connect_failed(c, "timeout while connecting");
    } else if (c->state == C_READY && c->head) {
        gly_log_warn("worker %u: PostgreSQL did not answer within db-timeout; dropping the "
                     "connection",
                     w->id);
        char err[DB_ERRLEN];
        snprintf(err, sizeof err, "no answer within %u ms", w->pd->timeout_ms);
        conn_discard(c, GLY_ETIMEDOUT, err);
        pool_fill(w);
    }
    dispatch(w);
    drain(w);
}

static int conn_watch(struct pgconn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return GLY_EPROTO;
    if (c->poll && c->fd != fd) {
        uv_close((uv_handle_t *)&c->poll->h, on_poll_close);
        c->poll = NULL;
    }
    if (!c->poll) {
        struct pollh *ph = malloc(sizeof *ph);
        if (!ph)
            return GLY_ENOMEM;
        if (uv_poll_init(c->w->loop, &ph->h, fd) < 0) {
            free(ph);
            return GLY_EIO;
        }
        ph->h.data = ph;
        ph->c = c;
        c->handles++;
        c->poll = ph;
        c->fd = fd;
        c->events = 0;
    }
    if (events != c->events) {
        if (uv_poll_start(&c->poll->h, events, on_poll) < 0)
            return GLY_EIO;
        c->events = events;
    }
    return 0;
}

/* Starts one connection attempt (non-blocking). */
static void conn_start(struct pgw *w)
{
    struct pgdb *pd = w->pd;
    struct pgconn *c = calloc(1, sizeof *c);
    if (!c) {
        connect_failed(w, "out of memory");
        return;
    }
    c->w = w;
    c->fd = -1;
    c->pg = PQconnectStartParams(pd->keys, pd->vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(w, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        PQfinish(c->pg);
        free(c);
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, NULL);
    uv_timer_init(w->loop, &c->timer);
    c->timer.data = c;
    c->handles = 1;
    c->state = C_CONNECTING;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    w->nconnecting++;
    uv_timer_start(&c->timer, on_conn_timer, pd->timeout_ms ? pd->timeout_ms : CONNECT_MS, 0);
    /* libpq: behave as if PQconnectPoll had answered WRITING */
    conn_connecting(c, PGRES_POLLING_WRITING);
}

/* ------------------------------------------------------------------------ */
/* The pool                                                                 */
/* ------------------------------------------------------------------------ */

/* Keeps db-pool-min connections open or on their way (not during a backoff). */
static void pool_fill(struct pgw *w)
{
    while (w->started && !w->stopping && w->nconns < w->pd->min &&
           !uv_is_active((uv_handle_t *)&w->retry_timer)) {
        unsigned before = w->nconns;
        conn_start(w);
        if (w->nconns == before)
            break;
    }
}

/*
 * Starts one more connection when the pool may grow and the waiters
 * outnumber those on their way. True when one is on its way.
 */
static bool pool_grow(struct pgw *w)
{
    if (w->started && !w->stopping && w->nconns < w->pd->max && w->nconnecting <= w->nwait &&
        !uv_is_active((uv_handle_t *)&w->retry_timer))
        conn_start(w);
    return w->nconnecting > 0;
}

/*
 * The connection for a new operation: an idle one; else none while another
 * is on its way (so that slow statements do not hold fast ones up); else the
 * least busy when the pool is at its max (pipelining). NULL: wait.
 */
static struct pgconn *pick(struct pgw *w)
{
    struct pgconn *best = NULL;
    for (struct pgconn *c = w->conns; c; c = c->next)
        if (c->state == C_READY && !c->tx && c->depth < PIPE_MAX &&
            (!best || c->depth < best->depth))
            best = c;
    if (best && best->depth == 0)
        return best;
    if (pool_grow(w))
        return NULL;
    return best;
}

/* Sends op on c, pinning c first for a BEGIN. */
static int op_start(struct pgconn *c, struct op *op)
{
    if (op->kind == OP_BEGIN) {
        c->tx = op->tx;
        op->tx->conn = c;
    }
    return conn_send(c, op);
}

static void on_wait_timer(uv_timer_t *t);

static void wait_arm(struct pgw *w)
{
    atomic_store_explicit(&w->g_waiting, w->nwait, memory_order_relaxed);
    if (!w->wait_head) {
        uv_timer_stop(&w->wait_timer);
        return;
    }
    uint64_t due = w->wait_head->t_wait + w->pd->wait_ms, now = uv_now(w->loop);
    uv_timer_start(&w->wait_timer, on_wait_timer, due > now ? due - now : 0, 0);
}

static struct op *wait_pop(struct pgw *w)
{
    struct op *op = w->wait_head;
    w->wait_head = op->next;
    if (!w->wait_head)
        w->wait_tail = NULL;
    w->nwait--;
    return op;
}

/* Gives waiting operations, in order, the connections that can take them. */
static void dispatch(struct pgw *w)
{
    bool popped = false;
    while (w->wait_head && !w->stopping) {
        struct pgconn *c = pick(w);
        if (!c)
            break;
        struct op *op = wait_pop(w);
        popped = true;
        int rc = op_start(c, op);
        if (rc < 0) {
            op->rc = rc;
            done_push(w, op);
        }
    }
    if (popped)
        wait_arm(w);
}

static void on_wait_timer(uv_timer_t *t)
{
    struct pgw *w = t->data;
    uint64_t now = uv_now(w->loop);
    while (w->wait_head && w->wait_head->t_wait + w->pd->wait_ms <= now) {
        struct op *op = wait_pop(w);
        op->rc = GLY_EUNAVAIL;
        if (w->down)
            snprintf(op->q->err, sizeof op->q->err, "no database connection within %u ms (%s)",
                     w->pd->wait_ms, w->lasterr);
        else
            snprintf(op->q->err, sizeof op->q->err, "no database connection within %u ms",
                     w->pd->wait_ms);
        done_push(w, op);
    }
    wait_arm(w);
    drain(w);
}

/*
 * Runs op for its handler: on its transaction's connection, on a connection
 * of the pool, or after a wait in line. Suspends the handler until it is
 * done; returns 0 or a code with op->q->err.
 */
static int op_run(struct pgw *w, struct op *op, struct pgtx *tx)
{
    struct db_query *q = op->q;
    int rc;
    op->stmt = -1;
    if (!w->started || w->stopping) {
        snprintf(q->err, sizeof q->err, "the database pool is not running");
        return GLY_EUNAVAIL;
    }
    if (tx) {
        if (!tx->conn) {
            snprintf(q->err, sizeof q->err, "the transaction's connection was lost");
            return GLY_ECONNLOST;
        }
        rc = conn_send(tx->conn, op);
    } else {
        struct pgconn *c = w->wait_head ? NULL : pick(w);
        if (c) {
            rc = op_start(c, op);
        } else {
            op->t_wait = uv_now(w->loop);
            op->next = NULL;
            if (w->wait_tail)
                w->wait_tail->next = op;
            else
                w->wait_head = op;
            w->wait_tail = op;
            w->nwait++;
            if (w->wait_head == op)
                wait_arm(w);
            pool_grow(w);
            rc = 0;
        }
    }
    gauges(w);
    if (rc < 0)
        return rc;
    gly_req_suspend(q->req);
    return op_finish(op);
}

static struct pgw *worker_of(struct gly_db *db, gly_req *req)
{
    struct pgdb *pd = db->impl;
    unsigned i = gly_req_worker(req);
    return i < pd->nw ? &pd->w[i] : NULL;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

static int pg_query(struct gly_db *db, struct db_query *q)
{
    struct pgw *w = worker_of(db, q->req);
    if (!w)
        return GLY_ESTATE;
    struct op op = {.q = q, .kind = OP_QUERY};
    return op_run(w, &op, q->tx);
}

static int pg_tx_begin(struct gly_db *db, gly_req *req, void **tx, char *err, size_t errlen)
{
    struct pgw *w = worker_of(db, req);
    if (!w)
        return GLY_ESTATE;
    struct pgtx *t = calloc(1, sizeof *t);
    if (!t)
        return GLY_ENOMEM;
    struct db_query q = {.req = req, .sql = "BEGIN", .sqllen = 5};
    q.hash = gly__db_hash(q.sql, q.sqllen);
    struct op op = {.q = &q, .kind = OP_BEGIN, .tx = t};
    int rc = op_run(w, &op, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "%s", q.err);
        if (t->conn) {
            t->conn->tx = NULL;
            dispatch(w);
            gauges(w);
        }
        free(t);
        return rc;
    }
    *tx = t;
    return 0;
}

static int pg_tx_end(struct gly_db *db, gly_req *req, void *tx, bool commit, char *err,
                     size_t errlen)
{
    struct pgw *w = worker_of(db, req);
    struct pgtx *t = tx;
    struct pgconn *c = t->conn;
    int rc = 0;
    if (!w || !c) {
        if (commit) {
            snprintf(err, errlen, "the transaction's connection was lost");
            rc = GLY_ECONNLOST;
        }
        goto done;
    }
    struct db_query q = {.req = req, .sql = commit ? "COMMIT" : "ROLLBACK"};
    q.sqllen = strlen(q.sql);
    q.hash = gly__db_hash(q.sql, q.sqllen);
    struct op op = {.q = &q, .kind = commit ? OP_COMMIT : OP_ROLLBACK, .stmt = -1};
    rc = conn_send(c, &op);
    /* once COMMIT/ROLLBACK is sent, what follows on c runs after it: unpin */
    if (t->conn) {
        c->tx = NULL;
        t->conn = NULL;
    }
    dispatch(w);
    gauges(w);
    if (rc == 0) {
        gly_req_suspend(req);
        rc = op_finish(&op);
    }
    if (rc < 0)
        snprintf(err, errlen, "%s", q.err);
done:
    free(t);
    return rc;
}

static int pg_ping(struct gly_db *db, gly_req *req, char *msg, size_t msglen)
{
    struct pgw *w = worker_of(db, req);
    if (!w)
        return GLY_ESTATE;
    bool ready = false;
    for (struct pgconn *c = w->conns; c && !ready; c = c->next)
        ready = c->state == C_READY;
    if (!ready && w->down) {
        /* no need to wait out db-wait to know */
        snprintf(msg, msglen, "%s", w->lasterr[0] ? w->lasterr : "unavailable");
        return GLY_EUNAVAIL;
    }
    struct db_query q = {.req = req, .sql = "SELECT 1", .sqllen = 8};
    q.hash = gly__db_hash(q.sql, q.sqllen);
    struct op op = {.q = &q, .kind = OP_QUERY};
    int rc = op_run(w, &op, NULL);
    if (rc < 0) {
        if (rc == GLY_EUNAVAIL && w->down && w->lasterr[0])
            snprintf(msg, msglen, "%s", w->lasterr);
        else if (rc == GLY_EUNAVAIL || rc == GLY_ECONNLOST || rc == GLY_ETIMEDOUT)
            snprintf(msg, msglen, "%s", gly_strerror(rc));
        else
            snprintf(msg, msglen, "%s", q.err[0] ? q.err : gly_strerror(rc));
    }
    return rc;
}

static int pg_worker_start(struct gly_db *db, unsigned wi, uv_loop_t *loop)
{
    struct pgdb *pd = db->impl;
    if (wi >= pd->nw)
        return GLY_EINVAL;
    struct pgw *w = &pd->w[wi];
    w->loop = loop;
    w->stopping = w->draining = w->down = false;
    w->backoff_ms = 0;
    uv_timer_init(loop, &w->wait_timer);
    uv_timer_init(loop, &w->retry_timer);
    uv_timer_init(loop, &w->kick);
    w->wait_timer.data = w->retry_timer.data = w->kick.data = w;
    w->started = true;
    pool_fill(w);
    gauges(w);
    return 0;
}

static void pg_worker_stop(struct gly_db *db, unsigned wi)
{
    struct pgdb *pd = db->impl;
    if (wi >= pd->nw || !pd->w[wi].started)
        return;
    struct pgw *w = &pd->w[wi];
    /* every handler is done by now: no operation waits or is in flight */
    assert(!w->wait_head && !w->done_head);
    w->stopping = true;
    while (w->conns)
        conn_discard(w->conns, GLY_ECANCELED, "the server is stopping");
    uv_close((uv_handle_t *)&w->wait_timer, NULL);
    uv_close((uv_handle_t *)&w->retry_timer, NULL);
    uv_close((uv_handle_t *)&w->kick, NULL);
    w->started = false;
    gauges(w);
}

static void pg_metrics(struct gly_db *db, gly_buf *out)
{
    struct pgdb *pd = db->impl;
    uint64_t in_use = 0, idle = 0, connecting = 0, waiting = 0;
    for (unsigned i = 0; i < pd->nw; i++) {
        in_use += atomic_load_explicit(&pd->w[i].g_in_use, memory_order_relaxed);
        idle += atomic_load_explicit(&pd->w[i].g_idle, memory_order_relaxed);
        connecting += atomic_load_explicit(&pd->w[i].g_connecting, memory_order_relaxed);
        waiting += atomic_load_explicit(&pd->w[i].g_waiting, memory_order_relaxed);
    }
    gly_buf_printf(out,
                   "# HELP galley_db_pool_connections PostgreSQL connections of the worker "
                   "pools, by state.\n"
                   "# TYPE galley_db_pool_connections gauge\n"
                   "galley_db_pool_connections{state=\"in_use\"} %" PRIu64 "\n"
                   "galley_db_pool_connections{state=\"idle\"} %" PRIu64 "\n"
                   "galley_db_pool_connections{state=\"connecting\"} %" PRIu64 "\n"
                   "# HELP galley_db_pool_waiting Requests waiting for a PostgreSQL "
                   "connection.\n"
                   "# TYPE galley_db_pool_waiting gauge\n"
                   "galley_db_pool_waiting %" PRIu64 "\n",
                   in_use, idle, connecting, waiting);
}

/* ------------------------------------------------------------------------ */
/* The main connection: open, scripts, synchronous queries                  */
/* ------------------------------------------------------------------------ */

/* The main connection, connected again if the server went away meanwhile. */
static int main_conn(struct pgdb *pd, char *err, size_t errlen)
{
    if (PQstatus(pd->main) != CONNECTION_OK)
        PQreset(pd->main);
    if (PQstatus(pd->main) != CONNECTION_OK) {
        char msg[DB_ERRLEN];
        redact(pd, PQerrorMessage(pd->main), msg, sizeof msg);
        snprintf(err, errlen, "cannot connect to PostgreSQL: %.200s", msg);
        return GLY_EUNAVAIL;
    }
    return 0;
}

/* Maps the result of a synchronous call; NULL means the connection failed. */
static int sync_result(struct pgdb *pd, PGresult *r, struct db_query *q)
{
    int rc = 0;
    if (!r) {
        char msg[DB_ERRLEN];
        redact(pd, PQerrorMessage(pd->main), msg, sizeof msg);
        snprintf(q->err, sizeof q->err, "%s", msg);
        return PQstatus(pd->main) == CONNECTION_BAD ? GLY_ECONNLOST : GLY_ENOMEM;
    }
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        if (q->arena && (rc = convert(r, q->arena, &q->res)) < 0)
            snprintf(q->err, sizeof q->err, "%s", gly_strerror(rc));
        break;
    default:
        rc = map_error(r, q);
        if (PQstatus(pd->main) == CONNECTION_BAD)
            rc = GLY_ECONNLOST;
        break;
    }
    PQclear(r);
    return rc;
}

static int pg_query_sync(struct gly_db *db, struct db_query *q)
{
    struct pgdb *pd = db->impl;
    struct params pp;
    int rc = main_conn(pd, q->err, sizeof q->err);
    if (rc == 0 && (rc = params_make(&pp, q)) == 0) {
        PGresult *r = PQexecParams(pd->main, q->sql, (int)q->nargs, pp.types, pp.values, pp.lengths,
                                   pp.formats, 0);
        params_free(&pp);
        rc = sync_result(pd, r, q);
    }
    return rc;
}

static int pg_script(struct gly_db *db, const char *sql)
{
    struct pgdb *pd = db->impl;
    struct db_query q = {.sql = sql};
    int rc = main_conn(pd, q.err, sizeof q.err);
    if (rc == 0)
        rc = sync_result(pd, PQexec(pd->main, sql), &q);
    if (rc < 0)
        gly__db_seterr(db, "%s", q.err[0] ? q.err : gly_strerror(rc));
    return rc;
}

static void pg_close(struct gly_db *db)
{
    struct pgdb *pd = db->impl;
    if (!pd)
        return;
    PQfinish(pd->main);
    free(pd->w);
    if (pd->password) {
        explicit_bzero(pd->password, strlen(pd->password));
        free(pd->password);
    }
    free(pd->options);
    free(pd);
    db->impl = NULL;
}

static int pg_open(struct gly_db *db)
{
    const gly_config *cfg = db->cfg;
    const char *url = cfg->database_url;
    char *perr = NULL;
    int rc = GLY_ENOMEM;
    struct pgdb *pd = calloc(1, sizeof *pd);
    if (!pd) {
        gly__db_seterr(db, "out of memory");
        return GLY_ENOMEM;
    }
    db->impl = pd;
    pd->db = db;
    pd->max = cfg->db_pool_max ? cfg->db_pool_max : 1;
    pd->min = cfg->db_pool_min < pd->max ? cfg->db_pool_min : pd->max;
    pd->wait_ms = cfg->db_wait_ms;
    pd->timeout_ms = cfg->db_timeout_ms;

    /* the URL's own options stay; statement_timeout is added for the pool's connections */
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        char msg[DB_ERRLEN];
        redact(NULL, perr ? perr : "out of memory", msg, sizeof msg);
        gly__db_seterr(db, "invalid database URL: %s", msg);
        rc = perr ? GLY_EINVAL : GLY_ENOMEM;
        goto done;
    }
    const char *uopts = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "options") == 0 && o->val)
            uopts = o->val;
        else if (strcmp(o->keyword, "password") == 0 && o->val && !pd->password)
            pd->password = strdup(o->val);
    }
    size_t olen = strlen(uopts) + 48;
    pd->options = malloc(olen);
    if (pd->options)
        snprintf(pd->options, olen, "%s%s-c statement_timeout=%u", uopts, uopts[0] ? " " : "",
                 pd->timeout_ms);
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (o->val)
            explicit_bzero(o->val, strlen(o->val));
    PQconninfoFree(opts);
    if (!pd->options)
        goto fail_nomem;

    pd->keys[0] = "dbname";
    pd->vals[0] = url;
    pd->keys[1] = "fallback_application_name";
    pd->vals[1] = "galley";
    pd->keys[2] = "options";
    pd->vals[2] = pd->options;
    /* the main connection (migrations may run long): without statement_timeout */
    const char *mkeys[] = {pd->keys[0], pd->keys[1], NULL};
    const char *mvals[] = {pd->vals[0], pd->vals[1], NULL};
    pd->main = PQconnectdbParams(mkeys, mvals, 1);
    if (!pd->main)
        goto fail_nomem;
    if (PQstatus(pd->main) != CONNECTION_OK) {
        char msg[DB_ERRLEN];
        redact(pd, PQerrorMessage(pd->main), msg, sizeof msg);
        gly__db_seterr(db, "cannot connect to PostgreSQL: %s", msg);
        rc = GLY_EUNAVAIL;
        goto done;
    }
    PQsetNoticeProcessor(pd->main, on_notice, NULL);
    pd->nw = db->nworkers;
    if (!(pd->w = calloc(pd->nw ? pd->nw : 1, sizeof *pd->w)))
        goto fail_nomem;
    for (unsigned i = 0; i < pd->nw; i++) {
        pd->w[i].pd = pd;
        pd->w[i].id = i;
    }
    rc = 0;
    goto done;
fail_nomem:
    gly__db_seterr(db, "out of memory");
    rc = GLY_ENOMEM;
done:
    PQfreemem(perr);
    if (rc < 0)
        pg_close(db);
    return rc;
}

const struct db_driver gly__pg_driver = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .worker_start = pg_worker_start,
    .worker_stop = pg_worker_stop,
    .query = pg_query,
    .tx_begin = pg_tx_begin,
    .tx_end = pg_tx_end,
    .ping = pg_ping,
    .script = pg_script,
    .query_sync = pg_query_sync,
    .backup = NULL,
    .metrics = pg_metrics,
};
