/*
 * galley/redis.h - a Redis client for handlers: commands, pub/sub, publish.
 *
 * A handler sends a command in straight lines; the call suspends the
 * handler's coroutine until the reply is there, and the worker serves others
 * meanwhile:
 *
 *     gly_redis_reply *r;
 *     int rc = gly_redis_cmd(req, &r, "GET", "motd");
 *     if (rc < 0)
 *         return rc;                 (503 when Redis is down)
 *     if (r->type == GLY_REDIS_NIL)
 *         return gly_problem(req, 404, "not-found", "no message of the day");
 *     return gly_send(req, 200, "text/plain", r->str, r->len);
 *
 * Each worker has one connection to Redis (redis-url), opened when the
 * worker starts and shared by its requests: commands are pipelined, replies
 * come back in order. A broken connection fails the commands in flight with
 * GLY_ECONNLOST and is made again at once, then with a backoff of 50 ms
 * doubling to 2 s; while it is down, commands fail at once with
 * GLY_EUNAVAIL. A command unanswered within redis-timeout fails with
 * GLY_ETIMEDOUT and takes its connection down (the rest of the pipeline
 * fails with GLY_ECONNLOST): a stuck server or a silent network break looks
 * the same from here. The framework answers all three with 503 and
 * Retry-After.
 *
 * Subscriptions run on one more connection per process, on worker 0's loop.
 *
 * The client speaks RESP2 (Redis 2.6 and later; AUTH with a user name needs
 * Redis 6). Replies live in the request's arena and stay valid until the
 * response is done. The client registers the readiness check "redis"
 * (GET /health/ready) and the galley_redis_* series of GET /metrics.
 */
#ifndef GALLEY_REDIS_H
#define GALLEY_REDIS_H

#include <galley/common.h>
#include <galley/http.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gly_redis gly_redis;

/* The type of a reply (RESP2). */
enum gly_redis_type {
    GLY_REDIS_STRING = 1, /* a bulk string: str, len (binary-safe) */
    GLY_REDIS_ARRAY,      /* elements: element[0 .. len) */
    GLY_REDIS_INTEGER,    /* integer */
    GLY_REDIS_NIL,        /* a null bulk string or null array */
    GLY_REDIS_STATUS,     /* a simple string ("OK"): str, len */
    GLY_REDIS_ERROR,      /* an error ("WRONGTYPE Operation against ..."): str, len */
};

/* A reply. str is also NUL-terminated. */
typedef struct gly_redis_reply gly_redis_reply;
struct gly_redis_reply {
    int type; /* a gly_redis_type */
    int64_t integer;
    const char *str;
    size_t len; /* bytes of str, or elements of an array */
    gly_redis_reply **element;
};

/* ------------------------------------------------------------------------ */
/* Commands (in a handler)                                                  */
/* ------------------------------------------------------------------------ */

/*
 * Sends the command argv[0 .. argc) (binary-safe arguments, copied before
 * the call suspends) on the worker's connection and gives its reply in *out,
 * in the request's arena. Only in req's handler (its coroutine). Returns 0
 * or a negative code:
 *   GLY_EREDIS     Redis answered an error; *out is that reply (type
 *                  GLY_REDIS_ERROR, its text in str), also in gly_redis_error();
 *   GLY_EUNAVAIL   no connection to Redis (redis-url unset, or the server down);
 *   GLY_ECONNLOST  the connection broke while the command was in flight;
 *   GLY_ETIMEDOUT  no reply within redis-timeout;
 *   GLY_EINVAL     argc is 0; GLY_ESTATE outside a handler; GLY_ENOMEM.
 * On other failures *out is NULL. out may be NULL when the reply is not wanted.
 */
GLY_EXTERN int gly_redis_cmdv(gly_req *req, gly_redis_reply **out, unsigned argc,
                              const gly_str *argv);

/* As gly_redis_cmdv() with NUL-terminated arguments. */
GLY_EXTERN int gly_redis_cmd_strs(gly_req *req, gly_redis_reply **out, unsigned argc,
                                  const char *const *argv);

/* gly_redis_cmd(req, &reply, "SET", key, value): the arguments are C strings. */
#define gly_redis_cmd(req, out, ...)                                                               \
    gly_redis_cmd_strs((req), (out),                                                               \
                       (unsigned)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)),    \
                       (const char *const[]){__VA_ARGS__})

/* The text of the request's last error reply from Redis, for the log; "" when none. */
GLY_EXTERN const char *gly_redis_error(gly_req *req);

/* ------------------------------------------------------------------------ */
/* The client of an application                                             */
/* ------------------------------------------------------------------------ */

/*
 * The application's client, made on the first call from the settings
 * (redis-url, redis-timeout) and attached to the app (gly_app_free() frees
 * it): its connections open when the workers start, so call it before
 * gly_run(). A node does not need Redis to start or to serve: the
 * connections keep trying in the background, and the "redis" readiness check
 * fails meanwhile. Returns 0 with *out, GLY_ENOENT when redis-url is empty
 * (*out NULL), GLY_EINVAL when it is not a valid redis:// URL (logged,
 * without the password) or GLY_ENOMEM.
 */
GLY_EXTERN int gly_redis_use(gly_app *app, gly_redis **out);

/* The application's client, or NULL when gly_redis_use() made none. */
GLY_EXTERN gly_redis *gly_app_redis(const gly_app *app);

/*
 * A subscriber: called on worker 0's thread with each message published on
 * channel. It must not block: post longer work to a worker with
 * gly_worker_post(). message.p is NULL for a call that says the subscription
 * has just been (re)established: on the first subscription and after every
 * reconnection, since messages published meanwhile were missed.
 */
typedef void (*gly_redis_sub_fn)(void *ctx, gly_str channel, gly_str message);

/*
 * Subscribes fn(ctx, ...) to channel (copied; a plain channel name, not a
 * pattern) before gly_run(). Several subscribers may share a channel.
 * Returns 0, GLY_ESTATE once the server runs, GLY_EINVAL or GLY_ENOMEM.
 */
GLY_EXTERN int gly_redis_subscribe(gly_redis *r, const char *channel, gly_redis_sub_fn fn,
                                   void *ctx);

/*
 * Publishes message (len bytes, copied) on channel, fire and forget: from a
 * worker thread on that worker's connection, from any other thread through
 * worker 0. Delivery is not confirmed: a message is dropped (and counted in
 * galley_redis_publish_dropped_total) when the connection is down. Safe on
 * any thread while the server runs. Returns 0 once queued, GLY_EUNAVAIL when
 * r is NULL (no redis-url), GLY_ESTATE when the server does not run, or
 * GLY_ENOMEM.
 */
GLY_EXTERN int gly_redis_publish(gly_redis *r, const char *channel, const void *message,
                                 size_t len);

#ifdef __cplusplus
}
#endif
#endif
