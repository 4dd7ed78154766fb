/*
 * src/db/db.c - the public database API over the drivers: results, queries
 * from handlers, transactions with retry, statement statistics, and the
 * database object's life (open, readiness, metrics, free).
 *
 * Migrations are in migrate.c; the backends in sqlite.c and pg.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/internal.h"

#define TX_ATTEMPTS 5

/* Upper bounds of the query duration buckets, in microseconds. */
static const uint64_t bucket_us[DB_BUCKETS] = {100,   250,   500,   1000,   2500,    5000,
                                               10000, 25000, 50000, 100000, 1000000, 10000000};

/* ------------------------------------------------------------------------ */
/* Results                                                                  */
/* ------------------------------------------------------------------------ */

gly_res *gly__res_new(gly_arena *a, unsigned ncols)
{
    gly_res *res = gly_arena_calloc(a, 1, sizeof *res);
    if (!res)
        return NULL;
    res->ncols = ncols;
    if (ncols && !(res->names = gly_arena_calloc(a, ncols, sizeof *res->names)))
        return NULL;
    for (unsigned i = 0; i < ncols; i++)
        res->names[i] = "";
    return res;
}

int gly__res_name(gly_res *res, gly_arena *a, unsigned col, const char *name)
{
    assert(col < res->ncols);
    const char *copy = gly_arena_strdup(a, name);
    if (!copy)
        return GLY_ENOMEM;
    res->names[col] = copy;
    return 0;
}

gly_db_val *gly__res_push(gly_res *res, gly_arena *a)
{
    if (res->nrows == res->cap) {
        size_t cap = res->cap ? res->cap * 2 : 8;
        gly_row **rows =
            gly_arena_realloc(a, res->rows, res->cap * sizeof *rows, cap * sizeof *rows);
        if (!rows)
            return NULL;
        res->rows = rows;
        res->cap = cap;
    }
    gly_row *row = gly_arena_alloc(a, sizeof *row + res->ncols * sizeof(gly_db_val));
    if (!row)
        return NULL;
    row->res = res;
    for (unsigned i = 0; i < res->ncols; i++)
        row->v[i] = GLY_NULL;
    res->rows[res->nrows++] = row;
    return row->v;
}

size_t gly_res_count(const gly_res *res)
{
    return res ? res->nrows : 0;
}

gly_row *gly_res_row(const gly_res *res, size_t i)
{
    return res && i < res->nrows ? res->rows[i] : NULL;
}

int64_t gly_res_changes(const gly_res *res)
{
    return res ? res->changes : 0;
}

unsigned gly_row_cols(const gly_row *row)
{
    return row->res->ncols;
}

const char *gly_row_name(const gly_row *row, unsigned col)
{
    return col < row->res->ncols ? row->res->names[col] : NULL;
}

int gly_row_index(const gly_row *row, const char *name)
{
    for (unsigned i = 0; i < row->res->ncols; i++)
        if (strcmp(row->res->names[i], name) == 0)
            return (int)i;
    return -1;
}

const gly_db_val *gly_row_at(const gly_row *row, unsigned col)
{
    return col < row->res->ncols ? &row->v[col] : NULL;
}

/*
 * Copies row into one block: the row, then a gly_res with the names array,
 * then the names' and the values' bytes. From arena a, or malloc when a is NULL.
 */
static gly_row *row_clone(gly_arena *a, const gly_row *row)
{
    unsigned n = row->res->ncols;
    size_t bytes = sizeof(gly_row) + n * sizeof(gly_db_val) + sizeof(gly_res) + n * sizeof(char *);
    for (unsigned i = 0; i < n; i++) {
        bytes += strlen(row->res->names[i]) + 1;
        if (row->v[i].type == GLY_DB_TEXT || row->v[i].type == GLY_DB_BLOB)
            bytes += row->v[i].v.s.n + 1;
    }
    char *p = a ? gly_arena_alloc(a, bytes) : malloc(bytes);
    if (!p)
        return NULL;
    gly_row *out = (gly_row *)p;
    p += sizeof(gly_row) + n * sizeof(gly_db_val);
    gly_res *res = (gly_res *)p;
    p += sizeof(gly_res);
    const char **names = (const char **)p;
    p += n * sizeof(char *);
    *res = (gly_res){.ncols = n, .names = names, .nrows = 1, .cap = 1, .rows = NULL};
    out->res = res;
    for (unsigned i = 0; i < n; i++) {
        size_t len = strlen(row->res->names[i]) + 1;
        memcpy(p, row->res->names[i], len);
        names[i] = p;
        p += len;
        out->v[i] = row->v[i];
        if (row->v[i].type == GLY_DB_TEXT || row->v[i].type == GLY_DB_BLOB) {
            memcpy(p, row->v[i].v.s.p, row->v[i].v.s.n);
            p[row->v[i].v.s.n] = '\0';
            out->v[i].v.s.p = p;
            p += row->v[i].v.s.n + 1;
        }
    }
    return out;
}

gly_row *gly_row_copy(gly_arena *arena, const gly_row *row)
{
    return row_clone(arena, row);
}

gly_row *gly_row_dup(const gly_row *row)
{
    return row_clone(NULL, row);
}

void gly_row_free(gly_row *row)
{
    free(row);
}

static const gly_db_val *col_of(const gly_row *row, const char *name)
{
    int i = gly_row_index(row, name);
    return i < 0 ? NULL : &row->v[i];
}

int64_t gly_row_i64(const gly_row *row, const char *name)
{
    const gly_db_val *v = col_of(row, name);
    if (!v)
        return 0;
    switch (v->type) {
    case GLY_DB_INT:
        return v->v.i;
    case GLY_DB_REAL:
        return (int64_t)v->v.d;
    case GLY_DB_TEXT:
        return strtoll(v->v.s.p, NULL, 10);
    default:
        return 0;
    }
}

double gly_row_f64(const gly_row *row, const char *name)
{
    const gly_db_val *v = col_of(row, name);
    if (!v)
        return 0;
    switch (v->type) {
    case GLY_DB_INT:
        return (double)v->v.i;
    case GLY_DB_REAL:
        return v->v.d;
    case GLY_DB_TEXT:
        return strtod(v->v.s.p, NULL);
    default:
        return 0;
    }
}

bool gly_row_bool(const gly_row *row, const char *name)
{
    const gly_db_val *v = col_of(row, name);
    if (v && v->type == GLY_DB_TEXT)
        return v->v.s.n > 0 && strchr("tTyY1", v->v.s.p[0]) != NULL;
    return gly_row_f64(row, name) != 0;
}

gly_str gly_row_str(const gly_row *row, const char *name)
{
    const gly_db_val *v = col_of(row, name);
    if (!v || (v->type != GLY_DB_TEXT && v->type != GLY_DB_BLOB))
        return GLY_STR_NULL;
    return (gly_str){v->v.s.p, v->v.s.n};
}

bool gly_row_null(const gly_row *row, const char *name)
{
    const gly_db_val *v = col_of(row, name);
    return !v || v->type == GLY_DB_NULL;
}

static void json_base64(gly_json *j, const unsigned char *p, size_t n, gly_arena *a)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_n = (n + 2) / 3 * 4;
    char *out = gly_arena_alloc(a, out_n + 1);
    if (!out) {
        gly_json_null(j);
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tab[v & 63] : '=';
    }
    gly_json_strn(j, out, o);
}

static void json_row(gly_json *j, const gly_row *row, gly_arena *a)
{
    gly_json_obj_begin(j);
    for (unsigned i = 0; i < row->res->ncols; i++) {
        const gly_db_val *v = &row->v[i];
        gly_json_key(j, row->res->names[i]);
        switch (v->type) {
        case GLY_DB_INT:
            gly_json_i64(j, v->v.i);
            break;
        case GLY_DB_REAL:
            gly_json_double(j, v->v.d);
            break;
        case GLY_DB_TEXT:
            gly_json_strn(j, v->v.s.p, v->v.s.n);
            break;
        case GLY_DB_BLOB:
            if (a)
                json_base64(j, (const unsigned char *)v->v.s.p, v->v.s.n, a);
            else
                gly_json_null(j);
            break;
        default:
            gly_json_null(j);
            break;
        }
    }
    gly_json_obj_end(j);
}

void gly_json_row(gly_json *j, const gly_row *row)
{
    json_row(j, row, j->b->arena);
}

int gly_send_row(gly_req *req, int status, const gly_row *row)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    json_row(&j, row, gly_req_arena(req));
    int rc = gly_json_finish(&j);
    if (rc < 0)
        return rc;
    return gly_send_buf(req, status, "application/json", &b);
}

int gly_send_page_with(gly_req *req, const gly_res *items, int64_t page, int64_t per_page,
                       int64_t total, void (*item)(gly_json *j, const gly_row *row))
{
    gly_buf b;
    gly_json j;
    gly_arena *a = gly_req_arena(req);
    gly_buf_init(&b, NULL, 0, a, 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < gly_res_count(items); i++)
        item(&j, items->rows[i]);
    gly_json_arr_end(&j);
    gly_json_key(&j, "page");
    gly_json_i64(&j, page);
    gly_json_key(&j, "per_page");
    gly_json_i64(&j, per_page);
    gly_json_key(&j, "total_items");
    gly_json_i64(&j, total);
    gly_json_key(&j, "total_pages");
    gly_json_i64(&j, per_page > 0 ? (total + per_page - 1) / per_page : 0);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

int gly_send_page(gly_req *req, const gly_res *items, int64_t page, int64_t per_page, int64_t total)
{
    return gly_send_page_with(req, items, page, per_page, total, gly_json_row);
}

int gly_db_fail(gly_req *req, int rc)
{
    const char *code, *why;
    int status;
    switch (rc) {
    case GLY_ENOTFOUND:
        return gly_problem(req, 404, "not-found", "The resource does not exist.");
    case GLY_EUNIQUE:
        status = 409, code = "unique", why = "is already taken";
        break;
    case GLY_EFOREIGN:
        status = 409, code = "reference",
        why = "refers to something that does not exist, or "
              "is still referred to";
        break;
    case GLY_ENOTNULL:
        status = 422, code = "required", why = "is required";
        break;
    case GLY_ECHECK:
        status = 422, code = "invalid", why = "is not an allowed value";
        break;
    default:
        return rc;
    }
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    gly_verrors_add(&errs, gly_db_error_field(req), code, "%s", why);
    if (status == 409)
        return gly_problem_errors(req, 409, "conflict",
                                  "The request conflicts with the current state of the resource.",
                                  &errs);
    return gly_problem_verrors(req, status, &errs);
}

/* ------------------------------------------------------------------------ */
/* Statement names and statistics                                           */
/* ------------------------------------------------------------------------ */

static bool is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Copies the identifier at p, lower-cased, to out (cap bytes). Returns its length. */
static size_t copy_ident(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    if (*p == '"')
        p++;
    for (; is_ident(*p) && n + 1 < cap; p++)
        out[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    out[n] = '\0';
    return n;
}

static bool word_at(const char *p, const char *w)
{
    size_t n = strlen(w);
    return strncasecmp(p, w, n) == 0 && !is_ident(p[n]);
}

/*
 * The statement's name for the metrics: the "-- name: x" comment that starts
 * it, else the verb and the first table ("select_users", "insert_items").
 */
static void stmt_name(const char *sql, char out[DB_STMT_NAMELEN])
{
    const char *p = skip_space(sql);
    if (strncmp(p, "--", 2) == 0) {
        const char *q = skip_space(p + 2);
        if (strncasecmp(q, "name:", 5) == 0) {
            q = skip_space(q + 5);
            if (copy_ident(q, out, DB_STMT_NAMELEN) > 0)
                return;
        }
        p = strchr(p, '\n');
        p = skip_space(p ? p : "");
    }
    size_t n = copy_ident(p, out, DB_STMT_NAMELEN / 2);
    if (n == 0) {
        snprintf(out, DB_STMT_NAMELEN, "other");
        return;
    }
    /* the table: after UPDATE, or after the first FROM, INTO or TABLE */
    if (word_at(p, "update")) {
        char table[DB_STMT_NAMELEN / 2];
        if (copy_ident(skip_space(p + n), table, sizeof table) > 0) {
            out[n] = '_';
            snprintf(out + n + 1, DB_STMT_NAMELEN - n - 1, "%s", table);
        }
        return;
    }
    for (const char *s = p + n; *s; s++) {
        if (is_ident(s[-1]))
            continue;
        const char *t = NULL;
        if (word_at(s, "from"))
            t = s + 4;
        else if (word_at(s, "into"))
            t = s + 4;
        else if (word_at(s, "table"))
            t = s + 5;
        if (!t)
            continue;
        t = skip_space(t);
        if (word_at(t, "if")) /* CREATE TABLE IF NOT EXISTS x */
            t = skip_space(skip_space(skip_space(t + 2) + 3) + 6);
        char table[DB_STMT_NAMELEN / 2];
        if (copy_ident(t, table, sizeof table) > 0) {
            out[n] = '_';
            snprintf(out + n + 1, DB_STMT_NAMELEN - n - 1, "%s", table);
        }
        return;
    }
}

/* Each thread remembers the ids of the statements it ran, by hash: naming parses the SQL. */
#define ID_CACHE 256
static __thread struct id_cache {
    const struct gly_db *db;
    uint64_t hash;
    unsigned id;
} id_cache[ID_CACHE];

unsigned gly__db_stmt_id(struct gly_db *db, const char *sql, uint64_t hash)
{
    struct id_cache *e = &id_cache[hash & (ID_CACHE - 1)];
    if (e->db == db && e->hash == hash)
        return e->id;
    char name[DB_STMT_NAMELEN];
    stmt_name(sql, name);
    uv_mutex_lock(&db->stmt_lock);
    unsigned id;
    unsigned n = atomic_load_explicit(&db->nstmts, memory_order_relaxed);
    for (id = 0; id < n; id++)
        if (strcmp(db->stmt_name[id], name) == 0)
            break;
    if (id == n) {
        if (n == DB_STMT_MAX) {
            id = 0; /* slot 0 is "other", made by gly_db_new() */
        } else {
            memcpy(db->stmt_name[n], name, sizeof name);
            atomic_store_explicit(&db->nstmts, n + 1, memory_order_release);
        }
    }
    uv_mutex_unlock(&db->stmt_lock);
    *e = (struct id_cache){db, hash, id};
    return id;
}

static void stats_add(struct gly_db *db, unsigned worker, unsigned stmt, uint64_t us, bool failed)
{
    struct db_wstats *s = &db->wstats[worker < db->nworkers ? worker : db->nworkers];
    /* one writer per worker: plain load and store, atomic so a scrape reads whole values */
    atomic_store_explicit(&s->count[stmt],
                          atomic_load_explicit(&s->count[stmt], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->sum_us[stmt],
                          atomic_load_explicit(&s->sum_us[stmt], memory_order_relaxed) + us,
                          memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&s->errors[stmt], 1, memory_order_relaxed);
    for (unsigned b = 0; b < DB_BUCKETS; b++) {
        if (us <= bucket_us[b]) {
            atomic_fetch_add_explicit(&s->bucket[stmt][b], 1, memory_order_relaxed);
            break;
        }
    }
}

/* One statement's figures, added up over the workers. */
struct stmt_sum {
    uint64_t count, errors, sum_us, bucket[DB_BUCKETS];
};

static void sum_stmt(struct gly_db *db, unsigned stmt, struct stmt_sum *t)
{
    memset(t, 0, sizeof *t);
    for (unsigned w = 0; w <= db->nworkers; w++) {
        const struct db_wstats *s = &db->wstats[w];
        t->count += atomic_load_explicit(&s->count[stmt], memory_order_relaxed);
        t->errors += atomic_load_explicit(&s->errors[stmt], memory_order_relaxed);
        t->sum_us += atomic_load_explicit(&s->sum_us[stmt], memory_order_relaxed);
        for (unsigned k = 0; k < DB_BUCKETS; k++)
            t->bucket[k] += atomic_load_explicit(&s->bucket[stmt][k], memory_order_relaxed);
    }
}

static void db_metrics(gly_buf *b, void *ctx)
{
    struct gly_db *db = ctx;
    unsigned n = atomic_load_explicit(&db->nstmts, memory_order_acquire);
    struct stmt_sum *t =
        b->arena ? gly_arena_alloc(b->arena, n * sizeof *t) : malloc(n * sizeof *t);
    if (!t)
        return;
    for (unsigned i = 0; i < n; i++)
        sum_stmt(db, i, &t[i]);
    gly_buf_printf(b, "# HELP galley_db_queries_total Database statements run, by name.\n"
                      "# TYPE galley_db_queries_total counter\n");
    for (unsigned i = 0; i < n; i++)
        gly_buf_printf(b, "galley_db_queries_total{statement=\"%s\"} %llu\n", db->stmt_name[i],
                       (unsigned long long)t[i].count);
    gly_buf_printf(b, "# HELP galley_db_query_errors_total Database statements that failed.\n"
                      "# TYPE galley_db_query_errors_total counter\n");
    for (unsigned i = 0; i < n; i++)
        gly_buf_printf(b, "galley_db_query_errors_total{statement=\"%s\"} %llu\n", db->stmt_name[i],
                       (unsigned long long)t[i].errors);
    gly_buf_printf(b, "# HELP galley_db_query_duration_seconds Database statement durations.\n"
                      "# TYPE galley_db_query_duration_seconds histogram\n");
    for (unsigned i = 0; i < n; i++) {
        const char *name = db->stmt_name[i];
        uint64_t cum = 0;
        for (unsigned k = 0; k < DB_BUCKETS; k++) {
            cum += t[i].bucket[k];
            gly_buf_printf(b,
                           "galley_db_query_duration_seconds_bucket{statement=\"%s\",le=\"%g\"} "
                           "%llu\n",
                           name, (double)bucket_us[k] / 1e6, (unsigned long long)cum);
        }
        gly_buf_printf(
            b, "galley_db_query_duration_seconds_bucket{statement=\"%s\",le=\"+Inf\"} %llu\n", name,
            (unsigned long long)t[i].count);
        gly_buf_printf(b, "galley_db_query_duration_seconds_sum{statement=\"%s\"} %.6f\n", name,
                       (double)t[i].sum_us / 1e6);
        gly_buf_printf(b, "galley_db_query_duration_seconds_count{statement=\"%s\"} %llu\n", name,
                       (unsigned long long)t[i].count);
    }
    if (!b->arena)
        free(t);
    if (db->drv->metrics)
        db->drv->metrics(db, b);
}

/* ------------------------------------------------------------------------ */
/* Queries from handlers                                                    */
/* ------------------------------------------------------------------------ */

/* The request's state in its GLY_SLOT_DB slot: its transaction and last error. */
struct db_reqstate {
    void *tx;
    const char *err;
    const char *errfield;
};

static struct db_reqstate *reqstate(gly_req *req)
{
    struct db_reqstate *st = gly_req_slot(req, GLY_SLOT_DB);
    if (!st && (st = gly_alloc(req, sizeof *st))) {
        *st = (struct db_reqstate){NULL, "", ""};
        gly_req_set_slot(req, GLY_SLOT_DB, st);
    }
    return st;
}

void gly__db_seterr(struct gly_db *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
}

gly_db *gly_app_db(const gly_app *app)
{
    return gly_app_slot(app, GLY_SLOT_DB);
}

/* A transaction statement, which must go through gly_db_tx() so that it ends. */
static bool is_tx_control(const char *sql)
{
    static const char *const words[] = {"BEGIN", "COMMIT",    "END",     "ROLLBACK",
                                        "ABORT", "SAVEPOINT", "RELEASE", "START"};
    sql = skip_space(sql);
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (word_at(sql, words[i]))
            return true;
    return false;
}

static int run(gly_req *req, struct db_query *q)
{
    gly_db *db = gly_app_db(gly_req_app(req));
    if (!db || !db->opened)
        return GLY_ESTATE;
    struct db_reqstate *st = reqstate(req);
    if (!st)
        return GLY_ENOMEM;
    q->req = req;
    q->arena = gly_req_arena(req);
    q->sqllen = strlen(q->sql);
    q->hash = gly__db_hash(q->sql, q->sqllen);
    q->stmt = gly__db_stmt_id(db, q->sql, q->hash);
    q->tx = st->tx;
    q->res = NULL;
    q->err[0] = q->errfield[0] = '\0';
    uint64_t t0 = gly_now_ns();
    int rc;
    if (is_tx_control(q->sql)) {
        snprintf(q->err, sizeof q->err, "transactions go through gly_db_tx()");
        rc = GLY_EINVAL;
    } else {
        rc = db->drv->query(db, q);
    }
    uint64_t us = (gly_now_ns() - t0) / 1000;
    stats_add(db, gly_req_worker(req), q->stmt, us, rc < 0);
    if (rc < 0) {
        st->err = gly_arena_strdup(q->arena, q->err[0] ? q->err : gly_strerror(rc));
        st->errfield = gly_arena_strdup(q->arena, q->errfield);
        if (!st->err || !st->errfield)
            st->err = st->errfield = "";
        /* constraint failures are the client's doing; anything else the operator must see */
        gly_str id = gly_req_id(req);
        bool expected = rc == GLY_EUNIQUE || rc == GLY_EFOREIGN || rc == GLY_ENOTNULL ||
                        rc == GLY_ECHECK || rc == GLY_EBUSY || rc == GLY_ESERIAL;
        gly_log(expected ? GLY_LOG_DEBUG : GLY_LOG_ERROR, "query %s failed: %s: %s (request %.*s)",
                db->stmt_name[q->stmt], gly_err_name(rc), st->err, (int)id.n, id.p);
    }
    assert(rc < 0 || q->res);
    return rc;
}

int gly_db_query(gly_req *req, gly_res **out, const char *sql, const gly_db_val *args,
                 unsigned nargs)
{
    struct db_query q = {.sql = sql, .args = args, .nargs = nargs};
    int rc = run(req, &q);
    if (out)
        *out = rc < 0 ? NULL : q.res;
    return rc < 0 ? rc : 0;
}

int gly_db_one_row(gly_req *req, gly_row **out, const char *sql, const gly_db_val *args,
                   unsigned nargs)
{
    struct db_query q = {.sql = sql, .args = args, .nargs = nargs};
    int rc = run(req, &q);
    *out = NULL;
    if (rc < 0)
        return rc;
    if (q.res->nrows == 0)
        return GLY_ENOTFOUND;
    *out = q.res->rows[0];
    return 0;
}

int64_t gly_db_exec_n(gly_req *req, const char *sql, const gly_db_val *args, unsigned nargs)
{
    struct db_query q = {.sql = sql, .args = args, .nargs = nargs};
    int rc = run(req, &q);
    return rc < 0 ? rc : q.res->changes;
}

const char *gly_db_error(gly_req *req)
{
    struct db_reqstate *st = gly_req_slot(req, GLY_SLOT_DB);
    return st ? st->err : "";
}

const char *gly_db_error_field(gly_req *req)
{
    struct db_reqstate *st = gly_req_slot(req, GLY_SLOT_DB);
    return st ? st->errfield : "";
}

static bool retryable(int rc)
{
    return rc == GLY_EBUSY || rc == GLY_ESERIAL;
}

int gly_db_tx(gly_req *req, gly_tx_fn fn, void *ctx)
{
    gly_db *db = gly_app_db(gly_req_app(req));
    if (!db || !db->opened)
        return GLY_ESTATE;
    struct db_reqstate *st = reqstate(req);
    if (!st)
        return GLY_ENOMEM;
    if (st->tx)
        return GLY_ESTATE;
    char err[DB_ERRLEN];
    int rc = 0;
    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            /* back off a little, with jitter, so that the conflicting side finishes */
            uint64_t ms = (1u << attempt) + gly_now_ns() % 5;
            if (gly_sleep(req, ms) < 0)
                return rc;
        }
        void *tx = NULL;
        err[0] = '\0';
        rc = db->drv->tx_begin(db, req, &tx, err, sizeof err);
        if (rc < 0) {
            if (retryable(rc))
                continue;
            break;
        }
        st->tx = tx;
        rc = fn(req, ctx);
        st->tx = NULL;
        int end = db->drv->tx_end(db, req, tx, rc >= 0, err, sizeof err);
        if (rc >= 0 && end < 0)
            rc = end;
        if (!retryable(rc))
            break;
        gly_log_debug("transaction conflict (%s), attempt %d", gly_err_name(rc), attempt + 1);
    }
    if (rc < 0 && err[0])
        st->err = gly_arena_strdup(gly_req_arena(req), err) ?: "";
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The database object                                                      */
/* ------------------------------------------------------------------------ */

static void db_free(void *p)
{
    struct gly_db *db = p;
    if (!db)
        return;
    if (db->opened)
        db->drv->close(db);
    free(db->modules);
    free(db->wstats);
    uv_mutex_destroy(&db->stmt_lock);
    free(db);
}

static int on_worker_start(gly_app *app, unsigned worker, void *loop, void *ctx)
{
    struct gly_db *db = ctx;
    (void)app;
    if (!db->opened || !db->drv->worker_start)
        return 0;
    return db->drv->worker_start(db, worker, loop);
}

static void on_worker_stop(gly_app *app, unsigned worker, void *ctx)
{
    struct gly_db *db = ctx;
    (void)app;
    if (db->opened && db->drv->worker_stop)
        db->drv->worker_stop(db, worker);
}

static int ready_check(gly_req *req, void *ctx, char *msg, size_t msglen)
{
    struct gly_db *db = ctx;
    return db->drv->ping(db, req, msg, msglen);
}

gly_db *gly_db_new(gly_app *app)
{
    if (gly_app_db(app))
        return NULL;
    struct gly_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->app = app;
    db->cfg = gly_app_config(app);
    db->drv = db->cfg->database_url[0] ? &gly__pg_driver : &gly__sqlite_driver;
    if (uv_mutex_init(&db->stmt_lock) < 0) {
        free(db);
        return NULL;
    }
    snprintf(db->stmt_name[0], DB_STMT_NAMELEN, "other");
    atomic_init(&db->nstmts, 1);
    if (gly_app_set_slot(app, GLY_SLOT_DB, db, db_free) < 0) {
        db_free(db);
        return NULL;
    }
    return db;
}

int gly_db_add_migrations(gly_db *db, const char *module, const gly_migration *list, size_t count)
{
    if (!module || !*module || (!list && count) || db->opened)
        return GLY_EINVAL;
    for (size_t i = 0; i < count; i++)
        if (list[i].version != i + 1 || !list[i].name)
            return GLY_EINVAL;
    for (size_t i = 0; i < db->nmodules; i++)
        if (strcmp(db->modules[i].name, module) == 0)
            return GLY_EEXIST;
    struct db_module *m = realloc(db->modules, (db->nmodules + 1) * sizeof *m);
    if (!m)
        return GLY_ENOMEM;
    db->modules = m;
    db->modules[db->nmodules++] = (struct db_module){module, list, count};
    return 0;
}

int gly_db_open(gly_db *db)
{
    if (db->opened)
        return GLY_ESTATE;
    db->nworkers = gly_app_workers(db->app);
    db->wstats = calloc(db->nworkers + 1, sizeof *db->wstats);
    if (!db->wstats)
        return GLY_ENOMEM;
    int rc = db->drv->open(db);
    if (rc < 0)
        return rc;
    db->opened = true;
    if (db->cfg->migrate)
        rc = gly_db_migrate(db, NULL);
    else
        rc = gly__db_migrate_check(db);
    if (rc < 0)
        return rc;
    if ((rc = gly_app_on_worker(db->app, on_worker_start, on_worker_stop, db)) < 0 ||
        (rc = gly_health_add(db->app, "db", ready_check, db)) < 0 ||
        (rc = gly_metrics_add(db->app, db_metrics, db)) < 0) {
        gly__db_seterr(db, "out of memory");
        return rc;
    }
    return 0;
}

const char *gly_db_backend(const gly_db *db)
{
    return db->drv->name;
}

const char *gly_db_errmsg(const gly_db *db)
{
    return db->errmsg;
}

int gly_db_backup(gly_db *db, const char *path)
{
    if (!db->opened)
        return GLY_ESTATE;
    if (!db->drv->backup) {
        gly__db_seterr(db, "backup is for SQLite; use pg_dump for PostgreSQL");
        return GLY_ENOTSUP;
    }
    return db->drv->backup(db, path);
}

int gly_db_exec_script(gly_db *db, const char *sql)
{
    if (!db->opened)
        return GLY_ESTATE;
    return db->drv->script(db, sql);
}

int gly_db_query_sync(gly_db *db, gly_arena *arena, gly_res **out, const char *sql,
                      const gly_db_val *args, unsigned nargs)
{
    if (!db->opened)
        return GLY_ESTATE;
    struct db_query q = {
        .arena = arena, .sql = sql, .sqllen = strlen(sql), .args = args, .nargs = nargs};
    q.hash = gly__db_hash(sql, q.sqllen);
    q.stmt = gly__db_stmt_id(db, sql, q.hash);
    uint64_t t0 = gly_now_ns();
    int rc = db->drv->query_sync(db, &q);
    stats_add(db, db->nworkers, q.stmt, (gly_now_ns() - t0) / 1000, rc < 0);
    if (rc < 0)
        gly__db_seterr(db, "%s", q.err[0] ? q.err : gly_strerror(rc));
    if (out)
        *out = rc < 0 ? NULL : q.res;
    return rc;
}
