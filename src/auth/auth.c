/*
 * src/auth/auth.c - accounts, sessions and tokens: the routes under
 * /api/v1/auth, the middleware that reads access tokens, the audit log.
 *
 * A login opens a session (auth_sessions) and gives an access token (a JWT
 * naming the user, role and session, access-ttl long) and a refresh token
 * (32 random bytes; only its SHA-256 is stored). A refresh spends its token
 * and gives a new pair in the same session; presenting a spent token again
 * means it was stolen or replayed, so the whole session is revoked. Logout
 * revokes the session, which the middleware checks on every authenticated
 * request, so a revoked access token stops working at once on this database.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/internal.h"
#include "core/hash.h"

#define ID_LEN 15

/* ------------------------------------------------------------------------ */
/* Schema                                                                   */
/* ------------------------------------------------------------------------ */

static const gly_migration migrations[] = {
    {1, "users, sessions, refresh tokens",
     "CREATE TABLE users ("
     " id TEXT PRIMARY KEY,"
     " email TEXT NOT NULL UNIQUE,"
     " password_hash TEXT NOT NULL,"
     " name TEXT NOT NULL DEFAULT '',"
     " role TEXT NOT NULL DEFAULT 'user',"
     " email_verified INTEGER NOT NULL DEFAULT 0,"
     " disabled INTEGER NOT NULL DEFAULT 0,"
     " created TEXT NOT NULL,"
     " updated TEXT NOT NULL);"
     "CREATE TABLE auth_sessions ("
     " id TEXT PRIMARY KEY,"
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " created TEXT NOT NULL,"
     " expires BIGINT NOT NULL,"
     " revoked INTEGER NOT NULL DEFAULT 0,"
     " ip TEXT NOT NULL DEFAULT '',"
     " user_agent TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX auth_sessions_user ON auth_sessions (user_id);"
     "CREATE TABLE auth_refresh_tokens ("
     " token_hash TEXT PRIMARY KEY,"
     " session_id TEXT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE,"
     " user_id TEXT NOT NULL,"
     " expires BIGINT NOT NULL,"
     " used INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX auth_refresh_session ON auth_refresh_tokens (session_id);",
     NULL, NULL},
    {2, "audit log", NULL,
     "CREATE TABLE auth_audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, event TEXT NOT NULL,"
     " user_id TEXT, ip TEXT NOT NULL, user_agent TEXT NOT NULL, request_id TEXT NOT NULL,"
     " detail TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX auth_audit_at ON auth_audit (at);",
     "CREATE TABLE auth_audit (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, event TEXT NOT NULL,"
     " user_id TEXT, ip TEXT NOT NULL, user_agent TEXT NOT NULL, request_id TEXT NOT NULL,"
     " detail TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX auth_audit_at ON auth_audit (at);"},
    {3, "login throttling",
     "CREATE TABLE auth_throttle (key TEXT PRIMARY KEY, failures BIGINT NOT NULL,"
     " window_start BIGINT NOT NULL, locked_until BIGINT NOT NULL);",
     NULL, NULL},
};

static const gly_field register_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL, .max_len = 254),
    GLY_FIELD_STR("password", .required = true, .max_len = 1024),
    GLY_FIELD_STR("name", .max_len = 100),
    GLY_FIELD_END,
};
static const gly_schema register_schema = {.fields = register_fields};

static const gly_field login_fields[] = {
    GLY_FIELD_STR("email", .required = true, .max_len = 254),
    GLY_FIELD_STR("password", .required = true, .max_len = 1024),
    GLY_FIELD_END,
};
static const gly_schema login_schema = {.fields = login_fields};

static const gly_field refresh_fields[] = {
    GLY_FIELD_STR("refresh_token", .required = true, .max_len = 256),
    GLY_FIELD_END,
};
static const gly_schema refresh_schema = {.fields = refresh_fields};

static const gly_field password_fields[] = {
    GLY_FIELD_STR("current_password", .required = true, .max_len = 1024),
    GLY_FIELD_STR("new_password", .required = true, .max_len = 1024),
    GLY_FIELD_END,
};
static const gly_schema password_schema = {.fields = password_fields};

static const gly_field user_fields[] = {
    GLY_FIELD_STR("id"),
    GLY_FIELD_STR("email"),
    GLY_FIELD_STR("name"),
    GLY_FIELD_STR("role"),
    GLY_FIELD_BOOL("email_verified"),
    GLY_FIELD_STR("created"),
    GLY_FIELD_STR("updated"),
    GLY_FIELD_END,
};
const gly_schema gly__user_schema = {.fields = user_fields, .additional = true};

static const gly_field tokens_fields[] = {
    GLY_FIELD_STR("access_token"),
    GLY_FIELD_STR("token_type"),
    GLY_FIELD_INT("expires_in"),
    GLY_FIELD_STR("refresh_token"),
    GLY_FIELD_OBJ("user", .schema = &gly__user_schema),
    GLY_FIELD_END,
};
static const gly_schema tokens_schema = {.fields = tokens_fields, .additional = true};
const gly_schema *const gly__tokens_schema = &tokens_schema;

#define USER_COLS GLY_AUTH_USER_COLS

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

void gly__iso_now(char out[25])
{
    gly_iso_time_format(gly_wall_ms(), out);
}

int64_t gly__delete_user(gly_req *req, const char *id)
{
    struct auth *au = gly__auth_of(gly_req_app(req));
    if (au->delete_user)
        return au->delete_user(req, id);
    return gly_db_exec(req, "DELETE FROM users WHERE id = $1", GLY_TEXT(id));
}

int64_t gly__now_s(void)
{
    return gly_wall_ms() / 1000;
}

/* A random id of ID_LEN characters from [a-z0-9] (77 bits). */
void gly__random_id(char *out, size_t len)
{
    /*
     * Random bytes come from a per-thread pool filled 512 at a time: one
     * getrandom() per ~30 ids rather than one per character. A byte below
     * 252 (7 * 36) picks a character uniformly; the rest are dropped.
     */
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    static _Thread_local unsigned char pool[512];
    static _Thread_local size_t left;
    for (size_t i = 0; i < len;) {
        if (left == 0) {
            randombytes_buf(pool, sizeof pool);
            left = sizeof pool;
        }
        unsigned char c = pool[--left];
        pool[left] = 0; /* spent bytes do not linger */
        if (c < 252)
            out[i++] = alphabet[c % 36];
    }
    out[len] = '\0';
}

void gly__new_id(char out[16])
{
    gly__random_id(out, ID_LEN);
}

/* SHA-256 of p[0..n) as 64 hex digits. */
void gly__sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(out, 65, h, sizeof h);
}

char *gly__lower_dup(gly_req *req, gly_str s)
{
    char *out = gly_arena_strndup(gly_req_arena(req), s.p, s.n);
    if (out)
        for (char *c = out; *c; c++)
            *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    return out;
}

gly_str gly__member(const gly_jv *body, const char *name)
{
    return gly_jv_str(gly_jv_get(body, name));
}

/*
 * The user object of the API: booleans as booleans, never the password hash;
 * with admin, also "disabled" (the row must have it).
 */
void gly__user_json(gly_json *j, const gly_row *u, bool admin)
{
    gly_json_obj_begin(j);
    static const char *const text[] = {"id", "email", "name", "role"};
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        gly_str v = gly_row_str(u, text[i]);
        gly_json_key(j, text[i]);
        gly_json_strn(j, v.p, v.n);
    }
    gly_json_key(j, "email_verified");
    gly_json_bool(j, gly_row_bool(u, "email_verified"));
    gly_str created = gly_row_str(u, "created"), updated = gly_row_str(u, "updated");
    gly_json_key(j, "created");
    gly_json_strn(j, created.p, created.n);
    gly_json_key(j, "updated");
    gly_json_strn(j, updated.p, updated.n);
    if (admin) {
        gly_json_key(j, "disabled");
        gly_json_bool(j, gly_row_bool(u, "disabled"));
    }
    gly_json_obj_end(j);
}

int gly__send_user(gly_req *req, int status, const gly_row *u)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly__user_json(&j, u, false);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, status, "application/json", &b);
}

/* Records an event in the audit log. A failure is logged, not answered: the event happened. */
void gly__audit(gly_req *req, const char *event, const char *user_id, const char *detail)
{
    char at[25];
    gly__iso_now(at);
    gly_str ua = gly_req_header(req, "User-Agent"), id = gly_req_id(req);
    const char *ip = gly_req_client_ip(req);
    int64_t rc = gly_db_exec(req,
                             "-- name: audit_insert\n"
                             "INSERT INTO auth_audit (at, event, user_id, ip, user_agent, "
                             "request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                             GLY_TEXT(at), GLY_TEXT(event), GLY_TEXT(user_id),
                             GLY_TEXT(ip ? ip : ""), GLY_TEXTN(ua.p ? ua.p : "", ua.p ? ua.n : 0),
                             GLY_STRV(id), GLY_TEXT(detail ? detail : ""));
    if (rc < 0)
        gly_log_error("audit %s not recorded: %s", event, gly_err_name((int)rc));
}

int gly__unauthorized(gly_req *req, const char *code, const char *detail)
{
    gly_set_header(req, "WWW-Authenticate", "Bearer realm=\"galley\"");
    return gly_problem(req, 401, code, detail);
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */
/* ------------------------------------------------------------------------ */

struct issued {
    char access[1024];
    char refresh[64];
};

int gly__new_secret(char text[GLY_SECRET_LEN + 1], char hash[65])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    gly_buf b;
    gly_buf_init(&b, text, GLY_SECRET_LEN + 1, NULL, GLY_SECRET_LEN + 1);
    int rc = gly_b64url_encode(&b, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    if (rc < 0 || b.p != text || b.len != GLY_SECRET_LEN)
        return rc < 0 ? rc : GLY_EINVAL;
    text[GLY_SECRET_LEN] = '\0';
    gly__sha256_hex(text, GLY_SECRET_LEN, hash);
    return 0;
}

/* Stores a new refresh token of the session; its text goes to out. */
static int new_refresh(gly_req *req, const char *session, const char *user_id, char out[64])
{
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    char hash[65];
    int rc = gly__new_secret(out, hash);
    if (rc < 0)
        return rc;
    int64_t n = gly_db_exec(req,
                            "-- name: refresh_insert\n"
                            "INSERT INTO auth_refresh_tokens (token_hash, session_id, user_id, "
                            "expires) VALUES ($1, $2, $3, $4)",
                            GLY_TEXT(hash), GLY_TEXT(session), GLY_TEXT(user_id),
                            GLY_I64(gly__now_s() + cfg->refresh_ttl_ms / 1000));
    return n < 0 ? (int)n : 0;
}

static int sign_access(gly_req *req, const char *user_id, const char *role, const char *session,
                       char out[1024])
{
    struct auth *au = gly__auth_of(gly_req_app(req));
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    char jti[ID_LEN + 1];
    gly__new_id(jti);
    int64_t now = gly__now_s();
    gly_jwt_claims c = {.sub = user_id,
                        .iss = cfg->jwt_issuer,
                        .aud = cfg->jwt_audience,
                        .jti = jti,
                        .role = role,
                        .sid = session,
                        .iat = now,
                        .exp = now + cfg->access_ttl_ms / 1000};
    gly_buf b;
    gly_buf_init(&b, out, 1024, NULL, 1024);
    int rc = gly_jwt_sign(&au->key, &c, &b);
    if (rc == 0 && gly_buf_putc(&b, '\0') < 0)
        rc = GLY_ENOMEM;
    return rc;
}

/* Answers 200 with the tokens and the user (login, refresh). */
static int send_tokens(gly_req *req, const struct issued *t, const gly_row *user)
{
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "access_token");
    gly_json_str(&j, t->access);
    gly_json_key(&j, "token_type");
    gly_json_str(&j, "Bearer");
    gly_json_key(&j, "expires_in");
    gly_json_u64(&j, cfg->access_ttl_ms / 1000);
    gly_json_key(&j, "refresh_token");
    gly_json_str(&j, t->refresh);
    gly_json_key(&j, "user");
    gly__user_json(&j, user, false);
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    gly_set_header(req, "Cache-Control", "no-store");
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

/* ------------------------------------------------------------------------ */
/* The middleware                                                           */
/* ------------------------------------------------------------------------ */

/*
 * Checks an access token, remembering the tokens that passed on this worker:
 * a token seen before (the same bytes, so the same signature and claims) is
 * not verified again, only its times are checked. The cache is the worker's
 * alone, so it takes no lock; the claims are copied into the request's arena.
 */
static int verify_cached(gly_req *req, struct auth *au, const gly_config *cfg, gly_str token,
                         gly_jwt_claims *c, const char **why)
{
    int64_t now = gly__now_s();
    struct token_cache *tc = &au->tokens[gly_req_worker(req)];
    uint64_t h = gly__fnv1a(token.p, token.n);
    struct cached_token *e = &tc->slot[h % TOKEN_CACHE];
    gly_arena *a = gly_req_arena(req);
    if (e->token && e->len == token.n && memcmp(e->token, token.p, token.n) == 0) {
        if (e->exp + 30 <= now) {
            *why = "expired";
            return GLY_ETIMEDOUT;
        }
        if (e->nbf - 30 > now) {
            *why = "not yet valid";
            return GLY_ETIMEDOUT;
        }
        *c = (gly_jwt_claims){.sub = gly_arena_strdup(a, e->sub),
                              .sid = gly_arena_strdup(a, e->sid),
                              .exp = e->exp,
                              .nbf = e->nbf};
        return c->sub && c->sid ? 0 : GLY_ENOMEM;
    }
    gly_jwt_expect ex = {
        .iss = cfg->jwt_issuer, .aud = cfg->jwt_audience, .now = now, .leeway = 30};
    int rc = gly_jwt_verify(&au->key, 1, token.p, token.n, &ex, a, c, why);
    if (rc == 0 && c->sid) {
        char *copy = malloc(token.n + strlen(c->sub) + strlen(c->sid) + 2);
        if (copy) {
            free(e->token);
            e->token = copy;
            e->len = token.n;
            memcpy(copy, token.p, token.n);
            e->sub = copy + token.n;
            strcpy(e->sub, c->sub);
            e->sid = e->sub + strlen(c->sub) + 1;
            strcpy(e->sid, c->sid);
            e->exp = c->exp;
            e->nbf = c->nbf;
        }
    }
    return rc;
}

void gly__auth_revoked(gly_app *app)
{
    struct auth *au = gly__auth_of(app);
    if (au) {
        atomic_fetch_add_explicit(&au->gen, 1, memory_order_release);
        gly__revoke_publish(au);
    }
}

/*
 * The session must be live and its user enabled: one query, which also reads
 * the user for the handler. A worker trusts what it checked for
 * session-cache, unless a revocation in this process (gly__auth_revoked)
 * or, through Redis, on another node came since.
 */
static int check_session(gly_req *req, struct auth *au, const gly_config *cfg,
                         const gly_jwt_claims *c, gly_row **out)
{
    struct token_cache *wc = &au->tokens[gly_req_worker(req)];
    uint64_t h = gly__fnv1a(c->sid, strlen(c->sid));
    struct cached_session *cs = &wc->sess[h % SESSION_CACHE];
    uint64_t gen = atomic_load_explicit(&au->gen, memory_order_acquire), now = gly_now_ns();
    if (cs->user && cs->gen == gen && now < cs->until_ns && strcmp(cs->sid, c->sid) == 0 &&
        strcmp(cs->sub, c->sub) == 0) {
        *out = gly_row_copy(gly_req_arena(req), cs->user);
        return *out ? 0 : GLY_ENOMEM;
    }
    int rc = gly_db_one(req, out,
                        "-- name: session_check\n"
                        "SELECT u.id AS id, u.email AS email, u.name AS name, u.role AS role, "
                        "u.email_verified AS email_verified, u.created AS created, "
                        "u.updated AS updated FROM auth_sessions s JOIN users u ON u.id = "
                        "s.user_id WHERE s.id = $1 AND s.user_id = $2 AND s.revoked = 0 AND "
                        "u.disabled = 0",
                        GLY_TEXT(c->sid), GLY_TEXT(c->sub));
    if (rc == 0 && cfg->session_cache_ms > 0 && strlen(c->sid) < sizeof cs->sid &&
        strlen(c->sub) < sizeof cs->sub) {
        gly_row *keep = gly_row_dup(*out);
        if (keep) {
            gly_row_free(cs->user);
            cs->user = keep;
            strcpy(cs->sid, c->sid);
            strcpy(cs->sub, c->sub);
            cs->gen = gen; /* read before the query: a revocation meanwhile makes it stale */
            cs->until_ns = now + (uint64_t)cfg->session_cache_ms * 1000000u;
        }
    }
    return rc;
}

static int auth_mw(gly_req *req)
{
    gly_str h = gly_req_header(req, "Authorization"), key = gly_req_header(req, "X-API-Key");
    if (!h.p && !key.p) {
        /* a browser's session cookie, or nobody */
        struct auth_ctx *cctx = NULL;
        int crc = gly__cookie_auth(req, &cctx);
        if (crc < 0)
            return crc;
        if (crc == 2)
            return 0;
        if (crc == 1)
            gly_req_set_slot(req, GLY_SLOT_AUTH, cctx);
        return gly_next(req);
    }
    struct auth *au = gly__auth_of(gly_req_app(req));
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    if (h.p && (h.n < 8 || strncasecmp(h.p, "Bearer ", 7) != 0))
        return gly__unauthorized(req, "invalid-token", "Use Authorization: Bearer <access token>.");
    if (h.p && key.p)
        return gly_problem(req, 400, "two-credentials",
                           "Send either Authorization or X-API-Key, not both.");
    gly_str bearer = h.p ? (gly_str){h.p + 7, h.n - 7} : key;
    if (key.p || gly__apikey_like(bearer)) {
        /* an API key: in X-API-Key, or as the bearer token */
        struct auth_ctx *kctx = NULL;
        int krc = gly__apikey_auth(req, bearer, &kctx);
        if (krc == GLY_EACCES)
            return gly__unauthorized(req, "invalid-api-key", "The API key is not valid.");
        if (krc < 0)
            return krc;
        gly_req_set_slot(req, GLY_SLOT_AUTH, kctx);
        return gly_next(req);
    }
    gly_jwt_claims c;
    const char *why = NULL;
    int rc = verify_cached(req, au, cfg, bearer, &c, &why);
    if (rc == 0 && !c.sid)
        rc = GLY_EACCES, why = "no session";
    if (rc < 0) {
        gly_log_debug("access token refused: %s", why ? why : gly_err_name(rc));
        bool expired = rc == GLY_ETIMEDOUT && why && strcmp(why, "expired") == 0;
        return gly__unauthorized(req, expired ? "token-expired" : "invalid-token",
                                 expired ? "The access token has expired."
                                         : "The access token is not valid.");
    }
    gly_row *row;
    rc = check_session(req, au, cfg, &c, &row);
    if (rc == GLY_ENOTFOUND)
        return gly__unauthorized(req, "invalid-token", "The session has ended.");
    if (rc < 0)
        return rc;
    struct auth_ctx *ctx = gly_alloc(req, sizeof *ctx);
    if (!ctx)
        return GLY_ENOMEM;
    /* the role as it is now, not as it was when the token was made */
    ctx->pub = (gly_auth_user){.id = c.sub, .sid = c.sid, .role = gly_row_str(row, "role").p};
    ctx->row = row;
    ctx->scopes = NULL;
    gly_req_set_slot(req, GLY_SLOT_AUTH, ctx);
    return gly_next(req);
}

const gly_auth_user *gly_auth(gly_req *req)
{
    struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    return ctx ? &ctx->pub : NULL;
}

const gly_auth_user *gly_auth_require(gly_req *req)
{
    const gly_auth_user *u = gly_auth(req);
    if (!u)
        gly__unauthorized(req, "unauthenticated", "This needs an access token.");
    return u;
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */

/* A validation problem naming one field. */
int gly__field_problem(gly_req *req, int status, const char *field, const char *code,
                       const char *message)
{
    gly_verrors errs;
    gly_verrors_init(&errs, gly_req_arena(req));
    gly_verrors_add(&errs, field, code, "%s", message);
    return gly_problem_verrors(req, status, &errs);
}

/* POST /api/v1/auth/register {email, password, name?} -> 201 with the user */
static int do_register(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &register_schema);
    if (!body)
        return 0;
    char *email = gly__lower_dup(req, gly__member(body, "email"));
    gly_str password = gly__member(body, "password"), name = gly__member(body, "name");
    if (!email)
        return GLY_ENOMEM;
    const char *message, *code = gly_password_policy(password.p, password.n, email, &message);
    if (code)
        return gly__field_problem(req, 422, "password", code, message);
    char hash[GLY_PASSWORD_HASH_MAX], id[ID_LEN + 1], now[25];
    int rc = gly_password_hash(req, password.p, password.n, hash);
    if (rc < 0)
        return rc;
    gly__new_id(id);
    gly__iso_now(now);
    gly_row *u;
    rc = gly_db_one(req, &u,
                    "-- name: user_insert\n"
                    "INSERT INTO users (id, email, password_hash, name, created, updated) "
                    "VALUES ($1, $2, $3, $4, $5, $5) RETURNING " USER_COLS,
                    GLY_TEXT(id), GLY_TEXT(email), GLY_TEXT(hash),
                    GLY_TEXTN(name.p ? name.p : "", name.n), GLY_TEXT(now));
    sodium_memzero(hash, sizeof hash);
    if (rc == GLY_EUNIQUE) {
        gly_verrors errs;
        gly_verrors_init(&errs, gly_req_arena(req));
        gly_verrors_add(&errs, "email", "taken", "is already registered");
        return gly_problem_errors(req, 409, "email-taken", "An account with this email exists.",
                                  &errs);
    }
    if (rc < 0)
        return rc;
    gly__audit(req, "register", id, NULL);
    gly_set_headerf(req, "Location", "/api/v1/users/%s", id);
    return gly__send_user(req, 201, u);
}

/* Opens a session for the user and answers with its tokens. */
int gly__open_session(gly_req *req, const gly_row *u)
{
    const gly_config *cfg = gly_app_config(gly_req_app(req));
    char sid[ID_LEN + 1], now[25];
    gly__new_id(sid);
    gly__iso_now(now);
    const char *user_id = gly_row_str(u, "id").p, *role = gly_row_str(u, "role").p;
    gly_str ua = gly_req_header(req, "User-Agent");
    const char *ip = gly_req_client_ip(req);
    int64_t n =
        gly_db_exec(req,
                    "-- name: session_insert\n"
                    "INSERT INTO auth_sessions (id, user_id, created, expires, ip, "
                    "user_agent) VALUES ($1, $2, $3, $4, $5, $6)",
                    GLY_TEXT(sid), GLY_TEXT(user_id), GLY_TEXT(now),
                    GLY_I64(gly__now_s() + cfg->refresh_ttl_ms / 1000), GLY_TEXT(ip ? ip : ""),
                    GLY_TEXTN(ua.p ? ua.p : "", ua.p ? (ua.n > 512 ? 512 : ua.n) : 0));
    if (n < 0)
        return (int)n;
    struct issued t;
    int rc = new_refresh(req, sid, user_id, t.refresh);
    if (rc == 0)
        rc = sign_access(req, user_id, role, sid, t.access);
    if (rc < 0)
        return rc;
    rc = send_tokens(req, &t, u);
    sodium_memzero(&t, sizeof t);
    return rc;
}

/* POST /api/v1/auth/login {email, password} */
static int do_login(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &login_schema);
    if (!body)
        return 0;
    char *email = gly__lower_dup(req, gly__member(body, "email"));
    gly_str password = gly__member(body, "password");
    if (!email)
        return GLY_ENOMEM;
    int64_t retry;
    int locked = gly__throttle_check(req, email, &retry);
    if (locked < 0)
        return locked;
    if (locked) {
        gly__audit(req, "login_locked", NULL, NULL);
        gly_set_headerf(req, "Retry-After", "%lld", (long long)retry);
        return gly_problem(req, 429, "too-many-attempts",
                           "Too many failed logins. Try again later.");
    }
    gly_row *u;
    int rc = gly_db_one(req, &u,
                        "-- name: user_by_email\n"
                        "SELECT " USER_COLS ", password_hash, disabled FROM users WHERE email = $1",
                        GLY_TEXT(email));
    if (rc < 0 && rc != GLY_ENOTFOUND)
        return rc;
    const char *hash = rc == 0 ? gly_row_str(u, "password_hash").p : NULL;
    bool rehash;
    int ok = gly_password_verify(req, hash, password.p, password.n, &rehash);
    if (ok < 0)
        return ok;
    if (!ok || gly_row_bool(u, "disabled")) {
        gly__audit(req, "login_failure", hash ? gly_row_str(u, "id").p : NULL,
                   hash && ok ? "disabled" : "bad credentials");
        gly__throttle_fail(req, email);
        return gly__unauthorized(req, "invalid-credentials", "The email or the password is wrong.");
    }
    const char *id = gly_row_str(u, "id").p;
    if (rehash) {
        char fresh[GLY_PASSWORD_HASH_MAX];
        if (gly_password_hash(req, password.p, password.n, fresh) == 0)
            gly_db_exec(req, "UPDATE users SET password_hash = $1 WHERE id = $2", GLY_TEXT(fresh),
                        GLY_TEXT(id));
        sodium_memzero(fresh, sizeof fresh);
    }
    /*
     * With MFA on, the tokens come only after the second step, and until it
     * succeeds the attempt counts as a failure: the password alone must not
     * buy unlimited tickets to guess codes with.
     */
    int mfa = gly__mfa_login(req, u);
    if (mfa < 0)
        return mfa;
    if (mfa == 1) {
        gly__throttle_fail(req, email);
        return 0;
    }
    gly__throttle_ok(req, email);
    gly__audit(req, "login_success", id, NULL);
    return gly__open_session(req, u);
}

/* Spends a refresh token; a spent one revokes its session (committed, then refused). */
int gly__spend_refresh(gly_req *req, void *arg)
{
    struct gly__spend *sp = arg;
    gly_row *t;
    int rc = gly_db_one(req, &t,
                        "-- name: refresh_spend\n"
                        "UPDATE auth_refresh_tokens SET used = 1 WHERE token_hash = $1 AND "
                        "used = 0 RETURNING session_id, user_id, expires",
                        GLY_TEXT(sp->hash));
    if (rc == GLY_ENOTFOUND) {
        gly_row *old;
        rc = gly_db_one(req, &old,
                        "SELECT session_id FROM auth_refresh_tokens WHERE token_hash = $1",
                        GLY_TEXT(sp->hash));
        if (rc < 0)
            return rc; /* GLY_ENOTFOUND: never issued */
        sp->reused = true;
        sp->session = gly_row_str(old, "session_id").p;
        int64_t n = gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE id = $1",
                                GLY_TEXT(sp->session));
        gly__auth_revoked(gly_req_app(req));
        return n < 0 ? (int)n : 0;
    }
    if (rc < 0)
        return rc;
    sp->session = gly_row_str(t, "session_id").p;
    sp->user_id = gly_row_str(t, "user_id").p;
    sp->expired = gly_row_i64(t, "expires") <= gly__now_s();
    return 0;
}

/* POST /api/v1/auth/refresh {refresh_token} */
static int do_refresh(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &refresh_schema);
    if (!body)
        return 0;
    gly_str token = gly__member(body, "refresh_token");
    char hash[65];
    gly__sha256_hex(token.p, token.n, hash);
    struct gly__spend sp = {.hash = hash};
    int rc = gly_db_tx(req, gly__spend_refresh, &sp);
    if (rc == GLY_ENOTFOUND)
        return gly__unauthorized(req, "invalid-token", "The refresh token is not valid.");
    if (rc < 0)
        return rc;
    if (sp.reused) {
        gly__audit(req, "refresh_reuse", NULL, sp.session);
        gly_log_warn("a spent refresh token was presented again: session %s revoked", sp.session);
        return gly__unauthorized(req, "invalid-token", "The refresh token is not valid.");
    }
    if (sp.expired)
        return gly__unauthorized(req, "token-expired", "The refresh token has expired.");
    gly_row *u;
    rc = gly_db_one(req, &u,
                    "-- name: refresh_user\n"
                    "SELECT " USER_COLS " FROM users u WHERE id = $1 AND disabled = 0 AND "
                    "EXISTS (SELECT 1 FROM auth_sessions s WHERE s.id = $2 AND s.revoked = 0)",
                    GLY_TEXT(sp.user_id), GLY_TEXT(sp.session));
    if (rc == GLY_ENOTFOUND)
        return gly__unauthorized(req, "invalid-token", "The session has ended.");
    if (rc < 0)
        return rc;
    struct issued t;
    rc = new_refresh(req, sp.session, sp.user_id, t.refresh);
    if (rc == 0)
        rc = sign_access(req, sp.user_id, gly_row_str(u, "role").p, sp.session, t.access);
    if (rc < 0)
        return rc;
    rc = send_tokens(req, &t, u);
    sodium_memzero(&t, sizeof t);
    return rc;
}

/* POST /api/v1/auth/logout: ends the session of the access token */
static int do_logout(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return gly_problem(req, 400, "not-a-session",
                           "An API key has no session to end: revoke the key instead.");
    int64_t n =
        gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE id = $1", GLY_TEXT(me->sid));
    if (n < 0)
        return (int)n;
    n = gly_db_exec(req, "UPDATE auth_refresh_tokens SET used = 1 WHERE session_id = $1",
                    GLY_TEXT(me->sid));
    gly__auth_revoked(gly_req_app(req));
    if (n < 0)
        return (int)n;
    gly__audit(req, "logout", me->id, NULL);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* GET /api/v1/auth/me: the user the middleware read with the session */
static int do_me(gly_req *req)
{
    if (!gly_auth_require(req))
        return 0;
    struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    return gly__send_user(req, 200, ctx->row);
}

/* POST /api/v1/auth/password {current_password, new_password}: other sessions end */
static int do_password(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return gly_problem(req, 403, "session-required",
                           "Changing the password needs a login, not an API key.");
    gly_jv *body = gly_req_valid_json(req, &password_schema);
    if (!body)
        return 0;
    gly_str cur = gly__member(body, "current_password"), next = gly__member(body, "new_password");
    gly_row *u;
    int rc = gly_db_one(req, &u, "SELECT email, password_hash FROM users WHERE id = $1",
                        GLY_TEXT(me->id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    int ok = gly_password_verify(req, gly_row_str(u, "password_hash").p, cur.p, cur.n, NULL);
    if (ok < 0)
        return ok;
    if (!ok) {
        gly__audit(req, "password_change_failure", me->id, NULL);
        return gly__field_problem(req, 422, "current_password", "wrong", "is not the password");
    }
    const char *message,
        *code = gly_password_policy(next.p, next.n, gly_row_str(u, "email").p, &message);
    if (code)
        return gly__field_problem(req, 422, "new_password", code, message);
    char hash[GLY_PASSWORD_HASH_MAX], now[25];
    if ((rc = gly_password_hash(req, next.p, next.n, hash)) < 0)
        return rc;
    gly__iso_now(now);
    int64_t n = gly_db_exec(req, "UPDATE users SET password_hash = $1, updated = $2 WHERE id = $3",
                            GLY_TEXT(hash), GLY_TEXT(now), GLY_TEXT(me->id));
    sodium_memzero(hash, sizeof hash);
    if (n >= 0)
        n = gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE user_id = $1 AND id <> $2",
                        GLY_TEXT(me->id), GLY_TEXT(me->sid));
    gly__auth_revoked(gly_req_app(req));
    if (n < 0)
        return (int)n;
    gly__audit(req, "password_change", me->id, NULL);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

/* Reads a key file: its bytes, trailing white space dropped. */
static int read_key_file(const char *path, char *out, size_t cap, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t got = read(fd, out, cap);
    int err = errno;
    close(fd);
    if (got < 0)
        return -err;
    while (got > 0 && (out[got - 1] == '\n' || out[got - 1] == '\r' || out[got - 1] == ' '))
        got--;
    *n = (size_t)got;
    return 0;
}

/* The token key: jwt-secret, else jwt-secret-file, else DATA/jwt.key (made once). */
static int load_key(struct auth *au, const gly_config *cfg)
{
    if (cfg->jwt_alg[0] && strcmp(cfg->jwt_alg, "HS256") != 0)
        return gly__load_signing_key(&au->key, cfg); /* EdDSA, ES256 (oidc.c) */
    char secret[256];
    size_t n = 0;
    int rc = 0;
    if (cfg->jwt_secret[0]) {
        n = strlen(cfg->jwt_secret);
        memcpy(secret, cfg->jwt_secret, n);
    } else {
        char path[512];
        bool made = false;
        if (cfg->jwt_secret_file[0]) {
            snprintf(path, sizeof path, "%s", cfg->jwt_secret_file);
        } else {
            snprintf(path, sizeof path, "%s/jwt.key", cfg->data_dir);
            if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST)
                return -errno;
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (fd >= 0) {
                unsigned char raw[32];
                char hex[65];
                randombytes_buf(raw, sizeof raw);
                sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
                hex[64] = '\n';
                ssize_t w = write(fd, hex, 65);
                rc = w == 65 && fsync(fd) == 0 ? 0 : GLY_EIO;
                close(fd);
                sodium_memzero(raw, sizeof raw);
                sodium_memzero(hex, sizeof hex);
                if (rc < 0)
                    return rc;
                made = true;
            } else if (errno != EEXIST) {
                return -errno;
            }
        }
        if ((rc = read_key_file(path, secret, sizeof secret, &n)) < 0) {
            gly_log_error("cannot read the token key %s: %s", path, gly_strerror(rc));
            return rc;
        }
        if (made)
            gly_log_info("made a token key in %s; nodes that share a database need the same "
                         "key (jwt-secret or jwt-secret-file)",
                         path);
    }
    if (n < 32) {
        gly_log_error("the token key is shorter than 32 bytes");
        rc = GLY_EINVAL;
    } else if (n > 64) {
        /* HMAC hashes a key longer than its block: the same tokens as with the whole secret */
        unsigned char h[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(h, (const unsigned char *)secret, n);
        rc = gly_jwt_key_hs256(&au->key, h, sizeof h, NULL);
        sodium_memzero(h, sizeof h);
    } else {
        rc = gly_jwt_key_hs256(&au->key, secret, n, NULL);
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}

static void auth_free(void *p)
{
    struct auth *au = p;
    if (!au)
        return;
    for (unsigned w = 0; au->tokens && w < au->ntokens; w++) {
        for (unsigned i = 0; i < TOKEN_CACHE; i++)
            free(au->tokens[w].slot[i].token);
        for (unsigned i = 0; i < SESSION_CACHE; i++)
            gly_row_free(au->tokens[w].sess[i].user);
    }
    free(au->tokens);
    gly_jwt_key_wipe(&au->key);
    gly__oidc_free(au->oidc);
    if (au->gate_ok)
        gly__gate_dispose(&au->gate);
    sodium_memzero(au, sizeof *au);
    free(au);
}

/* The default number of hashes at once: every CPU but one, which stays with the loops. */
static unsigned hash_slots(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 1 ? (unsigned)n - 1 : 1;
}

int gly_auth_use(gly_app *app)
{
    gly_db *db = gly_app_db(app);
    const gly_config *cfg = gly_app_config(app);
    if (!db) {
        gly_log_error("gly_auth_use: the app has no database (gly_db_new first)");
        return GLY_ESTATE;
    }
    if (sodium_init() < 0)
        return GLY_EIO;
    struct auth *au = calloc(1, sizeof *au);
    if (!au)
        return GLY_ENOMEM;
    au->app = app;
    au->ntokens = gly_app_workers(app);
    au->tokens = calloc(au->ntokens, sizeof *au->tokens);
    if (!au->tokens) {
        free(au);
        return GLY_ENOMEM;
    }
    int rc =
        gly__gate_init(&au->gate, cfg->hash_concurrency ? cfg->hash_concurrency : hash_slots());
    if (rc < 0) {
        free(au->tokens);
        free(au);
        return GLY_ENOMEM;
    }
    au->gate_ok = true;
    if ((rc = gly_app_set_slot(app, GLY_SLOT_AUTH, au, auth_free)) < 0) {
        auth_free(au);
        return rc;
    }
    if ((rc = load_key(au, cfg)) < 0 || (rc = gly__password_dummy(au, cfg)) < 0 ||
        (rc = gly__revoke_init(app, au)) < 0)
        return rc;
    if ((rc = gly_db_add_migrations(db, "auth", migrations,
                                    sizeof migrations / sizeof migrations[0])) < 0)
        return rc;
    static const char *const tags[] = {"auth", NULL};
    gly_use(app, auth_mw);
    gly_post(app, "/api/v1/auth/register", do_register);
    gly_route_doc(app, "POST", "/api/v1/auth/register",
                  &(gly_doc){.summary = "Create an account",
                             .tags = tags,
                             .operation_id = "register",
                             .request = &register_schema,
                             .response = &gly__user_schema,
                             .status = 201});
    gly_post(app, "/api/v1/auth/login", do_login);
    gly_route_doc(app, "POST", "/api/v1/auth/login",
                  &(gly_doc){.summary = "Log in: access and refresh tokens",
                             .tags = tags,
                             .operation_id = "login",
                             .request = &login_schema,
                             .response = &tokens_schema});
    gly_post(app, "/api/v1/auth/refresh", do_refresh);
    gly_route_doc(app, "POST", "/api/v1/auth/refresh",
                  &(gly_doc){.summary = "Spend a refresh token for new tokens",
                             .tags = tags,
                             .operation_id = "refresh",
                             .request = &refresh_schema,
                             .response = &tokens_schema});
    gly_post(app, "/api/v1/auth/logout", do_logout);
    gly_route_doc(
        app, "POST", "/api/v1/auth/logout",
        &(gly_doc){
            .summary = "End the session", .tags = tags, .operation_id = "logout", .status = 204});
    gly_get(app, "/api/v1/auth/me", do_me);
    gly_route_doc(app, "GET", "/api/v1/auth/me",
                  &(gly_doc){.summary = "The user of the access token",
                             .tags = tags,
                             .operation_id = "me",
                             .response = &gly__user_schema});
    if ((rc = gly__admin_routes(app)) < 0 || (rc = gly__apikeys_init(app)) < 0 ||
        (rc = gly__mfa_init(app)) < 0 || (rc = gly__cookies_init(app)) < 0 ||
        (rc = gly__oidc_init(app)) < 0 || (rc = gly__mail_init(app)) < 0)
        return rc;
    gly_post(app, "/api/v1/auth/password", do_password);
    gly_route_doc(app, "POST", "/api/v1/auth/password",
                  &(gly_doc){.summary = "Change the password (other sessions end)",
                             .tags = tags,
                             .operation_id = "changePassword",
                             .request = &password_schema,
                             .status = 204});
    return 0;
}
