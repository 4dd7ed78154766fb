/*
 * src/http/request.c - the application object, routes, the middleware chain
 * and what a handler can ask of its request.
 */
#include <stdio.h>
#include <stdlib.h>

#include <galley/middleware.h>

#include "http/config.h"
#include "http/internal.h"

#define REQ_POOL_MAX    1024         /* free requests kept per worker */
#define REQ_ARENA_LIMIT (256u << 20) /* no request may hold more than this */

/* ------------------------------------------------------------------------ */
/* Application                                                              */
/* ------------------------------------------------------------------------ */

static int health_live(gly_req *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    return gly_send_ref(req, 200, "application/json", body, sizeof body - 1);
}

gly_app *gly_app_new_config(const gly_config *cfg)
{
    gly_app *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->cfg = *cfg;
    app->router = gly__router_new();
    if (!app->router || uv_mutex_init(&app->stop_lock) != 0) {
        gly__router_free(app->router);
        free(app);
        return NULL;
    }
    atomic_init(&app->port, 0);
    atomic_init(&app->stop_requested, false);
    gly_log_set_level(cfg->log_level);
    gly__status_slots_init(app);
    app->start_time = (double)gly_wall_ms() / 1000.0;
    gly_get(app, "/metrics", gly__metrics_route);
    gly_get(app, "/health/ready", gly__health_ready);
    gly_get(app, "/health/live", health_live);
    gly_get(app, "/openapi.json", gly__openapi_route);
    gly_get(app, "/docs", gly__docs_page);
    gly_get(app, "/docs/:asset", gly__docs_asset);
    gly__openapi_system_docs(app);
    gly_use_defaults(app);
    return app;
}

gly_app *gly_app_new(int argc, char **argv)
{
    gly_config cfg;
    char err[512];
    const char *prog = argc ? argv[0] : "galley";
    gly_config_init(&cfg);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gly_buf b;
            gly_buf_init(&b, NULL, 0, NULL, 0);
            gly_buf_printf(&b, "usage: %s [settings]\n\nsettings:\n", prog);
            gly_config_usage(&b);
            fwrite(b.p, 1, b.len, stdout);
            gly_buf_dispose(&b);
            exit(0);
        }
    }
    if (gly_config_load(&cfg, argc > 0 ? argc - 1 : 0, argv + (argc > 0), err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(2);
    }
    gly_app *app = gly_app_new_config(&cfg);
    if (!app) {
        fprintf(stderr, "%s: out of memory\n", prog);
        exit(1);
    }
    return app;
}

void gly_app_free(gly_app *app)
{
    if (!app)
        return;
    for (unsigned i = app->nslot_order; i-- > 0;) {
        unsigned s = app->slot_order[i];
        if (app->slot_free[s])
            app->slot_free[s](app->slots[s]);
    }
    free(app->hooks);
    gly__openapi_free(app);
    for (unsigned i = 0; i < app->nroutes; i++)
        free(app->routes[i]);
    free(app->routes);
    for (unsigned i = 0; i < app->nmw; i++)
        if (app->mw[i].ctx_free)
            app->mw[i].ctx_free(app->mw[i].ctx);
    free(app->mw);
    gly__router_free(app->router);
    gly__health_free(app);
    uv_mutex_destroy(&app->stop_lock);
    free(app);
}

int gly_app_set_slot(gly_app *app, unsigned slot, void *obj, void (*obj_free)(void *))
{
    if (slot >= GLY_SLOTS)
        return GLY_EINVAL;
    bool seen = false;
    for (unsigned i = 0; i < app->nslot_order; i++)
        seen = seen || app->slot_order[i] == slot;
    if (!seen)
        app->slot_order[app->nslot_order++] = slot;
    app->slots[slot] = obj;
    app->slot_free[slot] = obj_free;
    return 0;
}

void *gly_app_slot(const gly_app *app, unsigned slot)
{
    return slot < GLY_SLOTS ? app->slots[slot] : NULL;
}

void gly_req_set_slot(gly_req *req, unsigned slot, void *p)
{
    if (slot < GLY_SLOTS)
        req->slots[slot] = p;
}

void *gly_req_slot(const gly_req *req, unsigned slot)
{
    return slot < GLY_SLOTS ? req->slots[slot] : NULL;
}

int gly_app_on_worker(gly_app *app, gly_worker_start_fn start, gly_worker_stop_fn stop, void *ctx)
{
    struct worker_hook *n = realloc(app->hooks, (app->nhooks + 1) * sizeof *n);
    if (!n)
        return GLY_ENOMEM;
    app->hooks = n;
    app->hooks[app->nhooks++] = (struct worker_hook){start, stop, ctx};
    return 0;
}

void gly_app_set_data(gly_app *app, void *data)
{
    app->data = data;
}

void *gly_app_data(const gly_app *app)
{
    return app->data;
}

gly_config *gly_app_config(gly_app *app)
{
    return &app->cfg;
}

/* Keeps the first set-up error so that gly_run() can report it. */
static int setup_fail(gly_app *app, int err, const char *what, const char *detail)
{
    if (!app->setup_err) {
        app->setup_err = err;
        snprintf(app->setup_msg, sizeof app->setup_msg, "%s: %s (%s)", what, detail,
                 gly_strerror(err));
    }
    return err;
}

int gly_route_ex(gly_app *app, const char *method, const char *pattern, gly_handler h,
                 const gly_route_opts *opts)
{
    int m = method ? gly_http_method_lookup(method, strlen(method)) : GLY_METHOD_UNKNOWN;
    if (m < 0 || !pattern || !h)
        return setup_fail(app, GLY_EINVAL, "bad route", pattern ? pattern : "(null)");
    if (app->nroutes == app->routes_cap) {
        unsigned cap = app->routes_cap ? app->routes_cap * 2 : 16;
        struct route **nr = realloc(app->routes, cap * sizeof *nr);
        if (!nr)
            return setup_fail(app, GLY_ENOMEM, "route", pattern);
        app->routes = nr;
        app->routes_cap = cap;
    }
    struct route *r = calloc(1, sizeof *r);
    if (!r)
        return setup_fail(app, GLY_ENOMEM, "route", pattern);
    r->handler = h;
    r->method = m;
    r->slot = app->nroutes + 1;
    r->max_body = opts ? opts->max_body : 0;
    int rc = gly__router_add(app->router, (unsigned)m, pattern, r);
    if (rc < 0) {
        free(r);
        return setup_fail(app, rc, "cannot add route", pattern);
    }
    unsigned allow;
    gly__router_find(app->router, (unsigned)m, gly_str_c(pattern), &(struct gly_router_params){0},
                     &allow, &r->pattern);
    app->routes[app->nroutes++] = r;
    return 0;
}

int gly_route(gly_app *app, const char *method, const char *pattern, gly_handler h)
{
    return gly_route_ex(app, method, pattern, h, NULL);
}

int gly_use_ctx(gly_app *app, gly_handler mw, void *ctx, void (*ctx_free)(void *))
{
    if (!mw) {
        if (ctx_free)
            ctx_free(ctx);
        return setup_fail(app, GLY_EINVAL, "middleware", "NULL");
    }
    if (app->nmw == app->mw_cap) {
        unsigned cap = app->mw_cap ? app->mw_cap * 2 : 8;
        struct mw *n = realloc(app->mw, cap * sizeof *n);
        if (!n) {
            if (ctx_free)
                ctx_free(ctx);
            return setup_fail(app, GLY_ENOMEM, "middleware", "append");
        }
        app->mw = n;
        app->mw_cap = cap;
    }
    app->mw[app->nmw++] = (struct mw){mw, ctx, ctx_free};
    return 0;
}

int gly_use_one(gly_app *app, gly_handler mw)
{
    return gly_use_ctx(app, mw, NULL, NULL);
}

void *gly_mw_ctx(const gly_req *req)
{
    unsigned i = req->mw_pos;
    return i > 0 && i <= req->app->nmw ? req->app->mw[i - 1].ctx : NULL;
}

int gly_use_list(gly_app *app, const gly_handler *mws)
{
    for (; *mws; mws++) {
        int rc = gly_use_one(app, *mws);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The pool of request objects                                              */
/* ------------------------------------------------------------------------ */

static void req_free_cb(uv_handle_t *h)
{
    struct gly_req *req = h->data;
    gly_arena_dispose(&req->arena);
    free(req);
}

struct gly_req *gly__req_get(struct worker *w)
{
    struct gly_req *req = w->free_reqs;
    if (req) {
        w->free_reqs = req->next_free;
        w->nfree_reqs--;
    } else {
        req = malloc(sizeof *req);
        if (!req)
            return NULL;
        gly_arena_init(&req->arena, REQ_ARENA_LIMIT);
        uv_timer_init(&w->loop, &req->timer);
        req->timer.data = req;
        req->w = w;
        req->app = w->app;
    }
    req->conn = NULL;
    req->body = (gly_str){"", 0};
    req->msg_len = 0;
    req->kind = RK_NOT_FOUND;
    req->route = NULL;
    req->pattern = NULL;
    req->allow = 0;
    req->params.n = 0;
    req->mw_pos = 0;
    req->co = NULL;
    req->wait_rc = 0;
    req->sleeping = false;
    req->waiting_write = false;
    req->suspended = false;
    memset(req->slots, 0, sizeof req->slots);
    req->status = 0;
    req->sent = req->streaming = req->stream_ended = req->head_only = req->has_ref = false;
    req->hdrs = NULL;
    req->hdrs_tail = &req->hdrs;
    req->bytes_out = 0;
    req->id = GLY_STR_NULL;
    req->next_free = NULL;
    return req;
}

void gly__req_put(struct worker *w, struct gly_req *req)
{
    gly_arena_reset(&req->arena);
    if (w->nfree_reqs < REQ_POOL_MAX && !w->stopping) {
        req->next_free = w->free_reqs;
        w->free_reqs = req;
        w->nfree_reqs++;
        return;
    }
    uv_close((uv_handle_t *)&req->timer, req_free_cb);
}

/* Frees the pooled requests of a worker whose loop has closed every handle. */
void gly__req_pool_free(struct worker *w)
{
    struct gly_req *req = w->free_reqs, *next;
    for (; req; req = next) {
        next = req->next_free;
        gly_arena_dispose(&req->arena);
        free(req);
    }
    w->free_reqs = NULL;
    w->nfree_reqs = 0;
}

/* ------------------------------------------------------------------------ */
/* Routing and the chain                                                    */
/* ------------------------------------------------------------------------ */

void gly__req_dispatch_prepare(struct gly_req *req)
{
    const struct gly_http_head *h = &req->head;
    const struct gly_router *router = req->app->router;
    req->method = h->method_id;
    req->head_only = req->method == GLY_HEAD;
    req->params.n = 0;
    req->route = NULL;
    req->pattern = NULL;
    req->allow = 0;
    if (h->path.n == 1 && h->path.p[0] == '*') {
        req->kind = RK_OPTIONS_STAR;
        return;
    }
    unsigned allow = 0;
    const struct route *r =
        gly__router_find(router, (unsigned)req->method, h->path, &req->params, &allow, NULL);
    if (!r && req->method == GLY_HEAD)
        r = gly__router_find(router, GLY_GET, h->path, &req->params, NULL, NULL);
    if (r) {
        req->kind = RK_ROUTE;
        req->route = r;
        req->pattern = r->pattern;
        return;
    }
    req->allow = allow;
    if (allow == 0)
        req->kind = RK_NOT_FOUND;
    else if (req->method == GLY_OPTIONS)
        req->kind = RK_OPTIONS;
    else
        req->kind = RK_NOT_ALLOWED;
}

/* Formats an Allow value for a method mask: GET implies HEAD; OPTIONS always. */
static const char *allow_value(gly_req *req, unsigned mask)
{
    if (mask & (1u << GLY_GET))
        mask |= 1u << GLY_HEAD;
    mask |= 1u << GLY_OPTIONS;
    char *out = gly_arena_alloc(&req->arena, 96);
    if (!out)
        return "OPTIONS";
    size_t n = 0;
    for (int m = 0; m < GLY_METHOD_COUNT; m++) {
        if (!(mask & (1u << m)))
            continue;
        const char *name = gly_method_name(m);
        size_t len = strlen(name);
        if (n)
            out[n++] = ',', out[n++] = ' ';
        memcpy(out + n, name, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

static int final_handler(gly_req *req)
{
    switch (req->kind) {
    case RK_ROUTE:
        return req->route->handler(req);
    case RK_NOT_FOUND:
        return gly_problem(req, 404, "not-found", "No route matches this path.");
    case RK_NOT_ALLOWED:
        gly_set_header(req, "Allow", allow_value(req, req->allow));
        return gly_problem(req, 405, "method-not-allowed",
                           "The path does not support this method; see the Allow field.");
    case RK_OPTIONS:
        gly_set_header(req, "Allow", allow_value(req, req->allow));
        return gly_send(req, 204, NULL, NULL, 0);
    case RK_OPTIONS_STAR:
        gly_set_header(req, "Allow", allow_value(req, ~0u));
        return gly_send(req, 204, NULL, NULL, 0);
    }
    return GLY_ESTATE;
}

int gly_next(gly_req *req)
{
    gly_app *app = req->app;
    if (req->mw_pos < app->nmw)
        return app->mw[req->mw_pos++].fn(req);
    if (req->mw_pos == app->nmw) {
        req->mw_pos++;
        return final_handler(req);
    }
    return GLY_ESTATE; /* the chain already ran to its end */
}

void gly__req_run(void *arg)
{
    struct gly_req *req = arg;
    int rc = gly_next(req);
    gly__resp_finish_default(req, rc);
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                */
/* ------------------------------------------------------------------------ */

int gly_req_method(const gly_req *req)
{
    return req->method;
}

gly_str gly_req_path(const gly_req *req)
{
    return req->head.path;
}

gly_str gly_req_query(const gly_req *req)
{
    return req->head.query;
}

const char *gly_req_route(const gly_req *req)
{
    return req->pattern;
}

gly_str gly_req_header(const gly_req *req, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < req->head.nheaders; i++) {
        const struct gly_http_header *h = &req->head.headers[i];
        if (h->name.n == n && gly_str_ieq(h->name, (gly_str){name, n}))
            return h->value;
    }
    return GLY_STR_NULL;
}

unsigned gly_req_header_count(const gly_req *req)
{
    return req->head.nheaders;
}

void gly_req_header_at(const gly_req *req, unsigned i, gly_str *name, gly_str *value)
{
    *name = req->head.headers[i].name;
    *value = req->head.headers[i].value;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decodes s into the arena ('+' as space when plus). Absent on a bad escape or NUL. */
static gly_str pct_decode(gly_req *req, gly_str s, bool plus)
{
    if (!memchr(s.p, '%', s.n) && !(plus && memchr(s.p, '+', s.n)))
        return s;
    char *out = gly_arena_alloc(&req->arena, s.n + 1);
    if (!out)
        return GLY_STR_NULL;
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= s.n || (hi = hexval(s.p[i + 1])) < 0 || (lo = hexval(s.p[i + 2])) < 0)
                return GLY_STR_NULL;
            c = (char)(hi << 4 | lo);
            if (c == '\0')
                return GLY_STR_NULL;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return (gly_str){out, n};
}

gly_str gly_req_param(gly_req *req, const char *name)
{
    size_t n = strlen(name);
    for (unsigned i = 0; i < req->params.n; i++)
        if (req->params.names[i].n == n && memcmp(req->params.names[i].p, name, n) == 0)
            return pct_decode(req, req->params.values[i], false);
    return GLY_STR_NULL;
}

bool gly_path_i64(gly_req *req, const char *name, int64_t *out)
{
    gly_str s = gly_req_param(req, name);
    if (!s.p || s.n == 0 || s.n > 20)
        return false;
    char tmp[24];
    memcpy(tmp, s.p, s.n);
    tmp[s.n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || !(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return false;
    *out = v;
    return true;
}

static bool cookie_ws(char c)
{
    return c == ' ' || c == '\t';
}

bool gly_cookie_find(gly_str field, const char *name, gly_str *value)
{
    const size_t nlen = strlen(name);
    size_t i = 0;
    while (i < field.n) {
        while (i < field.n && cookie_ws(field.p[i]))
            i++;
        size_t start = i;
        while (i < field.n && field.p[i] != ';')
            i++;
        size_t end = i++; /* past ';' */
        while (end > start && cookie_ws(field.p[end - 1]))
            end--;
        const char *eq = memchr(field.p + start, '=', end - start);
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - (field.p + start));
        while (klen > 0 && cookie_ws(field.p[start + klen - 1]))
            klen--;
        if (klen != nlen || memcmp(field.p + start, name, nlen) != 0)
            continue;
        const char *v = eq + 1, *ve = field.p + end;
        while (v < ve && cookie_ws(*v))
            v++;
        if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
            v++;
            ve--;
        }
        *value = (gly_str){v, (size_t)(ve - v)};
        return true;
    }
    return false;
}

gly_str gly_req_cookie(gly_req *req, const char *name)
{
    gly_str value;
    for (unsigned i = 0; i < req->head.nheaders; i++) {
        const struct gly_http_header *h = &req->head.headers[i];
        if (h->name.n == 6 && strncasecmp(h->name.p, "cookie", 6) == 0 && h->value.n <= 32768 &&
            gly_cookie_find(h->value, name, &value))
            return value;
    }
    return GLY_STR_NULL;
}

gly_str gly_req_query_param(gly_req *req, const char *name)
{
    gly_str q = req->head.query;
    size_t n = strlen(name);
    const char *p = q.p, *end = q.p + q.n;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        gly_str key = {p, (size_t)((eq ? eq : stop) - p)};
        gly_str k = pct_decode(req, key, true);
        if (k.p && k.n == n && memcmp(k.p, name, n) == 0) {
            if (!eq)
                return (gly_str){"", 0};
            return pct_decode(req, (gly_str){eq + 1, (size_t)(stop - eq - 1)}, true);
        }
        p = amp ? amp + 1 : end;
    }
    return GLY_STR_NULL;
}

gly_str gly_req_body(const gly_req *req)
{
    return req->body;
}

/* An incoming X-Request-Id is honoured when it is 1..64 of [A-Za-z0-9._:-]. */
static bool sane_request_id(gly_str v)
{
    if (!v.p || v.n == 0 || v.n > 64)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

gly_str gly_req_id(gly_req *req)
{
    if (req->id.p)
        return req->id;
    gly_str in = gly_req_header(req, "X-Request-Id");
    if (sane_request_id(in)) {
        req->id = in;
        return in;
    }
    struct worker *w = req->w;
    static const char hex[] = "0123456789abcdef";
    uint64_t v = ++w->reqid_next;
    char *p = req->id_buf;
    memcpy(p, w->reqid_prefix, 8);
    p[8] = '-';
    for (int i = 0; i < 12; i++)
        p[9 + 11 - i] = hex[(v >> (4 * i)) & 15];
    p[21] = '\0';
    req->id = (gly_str){p, 21};
    return req->id;
}

const char *gly_req_peer(gly_req *req)
{
    return gly__conn_peer(req->conn);
}

const char *gly__conn_peer(struct conn *c)
{
    if (c->peer[0])
        return c->peer;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", ip, port);
            return c->peer;
        }
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    return c->peer;
}

gly_arena *gly_req_arena(gly_req *req)
{
    return &req->arena;
}

void *gly_alloc(gly_req *req, size_t n)
{
    return gly_arena_alloc(&req->arena, n);
}

gly_app *gly_req_app(const gly_req *req)
{
    return req->app;
}

/* ------------------------------------------------------------------------ */
/* Access log                                                               */
/* ------------------------------------------------------------------------ */

void gly__access_log(struct worker *w, const char *peer, gly_str method, gly_str path, int status,
                     uint64_t bytes, uint64_t dur_ns, gly_str id, const char *error)
{
    if (!w->app->cfg.access_log || gly_log_threshold > GLY_LOG_INFO)
        return;
    char seed[1024], ts[25];
    gly_buf b;
    gly_buf_init(&b, seed, sizeof seed, NULL, 16 * 1024);
    gly_iso_time_format(gly_wall_ms(), ts);
    gly_buf_puts(&b, "{\"time\":\"");
    gly_buf_append(&b, ts, 24);
    gly_buf_puts(&b, "\",\"level\":\"info\",\"msg\":\"request\",\"method\":");
    gly_buf_json_str(&b, method.p ? method.p : "", method.n);
    gly_buf_puts(&b, ",\"path\":");
    gly_buf_json_str(&b, path.p ? path.p : "", path.n);
    /* no printf on this path: it runs once per response */
    char num[24];
    uint64_t us = dur_ns / 1000;
    gly_buf_puts(&b, ",\"status\":");
    gly_buf_append(&b, num, gly_u64_to_dec(num, (uint64_t)status));
    gly_buf_puts(&b, ",\"bytes\":");
    gly_buf_append(&b, num, gly_u64_to_dec(num, bytes));
    gly_buf_puts(&b, ",\"duration_ms\":");
    gly_buf_append(&b, num, gly_u64_to_dec(num, us / 1000));
    num[0] = '.';
    num[1] = (char)('0' + us % 1000 / 100);
    num[2] = (char)('0' + us % 100 / 10);
    num[3] = (char)('0' + us % 10);
    gly_buf_append(&b, num, 4);
    if (id.p) {
        gly_buf_puts(&b, ",\"request_id\":");
        gly_buf_json_str(&b, id.p, id.n);
    }
    gly_buf_puts(&b, ",\"peer\":");
    gly_buf_json_str(&b, peer, strlen(peer));
    if (error) {
        gly_buf_puts(&b, ",\"error\":");
        gly_buf_json_str(&b, error, strlen(error));
    }
    gly_buf_putc(&b, '}');
    if (!gly_buf_err(&b))
        gly_log_line(b.p, b.len);
    gly_buf_dispose(&b);
}

void gly__req_access_log(struct gly_req *req)
{
    if (!req->app->cfg.access_log || gly_log_threshold > GLY_LOG_INFO)
        return;
    gly__access_log(req->w, gly_req_peer(req), req->head.method, req->head.path, req->status,
                    req->bytes_out, gly_now_ns() - req->t0, gly_req_id(req), NULL);
}
