/*
 * src/http/mw_security.c - security headers, and gly_use_defaults(), which
 * installs the built-in middleware the configuration enables.
 *
 * The headers suit a JSON API: nothing on a response is meant to be framed,
 * sniffed, run as a document or embedded by another site. Pages that are
 * documents (the /docs page, later) will set their own policy.
 */
#include <stdio.h>

#include <galley/middleware.h>

#include "http/internal.h"
#include "http/mw.h"

static const char *const headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

/* Set before gly_next(), so that 404, 405 and middleware answers carry them too. */
static int security_headers(gly_req *req)
{
    const bool *hsts = gly_mw_ctx(req);

    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        int rc = gly_set_header(req, headers[i][0], headers[i][1]);
        if (rc < 0)
            return rc;
    }
    if (*hsts) {
        int rc = gly_set_header(req, "Strict-Transport-Security", "max-age=31536000");
        if (rc < 0)
            return rc;
    }
    return gly_next(req);
}

int gly_use_defaults(gly_app *app)
{
    static const bool on = true, off = false;
    const gly_config *cfg = &app->cfg;
    int rc = 0;

    if (cfg->trusted_proxies[0] && (rc = gly__use_client_ip(app)) < 0)
        goto done;
    if (cfg->security_headers &&
        (rc = gly_use_ctx(app, security_headers, (void *)(cfg->hsts ? &on : &off), NULL)) < 0)
        goto done;
    if (cfg->cors_origins[0] && (rc = gly__use_cors(app)) < 0)
        goto done;
    if (cfg->rate_limit > 0 && (rc = gly__use_default_rate_limit(app)) < 0)
        goto done;
done:
    if (rc < 0 && !app->setup_err) {
        app->setup_err = rc;
        snprintf(app->setup_msg, sizeof app->setup_msg, "built-in middleware: %s",
                 gly_strerror(rc));
    }
    return rc;
}
