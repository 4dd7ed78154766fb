/*
 * src/db/internal.h - the database module's private structures and the
 * driver interface that sqlite.c and pg.c implement.
 *
 *   gly_db ── driver (sqlite | postgres) ── impl (the driver's own state)
 *     ├── migrations of the modules
 *     └── statement registry and per-worker query statistics (metrics)
 *
 * db.c owns the public API: it turns a call into a struct db_query, finds
 * the request's transaction, hands the query to the driver and maps the
 * answer. A driver's query() suspends the request (gly_req_suspend()) and
 * wakes it on the request's worker once the result is in q->res.
 */
#ifndef GALLEY_DB_INTERNAL_H
#define GALLEY_DB_INTERNAL_H

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <uv.h>

#include <galley/galley.h>

#include "core/hash.h"

#define DB_STMT_MAX     256 /* statement names in the metrics; more share "other" */
#define DB_STMT_NAMELEN 48
#define DB_BUCKETS      12 /* duration histogram buckets (db.c) */
#define DB_ERRLEN       256

/* A result: ncols named columns, nrows rows of ncols values, in an arena. */
struct gly_res {
    unsigned ncols;
    const char **names;
    size_t nrows, cap;
    struct gly_row **rows;
    int64_t changes;
};

struct gly_row {
    const struct gly_res *res;
    gly_db_val v[]; /* ncols */
};

/* One statement to run. */
struct db_query {
    gly_req *req;     /* NULL in the synchronous calls */
    gly_arena *arena; /* where the result goes */
    const char *sql;  /* NUL-terminated */
    size_t sqllen;
    uint64_t hash; /* gly__db_hash() of the SQL text: the key of statement caches */
    const gly_db_val *args;
    unsigned nargs;
    unsigned stmt;       /* the statement's metrics id (db.c) */
    void *tx;            /* the driver's transaction, or NULL */
    gly_res *res;        /* out: never NULL after success */
    char err[DB_ERRLEN]; /* out: the backend's message when it failed */
    char errfield[64];   /* out: the column a constraint error names, or "" */
};

struct gly_db;

struct db_driver {
    const char *name; /* "sqlite", "postgres" */
    /* Main thread, before gly_run(): connect or create. Failure: db->errmsg set. */
    int (*open)(struct gly_db *db);
    /* After gly_run() returned (all workers gone). */
    void (*close)(struct gly_db *db);
    /* On worker w's thread, before it serves / once it has no connection left. */
    int (*worker_start)(struct gly_db *db, unsigned w, uv_loop_t *loop);
    void (*worker_stop)(struct gly_db *db, unsigned w);
    /*
     * In q->req's handler: runs q (in q->tx when set), suspending the handler
     * until it is done. Fills q->res, or returns a GLY_E* code with q->err.
     */
    int (*query)(struct gly_db *db, struct db_query *q);
    /* In a handler: opens a transaction for req (*tx), and ends it. */
    int (*tx_begin)(struct gly_db *db, gly_req *req, void **tx, char *err, size_t errlen);
    int (*tx_end)(struct gly_db *db, gly_req *req, void *tx, bool commit, char *err, size_t errlen);
    /* In a handler: is the database usable? 0, or a code with a short message. */
    int (*ping)(struct gly_db *db, gly_req *req, char *msg, size_t msglen);
    /* Synchronous, main thread, outside serving (migrations, set-up, CLI). */
    int (*script)(struct gly_db *db, const char *sql);
    int (*query_sync)(struct gly_db *db, struct db_query *q);
    /* Optional: the online backup (SQLite), and driver gauges for /metrics. */
    int (*backup)(struct gly_db *db, const char *path);
    void (*metrics)(struct gly_db *db, gly_buf *out);
};

extern const struct db_driver gly__sqlite_driver;
extern const struct db_driver gly__pg_driver;

/* Query statistics of one worker: single writer (the worker), atomics for the scrape. */
struct db_wstats {
    _Atomic uint64_t count[DB_STMT_MAX];
    _Atomic uint64_t errors[DB_STMT_MAX];
    _Atomic uint64_t sum_us[DB_STMT_MAX];
    _Atomic uint64_t bucket[DB_STMT_MAX][DB_BUCKETS];
};

struct db_module {
    const char *name;
    const gly_migration *list;
    size_t count;
};

struct gly_db {
    gly_app *app;
    const gly_config *cfg; /* the app's */
    const struct db_driver *drv;
    void *impl;
    bool opened;
    unsigned nworkers;
    char errmsg[512];

    struct db_module *modules;
    size_t nmodules;

    /* statement names: appended under lock, read without (ids never move) */
    uv_mutex_t stmt_lock;
    char stmt_name[DB_STMT_MAX][DB_STMT_NAMELEN];
    atomic_uint nstmts;
    struct db_wstats *wstats; /* nworkers + 1 (the last: synchronous calls) */
};

/* migrate.c: with migrate off, refuse a changed migration and warn about pending ones */
int gly__db_migrate_check(struct gly_db *db);

/* db.c: for the drivers */
void gly__db_seterr(struct gly_db *db, const char *fmt, ...) GLY_PRINTF(2, 3);
/* The key of statement caches: FNV-1a of the SQL text (core/hash.h). */
static inline uint64_t gly__db_hash(const char *p, size_t n)
{
    return gly__fnv1a(p, n);
}
/* The metrics id of the SQL text (hash: gly__db_hash() of it). */
unsigned gly__db_stmt_id(struct gly_db *db, const char *sql, uint64_t hash);
gly_res *gly__res_new(gly_arena *a, unsigned ncols);
int gly__res_name(gly_res *res, gly_arena *a, unsigned col, const char *name);
gly_db_val *gly__res_push(gly_res *res, gly_arena *a); /* a new row's ncols values, or NULL */
/* Copies p[0..n) into the arena with a NUL after it; NULL when out of memory. */
static inline char *gly__arena_strndup(gly_arena *a, const char *p, size_t n)
{
    return gly_arena_strndup(a, p, n);
}

#endif
