/*
 * tests/api/redisapp.c - galley-redisapp, the service the Redis client suite
 * (test_redis.py) drives against a real redis-server. Every route exercises
 * one part of galley/redis.h through the public API.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include <galley/galley.h>

#define CHANNEL "redisapp:events"

/* What the subscriber saw: written on worker 0, read by any worker. */
static struct {
    uv_mutex_t lock;
    char last[256];
    uint64_t messages, resubscribed;
} seen;

static void on_event(void *ctx, gly_str channel, gly_str message)
{
    (void)ctx;
    (void)channel;
    uv_mutex_lock(&seen.lock);
    if (message.p) {
        snprintf(seen.last, sizeof seen.last, "%.*s", (int)message.n, message.p);
        seen.messages++;
    } else {
        seen.resubscribed++;
    }
    uv_mutex_unlock(&seen.lock);
}

/* Answers a failed command: 422 with Redis's text for an error reply, else the code. */
static int fail(gly_req *req, int rc)
{
    if (rc == GLY_EREDIS)
        return gly_problem(req, 422, "redis-error", gly_redis_error(req));
    return rc;
}

static int send_reply(gly_req *req, const gly_redis_reply *r)
{
    gly_buf b;
    gly_json j;
    gly_buf_init(&b, NULL, 0, gly_req_arena(req), 0);
    gly_json_init(&j, &b);
    gly_json_obj_begin(&j);
    gly_json_key(&j, "type");
    gly_json_i64(&j, r->type);
    if (r->type == GLY_REDIS_INTEGER) {
        gly_json_key(&j, "integer");
        gly_json_i64(&j, r->integer);
    } else if (r->type == GLY_REDIS_ARRAY) {
        gly_json_key(&j, "elements");
        gly_json_arr_begin(&j);
        for (size_t i = 0; i < r->len; i++) {
            if (r->element[i]->type == GLY_REDIS_NIL)
                gly_json_null(&j);
            else
                gly_json_strn(&j, r->element[i]->str, r->element[i]->len);
        }
        gly_json_arr_end(&j);
    } else if (r->str) {
        gly_json_key(&j, "str");
        gly_json_strn(&j, r->str, r->len);
    }
    gly_json_obj_end(&j);
    int rc = gly_json_finish(&j);
    return rc < 0 ? rc : gly_send_buf(req, 200, "application/json", &b);
}

/* POST /cmd with a JSON array of strings: runs it, answers the reply as JSON */
static int cmd(gly_req *req)
{
    gly_jv *body = gly_req_json(req);
    if (!body)
        return 0;
    if (gly_jv_len(body) == 0)
        return gly_problem(req, 400, "bad-command", "expected a JSON array of strings");
    size_t n = gly_jv_len(body);
    gly_str *argv = gly_alloc(req, n * sizeof *argv);
    if (!argv)
        return GLY_ENOMEM;
    for (size_t i = 0; i < n; i++)
        argv[i] = gly_jv_str(gly_jv_at(body, i));
    gly_redis_reply *r;
    int rc = gly_redis_cmdv(req, &r, (unsigned)n, argv);
    if (rc < 0)
        return fail(req, rc);
    return send_reply(req, r);
}

/* POST /incr/:key: INCR, answers the new value as text */
static int incr(gly_req *req)
{
    gly_str key = gly_req_param(req, "key");
    gly_redis_reply *r;
    int rc = gly_redis_cmdv(req, &r, 2, (gly_str[]){GLY_STR("INCR"), key});
    if (rc < 0)
        return fail(req, rc);
    char text[32];
    snprintf(text, sizeof text, "%" PRId64, r->integer);
    return gly_send_text(req, 200, text);
}

/* GET /big/:n: SET then GET of an n-byte value, checked byte by byte */
static int big(gly_req *req)
{
    int64_t n;
    if (!gly_path_i64(req, "n", &n) || n < 0 || n > 64 * 1024 * 1024)
        return gly_problem(req, 400, "bad-size", "n out of range");
    char *v = gly_alloc(req, (size_t)n + 1);
    if (!v)
        return GLY_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    gly_str key = gly_req_id(req);
    int rc = gly_redis_cmdv(req, NULL, 3, (gly_str[]){GLY_STR("SET"), key, {v, (size_t)n}});
    gly_redis_reply *r;
    if (rc == 0)
        rc = gly_redis_cmdv(req, &r, 2, (gly_str[]){GLY_STR("GET"), key});
    if (rc == 0)
        rc = gly_redis_cmdv(req, NULL, 2, (gly_str[]){GLY_STR("DEL"), key});
    if (rc < 0)
        return fail(req, rc);
    if (r->type != GLY_REDIS_STRING || r->len != (size_t)n || memcmp(r->str, v, (size_t)n) != 0)
        return gly_problem(req, 500, "mismatch", "the value read differs");
    return gly_send_text(req, 200, "same");
}

/* POST /publish?m=TEXT: fire-and-forget publish on the worker */
static int publish(gly_req *req)
{
    gly_str m = gly_req_query_param(req, "m");
    int rc = gly_redis_publish(gly_app_redis(gly_req_app(req)), CHANNEL, m.p ? m.p : "", m.n);
    return rc < 0 ? rc : gly_send_text(req, 202, "queued");
}

struct offpub {
    gly_app *app;
    const char *m;
    size_t n;
    int rc;
};

static void publish_elsewhere(void *arg)
{
    struct offpub *o = arg;
    o->rc = gly_redis_publish(gly_app_redis(o->app), CHANNEL, o->m, o->n);
}

/* POST /publish-offload?m=TEXT: the same from a thread of the pool (not a worker) */
static int publish_offload(gly_req *req)
{
    gly_str m = gly_req_query_param(req, "m");
    struct offpub o = {gly_req_app(req), m.p ? m.p : "", m.n, 0};
    int rc = gly_req_offload(req, publish_elsewhere, &o);
    if (rc == 0)
        rc = o.rc;
    return rc < 0 ? rc : gly_send_text(req, 202, "queued");
}

/* GET /seen: what the subscriber got */
static int get_seen(gly_req *req)
{
    char text[400];
    uv_mutex_lock(&seen.lock);
    snprintf(text, sizeof text,
             "{\"last\":\"%s\",\"messages\":%" PRIu64 ",\"resubscribed\":%" PRIu64 "}", seen.last,
             seen.messages, seen.resubscribed);
    uv_mutex_unlock(&seen.lock);
    return gly_send(req, 200, "application/json", text, strlen(text));
}

int main(int argc, char **argv)
{
    uv_mutex_init(&seen.lock);
    gly_app *app = gly_app_new(argc, argv);
    gly_redis *r;
    int rc = gly_redis_use(app, &r);
    if (rc == 0)
        rc = gly_redis_subscribe(r, CHANNEL, on_event, NULL);
    if (rc < 0 && rc != GLY_ENOENT) {
        fprintf(stderr, "galley-redisapp: %s\n", gly_strerror(rc));
        gly_app_free(app);
        return 1;
    }
    gly_post(app, "/cmd", cmd);
    gly_post(app, "/incr/:key", incr);
    gly_get(app, "/big/:n", big);
    gly_post(app, "/publish", publish);
    gly_post(app, "/publish-offload", publish_offload);
    gly_get(app, "/seen", get_seen);
    rc = gly_run(app);
    gly_app_free(app);
    uv_mutex_destroy(&seen.lock);
    return rc == 0 ? 0 : 1;
}
