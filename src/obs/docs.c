/*
 * src/obs/docs.c - GET /docs: Swagger UI, served from files built into the
 * library (web/docs, embedded by scripts/embed.py into docs_assets.c).
 *
 * The page loads /docs/swagger-ui.css, /docs/swagger-ui-bundle.js and
 * /docs/init.js (which points Swagger UI at /openapi.json); nothing comes
 * from another host. The page is a document, so it replaces the strict
 * Content-Security-Policy of the security headers with one that lets it run
 * its own scripts and styles - and still nothing inline but styles.
 */
#include <galley/openapi.h>

#include "http/internal.h"

#define DOCS_CSP                                                                                   \
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "                 \
    "script-src 'self'; frame-ancestors 'none'"

/* True when an If-None-Match value ("*" or a list of entity tags) names etag (RFC 9110 13.1.2). */
static bool etag_matches(gly_str inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm.p, *end = inm.p + inm.n;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == end)
            break;
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if (stop - p >= 2 && p[0] == 'W' && p[1] == '/')
            p += 2; /* weak comparison, as If-None-Match wants */
        if ((stop - p == 1 && *p == '*') || ((size_t)(stop - p) == n && memcmp(p, etag, n) == 0))
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

static int send_asset(gly_req *req, const struct gly__asset *a)
{
    int rc = gly_set_header(req, "Cache-Control", "public, max-age=86400");
    if (rc == 0)
        rc = gly_set_header(req, "ETag", a->etag);
    if (rc < 0)
        return rc;
    gly_str inm = gly_req_header(req, "If-None-Match");
    if (inm.p && etag_matches(inm, a->etag))
        return gly_send(req, 304, NULL, NULL, 0);
    return gly_send_ref(req, 200, a->content_type, a->data, a->len);
}

int gly__docs_page(gly_req *req)
{
    const struct gly__asset *a = gly__docs_asset_find(GLY_STR("index.html"));
    if (!a)
        return GLY_ENOENT; /* the build always embeds it */
    int rc = gly_replace_header(req, "Content-Security-Policy", DOCS_CSP);
    if (rc < 0)
        return rc;
    return send_asset(req, a);
}

int gly__docs_asset(gly_req *req)
{
    const struct gly__asset *a = gly__docs_asset_find(gly_req_param(req, "asset"));
    if (!a)
        return gly_problem(req, 404, "not-found", "No such file of the docs page.");
    return send_asset(req, a);
}
