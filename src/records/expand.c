/*
 * src/records/expand.c - expand=author,comments.user: the records that
 * relations point at, written into each record's "expand" member.
 *
 * The paths make a tree (author and author.team share "author"). It is
 * loaded a level at a time: for each relation, the ids of every row of the
 * level above are gathered and fetched with one query (per EXPAND_BATCH
 * ids), never one query per row. Each query runs under the view rule of the
 * collection it reads: what a user may not view is not expanded (a null
 * rule expands nothing but for admins).
 */
#include <string.h>

#include "core/hash.h"
#include "records/internal.h"

struct expand {
    const struct fld *f;  /* the relation, in the collection above */
    const struct coll *c; /* where it points */
    struct expand *kids;  /* first child */
    struct expand *next;  /* next sibling */
    /* what was fetched: ids to rows, open addressing (cap a power of two, or 0) */
    gly_row **slots;
    size_t cap;
};

/* The top of the tree: a dummy node whose kids are the paths' first steps. */
static struct expand *child(gly_arena *a, struct expand *parent, const struct fld *f)
{
    for (struct expand *k = parent->kids; k; k = k->next)
        if (k->f == f)
            return k;
    struct expand *k = gly_arena_calloc(a, 1, sizeof *k);
    if (!k)
        return NULL;
    k->f = f;
    k->c = f->to;
    k->next = parent->kids;
    parent->kids = k;
    return k;
}

int rec_expand_parse(struct rq *q, gly_str spec, struct expand **out, const char **why)
{
    gly_arena *a = gly_req_arena(q->req);
    *out = NULL;
    *why = NULL;
    if (!spec.p || spec.n == 0)
        return 0;
    if (spec.n > 1024) {
        *why = "expand: at most 1024 characters";
        return GLY_EINVAL;
    }
    struct expand *root = gly_arena_calloc(a, 1, sizeof *root);
    if (!root)
        return GLY_ENOMEM;
    root->c = q->c;
    for (size_t i = 0; i <= spec.n;) {
        size_t end = i;
        while (end < spec.n && spec.p[end] != ',')
            end++;
        struct expand *at = root;
        unsigned depth = 0;
        for (size_t k = i; k < end;) {
            size_t dot = k;
            while (dot < end && spec.p[dot] != '.')
                dot++;
            size_t b = k, e = dot;
            while (b < e && spec.p[b] == ' ')
                b++;
            while (e > b && spec.p[e - 1] == ' ')
                e--;
            const struct fld *f = coll_field(at->c, spec.p + b, e - b);
            if (!f || f->hidden || f->type != FLD_RELATION || !f->to) {
                *why = gly_arena_printf(a, "expand: %.*s is not a relation of %s",
                                        (int)(e - b > 64 ? 64 : e - b), spec.p + b, at->c->name);
                return GLY_EINVAL;
            }
            if (++depth > EXPAND_DEPTH) {
                *why = "expand: at most 6 relations deep";
                return GLY_EINVAL;
            }
            if (!(at = child(a, at, f)))
                return GLY_ENOMEM;
            k = dot + 1;
        }
        i = end + 1;
    }
    *out = root;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The id table of a node                                                   */
/* ------------------------------------------------------------------------ */

static gly_row *lookup(const struct expand *x, gly_str id)
{
    if (!x->cap || !id.n)
        return NULL;
    for (size_t i = gly__fnv1a(id.p, id.n) & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
        gly_row *r = x->slots[i];
        if (!r)
            return NULL;
        gly_str rid = gly_row_str(r, "id");
        if (rid.n == id.n && memcmp(rid.p, id.p, id.n) == 0)
            return r;
    }
}

static void insert(struct expand *x, gly_row *row)
{
    gly_str id = gly_row_str(row, "id");
    size_t i = gly__fnv1a(id.p, id.n) & (x->cap - 1);
    while (x->slots[i]) {
        gly_str rid = gly_row_str(x->slots[i], "id");
        if (rid.n == id.n && memcmp(rid.p, id.p, id.n) == 0)
            return;
        i = (i + 1) & (x->cap - 1);
    }
    x->slots[i] = row;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */
/* ------------------------------------------------------------------------ */

/* Calls fn for each id the relation holds in row. */
static void each_id(gly_req *req, const struct fld *f, const gly_row *row,
                    void (*fn)(void *ctx, gly_str id), void *ctx)
{
    gly_str v = gly_row_str(row, f->name);
    if (!v.p || !v.n)
        return;
    if (!f->multi) {
        fn(ctx, v);
        return;
    }
    gly_jv *arr;
    if (gly_json_parse(gly_req_arena(req), v.p, v.n, NULL, &arr, NULL) < 0)
        return;
    for (size_t i = 0; i < gly_jv_len(arr); i++) {
        gly_str id = gly_jv_str(gly_jv_at(arr, i));
        if (id.p && id.n)
            fn(ctx, id);
    }
}

/* The distinct ids of a level, gathered before the query. */
struct idset {
    gly_str *ids;
    size_t n, cap;
    gly_str *seen; /* open addressing over ids, 2x */
    size_t seen_cap;
    gly_arena *a;
    bool oom;
};

static void add_id(void *ctx, gly_str id)
{
    struct idset *s = ctx;
    if (s->oom)
        return;
    if (s->n * 2 >= s->seen_cap) {
        size_t cap = s->seen_cap ? s->seen_cap * 2 : 64;
        gly_str *seen = gly_arena_calloc(s->a, cap, sizeof *seen);
        gly_str *ids = gly_arena_alloc(s->a, cap / 2 * sizeof *ids);
        if (!seen || !ids) {
            s->oom = true;
            return;
        }
        if (s->n)
            memcpy(ids, s->ids, s->n * sizeof *ids);
        for (size_t i = 0; i < s->n; i++) {
            size_t k = gly__fnv1a(ids[i].p, ids[i].n) & (cap - 1);
            while (seen[k].p)
                k = (k + 1) & (cap - 1);
            seen[k] = ids[i];
        }
        s->ids = ids;
        s->seen = seen;
        s->seen_cap = cap;
    }
    size_t k = gly__fnv1a(id.p, id.n) & (s->seen_cap - 1);
    for (; s->seen[k].p; k = (k + 1) & (s->seen_cap - 1))
        if (s->seen[k].n == id.n && memcmp(s->seen[k].p, id.p, id.n) == 0)
            return;
    s->seen[k] = id;
    s->ids[s->n++] = id;
}

/* Fetches node x's records for the rows above, then its children for those. */
static int load_node(struct rq *q, struct expand *x, gly_row *const *rows, size_t n)
{
    gly_req *req = q->req;
    const char *rule = x->c->rules[RULE_VIEW];
    if (!q->admin && !rule)
        return 0; /* only admins may view these: nothing is expanded */
    bool ruled = !q->admin && rule[0];
    struct idset set = {.a = gly_req_arena(req)};
    for (size_t i = 0; i < n; i++)
        each_id(req, x->f, rows[i], add_id, &set);
    if (set.oom)
        return GLY_ENOMEM;
    if (set.n == 0)
        return 0;
    x->cap = 16;
    while (x->cap < set.n * 2)
        x->cap *= 2;
    if (!(x->slots = gly_arena_calloc(gly_req_arena(req), x->cap, sizeof *x->slots)))
        return GLY_ENOMEM;
    gly_row **got = gly_alloc(req, set.n * sizeof *got);
    size_t ngot = 0;
    if (!got)
        return GLY_ENOMEM;
    for (size_t from = 0; from < set.n; from += EXPAND_BATCH) {
        size_t count = set.n - from < EXPAND_BATCH ? set.n - from : EXPAND_BATCH;
        gly_buf sql;
        gly_buf_init(&sql, NULL, 0, gly_req_arena(req), 0);
        struct flt f = {.arena = gly_req_arena(req),
                        .schema = q->s,
                        .coll = x->c,
                        .alias = "r",
                        .dialect = q->dialect,
                        .auth = q->auth,
                        .body = q->body,
                        .now = q->now,
                        .path_rules = !q->admin,
                        .sql = &sql};
        const char *ids = rec_ids_json(gly_req_arena(req), set.ids + from, count);
        if (!ids)
            return GLY_ENOMEM;
        gly_buf_printf(&sql, "-- name: records_expand\nSELECT %s FROM \"%s\" r WHERE r.\"id\" ",
                       rec_columns(req, x->c, "r"), x->c->name);
        int rc = rec_in_ids(&f, ids);
        if (rc < 0)
            return rc;
        if (ruled) {
            gly_buf_puts(&sql, " AND ");
            if ((rc = flt_where(&f, rule, strlen(rule))) < 0)
                return rc == GLY_EINVAL ? GLY_EIO : rc;
        }
        gly_res *res;
        rc = gly_db_query(req, &res, gly_buf_cstr(&sql), f.params, f.nparams);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < gly_res_count(res); i++) {
            gly_row *r = gly_res_row(res, i);
            insert(x, r);
            got[ngot++] = r;
        }
    }
    for (struct expand *k = x->kids; k; k = k->next) {
        int rc = load_node(q, k, got, ngot);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int rec_expand_load(struct rq *q, struct expand *x, gly_row *const *rows, size_t n)
{
    for (struct expand *k = x->kids; k; k = k->next) {
        int rc = load_node(q, k, rows, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */
/* ------------------------------------------------------------------------ */

struct writer {
    gly_json *j;
    const struct expand *x;
    unsigned written;
};

static void write_one(void *ctx, gly_str id)
{
    struct writer *w = ctx;
    const gly_row *r = lookup(w->x, id);
    if (r) {
        rec_record_json(w->j, w->x->c, r, NULL, w->x->kids ? w->x : NULL);
        w->written++;
    }
}

void rec_expand_json(gly_json *j, const struct expand *x, const gly_row *row)
{
    bool open = false;
    for (const struct expand *k = x->kids; k; k = k->next) {
        if (!k->cap)
            continue;
        gly_str v = gly_row_str(row, k->f->name);
        if (!v.p || !v.n)
            continue;
        if (!k->f->multi && !lookup(k, v))
            continue;
        if (!open) {
            gly_json_key(j, "expand");
            gly_json_obj_begin(j);
            open = true;
        }
        gly_json_key(j, k->f->name);
        struct writer w = {.j = j, .x = k};
        if (k->f->multi)
            gly_json_arr_begin(j);
        /* gly_row_str on a row holds its own arena's text: parse needs no request */
        if (k->f->multi) {
            gly_arena a;
            gly_jv *arr;
            gly_arena_init(&a, 0);
            if (gly_json_parse(&a, v.p, v.n, NULL, &arr, NULL) == 0)
                for (size_t i = 0; i < gly_jv_len(arr); i++) {
                    gly_str id = gly_jv_str(gly_jv_at(arr, i));
                    if (id.p)
                        write_one(&w, id);
                }
            gly_arena_dispose(&a);
            gly_json_arr_end(j);
        } else {
            write_one(&w, v);
        }
    }
    if (open)
        gly_json_obj_end(j);
}
