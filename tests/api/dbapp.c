/*
 * tests/api/dbapp.c - galley-dbapp, the service the database driver suite
 * (test_db.py) drives on SQLite and on PostgreSQL. Every route exercises one
 * part of galley/db.h through the public API.
 *
 * DBAPP_CHANGED=1 in the environment alters the text of an applied
 * migration, to check that the start is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/galley.h>

static const gly_migration migrations[] = {
    {1, "items", NULL,
     "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " n INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0), score REAL, data BLOB);",
     "CREATE TABLE items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
     " n BIGINT NOT NULL DEFAULT 0 CHECK (n >= 0), score DOUBLE PRECISION, data BYTEA);"},
    {2, "counters",
     "CREATE TABLE counters (id INTEGER PRIMARY KEY, v BIGINT NOT NULL);"
     "INSERT INTO counters (id, v) VALUES (1, 0);",
     NULL, NULL},
};

static const gly_migration changed[] = {
    {1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);", NULL, NULL},
    {2, "counters", "SELECT 1;", NULL, NULL},
};

static const gly_field item_body[] = {
    GLY_FIELD_STR("name", .required = true, .min_len = 1, .max_len = 200),
    GLY_FIELD_INT("n"),
    GLY_FIELD_NUM("score"),
    GLY_FIELD_END,
};
static const gly_schema item_schema = {.fields = item_body};

/* POST /items {name, n?, score?} -> 201 with the row */
static int create_item(gly_req *req)
{
    gly_jv *body = gly_req_valid_json(req, &item_schema);
    if (!body)
        return 0;
    const gly_jv *score = gly_jv_get(body, "score");
    int64_t n = 0;
    gly_jv_i64(gly_jv_get(body, "n"), &n);
    gly_row *row;
    int rc = gly_db_one(req, &row,
                        "INSERT INTO items (name, n, score) VALUES ($1, $2, $3) "
                        "RETURNING id, name, n, score",
                        GLY_STRV(gly_jv_str(gly_jv_get(body, "name"))), GLY_I64(n),
                        score ? GLY_F64(gly_jv_double(score)) : GLY_NULL);
    if (rc == GLY_EUNIQUE || rc == GLY_ECHECK) {
        gly_json j;
        gly_buf b;
        const char *code = rc == GLY_EUNIQUE ? "conflict" : "invalid";
        int status = rc == GLY_EUNIQUE ? 409 : 422;
        gly_problem_begin(req, &j, &b, status, code, "a constraint failed");
        gly_json_key(&j, "errors");
        gly_json_arr_begin(&j);
        gly_json_obj_begin(&j);
        gly_json_key(&j, "field");
        gly_json_str(&j, gly_db_error_field(req));
        gly_json_key(&j, "code");
        gly_json_str(&j, rc == GLY_EUNIQUE ? "unique" : "check");
        gly_json_obj_end(&j);
        gly_json_arr_end(&j);
        return gly_problem_end(req, &j, status);
    }
    if (rc < 0)
        return rc;
    return gly_send_row(req, 201, row);
}

static int get_item(gly_req *req)
{
    int64_t id;
    if (!gly_path_i64(req, "id", &id))
        return gly_problem(req, 400, "invalid-id", "id must be an integer");
    gly_row *row;
    int rc =
        gly_db_one(req, &row, "SELECT id, name, n, score FROM items WHERE id = $1", GLY_I64(id));
    if (rc == GLY_ENOTFOUND)
        return gly_problem(req, 404, "not-found", "no such item");
    return rc < 0 ? rc : gly_send_row(req, 200, row);
}

static int delete_item(gly_req *req)
{
    int64_t id;
    if (!gly_path_i64(req, "id", &id))
        return gly_problem(req, 400, "invalid-id", "id must be an integer");
    int64_t n = gly_db_exec(req, "DELETE FROM items WHERE id = $1", GLY_I64(id));
    if (n < 0)
        return (int)n;
    if (n == 0)
        return gly_problem(req, 404, "not-found", "no such item");
    return gly_send(req, 204, NULL, NULL, 0);
}

/* GET /items?limit=N: {"count":C,"items":[...]} by id */
static int list_items(gly_req *req)
{
    gly_str lim = gly_req_query_param(req, "limit");
    int64_t limit = lim.p ? strtoll(lim.p, NULL, 10) : 1000000;
    gly_res *res;
    int rc =
        gly_db_all(req, &res, "SELECT id, name, n FROM items ORDER BY id LIMIT $1", GLY_I64(limit));
    if (rc < 0)
        return rc;
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "count");
    gly_json_u64(&j, gly_res_count(res));
    gly_json_key(&j, "items");
    gly_json_arr_begin(&j);
    for (size_t i = 0; i < gly_res_count(res); i++)
        gly_json_row(&j, gly_res_row(res, i));
    gly_json_arr_end(&j);
    gly_json_obj_end(&j);
    return gly_send_buf(req, 200, "application/json", &b);
}

/* GET /types: one value of each type, as the backend returns them */
static int types(gly_req *req)
{
    gly_row *row;
    static const unsigned char blob[] = {0, 1, 2, 255};
    int rc = gly_db_one(req, &row,
                        "SELECT CAST($1 AS BIGINT) AS i, CAST($2 AS DOUBLE PRECISION) AS r, "
                        "$3 AS t, $4 AS b, NULL AS z, $5 AS utf8",
                        GLY_I64(9007199254740993LL), GLY_F64(2.5), GLY_TEXT("it's \"quoted\""),
                        GLY_BLOB(blob, sizeof blob), GLY_TEXT("h\xc3\xa9llo \xe2\x82\xac"));
    return rc < 0 ? rc : gly_send_row(req, 200, row);
}

struct tx_ctx {
    const char *name;
    bool fail;
    int64_t counter;
};

/* Inserts an item and bumps the counter; fails afterwards when asked. */
static int tx_body(gly_req *req, void *arg)
{
    struct tx_ctx *c = arg;
    int64_t n = gly_db_exec(req, "INSERT INTO items (name) VALUES ($1)", GLY_TEXT(c->name));
    if (n < 0)
        return (int)n;
    gly_row *row;
    int rc = gly_db_one(req, &row, "UPDATE counters SET v = v + 1 WHERE id = 1 RETURNING v");
    if (rc < 0)
        return rc;
    int64_t v = gly_row_i64(row, "v");
    c->counter = v;
    return c->fail ? GLY_ECANCELED : 0;
}

/* POST /tx?name=X[&fail=1]: the insert and the counter commit together or not at all */
static int tx(gly_req *req)
{
    gly_str name = gly_req_query_param(req, "name");
    struct tx_ctx c = {gly_arena_strndup(gly_req_arena(req), name.p ? name.p : "", name.n),
                       gly_req_query_param(req, "fail").p != NULL, 0};
    int rc = gly_db_tx(req, tx_body, &c);
    if (rc == GLY_ECANCELED)
        return gly_problem(req, 409, "rolled-back", "the transaction was rolled back");
    if (rc < 0)
        return rc;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"counter\":%lld}", (long long)c.counter);
    return gly_send(req, 200, "application/json", body, (size_t)n);
}

static int counter(gly_req *req)
{
    gly_row *row;
    int rc = gly_db_one(req, &row, "SELECT v AS counter FROM counters WHERE id = 1");
    return rc < 0 ? rc : gly_send_row(req, 200, row);
}

/* GET /slow: a query that runs past any sane db-timeout */
static int slow(gly_req *req)
{
    gly_res *res;
    bool pg = strcmp(gly_db_backend(gly_app_db(gly_req_app(req))), "postgres") == 0;
    int rc = gly_db_all(req, &res,
                        pg ? "SELECT pg_sleep(30)"
                           : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                             "WHERE x < 1000000000) SELECT count(*) FROM c");
    return rc < 0 ? rc : gly_send_text(req, 200, "finished");
}

/* GET /bad: SQL the database rejects; the client must see none of it */
static int bad(gly_req *req)
{
    gly_res *res;
    return gly_db_all(req, &res, "SELEKT secret_column FROM nowhere WHERE x = $1", GLY_I64(1));
}

/* GET /params: a statement with more parameters than given */
static int params(gly_req *req)
{
    gly_res *res;
    return gly_db_all(req, &res, "SELECT $1 + $2 AS s", GLY_I64(1));
}

/* GET /extra: more parameters than the statement takes */
static int extra(gly_req *req)
{
    gly_res *res;
    return gly_db_all(req, &res, "SELECT CAST($1 AS BIGINT) AS s", GLY_I64(1), GLY_I64(2));
}

/* GET /begin: transactions go through gly_db_tx(), never as statements */
static int begin(gly_req *req)
{
    return (int)gly_db_exec(req, "BEGIN");
}

int main(int argc, char **argv)
{
    gly_app *app = gly_app_new(argc, argv);
    gly_db *db = gly_db_new(app);
    bool alter = getenv("DBAPP_CHANGED") != NULL;
    gly_db_add_migrations(db, "dbtest", alter ? changed : migrations, 2);
    if (gly_db_open(db) < 0) {
        fprintf(stderr, "galley-dbapp: %s\n", gly_db_errmsg(db));
        gly_app_free(app);
        return 1;
    }
    gly_post(app, "/items", create_item);
    gly_get(app, "/items", list_items);
    gly_get(app, "/items/:id", get_item);
    gly_delete(app, "/items/:id", delete_item);
    gly_get(app, "/types", types);
    gly_post(app, "/tx", tx);
    gly_get(app, "/counter", counter);
    gly_get(app, "/slow", slow);
    gly_get(app, "/bad", bad);
    gly_get(app, "/params", params);
    gly_get(app, "/extra", extra);
    gly_get(app, "/begin", begin);
    int rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
