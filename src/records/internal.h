/*
 * src/records/internal.h - the records module's private state: collections
 * defined at run time and the REST API over them.
 *
 *   gly_app ── slot GLY_SLOT_RECORDS ── struct records ── current: struct schema
 *                                                          (refcounted; a change
 *                                                          publishes a new one)
 *
 * Files: schema.c (definitions: JSON in and out, checks, the DDL of each
 * dialect), collections.c (/api/v1/collections, storage of the definitions,
 * loading and publishing schemas), records.c (/api/v1/collections/{name}/records),
 * filter.c (the filter language, sorts and keyset conditions).
 */
#ifndef GALLEY_RECORDS_INTERNAL_H
#define GALLEY_RECORDS_INTERNAL_H

#include <stdatomic.h>
#include <uv.h>

#include <galley/galley.h>

#include "records/filter.h"
#include "records/schema.h"

#define REC_ID_LEN     15 /* record ids: [a-z0-9], as the users' */
#define FIELD_ID_LEN   8
#define MAX_FIELDS     100
#define MAX_SELECT     100 /* values of a select field */
#define MAX_INDEXES    20
#define MAX_RULE_LEN   FLT_MAX_LEN
#define SCHEMA_POLL_MS 1000 /* how often a node looks for changes made by another */

/* Codes of the records code's own transactions (never leave the module). */
enum { REC_EMISMATCH = -4000 /* If-Match failed */, REC_EDEEP = -4001 /* cascade too deep */ };

/* A published schema: immutable; freed with its arena when the last user lets go. */
struct schema_box {
    struct schema s;
    gly_arena arena;
    _Atomic unsigned refs;
};

struct records {
    gly_app *app;
    uv_mutex_t lock;            /* guards current */
    struct schema_box *current; /* NULL until first loaded */
    _Atomic int64_t checked_ms; /* when this node last compared versions */
    _Atomic bool loading;       /* a request is loading a new schema */
};

static inline struct records *rec_of(const gly_app *app)
{
    return gly_app_slot(app, GLY_SLOT_RECORDS);
}

/* ---- schema.c -------------------------------------------------------- */

enum { DIALECT_SQLITE = FLT_SQLITE, DIALECT_PG = FLT_PG };

/*
 * Parses a collection definition (the API's JSON) into *out, in arena.
 * prev is the collection as it is for a change (fields keep their ids and
 * are matched by id, else by name), or NULL for a new one. Every problem
 * goes to errs ("fields[2].type"); returns 0 when the parse ran (check
 * errs->count) or GLY_ENOMEM.
 */
int coll_parse(gly_arena *a, const gly_jv *doc, const struct coll *prev, struct coll *out,
               gly_verrors *errs);

/* Resolves relation targets against s (errors: "fields[i].collection"). */
int coll_resolve(struct coll *c, const struct schema *s, gly_verrors *errs);

/* Writes the definition as the API shows it (and stores it). */
void coll_json(gly_json *j, const struct coll *c);

/* The columns of c's records as SQL ("id", ... or alias."id", ...), in arena. */
const char *columns_sql(gly_arena *a, const struct coll *c, const char *alias);

/* The SQL type of a field's column. */
const char *fld_sql_type(const struct fld *f, int dialect);

/* Whether a field's column may be written from a JSON value (not system, not autodate). */
static inline bool fld_writable(const struct fld *f)
{
    return !f->system && f->type != FLD_AUTODATE && !f->hidden;
}

static inline bool fld_is_json(const struct fld *f)
{
    return f->multi || f->type == FLD_JSON;
}

/*
 * DDL: appends the statements (each NUL-separated, then an empty one) that
 * create collection c, or that turn prev into c. GLY_EINVAL with *why when
 * the change cannot be made (a field's type changed).
 */
int ddl_create(gly_buf *out, const struct coll *c, int dialect);
int ddl_alter(gly_buf *out, const struct coll *prev, const struct coll *c, int dialect,
              const char **why);
int ddl_drop(gly_buf *out, const struct coll *c);

/* Builds a schema from the stored definitions (JSON texts); GLY_EINVAL with why. */
struct schema_box *schema_build(const char *const *defs, size_t n, uint64_t version, char *why,
                                size_t whylen);
void schema_put(struct schema_box *b);

/* ---- collections.c --------------------------------------------------- */

/*
 * The schema a request works with (a reference released when the request
 * ends), fresh within SCHEMA_POLL_MS of any node's change. NULL after
 * answering (503) when it cannot be loaded.
 */
const struct schema *rec_schema(gly_req *req);
int rec_collections_init(gly_app *app, struct records *r);

/* ---- records.c ------------------------------------------------------- */

/* One request on one collection. */
struct rq {
    gly_req *req;
    const struct schema *s;
    const struct coll *c;
    int dialect;
    bool admin;          /* records:admin: past every rule */
    const gly_row *auth; /* the user's row for @request.auth, or NULL */
    const gly_jv *body;  /* for @request.body */
    char now[25];
};

struct expand;

/*
 * rec_start sets q up for a request (the schema, who asks, the time); false
 * after answering 503. rec_begin also finds the path's collection; false
 * after answering 404 (or 503).
 */
bool rec_start(gly_req *req, struct rq *q);
bool rec_begin(gly_req *req, struct rq *q);
/* A filter compilation on c (q's schema, auth, body and time) writing into sql. */
struct flt rec_flt(struct rq *q, gly_buf *sql, const struct coll *c, const char *alias);
/*
 * The rule of op for this request: 1 when it passes with no condition
 * (admins, "" rules), 0 with the rule's text in *rule, or -1 when it is
 * null: only admins may (answer rec_forbidden()).
 */
int rec_rule(struct rq *q, enum rule_op op, const char **rule);
int rec_forbidden(gly_req *req);
/*
 * The conditions of a list (and of an aggregate), each after " AND ": the
 * list rule (NULL: none to add), filter= and q=. Returns 0, 1 after
 * answering 400 for a filter or q that does not compile, or an error.
 */
int rec_list_where(struct rq *q, struct flt *f, const char *rule);
/* Answers 400 bad-filter naming param and the position of f's error. */
int rec_bad_filter(gly_req *req, const char *param, const struct flt *f);
/* 15 characters of [a-z0-9]. */
bool rec_good_id(gly_str id);
/* The strong ETag of a record: a hash of its JSON as shown (without expand). */
const char *rec_etag(gly_req *req, const struct coll *c, const gly_row *row);
/* Whether an If-Match or If-None-Match list holds etag ("*" holds any). */
bool rec_etag_listed(gly_str list, const char *etag);
/*
 * Answers status with the record (ETag; Location for a 201), or 304 for a
 * GET whose If-None-Match holds its ETag.
 */
int rec_send(struct rq *q, int status, const gly_row *row, const struct expand *x);
/*
 * "SELECT <columns> FROM t r WHERE r.id = $1 [AND (rule)]" for record id of
 * q's collection, what names it in the metrics; the parameters in *f. NULL
 * when the rule does not compile (logged) or out of memory.
 */
const char *rec_one_query(struct rq *q, enum rule_op op, const char *rule, struct flt *f,
                          gly_buf *sql, gly_str id, const char *what);

/*
 * Writes a row of c's columns (field order, hidden ones left out) as the
 * record; show (may be NULL) picks the fields, x (may be NULL) adds the
 * "expand" member.
 */
void rec_record_json(gly_json *j, const struct coll *c, const gly_row *row, const bool *show,
                     const struct expand *x);
/* The columns of c's records as SQL ("r"."id", ...), alias may be NULL. */
const char *rec_columns(gly_req *req, const struct coll *c, const char *alias);
int rec_records_init(gly_app *app);

/* ---- write.c --------------------------------------------------------- */

/* Deletes user id with what relates to it (struct auth's delete_user). */
int64_t rec_delete_user(gly_req *req, const char *id);
/* POST, PATCH, DELETE of records, POST /api/v1/batch, Idempotency-Key. */
int rec_write_init(gly_app *app);

/*
 * Appends "IN (the ids of the JSON array text list)" in f's dialect, list
 * as one parameter of f whatever the count, so that the statement is
 * prepared once (and SQLite takes at most 255 parameters anyway).
 */
int rec_in_ids(struct flt *f, const char *list);
/* The JSON array text of ids[0..n) (each [a-z0-9], no escaping needed), in arena. */
const char *rec_ids_json(gly_arena *a, const gly_str *ids, size_t n);

/* ---- expand.c -------------------------------------------------------- */

#define EXPAND_DEPTH 6
#define EXPAND_BATCH 1000 /* ids per query (one JSON array parameter) */

/*
 * expand=author,comments.user: reads the paths (relations of q's collection,
 * dotted through the relations of their targets, EXPAND_DEPTH at most).
 * *out is NULL when spec is empty. GLY_EINVAL with *why (in the arena) for
 * a bad path.
 */
int rec_expand_parse(struct rq *q, gly_str spec, struct expand **out, const char **why);

/*
 * Fetches what rows relate to, level by level: one query per relation and
 * level (per EXPAND_BATCH ids), each under its collection's view rule.
 */
int rec_expand_load(struct rq *q, struct expand *x, gly_row *const *rows, size_t n);

/* Writes the "expand" member of row's record (nothing when nothing relates). */
void rec_expand_json(gly_json *j, const struct expand *x, const gly_row *row);

/* ---- search.c -------------------------------------------------------- */

/*
 * q=: appends " AND " and the full-text condition of q (over the
 * collection's text fields) to f->sql, with its parameters; nothing when q
 * is empty. GLY_EINVAL with f->err_msg for a query that cannot be searched.
 */
int rec_search_where(struct flt *f, gly_str q);
/* GET /api/v1/collections/{name}/records:aggregate */
int rec_search_init(gly_app *app);

#define SEARCH_MAX_LEN 256 /* bytes of q= */

/*
 * Whether q= searches field f of c: the text fields marked "search" (an
 * index costs every write, so only what is searched is indexed) of a
 * collection that is not a system one.
 */
static inline bool fld_searched(const struct coll *c, const struct fld *f)
{
    return !c->system && !f->system && !f->hidden && f->type == FLD_TEXT && f->search;
}

/*
 * The full-text index of a collection (schema.c writes its DDL, search.c
 * queries it). SQLite: the contentless FTS5 table "galley_fts_<c->id>",
 * one column per searched field, kept by triggers on the collection's
 * table, rows by the records' rowid. PostgreSQL: the GIN index
 * "s_<c->id>" on the expression ddl_tsvector() writes, which a query must
 * repeat word for word for the index to serve it.
 */
void ddl_tsvector(gly_buf *out, const struct coll *c, const char *alias);

/* ---- openapi.c ------------------------------------------------------- */

int rec_openapi_init(gly_app *app); /* each collection in /openapi.json */

#endif
