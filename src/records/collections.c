/*
 * src/records/collections.c - /api/v1/collections: defining collections at
 * run time, storing the definitions, and giving every node the schema.
 *
 * A definition is stored as JSON in galley_collections, and its table is
 * made, changed or dropped in the same transaction, which also counts up
 * galley_schema.version. A node keeps the schema it built from the
 * definitions and compares versions at most every SCHEMA_POLL_MS from a
 * request (one indexed read), so a change made through any node reaches
 * every node within a second, and at once on the node that made it.
 *
 * Requests hold a reference to the schema they started with: a change
 * publishes a new schema and the old one goes when its last request ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "records/internal.h"

static const gly_migration migrations[] = {
    {1, "collections",
     "CREATE TABLE galley_collections (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " body TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);"
     "CREATE TABLE galley_schema (one INTEGER PRIMARY KEY CHECK (one = 1),"
     " version BIGINT NOT NULL);"
     "INSERT INTO galley_schema (one, version) VALUES (1, 0);",
     NULL, NULL},
    {2, "idempotency keys",
     "CREATE TABLE galley_idempotency (scope TEXT NOT NULL, key TEXT NOT NULL,"
     " hash TEXT NOT NULL, status INTEGER NOT NULL, location TEXT NOT NULL DEFAULT '',"
     " etag TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL,"
     " PRIMARY KEY (scope, key));"
     "CREATE INDEX galley_idempotency_created ON galley_idempotency (created);",
     NULL, NULL},
};

/* ------------------------------------------------------------------------ */
/* The schema of a request                                                  */
/* ------------------------------------------------------------------------ */

static struct schema_box *acquire(struct records *r)
{
    uv_mutex_lock(&r->lock);
    struct schema_box *b = r->current;
    if (b)
        atomic_fetch_add(&b->refs, 1);
    uv_mutex_unlock(&r->lock);
    return b;
}

static void publish(struct records *r, struct schema_box *b)
{
    uv_mutex_lock(&r->lock);
    struct schema_box *old = r->current;
    /* a slower load of an older version must not replace a newer one */
    if (old && old->s.version > b->s.version) {
        uv_mutex_unlock(&r->lock);
        schema_put(b);
        return;
    }
    r->current = b;
    uv_mutex_unlock(&r->lock);
    schema_put(old);
}

/* Reads the version, then the definitions (a change between the two is seen at the next poll). */
static int load(gly_req *req, struct records *r)
{
    gly_row *v;
    gly_res *res;
    int rc = gly_db_one(req, &v, "-- name: schema_version\nSELECT version FROM galley_schema");
    if (rc < 0)
        return rc;
    uint64_t version = (uint64_t)gly_row_i64(v, "version");
    struct schema_box *cur = acquire(r);
    bool same = cur && cur->s.version == version;
    schema_put(cur);
    if (same)
        return 0;
    rc = gly_db_all(req, &res,
                    "-- name: schema_load\nSELECT body FROM galley_collections ORDER BY name");
    if (rc < 0)
        return rc;
    size_t n = gly_res_count(res);
    const char **defs = gly_alloc(req, (n + 1) * sizeof *defs);
    if (!defs)
        return GLY_ENOMEM;
    for (size_t i = 0; i < n; i++)
        defs[i] = gly_row_str(gly_res_row(res, i), "body").p;
    char why[256];
    struct schema_box *b = schema_build(defs, n, version, why, sizeof why);
    if (!b) {
        gly_log_error("records: the stored collections do not load: %s", why);
        return GLY_EDB;
    }
    publish(r, b);
    return 0;
}

static void release(void *b)
{
    schema_put(b);
}

const struct schema *rec_schema(gly_req *req)
{
    struct records *r = rec_of(gly_req_app(req));
    int64_t now = gly_wall_ms();
    struct schema_box *b = acquire(r);
    if (!b || (now - atomic_load(&r->checked_ms) >= SCHEMA_POLL_MS &&
               !atomic_exchange(&r->loading, true))) {
        atomic_store(&r->checked_ms, now);
        int rc = load(req, r);
        if (b)
            atomic_store(&r->loading, false);
        schema_put(b);
        if (rc < 0) {
            gly_problem(req, 503, "unavailable", "The collections cannot be read now.");
            return NULL;
        }
        b = acquire(r);
    }
    if (!b || gly_arena_defer(gly_req_arena(req), release, b) < 0) {
        schema_put(b);
        gly_problem(req, 503, "unavailable", "The collections cannot be read now.");
        return NULL;
    }
    return &b->s;
}

/* ------------------------------------------------------------------------ */
/* Answers                                                                  */
/* ------------------------------------------------------------------------ */

static int send_coll(gly_req *req, int status, const struct coll *c)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    coll_json(&j, c);
    if (gly_json_finish(&j) < 0)
        return GLY_ENOMEM;
    if (status == 201)
        gly_set_headerf(req, "Location", "/api/v1/collections/%s", c->name);
    return gly_send_buf(req, status, "application/json", &b);
}

/* The collection the path names, or NULL after answering 404. */
static const struct coll *path_coll(gly_req *req, const struct schema *s)
{
    gly_str name = gly_req_param(req, "name");
    const struct coll *c = schema_find(s, name.p, name.n);
    if (!c)
        gly_problem(req, 404, "not-found", "No collection has that name.");
    return c;
}

/* ------------------------------------------------------------------------ */
/* Changes                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Where a change runs: in a request's transaction (the API), or on the
 * calling thread before the server starts (galley schema import).
 */
struct ex {
    gly_req *req; /* NULL: synchronous on db */
    gly_db *db;
    gly_arena *arena;
};

static int64_t ex_exec(struct ex *e, const char *sql, const gly_db_val *args, unsigned n)
{
    if (e->req)
        return gly_db_exec_n(e->req, sql, args, n);
    gly_res *res;
    int rc = gly_db_query_sync(e->db, e->arena, &res, sql, args, n);
    return rc < 0 ? rc : gly_res_changes(res);
}

#define ex_run(e, sql, ...) ex_exec((e), (sql), GLY_DB_ARGS_(__VA_ARGS__))

/* One change of the definitions, made in a transaction. */
struct change {
    const struct coll *prev; /* NULL: a new collection */
    struct coll *next;       /* NULL: the collection goes */
    const char *body;        /* next's definition */
    const char *ddl;         /* NUL-separated statements, then an empty one */
    const struct schema *schema;
    bool follow; /* a rename also renames the relations of the others */
    char now[25];
    const char *failed; /* the DDL statement that failed (for the log) */
};

static const char *coll_text(gly_arena *a, const struct coll *c)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, a, 0);
    gly_json_init(&j, &b);
    coll_json(&j, c);
    return gly_json_finish(&j) < 0 ? NULL : gly_buf_cstr(&b);
}

/* The relations of other collections that point at a renamed one follow it. */
static int follow_rename(struct ex *e, struct change *ch)
{
    for (size_t i = 0; i < ch->schema->ncolls; i++) {
        const struct coll *o = ch->schema->colls[i];
        if (o == ch->prev)
            continue;
        struct coll copy = *o;
        bool touched = false;
        copy.fields = gly_arena_alloc(e->arena, o->nfields * sizeof *o->fields);
        if (!copy.fields)
            return GLY_ENOMEM;
        memcpy(copy.fields, o->fields, o->nfields * sizeof *o->fields);
        for (size_t k = 0; k < o->nfields; k++)
            if (o->fields[k].type == FLD_RELATION &&
                strcmp(o->fields[k].target, ch->prev->name) == 0)
                copy.fields[k].target = ch->next->name, touched = true;
        if (!touched)
            continue;
        const char *body = coll_text(e->arena, &copy);
        int64_t rc = body ? ex_run(e, "UPDATE galley_collections SET body = $2 WHERE id = $1",
                                   GLY_TEXT(o->id), GLY_TEXT(body))
                          : GLY_ENOMEM;
        if (rc < 0)
            return (int)rc;
    }
    return 0;
}

/* Runs ch's DDL and stores its definition (without counting up the version). */
static int apply_one(struct ex *e, struct change *ch)
{
    for (const char *s = ch->ddl; *s; s += strlen(s) + 1) {
        int64_t rc = ex_exec(e, s, NULL, 0);
        if (rc < 0) {
            ch->failed = s;
            return (int)rc;
        }
    }
    int64_t rc;
    if (!ch->next)
        rc = ex_run(e, "DELETE FROM galley_collections WHERE id = $1", GLY_TEXT(ch->prev->id));
    else /* users is stored only once it is changed: an upsert covers it */
        rc = ex_run(e,
                    "INSERT INTO galley_collections (id, name, body, created, updated) "
                    "VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO UPDATE SET "
                    "name = excluded.name, body = excluded.body, updated = excluded.updated",
                    GLY_TEXT(ch->next->id), GLY_TEXT(ch->next->name), GLY_TEXT(ch->body),
                    GLY_TEXT(ch->now));
    if (rc >= 0 && ch->follow && ch->prev && ch->next && strcmp(ch->prev->name, ch->next->name))
        rc = follow_rename(e, ch);
    return rc < 0 ? (int)rc : 0;
}

static int bump_version(struct ex *e)
{
    int64_t rc = ex_run(e, "UPDATE galley_schema SET version = version + 1 WHERE one = 1");
    return rc < 0 ? (int)rc : 0;
}

static int apply_change(gly_req *req, void *arg)
{
    struct ex e = {.req = req, .arena = gly_req_arena(req)};
    int rc = apply_one(&e, arg);
    return rc < 0 ? rc : bump_version(&e);
}

/*
 * Fills in ch's times, definition text and DDL (create, alter or drop, as
 * prev and next say). GLY_EINVAL with *why for a change the DDL cannot make.
 */
static int prepare_change(gly_arena *a, struct change *ch, int dialect, const char **why)
{
    gly_buf ddl;
    gly_buf_init(&ddl, NULL, 0, a, 0);
    *why = NULL;
    gly__iso_now(ch->now);
    if (ch->next) {
        ch->next->created = ch->prev ? ch->prev->created : ch->now;
        ch->next->updated = ch->now;
        if (!(ch->body = coll_text(a, ch->next)))
            return GLY_ENOMEM;
    }
    int rc = !ch->next  ? ddl_drop(&ddl, ch->prev)
             : ch->prev ? ddl_alter(&ddl, ch->prev, ch->next, dialect, why)
                        : ddl_create(&ddl, ch->next, dialect);
    ch->ddl = gly_buf_cstr(&ddl);
    return rc < 0 ? rc : ch->ddl ? 0 : GLY_ENOMEM;
}

/*
 * Checks each rule of c by compiling it against s (with c in it), so that a
 * bad rule is refused when it is written rather than when it is used.
 */
static void check_rules(gly_arena *a, const struct schema *s, const struct coll *c,
                        gly_verrors *errs)
{
    static const char *const names[RULE__N] = {"list", "view", "create", "update", "delete"};
    for (int op = 0; op < RULE__N; op++) {
        if (!c->rules[op])
            continue;
        gly_buf sql;
        gly_buf_init(&sql, NULL, 0, a, 0);
        struct flt f = {.arena = a,
                        .schema = s,
                        .coll = c,
                        .alias = "r",
                        .dialect = FLT_SQLITE,
                        .now = "2000-01-01T00:00:00.000Z",
                        .sql = &sql};
        if (flt_where(&f, c->rules[op], strlen(c->rules[op])) == GLY_EINVAL) {
            char path[32];
            snprintf(path, sizeof path, "rules.%s", names[op]);
            gly_verrors_add(errs, path, "filter", "%s at position %zu", f.err_msg, f.err_pos);
        }
    }
}

/* The schema s with c added, or standing in for the collection whose id it has. */
static struct schema *with_coll(gly_arena *a, const struct schema *s, struct coll *c)
{
    struct schema *t = gly_arena_alloc(a, sizeof *t);
    if (!t || !(t->colls = gly_arena_alloc(a, (s->ncolls + 1) * sizeof *t->colls)))
        return NULL;
    t->ncolls = 0;
    t->version = s->version;
    for (size_t i = 0; i < s->ncolls; i++)
        if (strcmp(s->colls[i]->id, c->id) != 0)
            t->colls[t->ncolls++] = s->colls[i];
    t->colls[t->ncolls++] = c;
    return t;
}

/*
 * The last checks of a new or changed definition c, which need the schema
 * it goes into: its relations' targets and its rules. Returns 0 when it
 * passes, 1 after answering 422 with every problem (errs may hold some
 * already), or GLY_ENOMEM.
 */
static int check_coll(gly_req *req, const struct schema *s, struct coll *c, gly_verrors *errs)
{
    if (errs->count == 0) {
        struct schema *t = with_coll(gly_req_arena(req), s, c);
        if (!t)
            return GLY_ENOMEM;
        coll_resolve(c, t, errs);
        if (errs->count == 0)
            check_rules(gly_req_arena(req), t, c, errs);
    }
    if (errs->count == 0)
        return 0;
    gly_problem_verrors(req, 422, errs);
    return 1;
}

static int dialect_of(gly_req *req)
{
    return strcmp(gly_db_backend(gly_app_db(gly_req_app(req))), "postgres") == 0 ? DIALECT_PG
                                                                                 : DIALECT_SQLITE;
}

/* Runs ch and answers: status with the collection, 204, or the failure. */
static int commit_change(gly_req *req, struct change *ch, int status)
{
    const char *why;
    int rc = prepare_change(gly_req_arena(req), ch, dialect_of(req), &why);
    if (rc == GLY_EINVAL)
        return gly_problem(req, 422, "validation-failed", why);
    if (rc < 0)
        return rc;
    ch->follow = true;
    rc = gly_db_tx(req, apply_change, ch);
    if (rc == GLY_EUNIQUE || (rc == GLY_EDB && ch->failed && !ch->prev))
        return gly_problem(req, 409, "conflict", "A collection or table has that name.");
    if (rc < 0) {
        if (ch->failed)
            gly_log_error("records: %s failed: %s", ch->failed, gly_db_error(req));
        return rc;
    }
    /* this node sees its own change at once */
    if ((rc = load(req, rec_of(gly_req_app(req)))) < 0)
        gly_log_warn("records: the new schema is not loaded yet: %s", gly_err_name(rc));
    return ch->next ? send_coll(req, status, ch->next) : gly_send(req, 204, NULL, NULL, 0);
}

static int create_coll(gly_req *req)
{
    if (!gly_auth_allow(req, "collections:write"))
        return 0;
    const struct schema *s = rec_schema(req);
    gly_jv *doc = s ? gly_req_json(req) : NULL;
    if (!doc)
        return 0;
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    struct coll *c = gly_alloc(req, sizeof *c);
    if (!c || coll_parse(gly_req_arena(req), doc, NULL, c, &errs) < 0)
        return GLY_ENOMEM;
    if (errs.count == 0 && schema_find(s, c->name, strlen(c->name)))
        return gly_problem(req, 409, "conflict", "A collection has that name.");
    int rc = check_coll(req, s, c, &errs);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct change ch = {.next = c, .schema = s};
    return commit_change(req, &ch, 201);
}

/*
 * PATCH: the members given replace the collection's (fields as a whole
 * list: each keeps its id, a field left out is dropped, one without an id
 * or a known name is added; rules one by one).
 */
static int update_coll(gly_req *req)
{
    if (!gly_auth_allow(req, "collections:write"))
        return 0;
    const struct schema *s = rec_schema(req);
    const struct coll *prev = s ? path_coll(req, s) : NULL;
    gly_jv *doc = prev ? gly_req_json(req) : NULL;
    if (!doc)
        return 0;
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    struct coll *c = gly_alloc(req, sizeof *c);
    if (!c || coll_parse(gly_req_arena(req), doc, prev, c, &errs) < 0)
        return GLY_ENOMEM;
    if (!gly_jv_get(doc, "name")) {
        c->name = prev->name;
        for (size_t i = 0; i < errs.count; i++) /* "name is required" was for a new one */
            if (strcmp(errs.items[i].field, "name") == 0)
                errs.items[i--] = errs.items[--errs.count];
    }
    if (!gly_jv_get(doc, "fields"))
        c->fields = prev->fields, c->nfields = prev->nfields;
    if (!gly_jv_get(doc, "indexes"))
        c->indexes = prev->indexes, c->nindexes = prev->nindexes;
    const gly_jv *rules = gly_jv_get(doc, "rules");
    for (int op = 0; op < RULE__N; op++) {
        static const char *const names[RULE__N] = {"list", "view", "create", "update", "delete"};
        if (!rules || !gly_jv_get(rules, names[op]))
            c->rules[op] = prev->rules[op];
    }
    if (prev->system && strcmp(c->name, prev->name) != 0)
        gly_verrors_add(&errs, "name", "immutable", "a system collection keeps its name");
    const struct coll *other = schema_find(s, c->name, strlen(c->name));
    if (errs.count == 0 && other && other != prev)
        return gly_problem(req, 409, "conflict", "A collection has that name.");
    int rc = check_coll(req, s, c, &errs);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct change ch = {.prev = prev, .next = c, .schema = s};
    return commit_change(req, &ch, 200);
}

static int delete_coll(gly_req *req)
{
    if (!gly_auth_allow(req, "collections:write"))
        return 0;
    const struct schema *s = rec_schema(req);
    const struct coll *c = s ? path_coll(req, s) : NULL;
    if (!c)
        return 0;
    if (c->system)
        return gly_problem(req, 409, "conflict", "A system collection cannot be deleted.");
    for (size_t i = 0; i < s->ncolls; i++) {
        const struct coll *o = s->colls[i];
        for (size_t k = 0; o != c && k < o->nfields; k++)
            if (o->fields[k].to == c) {
                char *msg = gly_arena_printf(gly_req_arena(req),
                                             "Collection %s relates to it (field %s): drop that "
                                             "field first.",
                                             o->name, o->fields[k].name);
                return gly_problem(req, 409, "conflict",
                                   msg ? msg : "Another collection relates to it.");
            }
    }
    struct change ch = {.prev = c, .schema = s};
    return commit_change(req, &ch, 204);
}

static int list_colls(gly_req *req)
{
    if (!gly_auth_allow(req, "collections:read"))
        return 0;
    const struct schema *s = rec_schema(req);
    if (!s)
        return 0;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < s->ncolls; i++)
        coll_json(&j, s->colls[i]);
    gly_json_arr_end(&j);
    gly_json_key(&j, "page");
    gly_json_i64(&j, 1);
    gly_json_key(&j, "per_page");
    gly_json_i64(&j, (int64_t)s->ncolls);
    gly_json_key(&j, "total_items");
    gly_json_i64(&j, (int64_t)s->ncolls);
    gly_json_key(&j, "total_pages");
    gly_json_i64(&j, 1);
    gly_json_obj_end(&j);
    if (gly_json_finish(&j) < 0)
        return GLY_ENOMEM;
    return gly_send_buf(req, 200, "application/json", &b);
}

static int get_coll(gly_req *req)
{
    if (!gly_auth_allow(req, "collections:read"))
        return 0;
    const struct schema *s = rec_schema(req);
    const struct coll *c = s ? path_coll(req, s) : NULL;
    return c ? send_coll(req, 200, c) : 0;
}

/* ------------------------------------------------------------------------ */
/* Export and import (galley schema export | import FILE)                   */
/* ------------------------------------------------------------------------ */

/* The stored schema, read on the calling thread. */
static struct schema_box *load_sync(gly_db *db, gly_arena *a, gly_buf *report)
{
    gly_res *v, *res;
    if (gly_db_query_sync(db, a, &v, "SELECT version FROM galley_schema", NULL, 0) < 0 ||
        gly_db_query_sync(db, a, &res, "SELECT body FROM galley_collections ORDER BY name", NULL,
                          0) < 0) {
        gly_buf_printf(report, "cannot read the collections: %s\n", gly_db_errmsg(db));
        return NULL;
    }
    size_t n = gly_res_count(res);
    const char **defs = gly_arena_alloc(a, (n + 1) * sizeof *defs);
    if (!defs)
        return NULL;
    for (size_t i = 0; i < n; i++)
        defs[i] = gly_row_str(gly_res_row(res, i), "body").p;
    char why[256];
    struct schema_box *b =
        schema_build(defs, n, (uint64_t)gly_row_i64(gly_res_row(v, 0), "version"), why, sizeof why);
    if (!b)
        gly_buf_printf(report, "%s\n", why);
    return b;
}

int gly_records_export(gly_app *app, gly_buf *out)
{
    gly_arena a;
    gly_arena_init(&a, 0);
    struct schema_box *b = load_sync(gly_app_db(app), &a, out);
    int rc = GLY_EIO;
    if (b) {
        gly_json j;
        gly_json_init(&j, out);
        gly_json_obj_begin(&j);
        gly_json_key(&j, "collections");
        gly_json_arr_begin(&j);
        for (size_t i = 0; i < b->s.ncolls; i++)
            coll_json(&j, b->s.colls[i]);
        gly_json_arr_end(&j);
        gly_json_obj_end(&j);
        rc = gly_json_finish(&j);
        gly_buf_putc(out, '\n');
    }
    schema_put(b);
    gly_arena_dispose(&a);
    return rc;
}

/* One definition of an import: what it was, what it becomes. */
struct import_item {
    const struct coll *prev;
    struct coll *next;
    bool same;
};

/* Reads, checks and resolves the file's definitions against the stored schema. */
static int import_check(gly_arena *a, const gly_jv *list, const struct schema *cur,
                        bool delete_missing, struct import_item *items, struct schema *final,
                        gly_buf *report)
{
    size_t n = gly_jv_len(list), bad = 0;
    final->ncolls = 0;
    final->version = cur->version;
    for (size_t i = 0; i < n; i++) {
        const gly_jv *doc = gly_jv_at(list, i);
        gly_str id = gly_jv_str(gly_jv_get(doc, "id")), name = gly_jv_str(gly_jv_get(doc, "name"));
        const struct coll *prev = NULL;
        for (size_t k = 0; k < cur->ncolls && !prev; k++)
            if (id.p && strlen(cur->colls[k]->id) == id.n && !memcmp(cur->colls[k]->id, id.p, id.n))
                prev = cur->colls[k];
        if (!prev && name.p)
            prev = schema_find(cur, name.p, name.n);
        items[i].prev = prev;
        items[i].next = gly_arena_calloc(a, 1, sizeof *items[i].next);
        gly_verrors errs;
        gly_verrors_init(&errs, a);
        if (!items[i].next || coll_parse(a, doc, prev, items[i].next, &errs) < 0)
            return GLY_ENOMEM;
        for (size_t e = 0; e < errs.count; e++, bad++)
            gly_buf_printf(report, "collections[%zu] %s: %s\n", i, errs.items[e].field,
                           errs.items[e].message);
    }
    if (bad)
        return GLY_EINVAL;
    for (size_t k = 0; k < cur->ncolls; k++) {
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = items[i].prev == cur->colls[k];
        if (!listed && !delete_missing)
            final->colls[final->ncolls++] = cur->colls[k];
    }
    for (size_t i = 0; i < n; i++)
        final->colls[final->ncolls++] = items[i].next;
    for (size_t i = 0; i < final->ncolls; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(final->colls[i]->name, final->colls[k]->name) == 0) {
                gly_buf_printf(report, "two collections are named %s\n", final->colls[i]->name);
                bad++;
            }
    for (size_t i = 0; i < n; i++) {
        gly_verrors errs;
        gly_verrors_init(&errs, a);
        coll_resolve(items[i].next, final, &errs);
        if (errs.count == 0)
            check_rules(a, final, items[i].next, &errs);
        for (size_t e = 0; e < errs.count; e++, bad++)
            gly_buf_printf(report, "%s %s: %s\n", items[i].next->name, errs.items[e].field,
                           errs.items[e].message);
        if (items[i].prev) {
            items[i].next->created = items[i].prev->created;
            items[i].next->updated = items[i].prev->updated;
            const char *was = coll_text(a, items[i].prev), *now = coll_text(a, items[i].next);
            items[i].same = was && now && strcmp(was, now) == 0;
        }
    }
    /* what stays must not relate to what goes */
    for (size_t i = 0; i < final->ncolls; i++)
        for (size_t k = 0; k < final->colls[i]->nfields; k++) {
            const struct fld *f = &final->colls[i]->fields[k];
            if (f->type == FLD_RELATION && !schema_find(final, f->target, strlen(f->target))) {
                gly_buf_printf(report, "%s.%s relates to %s, which would be gone\n",
                               final->colls[i]->name, f->name, f->target);
                bad++;
            }
        }
    return bad ? GLY_EINVAL : 0;
}

/* Makes the changes an import found, in the open transaction. */
static int import_apply(gly_db *db, gly_arena *a, const struct schema *cur,
                        struct import_item *items, size_t n, const struct schema *final,
                        gly_buf *report)
{
    struct ex e = {.db = db, .arena = a};
    int dialect = strcmp(gly_db_backend(db), "postgres") == 0 ? DIALECT_PG : DIALECT_SQLITE;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (items[i].same) {
            gly_buf_printf(report, "unchanged %s\n", items[i].next->name);
            continue;
        }
        const char *why = NULL;
        struct change ch = {.prev = items[i].prev, .next = items[i].next, .schema = final};
        if ((rc = prepare_change(a, &ch, dialect, &why)) == 0)
            rc = apply_one(&e, &ch);
        if (rc < 0)
            gly_buf_printf(report, "%s: %s\n", items[i].next->name,
                           why         ? why
                           : ch.failed ? gly_db_errmsg(db)
                                       : gly_strerror(rc));
        else
            gly_buf_printf(report, "%s %s\n", items[i].prev ? "changed" : "created",
                           items[i].next->name);
    }
    for (size_t k = 0; k < cur->ncolls && rc == 0; k++) {
        if (schema_find(final, cur->colls[k]->name, strlen(cur->colls[k]->name)) ||
            cur->colls[k]->system)
            continue;
        bool renamed = false;
        for (size_t i = 0; i < n && !renamed; i++)
            renamed = items[i].prev == cur->colls[k];
        if (renamed)
            continue;
        const char *why;
        struct change ch = {.prev = cur->colls[k], .schema = final};
        if ((rc = prepare_change(a, &ch, dialect, &why)) == 0 && (rc = apply_one(&e, &ch)) == 0)
            gly_buf_printf(report, "deleted %s\n", cur->colls[k]->name);
    }
    return rc < 0 ? rc : bump_version(&e);
}

int gly_records_import(gly_app *app, const char *text, size_t len, bool delete_missing,
                       gly_buf *report)
{
    gly_db *db = gly_app_db(app);
    gly_arena a;
    gly_arena_init(&a, 0);
    gly_jv *doc;
    gly_json_error jerr;
    struct schema_box *cur = NULL;
    int rc = gly_json_parse(&a, text, len, NULL, &doc, &jerr);
    const gly_jv *list = gly_jv_type(doc) == GLY_JSON_ARRAY ? doc : gly_jv_get(doc, "collections");
    if (rc < 0 || gly_jv_type(list) != GLY_JSON_ARRAY) {
        gly_buf_printf(report, "not a schema: expected {\"collections\": [...]} or [...]\n");
        rc = GLY_EINVAL;
        goto done;
    }
    if (!(cur = load_sync(db, &a, report))) {
        rc = GLY_EIO;
        goto done;
    }
    size_t n = gly_jv_len(list);
    struct import_item *items = gly_arena_calloc(&a, n + 1, sizeof *items);
    struct schema final = {.colls = gly_arena_calloc(&a, n + cur->s.ncolls + 1, sizeof(void *))};
    if (!items || !final.colls) {
        rc = GLY_ENOMEM;
        goto done;
    }
    if ((rc = import_check(&a, list, &cur->s, delete_missing, items, &final, report)) < 0)
        goto done;
    if ((rc = gly_db_query_sync(db, &a, NULL, "BEGIN", NULL, 0)) < 0)
        goto done;
    rc = import_apply(db, &a, &cur->s, items, n, &final, report);
    if (rc == 0)
        rc = gly_db_query_sync(db, &a, NULL, "COMMIT", NULL, 0);
    if (rc < 0)
        gly_db_query_sync(db, &a, NULL, "ROLLBACK", NULL, 0);
done:
    schema_put(cur);
    gly_arena_dispose(&a);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

static void records_free(void *p)
{
    struct records *r = p;
    schema_put(r->current);
    uv_mutex_destroy(&r->lock);
    free(r);
}

int rec_collections_init(gly_app *app, struct records *r)
{
    (void)r;
    int rc = gly_db_add_migrations(gly_app_db(app), "records", migrations,
                                   sizeof migrations / sizeof migrations[0]);
    if (rc < 0)
        return rc;
    static const char *const tags[] = {"collections", NULL};
    static const gly_route_def routes[] = {
        {"POST",
         "/api/v1/collections",
         create_coll,
         {.summary = "Define a collection (collections:write)",
          .tags = tags,
          .operation_id = "createCollection",
          .status = 201}},
        {"GET",
         "/api/v1/collections",
         list_colls,
         {.summary = "Every collection's definition (collections:read)",
          .tags = tags,
          .operation_id = "listCollections"}},
        {"GET",
         "/api/v1/collections/:name",
         get_coll,
         {.summary = "A collection's definition (collections:read)",
          .tags = tags,
          .operation_id = "getCollection"}},
        {"PATCH",
         "/api/v1/collections/:name",
         update_coll,
         {.summary = "Change a collection: fields, indexes, rules, name; the records are kept "
                     "(collections:write)",
          .tags = tags,
          .operation_id = "updateCollection"}},
        {"DELETE",
         "/api/v1/collections/:name",
         delete_coll,
         {.summary = "Drop a collection and its records (collections:write)",
          .tags = tags,
          .operation_id = "deleteCollection",
          .status = 204}},
    };
    return gly_routes(app, routes, sizeof routes / sizeof routes[0]);
}

int gly_records_use(gly_app *app)
{
    if (!gly_app_db(app) || !gly__auth_of(app)) {
        gly_log_error("records: gly_records_use needs gly_db_new() and gly_auth_use() first");
        return GLY_ESTATE;
    }
    struct records *r = calloc(1, sizeof *r);
    if (!r)
        return GLY_ENOMEM;
    r->app = app;
    if (uv_mutex_init(&r->lock) != 0) {
        free(r);
        return GLY_ENOMEM;
    }
    int rc = gly_app_set_slot(app, GLY_SLOT_RECORDS, r, records_free);
    if (rc < 0) {
        records_free(r);
        return rc;
    }
    gly__auth_of(app)->delete_user = rec_delete_user;
    if ((rc = rec_collections_init(app, r)) < 0 || (rc = rec_records_init(app)) < 0 ||
        (rc = rec_write_init(app)) < 0 || (rc = rec_search_init(app)) < 0 ||
        (rc = rec_openapi_init(app)) < 0)
        return rc;
    return 0;
}
