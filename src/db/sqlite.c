/*
 * src/db/sqlite.c - the embedded SQLite driver.
 *
 *   worker 0..N-1 ── reader connection (its own; reads run right on the loop)
 *   writer thread ── writer connection: every write, in groups
 *
 * A read-only statement runs at once on the worker's reader: WAL lets it
 * read the last commit without waiting for the writer, and a page-cache read
 * takes microseconds. A statement that writes becomes an op on the writer's
 * queue and the handler is suspended. The writer takes every op queued,
 * runs them in one transaction (BEGIN IMMEDIATE ... COMMIT: one fsync for the
 * group) and only then wakes their handlers, so a request is answered after
 * its write is durable. A statement that fails (a constraint) is undone alone
 * by SQLite's statement journal; the rest of the group commits.
 *
 * A transaction (gly_db_tx) is a SAVEPOINT inside the group: the writer
 * serves that request's statements one by one until it releases or rolls
 * back, then goes on with the group; its commit is answered with the group's.
 *
 * Long statements stop at db-timeout through a progress handler.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db/internal.h"

#define CACHE_SLOTS  256 /* prepared statements per connection (a power of two) */
#define GROUP_MAX    1024
#define PROGRESS_OPS 1000 /* VM steps between deadline checks */

struct cached {
    uint64_t hash;
    char *sql;
    sqlite3_stmt *st;
    unsigned nparams;      /* SQLite's parameter slots */
    unsigned nargs;        /* the arguments it takes: the highest $N */
    unsigned char *argmap; /* parameter i+1 takes args[argmap[i]] */
};

struct conn {
    sqlite3 *db;
    uint64_t deadline; /* gly_now_ns() past which the progress handler interrupts */
    struct cached cache[CACHE_SLOTS];
    unsigned ncached;
};

enum op_kind { OP_QUERY, OP_BEGIN, OP_END };

struct tx {
    bool dead; /* rolled back under the request (timeout, a failed group) */
};

struct op {
    enum op_kind kind;
    struct db_query *q; /* OP_QUERY */
    struct tx *tx;      /* OP_BEGIN (filled in), OP_QUERY in a tx, OP_END */
    bool commit;        /* OP_END */
    gly_req *req;
    int rc;
    char err[DB_ERRLEN];
    gly_task task;
    struct op *next;
};

struct sq {
    struct gly_db *db;
    char path[1024];
    struct conn *readers; /* one per worker */
    unsigned nreaders;

    /* The writer: its connection, thread and queue. */
    struct conn writer;
    uv_mutex_t conn_lock; /* the writer's connection: the thread per group, sync calls */
    uv_thread_t thread;
    bool thread_ok;
    uv_mutex_t lock;
    uv_cond_t cond;
    struct op *head, *tail; /* queued ops */
    struct op *tx_op;       /* the next op of the transaction being served */
    bool stop;
};

/* ------------------------------------------------------------------------ */
/* Connections and statements                                               */
/* ------------------------------------------------------------------------ */

static int progress(void *arg)
{
    struct conn *c = arg;
    return c->deadline && gly_now_ns() > c->deadline;
}

/* Maps an SQLite result to a GLY_E* code. */
static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_CONSTRAINT:
        switch (rc) {
        case SQLITE_CONSTRAINT_UNIQUE:
        case SQLITE_CONSTRAINT_PRIMARYKEY:
            return GLY_EUNIQUE;
        case SQLITE_CONSTRAINT_FOREIGNKEY:
            return GLY_EFOREIGN;
        case SQLITE_CONSTRAINT_NOTNULL:
            return GLY_ENOTNULL;
        case SQLITE_CONSTRAINT_CHECK:
            return GLY_ECHECK;
        default:
            return GLY_EDB;
        }
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return GLY_EBUSY;
    case SQLITE_INTERRUPT:
        return GLY_ETIMEDOUT;
    case SQLITE_NOMEM:
        return GLY_ENOMEM;
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return GLY_EINVAL;
    default:
        return GLY_EDB;
    }
}

/*
 * The column a constraint message names: "UNIQUE constraint failed:
 * users.email" gives "email" (the first, when there are several).
 */
static void constraint_field(const char *msg, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(msg, "constraint failed: ");
    if (!p)
        return;
    p += 19;
    const char *end = p + strcspn(p, ", ");
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (dot)
        p = dot + 1;
    snprintf(out, cap, "%.*s", (int)(end - p), p);
}

static void set_err(struct db_query *q, sqlite3 *db, int rc)
{
    const char *msg = rc == SQLITE_INTERRUPT ? "the query ran past db-timeout" : sqlite3_errmsg(db);
    snprintf(q->err, sizeof q->err, "%s", msg);
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        constraint_field(msg, q->errfield, sizeof q->errfield);
}

static void cache_drop(struct cached *c)
{
    sqlite3_finalize(c->st);
    free(c->sql);
    free(c->argmap);
    memset(c, 0, sizeof *c);
}

static void conn_close(struct conn *c)
{
    for (unsigned i = 0; i < CACHE_SLOTS; i++)
        if (c->cache[i].st)
            cache_drop(&c->cache[i]);
    c->ncached = 0;
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

/*
 * Finds or prepares q's statement on c. Parameters are $1, $2, ... (or ?,
 * positional); the map from SQLite's parameter indexes to q->args is made
 * once per statement.
 */
static int prepare(struct conn *c, struct db_query *q, struct cached **out)
{
    uint64_t h = q->hash;
    unsigned slot = (unsigned)h & (CACHE_SLOTS - 1);
    for (unsigned i = 0; i < CACHE_SLOTS; i++) {
        struct cached *e = &c->cache[(slot + i) & (CACHE_SLOTS - 1)];
        if (!e->st)
            break;
        if (e->hash == h && strcmp(e->sql, q->sql) == 0) {
            *out = e;
            return 0;
        }
    }
    if (c->ncached >= CACHE_SLOTS * 3 / 4) {
        /* dynamic SQL filled the cache: start over rather than track ages */
        for (unsigned i = 0; i < CACHE_SLOTS; i++)
            if (c->cache[i].st)
                cache_drop(&c->cache[i]);
        c->ncached = 0;
    }
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(c->db, q->sql, (int)q->sqllen + 1, SQLITE_PREPARE_PERSISTENT, &st,
                                &tail);
    if (rc != SQLITE_OK) {
        set_err(q, c->db, rc);
        return map_rc(rc) == GLY_EDB ? GLY_EINVAL : map_rc(rc);
    }
    if (!st) {
        snprintf(q->err, sizeof q->err, "empty statement");
        return GLY_EINVAL;
    }
    if (tail && *tail) {
        while (*tail == ' ' || *tail == '\n' || *tail == ';' || *tail == '\t' || *tail == '\r')
            tail++;
        if (*tail) {
            sqlite3_finalize(st);
            snprintf(q->err, sizeof q->err, "one statement per query");
            return GLY_EINVAL;
        }
    }
    unsigned np = (unsigned)sqlite3_bind_parameter_count(st), nargs = 0;
    unsigned char *map = np ? malloc(np) : NULL;
    char *copy = strdup(q->sql);
    if ((np && !map) || !copy) {
        sqlite3_finalize(st);
        free(map);
        free(copy);
        return GLY_ENOMEM;
    }
    for (unsigned i = 0; i < np; i++) {
        const char *name = sqlite3_bind_parameter_name(st, (int)i + 1);
        long n = (long)i + 1;
        if (name) {
            char *end;
            n = strtol(name + 1, &end, 10);
            if ((name[0] != '$' && name[0] != '?') || *end || n < 1 || n > 255) {
                snprintf(q->err, sizeof q->err, "parameter %s: use $1, $2, ...", name);
                sqlite3_finalize(st);
                free(map);
                free(copy);
                return GLY_EINVAL;
            }
        }
        map[i] = (unsigned char)(n - 1);
        nargs = (unsigned)n > nargs ? (unsigned)n : nargs;
    }
    unsigned i = slot;
    while (c->cache[i].st)
        i = (i + 1) & (CACHE_SLOTS - 1);
    c->cache[i] = (struct cached){h, copy, st, np, nargs, map};
    c->ncached++;
    *out = &c->cache[i];
    return 0;
}

static int bind_args(struct cached *e, struct db_query *q)
{
    if (q->nargs != e->nargs) {
        snprintf(q->err, sizeof q->err, "the statement takes %u parameters, %u were given",
                 e->nargs, q->nargs);
        return GLY_EINVAL;
    }
    for (unsigned i = 0; i < e->nparams; i++) {
        unsigned a = e->argmap[i];
        if (a >= q->nargs) {
            snprintf(q->err, sizeof q->err, "the statement uses $%u and has %u parameters", a + 1,
                     q->nargs);
            return GLY_EINVAL;
        }
        const gly_db_val *v = &q->args[a];
        int rc;
        switch (v->type) {
        case GLY_DB_INT:
            rc = sqlite3_bind_int64(e->st, (int)i + 1, v->v.i);
            break;
        case GLY_DB_REAL:
            rc = sqlite3_bind_double(e->st, (int)i + 1, v->v.d);
            break;
        case GLY_DB_TEXT:
            rc = sqlite3_bind_text64(e->st, (int)i + 1, v->v.s.p, v->v.s.n, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        case GLY_DB_BLOB:
            rc = sqlite3_bind_blob64(e->st, (int)i + 1, v->v.s.p, v->v.s.n, SQLITE_STATIC);
            break;
        default:
            rc = sqlite3_bind_null(e->st, (int)i + 1);
            break;
        }
        if (rc != SQLITE_OK)
            return GLY_EINVAL;
    }
    return 0;
}

/* Steps the bound statement to its end, copying the rows into q->arena. */
static int collect(struct conn *c, sqlite3_stmt *st, struct db_query *q)
{
    unsigned ncols = (unsigned)sqlite3_column_count(st);
    gly_res *res = gly__res_new(q->arena, ncols);
    if (!res)
        return GLY_ENOMEM;
    for (unsigned i = 0; i < ncols; i++)
        if (gly__res_name(res, q->arena, i, sqlite3_column_name(st, (int)i)) < 0)
            return GLY_ENOMEM;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gly_db_val *v = gly__res_push(res, q->arena);
        if (!v)
            return GLY_ENOMEM;
        for (unsigned i = 0; i < ncols; i++) {
            switch (sqlite3_column_type(st, (int)i)) {
            case SQLITE_INTEGER:
                v[i] = GLY_I64(sqlite3_column_int64(st, (int)i));
                break;
            case SQLITE_FLOAT:
                v[i] = GLY_F64(sqlite3_column_double(st, (int)i));
                break;
            case SQLITE_TEXT:
            case SQLITE_BLOB: {
                bool text = sqlite3_column_type(st, (int)i) == SQLITE_TEXT;
                const void *p = text ? (const void *)sqlite3_column_text(st, (int)i)
                                     : sqlite3_column_blob(st, (int)i);
                size_t n = (size_t)sqlite3_column_bytes(st, (int)i);
                char *copy = gly__arena_strndup(q->arena, p ? p : "", n);
                if (!copy)
                    return GLY_ENOMEM;
                v[i].type = text ? GLY_DB_TEXT : GLY_DB_BLOB;
                v[i].v.s.p = copy;
                v[i].v.s.n = n;
                break;
            }
            default:
                break;
            }
        }
    }
    if (rc != SQLITE_DONE) {
        set_err(q, c->db, rc);
        return map_rc(rc);
    }
    res->changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->db);
    q->res = res;
    return 0;
}

/* Runs q on c: prepare (cached), bind, step, reset. */
static int run_on(struct sq *s, struct conn *c, struct db_query *q)
{
    struct cached *e;
    int rc = prepare(c, q, &e);
    if (rc < 0)
        return rc;
    if ((rc = bind_args(e, q)) == 0) {
        c->deadline = gly_now_ns() + (uint64_t)s->db->cfg->db_timeout_ms * 1000000u;
        rc = collect(c, e->st, q);
        c->deadline = 0;
    }
    sqlite3_reset(e->st);
    sqlite3_clear_bindings(e->st);
    return rc;
}

static int conn_open(struct sq *s, struct conn *c, bool writer, char *err, size_t errlen)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %.300s: %s", s->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return GLY_EIO;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, (int)s->db->cfg->db_timeout_ms);
    sqlite3_progress_handler(c->db, PROGRESS_OPS, progress, c);
    /*
     * The page cache and mmap: with SQLite's 2 MB default a database of tens
     * of megabytes is read page by page with pread() (a copy and a system
     * call each); mmap lets readers use the OS page cache in place.
     */
    char pragmas[384];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;"
             "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-%llu; PRAGMA mmap_size=%llu;%s",
             s->db->cfg->db_sync_full ? "FULL" : "NORMAL",
             (unsigned long long)(s->db->cfg->db_cache / 1024),
             (unsigned long long)s->db->cfg->db_mmap,
             writer ? " PRAGMA wal_autocheckpoint=1000;" : " PRAGMA query_only=ON;");
    char *msg = NULL;
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up %.300s: %s", s->path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return GLY_EIO;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The writer thread                                                        */
/* ------------------------------------------------------------------------ */

static void op_done_task(gly_task *t)
{
    struct op *op = (struct op *)((char *)t - offsetof(struct op, task));
    gly_req_wake(op->req, op->rc);
}

/* Hands a finished op back to its handler's worker. */
static void op_finish(struct op *op)
{
    op->task.fn = op_done_task;
    int rc = gly_worker_post(gly_req_app(op->req), gly_req_worker(op->req), &op->task);
    assert(rc == 0);
    (void)rc;
}

static int writer_exec(struct sq *s, const char *sql)
{
    return map_rc(sqlite3_exec(s->writer.db, sql, NULL, NULL, NULL));
}

/* Runs one op of the group; a failed statement is undone alone. */
static void writer_run(struct sq *s, struct op *op)
{
    op->q->err[0] = '\0';
    op->rc = run_on(s, &s->writer, op->q);
}

/*
 * Takes the next op of the transaction being served, waiting at most
 * db-timeout for the handler to send it. NULL: it did not come.
 */
static struct op *writer_tx_next(struct sq *s)
{
    uint64_t wait_ns = (uint64_t)s->db->cfg->db_timeout_ms * 1000000u;
    uint64_t until = gly_now_ns() + wait_ns;
    uv_mutex_lock(&s->lock);
    while (!s->tx_op) {
        uint64_t now = gly_now_ns();
        if (now >= until || uv_cond_timedwait(&s->cond, &s->lock, until - now) == UV_ETIMEDOUT)
            if (!s->tx_op)
                break;
    }
    struct op *op = s->tx_op;
    s->tx_op = NULL;
    uv_mutex_unlock(&s->lock);
    return op;
}

/*
 * Serves a transaction begun by op: a savepoint, the request's statements as
 * they come, then its release or rollback. Returns the op that ends it with
 * a commit (answered after the group's COMMIT), or NULL.
 */
static struct op *writer_serve_tx(struct sq *s, struct op *begin)
{
    struct tx *tx = begin->tx;
    begin->rc = writer_exec(s, "SAVEPOINT gly_tx");
    op_finish(begin);
    if (begin->rc < 0)
        return NULL;
    for (;;) {
        struct op *op = writer_tx_next(s);
        if (!op) {
            /* the handler went quiet: give up its transaction so the group can go on */
            tx->dead = true;
            writer_exec(s, "ROLLBACK TO gly_tx; RELEASE gly_tx");
            gly_log_warn("a transaction was idle past db-timeout and was rolled back");
            return NULL;
        }
        if (op->kind == OP_QUERY) {
            writer_run(s, op);
            op_finish(op);
            continue;
        }
        assert(op->kind == OP_END);
        if (op->commit) {
            op->rc = writer_exec(s, "RELEASE gly_tx");
            if (op->rc == 0)
                return op;
        }
        writer_exec(s, "ROLLBACK TO gly_tx; RELEASE gly_tx");
        op_finish(op);
        return NULL;
    }
}

static void writer_group(struct sq *s, struct op *ops)
{
    struct op *done = NULL, **done_tail = &done;
    uv_mutex_lock(&s->conn_lock);
    int rc = writer_exec(s, "BEGIN IMMEDIATE");
    for (struct op *op = ops, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (rc < 0) {
            op->rc = rc;
            op_finish(op);
            continue;
        }
        struct op *end = NULL;
        if (op->kind == OP_BEGIN) {
            end = writer_serve_tx(s, op);
        } else {
            writer_run(s, op);
            end = op;
        }
        if (end) {
            *done_tail = end;
            done_tail = &end->next;
        }
        if (sqlite3_get_autocommit(s->writer.db)) {
            /* SQLite rolled the whole transaction back (disk full, I/O): the group is lost */
            int lost = map_rc(sqlite3_extended_errcode(s->writer.db));
            for (struct op *d = done; d; d = next) {
                next = d->next;
                d->rc = lost < 0 ? lost : GLY_EDB;
                op_finish(d);
            }
            done = NULL;
            done_tail = &done;
            rc = writer_exec(s, "BEGIN IMMEDIATE");
        }
    }
    if (rc == 0) {
        rc = writer_exec(s, "COMMIT");
        if (rc < 0) {
            gly_log_error("group commit failed: %s", sqlite3_errmsg(s->writer.db));
            writer_exec(s, "ROLLBACK");
        }
    }
    uv_mutex_unlock(&s->conn_lock);
    for (struct op *d = done, *next; d; d = next) {
        next = d->next;
        if (rc < 0)
            d->rc = rc;
        op_finish(d);
    }
}

static void writer_main(void *arg)
{
    struct sq *s = arg;
    uv_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stop)
            uv_cond_wait(&s->cond, &s->lock);
        if (!s->head)
            break;
        /* the whole queue, up to GROUP_MAX, is one group */
        struct op *ops = s->head, *last = ops;
        for (unsigned n = 1; n < GROUP_MAX && last->next; n++)
            last = last->next;
        s->head = last->next;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        uv_mutex_unlock(&s->lock);
        writer_group(s, ops);
        uv_mutex_lock(&s->lock);
    }
    uv_mutex_unlock(&s->lock);
}

/* Queues op for the writer and suspends the handler until it is done. */
static int writer_submit(struct sq *s, struct op *op)
{
    op->next = NULL;
    uv_mutex_lock(&s->lock);
    if (s->stop) {
        uv_mutex_unlock(&s->lock);
        return GLY_ESTATE;
    }
    if (op->tx && op->kind != OP_BEGIN) {
        assert(!s->tx_op);
        s->tx_op = op;
        uv_cond_broadcast(&s->cond);
    } else {
        if (s->tail)
            s->tail->next = op;
        else
            s->head = op;
        s->tail = op;
        uv_cond_signal(&s->cond);
    }
    uv_mutex_unlock(&s->lock);
    int rc = gly_req_suspend(op->req);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

static int sq_query(struct gly_db *db, struct db_query *q)
{
    struct sq *s = db->impl;
    if (q->tx) {
        struct tx *tx = q->tx;
        if (tx->dead)
            return GLY_ETIMEDOUT;
        struct op op = {.kind = OP_QUERY, .q = q, .tx = tx, .req = q->req};
        return writer_submit(s, &op);
    }
    unsigned w = gly_req_worker(q->req);
    assert(w < s->nreaders && s->readers[w].db);
    struct conn *c = &s->readers[w];
    struct cached *e;
    int rc = prepare(c, q, &e);
    if (rc < 0)
        return rc;
    if (sqlite3_stmt_readonly(e->st))
        return run_on(s, c, q);
    struct op op = {.kind = OP_QUERY, .q = q, .req = q->req};
    return writer_submit(s, &op);
}

static int sq_tx_begin(struct gly_db *db, gly_req *req, void **txp, char *err, size_t errlen)
{
    struct sq *s = db->impl;
    struct tx *tx = gly_alloc(req, sizeof *tx);
    if (!tx)
        return GLY_ENOMEM;
    tx->dead = false;
    struct op op = {.kind = OP_BEGIN, .tx = tx, .req = req};
    int rc = writer_submit(s, &op);
    if (rc < 0) {
        snprintf(err, errlen, "cannot begin a transaction: %s", gly_strerror(rc));
        return rc;
    }
    *txp = tx;
    return 0;
}

static int sq_tx_end(struct gly_db *db, gly_req *req, void *txp, bool commit, char *err,
                     size_t errlen)
{
    struct sq *s = db->impl;
    struct tx *tx = txp;
    if (tx->dead)
        return commit ? GLY_ETIMEDOUT : 0;
    struct op op = {.kind = OP_END, .tx = tx, .commit = commit, .req = req};
    int rc = writer_submit(s, &op);
    if (rc < 0)
        snprintf(err, errlen, "the transaction failed: %s", gly_strerror(rc));
    return rc;
}

static int sq_ping(struct gly_db *db, gly_req *req, char *msg, size_t msglen)
{
    struct db_query q = {.req = req, .arena = gly_req_arena(req), .sql = "SELECT 1", .sqllen = 8};
    q.hash = gly__db_hash(q.sql, q.sqllen);
    int rc = sq_query(db, &q);
    if (rc < 0)
        snprintf(msg, msglen, "%s", q.err[0] ? q.err : gly_strerror(rc));
    return rc;
}

static int sq_script(struct gly_db *db, const char *sql)
{
    struct sq *s = db->impl;
    char *msg = NULL;
    uv_mutex_lock(&s->conn_lock);
    int rc = sqlite3_exec(s->writer.db, sql, NULL, NULL, &msg);
    uv_mutex_unlock(&s->conn_lock);
    if (rc != SQLITE_OK)
        gly__db_seterr(db, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return map_rc(rc);
}

static int sq_query_sync(struct gly_db *db, struct db_query *q)
{
    struct sq *s = db->impl;
    uv_mutex_lock(&s->conn_lock);
    int rc = run_on(s, &s->writer, q);
    uv_mutex_unlock(&s->conn_lock);
    return rc;
}

static int sq_backup(struct gly_db *db, const char *path)
{
    struct sq *s = db->impl;
    sqlite3 *src = NULL, *dst = NULL;
    int rc = sqlite3_open_v2(s->path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_open_v2(
            path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, (int)db->cfg->db_timeout_ms);
        /* one step: the copy is one read transaction, a consistent snapshot */
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        if (b) {
            rc = sqlite3_backup_step(b, -1);
            sqlite3_backup_finish(b);
            rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        } else {
            rc = sqlite3_errcode(dst);
        }
    }
    if (rc != SQLITE_OK)
        gly__db_seterr(db, "backup to %s failed: %s", path,
                       dst   ? sqlite3_errmsg(dst)
                       : src ? sqlite3_errmsg(src)
                             : sqlite3_errstr(rc));
    sqlite3_close_v2(dst);
    sqlite3_close_v2(src);
    return map_rc(rc) == 0 ? 0 : GLY_EIO;
}

static int sq_worker_start(struct gly_db *db, unsigned w, uv_loop_t *loop)
{
    struct sq *s = db->impl;
    (void)loop;
    char err[512];
    if (w >= s->nreaders)
        return GLY_EINVAL;
    if (conn_open(s, &s->readers[w], false, err, sizeof err) < 0) {
        gly_log_error("%s", err);
        return GLY_EIO;
    }
    return 0;
}

static void sq_worker_stop(struct gly_db *db, unsigned w)
{
    struct sq *s = db->impl;
    if (w < s->nreaders && s->readers[w].db)
        conn_close(&s->readers[w]);
}

static void sq_close(struct gly_db *db)
{
    struct sq *s = db->impl;
    if (!s)
        return;
    if (s->thread_ok) {
        uv_mutex_lock(&s->lock);
        s->stop = true;
        uv_cond_broadcast(&s->cond);
        uv_mutex_unlock(&s->lock);
        uv_thread_join(&s->thread);
        uv_mutex_destroy(&s->lock);
        uv_mutex_destroy(&s->conn_lock);
        uv_cond_destroy(&s->cond);
    }
    for (unsigned i = 0; i < s->nreaders; i++)
        if (s->readers[i].db)
            conn_close(&s->readers[i]);
    free(s->readers);
    if (s->writer.db)
        conn_close(&s->writer);
    free(s);
    db->impl = NULL;
}

static void sqlite_setup(void)
{
    /* the memory statistics take a global mutex on every allocation: not wanted */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_open(struct gly_db *db)
{
    static uv_once_t once = UV_ONCE_INIT;
    uv_once(&once, sqlite_setup);
    const char *dir = db->cfg->data_dir;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        gly__db_seterr(db, "cannot create the data directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    struct sq *s = calloc(1, sizeof *s);
    if (!s)
        return GLY_ENOMEM;
    db->impl = s;
    s->db = db;
    snprintf(s->path, sizeof s->path, "%s/data.db", dir);
    s->nreaders = db->nworkers;
    s->readers = calloc(s->nreaders, sizeof *s->readers);
    if (!s->readers)
        goto nomem;
    char err[512];
    if (conn_open(s, &s->writer, true, err, sizeof err) < 0) {
        gly__db_seterr(db, "%s", err);
        sq_close(db);
        return GLY_EIO;
    }
    if (uv_mutex_init(&s->lock) < 0)
        goto nomem;
    if (uv_mutex_init(&s->conn_lock) < 0) {
        uv_mutex_destroy(&s->lock);
        goto nomem;
    }
    if (uv_cond_init(&s->cond) < 0) {
        uv_mutex_destroy(&s->lock);
        uv_mutex_destroy(&s->conn_lock);
        goto nomem;
    }
    if (uv_thread_create(&s->thread, writer_main, s) < 0) {
        uv_mutex_destroy(&s->lock);
        uv_mutex_destroy(&s->conn_lock);
        uv_cond_destroy(&s->cond);
        goto nomem;
    }
    s->thread_ok = true;
    return 0;
nomem:
    gly__db_seterr(db, "out of memory");
    sq_close(db);
    return GLY_ENOMEM;
}

const struct db_driver gly__sqlite_driver = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .worker_start = sq_worker_start,
    .worker_stop = sq_worker_stop,
    .query = sq_query,
    .tx_begin = sq_tx_begin,
    .tx_end = sq_tx_end,
    .ping = sq_ping,
    .script = sq_script,
    .query_sync = sq_query_sync,
    .backup = sq_backup,
    .metrics = NULL,
};
