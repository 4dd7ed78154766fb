/*
 * src/obs/health.c - readiness checks and GET /health/ready.
 *
 * The answer lists every check with its state and latency:
 *   {"status":"ready","checks":[{"name":"db","state":"up","latency_ms":0.21}]}
 * and is 503 with "status":"not_ready" when a check fails, or "stopping"
 * during a graceful stop, so a load balancer stops sending new work.
 */
#include <stdlib.h>

#include "http/internal.h"

int gly_health_add(gly_app *app, const char *name, gly_health_fn fn, void *ctx)
{
    if (!name || !*name || !fn)
        return GLY_EINVAL;
    for (unsigned i = 0; i < app->nchecks; i++)
        if (strcmp(app->checks[i].name, name) == 0)
            return GLY_EEXIST;
    struct health_check *n = realloc(app->checks, (app->nchecks + 1) * sizeof *n);
    if (!n)
        return GLY_ENOMEM;
    app->checks = n;
    char *copy = strdup(name);
    if (!copy)
        return GLY_ENOMEM;
    app->checks[app->nchecks++] = (struct health_check){copy, fn, ctx};
    return 0;
}

void gly__health_free(gly_app *app)
{
    for (unsigned i = 0; i < app->nchecks; i++)
        free(app->checks[i].name);
    free(app->checks);
    free(app->mext);
    app->mext = NULL;
    app->nmext = 0;
    app->checks = NULL;
    app->nchecks = 0;
}

int gly__health_ready(gly_req *req)
{
    gly_app *app = gly_req_app(req);
    gly_buf b;
    gly_json j;
    bool ready = true;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "checks");
    gly_json_arr_begin(&j);
    for (unsigned i = 0; i < app->nchecks; i++) {
        const struct health_check *hc = &app->checks[i];
        char msg[256] = "";
        uint64_t t0 = gly_now_ns();
        int rc = hc->fn(req, hc->ctx, msg, sizeof msg);
        double ms = (double)(gly_now_ns() - t0) / 1e6;
        ready = ready && rc == 0;
        gly_json_obj_begin(&j);
        gly_json_key(&j, "name");
        gly_json_str(&j, hc->name);
        gly_json_key(&j, "state");
        gly_json_str(&j, rc == 0 ? "up" : "down");
        gly_json_key(&j, "latency_ms");
        gly_json_double(&j, (double)(int64_t)(ms * 1000 + 0.5) / 1000);
        if (rc < 0) {
            gly_json_key(&j, "message");
            gly_json_str(&j, msg[0] ? msg : gly_strerror(rc));
        }
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    bool stopping = gly__app_stopping(app);
    gly_json_key(&j, "status");
    gly_json_str(&j, stopping ? "stopping" : ready ? "ready" : "not_ready");
    gly_json_obj_end(&j);
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send_buf(req, ready && !stopping ? 200 : 503, "application/json", &b);
}
