/*
 * src/auth/admin.c - roles and permissions, user administration
 * (/api/v1/users), the audit log (/api/v1/audit), and the superuser made by
 * `galley admin create EMAIL`.
 *
 * Roles: "superuser" may do everything; "admin" holds users:read,
 * users:write and audit:read, but only a superuser grants or takes away
 * admin and superuser; "user" and custom roles hold no administrative
 * permission. gly_auth_allow(req, perm) is the one check.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/internal.h"

static bool is_super(const char *role)
{
    return strcmp(role, "superuser") == 0;
}

static bool role_grants(const char *role, const char *perm)
{
    if (is_super(role))
        return true;
    if (strcmp(role, "admin") == 0)
        return strcmp(perm, "users:read") == 0 || strcmp(perm, "users:write") == 0 ||
               strcmp(perm, "audit:read") == 0 || strcmp(perm, "collections:read") == 0 ||
               strcmp(perm, "collections:write") == 0 || strcmp(perm, "records:admin") == 0;
    return false;
}

/* Whether a comma list of scopes holds perm. */
static bool scoped(const char *scopes, const char *perm)
{
    size_t n = strlen(perm);
    for (const char *p = scopes; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, perm, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

bool gly_auth_can(gly_req *req, const char *perm)
{
    const gly_auth_user *u = gly_auth(req);
    const struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    return u && role_grants(u->role, perm) && !(ctx->scopes && !scoped(ctx->scopes, perm));
}

const gly_auth_user *gly_auth_allow(gly_req *req, const char *perm)
{
    const gly_auth_user *u = gly_auth_require(req);
    if (!u)
        return NULL;
    const struct auth_ctx *ctx = gly_req_slot(req, GLY_SLOT_AUTH);
    if (!role_grants(u->role, perm) || (ctx->scopes && !scoped(ctx->scopes, perm))) {
        gly_problem(req, 403, "forbidden", "Your role does not allow this.");
        return NULL;
    }
    return u;
}

/* ------------------------------------------------------------------------ */
/* Paging                                                                   */
/* ------------------------------------------------------------------------ */

static const gly_field page_fields[] = {
    GLY_FIELD_INT("page", .min = 1, .max = 1000000),
    GLY_FIELD_INT("per_page", .min = 1, .max = 500),
    GLY_FIELD_STR("q", .max_len = 200),
    GLY_FIELD_STR("user_id", .max_len = 64),
    GLY_FIELD_STR("event", .max_len = 64),
    GLY_FIELD_END,
};

static int64_t query_i64(gly_req *req, const char *name, int64_t def)
{
    gly_str v = gly_req_query_param(req, name);
    return v.n ? strtoll(v.p, NULL, 10) : def;
}

/* ------------------------------------------------------------------------ */
/* /api/v1/users                                                            */
/* ------------------------------------------------------------------------ */

/* The admin's view of a user: the user object and "disabled". */
static void admin_user_json(gly_json *j, const gly_row *u)
{
    gly__user_json(j, u, true);
}

static int send_admin_user(gly_req *req, const gly_row *u)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    admin_user_json(&j, u);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

#define ADMIN_COLS GLY_AUTH_USER_COLS ", disabled"

/* GET /api/v1/users?q=&page=&per_page= */
static int list_users(gly_req *req)
{
    if (!gly_auth_allow(req, "users:read") || !gly_req_valid_params(req, page_fields, NULL))
        return 0;
    int64_t page = query_i64(req, "page", 1), per = query_i64(req, "per_page", 30);
    gly_str q = gly_req_query_param(req, "q");
    /* a substring of the email or the name; LIKE's own characters are matched as such */
    char *like = gly_alloc(req, 2 * q.n + 3);
    if (!like)
        return GLY_ENOMEM;
    size_t n = 0;
    like[n++] = '%';
    for (size_t i = 0; i < q.n; i++) {
        char c = q.p[i];
        if (c == '%' || c == '_' || c == '\\')
            like[n++] = '\\';
        like[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    like[n++] = '%';
    like[n] = '\0';
    gly_row *count;
    gly_res *res;
    int rc = gly_db_one(req, &count,
                        "-- name: users_count\n"
                        "SELECT count(*) AS n FROM users WHERE email LIKE $1 ESCAPE '\\' OR "
                        "lower(name) LIKE $1 ESCAPE '\\'",
                        GLY_TEXT(like));
    if (rc == 0)
        rc = gly_db_all(req, &res,
                        "-- name: users_page\n"
                        "SELECT " ADMIN_COLS " FROM users WHERE email LIKE $1 ESCAPE '\\' OR "
                        "lower(name) LIKE $1 ESCAPE '\\' ORDER BY created, id LIMIT $2 OFFSET $3",
                        GLY_TEXT(like), GLY_I64(per), GLY_I64((page - 1) * per));
    if (rc < 0)
        return rc;
    return gly_send_page_with(req, res, page, per, gly_row_i64(count, "n"), admin_user_json);
}

static int get_user(gly_req *req)
{
    if (!gly_auth_allow(req, "users:read"))
        return 0;
    gly_str id = gly_req_param(req, "id");
    gly_row *u;
    int rc = gly_db_one(req, &u, "SELECT " ADMIN_COLS " FROM users WHERE id = $1", GLY_STRV(id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    return send_admin_user(req, u);
}

static const gly_field patch_fields[] = {
    GLY_FIELD_STR("role", .pattern = "^[a-z][a-z0-9_-]{0,31}$"),
    GLY_FIELD_BOOL("disabled"),
    GLY_FIELD_STR("name", .max_len = 100),
    GLY_FIELD_END,
};
static const gly_schema patch_schema = {.fields = patch_fields};

/* PATCH /api/v1/users/:id {role?, disabled?, name?} */
static int patch_user(gly_req *req)
{
    const gly_auth_user *me = gly_auth_allow(req, "users:write");
    if (!me)
        return 0;
    gly_jv *body = gly_req_valid_json(req, &patch_schema);
    if (!body)
        return 0;
    gly_str id = gly_req_param(req, "id");
    gly_row *cur;
    int rc = gly_db_one(req, &cur, "SELECT role FROM users WHERE id = $1", GLY_STRV(id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    const char *old_role = gly_row_str(cur, "role").p;
    gly_str role = gly_jv_str(gly_jv_get(body, "role"));
    bool privileged =
        is_super(old_role) || strcmp(old_role, "admin") == 0 ||
        (role.p && (strcmp(role.p, "superuser") == 0 || strcmp(role.p, "admin") == 0));
    if (privileged && !is_super(me->role))
        return gly_problem(req, 403, "forbidden",
                           "Only a superuser changes admins and superusers.");
    const gly_jv *dis = gly_jv_get(body, "disabled");
    gly_str name = gly_jv_str(gly_jv_get(body, "name"));
    char now[25];
    gly__iso_now(now);
    gly_row *u;
    rc =
        gly_db_one(req, &u,
                   "-- name: user_admin_update\n"
                   "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), "
                   "name = COALESCE($4, name), updated = $5 WHERE id = $1 RETURNING " ADMIN_COLS,
                   GLY_STRV(id), GLY_STRV(role), dis ? GLY_BOOL(gly_jv_bool(dis)) : GLY_NULL,
                   GLY_STRV(name), GLY_TEXT(now));
    if (rc < 0)
        return gly_db_fail(req, rc);
    gly__auth_revoked(gly_req_app(req)); /* cached sessions carry the old role and state */
    if (role.p && strcmp(role.p, old_role) != 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s -> %.40s (by %s)", old_role, role.p, me->id);
        gly__audit(req, "role_change", gly_row_str(u, "id").p, detail);
    }
    if (dis && gly_jv_bool(dis)) {
        gly_db_exec(req, "UPDATE auth_sessions SET revoked = 1 WHERE user_id = $1", GLY_STRV(id));
        gly__audit(req, "user_disable", gly_row_str(u, "id").p, me->id);
    }
    return send_admin_user(req, u);
}

/* DELETE /api/v1/users/:id (an admin's or a superuser's only by a superuser) */
static int delete_user(gly_req *req)
{
    const gly_auth_user *me = gly_auth_allow(req, "users:write");
    if (!me)
        return 0;
    gly_str id = gly_req_param(req, "id");
    gly_row *cur;
    int rc = gly_db_one(req, &cur, "SELECT role FROM users WHERE id = $1", GLY_STRV(id));
    if (rc < 0)
        return gly_db_fail(req, rc);
    const char *role = gly_row_str(cur, "role").p;
    if ((is_super(role) || strcmp(role, "admin") == 0) && !is_super(me->role))
        return gly_problem(req, 403, "forbidden", "Only a superuser deletes admins.");
    char *uid = gly_arena_strndup(gly_req_arena(req), id.p, id.n);
    int64_t n = uid ? gly__delete_user(req, uid) : GLY_ENOMEM;
    gly__auth_revoked(gly_req_app(req));
    if (n < 0)
        return gly_db_fail(req, (int)n);
    gly__audit(req, "user_delete", uid, me->id);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* /api/v1/audit                                                            */
/* ------------------------------------------------------------------------ */

/* GET /api/v1/audit?user_id=&event=&page=&per_page=, newest first */
static int list_audit(gly_req *req)
{
    if (!gly_auth_allow(req, "audit:read") || !gly_req_valid_params(req, page_fields, NULL))
        return 0;
    int64_t page = query_i64(req, "page", 1), per = query_i64(req, "per_page", 30);
    gly_str uid = gly_req_query_param(req, "user_id"), ev = gly_req_query_param(req, "event");
    gly_row *count;
    gly_res *res;
    int rc = gly_db_one(
        req, &count,
        "-- name: audit_count\n"
        "SELECT count(*) AS n FROM auth_audit WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) "
        "AND (CAST($2 AS TEXT) IS NULL OR event = $2)",
        GLY_STRV(uid), GLY_STRV(ev));
    if (rc == 0)
        rc = gly_db_all(
            req, &res,
            "-- name: audit_page\n"
            "SELECT id, at, event, user_id, ip, user_agent, request_id, detail "
            "FROM auth_audit WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) AND "
            "(CAST($2 AS TEXT) IS NULL OR event = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
            GLY_STRV(uid), GLY_STRV(ev), GLY_I64(per), GLY_I64((page - 1) * per));
    if (rc < 0)
        return rc;
    return gly_send_page(req, res, page, per, gly_row_i64(count, "n"));
}

int gly__admin_routes(gly_app *app)
{
    static const char *const tags[] = {"users", NULL};
    gly_get(app, "/api/v1/users", list_users);
    gly_route_doc(app, "GET", "/api/v1/users",
                  &(gly_doc){.summary = "List and search users (users:read)",
                             .tags = tags,
                             .operation_id = "listUsers"});
    gly_get(app, "/api/v1/users/:id", get_user);
    gly_route_doc(
        app, "GET", "/api/v1/users/:id",
        &(gly_doc){.summary = "A user (users:read)", .tags = tags, .operation_id = "getUser"});
    gly_patch(app, "/api/v1/users/:id", patch_user);
    gly_route_doc(app, "PATCH", "/api/v1/users/:id",
                  &(gly_doc){.summary = "Change a user's role, name or disabled (users:write)",
                             .tags = tags,
                             .operation_id = "patchUser",
                             .request = &patch_schema});
    gly_delete(app, "/api/v1/users/:id", delete_user);
    gly_route_doc(app, "DELETE", "/api/v1/users/:id",
                  &(gly_doc){.summary = "Delete a user (users:write)",
                             .tags = tags,
                             .operation_id = "deleteUser",
                             .status = 204});
    gly_get(app, "/api/v1/audit", list_audit);
    return gly_route_doc(app, "GET", "/api/v1/audit",
                         &(gly_doc){.summary = "The audit log, newest first (audit:read)",
                                    .tags = tags,
                                    .operation_id = "listAudit"});
}

/* ------------------------------------------------------------------------ */
/* galley admin create                                                      */
/* ------------------------------------------------------------------------ */

int gly_auth_create_superuser(gly_app *app, const char *email, const char *password, size_t n,
                              char *err, size_t errlen)
{
    gly_db *db = gly_app_db(app);
    const gly_config *cfg = gly_app_config(app);
    const char *message, *code = gly_password_policy(password, n, email, &message);
    if (code) {
        snprintf(err, errlen, "the password %s", message);
        return GLY_EINVAL;
    }
    char hash[GLY_PASSWORD_HASH_MAX], id[16], now[25];
    if (crypto_pwhash_str_alg(hash, password, n, cfg->argon2_time, cfg->argon2_memory,
                              crypto_pwhash_ALG_ARGON2ID13) != 0) {
        snprintf(err, errlen, "out of memory hashing the password");
        return GLY_ENOMEM;
    }
    gly__new_id(id);
    gly__iso_now(now);
    gly_arena a;
    gly_arena_init(&a, 0);
    const gly_db_val args[] = {GLY_TEXT(id), GLY_TEXT(email), GLY_TEXT(hash), GLY_TEXT(now)};
    int rc = gly_db_query_sync(db, &a, NULL,
                               "INSERT INTO users (id, email, password_hash, role, "
                               "email_verified, created, updated) VALUES ($1, $2, $3, "
                               "'superuser', 1, $4, $4)",
                               args, 4);
    sodium_memzero(hash, sizeof hash);
    gly_arena_dispose(&a);
    if (rc == GLY_EUNIQUE)
        snprintf(err, errlen, "a user with this email exists");
    else if (rc < 0)
        snprintf(err, errlen, "%s", gly_db_errmsg(db));
    return rc;
}
