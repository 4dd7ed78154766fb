/*
 * src/records/write.c - the writes of the records API: create, update and
 * delete one record, a batch of them in one transaction, and replays of
 * a POST sent again with the same Idempotency-Key.
 *
 *   POST   /api/v1/collections/{name}/records        201 + Location
 *   PATCH  /api/v1/collections/{name}/records/{id}   If-Match gives 412
 *   DELETE /api/v1/collections/{name}/records/{id}   204; relations cascade,
 *                                                     restrict or go null
 *   POST   /api/v1/batch                             up to 100 of those, all or none
 *
 * Each operation runs inside a transaction and comes to an outcome (a
 * record, or a problem) before anything is answered, so that a batch can
 * run many and roll all back at the first problem, and an idempotent POST
 * can store its answer in the same transaction as its record.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "records/internal.h"

#define MAX_CASCADE  16  /* relations a delete may follow */
#define MAX_BATCH    100 /* operations in one batch */
#define IDEM_TTL_MS  (24 * 3600 * 1000LL)
#define IDEM_KEY_MAX 255
#define REC_EPROBLEM (-4002) /* the outcome holds a problem: roll back */
#define REC_EREPLAY  (-4003) /* the Idempotency-Key was used before */

/* ------------------------------------------------------------------------ */
/* Values in                                                                */
/* ------------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/*
 * Reads an RFC 3339 date-time (a space for the T allowed, seconds and
 * fraction optional) or a full date, and writes it in UTC as
 * "YYYY-MM-DDTHH:MM:SS.sssZ", the form stored and compared.
 */
static bool parse_date(gly_str s, char out[25])
{
    const char *p = s.p;
    if (s.n < 10 || p[4] != '-' || p[7] != '-')
        return false;
    int y = num(p, 4), mo = num(p + 5, 2), d = num(p + 8, 2), h = 0, mi = 0, sec = 0, ms = 0;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return false;
    int64_t off = 0;
    size_t i = 10;
    if (s.n > 10) {
        if ((p[10] != 'T' && p[10] != 't' && p[10] != ' ') || s.n < 16 || p[13] != ':')
            return false;
        h = num(p + 11, 2), mi = num(p + 14, 2);
        i = 16;
        if (i < s.n && p[i] == ':') {
            if (s.n < 19 || (sec = num(p + 17, 2)) < 0)
                return false;
            i = 19;
            if (i < s.n && p[i] == '.') {
                int digits = 0, frac = 0;
                for (i++; i < s.n && p[i] >= '0' && p[i] <= '9'; i++, digits++)
                    if (digits < 3)
                        frac = frac * 10 + (p[i] - '0');
                if (digits == 0)
                    return false;
                for (; digits < 3; digits++)
                    frac *= 10;
                ms = frac;
            }
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec > 59)
            return false;
        if (i < s.n && (p[i] == 'Z' || p[i] == 'z'))
            i++;
        else if (i + 6 == s.n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
            int oh = num(p + i + 1, 2), om = num(p + i + 4, 2);
            if (oh < 0 || oh > 23 || om < 0 || om > 59)
                return false;
            off = (p[i] == '+' ? 1 : -1) * (oh * 60 + om);
            i += 6;
        } else
            return false;
    }
    if (i != s.n)
        return false;
    int64_t t =
        ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi - off) * 60 + sec;
    gly_iso_time_format(t * 1000 + ms, out);
    return true;
}

/* The text of a JSON value (multi-valued and json fields). */
static const char *json_text(gly_req *req, const gly_jv *v)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    if (gly_json_value(&j, v) < 0 || gly_json_finish(&j) < 0)
        return NULL;
    return gly_buf_cstr(&b);
}

/* What a field's checks are, as the validator of the framework takes them. */
static gly_field field_check(const struct fld *f)
{
    gly_field g = GLY_FIELD_STR(NULL);
    switch (f->type) {
    case FLD_NUMBER:
        g.type = f->integer ? GLY_TYPE_INTEGER : GLY_TYPE_NUMBER;
        g.min = f->has_min ? f->min : -INFINITY;
        g.max = f->has_max ? f->max : INFINITY;
        break;
    case FLD_BOOL:
        g.type = GLY_TYPE_BOOLEAN;
        break;
    case FLD_EMAIL:
        g.format = GLY_FMT_EMAIL;
        break;
    case FLD_URL:
        g.format = GLY_FMT_URL;
        break;
    case FLD_TEXT:
        g.min_len = f->has_min ? (size_t)f->min : 0;
        g.max_len = f->has_max ? (size_t)f->max : 1 << 20;
        g.pattern = f->pattern;
        break;
    default:
        break;
    }
    if (f->type == FLD_RELATION && !f->multi)
        g.nullable = !f->required;
    return g;
}

/* One value of a body being read into columns and parameters. */
struct writes {
    gly_buf cols; /* ", \"a\", \"b\"" */
    gly_db_val *vals;
    unsigned n;
    gly_verrors errs;
};

static void put(struct writes *w, const struct fld *f, gly_db_val v)
{
    gly_buf_printf(&w->cols, ", \"%s\"", f->name);
    w->vals[w->n++] = v;
}

/* Checks that every id of a relation value names a record of its collection. */
static int relation_exists(struct rq *q, const struct fld *f, const gly_jv *v, const char *path,
                           struct writes *w)
{
    size_t n = f->multi ? gly_jv_len(v) : 1;
    if (n == 0 || !f->to)
        return 0;
    gly_str *ids = gly_alloc(q->req, n * sizeof *ids);
    if (!ids)
        return GLY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        ids[i] = gly_jv_str(f->multi ? gly_jv_at(v, i) : v);
        for (size_t k = 0; k < i; k++)
            if (ids[i].n == ids[k].n && memcmp(ids[i].p, ids[k].p, ids[i].n) == 0) {
                /* a multi relation holds each record once */
                gly_verrors_add(&w->errs, path, "duplicate", "lists a record twice");
                return 0;
            }
    }
    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(q->req), 0);
    gly_buf_printf(&sql, "-- name: relation_check\nSELECT count(*) AS n FROM \"%s\" WHERE \"id\" ",
                   f->to->name);
    struct flt fl = rec_flt(q, &sql, f->to, NULL);
    int rc;
    if (f->multi) {
        const char *list = rec_ids_json(gly_req_arena(q->req), ids, n);
        rc = list ? rec_in_ids(&fl, list) : GLY_ENOMEM;
    } else { /* one id: a plain lookup of the key, no JSON to unpack */
        gly_buf_puts(&sql, "= ");
        rc = flt_param(&fl, GLY_STRV(ids[0]));
    }
    gly_row *row;
    if (rc < 0 ||
        (rc = gly_db_one_row(q->req, &row, gly_buf_cstr(&sql), fl.params, fl.nparams)) < 0)
        return rc;
    if ((size_t)gly_row_i64(row, "n") != n)
        gly_verrors_add(&w->errs, path, "not_found", "names no record of %s", f->to->name);
    return 0;
}

/* Reads one member's value for field f into w. */
static int read_value(struct rq *q, const struct fld *f, const gly_jv *v, struct writes *w)
{
    const char *path = f->name;
    gly_json_type t = gly_jv_type(v);
    bool empty = t == GLY_JSON_NULL || (t == GLY_JSON_STRING && gly_jv_str(v).n == 0) ||
                 (t == GLY_JSON_ARRAY && gly_jv_len(v) == 0);
    if (f->required && empty && f->type != FLD_NUMBER && f->type != FLD_JSON) {
        gly_verrors_add(&w->errs, path, "required", "must not be empty");
        return 0;
    }
    if (f->type == FLD_JSON) {
        const char *text = t == GLY_JSON_NULL ? NULL : json_text(q->req, v);
        if (f->required && !text) {
            gly_verrors_add(&w->errs, path, "required", "must not be null");
            return 0;
        }
        if (text && strlen(text) > (f->has_max ? (size_t)f->max : 1 << 20))
            gly_verrors_add(&w->errs, path, "max_length", "is too large");
        put(w, f, GLY_TEXT(text));
        return 0;
    }
    if (f->multi) {
        if (t == GLY_JSON_NULL) {
            put(w, f, GLY_TEXT("[]"));
            return 0;
        }
        gly_field item = GLY_ITEM_STR();
        if (f->type == FLD_SELECT)
            item.enum_values = (const char *const *)f->values;
        gly_field g = GLY_FIELD_ARR(NULL, .items = &item);
        const char **vals = NULL;
        if (f->type == FLD_SELECT) { /* enum_values is NULL-terminated */
            vals = gly_alloc(q->req, (f->nvalues + 1) * sizeof *vals);
            if (!vals)
                return GLY_ENOMEM;
            memcpy(vals, f->values, f->nvalues * sizeof *vals);
            vals[f->nvalues] = NULL;
            item.enum_values = vals;
        }
        g.min_items = f->has_min ? (size_t)f->min : 0;
        g.max_items = f->has_max ? (size_t)f->max : 1000;
        size_t before = w->errs.count;
        int rc = gly_validate_value(&g, v, path, &w->errs);
        if (rc < 0)
            return rc;
        if (w->errs.count == before && f->type == FLD_RELATION &&
            (rc = relation_exists(q, f, v, path, w)) < 0)
            return rc;
        put(w, f, GLY_TEXT(json_text(q->req, v)));
        return 0;
    }
    /* empty, optional email, url, date: stored as "" */
    if (empty && t != GLY_JSON_NULL &&
        (f->type == FLD_EMAIL || f->type == FLD_URL || f->type == FLD_DATE ||
         f->type == FLD_SELECT)) {
        put(w, f, GLY_TEXT(""));
        return 0;
    }
    if (f->type == FLD_DATE) {
        char *d = gly_alloc(q->req, 25);
        if (!d)
            return GLY_ENOMEM;
        if (t != GLY_JSON_STRING || !parse_date(gly_jv_str(v), d)) {
            gly_verrors_add(&w->errs, path, "format",
                            "must be a date: YYYY-MM-DD or an RFC 3339 date-time");
            put(w, f, GLY_NULL);
        } else {
            put(w, f, GLY_TEXT(d));
        }
        return 0;
    }
    gly_field g = field_check(f);
    const char **vals = NULL;
    if (f->type == FLD_SELECT) {
        vals = gly_alloc(q->req, (f->nvalues + 1) * sizeof *vals);
        if (!vals)
            return GLY_ENOMEM;
        memcpy(vals, f->values, f->nvalues * sizeof *vals);
        vals[f->nvalues] = NULL;
        g.enum_values = vals;
    }
    size_t before = w->errs.count;
    int rc = gly_validate_value(&g, v, path, &w->errs);
    if (rc < 0)
        return rc;
    if (w->errs.count != before) {
        put(w, f, GLY_NULL);
        return 0;
    }
    switch (f->type) {
    case FLD_NUMBER:
        put(w, f, GLY_F64(gly_jv_double(v)));
        break;
    case FLD_BOOL:
        put(w, f, GLY_BOOL(gly_jv_bool(v)));
        break;
    case FLD_RELATION:
        if (empty) {
            put(w, f, GLY_NULL);
            break;
        }
        if ((rc = relation_exists(q, f, v, path, w)) < 0)
            return rc;
        put(w, f, GLY_STRV(gly_jv_str(v)));
        break;
    default:
        put(w, f, GLY_STRV(gly_jv_str(v)));
    }
    return 0;
}

/*
 * Reads a create's (create true) or an update's body into columns and
 * parameters after the first `reserved` ones, with every failing field in
 * w->errs. A create fills absent fields with their defaults; autodates are
 * set from q->now.
 */
static int read_body(struct rq *q, const gly_jv *body, bool create, unsigned reserved,
                     struct writes *w)
{
    gly_buf_init(&w->cols, NULL, 0, gly_req_arena(q->req), 0);
    gly_verrors_init(&w->errs, gly_req_arena(q->req));
    w->vals = gly_alloc(q->req, (q->c->nfields + reserved) * sizeof *w->vals);
    if (!w->vals)
        return GLY_ENOMEM;
    w->n = reserved;
    if (!create)
        put(w, &q->c->fields[2], GLY_TEXT(q->now)); /* updated */
    for (size_t i = 0; i < gly_jv_len(body); i++) {
        gly_str k = gly_jv_key_at(body, i);
        const struct fld *f = coll_field(q->c, k.p, k.n);
        if (!f || f->hidden) {
            char *name = gly_arena_strndup(gly_req_arena(q->req), k.p, k.n > 64 ? 64 : k.n);
            gly_verrors_add(&w->errs, name ? name : "", "unknown_field",
                            "is not a field of this collection");
        } else if (!fld_writable(f) && !(f->system && strcmp(f->name, "id") == 0 && create)) {
            gly_verrors_add(&w->errs, f->name, "read_only", "is set by the server");
        }
    }
    for (size_t i = 3; i < q->c->nfields; i++) {
        const struct fld *f = &q->c->fields[i];
        if (f->type == FLD_AUTODATE) {
            if (create ? f->on_create : f->on_update)
                put(w, f, GLY_TEXT(q->now));
            continue;
        }
        if (!fld_writable(f))
            continue;
        const gly_jv *v = gly_jv_get(body, f->name);
        gly_jv *def = NULL;
        if (!v && create && f->def &&
            gly_json_parse(gly_req_arena(q->req), f->def, strlen(f->def), NULL, &def, NULL) == 0)
            v = def;
        if (!v) {
            if (create && f->required)
                gly_verrors_add(&w->errs, f->name, "required", "is required");
            continue;
        }
        int rc = read_value(q, f, v, w);
        if (rc < 0)
            return rc;
    }
    return w->errs.err;
}

/*
 * Deletes record id of c after dealing with what relates to it: restrict
 * stops the delete (GLY_EFOREIGN, *blocker set), cascade deletes the
 * records of single relations and takes the id out of multi ones, set_null
 * empties single relations and takes it out of multi ones.
 */
static int delete_deep(struct rq *q, const struct coll *c, const char *id, int depth,
                       const char **blocker)
{
    if (depth > MAX_CASCADE)
        return REC_EDEEP;
    gly_req *req = q->req;
    const struct schema *s = q->s;
    bool pg = q->dialect == DIALECT_PG;
    for (size_t i = 0; i < s->ncolls; i++) {
        const struct coll *o = s->colls[i];
        for (size_t k = 0; k < o->nfields; k++) {
            const struct fld *f = &o->fields[k];
            if (f->type != FLD_RELATION || f->to != c)
                continue;
            char *sql;
            gly_arena *a = gly_req_arena(req);
            char *cond = !f->multi ? gly_arena_printf(a, "\"%s\" = $1", f->name)
                         : pg      ? gly_arena_printf(a, "\"%s\" ? $1", f->name)
                                   : gly_arena_printf(a,
                                                      "EXISTS (SELECT 1 FROM json_each(\"%s\") "
                                                           "WHERE value = $1)",
                                                      f->name);
            if (!cond)
                return GLY_ENOMEM;
            if (f->on_delete == DEL_RESTRICT) {
                gly_res *res;
                sql = gly_arena_printf(a,
                                       "-- name: records_restrict\nSELECT 1 AS x FROM \"%s\" "
                                       "WHERE %s LIMIT 1",
                                       o->name, cond);
                int rc = sql ? gly_db_all(req, &res, sql, GLY_TEXT(id)) : GLY_ENOMEM;
                if (rc < 0)
                    return rc;
                if (gly_res_count(res)) {
                    *blocker = gly_arena_printf(a, "%s.%s", o->name, f->name);
                    return GLY_EFOREIGN;
                }
            } else if (f->multi) {
                sql = pg ? gly_arena_printf(a,
                                            "-- name: records_unlink\nUPDATE \"%s\" SET \"%s\" "
                                            "= \"%s\" - $1::text WHERE %s",
                                            o->name, f->name, f->name, cond)
                         : gly_arena_printf(a,
                                            "-- name: records_unlink\nUPDATE \"%s\" SET \"%s\" "
                                            "= (SELECT json_group_array(value) FROM "
                                            "json_each(\"%s\") WHERE value <> $1) WHERE %s",
                                            o->name, f->name, f->name, cond);
                int64_t n = sql ? gly_db_exec(req, sql, GLY_TEXT(id)) : GLY_ENOMEM;
                if (n < 0)
                    return (int)n;
            } else if (f->on_delete == DEL_SET_NULL) {
                sql = gly_arena_printf(a,
                                       "-- name: records_unlink\nUPDATE \"%s\" SET \"%s\" = "
                                       "NULL WHERE %s",
                                       o->name, f->name, cond);
                int64_t n = sql ? gly_db_exec(req, sql, GLY_TEXT(id)) : GLY_ENOMEM;
                if (n < 0)
                    return (int)n;
            } else { /* cascade */
                gly_res *res;
                sql = gly_arena_printf(a,
                                       "-- name: records_cascade\nSELECT \"id\" FROM \"%s\" "
                                       "WHERE %s",
                                       o->name, cond);
                int rc = sql ? gly_db_all(req, &res, sql, GLY_TEXT(id)) : GLY_ENOMEM;
                if (rc < 0)
                    return rc;
                for (size_t r = 0; r < gly_res_count(res); r++) {
                    const char *child = gly_row_str(gly_res_row(res, r), "id").p;
                    if (o == c && strcmp(child, id) == 0)
                        continue; /* a record relating to itself */
                    if ((rc = delete_deep(q, o, child, depth + 1, blocker)) < 0)
                        return rc;
                }
            }
        }
    }
    char *sql =
        gly_arena_printf(gly_req_arena(req),
                         "-- name: records_delete\nDELETE FROM \"%s\" WHERE \"id\" = $1", c->name);
    int64_t n = sql ? gly_db_exec(req, sql, GLY_TEXT(id)) : GLY_ENOMEM;
    return n < 0 ? (int)n : 0;
}

/* ------------------------------------------------------------------------ */
/* Outcomes                                                                 */
/* ------------------------------------------------------------------------ */

/* What one write came to, before it is answered: a record, or a problem. */
struct outcome {
    int status;   /* 200, 201, 204, or the problem's 4xx */
    gly_row *row; /* the record written (200, 201) */
    const char *code, *detail;
    gly_verrors *errs; /* with a 422, or a 409 naming the field */
};

static int problem(struct outcome *o, int status, const char *code, const char *detail)
{
    *o = (struct outcome){.status = status, .code = code, .detail = detail};
    return REC_EPROBLEM;
}

/* A unique violation of the write: 409 naming the field. */
static int conflict(struct rq *q, struct outcome *o, gly_verrors *errs)
{
    const char *field = gly_db_error_field(q->req);
    gly_verrors_init(errs, gly_req_arena(q->req));
    gly_verrors_add(errs, field[0] ? field : "", "unique", "must be unique: another record has it");
    problem(o, 409, "conflict", "A record with that value exists.");
    o->errs = errs;
    return REC_EPROBLEM;
}

/* Answers o: the record, 204, or the problem. */
static int answer(struct rq *q, const struct outcome *o)
{
    gly_req *req = q->req;
    if (o->status == 422 && o->errs)
        return gly_problem_verrors(req, 422, o->errs);
    if (o->status >= 400 && o->errs)
        return gly_problem_errors(req, o->status, o->code, o->detail, o->errs);
    if (o->status >= 400)
        return gly_problem(req, o->status, o->code, o->detail);
    if (o->status == 204)
        return gly_send(req, 204, NULL, NULL, 0);
    return rec_send(q, o->status, o->row, NULL);
}

/* ------------------------------------------------------------------------ */
/* The operations (in a transaction, or alone)                              */
/* ------------------------------------------------------------------------ */

/* Creates a record of q->c from body (q->body). */
static int op_create(struct rq *q, const gly_jv *body, struct outcome *o)
{
    gly_req *req = q->req;
    if (q->c->system)
        return problem(o, 403, "forbidden", "Users are created through /api/v1/auth/register.");
    const char *rule;
    int pass = rec_rule(q, RULE_CREATE, &rule);
    if (pass < 0)
        return problem(o, 403, "forbidden", "Only superusers and admins may do this here.");
    struct writes *w = gly_alloc(req, sizeof *w);
    if (!w)
        return GLY_ENOMEM;
    int rc = read_body(q, body, true, 3, w);
    if (rc < 0)
        return rc;
    char *id = gly_alloc(req, REC_ID_LEN + 1);
    gly_str given = gly_jv_str(gly_jv_get(body, "id"));
    if (given.p && !rec_good_id(given))
        gly_verrors_add(&w->errs, "id", "pattern", "must be 15 characters of [a-z0-9]");
    if (w->errs.count || !id) {
        problem(o, 422, "validation-failed", NULL);
        o->errs = &w->errs;
        return id ? REC_EPROBLEM : GLY_ENOMEM;
    }
    if (given.p)
        memcpy(id, given.p, REC_ID_LEN), id[REC_ID_LEN] = 0;
    else
        gly__new_id(id);
    w->vals[0] = GLY_TEXT(id);
    w->vals[1] = GLY_TEXT(q->now);
    w->vals[2] = GLY_TEXT(q->now);

    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&sql,
                   "-- name: records_create\nINSERT INTO \"%s\" (\"id\", \"created\", "
                   "\"updated\"%s) VALUES ($1, $2, $3",
                   q->c->name, gly_buf_cstr(&w->cols));
    for (unsigned i = 3; i < w->n; i++)
        gly_buf_printf(&sql, ", $%u", i + 1);
    gly_buf_printf(&sql, ") RETURNING %s", rec_columns(req, q->c, NULL));
    rc = gly_db_one_row(req, &o->row, gly_buf_cstr(&sql), w->vals, w->n);
    if (rc == GLY_EUNIQUE)
        return conflict(q, o, &w->errs);
    if (rc < 0)
        return rc;
    if (pass == 0) { /* the rule, on the record as written */
        gly_buf chk;
        gly_buf_init(&chk, NULL, 0, gly_req_arena(req), 0);
        struct flt f = rec_flt(q, &chk, q->c, "r");
        gly_buf_printf(&chk,
                       "-- name: records_create_rule\nSELECT 1 AS ok FROM \"%s\" r WHERE "
                       "r.\"id\" = ",
                       q->c->name);
        if ((rc = flt_param(&f, GLY_TEXT(id))) < 0)
            return rc;
        gly_buf_puts(&chk, " AND ");
        if ((rc = flt_where(&f, rule, strlen(rule))) < 0)
            return rc == GLY_EINVAL ? GLY_EIO : rc;
        gly_res *res;
        if ((rc = gly_db_query(req, &res, gly_buf_cstr(&chk), f.params, f.nparams)) < 0)
            return rc;
        if (gly_res_count(res) == 0)
            return problem(o, 403, "forbidden", "The create rule does not allow this record.");
    }
    o->status = 201;
    return 0;
}

/*
 * The record an update or a delete acts on, read under the operation's
 * rule and checked against If-Match. 0 with *cur, or a problem (403, 404,
 * 412).
 */
static int target(struct rq *q, enum rule_op op, gly_str id, gly_str if_match, gly_row **cur,
                  struct outcome *o)
{
    const char *rule;
    int pass = rec_rule(q, op, &rule);
    if (pass < 0)
        return problem(o, 403, "forbidden", "Only superusers and admins may do this here.");
    if (!rec_good_id(id))
        return problem(o, 404, "not-found", "No record has that id.");
    struct flt f;
    gly_buf sql;
    const char *select = rec_one_query(q, op, pass ? NULL : rule, &f, &sql, id,
                                       op == RULE_UPDATE ? "update_get" : "delete_get");
    if (!select)
        return GLY_EIO;
    int rc = gly_db_one_row(q->req, cur, select, f.params, f.nparams);
    if (rc == GLY_ENOTFOUND)
        return problem(o, 404, "not-found", "No record has that id.");
    if (rc < 0 || !if_match.p)
        return rc;
    const char *etag = rec_etag(q->req, q->c, *cur);
    if (!etag)
        return GLY_ENOMEM;
    if (!rec_etag_listed(if_match, etag))
        return problem(o, 412, "precondition-failed",
                       "The record changed since you read it (If-Match).");
    return 0;
}

/* Changes record id of q->c with body's fields. */
static int op_update(struct rq *q, gly_str id, gly_str if_match, const gly_jv *body,
                     struct outcome *o)
{
    gly_req *req = q->req;
    struct writes *w = gly_alloc(req, sizeof *w);
    if (!w)
        return GLY_ENOMEM;
    int rc = read_body(q, body, false, 1, w);
    if (rc < 0)
        return rc;
    if (w->errs.count) {
        problem(o, 422, "validation-failed", NULL);
        o->errs = &w->errs;
        return REC_EPROBLEM;
    }
    gly_row *cur;
    if ((rc = target(q, RULE_UPDATE, id, if_match, &cur, o)) < 0)
        return rc;
    w->vals[0] = GLY_STRV(id);
    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&sql, "-- name: records_update\nUPDATE \"%s\" SET ", q->c->name);
    /* cols is ", \"a\", \"b\"": each becomes "a" = $k */
    const char *cols = gly_buf_cstr(&w->cols);
    unsigned k = 2;
    for (const char *p = cols; *p; k++) {
        p += 2; /* ", " */
        const char *e = strchr(p + 1, '"') + 1;
        gly_buf_printf(&sql, "%s%.*s = $%u", k > 2 ? ", " : "", (int)(e - p), p, k);
        p = e;
    }
    gly_buf_printf(&sql, " WHERE \"id\" = $1 RETURNING %s", rec_columns(req, q->c, NULL));
    rc = gly_db_one_row(req, &o->row, gly_buf_cstr(&sql), w->vals, w->n);
    if (rc == GLY_EUNIQUE)
        return conflict(q, o, &w->errs);
    if (rc < 0)
        return rc;
    o->status = 200;
    return 0;
}

/* Deletes record id of q->c and deals with what relates to it. */
static int op_delete(struct rq *q, gly_str id, gly_str if_match, struct outcome *o)
{
    if (q->c->system)
        return problem(o, 403, "forbidden",
                       "Users are deleted through /api/v1/users or by themselves.");
    gly_row *cur;
    int rc = target(q, RULE_DELETE, id, if_match, &cur, o);
    if (rc < 0)
        return rc;
    const char *blocker = NULL;
    rc = delete_deep(q, q->c, gly_row_str(cur, "id").p, 0, &blocker);
    if (rc == GLY_EFOREIGN)
        return problem(o, 409, "conflict",
                       gly_arena_printf(gly_req_arena(q->req),
                                        "Records of %s relate to it (restrict): delete them "
                                        "first.",
                                        blocker ? blocker : "another collection"));
    if (rc == REC_EDEEP)
        return problem(o, 409, "conflict", "The delete would cascade too deep.");
    if (rc < 0)
        return rc;
    o->status = 204;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Idempotency-Key                                                          */
/* ------------------------------------------------------------------------ */

/*
 * A POST with an Idempotency-Key header is done once: its answer is stored
 * (for IDEM_TTL_MS) in the same transaction as what it wrote, and the same
 * POST sent again with the same key gets that answer again, with
 * Idempotent-Replayed: true. The same key with another body or target is
 * 422. Keys belong to the user who sent them (anonymous ones to the client
 * address). A POST that fails stores nothing, so it may be sent again.
 */
struct idem {
    gly_str key; /* {NULL, 0}: no header */
    const char *scope;
    char hash[65]; /* of the method, the path and the body */
};

/* Reads the header; false after answering 400 for a bad key. */
static bool idem_read(struct rq *q, struct idem *id)
{
    gly_req *req = q->req;
    memset(id, 0, sizeof *id);
    gly_str key = gly_req_header(req, "Idempotency-Key");
    if (!key.p)
        return true;
    bool ok = key.n >= 1 && key.n <= IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < key.n; i++)
        ok = key.p[i] > 0x20 && key.p[i] < 0x7f;
    if (!ok) {
        gly_problem(req, 400, "bad-request", "Idempotency-Key: 1 to 255 visible ASCII characters.");
        return false;
    }
    id->key = key;
    const gly_auth_user *u = gly_auth(req);
    const char *ip = gly_req_client_ip(req);
    id->scope = u ? u->id : gly_arena_printf(gly_req_arena(req), "ip:%s", ip ? ip : "");
    gly_str path = gly_req_path(req), body = gly_req_body(req);
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)path.p, path.n);
    crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)body.p, body.n);
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(id->hash, sizeof id->hash, h, sizeof h);
    return id->scope != NULL;
}

/* In the transaction, first: claims the key; REC_EREPLAY when it is taken. */
static int idem_claim(struct rq *q, const struct idem *id)
{
    int64_t now = gly_wall_ms();
    if (randombytes_uniform(64) == 0) /* now and then, the expired keys go */
        gly_db_exec(q->req,
                    "-- name: idempotency_expire\nDELETE FROM galley_idempotency WHERE "
                    "created < $1",
                    GLY_I64(now - IDEM_TTL_MS));
    int64_t n = gly_db_exec(q->req,
                            "-- name: idempotency_claim\n"
                            "INSERT INTO galley_idempotency (scope, key, hash, status, created) "
                            "VALUES ($1, $2, $3, 0, $4) ON CONFLICT (scope, key) DO UPDATE SET "
                            "hash = excluded.hash, status = 0, location = '', etag = '', "
                            "body = '', created = excluded.created "
                            "WHERE galley_idempotency.created < $5",
                            GLY_TEXT(id->scope), GLY_STRV(id->key), GLY_TEXT(id->hash),
                            GLY_I64(now), GLY_I64(now - IDEM_TTL_MS));
    if (n < 0)
        return (int)n;
    return n == 1 ? 0 : REC_EREPLAY;
}

/* In the transaction, last: stores the answer (status, the body's text, headers). */
static int idem_store(struct rq *q, const struct idem *id, int status, const char *location,
                      const char *etag, const char *body)
{
    int64_t n = gly_db_exec(q->req,
                            "-- name: idempotency_store\n"
                            "UPDATE galley_idempotency SET status = $3, location = $4, etag = $5, "
                            "body = $6 WHERE scope = $1 AND key = $2",
                            GLY_TEXT(id->scope), GLY_STRV(id->key), GLY_I64(status),
                            GLY_TEXT(location ? location : ""), GLY_TEXT(etag ? etag : ""),
                            GLY_TEXT(body ? body : ""));
    return n < 0 ? (int)n : 0;
}

/* Answers a POST whose key was used before: the stored answer, 422, or 409. */
static int idem_replay(struct rq *q, const struct idem *id)
{
    gly_req *req = q->req;
    gly_row *row;
    int rc = gly_db_one(req, &row,
                        "-- name: idempotency_get\nSELECT hash, status, location, etag, body FROM "
                        "galley_idempotency WHERE scope = $1 AND key = $2",
                        GLY_TEXT(id->scope), GLY_STRV(id->key));
    if (rc == GLY_ENOTFOUND || (rc == 0 && gly_row_i64(row, "status") == 0))
        return gly_problem(req, 409, "conflict",
                           "A request with this Idempotency-Key is in progress.");
    if (rc < 0)
        return rc;
    if (strcmp(gly_row_str(row, "hash").p, id->hash) != 0)
        return gly_problem(req, 422, "idempotency-key-reused",
                           "This Idempotency-Key was used with another request.");
    gly_str loc = gly_row_str(row, "location"), etag = gly_row_str(row, "etag");
    gly_str body = gly_row_str(row, "body");
    if (loc.n)
        gly_set_header(req, "Location", loc.p);
    if (etag.n)
        gly_set_header(req, "ETag", etag.p);
    gly_set_header(req, "Idempotent-Replayed", "true");
    return gly_send(req, (int)gly_row_i64(row, "status"), "application/json", body.p, body.n);
}

/* The record's JSON, ETag and Location, for storing the answer of a create. */
static int record_answer(struct rq *q, const gly_row *row, const char **body, const char **etag,
                         const char **location)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(q->req), 0);
    gly_json_init(&j, &b);
    rec_record_json(&j, q->c, row, NULL, NULL);
    *etag = rec_etag(q->req, q->c, row);
    *location = gly_arena_printf(gly_req_arena(q->req), "/api/v1/collections/%s/records/%s",
                                 q->c->name, gly_row_str(row, "id").p);
    if (gly_json_finish(&j) < 0 || !*etag || !*location)
        return GLY_ENOMEM;
    *body = gly_buf_cstr(&b);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One record                                                               */
/* ------------------------------------------------------------------------ */

/* One write of a request. */
struct one {
    struct rq *q;
    int method; /* GLY_POST, GLY_PATCH, GLY_DELETE */
    gly_str id, if_match;
    const gly_jv *body;
    struct idem idem;
    struct outcome o;
};

static int run_one(struct one *w)
{
    memset(&w->o, 0, sizeof w->o);
    switch (w->method) {
    case GLY_POST:
        return op_create(w->q, w->body, &w->o);
    case GLY_PATCH:
        return op_update(w->q, w->id, w->if_match, w->body, &w->o);
    default:
        return op_delete(w->q, w->id, w->if_match, &w->o);
    }
}

static int one_tx(gly_req *req, void *arg)
{
    struct one *w = arg;
    int rc = w->idem.key.p ? idem_claim(w->q, &w->idem) : 0;
    if (rc == 0)
        rc = run_one(w);
    if (rc == 0 && w->idem.key.p) {
        const char *body, *etag, *location;
        if ((rc = record_answer(w->q, w->o.row, &body, &etag, &location)) == 0)
            rc = idem_store(w->q, &w->idem, w->o.status, location, etag, body);
    }
    (void)req;
    return rc;
}

/* Whether a create can skip the transaction: one INSERT is atomic by itself. */
static bool plain_create(const struct one *w)
{
    const char *rule;
    return w->method == GLY_POST && !w->idem.key.p && rec_rule(w->q, RULE_CREATE, &rule) == 1;
}

static int write_record(gly_req *req, int method)
{
    struct rq q;
    if (!rec_begin(req, &q))
        return 0;
    struct one w = {.q = &q,
                    .method = method,
                    .id = gly_req_param(req, "id"),
                    .if_match = gly_req_header(req, "If-Match")};
    if (method != GLY_DELETE) {
        gly_jv *body = gly_req_json(req);
        if (!body)
            return 0;
        if (gly_jv_type(body) != GLY_JSON_OBJECT)
            return gly_problem(req, 400, "bad-request", "The body must be a JSON object.");
        w.body = q.body = body;
    }
    if (method == GLY_POST && !idem_read(&q, &w.idem))
        return 0;
    int rc = plain_create(&w) ? run_one(&w) : gly_db_tx(req, one_tx, &w);
    if (rc == REC_EREPLAY)
        return idem_replay(&q, &w.idem);
    if (rc < 0 && rc != REC_EPROBLEM)
        return gly_db_fail(req, rc);
    return answer(&q, &w.o);
}

static int create_record(gly_req *req)
{
    return write_record(req, GLY_POST);
}

static int update_record(gly_req *req)
{
    return write_record(req, GLY_PATCH);
}

static int delete_record(gly_req *req)
{
    return write_record(req, GLY_DELETE);
}

/* ------------------------------------------------------------------------ */
/* Batch                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * POST /api/v1/batch {"requests": [{"method", "url", "body"?}, ...]}: up to
 * MAX_BATCH creates, updates and deletes of records, in one transaction.
 * Each runs as it would alone (rules, checks, If-Match as "if_match");
 * the first problem rolls all back and is the answer, with "index" naming
 * the operation. Otherwise 200 {"responses": [{"status", "body"?}, ...]}.
 */
struct batch {
    struct rq base;
    struct one *ops;
    size_t n;
    struct idem idem;
    size_t failed; /* the index of the operation whose problem is the answer */
    gly_buf out;   /* the answer's body */
};

/* Reads "/api/v1/collections/{name}/records[/{id}]" into name and id. */
static bool parse_url(gly_str url, gly_str *name, gly_str *id)
{
    static const char prefix[] = "/api/v1/collections/";
    size_t n = sizeof prefix - 1;
    if (url.n <= n || memcmp(url.p, prefix, n) != 0)
        return false;
    const char *p = url.p + n, *end = url.p + url.n;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || slash == p)
        return false;
    *name = (gly_str){p, (size_t)(slash - p)};
    p = slash + 1;
    if ((size_t)(end - p) < 7 || memcmp(p, "records", 7) != 0)
        return false;
    p += 7;
    *id = (gly_str){NULL, 0};
    if (p == end)
        return true;
    if (*p != '/' || p + 1 == end)
        return false;
    *id = (gly_str){p + 1, (size_t)(end - p - 1)};
    return memchr(id->p, '/', id->n) == NULL && memchr(id->p, '?', id->n) == NULL;
}

/* Reads the batch's operations; false after answering 400 naming the first bad one. */
static bool batch_read(struct batch *b, const gly_jv *doc)
{
    gly_req *req = b->base.req;
    const gly_jv *list = gly_jv_get(doc, "requests");
    b->n = gly_jv_len(list);
    if (gly_jv_type(list) != GLY_JSON_ARRAY || b->n == 0 || b->n > MAX_BATCH) {
        gly_problem(req, 400, "bad-request", "requests: an array of 1 to 100 operations");
        return false;
    }
    b->ops = gly_alloc(req, b->n * sizeof *b->ops);
    struct rq *qs = gly_alloc(req, b->n * sizeof *qs);
    if (!b->ops || !qs)
        return false;
    for (size_t i = 0; i < b->n; i++) {
        const gly_jv *op = gly_jv_at(list, i);
        gly_str method = gly_jv_str(gly_jv_get(op, "method"));
        gly_str url = gly_jv_str(gly_jv_get(op, "url")), name, id;
        const gly_jv *body = gly_jv_get(op, "body");
        int m = gly_str_eq(method, gly_str_c("POST"))     ? GLY_POST
                : gly_str_eq(method, gly_str_c("PATCH"))  ? GLY_PATCH
                : gly_str_eq(method, gly_str_c("DELETE")) ? GLY_DELETE
                                                          : 0;
        const char *why = NULL;
        if (!m)
            why = "method: POST, PATCH or DELETE";
        else if (!url.p || !parse_url(url, &name, &id) || (m == GLY_POST) != (id.p == NULL))
            why = "url: /api/v1/collections/{name}/records, with /{id} for PATCH and DELETE";
        else if (m != GLY_DELETE && gly_jv_type(body) != GLY_JSON_OBJECT)
            why = "body: a JSON object";
        qs[i] = b->base;
        if (!why && !(qs[i].c = schema_find(b->base.s, name.p, name.n)))
            why = "url: no collection has that name";
        if (why) {
            char *msg = gly_arena_printf(gly_req_arena(req), "requests[%zu].%s", i, why);
            gly_problem(req, 400, "bad-request", msg ? msg : why);
            return false;
        }
        qs[i].body = m == GLY_DELETE ? NULL : body;
        b->ops[i] = (struct one){.q = &qs[i],
                                 .method = m,
                                 .id = id,
                                 .body = qs[i].body,
                                 .if_match = gly_jv_str(gly_jv_get(op, "if_match"))};
    }
    return true;
}

static int batch_tx(gly_req *req, void *arg)
{
    struct batch *b = arg;
    int rc = b->idem.key.p ? idem_claim(&b->base, &b->idem) : 0;
    gly_json j;
    gly_buf_init(&b->out, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b->out);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "responses");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        struct one *w = &b->ops[i];
        if ((rc = run_one(w)) < 0) {
            b->failed = i;
            break;
        }
        gly_json_obj_begin(&j);
        gly_json_key(&j, "status");
        gly_json_i64(&j, w->o.status);
        if (w->o.row) {
            gly_json_key(&j, "body");
            rec_record_json(&j, w->q->c, w->o.row, NULL, NULL);
        }
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    if (rc == 0 && (rc = gly_json_finish(&j)) == 0 && b->idem.key.p)
        rc = idem_store(&b->base, &b->idem, 200, NULL, NULL, gly_buf_cstr(&b->out));
    return rc;
}

/* Answers the problem of operation i, its fields named requests[i].field. */
static int batch_problem(struct batch *b)
{
    gly_req *req = b->base.req;
    struct outcome *o = &b->ops[b->failed].o;
    size_t i = b->failed;
    if (o->errs)
        for (size_t k = 0; k < o->errs->count; k++)
            o->errs->items[k].field = gly_arena_printf(gly_req_arena(req), "requests[%zu].%s", i,
                                                       o->errs->items[k].field);
    gly_json j;
    gly_buf buf;
    char *detail = gly_arena_printf(gly_req_arena(req), "requests[%zu]: %s", i,
                                    o->detail ? o->detail : "invalid");
    int rc = gly_problem_begin(req, &j, &buf, o->status, o->code, detail ? detail : o->code);
    if (rc < 0)
        return rc;
    gly_json_key(&j, "index");
    gly_json_u64(&j, i);
    if (o->errs) {
        gly_json_key(&j, "errors");
        gly_json_arr_begin(&j);
        for (size_t k = 0; k < o->errs->count; k++) {
            gly_json_obj_begin(&j);
            gly_json_key(&j, "field");
            gly_json_str(&j, o->errs->items[k].field);
            gly_json_key(&j, "code");
            gly_json_str(&j, o->errs->items[k].code);
            gly_json_key(&j, "message");
            gly_json_str(&j, o->errs->items[k].message);
            gly_json_obj_end(&j);
        }
        gly_json_arr_end(&j);
    }
    return gly_problem_end(req, &j, o->status);
}

static int batch(gly_req *req)
{
    struct batch b = {0};
    if (!rec_start(req, &b.base))
        return 0;
    gly_jv *doc = gly_req_json(req);
    if (!doc)
        return 0;
    if (gly_jv_type(doc) != GLY_JSON_OBJECT)
        return gly_problem(req, 400, "bad-request", "The body must be a JSON object.");
    if (!batch_read(&b, doc) || !idem_read(&b.base, &b.idem))
        return 0;
    int rc = gly_db_tx(req, batch_tx, &b);
    if (rc == REC_EREPLAY)
        return idem_replay(&b.base, &b.idem);
    if (rc == REC_EPROBLEM)
        return batch_problem(&b);
    if (rc < 0)
        return gly_db_fail(req, rc);
    return gly_send_buf(req, 200, "application/json", &b.out);
}

/* ------------------------------------------------------------------------ */
/* Users deleted by the auth module                                         */
/* ------------------------------------------------------------------------ */

struct user_del {
    struct rq *q;
    const char *id;
};

static int user_delete_tx(gly_req *req, void *arg)
{
    struct user_del *u = arg;
    gly_row *row;
    const char *blocker;
    int rc = gly_db_one(req, &row, "SELECT id FROM users WHERE id = $1", GLY_TEXT(u->id));
    return rc < 0 ? rc : delete_deep(u->q, u->q->c, u->id, 0, &blocker);
}

int64_t rec_delete_user(gly_req *req, const char *id)
{
    struct rq q;
    if (!rec_start(req, &q) || !(q.c = schema_find(q.s, "users", 5)))
        return GLY_EUNAVAIL;
    q.admin = true;
    struct user_del u = {.q = &q, .id = id};
    int rc = gly_db_tx(req, user_delete_tx, &u);
    if (rc == GLY_ENOTFOUND)
        return 0;
    return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

int rec_write_init(gly_app *app)
{
    static const char *const tags[] = {"records", NULL};
    static const gly_route_def routes[] = {
        {"POST",
         "/api/v1/collections/:name/records",
         create_record,
         {.summary = "Create a record (Idempotency-Key)",
          .tags = tags,
          .operation_id = "createRecord",
          .status = 201}},
        {"PATCH",
         "/api/v1/collections/:name/records/:id",
         update_record,
         {.summary = "Change a record's fields (If-Match)",
          .tags = tags,
          .operation_id = "updateRecord"}},
        {"DELETE",
         "/api/v1/collections/:name/records/:id",
         delete_record,
         {.summary = "Delete a record (If-Match)",
          .tags = tags,
          .operation_id = "deleteRecord",
          .status = 204}},
        {"POST",
         "/api/v1/batch",
         batch,
         {.summary = "Up to 100 creates, updates and deletes of records in one transaction "
                     "(Idempotency-Key)",
          .tags = tags,
          .operation_id = "batchRecords"}},
    };
    return gly_routes(app, routes, sizeof routes / sizeof routes[0]);
}
