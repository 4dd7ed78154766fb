/*
 * examples/users_api.c - users in a database: POST and GET (paged) /api/users,
 * GET, PATCH and DELETE /api/users/:id, with the same $N queries on SQLite
 * (--data DIR) and PostgreSQL (--db postgres://...). Walk-through: docs/database.md.
 */
#include <stdio.h>
#include <stdlib.h>

#include <galley/galley.h>

#define USER     "id, email, name, created_at"              /* a user's columns in answers */
#define IN(name) GLY_STRV(gly_jv_str(gly_jv_get(in, name))) /* a body member, or SQL NULL */

/* created_at is RFC 3339 text in UTC on both backends, so that both answer alike */
static const gly_migration migrations[] = {
    {.version = 1,
     .name = "create users",
     .sqlite = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
               "name TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT "
               "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
     .pg = "CREATE TABLE users (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
           "email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT "
           "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"}};

static const gly_field create_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL),
    GLY_FIELD_STR("name", .required = true, .min_len = 1, .max_len = 100), GLY_FIELD_END};
static const gly_field patch_fields[] = {GLY_FIELD_STR("email", .format = GLY_FMT_EMAIL),
                                         GLY_FIELD_STR("name", .min_len = 1, .max_len = 100),
                                         GLY_FIELD_END};
static const gly_schema create_schema = {create_fields, false};
static const gly_schema patch_schema = {patch_fields, false};
static const gly_field page_query[] = {GLY_FIELD_INT("page", .min = 1, .max = 1e9),
                                       GLY_FIELD_INT("per_page", .min = 1, .max = 100),
                                       GLY_FIELD_END};
static const gly_field id_path[] = {GLY_FIELD_INT("id", .required = true, .min = 1), GLY_FIELD_END};

/* Runs sql, which yields the user or no row, and answers: status with the row, 404 or 409. */
static int user_query(gly_req *req, int status, const char *sql, const gly_db_val *args, unsigned n)
{
    gly_row *u;
    int rc = gly_db_one_row(req, &u, sql, args, n);
    if (rc == GLY_ENOTFOUND)
        return gly_problem(req, 404, "not-found", "No user has this id.");
    if (rc == GLY_EUNIQUE) {
        gly_verrors errs; /* as a validation error, naming the column */
        gly_verrors_init(&errs, gly_req_arena(req));
        gly_verrors_add(&errs, gly_db_error_field(req), "unique", "is taken by another user");
        return gly_problem_verrors(req, 409, &errs);
    }
    if (rc < 0)
        return rc; /* the framework answers 503 when the database is unavailable, else 500 */
    if (status == 201)
        gly_set_header(req, "Location",
                       gly_arena_printf(gly_req_arena(req), "/api/users/%lld",
                                        (long long)gly_row_i64(u, "id")));
    return status == 204 ? gly_send(req, 204, NULL, NULL, 0) : gly_send_row(req, status, u);
}

static int create_user(gly_req *req)
{
    gly_jv *in = gly_req_valid_json(req, &create_schema);
    if (!in)
        return 0; /* answered: 400, 415 or 422 with every bad field */
    gly_db_val args[] = {IN("email"), IN("name")};
    return user_query(req, 201, "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING " USER,
                      args, 2);
}

static int list_users(gly_req *req)
{
    if (!gly_req_valid_params(req, page_query, NULL))
        return 0; /* answered 400 naming the parameter */
    gly_str p = gly_req_query_param(req, "page"), pp = gly_req_query_param(req, "per_page");
    long long page = p.n ? strtoll(p.p, NULL, 10) : 1, per = pp.n ? strtoll(pp.p, NULL, 10) : 30;
    gly_row *count;
    gly_res *res;
    int rc = gly_db_one(req, &count, "-- name: count_users\nSELECT count(*) AS n FROM users");
    if (rc == 0)
        rc = gly_db_all(req, &res, "SELECT " USER " FROM users ORDER BY id LIMIT $1 OFFSET $2",
                        GLY_I64(per), GLY_I64((page - 1) * per));
    if (rc < 0)
        return rc;
    long long n = gly_row_i64(count, "n");
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < gly_res_count(res); i++)
        gly_json_row(&j, gly_res_row(res, i));
    gly_json_arr_end(&j);
    const char *keys[] = {"page", "per_page", "total_items", "total_pages"};
    const long long vals[] = {page, per, n, (n + per - 1) / per};
    for (int i = 0; i < 4; i++) {
        gly_json_key(&j, keys[i]);
        gly_json_i64(&j, vals[i]);
    }
    gly_json_obj_end(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

/* The :id of the path, or 0 after answering 400 when it is not a positive integer. */
static int64_t user_id(gly_req *req)
{
    int64_t id = 0;
    if (gly_req_valid_params(req, NULL, id_path))
        gly_path_i64(req, "id", &id);
    return id;
}

static int get_user(gly_req *req)
{
    int64_t id = user_id(req);
    if (!id)
        return 0;
    return user_query(req, 200, "SELECT " USER " FROM users WHERE id = $1", &GLY_I64(id), 1);
}

static int update_user(gly_req *req)
{
    int64_t id = user_id(req);
    gly_jv *in = id ? gly_req_valid_json(req, &patch_schema) : NULL;
    if (!in)
        return 0;
    gly_db_val args[] = {GLY_I64(id), IN("email"), IN("name")}; /* COALESCE: absent, unchanged */
    return user_query(req, 200,
                      "UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name) "
                      "WHERE id = $1 RETURNING " USER,
                      args, 3);
}

static int delete_user(gly_req *req)
{
    int64_t id = user_id(req);
    if (!id)
        return 0;
    return user_query(req, 204, "DELETE FROM users WHERE id = $1 RETURNING id", &GLY_I64(id), 1);
}

int main(int argc, char **argv)
{
    gly_app *app = gly_app_new(argc, argv); /* settings, and the built-in middleware */
    gly_db *db = gly_db_new(app);
    if (!db || gly_db_add_migrations(db, "users", migrations, 1) < 0 || gly_db_open(db) < 0) {
        fprintf(stderr, "users_api: %s\n", db ? gly_db_errmsg(db) : "out of memory");
        gly_app_free(app);
        return 1;
    }
    gly_post(app, "/api/users", create_user);
    gly_get(app, "/api/users", list_users);
    gly_get(app, "/api/users/:id", get_user);
    gly_patch(app, "/api/users/:id", update_user);
    gly_delete(app, "/api/users/:id", delete_user);
    gly_route_doc(app, "POST", "/api/users",
                  &(gly_doc){.summary = "Create a user", .request = &create_schema, .status = 201});
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
