/*
 * galley/db.h - one database API over embedded SQLite and PostgreSQL.
 *
 * A handler queries in straight lines; the call suspends the handler's
 * coroutine until the answer is there, and the worker serves others
 * meanwhile:
 *
 *     gly_row *u;
 *     int rc = gly_db_one(req, &u, "SELECT id, name FROM users WHERE id = $1", GLY_I64(id));
 *     if (rc == GLY_ENOTFOUND)
 *         return gly_problem(req, 404, "not-found", "no user with that id");
 *     if (rc < 0)
 *         return rc;
 *     return gly_send_row(req, 200, u);
 *
 * SQL text is constant; values travel only as typed parameters, written $1,
 * $2, ... on both backends. A statement may start with a comment
 * "-- name: find_user" that names it in the metrics; without one, the name
 * is the verb and the first table ("select_users").
 *
 * SQLite (the default, DATA/data.db): WAL, foreign keys on. Each worker reads
 * through a connection of its own; every write goes to one writer thread that
 * commits in groups (one fsync for many requests) and answers a request only
 * once its commit is durable. PostgreSQL (database-url postgres://...): libpq
 * in non-blocking mode on each worker's loop, a pool per worker, prepared
 * statements, pipelining.
 *
 * Results live in the request's arena and stay valid until the response is
 * done. Every function here that takes a request runs only in that request's
 * handler (its coroutine).
 */
#ifndef GALLEY_DB_H
#define GALLEY_DB_H

#include <string.h>

#include <galley/buf.h>
#include <galley/common.h>
#include <galley/http.h>
#include <galley/json.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gly_db gly_db;
typedef struct gly_res gly_res;
typedef struct gly_row gly_row;

/* The type of a parameter or of a value in a result. */
enum gly_db_type { GLY_DB_NULL, GLY_DB_INT, GLY_DB_REAL, GLY_DB_TEXT, GLY_DB_BLOB };

/* A typed value: a query parameter, or a column of a result row. */
typedef struct gly_db_val {
    int type; /* a gly_db_type */
    union {
        int64_t i;
        double d;
        struct {
            const char *p; /* TEXT is also NUL-terminated in results */
            size_t n;
        } s;
    } v;
} gly_db_val;

static inline gly_db_val gly_db_text_(const char *s)
{
    gly_db_val v = {GLY_DB_NULL, {0}};
    if (s) {
        v.type = GLY_DB_TEXT;
        v.v.s.p = s;
        v.v.s.n = strlen(s);
    }
    return v;
}

static inline gly_db_val gly_db_textn_(const char *p, size_t n)
{
    gly_db_val v = {GLY_DB_NULL, {0}};
    if (p) {
        v.type = GLY_DB_TEXT;
        v.v.s.p = p;
        v.v.s.n = n;
    }
    return v;
}

/* Parameters. Text and blobs are referenced, not copied: keep them alive during the call. */
#define GLY_NULL           ((gly_db_val){.type = GLY_DB_NULL})
#define GLY_I64(x)         ((gly_db_val){.type = GLY_DB_INT, .v.i = (int64_t)(x)})
#define GLY_BOOL(x)        ((gly_db_val){.type = GLY_DB_INT, .v.i = (x) ? 1 : 0})
#define GLY_F64(x)         ((gly_db_val){.type = GLY_DB_REAL, .v.d = (double)(x)})
#define GLY_TEXT(cstr)     gly_db_text_(cstr) /* NULL: SQL NULL */
#define GLY_TEXTN(p, n)    gly_db_textn_((p), (n))
#define GLY_STRV(str)      gly_db_textn_((str).p, (str).n) /* a gly_str; {NULL, 0}: SQL NULL */
#define GLY_BLOB(ptr, len) ((gly_db_val){.type = GLY_DB_BLOB, .v.s = {(const char *)(ptr), (len)}})

/* The variadic parameters of the query macros, as an array and a count. */
#define GLY_DB_ARGS_(...)                                                                          \
    ((const gly_db_val[]){GLY_NULL, ##__VA_ARGS__} + 1),                                           \
        (unsigned)(sizeof((const gly_db_val[]){GLY_NULL, ##__VA_ARGS__}) / sizeof(gly_db_val) - 1)

/* ------------------------------------------------------------------------ */
/* Queries (in a handler)                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Runs one statement with its parameters and gives all its rows in *out
 * (possibly none). Returns 0 or a negative code:
 *   GLY_EUNIQUE, GLY_EFOREIGN, GLY_ENOTNULL, GLY_ECHECK  a constraint failed;
 *   GLY_ETIMEDOUT  the query ran past db-timeout;
 *   GLY_ECONNLOST  the connection to the server broke while it ran;
 *   GLY_EUNAVAIL   no connection could be had within db-wait;
 *   GLY_EBUSY, GLY_ESERIAL  a conflict that a retried transaction may pass;
 *   GLY_EDB        any other database error (gly_db_error() has the text);
 *   GLY_EINVAL     a bad statement or parameter count; GLY_ENOMEM.
 * A handler may return any of them: the framework answers 409 for GLY_EUNIQUE,
 * 503 with Retry-After for the unavailable family, 500 for the rest.
 */
GLY_EXTERN int gly_db_query(gly_req *req, gly_res **out, const char *sql, const gly_db_val *args,
                            unsigned nargs);

/* As gly_db_query() for exactly one row: GLY_ENOTFOUND when there is none. */
GLY_EXTERN int gly_db_one_row(gly_req *req, gly_row **out, const char *sql, const gly_db_val *args,
                              unsigned nargs);

/* Runs a statement for its effect. Returns the number of rows changed (>= 0) or an error. */
GLY_EXTERN int64_t gly_db_exec_n(gly_req *req, const char *sql, const gly_db_val *args,
                                 unsigned nargs);

#define gly_db_all(req, out, sql, ...) gly_db_query((req), (out), (sql), GLY_DB_ARGS_(__VA_ARGS__))
#define gly_db_one(req, out, sql, ...)                                                             \
    gly_db_one_row((req), (out), (sql), GLY_DB_ARGS_(__VA_ARGS__))
#define gly_db_exec(req, sql, ...) gly_db_exec_n((req), (sql), GLY_DB_ARGS_(__VA_ARGS__))

/*
 * Runs fn(req, ctx) in a transaction: commits when fn returns >= 0 and
 * returns that value; rolls back and returns fn's code when it is negative.
 * When a statement or the commit fails with GLY_EBUSY or GLY_ESERIAL (a
 * serialization failure or deadlock on PostgreSQL), the transaction is
 * rolled back and fn runs again, up to 5 times in all, so fn must do nothing
 * but database work (answer the request after this returns). Queries made
 * by fn through req run in the transaction. Transactions do not nest
 * (GLY_ESTATE).
 */
typedef int (*gly_tx_fn)(gly_req *req, void *ctx);
GLY_EXTERN int gly_db_tx(gly_req *req, gly_tx_fn fn, void *ctx);

/*
 * The message of the request's last failed query, for the log (never for
 * the client: it may hold SQL or values). "" when none failed.
 */
GLY_EXTERN const char *gly_db_error(gly_req *req);

/*
 * The column a unique, not-null or check violation of the request's last
 * failed query names, when the backend tells ("email"), or "".
 */
GLY_EXTERN const char *gly_db_error_field(gly_req *req);

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

GLY_EXTERN size_t gly_res_count(const gly_res *res);
GLY_EXTERN gly_row *gly_res_row(const gly_res *res, size_t i); /* NULL past the end */
GLY_EXTERN int64_t gly_res_changes(const gly_res *res);        /* rows changed by a write */

GLY_EXTERN unsigned gly_row_cols(const gly_row *row);
GLY_EXTERN const char *gly_row_name(const gly_row *row, unsigned col);
GLY_EXTERN int gly_row_index(const gly_row *row, const char *name); /* -1: no such column */
GLY_EXTERN const gly_db_val *gly_row_at(const gly_row *row, unsigned col);

/*
 * A column by name, converted: integers from integers, reals and numeric
 * text; text as it is (blobs as their bytes). A NULL value or an unknown
 * column gives 0, 0.0, false or {NULL, 0}.
 */
GLY_EXTERN int64_t gly_row_i64(const gly_row *row, const char *name);
GLY_EXTERN double gly_row_f64(const gly_row *row, const char *name);
GLY_EXTERN bool gly_row_bool(const gly_row *row, const char *name);
GLY_EXTERN gly_str gly_row_str(const gly_row *row, const char *name);
GLY_EXTERN bool gly_row_null(const gly_row *row, const char *name);

/*
 * Copies a row with its column names and values: into arena (gly_row_copy),
 * or into one heap block that outlives any request (gly_row_dup, for caches;
 * release it with gly_row_free, which accepts NULL). NULL when out of memory.
 */
GLY_EXTERN gly_row *gly_row_copy(gly_arena *arena, const gly_row *row);
GLY_EXTERN gly_row *gly_row_dup(const gly_row *row);
GLY_EXTERN void gly_row_free(gly_row *row);

/* Writes the row as a JSON object (column name: value; blobs as base64 strings). */
GLY_EXTERN void gly_json_row(gly_json *j, const gly_row *row);

/* Answers status with the row as a JSON object. */
GLY_EXTERN int gly_send_row(gly_req *req, int status, const gly_row *row);

/*
 * Answers 200 with a page of a list, the envelope of every Galley list:
 * {"items":[rows...],"page":page,"per_page":per_page,"total_items":total,
 * "total_pages":ceil(total / per_page)}.
 */
GLY_EXTERN int gly_send_page(gly_req *req, const gly_res *items, int64_t page, int64_t per_page,
                             int64_t total);

/* The same envelope, each item written by item(j, row) instead of gly_json_row(). */
GLY_EXTERN int gly_send_page_with(gly_req *req, const gly_res *items, int64_t page,
                                  int64_t per_page, int64_t total,
                                  void (*item)(gly_json *j, const gly_row *row));

/*
 * Answers a failed query the way clients expect, and returns what the
 * answer returned: GLY_ENOTFOUND 404 "not-found"; GLY_EUNIQUE 409
 * "conflict" and GLY_EFOREIGN 409, GLY_ENOTNULL and GLY_ECHECK 422
 * "validation-failed", each with errors[] naming the column
 * (gly_db_error_field()). Any other code is returned as it is, for the
 * framework's 503 (unavailable, timeout) or 500.
 */
GLY_EXTERN int gly_db_fail(gly_req *req, int rc);

/* ------------------------------------------------------------------------ */
/* The database of an application                                           */
/* ------------------------------------------------------------------------ */

/*
 * A versioned migration of a module. version counts up from 1 within the
 * module; sql runs on both backends unless a dialect has its own text
 * (sqlite, pg; NULL: use sql). The text may hold several statements. A
 * migration runs in a transaction together with its record in
 * galley_migrations (module, version, name, checksum, applied_at).
 */
typedef struct gly_migration {
    unsigned version;
    const char *name;
    const char *sql;
    const char *sqlite;
    const char *pg;
} gly_migration;

/*
 * Creates the application's database object from its settings (data,
 * database-url, db-*) and attaches it: gly_app_free() frees it. Nothing is
 * opened yet. Returns NULL when out of memory or when the app has one.
 */
GLY_EXTERN gly_db *gly_db_new(gly_app *app);

/* The application's database, or NULL. */
GLY_EXTERN gly_db *gly_app_db(const gly_app *app);

/*
 * Adds a module's migrations (the array must outlive the db; versions
 * ascending from 1) before gly_db_open(). Returns 0, GLY_EINVAL or GLY_ENOMEM.
 */
GLY_EXTERN int gly_db_add_migrations(gly_db *db, const char *module, const gly_migration *list,
                                     size_t count);

/*
 * Opens the database: creates the data directory and the SQLite file, or
 * checks that PostgreSQL answers; applies pending migrations when the migrate
 * setting is on; registers the "db" readiness check and the metrics. Returns
 * 0 or a negative code with the reason in gly_db_errmsg() (for example a
 * migration whose checksum differs from the one applied).
 */
GLY_EXTERN int gly_db_open(gly_db *db);

/* "sqlite" or "postgres". */
GLY_EXTERN const char *gly_db_backend(const gly_db *db);

/* The reason of the last failure of the calls below and of gly_db_open(). */
GLY_EXTERN const char *gly_db_errmsg(const gly_db *db);

/*
 * Applies the pending migrations (also when the migrate setting is off),
 * appending one line per applied migration to report (may be NULL). Call it
 * after gly_db_open() and before gly_run(). Returns the number applied or an
 * error.
 */
GLY_EXTERN int gly_db_migrate(gly_db *db, gly_buf *report);

/* Appends one line per known migration: module, version, name, applied or pending. */
GLY_EXTERN int gly_db_migrate_status(gly_db *db, gly_buf *out);

/*
 * Copies the SQLite database to path with the online backup API; safe while
 * the application serves. GLY_ENOTSUP on PostgreSQL (use pg_dump).
 */
GLY_EXTERN int gly_db_backup(gly_db *db, const char *path);

/*
 * Runs SQL (several statements allowed, no parameters) at once on the
 * calling thread, outside any request: for set-up code before gly_run(),
 * such as creating and seeding tables. Returns 0 or an error (gly_db_errmsg()).
 */
GLY_EXTERN int gly_db_exec_script(gly_db *db, const char *sql);

/*
 * Runs one statement with parameters at once on the calling thread, outside
 * any request, before gly_run(). Rows go to *out (may be NULL) in arena.
 */
GLY_EXTERN int gly_db_query_sync(gly_db *db, gly_arena *arena, gly_res **out, const char *sql,
                                 const gly_db_val *args, unsigned nargs);

#ifdef __cplusplus
}
#endif
#endif
