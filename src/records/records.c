/*
 * src/records/records.c - /api/v1/collections/{name}/records: the REST API
 * over every collection.
 *
 *   GET    .../records          a page: filter, sort, page/per_page, after, fields
 *   POST   .../records          201 + Location
 *   GET    .../records/{id}     ETag; If-None-Match gives 304
 *   PATCH  .../records/{id}     If-Match gives 412 when the record changed
 *   DELETE .../records/{id}     204; relations to it cascade, restrict or go null
 *
 * Access: each operation has the collection's rule (schema.h). Superusers
 * and admins (records:admin) pass every rule; a null rule lets no one else
 * (403); any other rule becomes part of the SQL: a list shows only the rows
 * it matches, a view, update or delete of a row it does not match is 404,
 * and a create whose new record it does not match is rolled back with 403.
 *
 * A record's ETag is a hash of its JSON: it changes exactly when what a
 * client sees changes, even twice within a millisecond.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <galley/jwt.h>

#include "auth/internal.h"
#include "records/internal.h"

#define PER_PAGE     30
#define MAX_PER_PAGE 500
#define MAX_CASCADE  16 /* relations a delete may follow */

/* Starts rq from the path's collection; false after answering (404, 503). */
static bool begin(gly_req *req, struct rq *q)
{
    memset(q, 0, sizeof *q);
    q->req = req;
    if (!(q->s = rec_schema(req)))
        return false;
    gly_str name = gly_req_param(req, "name");
    if (!(q->c = schema_find(q->s, name.p, name.n))) {
        gly_problem(req, 404, "not-found", "No collection has that name.");
        return false;
    }
    q->dialect = strcmp(gly_db_backend(gly_app_db(gly_req_app(req))), "postgres") == 0
                     ? DIALECT_PG
                     : DIALECT_SQLITE;
    q->admin = gly_auth_can(req, "records:admin");
    const struct auth_ctx *ctx = gly_auth(req) ? gly_req_slot(req, GLY_SLOT_AUTH) : NULL;
    q->auth = ctx ? ctx->row : NULL;
    gly__iso_now(q->now);
    return true;
}

/* A compilation on q's collection writing into sql. */
static struct flt flt_on(struct rq *q, gly_buf *sql, const struct coll *c, const char *alias)
{
    return (struct flt){.arena = gly_req_arena(q->req),
                        .schema = q->s,
                        .coll = c,
                        .alias = alias,
                        .dialect = q->dialect,
                        .auth = q->auth,
                        .body = q->body,
                        .now = q->now,
                        .sql = sql};
}

/*
 * The rule of op for this request: 1 when it passes with no condition
 * (admins, "" rules), 0 with the rule's text in *rule, or -1 after
 * answering 403 (a null rule).
 */
static int rule_of(struct rq *q, enum rule_op op, const char **rule)
{
    *rule = q->c->rules[op];
    if (q->admin || (*rule && !**rule))
        return 1;
    if (!*rule) {
        gly_problem(q->req, 403, "forbidden", "Only superusers and admins may do this here.");
        return -1;
    }
    return 0;
}

/* Answers 400 for a filter (or sort, or rule) that does not compile. */
static int bad_filter(gly_req *req, const char *param, const struct flt *f)
{
    gly_json j;
    gly_buf b;
    char *detail = gly_arena_printf(gly_req_arena(req), "%s: %s at position %zu", param,
                                    f->err_msg ? f->err_msg : "invalid", f->err_pos);
    int rc = gly_problem_begin(req, &j, &b, 400, "bad-filter", detail ? detail : param);
    if (rc < 0)
        return rc;
    gly_json_key(&j, "parameter");
    gly_json_str(&j, param);
    gly_json_key(&j, "position");
    gly_json_u64(&j, f->err_pos);
    return gly_problem_end(req, &j, 400);
}

/* ------------------------------------------------------------------------ */
/* Records as JSON                                                          */
/* ------------------------------------------------------------------------ */

const char *rec_columns(gly_req *req, const struct coll *c, const char *alias)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    bool first = true;
    for (size_t i = 0; i < c->nfields; i++) {
        if (c->fields[i].hidden)
            continue;
        gly_buf_printf(&b, "%s%s%s\"%s\"", first ? "" : ", ", alias ? alias : "", alias ? "." : "",
                       c->fields[i].name);
        first = false;
    }
    return gly_buf_cstr(&b);
}

static void value_json(gly_json *j, const struct fld *f, const gly_db_val *v)
{
    if (!v || v->type == GLY_DB_NULL) {
        if (f->multi)
            gly_json_raw(j, "[]", 2);
        else if (f->type == FLD_RELATION)
            gly_json_str(j, "");
        else
            gly_json_null(j);
        return;
    }
    switch (f->type) {
    case FLD_NUMBER:
        if (v->type == GLY_DB_INT)
            gly_json_i64(j, v->v.i);
        else if (v->type == GLY_DB_REAL)
            gly_json_double(j, v->v.d);
        else
            gly_json_double(j, strtod(v->v.s.p, NULL));
        return;
    case FLD_BOOL:
        gly_json_bool(j, v->type == GLY_DB_INT ? v->v.i != 0 : v->v.s.n && v->v.s.p[0] != '0');
        return;
    default:
        if (fld_is_json(f))
            gly_json_raw(j, v->v.s.p, v->v.s.n); /* stored by us: valid JSON */
        else
            gly_json_strn(j, v->v.s.p, v->v.s.n);
    }
}

void rec_record_json(gly_json *j, const struct coll *c, const gly_row *row, const bool *show,
                     const struct expand *x)
{
    gly_json_obj_begin(j);
    unsigned col = 0;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct fld *f = &c->fields[i];
        if (f->hidden)
            continue;
        if (!show || show[i]) {
            gly_json_key(j, f->name);
            value_json(j, f, gly_row_at(row, col));
        }
        col++;
    }
    if (x)
        rec_expand_json(j, x, row);
    gly_json_obj_end(j);
}

/* The record's JSON text (for ETags) and its strong ETag. */
static const char *record_etag(gly_req *req, const struct coll *c, const gly_row *row)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    rec_record_json(&j, c, row, NULL, NULL);
    if (gly_json_finish(&j) < 0)
        return NULL;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < b.len; i++)
        h = (h ^ (unsigned char)b.p[i]) * 0x100000001b3ull;
    return gly_arena_printf(gly_req_arena(req), "\"%016llx\"", (unsigned long long)h);
}

static int send_record(struct rq *q, int status, const gly_row *row, const struct expand *x)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(q->req), 0);
    gly_json_init(&j, &b);
    rec_record_json(&j, q->c, row, NULL, x);
    const char *etag = record_etag(q->req, q->c, row);
    if (gly_json_finish(&j) < 0 || !etag)
        return GLY_ENOMEM;
    gly_set_header(q->req, "ETag", etag);
    if (status == 201)
        gly_set_headerf(q->req, "Location", "/api/v1/collections/%s/records/%s", q->c->name,
                        gly_row_str(row, "id").p);
    return gly_send_buf(q->req, status, "application/json", &b);
}

/* Whether an If-Match or If-None-Match list holds etag ("*" holds any). */
static bool etag_listed(gly_str list, const char *etag)
{
    size_t n = strlen(etag);
    for (size_t i = 0; i < list.n;) {
        while (i < list.n && (list.p[i] == ' ' || list.p[i] == ',' || list.p[i] == '\t'))
            i++;
        size_t k = i;
        while (k < list.n && list.p[k] != ',')
            k++;
        size_t e = k;
        while (e > i && (list.p[e - 1] == ' ' || list.p[e - 1] == '\t'))
            e--;
        gly_str t = {list.p + i, e - i};
        if (t.n >= 2 && t.p[0] == 'W' && t.p[1] == '/') /* weak: compared weakly */
            t.p += 2, t.n -= 2;
        if ((t.n == 1 && t.p[0] == '*') || (t.n == n && memcmp(t.p, etag, n) == 0))
            return true;
        i = k + 1;
    }
    return false;
}

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

int rec_in_ids(struct flt *f, const char *list)
{
    bool pg = f->dialect == FLT_PG;
    gly_buf_puts(f->sql,
                 pg ? "IN (SELECT jsonb_array_elements_text(" : "IN (SELECT value FROM json_each(");
    int rc = flt_param(f, GLY_TEXT(list));
    return rc < 0 ? rc : gly_buf_puts(f->sql, pg ? "::jsonb))" : "))");
}

const char *rec_ids_json(gly_arena *a, const gly_str *ids, size_t n)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, a, 0);
    gly_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            gly_buf_putc(&b, ',');
        gly_buf_json_str(&b, ids[i].p, ids[i].n);
    }
    gly_buf_putc(&b, ']');
    return b.err ? NULL : gly_buf_cstr(&b);
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
    struct flt fl = flt_on(q, &sql, f->to, NULL);
    const char *list = rec_ids_json(gly_req_arena(q->req), ids, n);
    int rc = list ? rec_in_ids(&fl, list) : GLY_ENOMEM;
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
        if (t != GLY_JSON_STRING || !parse_date(gly_jv_str(v), d))
            gly_verrors_add(&w->errs, path, "format",
                            "must be a date: YYYY-MM-DD or an RFC 3339 date-time");
        put(w, f, GLY_TEXT(d));
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
 * Reads the request's body, a JSON object, into q->body and w (as
 * read_body()). Returns 0, 1 after answering (400, 415), or an error.
 */
static int take_body(struct rq *q, bool create, unsigned reserved, struct writes *w)
{
    gly_jv *body = gly_req_json(q->req);
    if (!body)
        return 1;
    if (gly_jv_type(body) != GLY_JSON_OBJECT) {
        gly_problem(q->req, 400, "bad-request", "The body must be a JSON object.");
        return 1;
    }
    q->body = body;
    return read_body(q, body, create, reserved, w);
}

/* ------------------------------------------------------------------------ */
/* Create                                                                   */
/* ------------------------------------------------------------------------ */

struct create {
    struct rq *q;
    const char *sql;   /* the INSERT */
    const char *check; /* the create rule's query, or NULL */
    struct writes *w;
    gly_db_val *check_args;
    unsigned ncheck;
    gly_row *row; /* out */
};

static int create_tx(gly_req *req, void *arg)
{
    struct create *cr = arg;
    int rc = gly_db_one_row(req, &cr->row, cr->sql, cr->w->vals, cr->w->n);
    if (rc < 0 || !cr->check)
        return rc;
    gly_res *res;
    rc = gly_db_query(req, &res, cr->check, cr->check_args, cr->ncheck);
    if (rc < 0)
        return rc;
    return gly_res_count(res) ? 0 : GLY_EACCES;
}

static bool good_id(gly_str id)
{
    if (id.n != REC_ID_LEN)
        return false;
    for (size_t i = 0; i < id.n; i++)
        if (!((id.p[i] >= 'a' && id.p[i] <= 'z') || (id.p[i] >= '0' && id.p[i] <= '9')))
            return false;
    return true;
}

static int create_record(gly_req *req)
{
    struct rq q;
    if (!begin(req, &q))
        return 0;
    if (q.c->system)
        return gly_problem(req, 403, "forbidden",
                           "Users are created through /api/v1/auth/register.");
    const char *rule;
    int pass = rule_of(&q, RULE_CREATE, &rule);
    if (pass < 0)
        return 0;
    struct writes w;
    int rc = take_body(&q, true, 3, &w);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    const gly_jv *body = q.body;
    char id[16];
    gly_str given = gly_jv_str(gly_jv_get(body, "id"));
    if (given.p && !good_id(given))
        gly_verrors_add(&w.errs, "id", "pattern", "must be 15 characters of [a-z0-9]");
    if (w.errs.count)
        return gly_problem_verrors(req, 422, &w.errs);
    if (given.p)
        memcpy(id, given.p, REC_ID_LEN), id[REC_ID_LEN] = 0;
    else
        gly__new_id(id);
    w.vals[0] = GLY_TEXT(id);
    w.vals[1] = GLY_TEXT(q.now);
    w.vals[2] = GLY_TEXT(q.now);

    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&sql,
                   "-- name: records_create\nINSERT INTO \"%s\" (\"id\", \"created\", "
                   "\"updated\"%s) VALUES ($1, $2, $3",
                   q.c->name, gly_buf_cstr(&w.cols));
    for (unsigned i = 3; i < w.n; i++)
        gly_buf_printf(&sql, ", $%u", i + 1);
    gly_buf_printf(&sql, ") RETURNING %s", rec_columns(req, q.c, NULL));

    struct create cr = {.q = &q, .sql = gly_buf_cstr(&sql), .w = &w};
    if (pass == 0) {
        gly_buf chk;
        gly_buf_init(&chk, NULL, 0, gly_req_arena(req), 0);
        struct flt f = flt_on(&q, &chk, q.c, "r");
        gly_buf_printf(&chk,
                       "-- name: records_create_rule\nSELECT 1 AS ok FROM \"%s\" r WHERE "
                       "r.\"id\" = ",
                       q.c->name);
        if (flt_param(&f, GLY_TEXT(id)) < 0)
            return GLY_ENOMEM;
        gly_buf_puts(&chk, " AND ");
        if ((rc = flt_where(&f, rule, strlen(rule))) == GLY_EINVAL)
            return bad_filter(req, "rules.create", &f);
        if (rc < 0)
            return rc;
        cr.check = gly_buf_cstr(&chk);
        cr.check_args = f.params;
        cr.ncheck = f.nparams;
    }
    rc = gly_db_tx(req, create_tx, &cr);
    if (rc == GLY_EACCES)
        return gly_problem(req, 403, "forbidden", "The create rule does not allow this record.");
    if (rc < 0)
        return gly_db_fail(req, rc);
    return send_record(&q, 201, cr.row, NULL);
}

/* ------------------------------------------------------------------------ */
/* View                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Appends "SELECT <columns> FROM t r WHERE r.id = $1 [AND (rule)]" for the
 * path's record; NULL after answering (400 for a rule that does not
 * compile: the definition changed since it was checked? never, but said).
 */
static const char *one_query(struct rq *q, enum rule_op op, const char *rule, struct flt *f,
                             gly_buf *sql, gly_str id, const char *what)
{
    gly_buf_init(sql, NULL, 0, gly_req_arena(q->req), 0);
    *f = flt_on(q, sql, q->c, "r");
    gly_buf_printf(sql, "-- name: records_%s\nSELECT %s FROM \"%s\" r WHERE r.\"id\" = ", what,
                   rec_columns(q->req, q->c, "r"), q->c->name);
    if (flt_param(f, GLY_STRV(id)) < 0)
        return NULL;
    if (rule) {
        gly_buf_puts(sql, " AND ");
        if (flt_where(f, rule, strlen(rule)) < 0) {
            gly_log_error("records: the %s rule of %s does not compile: %s", what, q->c->name,
                          f->err_msg ? f->err_msg : "out of memory");
            return NULL;
        }
    }
    (void)op;
    return gly_buf_cstr(sql);
}

static int view_record(gly_req *req)
{
    struct rq q;
    if (!begin(req, &q))
        return 0;
    const char *rule;
    int pass = rule_of(&q, RULE_VIEW, &rule);
    if (pass < 0)
        return 0;
    gly_str id = gly_req_param(req, "id");
    if (!good_id(id))
        return gly_problem(req, 404, "not-found", "No record has that id.");
    struct flt f;
    gly_buf sql;
    const char *text = one_query(&q, RULE_VIEW, pass ? NULL : rule, &f, &sql, id, "view");
    if (!text)
        return GLY_ENOMEM;
    gly_row *row;
    int rc = gly_db_one_row(req, &row, text, f.params, f.nparams);
    if (rc == GLY_ENOTFOUND)
        return gly_problem(req, 404, "not-found", "No record has that id.");
    if (rc < 0)
        return rc;
    const char *etag = record_etag(req, q.c, row);
    gly_str inm = gly_req_header(req, "If-None-Match");
    if (etag && inm.p && etag_listed(inm, etag)) {
        gly_set_header(req, "ETag", etag);
        return gly_send(req, 304, NULL, NULL, 0);
    }
    struct expand *x;
    const char *why;
    gly_str spec = gly_req_query_param(req, "expand");
    if ((rc = rec_expand_parse(&q, spec, &x, &why)) == GLY_EINVAL)
        return gly_problem(req, 400, "bad-request", why);
    if (rc < 0 || (x && (rc = rec_expand_load(&q, x, &row, 1)) < 0))
        return rc;
    return send_record(&q, 200, row, x);
}

/* ------------------------------------------------------------------------ */
/* Update                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The record an update or a delete acts on: the path's id, the query that
 * reads it under the operation's rule, and the client's If-Match.
 */
struct target {
    struct rq *q;
    gly_str id;
    const char *select;
    gly_db_val *args;
    unsigned nargs;
    gly_str if_match;
};

/* Sets t up for op; false after answering (403 for a null rule, 404 for a malformed id). */
static bool target_init(struct rq *q, enum rule_op op, struct target *t, const char *what)
{
    const char *rule;
    int pass = rule_of(q, op, &rule);
    if (pass < 0)
        return false;
    *t = (struct target){
        .q = q, .id = gly_req_param(q->req, "id"), .if_match = gly_req_header(q->req, "If-Match")};
    if (!good_id(t->id)) {
        gly_problem(q->req, 404, "not-found", "No record has that id.");
        return false;
    }
    struct flt f;
    gly_buf sel;
    if (!(t->select = one_query(q, op, pass ? NULL : rule, &f, &sel, t->id, what))) {
        gly_problem(q->req, 500, "internal", "The rule of this collection does not compile.");
        return false;
    }
    t->args = f.params;
    t->nargs = f.nparams;
    return true;
}

/* In the transaction: the record as it is, GLY_ENOTFOUND, or REC_EMISMATCH for If-Match. */
static int target_read(gly_req *req, const struct target *t, gly_row **cur)
{
    int rc = gly_db_one_row(req, cur, t->select, t->args, t->nargs);
    if (rc < 0 || !t->if_match.p)
        return rc;
    const char *etag = record_etag(req, t->q->c, *cur);
    if (!etag)
        return GLY_ENOMEM;
    return etag_listed(t->if_match, etag) ? 0 : REC_EMISMATCH;
}

/* Answers the failure of an update's or a delete's transaction. */
static int target_fail(gly_req *req, int rc)
{
    if (rc == GLY_ENOTFOUND)
        return gly_problem(req, 404, "not-found", "No record has that id.");
    if (rc == REC_EMISMATCH)
        return gly_problem(req, 412, "precondition-failed",
                           "The record changed since you read it (If-Match).");
    return gly_db_fail(req, rc);
}

struct update {
    struct target t;
    const char *sql; /* the UPDATE */
    struct writes *w;
    gly_row *row; /* out */
};

static int update_tx(gly_req *req, void *arg)
{
    struct update *up = arg;
    gly_row *cur;
    int rc = target_read(req, &up->t, &cur);
    return rc < 0 ? rc : gly_db_one_row(req, &up->row, up->sql, up->w->vals, up->w->n);
}

static int update_record(gly_req *req)
{
    struct rq q;
    struct update up;
    if (!begin(req, &q) || !target_init(&q, RULE_UPDATE, &up.t, "update_get"))
        return 0;
    struct writes w;
    int rc = take_body(&q, false, 1, &w);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (w.errs.count)
        return gly_problem_verrors(req, 422, &w.errs);
    w.vals[0] = GLY_STRV(up.t.id);
    up.w = &w;

    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&sql, "-- name: records_update\nUPDATE \"%s\" SET ", q.c->name);
    /* cols is ", \"a\", \"b\"": each becomes "a" = $k */
    const char *cols = gly_buf_cstr(&w.cols);
    unsigned k = 2;
    for (const char *p = cols; *p; k++) {
        p += 2; /* ", " */
        const char *e = strchr(p + 1, '"') + 1;
        gly_buf_printf(&sql, "%s%.*s = $%u", k > 2 ? ", " : "", (int)(e - p), p, k);
        p = e;
    }
    gly_buf_printf(&sql, " WHERE \"id\" = $1 RETURNING %s", rec_columns(req, q.c, NULL));
    up.sql = gly_buf_cstr(&sql);
    rc = gly_db_tx(req, update_tx, &up);
    return rc < 0 ? target_fail(req, rc) : send_record(&q, 200, up.row, NULL);
}

/* ------------------------------------------------------------------------ */
/* Delete                                                                   */
/* ------------------------------------------------------------------------ */

struct del {
    struct target t;
    struct rq *q;
    const char *blocker; /* a restrict relation that holds the record: "posts.author" */
};

/*
 * Deletes record id of c after dealing with what relates to it: restrict
 * stops the delete (GLY_EFOREIGN, d->blocker set), cascade deletes the
 * records of single relations and takes the id out of multi ones, set_null
 * empties single relations and takes it out of multi ones.
 */
static int delete_deep(gly_req *req, struct del *d, const struct coll *c, const char *id, int depth)
{
    if (depth > MAX_CASCADE)
        return REC_EDEEP;
    const struct schema *s = d->q->s;
    bool pg = d->q->dialect == DIALECT_PG;
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
                    d->blocker = gly_arena_printf(a, "%s.%s", o->name, f->name);
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
                    if ((rc = delete_deep(req, d, o, child, depth + 1)) < 0)
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

static int delete_tx(gly_req *req, void *arg)
{
    struct del *d = arg;
    gly_row *cur;
    int rc = target_read(req, &d->t, &cur);
    return rc < 0 ? rc : delete_deep(req, d, d->q->c, gly_row_str(cur, "id").p, 0);
}

static int delete_record(gly_req *req)
{
    struct rq q;
    if (!begin(req, &q))
        return 0;
    if (q.c->system)
        return gly_problem(req, 403, "forbidden",
                           "Users are deleted through /api/v1/users or by themselves.");
    struct del d = {.q = &q};
    if (!target_init(&q, RULE_DELETE, &d.t, "delete_get"))
        return 0;
    int rc = gly_db_tx(req, delete_tx, &d);
    if (rc == GLY_EFOREIGN) {
        char *msg = gly_arena_printf(gly_req_arena(req),
                                     "Records of %s relate to it (restrict): delete them first.",
                                     d.blocker ? d.blocker : "another collection");
        return gly_problem(req, 409, "conflict", msg ? msg : "Other records relate to it.");
    }
    if (rc == REC_EDEEP)
        return gly_problem(req, 409, "conflict", "The delete would cascade too deep.");
    return rc < 0 ? target_fail(req, rc) : gly_send(req, 204, NULL, NULL, 0);
}

/* The user delete of the auth module: what relates to the user follows its rules. */
struct user_del {
    struct del d;
    const char *id;
};

static int user_delete_tx(gly_req *req, void *arg)
{
    struct user_del *u = arg;
    gly_row *row;
    int rc = gly_db_one(req, &row, "SELECT id FROM users WHERE id = $1", GLY_TEXT(u->id));
    return rc < 0 ? rc : delete_deep(req, &u->d, u->d.q->c, u->id, 0);
}

int64_t rec_delete_user(gly_req *req, const char *id)
{
    struct rq q = {.req = req, .admin = true};
    if (!(q.s = rec_schema(req)) || !(q.c = schema_find(q.s, "users", 5)))
        return GLY_EUNAVAIL;
    q.dialect = strcmp(gly_db_backend(gly_app_db(gly_req_app(req))), "postgres") == 0
                    ? DIALECT_PG
                    : DIALECT_SQLITE;
    struct user_del u = {.d = {.q = &q}, .id = id};
    int rc = gly_db_tx(req, user_delete_tx, &u);
    if (rc == GLY_ENOTFOUND)
        return 0;
    return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------------------ */
/* List                                                                     */
/* ------------------------------------------------------------------------ */

/* A positive integer query parameter, def when absent; -1 after answering 400. */
static int64_t int_param(gly_req *req, const char *name, int64_t def, int64_t min, int64_t max)
{
    gly_str s = gly_req_query_param(req, name);
    if (!s.p)
        return def;
    int64_t v = 0;
    bool ok = s.n > 0 && s.n <= 18;
    for (size_t i = 0; ok && i < s.n; i++) {
        ok = s.p[i] >= '0' && s.p[i] <= '9';
        v = v * 10 + (s.p[i] - '0');
    }
    if (!ok || v < min || v > max) {
        char *msg = gly_arena_printf(gly_req_arena(req),
                                     "query.%s must be an integer from %lld "
                                     "to %lld",
                                     name, (long long)min, (long long)max);
        gly_problem(req, 400, "bad-request", msg ? msg : "bad query parameter");
        return -1;
    }
    return v;
}

/*
 * fields=a,b: the fields a list or view shows (NULL: all); false after
 * answering 400 for an unknown name.
 */
static bool read_fields(struct rq *q, bool **out)
{
    *out = NULL;
    gly_str s = gly_req_query_param(q->req, "fields");
    if (!s.p || s.n == 0)
        return true;
    bool *show = gly_alloc(q->req, q->c->nfields * sizeof *show);
    if (!show)
        return false;
    memset(show, 0, q->c->nfields * sizeof *show);
    for (size_t i = 0; i <= s.n;) {
        size_t k = i;
        while (k < s.n && s.p[k] != ',')
            k++;
        size_t b = i, e = k;
        while (b < e && s.p[b] == ' ')
            b++;
        while (e > b && s.p[e - 1] == ' ')
            e--;
        const struct fld *f = coll_field(q->c, s.p + b, e - b);
        if (!f || f->hidden) {
            char *msg = gly_arena_printf(gly_req_arena(q->req), "fields: no field \"%.*s\"",
                                         (int)(e - b > 64 ? 64 : e - b), s.p + b);
            gly_problem(q->req, 400, "bad-request", msg ? msg : "fields: unknown field");
            return false;
        }
        show[f - q->c->fields] = true;
        i = k + 1;
    }
    *out = show;
    return true;
}

/* The cursor of a row: base64url of the JSON array of its sort keys' values. */
static const char *cursor_of(struct rq *q, const struct flt_sort *sort, const gly_row *row)
{
    gly_buf b, out;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(q->req), 0);
    gly_buf_init(&out, NULL, 0, gly_req_arena(q->req), 0);
    gly_json_init(&j, &b);
    gly_json_arr_begin(&j);
    for (unsigned i = 0; i < sort->n; i++) {
        const struct fld *f = sort->keys[i].field;
        int col = gly_row_index(row, f->name);
        const gly_db_val *v = col >= 0 ? gly_row_at(row, (unsigned)col) : NULL;
        if (!v || v->type == GLY_DB_NULL)
            gly_json_null(&j);
        else if (v->type == GLY_DB_INT)
            gly_json_i64(&j, v->v.i);
        else if (v->type == GLY_DB_REAL)
            gly_json_double(&j, v->v.d);
        else
            gly_json_strn(&j, v->v.s.p, v->v.s.n);
    }
    gly_json_arr_end(&j);
    if (gly_json_finish(&j) < 0 || gly_b64url_encode(&out, b.p, b.len) < 0)
        return NULL;
    return gly_buf_cstr(&out);
}

/* Reads after=<cursor> into values for sort's keys; false after answering 400. */
static bool read_cursor(struct rq *q, gly_str s, const struct flt_sort *sort, gly_db_val **out)
{
    size_t cap = s.n, n = 0;
    unsigned char *raw = gly_alloc(q->req, cap + 1);
    gly_jv *doc = NULL;
    bool ok = raw && s.n <= 8192 && gly_b64url_decode(s.p, s.n, raw, cap, &n) == 0 &&
              gly_json_parse(gly_req_arena(q->req), (const char *)raw, n, NULL, &doc, NULL) == 0 &&
              gly_jv_type(doc) == GLY_JSON_ARRAY && gly_jv_len(doc) == sort->n;
    for (unsigned i = 0; ok && i < sort->n; i++)
        ok = sort->keys[i].field != NULL; /* @random has no place to go on from */
    gly_db_val *vals = ok ? gly_alloc(q->req, sort->n * sizeof *vals) : NULL;
    for (unsigned i = 0; vals && i < sort->n; i++) {
        const gly_jv *v = gly_jv_at(doc, i);
        const struct fld *f = sort->keys[i].field;
        switch (gly_jv_type(v)) {
        case GLY_JSON_NULL:
            vals[i] = GLY_NULL;
            break;
        case GLY_JSON_NUMBER:
            if (f->type == FLD_BOOL) {
                int64_t x = 0;
                gly_jv_i64(v, &x);
                vals[i] = GLY_I64(x);
            } else if (f->type == FLD_NUMBER)
                vals[i] = GLY_F64(gly_jv_double(v));
            else
                ok = false;
            break;
        case GLY_JSON_STRING:
            if (f->type == FLD_NUMBER || f->type == FLD_BOOL)
                ok = false;
            vals[i] = GLY_STRV(gly_jv_str(v));
            break;
        default:
            ok = false;
        }
    }
    if (!ok || !vals) {
        gly_problem(q->req, 400, "bad-request",
                    "after: not a cursor of this list (take next from a page with the same sort)");
        return false;
    }
    *out = vals;
    return true;
}

static int list_records(gly_req *req)
{
    struct rq q;
    if (!begin(req, &q))
        return 0;
    const char *rule;
    int pass = rule_of(&q, RULE_LIST, &rule);
    if (pass < 0)
        return 0;
    int64_t page = int_param(req, "page", 1, 1, 1000000000);
    int64_t per = page < 0 ? -1 : int_param(req, "per_page", PER_PAGE, 1, MAX_PER_PAGE);
    int64_t skip_total = per < 0 ? -1 : int_param(req, "skip_total", 0, 0, 1);
    bool *show;
    if (skip_total < 0 || !read_fields(&q, &show))
        return 0;
    struct expand *x;
    const char *why;
    int rc = rec_expand_parse(&q, gly_req_query_param(req, "expand"), &x, &why);
    if (rc == GLY_EINVAL)
        return gly_problem(req, 400, "bad-request", why);
    if (rc < 0)
        return rc;

    /* WHERE: the rule, the filter, the cursor */
    gly_buf where;
    gly_buf_init(&where, NULL, 0, gly_req_arena(req), 0);
    struct flt f = flt_on(&q, &where, q.c, "r");
    gly_buf_puts(&where, "1=1");
    if (!pass) {
        gly_buf_puts(&where, " AND ");
        if ((rc = flt_where(&f, rule, strlen(rule))) < 0) {
            gly_log_error("records: the list rule of %s does not compile: %s", q.c->name,
                          f.err_msg ? f.err_msg : "out of memory");
            return rc == GLY_EINVAL ? GLY_EIO : rc;
        }
    }
    gly_str filter = gly_req_query_param(req, "filter");
    if (filter.p && filter.n) {
        gly_buf_puts(&where, " AND ");
        if ((rc = flt_where(&f, filter.p, filter.n)) == GLY_EINVAL)
            return bad_filter(req, "filter", &f);
        if (rc < 0)
            return rc;
    }
    unsigned nfilter = f.nparams; /* the count uses no cursor */
    size_t where_len = where.len;

    struct flt_sort sort;
    gly_str sort_s = gly_req_query_param(req, "sort");
    if (!sort_s.p || !sort_s.n)
        sort_s = GLY_STR("-created");
    if ((rc = flt_sort_parse(&f, sort_s.p, sort_s.n, &sort)) == GLY_EINVAL)
        return bad_filter(req, "sort", &f);
    if (rc < 0)
        return rc;
    gly_str after = gly_req_query_param(req, "after");
    if (after.p && after.n) {
        gly_db_val *vals;
        if (!read_cursor(&q, after, &sort, &vals))
            return 0;
        gly_buf_puts(&where, " AND ");
        if ((rc = flt_after_sql(&f, &sort, vals)) == GLY_EINVAL)
            return bad_filter(req, "after", &f);
        if (rc < 0)
            return rc;
        page = 1;
    }

    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_printf(&sql, "-- name: records_list\nSELECT %s FROM \"%s\" r WHERE %s ORDER BY ",
                   rec_columns(req, q.c, "r"), q.c->name, gly_buf_cstr(&where));
    f.sql = &sql;
    if ((rc = flt_sort_sql(&f, &sort)) < 0)
        return rc;
    gly_buf_printf(&sql, " LIMIT %lld OFFSET %lld", (long long)per, (long long)((page - 1) * per));
    gly_res *res;
    if ((rc = gly_db_query(req, &res, gly_buf_cstr(&sql), f.params, f.nparams)) < 0)
        return rc;
    int64_t total = -1;
    if (!skip_total) {
        char *count = gly_arena_printf(gly_req_arena(req),
                                       "-- name: records_count\nSELECT count(*) AS n FROM \"%s\" "
                                       "r WHERE %.*s",
                                       q.c->name, (int)where_len, where.p);
        gly_row *row;
        if (!count)
            return GLY_ENOMEM;
        if ((rc = gly_db_one_row(req, &row, count, f.params, nfilter)) < 0)
            return rc;
        total = gly_row_i64(row, "n");
    }

    size_t n = gly_res_count(res);
    if (x && n) {
        gly_row **rows = gly_alloc(req, n * sizeof *rows);
        if (!rows)
            return GLY_ENOMEM;
        for (size_t i = 0; i < n; i++)
            rows[i] = gly_res_row(res, i);
        if ((rc = rec_expand_load(&q, x, rows, n)) < 0)
            return rc;
    }

    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < n; i++)
        rec_record_json(&j, q.c, gly_res_row(res, i), show, x);
    gly_json_arr_end(&j);
    gly_json_key(&j, "page");
    gly_json_i64(&j, page);
    gly_json_key(&j, "per_page");
    gly_json_i64(&j, per);
    gly_json_key(&j, "total_items");
    gly_json_i64(&j, total);
    gly_json_key(&j, "total_pages");
    gly_json_i64(&j, total < 0 ? -1 : (total + per - 1) / per);
    bool keyset = sort.n > 0 && sort.keys[0].field; /* not @random */
    if (keyset) {
        gly_json_key(&j, "next");
        const char *next = (int64_t)n == per ? cursor_of(&q, &sort, gly_res_row(res, n - 1)) : NULL;
        gly_json_str(&j, next);
    }
    gly_json_obj_end(&j);
    if (gly_json_finish(&j) < 0)
        return GLY_ENOMEM;
    return gly_send_buf(req, 200, "application/json", &b);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

int rec_records_init(gly_app *app)
{
    static const char *const tags[] = {"records", NULL};
    static const gly_route_def routes[] = {
        {"GET",
         "/api/v1/collections/:name/records",
         list_records,
         {.summary = "A page of records: filter, sort, page, per_page, skip_total, after, "
                     "fields, expand",
          .tags = tags,
          .operation_id = "listRecords"}},
        {"POST",
         "/api/v1/collections/:name/records",
         create_record,
         {.summary = "Create a record",
          .tags = tags,
          .operation_id = "createRecord",
          .status = 201}},
        {"GET",
         "/api/v1/collections/:name/records/:id",
         view_record,
         {.summary = "A record (ETag; If-None-Match; expand)",
          .tags = tags,
          .operation_id = "getRecord"}},
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
    };
    return gly_routes(app, routes, sizeof routes / sizeof routes[0]);
}
