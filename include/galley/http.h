/*
 * galley/http.h - the application, routes, middleware, requests and responses.
 *
 * An application (gly_app) holds the configuration, the routes and the
 * middleware chain. gly_run() starts the workers: N threads, each with its
 * own libuv loop and its own SO_REUSEPORT listener, and returns after a
 * graceful stop (SIGTERM or SIGINT, or gly_app_stop()).
 *
 * Each request runs its middleware and handler in a coroutine on the worker
 * that accepted the connection. A handler is straight-line code: a call that
 * waits (gly_sleep(), later the database) suspends the coroutine and the
 * worker serves other connections meanwhile. A handler returns what the
 * response call returned: 0, or a negative GLY_E* code, which the framework
 * answers with a 500 carrying only the request id (the log has the detail).
 *
 * All memory a request hands out - header values, params, the body - lives
 * in the request's arena and stays valid until its response is written.
 */
#ifndef GALLEY_HTTP_H
#define GALLEY_HTTP_H

#include <galley/arena.h>
#include <galley/buf.h>
#include <galley/common.h>
#include <galley/json.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GLY_METHOD_MAP(XX)                                                                         \
    XX(GET)                                                                                        \
    XX(HEAD)                                                                                       \
    XX(POST)                                                                                       \
    XX(PUT)                                                                                        \
    XX(DELETE)                                                                                     \
    XX(PATCH)                                                                                      \
    XX(OPTIONS)                                                                                    \
    XX(CONNECT)                                                                                    \
    XX(TRACE)

typedef enum gly_method {
    GLY_METHOD_UNKNOWN = -1,
#define GLY__METHOD_ENUM(name) GLY_##name,
    GLY_METHOD_MAP(GLY__METHOD_ENUM)
#undef GLY__METHOD_ENUM
        GLY_METHOD_COUNT
} gly_method;

/* Returns the method's name ("GET"), or NULL for a value out of range. */
GLY_EXTERN const char *gly_method_name(int method);

/* Returns the standard reason phrase for an HTTP status ("Not Found"), or "Unknown". */
GLY_EXTERN const char *gly_status_text(int status);

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Settings of an application. gly_config_init() fills in the defaults; each
 * setting can also be given as a flag (--max-body 1048576) or an environment
 * variable (GALLEY_MAX_BODY=1048576); see gly_config_set().
 */
typedef struct gly_config {
    char http[128];               /* listen address, "host:port" (127.0.0.1:8090) */
    unsigned workers;             /* worker threads; 0: one per online CPU */
    size_t max_request_line;      /* 8 KiB (414 past it) */
    size_t max_head;              /* 64 KiB, request line and fields (431) */
    unsigned max_headers;         /* 100 fields (431) */
    uint64_t max_body;            /* 10 MiB (413); routes may override */
    unsigned header_timeout_ms;   /* 10 s to receive a whole head (408, close) */
    unsigned idle_timeout_ms;     /* 60 s between requests on a keep-alive connection (close) */
    unsigned body_timeout_ms;     /* 30 s without body bytes while a body is due (408, close) */
    unsigned write_timeout_ms;    /* 30 s without progress writing a response (close) */
    unsigned shutdown_timeout_ms; /* 10 s for in-flight requests at a graceful stop */
    size_t coro_stack;            /* 128 KiB usable stack per handler coroutine */
    unsigned backlog;             /* 1024, listen(2) backlog */
    int log_level;                /* GLY_LOG_INFO */
    bool access_log;              /* true: one JSON line per response */
    bool request_id;              /* true: honour or generate X-Request-Id and echo it */
    /* Built-in middleware (galley/middleware.h); strings are NUL-terminated. */
    char trusted_proxies[512];    /* "": none; comma list of IPs and CIDRs */
    bool security_headers;        /* true: nosniff, frame and referrer policy, CSP, CORP */
    bool hsts;                    /* false: Strict-Transport-Security (only behind TLS) */
    char cors_origins[1024];      /* "": CORS off; "*" or a comma list of exact origins */
    bool cors_credentials;        /* false: Access-Control-Allow-Credentials */
    unsigned cors_max_age;        /* 600 s, preflight Access-Control-Max-Age */
    char cors_headers[256];       /* request headers a preflight may ask for */
    char cors_expose[256];        /* Access-Control-Expose-Headers */
    unsigned rate_limit;          /* 0: off; requests per rate_limit_window_s per client IP */
    unsigned rate_limit_window_s; /* 1, 60 or 3600 */
    unsigned rate_limit_burst;    /* bucket size; 0: rate_limit */
    char config[256];             /* "": none; a JSON settings file read before env and flags */
    /* Storage (galley/db.h). */
    char data_dir[256];        /* "galley_data": the SQLite database and other files */
    char database_url[1024];   /* "": SQLite in data_dir; postgres://... (a secret) */
    bool db_sync_full;         /* true: SQLite synchronous=FULL; false: NORMAL */
    unsigned db_timeout_ms;    /* 5 s: a query's time limit */
    size_t db_cache;           /* 64 MiB: SQLite page cache of each connection */
    size_t db_mmap;            /* 256 MiB: SQLite reads through mmap up to this (0: off) */
    unsigned db_pool_min;      /* 1: PostgreSQL connections per worker kept open */
    unsigned db_pool_max;      /* 4: PostgreSQL connections per worker at most */
    unsigned db_wait_ms;       /* 2 s: how long a request waits for a connection */
    bool migrate;              /* true: apply pending migrations at start */
    char redis_url[1024];      /* "": no Redis; redis://[:pass@]host[:port][/db] (a secret) */
    unsigned redis_timeout_ms; /* 2 s: a Redis command's (and connection's) time limit */
    /* Users and auth (galley/auth.h). */
    char jwt_secret[256];       /* "": from jwt_secret_file, else DATA/jwt.key (a secret) */
    char jwt_secret_file[256];  /* "": none */
    char jwt_issuer[128];       /* "galley" */
    char jwt_audience[128];     /* "galley" */
    char jwt_alg[16];           /* "HS256"; "EdDSA" or "ES256": signed with jwt_key_file */
    char jwt_key_file[256];     /* "": DATA/jwt-<alg>.pem (made once) for EdDSA and ES256 */
    char oidc_providers[1024];  /* "": none; "name=https://issuer,..." OpenID providers */
    char oidc_clients[2048];    /* "name=client_id:client_secret,..." (a secret) */
    unsigned access_ttl_ms;     /* 15 min */
    unsigned refresh_ttl_ms;    /* 30 days */
    size_t argon2_memory;       /* 19 MiB */
    unsigned argon2_time;       /* 2 passes */
    unsigned hash_concurrency;  /* 0: the CPUs but one (at least 1) */
    unsigned login_delay_after; /* 3: failed logins of an account before each is delayed */
    unsigned login_lock_after;  /* 10: failed logins that lock the account (429) */
    unsigned login_lock_ms;     /* 15 min: how long a lock lasts */
    unsigned session_cache_ms;  /* 2 s: how long a worker trusts a checked session; 0: off */
    char smtp_url[1024];        /* "": development, emails to DATA/mail (a secret) */
    char mail_from[256];        /* "Galley <no-reply@localhost>" */
    char public_url[512];       /* "http://127.0.0.1:8090": the base of links in emails */
} gly_config;

/* Fills *cfg with the defaults. */
GLY_EXTERN void gly_config_init(gly_config *cfg);

/*
 * Sets one setting by name ("workers", "max-body", "access-log", ...; '_' and
 * '-' are the same). Returns 0, or GLY_ENOENT for an unknown name or
 * GLY_EINVAL for a bad value; err (may be NULL, errlen bytes) then gets one
 * line naming the setting and what is wrong.
 */
GLY_EXTERN int gly_config_set(gly_config *cfg, const char *name, const char *value, char *err,
                              size_t errlen);

/*
 * Applies every GALLEY_<NAME> environment variable that names a setting
 * (GALLEY_MAX_BODY -> max-body; GALLEY_HTTP -> http). Return and err as
 * gly_config_set().
 */
GLY_EXTERN int gly_config_from_env(gly_config *cfg, char *err, size_t errlen);

/*
 * Applies flags from argv[0..argc): "--name value" or "--name=value" for
 * every setting; "--port N" sets the port of http. Stops at the first
 * argument that is not a flag, storing its index in *rest (may be NULL).
 * Return and err as gly_config_set().
 */
GLY_EXTERN int gly_config_from_args(gly_config *cfg, int argc, char **argv, int *rest, char *err,
                                    size_t errlen);

/*
 * Applies the settings of a JSON file: one object whose members are setting
 * names with string, number or boolean values ({"workers": 4, "max-body":
 * "1M", "access-log": false}). Returns 0; GLY_ENOENT for an unknown setting,
 * GLY_EINVAL for bad JSON or a bad value, or a file error (-errno); err then
 * gets one line naming the file, the line and the setting. A failure changes
 * nothing in cfg.
 */
GLY_EXTERN int gly_config_from_file(gly_config *cfg, const char *path, char *err, size_t errlen);

/*
 * Loads the settings in order of precedence onto cfg (which holds the
 * caller's defaults, e.g. from gly_config_init()): the file named by
 * --config or GALLEY_CONFIG, then GALLEY_* variables, then the flags in
 * argv[0..argc), then the cross-setting checks. Every argument must be a
 * flag. Returns 0 or a negative GLY_E* code with one line in err.
 */
GLY_EXTERN int gly_config_load(gly_config *cfg, int argc, char **argv, char *err, size_t errlen);

/*
 * Writes the effective settings as one JSON object of strings, in the form
 * the flags take ("max-body": "10M"); the output is itself a valid config
 * file. Returns 0 or the buffer's error.
 */
GLY_EXTERN int gly_config_dump(const gly_config *cfg, gly_buf *out);

/* Writes a usage text for the settings (one line each, with the defaults) to buf. */
GLY_EXTERN int gly_config_usage(gly_buf *buf);

/* ------------------------------------------------------------------------ */
/* Application                                                              */
/* ------------------------------------------------------------------------ */

typedef struct gly_app gly_app;
typedef struct gly_req gly_req;

/* A handler or middleware. Returns 0 or a negative GLY_E* code. */
typedef int (*gly_handler)(gly_req *req);

/*
 * Creates an application configured from defaults, then GALLEY_* environment
 * variables, then the flags in argv[1..argc). On a bad setting it prints one
 * line to stderr and exits with status 2; "--help" prints the usage and exits
 * 0. For embedding without exits, use gly_app_new_config().
 */
GLY_EXTERN gly_app *gly_app_new(int argc, char **argv);

/* Creates an application with a copy of *cfg. Returns NULL when out of memory. */
GLY_EXTERN gly_app *gly_app_new_config(const gly_config *cfg);

/* Frees the application. Only after gly_run() returned, or instead of it. NULL is a no-op. */
GLY_EXTERN void gly_app_free(gly_app *app);

/*
 * Attaches the service's own state (a store, a client pool) to the app;
 * handlers reach it with gly_app_data(gly_req_app(req)). Galley never touches
 * it: the caller owns it and frees it after gly_app_free(). Set it before
 * gly_run(); reading it from any worker is then safe.
 */
GLY_EXTERN void gly_app_set_data(gly_app *app, void *data);
GLY_EXTERN void *gly_app_data(const gly_app *app);

/* Returns the application's configuration; change it only before gly_run(). */
GLY_EXTERN gly_config *gly_app_config(gly_app *app);

/* Per-route options. */
typedef struct gly_route_opts {
    uint64_t max_body; /* 0: the application's max_body */
} gly_route_opts;

/*
 * Adds a route. method is a method name ("GET"); pattern as in the router:
 * static segments, ":name" params and a final "*name" rest. A GET route also
 * answers HEAD (without the body) unless HEAD has its own route; OPTIONS is
 * answered with 204 and Allow unless it has its own route; a path that
 * matches with another method answers 405 with Allow.
 *
 * Returns 0 or GLY_EINVAL, GLY_EEXIST, GLY_ENOMEM. The first failure is also
 * kept and makes gly_run() fail, so set-up code need not check each call.
 */
GLY_EXTERN int gly_route(gly_app *app, const char *method, const char *pattern, gly_handler h);
GLY_EXTERN int gly_route_ex(gly_app *app, const char *method, const char *pattern, gly_handler h,
                            const gly_route_opts *opts);

#define gly_get(app, pattern, h)    gly_route((app), "GET", (pattern), (h))
#define gly_post(app, pattern, h)   gly_route((app), "POST", (pattern), (h))
#define gly_put(app, pattern, h)    gly_route((app), "PUT", (pattern), (h))
#define gly_patch(app, pattern, h)  gly_route((app), "PATCH", (pattern), (h))
#define gly_delete(app, pattern, h) gly_route((app), "DELETE", (pattern), (h))

/*
 * Appends middleware to the chain that wraps every routed handler (and the
 * 404/405/OPTIONS answers). A middleware is a handler that calls
 * gly_next(req) where the rest of the chain should run, and may act before
 * and after it, or answer itself and not call it. Returns 0 or GLY_ENOMEM.
 */
GLY_EXTERN int gly_use_one(gly_app *app, gly_handler mw);
GLY_EXTERN int gly_use_list(gly_app *app, const gly_handler *mws);
#define gly_use(app, ...) gly_use_list((app), (const gly_handler[]){__VA_ARGS__, NULL})

/*
 * Appends middleware with a context of its own, which the middleware reads
 * with gly_mw_ctx(). ctx_free (may be NULL) is called on ctx by
 * gly_app_free(), and at once if this call fails.
 */
GLY_EXTERN int gly_use_ctx(gly_app *app, gly_handler mw, void *ctx, void (*ctx_free)(void *));

/*
 * The context of the middleware now running (the one gly_use_ctx() gave it),
 * or NULL. Valid only before the middleware calls gly_next(): read it first.
 */
GLY_EXTERN void *gly_mw_ctx(const gly_req *req);

/* Runs the rest of the chain (the next middleware, or the handler). Returns what it returned. */
GLY_EXTERN int gly_next(gly_req *req);

/*
 * Binds, starts the workers and serves until a graceful stop. Returns 0 after
 * a graceful stop, or a negative GLY_E* code when start-up failed (the reason
 * is logged): a route error, a bad address, the port in use.
 */
GLY_EXTERN int gly_run(gly_app *app);

/*
 * Starts a graceful stop, as SIGTERM does: listeners close, idle connections
 * close, in-flight requests finish (up to shutdown_timeout_ms), gly_run()
 * returns. Safe from any thread and from a handler.
 */
GLY_EXTERN void gly_app_stop(gly_app *app);

/* Returns the port the application listens on once gly_run() has bound (0 before). */
GLY_EXTERN int gly_app_port(const gly_app *app);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

/* The method (GLY_GET, ...). HEAD requests routed to a GET handler report GLY_HEAD. */
GLY_EXTERN int gly_req_method(const gly_req *req);

/* The path (raw, percent-encoded as sent) and query (without '?'; absent slice when none). */
GLY_EXTERN gly_str gly_req_path(const gly_req *req);
GLY_EXTERN gly_str gly_req_query(const gly_req *req);

/* The pattern of the matched route ("/users/:id"), or NULL when none matched. */
GLY_EXTERN const char *gly_req_route(const gly_req *req);

/* The first field with this name (case-insensitive); the absent slice when none. */
GLY_EXTERN gly_str gly_req_header(const gly_req *req, const char *name);

/* Number of request fields, and field i's name and value (i < count). */
GLY_EXTERN unsigned gly_req_header_count(const gly_req *req);
GLY_EXTERN void gly_req_header_at(const gly_req *req, unsigned i, gly_str *name, gly_str *value);

/*
 * A path parameter, percent-decoded ("%2F" stays decoded as '/'). The absent
 * slice when the route has no such param or it does not decode (bad escape,
 * a NUL byte).
 */
GLY_EXTERN gly_str gly_req_param(gly_req *req, const char *name);

/* Parses param name as a decimal int64. Returns false when absent or not a number in range. */
GLY_EXTERN bool gly_path_i64(gly_req *req, const char *name, int64_t *out);

/*
 * A query parameter, decoded ('+' is a space, %XX escapes); the first one
 * with that name. The absent slice when missing or not decodable; an empty
 * slice for "?a" and "?a=".
 */
GLY_EXTERN gly_str gly_req_query_param(gly_req *req, const char *name);

/*
 * Finds the cookie called name in one Cookie field value (RFC 6265 4.2.1:
 * "name=value" pairs separated by ';'; white space around pairs and values
 * is ignored, a value in double quotes loses them, pairs without '=' are
 * skipped, the first of two equal names counts). Returns true with *value
 * pointing into field; its shape is the caller's to check.
 */
GLY_EXTERN bool gly_cookie_find(gly_str field, const char *name, gly_str *value);

/*
 * The request's cookie called name, from any of its Cookie fields (a field
 * longer than 32 KiB is not read), or the absent slice.
 */
GLY_EXTERN gly_str gly_req_cookie(gly_req *req, const char *name);

/* The request body (dechunked), complete. Empty (not absent) when there is none. */
GLY_EXTERN gly_str gly_req_body(const gly_req *req);

/* The request id (honoured from a sane X-Request-Id or generated); generated on first call. */
GLY_EXTERN gly_str gly_req_id(gly_req *req);

/* The peer address as "ip:port" ("[ip6]:port"). */
GLY_EXTERN const char *gly_req_peer(gly_req *req);

/* The request's arena, and allocation from it (NULL when out of memory). */
GLY_EXTERN gly_arena *gly_req_arena(gly_req *req);
GLY_EXTERN void *gly_alloc(gly_req *req, size_t n);

/* The application serving the request. */
GLY_EXTERN gly_app *gly_req_app(const gly_req *req);

/*
 * Suspends the handler for ms milliseconds; the worker serves others
 * meanwhile. Returns 0, or GLY_ECANCELED when the connection was closed or a
 * stop deadline passed while waiting.
 */
GLY_EXTERN int gly_sleep(gly_req *req, uint64_t ms);

/* ------------------------------------------------------------------------ */
/* Extending the engine: waiting, workers, slots                             */
/* ------------------------------------------------------------------------ */

/*
 * Suspends the calling handler until gly_req_wake() is called for it; the
 * worker serves others meanwhile. Returns the code given to gly_req_wake(),
 * or GLY_ESTATE when not called from a handler. The connection may close
 * while the handler waits: the handler still resumes only at the wake, so
 * whatever it waits for may keep pointers into the request until then.
 */
GLY_EXTERN int gly_req_suspend(gly_req *req);

/*
 * Resumes a handler suspended by gly_req_suspend(), which returns rc. Call it
 * only on the request's worker thread: from a task given to
 * gly_worker_post(), or from a callback of that worker's loop.
 */
GLY_EXTERN void gly_req_wake(gly_req *req, int rc);

/*
 * Runs fn(arg) on the libuv thread pool and suspends the handler until it
 * returned; the worker serves others meanwhile. For blocking or CPU-heavy
 * work (password hashing, file I/O). fn must not touch the request: it runs
 * on another thread. Returns 0 once fn has run, GLY_ESTATE outside a
 * handler, or the pool's error (fn then never runs).
 */
GLY_EXTERN int gly_req_offload(gly_req *req, void (*fn)(void *arg), void *arg);

/* The index (0 .. gly_app_workers() - 1) of the worker serving req. */
GLY_EXTERN unsigned gly_req_worker(const gly_req *req);

/* The worker's libuv loop (a uv_loop_t *), for modules with handles of their own. */
GLY_EXTERN void *gly_req_loop(const gly_req *req);

/* The number of workers gly_run() starts (the workers setting, or the CPUs). */
GLY_EXTERN unsigned gly_app_workers(const gly_app *app);

/*
 * A task to run on a worker's thread. The poster owns the memory and keeps it
 * alive until fn has been called; fn is called exactly once, on the worker.
 */
typedef struct gly_task gly_task;
struct gly_task {
    void (*fn)(gly_task *task);
    gly_task *next; /* the engine's */
};

/*
 * Queues task for the worker's loop and wakes it. Safe from any thread.
 * Tasks run in the order they were posted. Returns 0, or GLY_ESTATE when the
 * worker is not running (its fn is then never called).
 */
GLY_EXTERN int gly_worker_post(gly_app *app, unsigned worker, gly_task *task);

/*
 * Hooks a module runs on each worker thread: start(app, worker, loop, ctx)
 * once the worker's loop exists and before it serves (a failure stops the
 * server); stop(app, worker, ctx) when the worker is stopping and has no
 * connection left, so that the module closes its loop handles (with close
 * callbacks; the loop runs until they are done). Either may be NULL. Add hooks
 * before gly_run(). Returns 0 or GLY_ENOMEM.
 */
typedef int (*gly_worker_start_fn)(gly_app *app, unsigned worker, void *loop, void *ctx);
typedef void (*gly_worker_stop_fn)(gly_app *app, unsigned worker, void *ctx);
GLY_EXTERN int gly_app_on_worker(gly_app *app, gly_worker_start_fn start, gly_worker_stop_fn stop,
                                 void *ctx);

/*
 * Slots for the modules built on the engine (the database, auth, ...): one
 * pointer per module on the app and on each request. An app slot's object is
 * freed by gly_app_free() with the free function given here (first, in the
 * reverse order of setting). Request slots are NULL when a request starts.
 */
enum { GLY_SLOT_DB, GLY_SLOT_AUTH, GLY_SLOT_REDIS, GLY_SLOT_RECORDS, GLY_SLOTS = 8 };
GLY_EXTERN int gly_app_set_slot(gly_app *app, unsigned slot, void *obj, void (*obj_free)(void *));
GLY_EXTERN void *gly_app_slot(const gly_app *app, unsigned slot);
GLY_EXTERN void gly_req_set_slot(gly_req *req, unsigned slot, void *p);
GLY_EXTERN void *gly_req_slot(const gly_req *req, unsigned slot);

/* ------------------------------------------------------------------------ */
/* Responses                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Adds a response field. Name and value are copied. Returns 0; GLY_EINVAL for
 * a name that is not a token or a value with CR, LF or NUL; GLY_ESTATE after
 * the response head was sent; GLY_ENOMEM. Server, Date, Content-Length,
 * Transfer-Encoding and Connection are the framework's and are refused with
 * GLY_EINVAL.
 */
GLY_EXTERN int gly_set_header(gly_req *req, const char *name, const char *value);
GLY_EXTERN int gly_set_header_str(gly_req *req, gly_str name, gly_str value);

/* As gly_set_header(), with the value formatted printf-style into the request's arena. */
GLY_EXTERN int gly_set_headerf(gly_req *req, const char *name, const char *fmt, ...)
    GLY_PRINTF(3, 4);

/*
 * As gly_set_header(), after removing every field of that name added before
 * (by middleware, say): a page can replace the Content-Security-Policy the
 * security headers set. On failure nothing changes.
 */
GLY_EXTERN int gly_replace_header(gly_req *req, const char *name, const char *value);

/*
 * Sends a complete response: status, Server, Date, Content-Type (when
 * content_type is not NULL), Content-Length, the added fields, the body. The
 * body is copied. Returns 0, or GLY_ESTATE when a response was already sent,
 * GLY_EINVAL for a status outside 200..599 or a content type with CR/LF.
 */
GLY_EXTERN int gly_send(gly_req *req, int status, const char *content_type, const void *body,
                        size_t len);

/*
 * As gly_send(), without copying: the memory of body (parts) must stay valid
 * until the response is written, i.e. be static or in the request's arena.
 */
GLY_EXTERN int gly_send_ref(gly_req *req, int status, const char *content_type, const void *body,
                            size_t len);
GLY_EXTERN int gly_send_iov(gly_req *req, int status, const char *content_type,
                            const gly_str *parts, size_t nparts);

/* Sends the buffer's content (copied unless it lives in the request's arena). */
GLY_EXTERN int gly_send_buf(gly_req *req, int status, const char *content_type, gly_buf *body);

/* Sends a text/plain body from a C string (copied). */
GLY_EXTERN int gly_send_text(gly_req *req, int status, const char *text);

/*
 * Sends an RFC 9457 problem document (application/problem+json) with type
 * "about:blank", title (the status text), status, detail, a machine code and
 * the request id. detail and code may be NULL.
 */
GLY_EXTERN int gly_problem(gly_req *req, int status, const char *code, const char *detail);

/*
 * A problem document with members of its own: begin writes the standard
 * members (as gly_problem() does) into b, a buffer in the request's arena,
 * and leaves the object open; add members with the gly_json calls on j; end
 * closes it and sends it. end returns what gly_send_buf() returned, or the
 * writer's error (the handler then fails with a 500).
 */
GLY_EXTERN int gly_problem_begin(gly_req *req, gly_json *j, gly_buf *b, int status,
                                 const char *code, const char *detail);
GLY_EXTERN int gly_problem_end(gly_req *req, gly_json *j, int status);

/*
 * Streaming (chunked) responses: begin sends the head with
 * Transfer-Encoding: chunked (for HTTP/1.0 clients: no length, the connection
 * closes at the end); write sends one chunk (len 0 is a no-op) and suspends
 * the handler while the client is slow to read; end sends the last chunk.
 * Each returns 0, GLY_ESTATE when called out of order, or GLY_ECANCELED when
 * the connection is gone.
 */
GLY_EXTERN int gly_stream_begin(gly_req *req, int status, const char *content_type);
GLY_EXTERN int gly_stream_write(gly_req *req, const void *data, size_t len);
GLY_EXTERN int gly_stream_end(gly_req *req);

/* True once a response (or a stream head) has been sent for req. */
GLY_EXTERN bool gly_resp_sent(const gly_req *req);

#ifdef __cplusplus
}
#endif
#endif
