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
 * /health/ready, in a coroutine, so it may wait.
 */
typedef int (*gly_health_fn)(void *ctx, char *msg, size_t msglen);

/*
 * Registers a readiness check named name (copied) before gly_run(). Returns 0,
 * GLY_EINVAL (empty name), GLY_EEXIST (the name is taken) or GLY_ENOMEM.
 */
GLY_EXTERN int gly_health_add(gly_app *app, const char *name, gly_health_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
