/*
 * galley/obs.h - readiness checks.
 *
 * Every application answers GET /health/live (the process serves), GET
 * /health/ready (every registered check passes and no stop is under way) and
 * GET /metrics (Prometheus text format: requests by method, route and status,
 * request durations by route, in-flight requests, open connections, bytes
 * in and out, process figures, build info).
 */
#ifndef GALLEY_OBS_H
#define GALLEY_OBS_H

#include <galley/common.h>
#include <galley/http.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A readiness check: returns 0 when its dependency is usable, or a negative
 * GLY_E* code with a short reason written to msg (msglen bytes, for the
 * /health/ready document; no secrets). It runs in the handler of
 * /health/ready (req), in its coroutine, so it may wait (a database ping).
 */
typedef int (*gly_health_fn)(gly_req *req, void *ctx, char *msg, size_t msglen);

/*
 * Registers a readiness check named name (copied) before gly_run(). Returns 0,
 * GLY_EINVAL (empty name), GLY_EEXIST (the name is taken) or GLY_ENOMEM.
 */
GLY_EXTERN int gly_health_add(gly_app *app, const char *name, gly_health_fn fn, void *ctx);

/*
 * Adds a module's own series to GET /metrics: fn(out, ctx) appends complete
 * families in the Prometheus text format (# HELP, # TYPE, samples). It runs
 * on a worker during a scrape, concurrently with the other workers, so it
 * reads counters that their owners update atomically. Add it before
 * gly_run(). Returns 0 or GLY_ENOMEM.
 */
typedef void (*gly_metrics_fn)(gly_buf *out, void *ctx);
GLY_EXTERN int gly_metrics_add(gly_app *app, gly_metrics_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
