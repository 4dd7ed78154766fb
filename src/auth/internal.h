/*
 * src/auth/internal.h - the auth module's private state.
 *
 *   gly_app ── slot GLY_SLOT_AUTH ── struct auth: token key, the hash gate,
 *                                     the dummy hash for unknown users
 */
#ifndef GALLEY_AUTH_INTERNAL_H
#define GALLEY_AUTH_INTERNAL_H

#include <assert.h>
#include <stdatomic.h>
#include <uv.h>

#include <galley/auth.h>
#include <galley/galley.h>
#include <galley/jwt.h>

/* At most max password hashes run at once; the rest wait in a FIFO. */
struct gate {
    uv_mutex_t lock;
    unsigned max, busy, waiting;
    void *head, *tail; /* struct waiter (password.c) */
};

/* Access tokens that passed verification on one worker (auth.c, verify_cached). */
#define TOKEN_CACHE 512
struct cached_token {
    char *token; /* the token's bytes, then sub and sid (one allocation); NULL: empty */
    size_t len;
    char *sub, *sid;
    int64_t exp, nbf;
};
/* Sessions a worker checked recently, with their user (auth.c, check_session). */
#define SESSION_CACHE 1024
struct cached_session {
    char sid[24], sub[24];
    gly_row *user;     /* gly_row_dup(); NULL: empty */
    uint64_t until_ns; /* gly_now_ns() */
    uint64_t gen;      /* struct auth's gen when it was checked */
};

struct token_cache {
    struct cached_token slot[TOKEN_CACHE];
    struct cached_session sess[SESSION_CACHE];
};

struct auth {
    gly_app *app;
    /*
     * Bumped by every revocation in this process (logout, password change,
     * theft, role change, disabling, deletion): every worker's cached
     * sessions are then stale at once. Other nodes see it after session-cache,
     * or at once through Redis (revoke.c) when redis-url is set.
     */
    _Atomic uint64_t gen;
    gly_redis *redis;           /* revoke.c: NULL without redis-url */
    char node[33];              /* revoke.c: this process's id in the revocation messages */
    struct token_cache *tokens; /* one per worker */
    unsigned ntokens;
    gly_jwt_key key;
    struct oidc *oidc; /* oidc.c: the OpenID providers and their caches */
    /*
     * Set by the records module: deletes a user together with what relates
     * to it (cascade, set null; GLY_EFOREIGN for a restrict) in one
     * transaction. NULL: a plain DELETE.
     */
    int64_t (*delete_user)(gly_req *req, const char *id);
    struct gate gate;
    bool gate_ok;
    char dummy_hash[GLY_PASSWORD_HASH_MAX];
};

static inline struct auth *gly__auth_of(const gly_app *app)
{
    return gly_app_slot(app, GLY_SLOT_AUTH);
}

/*
 * What the auth middleware leaves in a request's GLY_SLOT_AUTH (in its
 * arena): who it is, the user's row (GLY_AUTH_USER_COLS), and for a request
 * authenticated by an API key the key's scopes (a comma list of
 * permissions; NULL: everything the role grants).
 */
struct auth_ctx {
    gly_auth_user pub;
    gly_row *row;
    const char *scopes;
};

/* auth.c: shared with admin.c, apikeys.c, mfa.c, cookies.c, mail.c */
extern const gly_schema gly__user_schema; /* the user object, for route docs */
int64_t gly__now_s(void);
void gly__sha256_hex(const void *p, size_t n, char out[65]);
char *gly__lower_dup(gly_req *req, gly_str s);             /* into the request's arena */
gly_str gly__member(const gly_jv *body, const char *name); /* a string member, or absent */
int gly__unauthorized(gly_req *req, const char *code, const char *detail); /* 401 + Bearer */

/* A new bearer secret: 32 random bytes as base64url (43 characters and a NUL) in text,
 * and the SHA-256 hex of that text, which is all that is stored, in hash. */
#define GLY_SECRET_LEN 43
int gly__new_secret(char text[GLY_SECRET_LEN + 1], char hash[65]);

/* Spends a refresh token in a transaction (gly_db_tx(req, gly__spend_refresh, &sp)); a
 * spent token presented again revokes its session (reused set). GLY_ENOTFOUND: never issued. */
struct gly__spend {
    const char *hash;
    const char *session, *user_id; /* out */
    bool reused, expired;
};
int gly__spend_refresh(gly_req *req, void *arg);
void gly__auth_revoked(gly_app *app); /* call after any revocation or change of a user */
int gly__open_session(gly_req *req, const gly_row *user); /* answers 200 with tokens */
#define GLY_AUTH_USER_COLS "id, email, name, role, email_verified, created, updated"
void gly__user_json(gly_json *j, const gly_row *u, bool admin);
int gly__send_user(gly_req *req, int status, const gly_row *u);
void gly__audit(gly_req *req, const char *event, const char *user_id, const char *detail);
void gly__iso_now(char out[25]);
/* Deletes user id (through struct auth's delete_user when set): rows deleted, or an error. */
int64_t gly__delete_user(gly_req *req, const char *id);
void gly__new_id(char out[16]);
/* len random characters of [a-z0-9] (uniform, from the CSPRNG) and a NUL into out. */
void gly__random_id(char *out, size_t len);
int gly__field_problem(gly_req *req, int status, const char *field, const char *code,
                       const char *message);

/*
 * oidc.c: OpenID Connect login. init adds its migrations (module
 * "auth_oidc"), the routes under /api/v1/auth/oauth2 and /.well-known/
 * jwks.json, and reads the providers into au->oidc (gly__oidc_free frees
 * them; NULL is fine). load_signing_key makes the access-token key of
 * jwt-alg EdDSA or ES256 from jwt-key-file, or DATA/jwt-<alg>.pem made once.
 */
struct oidc;
int gly__oidc_init(gly_app *app);
void gly__oidc_free(struct oidc *o);
int gly__load_signing_key(gly_jwt_key *key, const gly_config *cfg);
extern const gly_schema *const gly__tokens_schema; /* auth.c: the answer of a login */

/* admin.c */
int gly__admin_routes(gly_app *app);

/*
 * apikeys.c: its migrations (module "auth_keys") and routes; whether a
 * bearer token has the shape of an API key; and checking one: 0 with *out
 * (the key's user, role and scopes), GLY_EACCES for an unknown, revoked or
 * expired key or a disabled user, or another error.
 */
int gly__apikeys_init(gly_app *app);
bool gly__apikey_like(gly_str token);
int gly__apikey_auth(gly_req *req, gly_str key, struct auth_ctx **out);

/*
 * cookies.c: browser sessions. init adds its migrations (module
 * "auth_cookies") and routes. The middleware calls cookie_auth for a request
 * with neither Authorization nor X-API-Key: 0 when it carries no session
 * cookie (anonymous), 1 with *out set when the cookie is good (and, for an
 * unsafe method, the CSRF defence passed), 2 after answering (401 for a bad
 * or revoked cookie, 403 for a CSRF failure), or an error.
 */
int gly__cookies_init(gly_app *app);
int gly__cookie_auth(gly_req *req, struct auth_ctx **out);

/*
 * mail.c: email verification, password reset, email change, account
 * deletion, and the outbox that delivers their emails. init adds its
 * migrations (module "auth_mail"), routes and the delivery loop.
 */
int gly__mail_init(gly_app *app);

/*
 * mfa.c: its migrations (module "auth_mfa") and routes; and the login's
 * second step: called after a correct password with the user's row
 * (GLY_AUTH_USER_COLS plus password_hash, disabled). Returns 0 when the user
 * has no MFA (the login goes on), 1 after answering 200 {mfa_required,
 * mfa_ticket}, or a negative code.
 */
int gly__mfa_init(gly_app *app);
int gly__mfa_login(gly_req *req, const gly_row *user);

/*
 * throttle.c: brute-force defence of the login. check: 0 to go on (after
 * any delay), 1 when the account or the client IP is locked (*retry_after
 * seconds), or an error; fail/ok record the attempt's outcome.
 */
int gly__throttle_check(gly_req *req, const char *email, int64_t *retry_after);
void gly__throttle_fail(gly_req *req, const char *email);
void gly__throttle_ok(gly_req *req, const char *email);

/*
 * revoke.c: revocations across nodes. init subscribes this node to the
 * revocation channel when redis-url is set (0 when it is not); publish tells
 * the other nodes of a revocation here (fire and forget).
 */
int gly__revoke_init(gly_app *app, struct auth *au);
void gly__revoke_publish(struct auth *au);

/* password.c */
int gly__gate_init(struct gate *g, unsigned max);
void gly__gate_dispose(struct gate *g);
int gly__password_dummy(struct auth *au, const gly_config *cfg);

#endif
