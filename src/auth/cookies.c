/*
 * src/auth/cookies.c - browser sessions: a session cookie with CSRF defence,
 * and the list of a user's sessions with revocation.
 *
 * A browser logs in with the API (login, MFA), then trades its refresh token
 * for a cookie (POST /api/v1/auth/cookie): the token is spent as a refresh
 * spends it, and the session it belonged to gets a cookie record. The cookie
 * is 32 random bytes in base64url, "__Host-galley_session", HttpOnly,
 * SameSite=Lax and always Secure (the __Host- prefix requires it; browsers
 * count http://localhost as secure). Only its SHA-256 is stored.
 *
 * The CSRF token is derived from the cookie's secret (SHA-256 of a label and
 * the cookie, in base64url): it is unpredictable without the cookie and does
 * not reveal it, and a page that lost it reads it again with GET
 * /api/v1/auth/cookie, which only the site itself can read (same-origin
 * policy). Its SHA-256 is stored beside the cookie's.
 *
 * The middleware (auth.c) asks gly__cookie_auth when a request has neither
 * Authorization nor X-API-Key. A request with an unsafe method must pass two
 * checks: its Origin (else its Referer's origin) when present must be the
 * server's own or a configured CORS origin, and X-CSRF-Token must match.
 */
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "auth/internal.h"

#define COOKIE_NAME  "__Host-galley_session"
#define SECRET_BYTES 32
#define TOKEN_LEN    43 /* base64url of 32 bytes, unpadded */
#define CSRF_LABEL   "galley csrf v1:"
#define COOKIE_ATTRS "; Path=/; HttpOnly; Secure; SameSite=Lax"
#define MAX_ORIGIN   512

static const gly_migration migrations[] = {
    {1, "browser sessions",
     "CREATE TABLE auth_cookies ("
     " token_hash TEXT PRIMARY KEY,"
     " session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,"
     " csrf_hash TEXT NOT NULL,"
     " created TEXT NOT NULL);"
     "CREATE INDEX auth_cookies_session ON auth_cookies (session_id);",
     NULL, NULL},
};

static const gly_field exchange_fields[] = {
    GLY_FIELD_STR("refresh_token", .required = true, .max_len = 256),
    GLY_FIELD_END,
};
static const gly_schema exchange_schema = {.fields = exchange_fields};

static const gly_field cookie_fields[] = {
    GLY_FIELD_OBJ("user", .schema = &gly__user_schema),
    GLY_FIELD_STR("csrf_token", .description = "send it as X-CSRF-Token with unsafe methods"),
    GLY_FIELD_INT("expires_in", .description = "seconds until the session ends"),
    GLY_FIELD_END,
};
static const gly_schema cookie_schema = {.fields = cookie_fields};

static const gly_field session_fields[] = {
    GLY_FIELD_STR("id"),
    GLY_FIELD_STR("created"),
    GLY_FIELD_STR("expires"),
    GLY_FIELD_STR("ip"),
    GLY_FIELD_STR("user_agent"),
    GLY_FIELD_BOOL("current", .description = "the session of this request"),
    GLY_FIELD_END,
};
static const gly_schema session_schema = {.fields = session_fields};

static const gly_field list_fields[] = {
    GLY_FIELD_ARR("items", .items = &(const gly_field)GLY_ITEM_OBJ(.schema = &session_schema)),
    GLY_FIELD_END,
};
static const gly_schema list_schema = {.fields = list_fields};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* base64url of n bytes (at most SECRET_BYTES) into out, NUL-terminated. */
static int b64(const unsigned char *raw, size_t n, char out[TOKEN_LEN + 1])
{
    char tmp[64]; /* the encoder reserves whole groups: more room than the text */
    gly_buf b;
    assert(n <= SECRET_BYTES);
    gly_buf_init(&b, tmp, sizeof tmp, NULL, sizeof tmp);
    int rc = gly_b64url_encode(&b, raw, n);
    if (rc == 0 && gly_buf_putc(&b, '\0') < 0)
        rc = GLY_ENOMEM;
    if (rc == 0 && (b.p != tmp || b.len != TOKEN_LEN + 1))
        rc = GLY_EINVAL;
    if (rc == 0)
        memcpy(out, tmp, TOKEN_LEN + 1);
    sodium_memzero(tmp, sizeof tmp);
    gly_buf_dispose(&b);
    return rc;
}

/* The CSRF token of a cookie: base64url(SHA-256(CSRF_LABEL || cookie)). */
static int csrf_of(gly_str cookie, char out[TOKEN_LEN + 1])
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)CSRF_LABEL, sizeof CSRF_LABEL - 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)cookie.p, cookie.n);
    crypto_hash_sha256_final(&st, h);
    int rc = b64(h, sizeof h, out);
    sodium_memzero(h, sizeof h);
    sodium_memzero(&st, sizeof st);
    return rc;
}

static int expire_cookie(gly_req *req)
{
    return gly_set_header(req, "Set-Cookie", COOKIE_NAME "=" COOKIE_ATTRS "; Max-Age=0");
}

static bool is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* The session cookie among the request's Cookie fields: 1 with *value, 0 when none. */
static int session_cookie(gly_req *req, gly_str *value)
{
    *value = gly_req_cookie(req, COOKIE_NAME);
    return value->p != NULL;
}

static bool well_formed(gly_str token)
{
    if (token.n != TOKEN_LEN)
        return false;
    for (size_t i = 0; i < token.n; i++)
        if (!is_token_char(token.p[i]))
            return false;
    return true;
}

/* Whether origin (scheme://host[:port]) equals scheme + "://" + host, without case. */
static bool origin_is(gly_str origin, const char *scheme, gly_str host)
{
    size_t s = strlen(scheme);
    return host.p && host.n > 0 && origin.n == s + 3 + host.n &&
           strncasecmp(origin.p, scheme, s) == 0 && memcmp(origin.p + s, "://", 3) == 0 &&
           strncasecmp(origin.p + s + 3, host.p, host.n) == 0;
}

/*
 * Whether an origin may send unsafe requests with the cookie: the server's
 * own (http or https with the request's Host: behind a TLS proxy the browser
 * says https) or one of the configured CORS origins ("*" is not one).
 */
static bool origin_trusted(gly_req *req, gly_str origin)
{
    gly_str host = gly_req_header(req, "Host");
    if (origin_is(origin, "http", host) || origin_is(origin, "https", host))
        return true;
    const char *list = gly_app_config(gly_req_app(req))->cors_origins;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        size_t len = (size_t)(t - p);
        if (len > 0 && !(len == 1 && *p == '*') && len == origin.n &&
            strncasecmp(p, origin.p, len) == 0)
            return true;
        p = e;
    }
    return false;
}

/* The origin part of a Referer: "scheme://authority", or the absent slice. */
static gly_str referer_origin(gly_str ref)
{
    const char *sep = ref.p ? memchr(ref.p, ':', ref.n) : NULL;
    if (!sep || (size_t)(ref.p + ref.n - sep) < 4 || memcmp(sep, "://", 3) != 0)
        return (gly_str){NULL, 0};
    const char *a = sep + 3, *end = ref.p + ref.n, *e = a;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
        e++;
    return (gly_str){ref.p, (size_t)(e - ref.p)};
}

/* The CSRF defence of an unsafe request: true when it passes. */
static bool csrf_ok(gly_req *req, const char *csrf_hash)
{
    gly_str origin = gly_req_header(req, "Origin");
    if (!origin.p)
        origin = referer_origin(gly_req_header(req, "Referer"));
    if (origin.p && (origin.n > MAX_ORIGIN || !origin_trusted(req, origin)))
        return false;
    gly_str tok = gly_req_header(req, "X-CSRF-Token");
    if (!tok.p || !csrf_hash || strlen(csrf_hash) != 64)
        return false;
    char h[65];
    gly__sha256_hex(tok.p, tok.n, h);
    return sodium_memcmp(h, csrf_hash, 64) == 0;
}

/*
 * Routes an anonymous client uses to get a session: a browser holding a
 * cookie of an ended session, or a good one without its CSRF token at
 * hand, must still be able to log in, so the cookie is ignored there.
 */
static bool login_route(gly_req *req)
{
    static const char *const paths[] = {"/api/v1/auth/login", "/api/v1/auth/login/mfa",
                                        "/api/v1/auth/register", "/api/v1/auth/refresh",
                                        "/api/v1/auth/cookie"};
    if (gly_req_method(req) != GLY_POST)
        return false;
    gly_str path = gly_req_path(req);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (path.n == strlen(paths[i]) && memcmp(path.p, paths[i], path.n) == 0)
            return true;
    return false;
}

static int session_required(gly_req *req)
{
    return gly_problem(req, 403, "session-required",
                       "This needs a login (a session), not an API key.");
}

/* Ends a session: revoked, its refresh tokens spent, its cookies gone. */
static int end_session(gly_req *req, const char *sid)
{
    int64_t n =
        gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE id = $1", GLY_TEXT(sid));
    if (n >= 0)
        n = gly_db_exec(req, "UPDATE auth_refresh_tokens SET used = 1 WHERE session_id = $1",
                        GLY_TEXT(sid));
    if (n >= 0)
        n = gly_db_exec(req, "DELETE FROM auth_cookies WHERE session_id = $1", GLY_TEXT(sid));
    gly__auth_revoked(gly_req_app(req));
    return n < 0 ? (int)n : 0;
}

/* ------------------------------------------------------------------------ */
/* The exchange                                                             */
/* ------------------------------------------------------------------------ */

static int send_cookie_doc(gly_req *req, const gly_row *u, const char *csrf, int64_t expires_in)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "user");
    gly__user_json(&j, u, false);
    gly_json_key(&j, "csrf_token");
    gly_json_str(&j, csrf);
    gly_json_key(&j, "expires_in");
    gly_json_i64(&j, expires_in);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    gly_set_header(req, "Cache-Control", "no-store");
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

static int invalid_refresh(gly_req *req, const char *code, const char *detail)
{
    gly_set_header(req, "WWW-Authenticate", "Bearer realm=\"galley\"");
    return gly_problem(req, 401, code, detail);
}

/* POST /api/v1/auth/cookie {refresh_token} -> 200 {user, csrf_token, expires_in} + Set-Cookie */
static int do_exchange(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &exchange_schema);
    if (!body)
        return 0;
    gly_str token = gly_jv_str(gly_jv_get(body, "refresh_token"));
    char hash[65];
    gly__sha256_hex(token.p, token.n, hash);
    struct gly__spend sp = {.hash = hash};
    int rc = gly_db_tx(req, gly__spend_refresh, &sp);
    if (rc == GLY_ENOTFOUND)
        return invalid_refresh(req, "invalid-token", "The refresh token is not valid.");
    if (rc < 0)
        return rc;
    if (sp.reused) {
        gly__audit(req, "refresh_reuse", NULL, sp.session);
        gly_log_warn("a spent refresh token was presented again: session %s revoked", sp.session);
        return invalid_refresh(req, "invalid-token", "The refresh token is not valid.");
    }
    if (sp.expired)
        return invalid_refresh(req, "token-expired", "The refresh token has expired.");
    gly_row *u;
    int64_t now = gly__now_s();
    rc = gly_db_one(req, &u,
                    "-- name: cookie_user\n"
                    "SELECT u.id AS id, u.email AS email, u.name AS name, u.role AS role, "
                    "u.email_verified AS email_verified, u.created AS created, "
                    "u.updated AS updated, s.expires AS session_expires FROM users u JOIN "
                    "auth_sessions s ON s.user_id = u.id WHERE u.id = $1 AND u.disabled = 0 AND "
                    "s.id = $2 AND s.revoked = 0 AND s.expires > $3",
                    GLY_TEXT(sp.user_id), GLY_TEXT(sp.session), GLY_I64(now));
    if (rc == GLY_ENOTFOUND)
        return invalid_refresh(req, "invalid-token", "The session has ended.");
    if (rc < 0)
        return rc;

    unsigned char raw[SECRET_BYTES];
    char cookie[TOKEN_LEN + 1], csrf[TOKEN_LEN + 1], cookie_hash[65], csrf_hash[65], created[25];
    randombytes_buf(raw, sizeof raw);
    rc = b64(raw, sizeof raw, cookie);
    sodium_memzero(raw, sizeof raw);
    if (rc == 0)
        rc = csrf_of((gly_str){cookie, TOKEN_LEN}, csrf);
    if (rc < 0)
        goto done;
    gly__sha256_hex(cookie, TOKEN_LEN, cookie_hash);
    gly__sha256_hex(csrf, TOKEN_LEN, csrf_hash);
    gly__iso_now(created);
    int64_t n = gly_db_exec(req,
                            "-- name: cookie_insert\n"
                            "INSERT INTO auth_cookies (token_hash, session_id, csrf_hash, created) "
                            "VALUES ($1, $2, $3, $4)",
                            GLY_TEXT(cookie_hash), GLY_TEXT(sp.session), GLY_TEXT(csrf_hash),
                            GLY_TEXT(created));
    if (n < 0) {
        rc = (int)n;
        goto done;
    }
    int64_t left = gly_row_i64(u, "session_expires") - now;
    gly__audit(req, "cookie_session", sp.user_id, sp.session);
    rc = gly_set_headerf(req, "Set-Cookie", COOKIE_NAME "=%s" COOKIE_ATTRS "; Max-Age=%lld", cookie,
                         (long long)left);
    if (rc == 0)
        rc = send_cookie_doc(req, u, csrf, left);
done:
    sodium_memzero(cookie, sizeof cookie);
    sodium_memzero(csrf, sizeof csrf);
    return rc;
}

/* GET /api/v1/auth/cookie -> 200 {user, csrf_token, expires_in}: the CSRF token again */
static int do_csrf(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    gly_str cookie;
    if (!session_cookie(req, &cookie) || !well_formed(cookie))
        return gly_problem(req, 400, "no-cookie", "This request carries no session cookie.");
    struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    char csrf[TOKEN_LEN + 1], h[65];
    int rc = csrf_of(cookie, csrf);
    if (rc < 0)
        return rc;
    /* only for the session the cookie authenticated (a bearer token may come with another) */
    gly_str want = gly_row_str(ctx->row, "csrf_hash");
    gly__sha256_hex(csrf, TOKEN_LEN, h);
    if (!want.p || want.n != 64 || sodium_memcmp(h, want.p, 64) != 0)
        rc = gly_problem(req, 400, "no-cookie", "This request is not authenticated by a cookie.");
    else
        rc = send_cookie_doc(req, ctx->row, csrf,
                             gly_row_i64(ctx->row, "session_expires") - gly__now_s());
    sodium_memzero(csrf, sizeof csrf);
    return rc;
}

/* DELETE /api/v1/auth/cookie -> 204: the session ends and the cookie is expired */
static int do_cookie_logout(gly_req *req)
{
    int rc = expire_cookie(req);
    if (rc < 0)
        return rc;
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return session_required(req);
    if ((rc = end_session(req, me->sid)) < 0)
        return rc;
    gly__audit(req, "logout", me->id, me->sid);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                 */
/* ------------------------------------------------------------------------ */

/* GET /api/v1/auth/sessions -> {items}: the user's live sessions, newest first */
static int list_sessions(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return session_required(req);
    gly_res *res;
    int rc = gly_db_all(req, &res,
                        "-- name: session_list\n"
                        "SELECT id, created, expires, ip, user_agent FROM auth_sessions WHERE "
                        "user_id = $1 AND revoked = 0 AND expires > $2 ORDER BY created DESC, "
                        "id DESC",
                        GLY_TEXT(me->id), GLY_I64(gly__now_s()));
    if (rc < 0)
        return rc;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < gly_res_count(res); i++) {
        const gly_row *s = gly_res_row(res, i);
        static const char *const text[] = {"id", "created"};
        gly_json_obj_begin(&j);
        for (size_t k = 0; k < sizeof text / sizeof text[0]; k++) {
            gly_str v = gly_row_str(s, text[k]);
            gly_json_key(&j, text[k]);
            gly_json_strn(&j, v.p, v.n);
        }
        char iso[25];
        gly_iso_time_format(gly_row_i64(s, "expires") * 1000, iso);
        gly_json_key(&j, "expires");
        gly_json_str(&j, iso);
        gly_str ip = gly_row_str(s, "ip"), ua = gly_row_str(s, "user_agent");
        gly_json_key(&j, "ip");
        gly_json_strn(&j, ip.p ? ip.p : "", ip.n);
        gly_json_key(&j, "user_agent");
        gly_json_strn(&j, ua.p ? ua.p : "", ua.n);
        gly_json_key(&j, "current");
        gly_json_bool(&j, strcmp(gly_row_str(s, "id").p, me->sid) == 0);
        gly_json_obj_end(&j);
    }
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) < 0)
        return rc;
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send_buf(req, 200, "application/json", &b);
}

/* DELETE /api/v1/auth/sessions/:id -> 204: one of the user's sessions ends (404: not theirs) */
static int revoke_session(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return session_required(req);
    gly_str id = gly_req_param(req, "id");
    gly_row *s;
    int rc = gly_db_one(req, &s,
                        "-- name: session_owned\n"
                        "SELECT id, revoked FROM auth_sessions WHERE id = $1 AND user_id = $2",
                        GLY_STRV(id), GLY_TEXT(me->id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    const char *sid = gly_row_str(s, "id").p;
    if (!gly_row_bool(s, "revoked")) {
        if ((rc = end_session(req, sid)) < 0)
            return rc;
        gly__audit(req, "session_revoke", me->id, sid);
    }
    if (strcmp(sid, me->sid) == 0) {
        gly_str cookie;
        if (session_cookie(req, &cookie) && (rc = expire_cookie(req)) < 0)
            return rc;
    }
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* The middleware's side                                                    */
/* ------------------------------------------------------------------------ */

int gly__cookie_auth(gly_req *req, struct auth_ctx **out)
{
    *out = NULL;
    gly_str cookie;
    if (!session_cookie(req, &cookie) || login_route(req))
        return 0;
    gly_row *row = NULL;
    int rc = GLY_ENOTFOUND;
    if (well_formed(cookie)) {
        char hash[65];
        gly__sha256_hex(cookie.p, cookie.n, hash);
        rc = gly_db_one(req, &row,
                        "-- name: cookie_check\n"
                        "SELECT u.id AS id, u.email AS email, u.name AS name, u.role AS role, "
                        "u.email_verified AS email_verified, u.created AS created, "
                        "u.updated AS updated, s.id AS sid, s.expires AS session_expires, "
                        "c.csrf_hash AS csrf_hash FROM auth_cookies c JOIN auth_sessions s ON "
                        "s.id = c.session_id JOIN users u ON u.id = s.user_id WHERE "
                        "c.token_hash = $1 AND s.revoked = 0 AND s.expires > $2 AND "
                        "u.disabled = 0",
                        GLY_TEXT(hash), GLY_I64(gly__now_s()));
    }
    if (rc == GLY_ENOTFOUND) {
        if ((rc = expire_cookie(req)) < 0)
            return rc;
        if ((rc = gly_problem(req, 401, "invalid-session", "The session has ended.")) < 0)
            return rc;
        return 2;
    }
    if (rc < 0)
        return rc;
    int m = gly_req_method(req);
    if (m != GLY_GET && m != GLY_HEAD && m != GLY_OPTIONS &&
        !csrf_ok(req, gly_row_str(row, "csrf_hash").p)) {
        gly_log_debug("CSRF check failed: %s %.*s", gly_method_name(m), (int)gly_req_path(req).n,
                      gly_req_path(req).p);
        if ((rc = gly_problem(req, 403, "csrf",
                              "Cross-site request refused: send X-CSRF-Token from the same "
                              "origin.")) < 0)
            return rc;
        return 2;
    }
    struct auth_ctx *ctx = gly_alloc(req, sizeof *ctx);
    if (!ctx)
        return GLY_ENOMEM;
    ctx->pub = (gly_auth_user){.id = gly_row_str(row, "id").p,
                               .role = gly_row_str(row, "role").p,
                               .sid = gly_row_str(row, "sid").p};
    ctx->row = row;
    ctx->scopes = NULL;
    *out = ctx;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

int gly__cookies_init(gly_app *app)
{
    int rc = gly_db_add_migrations(gly_app_db(app), "auth_cookies", migrations,
                                   sizeof migrations / sizeof migrations[0]);
    if (rc < 0)
        return rc;
    static const char *const tags[] = {"auth", NULL};
    gly_post(app, "/api/v1/auth/cookie", do_exchange);
    gly_route_doc(app, "POST", "/api/v1/auth/cookie",
                  &(gly_doc){.summary = "Trade a refresh token for a browser session cookie",
                             .tags = tags,
                             .operation_id = "cookieLogin",
                             .request = &exchange_schema,
                             .response = &cookie_schema});
    gly_get(app, "/api/v1/auth/cookie", do_csrf);
    gly_route_doc(app, "GET", "/api/v1/auth/cookie",
                  &(gly_doc){.summary = "The CSRF token of the session cookie",
                             .tags = tags,
                             .operation_id = "cookieSession",
                             .response = &cookie_schema});
    gly_delete(app, "/api/v1/auth/cookie", do_cookie_logout);
    gly_route_doc(app, "DELETE", "/api/v1/auth/cookie",
                  &(gly_doc){.summary = "End the session and expire its cookie",
                             .tags = tags,
                             .operation_id = "cookieLogout",
                             .status = 204});
    gly_get(app, "/api/v1/auth/sessions", list_sessions);
    gly_route_doc(app, "GET", "/api/v1/auth/sessions",
                  &(gly_doc){.summary = "The user's live sessions, newest first",
                             .tags = tags,
                             .operation_id = "listSessions",
                             .response = &list_schema});
    gly_delete(app, "/api/v1/auth/sessions/:id", revoke_session);
    return gly_route_doc(app, "DELETE", "/api/v1/auth/sessions/:id",
                         &(gly_doc){.summary = "End one of the user's sessions",
                                    .tags = tags,
                                    .operation_id = "revokeSession",
                                    .status = 204});
}
