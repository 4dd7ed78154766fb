/* examples/users_api.c - a users service: POST and GET (paged) /api/users, GET, PATCH and
 * DELETE /api/users/:id; the same $N queries on SQLite (--data DIR) and PostgreSQL
 * (--db postgres://...). Walk-through: docs/database.md. */
#include <stdio.h>
#include <stdlib.h>

#include <galley/galley.h>

#define USER     "id, email, name, created_at" /* created_at: epoch seconds on both backends */
#define IN(name) GLY_STRV(gly_jv_str(gly_jv_get(in, name))) /* a body member, or SQL NULL */

static const gly_migration migrations[] = {
    {1, "create users", NULL,
     "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
     " created_at INTEGER NOT NULL DEFAULT (unixepoch()))",
     "CREATE TABLE users (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email TEXT NOT NULL"
     " UNIQUE, name TEXT NOT NULL, created_at BIGINT NOT NULL DEFAULT extract(epoch FROM now()))"}};

static const gly_field user_fields[] = {
    GLY_FIELD_STR("email", .required = true, .format = GLY_FMT_EMAIL),
    GLY_FIELD_STR("name", .required = true, .min_len = 1, .max_len = 100), GLY_FIELD_END};
static const gly_schema create_schema = {.fields = user_fields};
static const gly_schema patch_schema = {.fields = user_fields, .partial = true}; /* none required */
static const gly_field page_query[] = {GLY_FIELD_INT("page", .min = 1),
                                       GLY_FIELD_INT("per_page", .min = 1, .max = 100),
                                       GLY_FIELD_END};
static const gly_field id_path[] = {GLY_FIELD_INT("id", .required = true, .min = 1), GLY_FIELD_END};

/* Runs sql, which yields the user or no row, and answers: status with the row, 404 or 409. */
static int reply(gly_req *req, int status, const char *sql, const gly_db_val *args, unsigned n)
{
    gly_row *u;
    int rc = gly_db_one_row(req, &u, sql, args, n);
    if (rc < 0)
        return gly_db_fail(req, rc); /* 404, 409 naming the column; 503 or 500 for the rest */
    if (status == 201)
        gly_set_headerf(req, "Location", "/api/users/%lld", (long long)gly_row_i64(u, "id"));
    return status == 204 ? gly_send(req, 204, NULL, NULL, 0) : gly_send_row(req, status, u);
}

static int create_user(gly_req *req)
{
    gly_jv *in = gly_req_valid_json(req, &create_schema);
    if (!in)
        return 0; /* answered: 400, 415 or 422 with every bad field */
    gly_db_val args[] = {IN("email"), IN("name")};
    return reply(req, 201, "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING " USER, args,
                 2);
}

static int list_users(gly_req *req)
{
    if (!gly_req_valid_params(req, page_query, NULL))
        return 0; /* answered 400 naming the parameter */
    gly_str p = gly_req_query_param(req, "page"), pp = gly_req_query_param(req, "per_page");
    long long page = p.n ? strtoll(p.p, NULL, 10) : 1, per = pp.n ? strtoll(pp.p, NULL, 10) : 30;
    gly_row *count;
    gly_res *res; /* the total, then the page */
    int rc = gly_db_one(req, &count, "-- name: count_users\nSELECT count(*) AS n FROM users");
    if (rc == 0)
        rc = gly_db_all(req, &res, "SELECT " USER " FROM users ORDER BY id LIMIT $1 OFFSET $2",
                        GLY_I64(per), GLY_I64((page - 1) * per));
    return rc < 0 ? rc : gly_send_page(req, res, page, per, gly_row_i64(count, "n"));
}

/* The :id of the path, or 0 after answering 400 when it is not a positive integer. */
static int64_t user_id(gly_req *req)
{
    int64_t id = 0;
    return gly_req_valid_params(req, NULL, id_path) && gly_path_i64(req, "id", &id) ? id : 0;
}

static int get_user(gly_req *req)
{
    int64_t id = user_id(req);
    return id ? reply(req, 200, "SELECT " USER " FROM users WHERE id = $1", &GLY_I64(id), 1) : 0;
}

static int update_user(gly_req *req)
{
    int64_t id = user_id(req);
    gly_jv *in = id ? gly_req_valid_json(req, &patch_schema) : NULL;
    if (!in)
        return 0;
    gly_db_val args[] = {GLY_I64(id), IN("email"), IN("name")}; /* COALESCE: absent, unchanged */
    return reply(req, 200,
                 "UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name) "
                 "WHERE id = $1 RETURNING " USER,
                 args, 3);
}

static int delete_user(gly_req *req)
{
    int64_t id = user_id(req);
    return id ? reply(req, 204, "DELETE FROM users WHERE id = $1 RETURNING id", &GLY_I64(id), 1)
              : 0;
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
