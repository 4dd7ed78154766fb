/*
 * tests/api/testapp.c - a small service on the public API for the black-box
 * tests: handlers that sleep, stream, echo, fail, and a middleware.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <galley/galley.h>

static int64_t query_i64(gly_req *req, const char *name, int64_t dflt)
{
    gly_str v = gly_req_query_param(req, name);
    if (!v.p || v.n == 0 || v.n > 18)
        return dflt;
    char tmp[24];
    memcpy(tmp, v.p, v.n);
    tmp[v.n] = '\0';
    return strtoll(tmp, NULL, 10);
}

static int hello(gly_req *req)
{
    return gly_send_text(req, 200, "hello");
}

static int echo(gly_req *req)
{
    gly_str body = gly_req_body(req);
    gly_str ct = gly_req_header(req, "Content-Type");
    char *type = ct.p ? gly_arena_strndup(gly_req_arena(req), ct.p, ct.n) : NULL;
    return gly_send(req, 200, type ? type : "application/octet-stream", body.p, body.n);
}

static int slow(gly_req *req)
{
    int rc = gly_sleep(req, (uint64_t)query_i64(req, "ms", 100));
    if (rc < 0)
        return rc;
    return gly_send_text(req, 200, "slept");
}

static int stream(gly_req *req)
{
    int64_t n = query_i64(req, "n", 3), size = query_i64(req, "size", 5);
    int64_t pause = query_i64(req, "pause", 0);
    int rc = gly_stream_begin(req, 200, "text/plain");
    char *chunk = gly_alloc(req, (size_t)size);
    if (rc < 0 || !chunk)
        return rc < 0 ? rc : GLY_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        memset(chunk, 'a' + (int)(i % 26), (size_t)size);
        if ((rc = gly_stream_write(req, chunk, (size_t)size)) < 0)
            return rc;
        if (pause && (rc = gly_sleep(req, (uint64_t)pause)) < 0)
            return rc;
    }
    return gly_stream_end(req);
}

static int big(gly_req *req)
{
    int64_t size = query_i64(req, "size", 1 << 20);
    char *body = gly_alloc(req, (size_t)size);
    if (!body)
        return GLY_ENOMEM;
    for (int64_t i = 0; i < size; i++)
        body[i] = (char)('0' + i % 10);
    return gly_send_ref(req, 200, "application/octet-stream", body, (size_t)size);
}

static int params(gly_req *req)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_str a = gly_req_param(req, "a"), rest = gly_req_param(req, "rest");
    gly_json_key(&j, "a");
    gly_json_strn(&j, a.p, a.n);
    gly_json_key(&j, "rest");
    gly_json_strn(&j, rest.p, rest.n);
    gly_json_key(&j, "route");
    gly_json_str(&j, gly_req_route(req));
    gly_json_obj_end(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

static int user(gly_req *req)
{
    int64_t id;
    if (!gly_path_i64(req, "id", &id))
        return gly_problem(req, 400, "invalid-id", "id must be an integer");
    char text[64];
    snprintf(text, sizeof text, "user %lld", (long long)id);
    return gly_send_text(req, 200, text);
}

static int fail(gly_req *req)
{
    (void)req;
    return GLY_EIO;
}

static int noresp(gly_req *req)
{
    (void)req;
    return 0;
}

static int headers(gly_req *req)
{
    gly_set_header(req, "X-Custom", "yes");
    int bad = gly_set_header(req, "Content-Length", "5");
    int inj = gly_set_header(req, "X-Evil", "a\r\nInjected: 1");
    char text[64];
    snprintf(text, sizeof text, "reserved=%s injection=%s", gly_err_name(bad), gly_err_name(inj));
    return gly_send_text(req, 200, text);
}

static int stop(gly_req *req)
{
    gly_app_stop(gly_req_app(req));
    return gly_send_text(req, 202, "stopping");
}

/* Middleware: stamps every response and can short-circuit. */
static int stamp(gly_req *req)
{
    gly_set_header(req, "X-Middleware", "1");
    if (gly_req_header(req, "X-Block").p)
        return gly_problem(req, 403, "blocked", "blocked by middleware");
    return gly_next(req);
}

/* Middleware with a context: echoes it, read before gly_next() as documented. */
static int tag(gly_req *req)
{
    const char *ctx = gly_mw_ctx(req);
    gly_set_header(req, "X-Ctx", ctx);
    return gly_next(req);
}

/* Readiness check: down while a file named "not-ready" exists in the working directory. */
static int ready_flag(gly_req *req, void *ctx, char *msg, size_t msglen)
{
    (void)req;
    (void)ctx;
    if (access("not-ready", F_OK) == 0) {
        snprintf(msg, msglen, "the not-ready file exists");
        return GLY_EAGAIN;
    }
    return 0;
}

/* POST /json/echo: the root's type, its size, and the document written back. */
static int json_echo(gly_req *req)
{
    static const char *const names[] = {"none",   "null",  "bool",  "number",
                                        "string", "array", "object"};
    gly_jv *v = gly_req_json(req);
    if (!v)
        return 0;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "type");
    gly_json_str(&j, names[gly_jv_type(v)]);
    gly_json_key(&j, gly_jv_type(v) == GLY_JSON_OBJECT ? "keys" : "len");
    gly_json_u64(&j, gly_jv_len(v));
    gly_json_key(&j, "value");
    gly_json_value(&j, v);
    gly_json_obj_end(&j);
    if (gly_json_finish(&j) != 0)
        return gly_json_finish(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

/* The schemas of the /validate routes (tests/api/test_validation.py). */
static const gly_field val_user_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
    GLY_FIELD_STR("name", .min_len = 1, .max_len = 100),
    GLY_FIELD_INT("age", .min = 0, .max = 150),
    GLY_FIELD_STR("role", .enum_values = (const char *const[]){"admin", "user", NULL}),
    GLY_FIELD_STR("slug", .pattern = "^[a-z0-9-]+$"),
    GLY_FIELD_ARR("tags", .max_items = 3, .items = &(const gly_field)GLY_ITEM_STR(.min_len = 1)),
    GLY_FIELD_END};
static const gly_schema val_user_schema = {.fields = val_user_fields, .additional = false};
static const gly_field val_items_query[] = {
    GLY_FIELD_INT("limit", .min = 1, .max = 100),
    GLY_FIELD_STR("sort", .enum_values = (const char *const[]){"name", "-name", "created", NULL}),
    GLY_FIELD_END};
static const gly_field val_item_path[] = {
    GLY_FIELD_STR("id", .required = true, .format = GLY_FMT_UUID), GLY_FIELD_END};

/* POST /validate/user: 201 with the valid body echoed, else 422 (or gly_req_json's 400/415). */
static int validate_user(gly_req *req)
{
    gly_jv *v = gly_req_valid_json(req, &val_user_schema);
    if (!v)
        return 0;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_value(&j, v);
    if (gly_json_finish(&j) != 0)
        return gly_json_finish(&j);
    return gly_send_buf(req, 201, "application/json", &b);
}

/* GET /validate/items[/:id]: 200 {"ok":true} when the parameters are valid, else 400. */
static int validate_items(gly_req *req)
{
    if (!gly_req_valid_params(req, val_items_query, NULL))
        return 0;
    return gly_send(req, 200, "application/json", "{\"ok\":true}", 11);
}

static int validate_item(gly_req *req)
{
    if (!gly_req_valid_params(req, NULL, val_item_path))
        return 0;
    return gly_send(req, 200, "application/json", "{\"ok\":true}", 11);
}

int main(int argc, char **argv)
{
    gly_app *app = gly_app_new(argc, argv);
    gly_use(app, stamp);
    gly_use_ctx(app, tag, "ctx-ok", NULL);
    gly_health_add(app, "flag", ready_flag, NULL);
    gly_get(app, "/hello", hello);
    gly_post(app, "/echo", echo);
    gly_put(app, "/echo", echo);
    gly_get(app, "/slow", slow);
    gly_get(app, "/stream", stream);
    gly_get(app, "/big", big);
    gly_get(app, "/params/:a/*rest", params);
    gly_get(app, "/users/:id", user);
    gly_delete(app, "/users/:id", user);
    gly_route_doc(app, "GET", "/users/:id",
                  &(gly_doc){.summary = "Get a user",
                             .tags = (const char *const[]){"users", NULL},
                             .operation_id = "getUser"});
    gly_get(app, "/fail", fail);
    gly_get(app, "/noresp", noresp);
    gly_get(app, "/headers", headers);
    gly_post(app, "/stop", stop);
    gly_post(app, "/json/echo", json_echo);
    gly_post(app, "/validate/user", validate_user);
    gly_route_doc(app, "POST", "/validate/user",
                  &(gly_doc){.summary = "Create a user (validated)",
                             .request = &val_user_schema,
                             .response = &val_user_schema,
                             .status = 201});
    gly_get(app, "/validate/items", validate_items);
    gly_get(app, "/validate/items/:id", validate_item);
    gly_route_ex(app, "POST", "/small", echo, &(gly_route_opts){.max_body = 16});
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
