/*
 * bench/galley_bench.c - the TechEmpower tests on galley's public API.
 *
 * Serves
 *   GET /plaintext -> 200, Content-Type: text/plain, body "Hello, World!"
 *   GET /json      -> 200, Content-Type: application/json, body {"message":"Hello, World!"}
 * and, when a database is named (--data DIR other than the default, or --db URL):
 *   GET /db                        one random World row as {"id":..,"randomNumber":..}
 *   GET /queries?queries=N         N random World rows, one query each, as a JSON array
 *   GET /fortunes                  the Fortune table and one added fortune, sorted, as HTML
 *   GET /updates?queries=N         N random rows read one by one, given new random
 *                                  numbers, written back in one batched UPDATE
 *   GET /cached-queries?count=N    N random rows from an in-process copy of World
 *   POST /bench/insert             one INSERT per request (the group-commit figure)
 *   /api/v1/auth/...               Galley's accounts, for GET /api/v1/auth/me with a JWT
 * The framework answers 404/405 and GET /health/live itself.
 *
 * The TechEmpower rules (Framework Benchmarks, "Test types" 1 to 7) it follows:
 * - Every response carries Server, Date, Content-Type and Content-Length. The
 *   framework writes Server, Date (cached, refreshed every second) and
 *   Content-Length itself; the handlers name the Content-Type.
 * - JSON is serialized per request with the framework's JSON writer (gly_json);
 *   nothing is cached between requests except what /cached-queries caches.
 * - Plaintext: the rules allow one reused buffer for the text, so the body is
 *   static memory sent without a copy (gly_send_ref).
 * - World ids are uniform in 1..10000. A queries/count parameter that is
 *   missing, not an integer or below 1 counts as 1, above 500 as 500.
 * - Each World row of /queries and /updates is read by its own query; the
 *   updates of one request may be batched (the rules allow it): one UPDATE
 *   ... FROM (VALUES ...) per request, rows in id order so that concurrent
 *   requests lock them in one order.
 * - /fortunes reads every row, adds {0, "Additional fortune added at request
 *   time."}, sorts by message in the application (byte order of the UTF-8,
 *   i.e. code point order), escapes the messages and writes the TechEmpower
 *   markup with Content-Type text/html; charset=utf-8.
 * - Logging may be disabled: the access log and the X-Request-Id echo are off
 *   by default here (`--access-log on`, `--request-id on` turn them back on).
 *
 * At start (before gly_run) the "bench" migrations create the tables when
 * they are missing and seed them: world(id, randomnumber) with 10,000 rows of
 * random numbers in 1..10000 and fortune(id, message) with the 12 TechEmpower
 * fortunes. Lower-case names are TechEmpower's PostgreSQL schema as
 * PostgreSQL folds it, so a database made by their create-postgres.sql works
 * as it is; the JSON key is still "randomNumber".
 *
 * Settings: the galley defaults, then the defaults above, then GALLEY_*
 * variables, then flags, so `--http`, `--port N`, `--workers N`, `--data DIR`,
 * `--db URL` and every other galley setting work (`galley-bench --help` lists
 * them). A bad flag or value prints one line on stderr and exits 2; a
 * database that does not open, exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <galley/galley.h>

#define WORLD_ROWS  10000
#define QUERIES_MAX 500

/* ------------------------------------------------------------------------ */
/* Plaintext and JSON                                                       */
/* ------------------------------------------------------------------------ */

static int plaintext(gly_req *req)
{
    static const char body[] = "Hello, World!";

    return gly_send_ref(req, 200, "text/plain", body, sizeof(body) - 1);
}

static int json(gly_req *req)
{
    char seed[64];
    gly_buf b;
    gly_json j;
    int rc;

    /*
     * No growth memory and a cap of the seed's size: the document fits, and
     * gly_send_buf() copies it out of this stack frame (a buffer growing from
     * the request arena would be sent by reference instead).
     */
    gly_buf_init(&b, seed, sizeof(seed), NULL, sizeof(seed));
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "message");
    gly_json_str(&j, "Hello, World!");
    gly_json_obj_end(&j);
    rc = gly_json_finish(&j);
    if (rc < 0) {
        return rc;
    }
    return gly_send_buf(req, 200, "application/json", &b);
}

/* ------------------------------------------------------------------------ */
/* Database tests                                                           */
/* ------------------------------------------------------------------------ */

static const char sql_world[] = "SELECT id, randomnumber FROM world WHERE id = $1";
static const char sql_fortunes[] = "SELECT id, message FROM fortune";
static const char sql_insert[] = "INSERT INTO bench_insert (v) VALUES ($1)";

/* A copy of World for /cached-queries, filled before gly_run() and only read after. */
static int32_t world_cache[WORLD_ROWS + 1];

/* A per-thread xorshift64*: workers are threads, and rand() takes a lock. */
static _Thread_local uint64_t rng_state;

static uint32_t rng_next(void)
{
    if (rng_state == 0) {
        rng_state = gly_now_ns() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9e3779b97f4a7c15ull;
    }
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Uniform in 1..WORLD_ROWS (the bias of the modulo is below 3e-6). */
static int64_t random_id(void)
{
    return 1 + (int64_t)(rng_next() % WORLD_ROWS);
}

/* The query parameter name as TechEmpower reads it: 1..QUERIES_MAX, else 1 or 500. */
static unsigned count_param(gly_req *req, const char *name)
{
    gly_str s = gly_req_query_param(req, name);
    unsigned n = 0;

    if (s.p == NULL || s.n == 0) {
        return 1;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') {
            return 1; /* "foo", "-3", "2.5": not an integer (or below 1) */
        }
        if (n <= QUERIES_MAX) {
            n = n * 10 + (unsigned)(s.p[i] - '0');
        }
    }
    if (n < 1) {
        return 1;
    }
    return n > QUERIES_MAX ? QUERIES_MAX : n;
}

/* An integer column: PostgreSQL may hand integers over as text. */
static int64_t col_i64(const gly_row *row, unsigned col)
{
    const gly_db_val *v = gly_row_at(row, col);

    if (v == NULL) {
        return 0;
    }
    if (v->type == GLY_DB_INT) {
        return v->v.i;
    }
    if (v->type == GLY_DB_TEXT) {
        return strtoll(v->v.s.p, NULL, 10);
    }
    return 0;
}

struct world {
    int64_t id;
    int64_t rn;
};

static void json_world(gly_json *j, const struct world *w)
{
    gly_json_obj_begin(j);
    gly_json_key(j, "id");
    gly_json_i64(j, w->id);
    gly_json_key(j, "randomNumber");
    gly_json_i64(j, w->rn);
    gly_json_obj_end(j);
}

/* Reads World row id into *w. */
static int read_world(gly_req *req, int64_t id, struct world *w)
{
    gly_row *row;
    int rc = gly_db_one(req, &row, sql_world, GLY_I64(id));

    if (rc < 0) {
        return rc;
    }
    w->id = col_i64(row, 0);
    w->rn = col_i64(row, 1);
    return 0;
}

static int send_worlds(gly_req *req, const struct world *w, unsigned n, bool array)
{
    char seed[512];
    gly_buf b;
    gly_json j;
    int rc;

    /* the seed holds a small answer; a large one grows in the request arena */
    gly_buf_init(&b, seed, sizeof(seed), gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    if (array) {
        gly_json_arr_begin(&j);
    }
    for (unsigned i = 0; i < n; i++) {
        json_world(&j, &w[i]);
    }
    if (array) {
        gly_json_arr_end(&j);
    }
    rc = gly_json_finish(&j);
    if (rc < 0) {
        return rc;
    }
    return gly_send_buf(req, 200, "application/json", &b);
}

static int db(gly_req *req)
{
    struct world w;
    int rc = read_world(req, random_id(), &w);

    if (rc < 0) {
        return rc;
    }
    return send_worlds(req, &w, 1, false);
}

static int queries(gly_req *req)
{
    unsigned n = count_param(req, "queries");
    struct world *w = gly_alloc(req, n * sizeof(*w));

    if (w == NULL) {
        return GLY_ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        int rc = read_world(req, random_id(), &w[i]);
        if (rc < 0) {
            return rc;
        }
    }
    return send_worlds(req, w, n, true);
}

static int cached_queries(gly_req *req)
{
    unsigned n = count_param(req, "count");
    struct world *w = gly_alloc(req, n * sizeof(*w));

    if (w == NULL) {
        return GLY_ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        w[i].id = random_id();
        w[i].rn = world_cache[w[i].id];
    }
    return send_worlds(req, w, n, true);
}

static int by_id(const void *a, const void *b)
{
    const struct world *x = *(const struct world *const *)a;
    const struct world *y = *(const struct world *const *)b;

    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    return x < y ? -1 : (x > y); /* stable: the later draw of an id wins */
}

/*
 * The batched write: UPDATE world SET randomnumber = v.column2 FROM (VALUES
 * (CAST($1 AS integer), CAST($2 AS integer)), ...) AS v WHERE world.id =
 * v.column1. Both backends name VALUES columns column1, column2, and the
 * casts type the parameters for PostgreSQL. One text per row count, so
 * each is prepared once.
 */
static const char *update_sql(gly_req *req, unsigned rows)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_buf_puts(&b, "-- name: update_world\n"
                     "UPDATE world SET randomnumber = v.column2 FROM (VALUES ");
    for (unsigned i = 0; i < rows; i++) {
        gly_buf_printf(&b, "%s(CAST($%u AS integer), CAST($%u AS integer))", i ? ", " : "",
                       2 * i + 1, 2 * i + 2);
    }
    gly_buf_puts(&b, ") AS v WHERE world.id = v.column1");
    return gly_buf_err(&b) == 0 ? gly_buf_cstr(&b) : NULL;
}

static int updates(gly_req *req)
{
    unsigned n = count_param(req, "queries");
    struct world *w = gly_alloc(req, n * sizeof(*w));
    struct world **order = gly_alloc(req, n * sizeof(*order));
    gly_db_val *args = gly_alloc(req, 2 * n * sizeof(*args));
    unsigned rows = 0;
    const char *sql;
    int64_t rc;

    if (w == NULL || order == NULL || args == NULL) {
        return GLY_ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        rc = read_world(req, random_id(), &w[i]);
        if (rc < 0) {
            return (int)rc;
        }
        w[i].rn = 1 + (int64_t)(rng_next() % WORLD_ROWS);
        order[i] = &w[i];
    }
    /*
     * In id order; an id drawn twice is written once, with its last number,
     * and both entries of the answer show that number.
     */
    qsort(order, n, sizeof(*order), by_id);
    for (unsigned i = 0; i < n; i++) {
        if (i + 1 < n && order[i + 1]->id == order[i]->id) {
            continue;
        }
        for (unsigned k = i; k > 0 && order[k - 1]->id == order[i]->id; k--) {
            order[k - 1]->rn = order[i]->rn;
        }
        args[2 * rows] = GLY_I64(order[i]->id);
        args[2 * rows + 1] = GLY_I64(order[i]->rn);
        rows++;
    }
    sql = update_sql(req, rows);
    if (sql == NULL) {
        return GLY_ENOMEM;
    }
    rc = gly_db_exec_n(req, sql, args, 2 * rows);
    if (rc < 0) {
        return (int)rc;
    }
    return send_worlds(req, w, n, true);
}

struct fortune {
    int64_t id;
    gly_str msg;
};

static int by_message(const void *a, const void *b)
{
    const struct fortune *x = a;
    const struct fortune *y = b;
    size_t n = x->msg.n < y->msg.n ? x->msg.n : y->msg.n;
    int c = memcmp(x->msg.p, y->msg.p, n);

    if (c != 0) {
        return c;
    }
    return x->msg.n < y->msg.n ? -1 : (x->msg.n > y->msg.n);
}

/* Appends s HTML-escaped: the five characters that matter in text and attributes. */
static void html_escape(gly_buf *b, gly_str s)
{
    size_t run = 0;

    for (size_t i = 0; i < s.n; i++) {
        const char *e;
        switch (s.p[i]) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            continue;
        }
        gly_buf_append(b, s.p + run, i - run);
        gly_buf_puts(b, e);
        run = i + 1;
    }
    gly_buf_append(b, s.p + run, s.n - run);
}

static int fortunes(gly_req *req)
{
    static const char added[] = "Additional fortune added at request time.";
    gly_res *res;
    struct fortune *f;
    size_t n;
    gly_buf b;
    int rc = gly_db_all(req, &res, sql_fortunes);

    if (rc < 0) {
        return rc;
    }
    n = gly_res_count(res);
    f = gly_alloc(req, (n + 1) * sizeof(*f));
    if (f == NULL) {
        return GLY_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const gly_row *row = gly_res_row(res, i);
        const gly_db_val *m = gly_row_at(row, 1);
        f[i].id = col_i64(row, 0);
        f[i].msg = m->type == GLY_DB_TEXT ? (gly_str){m->v.s.p, m->v.s.n} : GLY_STR("");
    }
    f[n].id = 0;
    f[n].msg = (gly_str){added, sizeof(added) - 1};
    n++;
    qsort(f, n, sizeof(*f), by_message);

    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_buf_puts(&b, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
                     "<tr><th>id</th><th>message</th></tr>");
    for (size_t i = 0; i < n; i++) {
        gly_buf_puts(&b, "<tr><td>");
        gly_buf_put_i64(&b, f[i].id);
        gly_buf_puts(&b, "</td><td>");
        html_escape(&b, f[i].msg);
        gly_buf_puts(&b, "</td></tr>");
    }
    gly_buf_puts(&b, "</table></body></html>");
    if (gly_buf_err(&b) < 0) {
        return gly_buf_err(&b);
    }
    return gly_send_buf(req, 200, "text/html; charset=utf-8", &b);
}

/* One INSERT, answered once it is durable: many in flight share a commit on SQLite. */
static int insert(gly_req *req)
{
    int64_t rc = gly_db_exec(req, sql_insert, GLY_I64(rng_next() % WORLD_ROWS));

    if (rc < 0) {
        return (int)rc;
    }
    return gly_send_ref(req, 201, "application/json", "{}", 2);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */
/* ------------------------------------------------------------------------ */

#define FORTUNES                                                                                   \
    "INSERT INTO fortune (id, message) VALUES\n"                                                   \
    "(1, 'fortune: No such file or directory'),\n"                                                 \
    "(2, 'A computer scientist is someone who fixes things that aren''t broken.'),\n"              \
    "(3, 'After enough decimal places, nobody gives a damn.'),\n"                                  \
    "(4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),\n"                    \
    "(5, 'A computer program does what you tell it to do, not what you want it to do.'),\n"        \
    "(6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),\n"          \
    "(7, 'Any program that runs right is obsolete.'),\n"                                           \
    "(8, 'A list is only as strong as its weakest link. — Donald Knuth'),\n"                     \
    "(9, 'Feature: A bug with seniority.'),\n"                                                     \
    "(10, 'Computers make very fast, very accurate mistakes.'),\n"                                 \
    "(11, '<script>alert(\"This should not be displayed in a browser alert box.\");</script>'),\n" \
    "(12, 'フレームワークのベンチマーク')\n"                                         \
    "ON CONFLICT DO NOTHING;\n"

/*
 * IF NOT EXISTS and the seeding only of an empty table: a database already
 * made by TechEmpower's scripts keeps its rows.
 */
static const gly_migration migrations[] = {
    {1, "techempower tables", NULL,
     "CREATE TABLE IF NOT EXISTS world (id INTEGER PRIMARY KEY, randomnumber INTEGER NOT NULL);\n"
     "INSERT INTO world (id, randomnumber)\n"
     "  WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10000)\n"
     "  SELECT i, abs(random() % 10000) + 1 FROM s WHERE NOT EXISTS (SELECT 1 FROM world);\n"
     "CREATE TABLE IF NOT EXISTS fortune (id INTEGER PRIMARY KEY, message TEXT NOT "
     "NULL);\n" FORTUNES,
     "CREATE TABLE IF NOT EXISTS world (id integer NOT NULL PRIMARY KEY,\n"
     "  randomnumber integer NOT NULL DEFAULT 0);\n"
     "INSERT INTO world (id, randomnumber)\n"
     "  SELECT i, floor(random() * 10000 + 1)::integer FROM generate_series(1, 10000) AS i\n"
     "  WHERE NOT EXISTS (SELECT 1 FROM world);\n"
     "CREATE TABLE IF NOT EXISTS fortune (id integer NOT NULL PRIMARY KEY,\n"
     "  message varchar(2048) NOT NULL);\n" FORTUNES},
    {2, "group commit table", NULL,
     "CREATE TABLE IF NOT EXISTS bench_insert (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
     "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, v integer NOT NULL);"},
};

/* Opens the database, applies the migrations and loads World into world_cache. */
static int open_db(gly_app *app, const char *prog)
{
    gly_db *d = gly_db_new(app);
    gly_arena arena;
    gly_res *res = NULL;
    int rc;

    if (d == NULL || gly_db_add_migrations(d, "bench", migrations, 2) < 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return GLY_ENOMEM;
    }
    /* accounts, for the authenticated GET /api/v1/auth/me figure (issue 5) */
    if ((rc = gly_auth_use(app)) < 0) {
        fprintf(stderr, "%s: cannot set up auth\n", prog);
        return rc;
    }
    /* gly_db_open() migrates unless --migrate off; the bench's own tables are made anyway */
    if ((rc = gly_db_open(d)) < 0 || (rc = gly_db_migrate(d, NULL)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, gly_db_errmsg(d));
        return rc;
    }
    gly_arena_init(&arena, 0);
    rc = gly_db_query_sync(d, &arena, &res, "SELECT id, randomnumber FROM world", NULL, 0);
    if (rc < 0) {
        fprintf(stderr, "%s: loading the World cache: %s\n", prog, gly_db_errmsg(d));
    } else {
        for (size_t i = 0; i < gly_res_count(res); i++) {
            const gly_row *row = gly_res_row(res, i);
            int64_t id = col_i64(row, 0);
            if (id >= 1 && id <= WORLD_ROWS) {
                world_cache[id] = (int32_t)col_i64(row, 1);
            }
        }
        fprintf(stderr, "%s: %s database ready, %zu World rows cached\n", prog, gly_db_backend(d),
                gly_res_count(res));
    }
    gly_arena_dispose(&arena);
    return rc < 0 ? rc : 0;
}

static void usage(const char *prog)
{
    gly_buf b;

    gly_buf_init(&b, NULL, 0, NULL, 0);
    gly_buf_printf(&b,
                   "usage: %s [settings]\n"
                   "\n"
                   "Serves the TechEmpower GET /plaintext and GET /json tests, and with\n"
                   "--data DIR (SQLite) or --db postgres://... also /db, /queries,\n"
                   "/fortunes, /updates, /cached-queries and POST /bench/insert.\n"
                   "Defaults as galley's, except --no-access-log and --no-request-id.\n"
                   "\n"
                   "settings:\n",
                   prog);
    gly_config_usage(&b);
    if (gly_buf_err(&b) == 0) {
        fwrite(b.p, 1, b.len, stdout);
    }
    gly_buf_dispose(&b);
}

int main(int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "galley-bench";
    gly_config cfg, def;
    gly_app *app = NULL;
    bool with_db;
    char err[512];
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(prog);
            return 0;
        }
    }

    gly_config_init(&cfg);
    cfg.access_log = false;
    cfg.request_id = false;
    cfg.security_headers = false; /* the bare TechEmpower response */
    /* then a --config file, GALLEY_* variables and flags, as galley serve takes them */
    if (gly_config_load(&cfg, argc > 0 ? argc - 1 : 0, argv + (argc > 0), err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    /*
     * The database tests only when a database is named, so that the plaintext
     * and JSON runs (and the idle-connection figure) carry no database.
     */
    gly_config_init(&def);
    with_db = cfg.database_url[0] != '\0' || strcmp(cfg.data_dir, def.data_dir) != 0;

    app = gly_app_new_config(&cfg);
    if (app == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    gly_get(app, "/plaintext", plaintext);
    gly_get(app, "/json", json);
    if (with_db) {
        gly_get(app, "/db", db);
        gly_get(app, "/queries", queries);
        gly_get(app, "/fortunes", fortunes);
        gly_get(app, "/updates", updates);
        gly_get(app, "/cached-queries", cached_queries);
        gly_post(app, "/bench/insert", insert);
        if (open_db(app, prog) < 0) {
            gly_app_free(app);
            return 1;
        }
    }

    /* gly_run() logs why it could not start (a route error, the port in use, ...). */
    rc = gly_run(app);
    gly_app_free(app);
    return rc == 0 ? 0 : 1;
}
