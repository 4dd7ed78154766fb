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
#include "core/hash.h"
#include "records/internal.h"

#define PER_PAGE     30
#define MAX_PER_PAGE 500

bool rec_start(gly_req *req, struct rq *q)
{
    memset(q, 0, sizeof *q);
    q->req = req;
    if (!(q->s = rec_schema(req)))
        return false;
    q->dialect = strcmp(gly_db_backend(gly_app_db(gly_req_app(req))), "postgres") == 0
                     ? DIALECT_PG
                     : DIALECT_SQLITE;
    q->admin = gly_auth_can(req, "records:admin");
    const struct auth_ctx *ctx = gly_auth(req) ? gly_req_slot(req, GLY_SLOT_AUTH) : NULL;
    q->auth = ctx ? ctx->row : NULL;
    gly__iso_now(q->now);
    return true;
}

bool rec_begin(gly_req *req, struct rq *q)
{
    if (!rec_start(req, q))
        return false;
    gly_str name = gly_req_param(req, "name");
    if (!(q->c = schema_find(q->s, name.p, name.n))) {
        gly_problem(req, 404, "not-found", "No collection has that name.");
        return false;
    }
    return true;
}

struct flt rec_flt(struct rq *q, gly_buf *sql, const struct coll *c, const char *alias)
{
    return (struct flt){.arena = gly_req_arena(q->req),
                        .schema = q->s,
                        .coll = c,
                        .alias = alias,
                        .dialect = q->dialect,
                        .auth = q->auth,
                        .body = q->body,
                        .now = q->now,
                        .path_rules = !q->admin,
                        .sql = sql};
}

/*
 * The rule of op for this request: 1 when it passes with no condition
 * (admins, "" rules), 0 with the rule's text in *rule, or -1 when it is
 * null: only admins may (answer rec_forbidden()).
 */
int rec_rule(struct rq *q, enum rule_op op, const char **rule)
{
    *rule = q->c->rules[op];
    if (q->admin || (*rule && !**rule))
        return 1;
    return *rule ? 0 : -1;
}

int rec_forbidden(gly_req *req)
{
    return gly_problem(req, 403, "forbidden", "Only superusers and admins may do this here.");
}

bool rec_good_id(gly_str id)
{
    if (id.n != REC_ID_LEN)
        return false;
    for (size_t i = 0; i < id.n; i++)
        if (!((id.p[i] >= 'a' && id.p[i] <= 'z') || (id.p[i] >= '0' && id.p[i] <= '9')))
            return false;
    return true;
}

int rec_bad_filter(gly_req *req, const char *param, const struct flt *f)
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
    if (!alias && c->cols)
        return c->cols;
    if (alias && strcmp(alias, "r") == 0 && c->cols_r)
        return c->cols_r;
    return columns_sql(gly_req_arena(req), c, alias);
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

/* The strong ETag of the JSON text p[0..n): its 64-bit FNV-1a in hex, quoted. */
static const char *etag_of(gly_req *req, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = gly__fnv1a(p, n);
    char *e = gly_alloc(req, 19);
    if (!e)
        return NULL;
    e[0] = e[17] = '"';
    for (int i = 16; i >= 1; i--, h >>= 4)
        e[i] = hex[h & 15];
    e[18] = 0;
    return e;
}

const char *rec_etag(gly_req *req, const struct coll *c, const gly_row *row)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    rec_record_json(&j, c, row, NULL, NULL);
    if (gly_json_finish(&j) < 0)
        return NULL;
    return etag_of(req, b.p, b.len);
}

int rec_send(struct rq *q, int status, const gly_row *row, const struct expand *x)
{
    gly_req *req = q->req;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    rec_record_json(&j, q->c, row, NULL, x);
    if (gly_json_finish(&j) < 0)
        return GLY_ENOMEM;
    /* without expand the body is the record's JSON: hash it rather than write it again */
    const char *etag = x ? rec_etag(req, q->c, row) : etag_of(req, b.p, b.len);
    if (!etag)
        return GLY_ENOMEM;
    gly_set_header(req, "ETag", etag);
    gly_str inm = gly_req_header(req, "If-None-Match");
    if (gly_req_method(req) == GLY_GET && inm.p && rec_etag_listed(inm, etag))
        return gly_send(req, 304, NULL, NULL, 0);
    if (status == 201)
        gly_set_headerf(req, "Location", "/api/v1/collections/%s/records/%s", q->c->name,
                        gly_row_str(row, "id").p);
    return gly_send_buf(req, status, "application/json", &b);
}

bool rec_etag_listed(gly_str list, const char *etag)
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
/* Ids as one parameter                                                     */
/* ------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------ */
/* View                                                                     */
/* ------------------------------------------------------------------------ */

const char *rec_one_query(struct rq *q, enum rule_op op, const char *rule, struct flt *f,
                          gly_buf *sql, gly_str id, const char *what)
{
    gly_buf_init(sql, NULL, 0, gly_req_arena(q->req), 0);
    *f = rec_flt(q, sql, q->c, "r");
    gly_buf_puts(sql, "-- name: records_");
    gly_buf_puts(sql, what);
    gly_buf_puts(sql, "\nSELECT ");
    gly_buf_puts(sql, rec_columns(q->req, q->c, "r"));
    gly_buf_puts(sql, " FROM \"");
    gly_buf_puts(sql, q->c->name);
    gly_buf_puts(sql, "\" r WHERE r.\"id\" = ");
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
    if (!rec_begin(req, &q))
        return 0;
    const char *rule;
    int pass = rec_rule(&q, RULE_VIEW, &rule);
    if (pass < 0)
        return rec_forbidden(req);
    gly_str id = gly_req_param(req, "id");
    if (!rec_good_id(id))
        return gly_problem(req, 404, "not-found", "No record has that id.");
    struct flt f;
    gly_buf sql;
    const char *text = rec_one_query(&q, RULE_VIEW, pass ? NULL : rule, &f, &sql, id, "view");
    if (!text)
        return GLY_ENOMEM;
    gly_row *row;
    int rc = gly_db_one_row(req, &row, text, f.params, f.nparams);
    if (rc == GLY_ENOTFOUND)
        return gly_problem(req, 404, "not-found", "No record has that id.");
    if (rc < 0)
        return rc;
    struct expand *x;
    const char *why;
    gly_str spec = gly_req_query_param(req, "expand");
    if ((rc = rec_expand_parse(&q, spec, &x, &why)) == GLY_EINVAL)
        return gly_problem(req, 400, "bad-request", why);
    if (rc < 0 || (x && (rc = rec_expand_load(&q, x, &row, 1)) < 0))
        return rc;
    return rec_send(&q, 200, row, x);
}

/* ------------------------------------------------------------------------ */
/* Update                                                                   */
/* ------------------------------------------------------------------------ */

int rec_list_where(struct rq *q, struct flt *f, const char *rule)
{
    gly_req *req = q->req;
    int rc;
    if (rule) {
        gly_buf_puts(f->sql, " AND ");
        if ((rc = flt_where(f, rule, strlen(rule))) < 0) {
            gly_log_error("records: the list rule of %s does not compile: %s", q->c->name,
                          f->err_msg ? f->err_msg : "out of memory");
            return rc == GLY_EINVAL ? GLY_EIO : rc;
        }
    }
    gly_str filter = gly_req_query_param(req, "filter");
    if (filter.p && filter.n) {
        gly_buf_puts(f->sql, " AND ");
        if ((rc = flt_where(f, filter.p, filter.n)) == GLY_EINVAL) {
            rec_bad_filter(req, "filter", f);
            return 1;
        }
        if (rc < 0)
            return rc;
    }
    if ((rc = rec_search_where(f, gly_req_query_param(req, "q"))) == GLY_EINVAL) {
        rec_bad_filter(req, "q", f);
        return 1;
    }
    return rc;
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
    if (!rec_begin(req, &q))
        return 0;
    const char *rule;
    int pass = rec_rule(&q, RULE_LIST, &rule);
    if (pass < 0)
        return rec_forbidden(req);
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
    struct flt f = rec_flt(&q, &where, q.c, "r");
    gly_buf_puts(&where, "1=1");
    if ((rc = rec_list_where(&q, &f, pass ? NULL : rule)) != 0)
        return rc < 0 ? rc : 0;
    unsigned nfilter = f.nparams; /* the count uses no cursor */
    size_t where_len = where.len;

    struct flt_sort sort;
    gly_str sort_s = gly_req_query_param(req, "sort");
    if (!sort_s.p || !sort_s.n)
        sort_s = GLY_STR("-created");
    if ((rc = flt_sort_parse(&f, sort_s.p, sort_s.n, &sort)) == GLY_EINVAL)
        return rec_bad_filter(req, "sort", &f);
    if (rc < 0)
        return rc;
    gly_str after = gly_req_query_param(req, "after");
    if (after.p && after.n) {
        gly_db_val *vals;
        if (!read_cursor(&q, after, &sort, &vals))
            return 0;
        gly_buf_puts(&where, " AND ");
        if ((rc = flt_after_sql(&f, &sort, vals)) == GLY_EINVAL)
            return rec_bad_filter(req, "after", &f);
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
                     "fields, expand, q",
          .tags = tags,
          .operation_id = "listRecords"}},
        {"GET",
         "/api/v1/collections/:name/records/:id",
         view_record,
         {.summary = "A record (ETag; If-None-Match; expand)",
          .tags = tags,
          .operation_id = "getRecord"}},
    };
    return gly_routes(app, routes, sizeof routes / sizeof routes[0]);
}
