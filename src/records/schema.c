/*
 * src/records/schema.c - collection definitions: read from JSON and
 * checked, written back as JSON, turned into the DDL of each dialect.
 *
 * A definition is what a client posts to /api/v1/collections and what is
 * stored in galley_collections.body:
 *
 *   {"name": "posts",
 *    "fields": [{"name": "title", "type": "text", "required": true, "max": 200},
 *               {"name": "author", "type": "relation", "collection": "users",
 *                "on_delete": "cascade"}],
 *    "indexes": [{"fields": ["author", "created"]}],
 *    "rules": {"list": "", "view": "", "create": "@request.auth.id != \"\""}}
 *
 * A rule that is absent is null: only superusers and admins may. Relations
 * are kept by the records code, not by foreign keys, so that every change
 * of a collection is a plain ADD, RENAME or DROP COLUMN on both backends
 * (SQLite rebuilds a table to change a foreign key, and dropping a table
 * with foreign keys on would run its cascades).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"
#include "records/internal.h"

static const char *const type_names[] = {
    [FLD_TEXT] = "text",         [FLD_NUMBER] = "number", [FLD_BOOL] = "bool",
    [FLD_EMAIL] = "email",       [FLD_URL] = "url",       [FLD_DATE] = "date",
    [FLD_SELECT] = "select",     [FLD_JSON] = "json",     [FLD_RELATION] = "relation",
    [FLD_AUTODATE] = "autodate",
};
/* The operations of the rules, in enum rule_op order; NULL-terminated for one_of(). */
static const char *const rule_names[RULE__N + 1] = {"list",   "view",   "create",
                                                    "update", "delete", NULL};
static const char *const delete_names[] = {
    [DEL_RESTRICT] = "restrict", [DEL_CASCADE] = "cascade", [DEL_SET_NULL] = "set_null"};

/* Names the server gives meaning to: never a field's. */
static const char *const reserved_fields[] = {"id",     "created",    "updated",
                                              "expand", "collection", NULL};

const struct coll *schema_find(const struct schema *s, const char *name, size_t n)
{
    for (size_t i = 0; s && i < s->ncolls; i++)
        if (strlen(s->colls[i]->name) == n && memcmp(s->colls[i]->name, name, n) == 0)
            return s->colls[i];
    return NULL;
}

const struct fld *coll_field(const struct coll *c, const char *name, size_t n)
{
    for (size_t i = 0; c && i < c->nfields; i++)
        if (strlen(c->fields[i].name) == n && memcmp(c->fields[i].name, name, n) == 0)
            return &c->fields[i];
    return NULL;
}

/* [a-z][a-z0-9_]{0,62} */
static bool good_name(gly_str s)
{
    if (s.n == 0 || s.n > 63 || s.p[0] < 'a' || s.p[0] > 'z')
        return false;
    for (size_t i = 1; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static bool one_of(gly_str s, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == s.n && memcmp(*list, s.p, s.n) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Reading a definition                                                     */
/* ------------------------------------------------------------------------ */

/* One parse: the arena, the error list and the path of the value being read. */
struct rd {
    gly_arena *a;
    gly_verrors *errs;
    char path[64];
};

static void bad(struct rd *r, const char *member, const char *code, const char *msg)
{
    char field[128];
    if (!member)
        snprintf(field, sizeof field, "%s", r->path);
    else if (r->path[0])
        snprintf(field, sizeof field, "%s.%s", r->path, member);
    else
        snprintf(field, sizeof field, "%s", member);
    gly_verrors_add(r->errs, field, code, "%s", msg);
}

/* A member of obj that must have type t when present; NULL when absent (or null). */
static const gly_jv *member(struct rd *r, const gly_jv *obj, const char *name, gly_json_type t)
{
    const gly_jv *v = gly_jv_get(obj, name);
    if (!v || gly_jv_type(v) == GLY_JSON_NULL)
        return NULL;
    if (gly_jv_type(v) != t) {
        static const char *const what[] = {[GLY_JSON_STRING] = "must be a string",
                                           [GLY_JSON_NUMBER] = "must be a number",
                                           [GLY_JSON_BOOL] = "must be true or false",
                                           [GLY_JSON_ARRAY] = "must be an array",
                                           [GLY_JSON_OBJECT] = "must be an object"};
        bad(r, name, "type", what[t]);
        return NULL;
    }
    return v;
}

static bool flag(struct rd *r, const gly_jv *obj, const char *name)
{
    const gly_jv *v = gly_jv_get(obj, name);
    if (!v || gly_jv_type(v) == GLY_JSON_NULL)
        return false;
    if (gly_jv_type(v) != GLY_JSON_BOOL) {
        bad(r, name, "type", "must be true or false");
        return false;
    }
    return gly_jv_bool(v);
}

static char *dup_str(struct rd *r, gly_str s)
{
    return gly_arena_strndup(r->a, s.p, s.n);
}

static char *new_id(gly_arena *a, size_t len)
{
    char *id = gly_arena_alloc(a, len + 1);
    if (id)
        gly__random_id(id, len);
    return id;
}

static void read_bounds(struct rd *r, const gly_jv *o, struct fld *f)
{
    const gly_jv *v;
    if ((v = member(r, o, "min", GLY_JSON_NUMBER))) {
        f->has_min = true;
        f->min = gly_jv_double(v);
    }
    if ((v = member(r, o, "max", GLY_JSON_NUMBER))) {
        f->has_max = true;
        f->max = gly_jv_double(v);
    }
    if (f->has_min && f->has_max && f->min > f->max)
        bad(r, "min", "range", "must not be greater than max");
    if (f->type != FLD_NUMBER && ((f->has_min && f->min < 0) || (f->has_max && f->max < 0)))
        bad(r, "min", "range", "lengths and counts must not be negative");
}

static void read_select(struct rd *r, const gly_jv *o, struct fld *f)
{
    const gly_jv *vals = member(r, o, "values", GLY_JSON_ARRAY);
    size_t n = vals ? gly_jv_len(vals) : 0;
    if (n == 0 || n > MAX_SELECT) {
        bad(r, "values", "required", "a select needs 1 to 100 values");
        return;
    }
    f->values = gly_arena_calloc(r->a, n, sizeof *f->values);
    if (!f->values)
        return;
    for (size_t i = 0; i < n; i++) {
        gly_str s = gly_jv_str(gly_jv_at(vals, i));
        if (!s.p || s.n == 0 || s.n > 200) {
            bad(r, "values", "type", "each value must be a string of 1 to 200 bytes");
            return;
        }
        for (size_t k = 0; k < i; k++)
            if (strlen(f->values[k]) == s.n && memcmp(f->values[k], s.p, s.n) == 0)
                bad(r, "values", "duplicate", "values must differ");
        f->values[i] = dup_str(r, s);
    }
    f->nvalues = n;
}

static void read_default(struct rd *r, const gly_jv *o, struct fld *f)
{
    const gly_jv *v = gly_jv_get(o, "default");
    if (!v || gly_jv_type(v) == GLY_JSON_NULL)
        return;
    gly_json_type t = gly_jv_type(v);
    bool ok;
    switch (f->type) {
    case FLD_NUMBER:
        ok = t == GLY_JSON_NUMBER;
        break;
    case FLD_BOOL:
        ok = t == GLY_JSON_BOOL;
        break;
    case FLD_JSON:
        ok = true;
        break;
    case FLD_RELATION:
    case FLD_AUTODATE:
        ok = false;
        break;
    default:
        ok = f->multi ? t == GLY_JSON_ARRAY : t == GLY_JSON_STRING;
    }
    if (!ok) {
        bad(r, "default", "type", "does not fit the field's type");
        return;
    }
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, r->a, 64 * 1024);
    gly_json_init(&j, &b);
    if (gly_json_value(&j, v) < 0 || gly_json_finish(&j) < 0) {
        bad(r, "default", "max_length", "is too large");
        return;
    }
    f->def = gly_buf_cstr(&b);
}

/* Reads fields[i] into f. */
static void read_field(struct rd *r, const gly_jv *o, struct fld *f, const struct coll *prev)
{
    if (gly_jv_type(o) != GLY_JSON_OBJECT) {
        bad(r, NULL, "type", "must be an object");
        return;
    }
    const gly_jv *v = member(r, o, "name", GLY_JSON_STRING);
    gly_str name = v ? gly_jv_str(v) : (gly_str){NULL, 0};
    if (!v)
        bad(r, "name", "required", "is required");
    else if (!good_name(name))
        bad(r, "name", "pattern", "must match [a-z][a-z0-9_]{0,62}");
    else if (one_of(name, reserved_fields))
        bad(r, "name", "reserved", "is reserved");
    f->name = name.p ? dup_str(r, name) : "";

    gly_str type = gly_jv_str(member(r, o, "type", GLY_JSON_STRING));
    f->type = (enum fld_type) - 1;
    for (size_t t = 0; t < sizeof type_names / sizeof type_names[0]; t++)
        if (type.p && strlen(type_names[t]) == type.n && memcmp(type_names[t], type.p, type.n) == 0)
            f->type = (enum fld_type)t;
    if ((int)f->type < 0) {
        bad(r, "type", "enum",
            "must be one of text, number, bool, email, url, date, select, json, relation, "
            "autodate");
        f->type = FLD_TEXT;
    }

    /* the id: kept from the field it changes, matched by id, else by name */
    gly_str id = gly_jv_str(member(r, o, "id", GLY_JSON_STRING));
    const struct fld *old = NULL;
    for (size_t i = 0; prev && i < prev->nfields; i++) {
        const struct fld *p = &prev->fields[i];
        if (p->system)
            continue;
        if (id.p ? strlen(p->id) == id.n && memcmp(p->id, id.p, id.n) == 0
                 : strcmp(p->name, f->name) == 0)
            old = p;
    }
    if (id.p && !old && prev)
        bad(r, "id", "unknown", "names no field of this collection (leave it out for a new one)");
    f->id = old ? old->id : new_id(r->a, FIELD_ID_LEN);

    f->required = flag(r, o, "required");
    f->unique = flag(r, o, "unique");
    f->multi = flag(r, o, "multi");
    f->integer = flag(r, o, "integer");
    f->search = flag(r, o, "search");
    if (f->search && f->type != FLD_TEXT)
        bad(r, "search", "type", "only text fields are searched");
    read_bounds(r, o, f);
    if (f->multi && f->type != FLD_SELECT && f->type != FLD_RELATION)
        bad(r, "multi", "type", "only select and relation fields may be multi-valued");
    if (f->unique && (f->multi || f->type == FLD_JSON || f->type == FLD_BOOL))
        bad(r, "unique", "type", "multi-valued, json and bool fields cannot be unique");

    switch (f->type) {
    case FLD_TEXT:
        if ((v = member(r, o, "pattern", GLY_JSON_STRING))) {
            gly_str p = gly_jv_str(v);
            if (p.n > 1000)
                bad(r, "pattern", "max_length", "must be at most 1000 bytes");
            f->pattern = dup_str(r, p);
        }
        break;
    case FLD_SELECT:
        read_select(r, o, f);
        break;
    case FLD_RELATION: {
        gly_str target = gly_jv_str(member(r, o, "collection", GLY_JSON_STRING));
        if (!target.p)
            bad(r, "collection", "required", "a relation names the collection it points at");
        f->target = target.p ? dup_str(r, target) : "";
        gly_str del = gly_jv_str(member(r, o, "on_delete", GLY_JSON_STRING));
        f->on_delete = DEL_SET_NULL;
        if (del.p) {
            bool found = false;
            for (int d = 0; d < 3; d++)
                if (strlen(delete_names[d]) == del.n && memcmp(delete_names[d], del.p, del.n) == 0)
                    f->on_delete = (enum on_delete)d, found = true;
            if (!found)
                bad(r, "on_delete", "enum", "must be cascade, restrict or set_null");
        }
        if (f->on_delete == DEL_SET_NULL && f->required)
            bad(r, "on_delete", "enum", "a required relation cannot be set to null");
        break;
    }
    case FLD_AUTODATE:
        f->on_create = flag(r, o, "on_create");
        f->on_update = flag(r, o, "on_update");
        if (!f->on_create && !f->on_update)
            bad(r, "on_create", "required", "an autodate is set on create, on update or both");
        if (f->required || f->unique)
            bad(r, "required", "type", "an autodate is set by the server");
        break;
    default:
        break;
    }
    read_default(r, o, f);
    if (old && old->type != f->type)
        bad(r, "type", "immutable", "a field's type cannot change: add a new field instead");
    if (old && old->type == f->type && old->multi != f->multi)
        bad(r, "multi", "immutable", "cannot change: add a new field instead");
}

static void system_fields(struct fld *f)
{
    f[0] = (struct fld){.id = "id",
                        .name = "id",
                        .type = FLD_TEXT,
                        .system = true,
                        .required = true,
                        .unique = true};
    f[1] = (struct fld){.id = "created",
                        .name = "created",
                        .type = FLD_AUTODATE,
                        .system = true,
                        .on_create = true};
    f[2] = (struct fld){.id = "updated",
                        .name = "updated",
                        .type = FLD_AUTODATE,
                        .system = true,
                        .on_create = true,
                        .on_update = true};
}

static void read_indexes(struct rd *r, const gly_jv *doc, struct coll *c)
{
    const gly_jv *list = member(r, doc, "indexes", GLY_JSON_ARRAY);
    size_t n = list ? gly_jv_len(list) : 0;
    if (n > MAX_INDEXES) {
        bad(r, "indexes", "max_items", "at most 20 indexes");
        return;
    }
    c->indexes = n ? gly_arena_calloc(r->a, n, sizeof *c->indexes) : NULL;
    for (size_t i = 0; i < n && c->indexes; i++) {
        const gly_jv *o = gly_jv_at(list, i);
        snprintf(r->path, sizeof r->path, "indexes[%zu]", i);
        const gly_jv *fs =
            gly_jv_type(o) == GLY_JSON_OBJECT ? member(r, o, "fields", GLY_JSON_ARRAY) : NULL;
        size_t k = fs ? gly_jv_len(fs) : 0;
        if (k == 0 || k > 8) {
            bad(r, "fields", "required", "an index has 1 to 8 fields");
            continue;
        }
        struct coll_index *ix = &c->indexes[c->nindexes++];
        ix->unique = flag(r, o, "unique");
        ix->fields = gly_arena_calloc(r->a, k, sizeof *ix->fields);
        for (size_t j = 0; ix->fields && j < k; j++) {
            gly_str s = gly_jv_str(gly_jv_at(fs, j));
            const struct fld *f = s.p ? coll_field(c, s.p, s.n) : NULL;
            if (!f || fld_is_json(f))
                bad(r, "fields", "unknown", "each must name a field that is not json nor multi");
            else
                ix->fields[ix->nfields++] = f->name;
        }
    }
    r->path[0] = 0;
}

static void read_rules(struct rd *r, const gly_jv *doc, struct coll *c)
{
    const gly_jv *rules = member(r, doc, "rules", GLY_JSON_OBJECT);
    for (int op = 0; op < RULE__N; op++) {
        const gly_jv *v = rules ? gly_jv_get(rules, rule_names[op]) : NULL;
        c->rules[op] = NULL;
        if (!v || gly_jv_type(v) == GLY_JSON_NULL)
            continue;
        snprintf(r->path, sizeof r->path, "rules");
        gly_str s = gly_jv_str(v);
        if (!s.p)
            bad(r, rule_names[op], "type", "must be a string (a filter) or null");
        else if (s.n > MAX_RULE_LEN)
            bad(r, rule_names[op], "max_length", "must be at most 4096 bytes");
        else
            c->rules[op] = dup_str(r, s);
    }
    for (size_t i = 0; rules && i < gly_jv_len(rules); i++) {
        gly_str k = gly_jv_key_at(rules, i);
        if (!one_of(k, rule_names)) {
            snprintf(r->path, sizeof r->path, "rules");
            bad(r, dup_str(r, k), "unknown_field", "rules are list, view, create, update, delete");
        }
    }
    r->path[0] = 0;
}

int coll_parse(gly_arena *a, const gly_jv *doc, const struct coll *prev, struct coll *out,
               gly_verrors *errs)
{
    struct rd r = {.a = a, .errs = errs};
    memset(out, 0, sizeof *out);
    if (gly_jv_type(doc) != GLY_JSON_OBJECT) {
        gly_verrors_add(errs, "", "type", "must be an object");
        return errs->err;
    }
    gly_str name = gly_jv_str(member(&r, doc, "name", GLY_JSON_STRING));
    if (!name.p)
        bad(&r, "name", "required", "is required");
    else if (!good_name(name))
        bad(&r, "name", "pattern", "must match [a-z][a-z0-9_]{0,62}");
    else if ((name.n >= 5 && memcmp(name.p, "auth_", 5) == 0) ||
             (name.n >= 7 && memcmp(name.p, "galley_", 7) == 0) ||
             (name.n >= 7 && memcmp(name.p, "sqlite_", 7) == 0) ||
             (name.n >= 3 && memcmp(name.p, "pg_", 3) == 0))
        bad(&r, "name", "reserved", "auth_, galley_, sqlite_ and pg_ names are the system's");
    out->name = name.p ? dup_str(&r, name) : "";
    out->id = prev ? prev->id : new_id(a, REC_ID_LEN);
    out->system = prev && prev->system;

    const gly_jv *fields = member(&r, doc, "fields", GLY_JSON_ARRAY);
    size_t n = fields ? gly_jv_len(fields) : 0;
    if (n > MAX_FIELDS)
        bad(&r, "fields", "max_items", "at most 100 fields");
    out->fields = gly_arena_calloc(a, 3 + n, sizeof *out->fields);
    if (!out->fields)
        return GLY_ENOMEM;
    system_fields(out->fields);
    out->nfields = 3;
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        const gly_jv *o = gly_jv_at(fields, i);
        /* an exported definition lists the system fields: they are the server's */
        if (gly_jv_type(o) == GLY_JSON_OBJECT && gly_jv_bool(gly_jv_get(o, "system")))
            continue;
        /* a system collection's own fields (users: email, ...) are kept as they are */
        if (prev && prev->system) {
            gly_str fname = gly_jv_str(gly_jv_get(o, "name"));
            const struct fld *pf = fname.p ? coll_field(prev, fname.p, fname.n) : NULL;
            if (pf && pf->system)
                continue;
        }
        snprintf(r.path, sizeof r.path, "fields[%zu]", i);
        struct fld *f = &out->fields[out->nfields];
        read_field(&r, o, f, prev);
        for (size_t k = 3; k < out->nfields; k++)
            if (strcmp(out->fields[k].name, f->name) == 0 && f->name[0])
                bad(&r, "name", "duplicate", "two fields have this name");
        out->nfields++;
    }
    r.path[0] = 0;
    /* a system collection keeps its system fields first */
    if (prev && prev->system) {
        size_t nsys = 0;
        for (size_t i = 3; i < prev->nfields; i++)
            nsys += prev->fields[i].system;
        struct fld *all = gly_arena_calloc(a, out->nfields + nsys, sizeof *all);
        if (!all)
            return GLY_ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < prev->nfields; i++)
            if (prev->fields[i].system)
                all[k++] = prev->fields[i];
        for (size_t i = 3; i < out->nfields; i++)
            all[k++] = out->fields[i];
        out->fields = all;
        out->nfields = k;
    }
    read_indexes(&r, doc, out);
    read_rules(&r, doc, out);
    for (size_t i = 0; i < gly_jv_len(doc); i++) {
        static const char *const known[] = {"id",      "name",    "fields", "indexes", "rules",
                                            "created", "updated", "system", "type",    NULL};
        gly_str k = gly_jv_key_at(doc, i);
        if (!one_of(k, known))
            bad(&r, dup_str(&r, k), "unknown_field", "is not part of a collection");
    }
    return errs->err;
}

int coll_resolve(struct coll *c, const struct schema *s, gly_verrors *errs)
{
    for (size_t i = 0; i < c->nfields; i++) {
        struct fld *f = &c->fields[i];
        if (f->type != FLD_RELATION)
            continue;
        f->to = strcmp(f->target, c->name) == 0 ? c : schema_find(s, f->target, strlen(f->target));
        if (!f->to && errs) {
            char path[80];
            snprintf(path, sizeof path, "fields.%s.collection", f->name);
            gly_verrors_add(errs, path, "unknown", "no collection is named \"%s\"", f->target);
        }
    }
    return errs ? errs->err : 0;
}

/* ------------------------------------------------------------------------ */
/* Writing a definition                                                     */
/* ------------------------------------------------------------------------ */

static void field_json(gly_json *j, const struct fld *f)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "id");
    gly_json_str(j, f->id);
    gly_json_key(j, "name");
    gly_json_str(j, f->name);
    gly_json_key(j, "type");
    gly_json_str(j, type_names[f->type]);
    if (f->system) {
        gly_json_key(j, "system");
        gly_json_bool(j, true);
    }
    gly_json_key(j, "required");
    gly_json_bool(j, f->required);
    gly_json_key(j, "unique");
    gly_json_bool(j, f->unique);
    if (f->type == FLD_SELECT || f->type == FLD_RELATION) {
        gly_json_key(j, "multi");
        gly_json_bool(j, f->multi);
    }
    if (f->has_min) {
        gly_json_key(j, "min");
        gly_json_double(j, f->min);
    }
    if (f->has_max) {
        gly_json_key(j, "max");
        gly_json_double(j, f->max);
    }
    if (f->type == FLD_NUMBER) {
        gly_json_key(j, "integer");
        gly_json_bool(j, f->integer);
    }
    if (f->type == FLD_TEXT && !f->system) {
        gly_json_key(j, "search");
        gly_json_bool(j, f->search);
    }
    if (f->pattern) {
        gly_json_key(j, "pattern");
        gly_json_str(j, f->pattern);
    }
    if (f->type == FLD_SELECT) {
        gly_json_key(j, "values");
        gly_json_arr_begin(j);
        for (size_t i = 0; i < f->nvalues; i++)
            gly_json_str(j, f->values[i]);
        gly_json_arr_end(j);
    }
    if (f->type == FLD_RELATION) {
        gly_json_key(j, "collection");
        gly_json_str(j, f->target);
        gly_json_key(j, "on_delete");
        gly_json_str(j, delete_names[f->on_delete]);
    }
    if (f->type == FLD_AUTODATE) {
        gly_json_key(j, "on_create");
        gly_json_bool(j, f->on_create);
        gly_json_key(j, "on_update");
        gly_json_bool(j, f->on_update);
    }
    if (f->def) {
        gly_json_key(j, "default");
        gly_json_raw(j, f->def, strlen(f->def));
    }
    gly_json_obj_end(j);
}

void coll_json(gly_json *j, const struct coll *c)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "id");
    gly_json_str(j, c->id);
    gly_json_key(j, "name");
    gly_json_str(j, c->name);
    gly_json_key(j, "system");
    gly_json_bool(j, c->system);
    gly_json_key(j, "fields");
    gly_json_arr_begin(j);
    for (size_t i = 0; i < c->nfields; i++)
        if (!c->fields[i].hidden)
            field_json(j, &c->fields[i]);
    gly_json_arr_end(j);
    gly_json_key(j, "indexes");
    gly_json_arr_begin(j);
    for (size_t i = 0; i < c->nindexes; i++) {
        gly_json_obj_begin(j);
        gly_json_key(j, "fields");
        gly_json_arr_begin(j);
        for (size_t k = 0; k < c->indexes[i].nfields; k++)
            gly_json_str(j, c->indexes[i].fields[k]);
        gly_json_arr_end(j);
        gly_json_key(j, "unique");
        gly_json_bool(j, c->indexes[i].unique);
        gly_json_obj_end(j);
    }
    gly_json_arr_end(j);
    gly_json_key(j, "rules");
    gly_json_obj_begin(j);
    for (int op = 0; op < RULE__N; op++) {
        gly_json_key(j, rule_names[op]);
        gly_json_str(j, c->rules[op]); /* NULL: null */
    }
    gly_json_obj_end(j);
    if (c->created) {
        gly_json_key(j, "created");
        gly_json_str(j, c->created);
        gly_json_key(j, "updated");
        gly_json_str(j, c->updated);
    }
    gly_json_obj_end(j);
}

/* ------------------------------------------------------------------------ */
/* DDL                                                                      */
/* ------------------------------------------------------------------------ */

const char *fld_sql_type(const struct fld *f, int dialect)
{
    if (fld_is_json(f))
        return dialect == DIALECT_PG ? "JSONB" : "TEXT";
    if (f->type == FLD_NUMBER)
        return dialect == DIALECT_PG ? "DOUBLE PRECISION" : "REAL";
    if (f->type == FLD_BOOL)
        return "INTEGER";
    return "TEXT";
}

/* The column's constraint and default: every value but relations and json has an empty form. */
static const char *fld_sql_default(const struct fld *f)
{
    if (f->multi)
        return " NOT NULL DEFAULT '[]'";
    if (f->type == FLD_JSON || f->type == FLD_RELATION)
        return "";
    if (f->type == FLD_NUMBER || f->type == FLD_BOOL)
        return " NOT NULL DEFAULT 0";
    return " NOT NULL DEFAULT ''";
}

static void stmt_end(gly_buf *out)
{
    gly_buf_putc(out, 0);
}

static void column_def(gly_buf *out, const struct fld *f, int dialect)
{
    gly_buf_printf(out, "\"%s\" %s%s", f->name, fld_sql_type(f, dialect), fld_sql_default(f));
}

/* The index of a unique field: "" is every empty value, so it is left out of the index. */
static void unique_index(gly_buf *out, const struct coll *c, const struct fld *f)
{
    gly_buf_printf(out, "CREATE UNIQUE INDEX \"u_%s_%s\" ON \"%s\" (\"%s\")", c->id, f->id, c->name,
                   f->name);
    if (f->type != FLD_NUMBER)
        gly_buf_printf(out, " WHERE \"%s\" <> ''", f->name);
    stmt_end(out);
}

static void relation_index(gly_buf *out, const struct coll *c, const struct fld *f)
{
    gly_buf_printf(out, "CREATE INDEX \"r_%s_%s\" ON \"%s\" (\"%s\")", c->id, f->id, c->name,
                   f->name);
    stmt_end(out);
}

/* User indexes are named after the collection and their position's fields' ids. */
static void user_index(gly_buf *out, const struct coll *c, const struct coll_index *ix)
{
    gly_buf_printf(out, "CREATE %sINDEX \"x_%s", ix->unique ? "UNIQUE " : "", c->id);
    for (size_t k = 0; k < ix->nfields; k++)
        gly_buf_printf(out, "_%s", coll_field(c, ix->fields[k], strlen(ix->fields[k]))->id);
    gly_buf_printf(out, "\" ON \"%s\" (", c->name);
    for (size_t k = 0; k < ix->nfields; k++)
        gly_buf_printf(out, "%s\"%s\"", k ? ", " : "", ix->fields[k]);
    /* lists sort by the index's fields then the id (filter.c): the id ends the index too */
    gly_buf_puts(out, ix->unique ? ")" : ", \"id\")");
    stmt_end(out);
}

static void user_index_drop(gly_buf *out, const struct coll *c, const struct coll_index *ix)
{
    gly_buf_printf(out, "DROP INDEX IF EXISTS \"x_%s", c->id);
    for (size_t k = 0; k < ix->nfields; k++)
        gly_buf_printf(out, "_%s", coll_field(c, ix->fields[k], strlen(ix->fields[k]))->id);
    gly_buf_puts(out, "\"");
    stmt_end(out);
}

static bool same_index(const struct coll *a, const struct coll_index *x, const struct coll *b,
                       const struct coll_index *y)
{
    if (x->unique != y->unique || x->nfields != y->nfields)
        return false;
    for (size_t k = 0; k < x->nfields; k++) {
        const struct fld *fa = coll_field(a, x->fields[k], strlen(x->fields[k]));
        const struct fld *fb = coll_field(b, y->fields[k], strlen(y->fields[k]));
        if (!fa || !fb || strcmp(fa->id, fb->id) != 0)
            return false;
    }
    return true;
}

/* ---- the full-text index (q=, search.c) --------------------------------- */

static size_t searched_count(const struct coll *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nfields; i++)
        n += fld_searched(c, &c->fields[i]);
    return n;
}

/*
 * Appends, separated by sep, each searched field as pre"<name>" (names: its
 * column) or as "f_<id>" (its column in the FTS5 table).
 */
static void searched_list(gly_buf *out, const struct coll *c, const char *pre, const char *sep,
                          bool names)
{
    bool first = true;
    for (size_t i = 0; i < c->nfields; i++) {
        const struct fld *f = &c->fields[i];
        if (!fld_searched(c, f))
            continue;
        gly_buf_printf(out, names ? "%s%s\"%s\"" : "%s%s\"f_%s\"", first ? "" : sep, pre,
                       names ? f->name : f->id);
        first = false;
    }
}

/*
 * Whether the index must be made again: the searched fields are others or
 * in another order, or (SQLite, whose triggers name the table and the
 * columns) renamed, or the table is.
 */
static bool search_changed(const struct coll *prev, const struct coll *c, int dialect)
{
    size_t i = 0, k = 0;
    for (;;) {
        while (i < prev->nfields && !fld_searched(prev, &prev->fields[i]))
            i++;
        while (k < c->nfields && !fld_searched(c, &c->fields[k]))
            k++;
        if (i == prev->nfields || k == c->nfields)
            break;
        const struct fld *a = &prev->fields[i++], *b = &c->fields[k++];
        if (strcmp(a->id, b->id) != 0 || (dialect == DIALECT_SQLITE && strcmp(a->name, b->name)))
            return true;
    }
    if (i != prev->nfields || k != c->nfields)
        return true;
    return dialect == DIALECT_SQLITE && searched_count(c) && strcmp(prev->name, c->name) != 0;
}

void ddl_tsvector(gly_buf *out, const struct coll *c, const char *alias)
{
    /*
     * ASCII punctuation becomes a space first, so that words split as FTS5's
     * unicode61 splits them on SQLite ("example.com" is two words, not a host).
     */
    gly_buf_puts(out, "to_tsvector('simple'::regconfig, regexp_replace(");
    char pre[72];
    snprintf(pre, sizeof pre, "%s%s", alias ? alias : "", alias ? "." : "");
    searched_list(out, c, pre, " || ' ' || ", true);
    gly_buf_puts(out, ", '[[:punct:]]', ' ', 'g'))");
}

/* Makes c's index and fills it from the records there are. */
static void search_create(gly_buf *out, const struct coll *c, int dialect)
{
    if (searched_count(c) == 0)
        return;
    if (dialect == DIALECT_PG) {
        gly_buf_printf(out, "CREATE INDEX \"s_%s\" ON \"%s\" USING gin (", c->id, c->name);
        ddl_tsvector(out, c, NULL);
        gly_buf_puts(out, ")");
        stmt_end(out);
        return;
    }
    /* diacritics are kept as PostgreSQL keeps them: the two find the same */
    gly_buf_printf(out, "CREATE VIRTUAL TABLE \"galley_fts_%s\" USING fts5(", c->id);
    searched_list(out, c, "", ", ", false);
    gly_buf_puts(out, ", content='', tokenize='unicode61 remove_diacritics 0')");
    stmt_end(out);
    static const char *const what[] = {"ai", "INSERT", "ad", "DELETE", "au", "UPDATE"};
    for (int t = 0; t < 3; t++) {
        gly_buf_printf(out, "CREATE TRIGGER \"galley_fts_%s_%s\" AFTER %s ", c->id, what[2 * t],
                       what[2 * t + 1]);
        if (t == 2) {
            gly_buf_puts(out, "OF ");
            searched_list(out, c, "", ", ", true);
            gly_buf_puts(out, " ");
        }
        gly_buf_printf(out, "ON \"%s\" BEGIN ", c->name);
        if (t > 0) { /* a contentless table forgets a row given the values it had */
            gly_buf_printf(out, "INSERT INTO \"galley_fts_%s\" (\"galley_fts_%s\", rowid, ", c->id,
                           c->id);
            searched_list(out, c, "", ", ", false);
            gly_buf_puts(out, ") VALUES ('delete', old.rowid, ");
            searched_list(out, c, "old.", ", ", true);
            gly_buf_puts(out, "); ");
        }
        if (t != 1) {
            gly_buf_printf(out, "INSERT INTO \"galley_fts_%s\" (rowid, ", c->id);
            searched_list(out, c, "", ", ", false);
            gly_buf_puts(out, ") VALUES (new.rowid, ");
            searched_list(out, c, "new.", ", ", true);
            gly_buf_puts(out, "); ");
        }
        gly_buf_puts(out, "END");
        stmt_end(out);
    }
    gly_buf_printf(out, "INSERT INTO \"galley_fts_%s\" (rowid, ", c->id);
    searched_list(out, c, "", ", ", false);
    gly_buf_puts(out, ") SELECT rowid, ");
    searched_list(out, c, "", ", ", true);
    gly_buf_printf(out, " FROM \"%s\"", c->name);
    stmt_end(out);
}

/* Drops c's index (the triggers first: SQLite refuses to drop a column a trigger names). */
static void search_drop(gly_buf *out, const struct coll *c, int dialect)
{
    if (searched_count(c) == 0)
        return;
    if (dialect == DIALECT_PG) {
        gly_buf_printf(out, "DROP INDEX IF EXISTS \"s_%s\"", c->id);
        stmt_end(out);
        return;
    }
    static const char *const what[] = {"ai", "ad", "au"};
    for (int t = 0; t < 3; t++) {
        gly_buf_printf(out, "DROP TRIGGER IF EXISTS \"galley_fts_%s_%s\"", c->id, what[t]);
        stmt_end(out);
    }
    gly_buf_printf(out, "DROP TABLE IF EXISTS \"galley_fts_%s\"", c->id);
    stmt_end(out);
}

int ddl_create(gly_buf *out, const struct coll *c, int dialect)
{
    /*
     * On SQLite the rowid is made an INTEGER PRIMARY KEY of its own: the
     * full-text table follows records by rowid, and VACUUM keeps only
     * rowids that are declared so (the id is then a UNIQUE key, the same
     * one index lookup as before).
     */
    if (dialect == DIALECT_SQLITE)
        gly_buf_printf(out,
                       "CREATE TABLE \"%s\" (\"galley_rowid\" INTEGER PRIMARY KEY, "
                       "\"id\" TEXT NOT NULL UNIQUE",
                       c->name);
    else
        gly_buf_printf(out, "CREATE TABLE \"%s\" (\"id\" TEXT PRIMARY KEY NOT NULL", c->name);
    for (size_t i = 1; i < c->nfields; i++) {
        gly_buf_puts(out, ", ");
        column_def(out, &c->fields[i], dialect);
    }
    gly_buf_puts(out, ")");
    stmt_end(out);
    gly_buf_printf(out, "CREATE INDEX \"c_%s\" ON \"%s\" (\"created\", \"id\")", c->id, c->name);
    stmt_end(out);
    for (size_t i = 3; i < c->nfields; i++) {
        if (c->fields[i].unique)
            unique_index(out, c, &c->fields[i]);
        if (c->fields[i].type == FLD_RELATION && !c->fields[i].multi)
            relation_index(out, c, &c->fields[i]);
    }
    for (size_t i = 0; i < c->nindexes; i++)
        user_index(out, c, &c->indexes[i]);
    search_create(out, c, dialect);
    return gly_buf_putc(out, 0);
}

static const struct fld *by_id(const struct coll *c, const char *id)
{
    for (size_t i = 0; i < c->nfields; i++)
        if (strcmp(c->fields[i].id, id) == 0)
            return &c->fields[i];
    return NULL;
}

int ddl_alter(gly_buf *out, const struct coll *prev, const struct coll *c, int dialect,
              const char **why)
{
    *why = NULL;
    bool research = search_changed(prev, c, dialect);
    if (research)
        search_drop(out, prev, dialect);
    /* indexes that go or change go first: a dropped column must not be indexed */
    for (size_t i = 0; i < prev->nindexes; i++) {
        bool kept = false;
        for (size_t k = 0; k < c->nindexes && !kept; k++)
            kept = same_index(prev, &prev->indexes[i], c, &c->indexes[k]);
        if (!kept)
            user_index_drop(out, prev, &prev->indexes[i]);
    }
    for (size_t i = 0; i < prev->nfields; i++) {
        const struct fld *old = &prev->fields[i], *now = by_id(c, old->id);
        if (old->system)
            continue;
        if (old->unique && (!now || !now->unique)) {
            gly_buf_printf(out, "DROP INDEX IF EXISTS \"u_%s_%s\"", prev->id, old->id);
            stmt_end(out);
        }
        if (old->type == FLD_RELATION && !old->multi && !now) {
            gly_buf_printf(out, "DROP INDEX IF EXISTS \"r_%s_%s\"", prev->id, old->id);
            stmt_end(out);
        }
        if (!now) {
            gly_buf_printf(out, "ALTER TABLE \"%s\" DROP COLUMN \"%s\"", prev->name, old->name);
            stmt_end(out);
        }
    }
    if (strcmp(prev->name, c->name) != 0) {
        gly_buf_printf(out, "ALTER TABLE \"%s\" RENAME TO \"%s\"", prev->name, c->name);
        stmt_end(out);
    }
    for (size_t i = 0; i < c->nfields; i++) {
        const struct fld *f = &c->fields[i], *old = by_id(prev, f->id);
        if (f->system)
            continue;
        if (old && (old->type != f->type || old->multi != f->multi)) {
            *why = "a field's type cannot change";
            return GLY_EINVAL;
        }
        if (old && strcmp(old->name, f->name) != 0) {
            gly_buf_printf(out, "ALTER TABLE \"%s\" RENAME COLUMN \"%s\" TO \"%s\"", c->name,
                           old->name, f->name);
            stmt_end(out);
        }
        if (!old) {
            gly_buf_printf(out, "ALTER TABLE \"%s\" ADD COLUMN ", c->name);
            column_def(out, f, dialect);
            stmt_end(out);
            if (f->type == FLD_RELATION && !f->multi)
                relation_index(out, c, f);
        }
        if (f->unique && (!old || !old->unique))
            unique_index(out, c, f);
    }
    for (size_t i = 0; i < c->nindexes; i++) {
        bool had = false;
        for (size_t k = 0; k < prev->nindexes && !had; k++)
            had = same_index(prev, &prev->indexes[k], c, &c->indexes[i]);
        if (!had)
            user_index(out, c, &c->indexes[i]);
    }
    if (research)
        search_create(out, c, dialect);
    return gly_buf_putc(out, 0);
}

int ddl_drop(gly_buf *out, const struct coll *c)
{
    gly_buf_printf(out, "DROP TABLE \"%s\"", c->name);
    stmt_end(out);
    /* the FTS5 table of SQLite (its triggers went with the table); nothing on PostgreSQL */
    if (searched_count(c)) {
        gly_buf_printf(out, "DROP TABLE IF EXISTS \"galley_fts_%s\"", c->id);
        stmt_end(out);
    }
    return gly_buf_putc(out, 0);
}

/* ------------------------------------------------------------------------ */
/* Schemas                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The system collection "users": the auth module's table, seen as a
 * collection so that relations, filters, expand and rules reach it. Its
 * system fields are the auth module's: only name shows; email, role and the
 * rest are hidden (never selected, never filtered: a rule such as
 * author.email ~ "a%" must not probe addresses). Custom fields added with
 * PATCH /api/v1/collections/users become columns of the table. Users are
 * created and deleted through /api/v1/auth and /api/v1/users only.
 */
static struct coll *users_coll(gly_arena *a, const struct coll *stored)
{
    static const struct {
        const char *name;
        enum fld_type type;
        bool hidden;
    } own[] = {{"email", FLD_EMAIL, true},   {"name", FLD_TEXT, false},
               {"role", FLD_TEXT, true},     {"email_verified", FLD_BOOL, true},
               {"disabled", FLD_BOOL, true}, {"password_hash", FLD_TEXT, true}};
    size_t nown = sizeof own / sizeof own[0], ncustom = 0;
    for (size_t i = 0; stored && i < stored->nfields; i++)
        ncustom += !stored->fields[i].system;
    struct coll *c = gly_arena_calloc(a, 1, sizeof *c);
    struct fld *f = gly_arena_calloc(a, 3 + nown + ncustom, sizeof *f);
    if (!c || !f)
        return NULL;
    if (stored)
        *c = *stored;
    c->id = "users";
    c->name = "users";
    c->system = true;
    system_fields(f);
    for (size_t i = 0; i < nown; i++)
        f[3 + i] = (struct fld){.id = own[i].name,
                                .name = own[i].name,
                                .type = own[i].type,
                                .system = true,
                                .hidden = own[i].hidden};
    size_t n = 3 + nown;
    for (size_t i = 0; stored && i < stored->nfields; i++)
        if (!stored->fields[i].system)
            f[n++] = stored->fields[i];
    c->fields = f;
    c->nfields = n;
    return c;
}

const char *columns_sql(gly_arena *a, const struct coll *c, const char *alias)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, a, 0);
    for (size_t i = 0; i < c->nfields; i++) {
        if (c->fields[i].hidden)
            continue;
        if (b.len)
            gly_buf_puts(&b, ", ");
        if (alias) {
            gly_buf_puts(&b, alias);
            gly_buf_putc(&b, '.');
        }
        gly_buf_putc(&b, '"');
        gly_buf_puts(&b, c->fields[i].name);
        gly_buf_putc(&b, '"');
    }
    return gly_buf_cstr(&b);
}

struct schema_box *schema_build(const char *const *defs, size_t n, uint64_t version, char *why,
                                size_t whylen)
{
    struct schema_box *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    gly_arena_init(&b->arena, 0);
    atomic_init(&b->refs, 1);
    b->s.version = version;
    b->s.colls = gly_arena_calloc(&b->arena, n + 1, sizeof *b->s.colls); /* + users */
    gly_verrors errs;
    gly_verrors_init(&errs, &b->arena);
    for (size_t i = 0; b->s.colls && i < n; i++) {
        gly_jv *doc;
        struct coll *c = gly_arena_calloc(&b->arena, 1, sizeof *c);
        if (!c || gly_json_parse(&b->arena, defs[i], strlen(defs[i]), NULL, &doc, NULL) < 0 ||
            coll_parse(&b->arena, doc, NULL, c, &errs) < 0 || errs.count) {
            snprintf(why, whylen, "stored collection %zu: %s %s", i,
                     errs.count ? errs.items[0].field : "",
                     errs.count ? errs.items[0].message : "does not parse");
            schema_put(b);
            return NULL;
        }
        /* what parsing a new definition gives afresh is kept from the stored one */
        const gly_jv *fs = gly_jv_get(doc, "fields");
        for (size_t k = 0, f = 3; k < gly_jv_len(fs) && f < c->nfields; k++) {
            const gly_jv *o = gly_jv_at(fs, k);
            if (gly_jv_bool(gly_jv_get(o, "system")))
                continue;
            gly_str id = gly_jv_str(gly_jv_get(o, "id"));
            if (id.p)
                c->fields[f].id = gly_arena_strndup(&b->arena, id.p, id.n);
            f++;
        }
        gly_str id = gly_jv_str(gly_jv_get(doc, "id"));
        gly_str cr = gly_jv_str(gly_jv_get(doc, "created"));
        gly_str up = gly_jv_str(gly_jv_get(doc, "updated"));
        if (id.p)
            c->id = gly_arena_strndup(&b->arena, id.p, id.n);
        c->created = cr.p ? gly_arena_strndup(&b->arena, cr.p, cr.n) : NULL;
        c->updated = up.p ? gly_arena_strndup(&b->arena, up.p, up.n) : NULL;
        b->s.colls[b->s.ncolls++] = c;
    }
    /* users is always there: as stored once changed, else as the auth module made it */
    struct coll *stored = (struct coll *)schema_find(&b->s, "users", 5);
    struct coll *users = b->s.colls ? users_coll(&b->arena, stored) : NULL;
    if (users && stored) {
        for (size_t i = 0; i < b->s.ncolls; i++)
            if (b->s.colls[i] == stored)
                b->s.colls[i] = users;
    } else if (users) { /* in its place by name, as if stored */
        size_t at = 0;
        while (at < b->s.ncolls && strcmp(b->s.colls[at]->name, "users") < 0)
            at++;
        memmove(b->s.colls + at + 1, b->s.colls + at, (b->s.ncolls - at) * sizeof *b->s.colls);
        b->s.colls[at] = users;
        b->s.ncolls++;
    }
    for (size_t i = 0; b->s.colls && i < b->s.ncolls; i++) {
        struct coll *c = b->s.colls[i];
        coll_resolve(c, &b->s, NULL);
        c->cols = columns_sql(&b->arena, c, NULL);
        c->cols_r = columns_sql(&b->arena, c, "r");
    }
    if (!b->s.colls) {
        snprintf(why, whylen, "out of memory");
        schema_put(b);
        return NULL;
    }
    return b;
}

void schema_put(struct schema_box *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1) {
        gly_arena_dispose(&b->arena);
        free(b);
    }
}
