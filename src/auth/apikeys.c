/*
 * src/auth/apikeys.c - API keys: long-lived credentials for scripts and
 * services, made by a logged-in user, listed, revoked (/api/v1/auth/keys).
 *
 * A key is "gk_" + an 8-character prefix id + "_" + 32 random bytes in
 * base64url. Its SHA-256 is all that is stored (a key is a 256-bit random
 * secret, so a fast hash looked up by equality is enough), with the prefix
 * ("gk_" and 8 characters) that lets its owner tell keys apart. The middleware (auth.c)
 * takes one as "Authorization: Bearer gk_..." or "X-API-Key: gk_...": one
 * query finds the key and its user (live, not expired, user not disabled),
 * so revoking a key or disabling its user stops it at once.
 *
 * A key acts as its user with its role as it is now, restricted to the key's
 * scopes: gly_auth_allow() requires both the role and a scope to hold a
 * permission, so scopes never add to the role. "*" means everything the role
 * grants.
 */
#include <sodium.h>
#include <string.h>

#include "auth/internal.h"

#define PREFIX_ID_LEN 8
#define SECRET_BYTES  32
/* "gk_" + prefix id + "_" + base64url of the secret (43 characters) */
#define KEY_LEN       (3 + PREFIX_ID_LEN + 1 + (SECRET_BYTES * 4 + 2) / 3)
#define PREFIX_LEN    (3 + PREFIX_ID_LEN)
#define MAX_SCOPES    32
#define MAX_LIVE_KEYS 100
/* last_used is written at most this often per key (a write per request would load the writer) */
#define LAST_USED_MS 60000

static const gly_migration migrations[] = {
    {1, "api keys",
     "CREATE TABLE auth_api_keys ("
     " id TEXT PRIMARY KEY,"
     " user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
     " name TEXT NOT NULL DEFAULT '',"
     " prefix TEXT NOT NULL,"
     " key_hash TEXT NOT NULL UNIQUE,"
     " scopes TEXT NOT NULL,"
     " created TEXT NOT NULL,"
     " expires BIGINT NOT NULL DEFAULT 0,"
     " last_used TEXT,"
     " revoked INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX auth_api_keys_user ON auth_api_keys (user_id, created);",
     NULL, NULL},
};

#define SCOPE_PATTERN "^([a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*|\\*)$"

static const gly_field create_fields[] = {
    GLY_FIELD_STR("name", .required = true, .min_len = 1, .max_len = 100),
    GLY_FIELD_ARR("scopes", .required = true, .max_items = MAX_SCOPES,
                  .items = &(const gly_field)GLY_ITEM_STR(.max_len = 64, .pattern = SCOPE_PATTERN),
                  .description = "permissions such as \"users:read\", or \"*\": all the role's"),
    GLY_FIELD_INT("expires_in", .min = 1, .max = 10 * 366 * 86400,
                  .description = "seconds until the key expires; absent: never"),
    GLY_FIELD_END,
};
static const gly_schema create_schema = {.fields = create_fields};

static const gly_field key_fields[] = {
    GLY_FIELD_STR("id"),
    GLY_FIELD_STR("name"),
    GLY_FIELD_STR("prefix"),
    GLY_FIELD_ARR("scopes", .items = &(const gly_field)GLY_ITEM_STR()),
    GLY_FIELD_STR("created"),
    GLY_FIELD_STR("expires", .nullable = true),
    GLY_FIELD_STR("last_used", .nullable = true),
    GLY_FIELD_BOOL("revoked"),
    GLY_FIELD_STR("key", .description = "the key itself: only in the answer that made it"),
    GLY_FIELD_END,
};
static const gly_schema key_schema = {.fields = key_fields};

static const gly_field list_fields[] = {
    GLY_FIELD_ARR("items", .items = &(const gly_field)GLY_ITEM_OBJ(.schema = &key_schema)),
    GLY_FIELD_END,
};
static const gly_schema list_schema = {.fields = list_fields};

#define KEY_COLS "id, name, prefix, scopes, created, expires, last_used, revoked"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* A key row as the API shows it; with key, the key itself (only when it is made). */
static void key_json(gly_json *j, const gly_row *k, const char *key)
{
    static const char *const text[] = {"id", "name", "prefix"};
    gly_json_obj_begin(j);
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++) {
        gly_str v = gly_row_str(k, text[i]);
        gly_json_key(j, text[i]);
        gly_json_strn(j, v.p, v.n);
    }
    gly_json_key(j, "scopes");
    gly_json_arr_begin(j);
    gly_str s = gly_row_str(k, "scopes");
    for (size_t i = 0; i < s.n;) {
        size_t len = 0;
        while (i + len < s.n && s.p[i + len] != ',')
            len++;
        gly_json_strn(j, s.p + i, len);
        i += len + 1;
    }
    gly_json_arr_end(j);
    gly_str created = gly_row_str(k, "created"), used = gly_row_str(k, "last_used");
    gly_json_key(j, "created");
    gly_json_strn(j, created.p, created.n);
    gly_json_key(j, "expires");
    int64_t exp = gly_row_i64(k, "expires");
    if (exp > 0) {
        char iso[25];
        gly_iso_time_format(exp * 1000, iso);
        gly_json_str(j, iso);
    } else {
        gly_json_null(j);
    }
    gly_json_key(j, "last_used");
    if (used.p)
        gly_json_strn(j, used.p, used.n);
    else
        gly_json_null(j);
    gly_json_key(j, "revoked");
    gly_json_bool(j, gly_row_bool(k, "revoked"));
    if (key) {
        gly_json_key(j, "key");
        gly_json_str(j, key);
    }
    gly_json_obj_end(j);
}

/*
 * The scopes of a create as a comma list in the request's arena (*out).
 * Returns 0; 1 after answering 422 for "*" beside other scopes or 403
 * (gly_auth_allow) for a permission the user's role does not hold; or
 * GLY_ENOMEM. Repeated scopes count once.
 */
static int scope_list(gly_req *req, const gly_jv *arr, const char **out)
{
    size_t n = gly_jv_len(arr);
    gly_buf b;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    bool star = false;
    for (size_t i = 0; i < n; i++) {
        gly_str s = gly_jv_str(gly_jv_at(arr, i));
        if (s.n == 1 && s.p[0] == '*') {
            star = true;
            continue;
        }
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) {
            gly_str t = gly_jv_str(gly_jv_at(arr, k));
            seen = t.n == s.n && memcmp(t.p, s.p, s.n) == 0;
        }
        if (seen)
            continue;
        char *perm = gly_arena_strndup(gly_req_arena(req), s.p, s.n);
        if (!perm)
            return GLY_ENOMEM;
        /* the request has a session (no key scopes), so this asks the role alone */
        if (!gly_auth_allow(req, perm))
            return 1;
        if (b.len)
            gly_buf_putc(&b, ',');
        gly_buf_append_str(&b, s);
    }
    if (star && b.len) {
        int rc = gly__field_problem(req, 422, "scopes", "invalid", "\"*\" stands alone");
        return rc < 0 ? rc : 1;
    }
    if (star) {
        *out = "*";
        return 0;
    }
    const char *list = gly_buf_cstr(&b);
    if (!list || b.err)
        return GLY_ENOMEM;
    *out = list;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Routes                                                                   */
/* ------------------------------------------------------------------------ */

/* POST /api/v1/auth/keys {name, scopes, expires_in?} -> 201 with the key, shown this once */
static int create_key(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    if (!me->sid)
        return gly_problem(req, 403, "session-required",
                           "API keys are made with a login, not with an API key.");
    gly_jv *body = gly_req_valid_json(req, &create_schema);
    if (!body)
        return 0;
    gly_str name = gly_jv_str(gly_jv_get(body, "name"));
    const char *scopes;
    int rc = scope_list(req, gly_jv_get(body, "scopes"), &scopes);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    int64_t expires_in = 0, now = gly__now_s();
    const gly_jv *ein = gly_jv_get(body, "expires_in");
    if (ein && !gly_jv_i64(ein, &expires_in))
        expires_in = 0;
    gly_row *count;
    rc = gly_db_one(req, &count,
                    "-- name: apikey_count\n"
                    "SELECT count(*) AS n FROM auth_api_keys WHERE user_id = $1 AND "
                    "revoked = 0 AND (expires = 0 OR expires > $2)",
                    GLY_TEXT(me->id), GLY_I64(now));
    if (rc < 0)
        return rc;
    if (gly_row_i64(count, "n") >= MAX_LIVE_KEYS)
        return gly_problem(req, 409, "too-many-keys",
                           "You have 100 live API keys: revoke one before making another.");

    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char key[KEY_LEN + 1], hash[65], id[16], created[25];
    unsigned char raw[SECRET_BYTES];
    memcpy(key, "gk_", 3);
    for (int i = 0; i < PREFIX_ID_LEN; i++)
        key[3 + i] = alphabet[randombytes_uniform(36)];
    key[PREFIX_LEN] = '_';
    randombytes_buf(raw, sizeof raw);
    gly_buf b;
    gly_buf_init(&b, key + PREFIX_LEN + 1, KEY_LEN - PREFIX_LEN, NULL, KEY_LEN - PREFIX_LEN);
    rc = gly_b64url_encode(&b, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    if (rc < 0)
        return rc;
    assert(b.len == KEY_LEN - PREFIX_LEN - 1);
    key[KEY_LEN] = '\0';
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, KEY_LEN);
    sodium_bin2hex(hash, sizeof hash, h, sizeof h);
    char prefix[PREFIX_LEN + 1];
    memcpy(prefix, key, PREFIX_LEN);
    prefix[PREFIX_LEN] = '\0';
    gly__new_id(id);
    gly__iso_now(created);

    gly_row *k;
    rc = gly_db_one(req, &k,
                    "-- name: apikey_insert\n"
                    "INSERT INTO auth_api_keys (id, user_id, name, prefix, key_hash, scopes, "
                    "created, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING " KEY_COLS,
                    GLY_TEXT(id), GLY_TEXT(me->id), GLY_STRV(name), GLY_TEXT(prefix),
                    GLY_TEXT(hash), GLY_TEXT(scopes), GLY_TEXT(created),
                    GLY_I64(expires_in > 0 ? now + expires_in : 0));
    if (rc < 0) {
        sodium_memzero(key, sizeof key);
        return rc;
    }
    gly__audit(req, "key_create", me->id, prefix);

    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    key_json(&j, k, key);
    sodium_memzero(key, sizeof key);
    if ((rc = gly_json_finish(&j)) < 0)
        return rc;
    gly_set_header(req, "Cache-Control", "no-store");
    return gly_send_buf(req, 201, "application/json", &b);
}

/* GET /api/v1/auth/keys -> {items}: the user's keys, newest first, revoked ones too */
static int list_keys(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    gly_res *res;
    int rc = gly_db_all(req, &res,
                        "-- name: apikey_list\n"
                        "SELECT " KEY_COLS " FROM auth_api_keys WHERE user_id = $1 "
                        "ORDER BY created DESC, id DESC",
                        GLY_TEXT(me->id));
    if (rc < 0)
        return rc;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < gly_res_count(res); i++)
        key_json(&j, gly_res_row(res, i), NULL);
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    if ((rc = gly_json_finish(&j)) < 0)
        return rc;
    return gly_send_buf(req, 200, "application/json", &b);
}

/* DELETE /api/v1/auth/keys/:id -> 204: the owner's key is revoked (again: still 204) */
static int revoke_key(gly_req *req)
{
    const gly_auth_user *me = gly_auth_require(req);
    if (!me)
        return 0;
    gly_str id = gly_req_param(req, "id");
    gly_row *k;
    int rc = gly_db_one(req, &k,
                        "-- name: apikey_revoke\n"
                        "UPDATE auth_api_keys SET revoked = 1 WHERE id = $1 AND user_id = $2 "
                        "AND revoked = 0 RETURNING prefix",
                        GLY_STRV(id), GLY_TEXT(me->id));
    if (rc == GLY_ENOTFOUND) {
        /* already revoked is done; someone else's or unknown is not found */
        rc = gly_db_one(req, &k, "SELECT prefix FROM auth_api_keys WHERE id = $1 AND user_id = $2",
                        GLY_STRV(id), GLY_TEXT(me->id));
        if (rc < 0)
            return gly_db_fail(req, rc);
        return gly_send(req, 204, NULL, NULL, 0);
    }
    if (rc < 0)
        return rc;
    gly__audit(req, "key_revoke", me->id, gly_row_str(k, "prefix").p);
    return gly_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------ */
/* The middleware's side                                                    */
/* ------------------------------------------------------------------------ */

bool gly__apikey_like(gly_str token)
{
    return token.n >= 3 && memcmp(token.p, "gk_", 3) == 0;
}

int gly__apikey_auth(gly_req *req, gly_str key, struct auth_ctx **out)
{
    *out = NULL;
    if (key.n != KEY_LEN || !gly__apikey_like(key))
        return GLY_EACCES;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hash[65];
    crypto_hash_sha256(h, (const unsigned char *)key.p, key.n);
    sodium_bin2hex(hash, sizeof hash, h, sizeof h);
    gly_row *row;
    int rc = gly_db_one(req, &row,
                        "-- name: apikey_check\n"
                        "SELECT u.id AS id, u.email AS email, u.name AS name, u.role AS role, "
                        "u.email_verified AS email_verified, u.created AS created, "
                        "u.updated AS updated, k.id AS key_id, k.scopes AS scopes, "
                        "k.last_used AS last_used FROM auth_api_keys k JOIN users u ON u.id = "
                        "k.user_id WHERE k.key_hash = $1 AND k.revoked = 0 AND (k.expires = 0 "
                        "OR k.expires > $2) AND u.disabled = 0",
                        GLY_TEXT(hash), GLY_I64(gly__now_s()));
    if (rc == GLY_ENOTFOUND)
        return GLY_EACCES;
    if (rc < 0)
        return rc;
    struct auth_ctx *ctx = gly_alloc(req, sizeof *ctx);
    if (!ctx)
        return GLY_ENOMEM;
    const char *scopes = gly_row_str(row, "scopes").p;
    ctx->pub = (gly_auth_user){
        .id = gly_row_str(row, "id").p, .role = gly_row_str(row, "role").p, .sid = NULL};
    ctx->row = row;
    ctx->scopes = scopes && strcmp(scopes, "*") == 0 ? NULL : (scopes ? scopes : "");

    /* most uses write nothing: only when last_used is a minute old, and the UPDATE re-checks */
    int64_t ms = gly_wall_ms();
    char now[25], cutoff[25];
    gly_iso_time_format(ms - LAST_USED_MS, cutoff);
    gly_str used = gly_row_str(row, "last_used");
    if (!used.p || strcmp(used.p, cutoff) < 0) {
        gly_iso_time_format(ms, now);
        int64_t n =
            gly_db_exec(req,
                        "-- name: apikey_used\n"
                        "UPDATE auth_api_keys SET last_used = $1 WHERE id = $2 AND "
                        "(last_used IS NULL OR last_used < $3)",
                        GLY_TEXT(now), GLY_TEXT(gly_row_str(row, "key_id").p), GLY_TEXT(cutoff));
        if (n < 0) /* the request goes on: the key is good */
            gly_log_warn("last_used of an API key not recorded: %s", gly_err_name((int)n));
    }
    *out = ctx;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

int gly__apikeys_init(gly_app *app)
{
    int rc = gly_db_add_migrations(gly_app_db(app), "auth_keys", migrations,
                                   sizeof migrations / sizeof migrations[0]);
    if (rc < 0)
        return rc;
    static const char *const tags[] = {"auth", NULL};
    gly_post(app, "/api/v1/auth/keys", create_key);
    gly_route_doc(app, "POST", "/api/v1/auth/keys",
                  &(gly_doc){.summary = "Make an API key (the key is shown only in this answer)",
                             .tags = tags,
                             .operation_id = "createApiKey",
                             .request = &create_schema,
                             .response = &key_schema,
                             .status = 201});
    gly_get(app, "/api/v1/auth/keys", list_keys);
    gly_route_doc(app, "GET", "/api/v1/auth/keys",
                  &(gly_doc){.summary = "The user's API keys, newest first",
                             .tags = tags,
                             .operation_id = "listApiKeys",
                             .response = &list_schema});
    gly_delete(app, "/api/v1/auth/keys/:id", revoke_key);
    return gly_route_doc(app, "DELETE", "/api/v1/auth/keys/:id",
                         &(gly_doc){.summary = "Revoke an API key",
                                    .tags = tags,
                                    .operation_id = "revokeApiKey",
                                    .status = 204});
}
