/*
 * src/records/openapi.c - each collection in /openapi.json as it is now:
 * the paths of its records and the JSON Schemas of a record, of a create
 * and of an update, so that clients generated from the document are typed.
 *
 * The document is written from the schema of the request that asks for it,
 * so a collection defined a moment ago is in it.
 */
#include <string.h>

#include "records/internal.h"

#define RAW(j, lit) gly_json_raw((j), lit, sizeof(lit) - 1)

static void str_member(gly_json *j, const char *key, const char *value)
{
    gly_json_key(j, key);
    gly_json_str(j, value);
}

/* The JSON Schema of one field's value. */
static void field_schema(gly_json *j, const struct fld *f)
{
    gly_json_obj_begin(j);
    if (f->multi) {
        str_member(j, "type", "array");
        if (f->has_min) {
            gly_json_key(j, "minItems");
            gly_json_i64(j, (int64_t)f->min);
        }
        if (f->has_max) {
            gly_json_key(j, "maxItems");
            gly_json_i64(j, (int64_t)f->max);
        }
        gly_json_key(j, "items");
        gly_json_obj_begin(j);
        str_member(j, "type", "string");
    }
    switch (f->type) {
    case FLD_NUMBER:
        str_member(j, "type", f->integer ? "integer" : "number");
        if (f->has_min) {
            gly_json_key(j, "minimum");
            gly_json_double(j, f->min);
        }
        if (f->has_max) {
            gly_json_key(j, "maximum");
            gly_json_double(j, f->max);
        }
        break;
    case FLD_BOOL:
        str_member(j, "type", "boolean");
        break;
    case FLD_JSON:
        str_member(j, "description", "any JSON value");
        break;
    case FLD_SELECT:
        if (!f->multi)
            str_member(j, "type", "string");
        gly_json_key(j, "enum");
        gly_json_arr_begin(j);
        if (!f->multi && !f->required)
            gly_json_str(j, "");
        for (size_t i = 0; i < f->nvalues; i++)
            gly_json_str(j, f->values[i]);
        gly_json_arr_end(j);
        break;
    case FLD_RELATION:
        if (!f->multi)
            str_member(j, "type", "string");
        if (f->target) {
            char what[160];
            snprintf(what, sizeof what, "the id of a record of %s", f->target);
            str_member(j, "description", what);
        }
        break;
    default:
        str_member(j, "type", "string");
        if (f->type == FLD_EMAIL)
            str_member(j, "description", "an email address, or \"\"");
        else if (f->type == FLD_URL)
            str_member(j, "description", "an http(s) URL, or \"\"");
        else if (f->type == FLD_DATE || f->type == FLD_AUTODATE)
            str_member(j, "description", "a date-time, stored in UTC as YYYY-MM-DDTHH:MM:SS.sssZ");
        if (f->type == FLD_TEXT && f->has_min) {
            gly_json_key(j, "minLength");
            gly_json_i64(j, (int64_t)f->min);
        }
        if (f->type == FLD_TEXT && f->has_max) {
            gly_json_key(j, "maxLength");
            gly_json_i64(j, (int64_t)f->max);
        }
        if (f->pattern)
            str_member(j, "pattern", f->pattern);
    }
    if (f->multi)
        gly_json_obj_end(j);
    if (f->system || f->type == FLD_AUTODATE) {
        gly_json_key(j, "readOnly");
        gly_json_bool(j, true);
    }
    gly_json_obj_end(j);
}

enum shape { RECORD, CREATE, UPDATE };

/* The schema of a record (every field), or of a create's or an update's body. */
static void record_schema(gly_json *j, const struct coll *c, enum shape shape)
{
    gly_json_obj_begin(j);
    str_member(j, "type", "object");
    gly_json_key(j, "properties");
    gly_json_obj_begin(j);
    for (size_t i = 0; i < c->nfields; i++) {
        const struct fld *f = &c->fields[i];
        if (f->hidden || (shape != RECORD && !fld_writable(f)))
            continue;
        gly_json_key(j, f->name);
        field_schema(j, f);
    }
    gly_json_obj_end(j);
    gly_json_key(j, "required");
    gly_json_arr_begin(j);
    for (size_t i = 0; i < c->nfields; i++) {
        const struct fld *f = &c->fields[i];
        if (f->hidden || shape == UPDATE || (shape == CREATE && (!fld_writable(f) || !f->required)))
            continue;
        gly_json_str(j, f->name);
    }
    gly_json_arr_end(j);
    gly_json_key(j, "additionalProperties");
    gly_json_bool(j, false);
    gly_json_obj_end(j);
}

static void ref(gly_json *j, const char *coll, const char *suffix)
{
    char r[128];
    snprintf(r, sizeof r, "#/components/schemas/%s%s", coll, suffix);
    gly_json_obj_begin(j);
    str_member(j, "$ref", r);
    gly_json_obj_end(j);
}

static void json_content(gly_json *j, const char *coll, const char *suffix, bool page)
{
    gly_json_key(j, "content");
    gly_json_obj_begin(j);
    gly_json_key(j, "application/json");
    gly_json_obj_begin(j);
    gly_json_key(j, "schema");
    if (!page) {
        ref(j, coll, suffix);
    } else {
        gly_json_obj_begin(j);
        str_member(j, "type", "object");
        gly_json_key(j, "properties");
        gly_json_obj_begin(j);
        gly_json_key(j, "items");
        gly_json_obj_begin(j);
        str_member(j, "type", "array");
        gly_json_key(j, "items");
        ref(j, coll, suffix);
        gly_json_obj_end(j);
        static const char *const ints[] = {"page", "per_page", "total_items", "total_pages"};
        for (size_t i = 0; i < 4; i++) {
            gly_json_key(j, ints[i]);
            RAW(j, "{\"type\":\"integer\"}");
        }
        gly_json_key(j, "next");
        RAW(j, "{\"type\":[\"string\",\"null\"],\"description\":\"the cursor of the next page "
               "(after=)\"}");
        gly_json_obj_end(j);
        gly_json_obj_end(j);
    }
    gly_json_obj_end(j);
    gly_json_obj_end(j);
}

static void param(gly_json *j, const char *name, const char *in, const char *type,
                  const char *description)
{
    gly_json_obj_begin(j);
    str_member(j, "name", name);
    str_member(j, "in", in);
    if (strcmp(in, "path") == 0) {
        gly_json_key(j, "required");
        gly_json_bool(j, true);
    }
    str_member(j, "description", description);
    gly_json_key(j, "schema");
    gly_json_obj_begin(j);
    str_member(j, "type", type);
    gly_json_obj_end(j);
    gly_json_obj_end(j);
}

/* One operation: summary, operationId, tags, parameters, body, the success answer. */
static void operation(gly_json *j, const struct coll *c, const char *method, const char *verb,
                      const char *summary, int status, const char *body, const char *answer,
                      bool page, bool list_params)
{
    char id[128];
    gly_json_key(j, method);
    gly_json_obj_begin(j);
    str_member(j, "summary", summary);
    snprintf(id, sizeof id, "%s_%s", verb, c->name);
    str_member(j, "operationId", id);
    gly_json_key(j, "tags");
    gly_json_arr_begin(j);
    gly_json_str(j, c->name);
    gly_json_arr_end(j);
    if (list_params) {
        gly_json_key(j, "parameters");
        gly_json_arr_begin(j);
        param(j, "filter", "query", "string", "a filter (docs/filter.md)");
        param(j, "sort", "query", "string", "fields, - for descending: -created,title");
        param(j, "page", "query", "integer", "from 1");
        param(j, "per_page", "query", "integer", "1 to 500, 30 by default");
        param(j, "skip_total", "query", "integer", "1: do not count (total_items -1)");
        param(j, "after", "query", "string", "the next cursor of the page before");
        param(j, "fields", "query", "string", "the fields to show: id,title");
        gly_json_arr_end(j);
    }
    if (body) {
        gly_json_key(j, "requestBody");
        gly_json_obj_begin(j);
        gly_json_key(j, "required");
        gly_json_bool(j, true);
        json_content(j, c->name, body, false);
        gly_json_obj_end(j);
    }
    gly_json_key(j, "responses");
    gly_json_obj_begin(j);
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    gly_json_key(j, code);
    gly_json_obj_begin(j);
    str_member(j, "description", status == 204 ? "Done" : status == 201 ? "Created" : "OK");
    if (answer)
        json_content(j, c->name, answer, page);
    gly_json_obj_end(j);
    gly_json_key(j, "default");
    RAW(j, "{\"$ref\":\"#/components/responses/Problem\"}");
    gly_json_obj_end(j);
    gly_json_obj_end(j);
}

static int paths(gly_req *req, gly_json *j, void *ctx)
{
    (void)ctx;
    const struct schema *s = rec_schema(req);
    if (!s)
        return 1;
    char path[128];
    for (size_t i = 0; i < s->ncolls; i++) {
        const struct coll *c = s->colls[i];
        snprintf(path, sizeof path, "/api/v1/collections/%s/records", c->name);
        gly_json_key(j, path);
        gly_json_obj_begin(j);
        operation(j, c, "get", "list", "A page of records", 200, NULL, "", true, true);
        operation(j, c, "post", "create", "Create a record", 201, ".create", "", false, false);
        gly_json_obj_end(j);
        snprintf(path, sizeof path, "/api/v1/collections/%s/records/{id}", c->name);
        gly_json_key(j, path);
        gly_json_obj_begin(j);
        gly_json_key(j, "parameters");
        gly_json_arr_begin(j);
        param(j, "id", "path", "string", "the record's id");
        gly_json_arr_end(j);
        operation(j, c, "get", "get", "A record", 200, NULL, "", false, false);
        operation(j, c, "patch", "update", "Change a record", 200, ".update", "", false, false);
        operation(j, c, "delete", "delete", "Delete a record", 204, NULL, NULL, false, false);
        gly_json_obj_end(j);
    }
    return 0;
}

static int schemas(gly_req *req, gly_json *j, void *ctx)
{
    (void)ctx;
    const struct schema *s = rec_schema(req);
    if (!s)
        return 1;
    char name[96];
    for (size_t i = 0; i < s->ncolls; i++) {
        const struct coll *c = s->colls[i];
        gly_json_key(j, c->name);
        record_schema(j, c, RECORD);
        snprintf(name, sizeof name, "%s.create", c->name);
        gly_json_key(j, name);
        record_schema(j, c, CREATE);
        snprintf(name, sizeof name, "%s.update", c->name);
        gly_json_key(j, name);
        record_schema(j, c, UPDATE);
    }
    return 0;
}

int rec_openapi_init(gly_app *app)
{
    return gly_openapi_extend(app, &(gly_openapi_part){.paths = paths, .schemas = schemas});
}
