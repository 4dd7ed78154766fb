/*
 * src/records/search.c - full-text search (q= of a list) and aggregates
 * (GET /api/v1/collections/{name}/records:aggregate).
 *
 * q= searches the text fields of a collection. The words of q are read the
 * same way on both backends, and never reach the SQL text: a word is what
 * stands between blanks, its tokens the runs of ASCII letters and digits
 * and of any non-ASCII bytes (ASCII punctuation separates tokens, as FTS5's
 * unicode61 does). A word matches its tokens one after the other, every
 * word must match, and the last token of q is a prefix:
 *
 *   q = 'Hello e-mail wor'
 *   FTS5 MATCH   "Hello" "e mail" "wor" *
 *   tsquery      'Hello' & ('e' <-> 'mail') & 'wor':*
 *
 * Inside the double quotes of FTS5 and the single quotes of tsquery only
 * letters, digits, non-ASCII bytes and spaces ever stand, so no input can
 * become an operator (OR, NEAR(, -, column:, ^, *) or break a quote; the
 * text travels as one parameter. The index behind it is schema.c's
 * (internal.h, ddl_tsvector).
 *
 * Aggregates run under the collection's list rule exactly as a list does:
 * the rule and the filter are in the WHERE, so only what a user may list
 * is counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/internal.h"

#define AGG_MAX_GROUP  4
#define AGG_MAX_FIELDS 8    /* per function */
#define AGG_MAX_GROUPS 1000 /* groups in an answer */

/* ------------------------------------------------------------------------ */
/* q=                                                                       */
/* ------------------------------------------------------------------------ */

static int search_fail(struct flt *f, size_t pos, const char *msg)
{
    f->err_pos = pos;
    f->err_msg = msg;
    return GLY_EINVAL;
}

/* The offset of the first byte that is not well-formed UTF-8, or s.n. */
static size_t utf8_bad(gly_str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.n;) {
        unsigned c = p[i], need, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000;
        else
            return i;
        unsigned cp = c & (0x3f >> need);
        for (unsigned k = 1; k <= need; k++) {
            if (i + k >= s.n || (p[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += need + 1;
    }
    return s.n;
}

static bool is_blank(unsigned char c)
{
    return c <= ' ' || c == 0x7f; /* controls too: never part of a word */
}

/* A byte of a token: an ASCII letter or digit, or any byte of a non-ASCII character. */
static bool is_token(unsigned char c)
{
    return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The tokens of word w[0..end - w). */
static unsigned count_tokens(const char *w, const char *end)
{
    unsigned n = 0;
    for (const char *s = w; s < end; s++)
        n += is_token((unsigned char)*s) && (s == w || !is_token((unsigned char)s[-1]));
    return n;
}

/*
 * Writes q's words as an FTS5 query (pg false) or as tsquery text (pg
 * true) into out. Returns the number of words written.
 */
static size_t search_text(gly_buf *out, gly_str q, bool pg)
{
    const char *p = q.p, *end = q.p + q.n, *last = NULL; /* last: q's last token */
    for (const char *s = p; s < end; s++)
        if (is_token((unsigned char)*s) && (s == p || !is_token((unsigned char)s[-1])))
            last = s;
    size_t words = 0;
    while (p < end) {
        while (p < end && is_blank((unsigned char)*p))
            p++;
        const char *w = p;
        while (p < end && !is_blank((unsigned char)*p))
            p++;
        unsigned tokens = count_tokens(w, p);
        if (tokens == 0)
            continue;
        gly_buf_puts(out, words++ == 0 ? "" : pg ? " & " : " ");
        gly_buf_puts(out, !pg ? "\"" : tokens > 1 ? "(" : "");
        unsigned k = 0;
        for (const char *t = w; k < tokens; k++) {
            while (!is_token((unsigned char)*t))
                t++;
            const char *b = t;
            while (t < p && is_token((unsigned char)*t))
                t++;
            if (pg)
                gly_buf_printf(out, "%s'%.*s'%s", k ? " <-> " : "", (int)(t - b), b,
                               b == last ? ":*" : "");
            else
                gly_buf_printf(out, "%s%.*s", k ? " " : "", (int)(t - b), b);
        }
        if (pg)
            gly_buf_puts(out, tokens > 1 ? ")" : "");
        else
            gly_buf_puts(out, last >= w && last < p ? "\" *" : "\"");
    }
    return words;
}

int rec_search_where(struct flt *f, gly_str q)
{
    if (!q.p || q.n == 0)
        return 0;
    const struct coll *c = f->coll;
    size_t searched = 0;
    for (size_t i = 0; i < c->nfields; i++)
        searched += fld_searched(c, &c->fields[i]);
    if (c->system)
        return search_fail(f, 0, "full-text search is not available on a system collection");
    if (searched == 0)
        return search_fail(f, 0, "no field is searched: mark text fields with \"search\": true");
    if (q.n > SEARCH_MAX_LEN)
        return search_fail(f, SEARCH_MAX_LEN, "at most 256 bytes");
    size_t bad = utf8_bad(q);
    if (bad < q.n)
        return search_fail(f, bad, "not UTF-8");

    bool pg = f->dialect == FLT_PG;
    gly_buf text;
    gly_buf_init(&text, NULL, 0, f->arena, 16 * SEARCH_MAX_LEN); /* 10 per byte at most */
    if (search_text(&text, q, pg) == 0)
        return search_fail(f, 0, "no word to search (letters or digits)");
    const char *match = gly_buf_cstr(&text);
    if (!match)
        return GLY_ENOMEM;
    int rc;
    if (pg) {
        gly_buf_puts(f->sql, " AND ");
        ddl_tsvector(f->sql, c, f->alias);
        gly_buf_puts(f->sql, " @@ to_tsquery('simple'::regconfig, ");
        rc = flt_param(f, GLY_TEXT(match));
        gly_buf_puts(f->sql, ")");
    } else {
        gly_buf_printf(f->sql,
                       " AND %s%srowid IN (SELECT rowid FROM \"galley_fts_%s\" WHERE "
                       "\"galley_fts_%s\" MATCH ",
                       f->alias ? f->alias : "", f->alias ? "." : "", c->id, c->id);
        rc = flt_param(f, GLY_TEXT(match));
        gly_buf_puts(f->sql, ")");
    }
    if (rc < 0)
        return rc;
    return f->sql->err ? GLY_ENOMEM : 0;
}

/* ------------------------------------------------------------------------ */
/* records:aggregate                                                        */
/* ------------------------------------------------------------------------ */

enum agg_fn { AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX, AGG__N };

static const char *const fn_names[AGG__N] = {"sum", "avg", "min", "max"};

/* What an aggregate asks for. */
struct agg {
    const struct fld *group[AGG_MAX_GROUP];
    unsigned ngroup;
    bool count;
    struct {
        enum agg_fn fn;
        const struct fld *f;
    } cols[AGG__N * AGG_MAX_FIELDS];
    unsigned ncols;
};

/* Answers 400 naming the query parameter at fault. */
static int bad_param(gly_req *req, const char *param, const char *msg)
{
    gly_json j;
    gly_buf b;
    char *detail = gly_arena_printf(gly_req_arena(req), "%s: %s", param, msg);
    int rc = gly_problem_begin(req, &j, &b, 400, "bad-request", detail ? detail : param);
    if (rc < 0)
        return rc;
    gly_json_key(&j, "parameter");
    gly_json_str(&j, param);
    return gly_problem_end(req, &j, 400);
}

/* Whether fn takes field f: sum and avg numbers; min and max numbers, dates and text. */
static bool fn_takes(enum agg_fn fn, const struct fld *f)
{
    if (fld_is_json(f))
        return false;
    if (fn == AGG_SUM || fn == AGG_AVG)
        return f->type == FLD_NUMBER;
    return f->type == FLD_NUMBER || f->type == FLD_DATE || f->type == FLD_AUTODATE ||
           f->type == FLD_TEXT;
}

/*
 * Reads the comma-separated field names of parameter param into out (at
 * most max, *n of them), each one that fn takes (AGG__N: one to group by).
 * Returns NULL when they are fine, else the message.
 */
static const char *read_list(gly_req *req, const struct coll *c, const char *param, enum agg_fn fn,
                             const struct fld **out, unsigned max, unsigned *n)
{
    gly_arena *a = gly_req_arena(req);
    gly_str s = gly_req_query_param(req, param);
    *n = 0;
    if (!s.p || s.n == 0)
        return NULL;
    for (size_t i = 0; i <= s.n;) {
        size_t k = i;
        while (k < s.n && s.p[k] != ',')
            k++;
        size_t b = i, e = k;
        while (b < e && s.p[b] == ' ')
            b++;
        while (e > b && s.p[e - 1] == ' ')
            e--;
        int len = (int)(e - b > 64 ? 64 : e - b);
        const struct fld *f = coll_field(c, s.p + b, e - b);
        if (!f || f->hidden)
            return gly_arena_printf(a, "no field \"%.*s\"", len, s.p + b);
        if (fn == AGG__N && fld_is_json(f))
            return gly_arena_printf(a, "%s cannot be grouped by (json or multi)", f->name);
        if (fn != AGG__N && !fn_takes(fn, f))
            return gly_arena_printf(
                a, "%s takes %s, not %s", fn_names[fn],
                fn == AGG_SUM || fn == AGG_AVG ? "numbers" : "numbers, dates or text", f->name);
        for (unsigned x = 0; x < *n; x++)
            if (out[x] == f)
                return gly_arena_printf(a, "%s is named twice", f->name);
        if (*n == max)
            return gly_arena_printf(a, "at most %u fields", max);
        out[(*n)++] = f;
        i = k + 1;
    }
    return NULL;
}

/* Reads the parameters into g; false after answering 400. */
static bool agg_read(gly_req *req, const struct coll *c, struct agg *g)
{
    const char *why;
    memset(g, 0, sizeof *g);
    if ((why = read_list(req, c, "group", AGG__N, g->group, AGG_MAX_GROUP, &g->ngroup))) {
        bad_param(req, "group", why);
        return false;
    }
    gly_str cnt = gly_req_query_param(req, "count");
    if (cnt.p && cnt.n) {
        g->count = cnt.n == 1 && cnt.p[0] == '1';
        if (!g->count && !(cnt.n == 1 && cnt.p[0] == '0')) {
            bad_param(req, "count", "must be 1 or 0");
            return false;
        }
    }
    for (int fn = 0; fn < AGG__N; fn++) {
        const struct fld *fs[AGG_MAX_FIELDS];
        unsigned n;
        if ((why = read_list(req, c, fn_names[fn], (enum agg_fn)fn, fs, AGG_MAX_FIELDS, &n))) {
            bad_param(req, fn_names[fn], why);
            return false;
        }
        for (unsigned k = 0; k < n; k++) {
            g->cols[g->ncols].fn = (enum agg_fn)fn;
            g->cols[g->ncols++].f = fs[k];
        }
    }
    if (g->ngroup == 0 && !g->count && g->ncols == 0) {
        bad_param(req, "count", "ask for group, count=1, sum, avg, min or max");
        return false;
    }
    /* the members of an item: a group field must not be named as a result is */
    for (unsigned i = 0; i < g->ngroup; i++) {
        const char *name = g->group[i]->name;
        bool clash = g->count && strcmp(name, "count") == 0;
        for (unsigned k = 0; k < g->ncols && !clash; k++) {
            size_t fl = strlen(fn_names[g->cols[k].fn]);
            clash = strncmp(name, fn_names[g->cols[k].fn], fl) == 0 && name[fl] == '_' &&
                    strcmp(name + fl + 1, g->cols[k].f->name) == 0;
        }
        if (clash) {
            bad_param(req, "group", "a field has the name of a result: leave one out");
            return false;
        }
    }
    return true;
}

/* The SQL of a group key: an empty relation is "" (NULL on disk), one group that sorts first. */
static void group_expr(gly_buf *sql, const struct fld *f)
{
    if (f->type == FLD_RELATION)
        gly_buf_printf(sql, "coalesce(r.\"%s\", '')", f->name);
    else
        gly_buf_printf(sql, "r.\"%s\"", f->name);
}

/*
 * A value as field f shows it (f NULL: a number); NULL as null, or as ""
 * for a group's key.
 */
static void agg_value_json(gly_json *j, const struct fld *f, const gly_db_val *v, bool key)
{
    if (!v || v->type == GLY_DB_NULL) {
        if (key)
            gly_json_str(j, "");
        else
            gly_json_null(j);
    } else if (f && f->type == FLD_BOOL) {
        gly_json_bool(j, v->type == GLY_DB_INT ? v->v.i != 0 : v->v.s.n && v->v.s.p[0] != '0');
    } else if (v->type == GLY_DB_INT) {
        gly_json_i64(j, v->v.i);
    } else if (v->type == GLY_DB_REAL) {
        gly_json_double(j, v->v.d);
    } else if (!f || f->type == FLD_NUMBER) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(v->v.s.n < 63 ? v->v.s.n : 63), v->v.s.p);
        gly_json_double(j, strtod(tmp, NULL));
    } else {
        gly_json_strn(j, v->v.s.p, v->v.s.n);
    }
}

static int aggregate(gly_req *req)
{
    struct rq q;
    if (!rec_begin(req, &q))
        return 0;
    const char *rule;
    int pass = rec_rule(&q, RULE_LIST, &rule);
    if (pass < 0)
        return rec_forbidden(req);
    struct agg g;
    if (!agg_read(req, q.c, &g))
        return 0;

    gly_buf sql;
    gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
    gly_buf_puts(&sql, "-- name: records_aggregate\nSELECT ");
    for (unsigned i = 0; i < g.ngroup; i++) {
        group_expr(&sql, g.group[i]);
        gly_buf_printf(&sql, " AS \"g%u\", ", i);
    }
    if (g.count)
        gly_buf_puts(&sql, "count(*) AS \"n\", ");
    for (unsigned k = 0; k < g.ncols; k++) {
        const char *name = g.cols[k].f->name;
        if (g.cols[k].fn == AGG_SUM) /* the sum of no rows is 0, not null */
            gly_buf_printf(&sql, "coalesce(sum(r.\"%s\"), 0)", name);
        else
            gly_buf_printf(&sql, "%s(r.\"%s\")", fn_names[g.cols[k].fn], name);
        gly_buf_printf(&sql, " AS \"a%u\", ", k);
    }
    /* the window runs over the groups: their number, before the LIMIT */
    gly_buf_printf(&sql, "count(*) OVER () AS \"groups\" FROM \"%s\" r WHERE 1=1", q.c->name);

    struct flt f = rec_flt(&q, &sql, q.c, "r");
    int rc = rec_list_where(&q, &f, pass ? NULL : rule);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    for (unsigned i = 0; i < g.ngroup; i++) {
        gly_buf_puts(&sql, i ? ", " : " GROUP BY ");
        group_expr(&sql, g.group[i]);
    }
    for (unsigned i = 0; i < g.ngroup; i++)
        gly_buf_printf(&sql, "%s%u", i ? ", " : " ORDER BY ", i + 1);
    gly_buf_printf(&sql, " LIMIT %d", AGG_MAX_GROUPS + 1);
    const char *text = gly_buf_cstr(&sql);
    gly_res *res;
    if (!text)
        return GLY_ENOMEM;
    if ((rc = gly_db_query(req, &res, text, f.params, f.nparams)) < 0)
        return rc;

    size_t n = gly_res_count(res), shown = n > AGG_MAX_GROUPS ? AGG_MAX_GROUPS : n;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t r = 0; r < shown; r++) {
        const gly_row *row = gly_res_row(res, r);
        unsigned col = 0;
        gly_json_obj_begin(&j);
        for (unsigned i = 0; i < g.ngroup; i++) {
            gly_json_key(&j, g.group[i]->name);
            agg_value_json(&j, g.group[i], gly_row_at(row, col++), true);
        }
        if (g.count) {
            gly_json_key(&j, "count");
            gly_json_i64(&j, gly_row_i64(row, "n"));
            col++;
        }
        for (unsigned k = 0; k < g.ncols; k++) {
            char key[80];
            snprintf(key, sizeof key, "%s_%s", fn_names[g.cols[k].fn], g.cols[k].f->name);
            gly_json_key(&j, key);
            /* avg is a number whatever it averages; the others are of the field's type */
            agg_value_json(&j, g.cols[k].fn == AGG_AVG ? NULL : g.cols[k].f, gly_row_at(row, col++),
                           false);
        }
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    gly_json_key(&j, "total_groups");
    gly_json_i64(&j, n ? gly_row_i64(gly_res_row(res, 0), "groups") : 0);
    gly_json_key(&j, "truncated");
    gly_json_bool(&j, n > AGG_MAX_GROUPS);
    gly_json_obj_end(&j);
    if (gly_json_finish(&j) < 0)
        return GLY_ENOMEM;
    return gly_send_buf(req, 200, "application/json", &b);
}

int rec_search_init(gly_app *app)
{
    static const char *const tags[] = {"records", NULL};
    static const gly_route_def routes[] = {
        {"GET",
         "/api/v1/collections/:name/records:aggregate",
         aggregate,
         {.summary = "Counts, sums, averages, minimums and maximums of records, by group",
          .description =
              "Under the collection's list rule, as a list: only the records a user may list "
              "are counted.\n\n"
              "- `group=status,author`: up to 4 fields (not json, not multi-valued) to group "
              "by; without it, one item over every record.\n"
              "- `count=1`: the number of records (`count`).\n"
              "- `sum=votes`, `avg=votes`: number fields (`sum_votes`, `avg_votes`).\n"
              "- `min=votes`, `max=created`: number, date, autodate or text fields "
              "(`min_votes`, `max_created`).\n"
              "- `filter`, `q`: as in a list.\n\n"
              "The answer is `{items, total_groups, truncated}`, the items ordered by the "
              "group keys, at most 1000 of them (`truncated` is true when there are more). "
              "A bad parameter is 400 naming it (`parameter`).",
          .tags = tags,
          .operation_id = "aggregateRecords"}},
    };
    return gly_routes(app, routes, sizeof routes / sizeof routes[0]);
}
