/*
 * src/http/mw_cors.c - CORS (the Fetch standard's CORS protocol).
 *
 * Strict by default: an empty cors-origins installs nothing. A request whose
 * Origin is listed (exactly, byte for byte) gets Access-Control-Allow-Origin
 * with that origin and Vary: Origin, or "*" when cors-origins is "*" (never
 * with credentials: the config check refuses it). A preflight (OPTIONS with
 * Origin and Access-Control-Request-Method) is answered here with 204 and
 * never reaches a handler; the methods offered are a fixed list, since a
 * preflight is about the browser's permission, not the route (the request
 * itself still gets 405 when the route lacks the method). A requested method
 * or header outside the allowed lists leaves its Allow-* field out, so the
 * browser fails the request. A preflight from an origin not listed answers
 * 403 (problem code "cors-origin-denied") so the mistake is visible; other
 * requests from such an origin pass without CORS fields and the browser
 * keeps the response from the script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include <galley/middleware.h>

#include "http/internal.h"
#include "http/mw.h"

#define METHODS "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

struct cors {
    bool any;
    bool credentials;
    char max_age[16];
    char origins[sizeof(((gly_config *)0)->cors_origins)];
    char headers[sizeof(((gly_config *)0)->cors_headers)];
    char expose[sizeof(((gly_config *)0)->cors_expose)];
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Walks a comma list: returns the next item (trimmed, maybe empty) from *p
 * and moves *p past it; false at the end.
 */
static bool next_item(const char **p, const char *end, gly_str *item)
{
    const char *s = *p;

    if (s >= end)
        return false;
    const char *comma = memchr(s, ',', (size_t)(end - s));
    const char *e = comma ? comma : end;
    *p = comma ? comma + 1 : end;
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    item->p = s;
    item->n = (size_t)(e - s);
    return true;
}

static bool in_list(const char *list, gly_str v, bool fold)
{
    const char *p = list, *end = list + strlen(list);
    gly_str item;

    while (next_item(&p, end, &item)) {
        if (item.n == v.n && item.n > 0 &&
            (fold ? strncasecmp(item.p, v.p, v.n) == 0 : memcmp(item.p, v.p, v.n) == 0))
            return true;
    }
    return false;
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(gly_str s)
{
    if (s.n == 0)
        return false;
    for (size_t i = 0; i < s.n; i++)
        if (!is_tchar(s.p[i]))
            return false;
    return true;
}

bool gly__header_list_check(const char *list, char *why, size_t whylen)
{
    const char *p = list, *end = list + strlen(list);
    gly_str item;

    if (*list == '\0')
        return true;
    while (next_item(&p, end, &item)) {
        if (!is_token(item)) {
            snprintf(why, whylen, "\"%.*s\" is not a header name", (int)(item.n > 48 ? 48 : item.n),
                     item.p);
            return false;
        }
    }
    if (end[-1] == ',') {
        snprintf(why, whylen, "empty item in the list");
        return false;
    }
    return true;
}

/* An origin as browsers serialize it: scheme "://" host [":" port], nothing after. */
static bool origin_ok(gly_str o)
{
    size_t i = 0;

    while (i < o.n && ((o.p[i] >= 'a' && o.p[i] <= 'z') ||
                       (i > 0 && ((o.p[i] >= '0' && o.p[i] <= '9') || o.p[i] == '+' ||
                                  o.p[i] == '-' || o.p[i] == '.'))))
        i++;
    if (i == 0 || o.n - i < 4 || memcmp(o.p + i, "://", 3) != 0)
        return false;
    for (i += 3; i < o.n; i++) {
        char c = o.p[i];
        if (c <= ' ' || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '*' || c == ',')
            return false;
    }
    return true;
}

bool gly__origins_check(const char *list, char *why, size_t whylen)
{
    const char *p = list, *end = list + strlen(list);
    gly_str item;

    if (*list == '\0' || strcmp(list, "*") == 0)
        return true;
    while (next_item(&p, end, &item)) {
        if (!origin_ok(item)) {
            snprintf(why, whylen,
                     "\"%.*s\" is not an origin like https://example.com[:port]; \"*\" only alone",
                     (int)(item.n > 48 ? 48 : item.n), item.p);
            return false;
        }
    }
    if (end[-1] == ',') {
        snprintf(why, whylen, "empty item in the list");
        return false;
    }
    return true;
}

/* True when every item of the Access-Control-Request-Headers value is an allowed header. */
static bool headers_allowed(const struct cors *c, gly_str requested)
{
    const char *p = requested.p, *end = requested.p + requested.n;
    gly_str item;

    while (next_item(&p, end, &item)) {
        if (item.n == 0)
            continue;
        if (!in_list(c->headers, item, true))
            return false;
    }
    return true;
}

static int set_allow_origin(gly_req *req, const struct cors *c, gly_str origin)
{
    int rc;

    if (c->any) {
        return gly_set_header(req, "Access-Control-Allow-Origin", "*");
    }
    if ((rc = gly_set_header_str(req, GLY_STR("Access-Control-Allow-Origin"), origin)) < 0 ||
        (rc = gly_set_header(req, "Vary", "Origin")) < 0)
        return rc;
    if (c->credentials)
        return gly_set_header(req, "Access-Control-Allow-Credentials", "true");
    return 0;
}

static int preflight(gly_req *req, const struct cors *c, gly_str origin, gly_str method)
{
    gly_str requested = gly_req_header(req, "Access-Control-Request-Headers");
    int rc;

    if ((rc = set_allow_origin(req, c, origin)) < 0)
        return rc;
    if (is_token(method) && in_list(METHODS, method, false) &&
        (rc = gly_set_header(req, "Access-Control-Allow-Methods", METHODS)) < 0)
        return rc;
    if (c->headers[0] && (!requested.p || headers_allowed(c, requested)) &&
        (rc = gly_set_header(req, "Access-Control-Allow-Headers", c->headers)) < 0)
        return rc;
    if ((rc = gly_set_header(req, "Access-Control-Max-Age", c->max_age)) < 0)
        return rc;
    return gly_send(req, 204, NULL, NULL, 0);
}

static int cors(gly_req *req)
{
    const struct cors *c = gly_mw_ctx(req);
    gly_str origin = gly_req_header(req, "Origin");
    int rc;

    if (!origin.p)
        return gly_next(req);
    bool allowed = c->any || in_list(c->origins, origin, false);
    gly_str method = gly_req_header(req, "Access-Control-Request-Method");
    if (gly_req_method(req) == GLY_OPTIONS && method.p) {
        if (!allowed)
            return gly_problem(req, 403, "cors-origin-denied",
                               "this origin may not make cross-origin requests");
        return preflight(req, c, origin, method);
    }
    if (allowed) {
        if ((rc = set_allow_origin(req, c, origin)) < 0)
            return rc;
        if (c->expose[0] &&
            (rc = gly_set_header(req, "Access-Control-Expose-Headers", c->expose)) < 0)
            return rc;
    }
    return gly_next(req);
}

int gly__use_cors(gly_app *app)
{
    const gly_config *cfg = &app->cfg;
    char why[160];
    struct cors *c;

    /* gly_app_new_config() does not run the config check: the fields may be anything */
    if (!memchr(cfg->cors_origins, '\0', sizeof cfg->cors_origins) ||
        !memchr(cfg->cors_headers, '\0', sizeof cfg->cors_headers) ||
        !memchr(cfg->cors_expose, '\0', sizeof cfg->cors_expose) ||
        !gly__origins_check(cfg->cors_origins, why, sizeof why) ||
        !gly__header_list_check(cfg->cors_headers, why, sizeof why) ||
        !gly__header_list_check(cfg->cors_expose, why, sizeof why) ||
        (cfg->cors_credentials && strcmp(cfg->cors_origins, "*") == 0))
        return GLY_EINVAL;
    if (!(c = calloc(1, sizeof *c)))
        return GLY_ENOMEM;
    c->any = strcmp(cfg->cors_origins, "*") == 0;
    c->credentials = cfg->cors_credentials;
    snprintf(c->max_age, sizeof c->max_age, "%u", cfg->cors_max_age);
    memcpy(c->origins, cfg->cors_origins, sizeof c->origins);
    memcpy(c->headers, cfg->cors_headers, sizeof c->headers);
    memcpy(c->expose, cfg->cors_expose, sizeof c->expose);
    return gly_use_ctx(app, cors, c, free);
}
