/*
 * galley/auth.h - users and authentication: passwords, tokens, the routes
 * under /api/v1/auth, and who a request is.
 *
 *     gly_db *db = gly_db_new(app);
 *     gly_auth_use(app);          (its migrations, middleware and routes)
 *     gly_db_open(db);
 *
 * A request that carries "Authorization: Bearer <access token>" is checked
 * by the auth middleware before any handler: a bad, expired or revoked token
 * answers 401 at once; a good one makes gly_auth(req) the user. Handlers
 * that need a user call gly_auth_require(req).
 *
 * Passwords are hashed with argon2id (libsodium) on the thread pool, a
 * bounded number at a time; tokens are HS256 JWTs (galley/jwt.h) of
 * access-ttl, with opaque refresh tokens stored hashed, rotated on every use.
 */
#ifndef GALLEY_AUTH_H
#define GALLEY_AUTH_H

#include <galley/common.h>
#include <galley/http.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Who a request is (strings live in the request's arena). */
typedef struct gly_auth_user {
    const char *id;   /* the user's id */
    const char *role; /* "superuser", "admin", "user" or a custom role */
    const char *sid;  /* the session the token belongs to */
} gly_auth_user;

/*
 * Installs users and authentication on app: the migrations of the "auth"
 * module (call it after gly_db_new() and before gly_db_open()), the
 * middleware that reads access tokens, and the routes under /api/v1/auth.
 * Loads or makes the token key (jwt-secret, jwt-secret-file, else
 * DATA/jwt.key, made once with mode 0600). Returns 0 or a negative code
 * with the reason logged.
 */
GLY_EXTERN int gly_auth_use(gly_app *app);

/* The request's user, or NULL when it carries no access token. */
GLY_EXTERN const gly_auth_user *gly_auth(gly_req *req);

/*
 * Returns the request's user, or NULL after answering 401 (no token) with
 * WWW-Authenticate: Bearer; the handler then returns 0.
 */
GLY_EXTERN const gly_auth_user *gly_auth_require(gly_req *req);

/*
 * Returns the request's user when its role grants perm, else NULL after
 * answering 401 (no token) or 403. Roles: "superuser" holds every
 * permission; "admin" holds "users:read", "users:write", "audit:read",
 * "collections:read", "collections:write" and "records:admin" (past the
 * access rules of collections); "user" and custom roles hold none of them.
 */
GLY_EXTERN const gly_auth_user *gly_auth_allow(gly_req *req, const char *perm);

/* Whether the request's user holds perm (as gly_auth_allow()), answering nothing. */
GLY_EXTERN bool gly_auth_can(gly_req *req, const char *perm);

/*
 * Creates a superuser outside any request (galley admin create), after
 * gly_db_open() and before gly_run(): checks the password policy, hashes it
 * and stores the account with its email verified. Returns 0, or a negative
 * code with a one-line reason in err (GLY_EUNIQUE: the email exists).
 */
GLY_EXTERN int gly_auth_create_superuser(gly_app *app, const char *email, const char *password,
                                         size_t n, char *err, size_t errlen);

/*
 * Hashes password[0..n) with argon2id (the argon2-* settings) into out, a
 * NUL-terminated PHC string, on the thread pool. At most hash-concurrency
 * hashes run at once; more wait their turn, and past a bound answer
 * GLY_EUNAVAIL. Returns 0 or a negative code.
 */
#define GLY_PASSWORD_HASH_MAX 128
GLY_EXTERN int gly_password_hash(gly_req *req, const char *password, size_t n,
                                 char out[GLY_PASSWORD_HASH_MAX]);

/*
 * Checks password[0..n) against a stored hash (NULL: an unknown user, which
 * takes as long as a known one). Returns 1 when it matches, 0 when not, or a
 * negative code; *rehash (may be NULL) is set when the hash was made with
 * other parameters than the settings' and should be replaced.
 */
GLY_EXTERN int gly_password_verify(gly_req *req, const char *hash, const char *password, size_t n,
                                   bool *rehash);

/*
 * Checks a new password against the policy (ASVS 2.1): 12 to 128
 * characters, not the email or its local part, not a common password.
 * Returns NULL when it is acceptable, else a validation code
 * ("too_short", "too_long", "same_as_email", "too_common") with *message.
 */
GLY_EXTERN const char *gly_password_policy(const char *password, size_t n, const char *email,
                                           const char **message);

#ifdef __cplusplus
}
#endif
#endif
