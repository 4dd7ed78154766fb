/*
 * src/obs/openapi.c - route documentation and GET /openapi.json.
 *
 * The document is generated per request into the request's arena from the
 * route table, which no longer changes once gly_run() has started: no cache,
 * so no lock and nothing shared between workers. It is a few KiB for a few
 * dozen routes.
 *
 * Routes sharing a pattern are one path item; its path parameters are listed
 * once, on the item. HEAD and OPTIONS are answered automatically and are
 * left out unless a route of their own was added; CONNECT has no OpenAPI 3.1
 * operation and is left out.
 *
 * Schemas: gly_route_doc() keeps the request/response gly_schema pointers
 * (static data that outlives the app) and put_operation() writes them with
 * gly_schema_to_json_schema() as the requestBody and the success content
 * (JSON Schema 2020-12 is the dialect of OpenAPI 3.1, so it goes in as is).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include <galley/openapi.h>

#include "http/internal.h"

#define DEFAULT_TITLE "Galley API"

static const char rest_note[] =
    "Matches the rest of the path, '/' included (possibly empty). OpenAPI path templates cannot "
    "express a multi-segment parameter: send the slashes as they are (or as %2F).";

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

static size_t opt_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies s (may be NULL) to *at, advancing it. */
static const char *put_copy(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*at, s, n);
    *at += n;
    return d;
}

int gly_route_doc(gly_app *app, const char *method, const char *pattern, const gly_doc *doc)
{
    if (!app || !method || !pattern || !doc)
        return GLY_EINVAL;
    int m = gly_http_method_lookup(method, strlen(method));
    struct route *r = NULL;
    for (unsigned i = 0; i < app->nroutes && m >= 0; i++)
        if (app->routes[i]->method == m && strcmp(app->routes[i]->pattern, pattern) == 0)
            r = app->routes[i];
    if (!r)
        return GLY_ENOENT;
    if (doc->operation_id)
        for (unsigned i = 0; i < app->nroutes; i++) {
            const struct route *o = app->routes[i];
            if (o != r && o->operation_id && strcmp(o->operation_id, doc->operation_id) == 0)
                return GLY_EEXIST;
        }

    /* one block: the tag pointers, then the strings */
    size_t ntags = 0, size = 0;
    if (doc->tags)
        while (doc->tags[ntags])
            size += strlen(doc->tags[ntags++]) + 1;
    size_t ptrs = doc->tags ? (ntags + 1) * sizeof(char *) : 0;
    size += ptrs + opt_len(doc->summary) + opt_len(doc->description) + opt_len(doc->operation_id);
    char *mem = malloc(size ? size : 1);
    if (!mem)
        return GLY_ENOMEM;
    const char **tags = doc->tags ? (const char **)(void *)mem : NULL;
    char *at = mem + ptrs;
    for (size_t i = 0; i < ntags; i++)
        tags[i] = put_copy(&at, doc->tags[i]);
    if (tags)
        tags[ntags] = NULL;
    free(r->doc_mem);
    r->doc_mem = mem;
    r->tags = tags;
    r->summary = put_copy(&at, doc->summary);
    r->description = put_copy(&at, doc->description);
    r->operation_id = put_copy(&at, doc->operation_id);
    r->deprecated = doc->deprecated;
    r->req_schema = doc->request;
    r->resp_schema = doc->response;
    r->ok_status = doc->status;
    assert(at == mem + size);
    return 0;
}

int gly_openapi_info(gly_app *app, const char *title, const char *version, const char *description)
{
    char *t = title ? strdup(title) : NULL;
    char *v = version ? strdup(version) : NULL;
    char *d = description ? strdup(description) : NULL;
    if ((title && !t) || (version && !v) || (description && !d)) {
        free(t), free(v), free(d);
        return GLY_ENOMEM;
    }
    if (title)
        free(app->oa_title), app->oa_title = t;
    if (version)
        free(app->oa_version), app->oa_version = v;
    if (description)
        free(app->oa_description), app->oa_description = d;
    return 0;
}

int gly_routes(gly_app *app, const gly_route_def *defs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = gly_route(app, defs[i].method, defs[i].pattern, defs[i].handler);
        if (rc == 0)
            rc = gly_route_doc(app, defs[i].method, defs[i].pattern, &defs[i].doc);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int gly_openapi_extend(gly_app *app, const gly_openapi_part *part)
{
    if (app->noa_parts == sizeof app->oa_parts / sizeof app->oa_parts[0])
        return GLY_ELIMIT;
    app->oa_parts[app->noa_parts++] = *part;
    return 0;
}

void gly__openapi_system_docs(gly_app *app)
{
    static const char *const system[] = {"system", NULL};
    static const struct {
        const char *pattern, *summary;
    } builtin[] = {
        {"/metrics", "Metrics in the Prometheus text format"},
        {"/health/ready", "Readiness: every registered check passes (503 when not ready)"},
        {"/health/live", "Liveness: the process serves"},
        {"/openapi.json", "This OpenAPI document"},
        {"/docs", "Interactive API documentation (Swagger UI)"},
        {"/docs/:asset", "A file of the /docs page"},
    };
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        gly_route_doc(app, "GET", builtin[i].pattern,
                      &(gly_doc){.summary = builtin[i].summary, .tags = system});
}

void gly__openapi_free(gly_app *app)
{
    for (unsigned i = 0; i < app->nroutes; i++) {
        free(app->routes[i]->doc_mem);
        app->routes[i]->doc_mem = NULL;
    }
    free(app->oa_title);
    free(app->oa_version);
    free(app->oa_description);
    app->oa_title = app->oa_version = app->oa_description = NULL;
}

/* ------------------------------------------------------------------------ */
/* The document                                                             */
/* ------------------------------------------------------------------------ */

/* Length of the param or rest name at p (after ':' or '*'): up to '/' or the end. */
static size_t name_len(const char *p)
{
    size_t n = 0;
    while (p[n] && p[n] != '/')
        n++;
    return n;
}

static bool seg_param(const char *pattern, const char *p)
{
    return (*p == ':' || *p == '*') && p > pattern && p[-1] == '/';
}

/* Writes the OpenAPI path of pattern as a key: "/users/:id" -> "/users/{id}". */
static void put_path_key(gly_json *j, gly_buf *tmp, const char *pattern)
{
    gly_buf_clear(tmp);
    for (const char *p = pattern; *p;) {
        if (seg_param(pattern, p)) {
            size_t n = name_len(p + 1);
            gly_buf_putc(tmp, '{');
            gly_buf_append(tmp, p + 1, n);
            gly_buf_putc(tmp, '}');
            p += 1 + n;
        } else {
            gly_buf_putc(tmp, *p++);
        }
    }
    gly_json_key_str(j, (gly_str){tmp->p, tmp->len});
}

static void put_path_params(gly_json *j, const char *pattern)
{
    bool any = false;
    for (const char *p = pattern; *p; p++) {
        if (!seg_param(pattern, p))
            continue;
        if (!any) {
            gly_json_key(j, "parameters");
            gly_json_arr_begin(j);
            any = true;
        }
        gly_json_obj_begin(j);
        gly_json_key(j, "name");
        gly_json_strn(j, p + 1, name_len(p + 1));
        gly_json_key(j, "in");
        gly_json_str(j, "path");
        gly_json_key(j, "required");
        gly_json_bool(j, true);
        if (*p == '*') {
            gly_json_key(j, "description");
            gly_json_str(j, rest_note);
        }
        gly_json_key(j, "schema");
        gly_json_obj_begin(j);
        gly_json_key(j, "type");
        gly_json_str(j, "string");
        gly_json_obj_end(j);
        gly_json_obj_end(j);
    }
    if (any)
        gly_json_arr_end(j);
}

static void put_opt(gly_json *j, const char *key, const char *value)
{
    if (value) {
        gly_json_key(j, key);
        gly_json_str(j, value);
    }
}

/* {"application/json": {"schema": ...}} for a schema. */
static void put_json_content(gly_json *j, const gly_schema *schema)
{
    gly_json_key(j, "content");
    gly_json_obj_begin(j);
    gly_json_key(j, "application/json");
    gly_json_obj_begin(j);
    gly_json_key(j, "schema");
    gly_schema_to_json_schema(schema, j);
    gly_json_obj_end(j);
    gly_json_obj_end(j);
}

static void put_responses(gly_json *j, const struct route *r)
{
    int status = r->ok_status >= 200 && r->ok_status <= 299 ? r->ok_status : 200;
    char code[8];
    snprintf(code, sizeof code, "%d", status);
    gly_json_key(j, "responses");
    gly_json_obj_begin(j);
    gly_json_key(j, code);
    gly_json_obj_begin(j);
    gly_json_key(j, "description");
    gly_json_str(j, gly_status_text(status));
    if (r->resp_schema && status != 204)
        put_json_content(j, r->resp_schema);
    gly_json_obj_end(j);
    gly_json_key(j, "default");
    static const char problem_ref[] = "{\"$ref\":\"#/components/responses/Problem\"}";
    gly_json_raw(j, problem_ref, sizeof problem_ref - 1);
    gly_json_obj_end(j);
}

static void put_operation(gly_json *j, const struct route *r)
{
    char name[16];
    const char *m = gly_method_name(r->method);
    size_t n = strlen(m);
    for (size_t i = 0; i <= n; i++)
        name[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] - 'A' + 'a' : m[i]);
    gly_json_key(j, name);
    gly_json_obj_begin(j);
    if (r->tags) {
        gly_json_key(j, "tags");
        gly_json_arr_begin(j);
        for (const char *const *t = r->tags; *t; t++)
            gly_json_str(j, *t);
        gly_json_arr_end(j);
    }
    put_opt(j, "summary", r->summary);
    put_opt(j, "description", r->description);
    put_opt(j, "operationId", r->operation_id);
    if (r->deprecated) {
        gly_json_key(j, "deprecated");
        gly_json_bool(j, true);
    }
    if (r->req_schema) {
        gly_json_key(j, "requestBody");
        gly_json_obj_begin(j);
        gly_json_key(j, "required");
        gly_json_bool(j, true);
        put_json_content(j, r->req_schema);
        gly_json_obj_end(j);
    }
    put_responses(j, r);
    gly_json_obj_end(j);
}

/* In OpenAPI 3.1 a method may appear once per path item; CONNECT has none. */
static bool documented(const struct route *r)
{
    return r->method != GLY_CONNECT;
}

static const char problem_response[] =
    "{\"Problem\":{\"description\":\"An error: an RFC 9457 problem document\","
    "\"content\":{\"application/problem+json\":{\"schema\":{\"$ref\":\"#/components/schemas/"
    "Problem\"}}}}}";

static const char problem_schema[] =
    "{\"type\":\"object\","
    "\"description\":\"RFC 9457 problem details, as every error of the framework is answered\","
    "\"required\":[\"type\",\"title\",\"status\"],"
    "\"properties\":{"
    "\"type\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
    "\"title\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"integer\",\"minimum\":400,\"maximum\":599},"
    "\"detail\":{\"type\":\"string\"},"
    "\"instance\":{\"type\":\"string\",\"format\":\"uri-reference\"},"
    "\"code\":{\"type\":\"string\",\"description\":\"A stable machine-readable code\"},"
    "\"request_id\":{\"type\":\"string\"},"
    "\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"field\":{\"type\":\"string\"},\"code\":{\"type\":\"string\"},"
    "\"message\":{\"type\":\"string\"}}}}}}";

static const char system_tag[] =
    "[{\"name\":\"system\",\"description\":\"Built in: health, metrics and these docs\"}]";

/*
 * Writes the whole document to b. Returns 0, 1 when a part answered the
 * request itself, or an error.
 */
static int openapi_write(gly_req *req, const gly_app *app, gly_buf *b, gly_arena *arena)
{
    int rc = 0;
    gly_json j;
    gly_buf tmp;
    gly_buf_init(&tmp, NULL, 0, arena, 0);
    gly_json_init(&j, b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "openapi");
    gly_json_str(&j, "3.1.0");
    gly_json_key(&j, "info");
    gly_json_obj_begin(&j);
    gly_json_key(&j, "title");
    gly_json_str(&j, app->oa_title ? app->oa_title : DEFAULT_TITLE);
    gly_json_key(&j, "version");
    gly_json_str(&j, app->oa_version ? app->oa_version : gly_version());
    put_opt(&j, "description", app->oa_description);
    gly_json_obj_end(&j);
    gly_json_key(&j, "tags");
    gly_json_raw(&j, system_tag, sizeof system_tag - 1);

    gly_json_key(&j, "paths");
    gly_json_obj_begin(&j);
    for (unsigned i = 0; i < app->nroutes; i++) {
        const struct route *r = app->routes[i];
        bool first = documented(r);
        for (unsigned k = 0; k < i && first; k++)
            if (documented(app->routes[k]) && strcmp(app->routes[k]->pattern, r->pattern) == 0)
                first = false;
        if (!first)
            continue;
        put_path_key(&j, &tmp, r->pattern);
        gly_json_obj_begin(&j);
        put_path_params(&j, r->pattern);
        for (unsigned k = i; k < app->nroutes; k++)
            if (documented(app->routes[k]) && strcmp(app->routes[k]->pattern, r->pattern) == 0)
                put_operation(&j, app->routes[k]);
        gly_json_obj_end(&j);
    }
    for (unsigned i = 0; i < app->noa_parts && rc == 0; i++)
        if (app->oa_parts[i].paths)
            rc = app->oa_parts[i].paths(req, &j, app->oa_parts[i].ctx);
    gly_json_obj_end(&j);

    gly_json_key(&j, "components");
    gly_json_obj_begin(&j);
    gly_json_key(&j, "responses");
    gly_json_raw(&j, problem_response, sizeof problem_response - 1);
    gly_json_key(&j, "schemas");
    gly_json_obj_begin(&j);
    gly_json_key(&j, "Problem");
    gly_json_raw(&j, problem_schema, sizeof problem_schema - 1);
    for (unsigned i = 0; i < app->noa_parts && rc == 0; i++)
        if (app->oa_parts[i].schemas)
            rc = app->oa_parts[i].schemas(req, &j, app->oa_parts[i].ctx);
    gly_json_obj_end(&j);
    gly_json_obj_end(&j);
    gly_json_obj_end(&j);
    if (rc == 0)
        rc = tmp.err ? tmp.err : gly_json_finish(&j);
    gly_buf_dispose(&tmp);
    return rc;
}

int gly__openapi_route(gly_req *req)
{
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    int rc = openapi_write(req, gly_req_app(req), &b, gly_req_arena(req));
    if (rc != 0)
        return rc < 0 ? rc : 0;
    return gly_send_buf(req, 200, "application/json", &b);
}
