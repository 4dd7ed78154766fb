/*
 * src/http/internal.h - the HTTP engine's private structures.
 *
 * Ownership in one picture:
 *
 *   gly_app ── workers[N] ── loop, listener, shared read buffer, output buffer,
 *                            coroutine pool, free requests, timeout lists
 *                  └── conn (one per TCP connection; small while idle)
 *                        └── gly_req (only while a request is being served)
 *
 * A worker touches only its own connections and requests; the app is
 * read-only once gly_run() has started, apart from the atomic stop flags.
 */
#ifndef GALLEY_HTTP_INTERNAL_H
#define GALLEY_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <uv.h>

#include <galley/galley.h>

#include "core/coro.h"
#include "http/parser.h"
#include "http/router.h"
#include "http/stats.h"

#define GLY_SHARED_RBUF (64 * 1024)  /* per-worker read buffer, lent to one read at a time */
#define GLY_OUT_INITIAL (64 * 1024)  /* per-worker output buffer */
#define GLY_OUT_FLUSH   (256 * 1024) /* flush a pipelined batch early past this */
#define GLY_MAX_SEGS    32           /* output segments (copied runs and references) per flush */
#define GLY_COPY_BELOW  2048         /* referenced bodies smaller than this are copied */
#define GLY_LINGER_MS   2000         /* reading after our FIN before a hard close */
#define GLY_TICK_MS     250          /* timeout sweep and Date refresh */

struct out_seg {
    const char *p; /* referenced memory, or NULL for out[off..off+n) */
    size_t off, n;
};

struct mw {
    gly_handler fn;
    void *ctx;
    void (*ctx_free)(void *);
};

struct route {
    gly_handler handler;
    int method;    /* a gly_method */
    unsigned slot; /* metrics slot: 1 + its index */
    uint64_t max_body;
    const char *pattern; /* owned by the router */
    /*
     * Documentation (gly_route_doc(), src/obs/openapi.c): strings in one
     * block, doc_mem, freed by gly__openapi_free(). The schema pointers will
     * hold the gly_schema of the body and of the 200 answer once
     * galley/validate.h lands; NULL until then.
     */
    void *doc_mem;
    const char *summary, *description, *operation_id;
    const char *const *tags; /* NULL-terminated, or NULL */
    bool deprecated;
    const gly_schema *req_schema, *resp_schema;
    int ok_status;
};

struct gly_app {
    gly_config cfg;
    struct gly_router *router;
    struct mw *mw;
    unsigned nmw, mw_cap;
    struct route **routes; /* every route object, for freeing */
    unsigned nroutes, routes_cap;
    int setup_err;
    char setup_msg[256];
    void *data; /* the service's, see gly_app_set_data() */
    void *slots[GLY_SLOTS];
    void (*slot_free[GLY_SLOTS])(void *);
    unsigned slot_order[GLY_SLOTS], nslot_order; /* set order, for freeing in reverse */
    struct worker_hook *hooks;
    unsigned nhooks;

    /* metrics: status slots, readiness checks, start time */
    uint8_t status_slot[600];
    uint16_t slot_status[GLY_STATUS_SLOTS];
    unsigned known_slots;
    struct health_check *checks;
    unsigned nchecks;
    struct metrics_ext {
        gly_metrics_fn fn;
        void *ctx;
    } * mext;
    unsigned nmext;
    double start_time; /* unix seconds */
    /* gly_openapi_info(); NULL: the default */
    char *oa_title, *oa_version, *oa_description;
    gly_openapi_part oa_parts[4]; /* gly_openapi_extend() */
    unsigned noa_parts;

    struct worker *workers;
    unsigned nworkers;
    atomic_int port;
    atomic_bool stop_requested;
    uv_async_t *main_async; /* wakes gly_run()'s loop for gly_app_stop(); NULL when not running */
    uv_mutex_t stop_lock;   /* guards main_async against gly_run() returning */
};

/* Timeout lists: each connection is in at most one; each list is sorted by deadline. */
enum { TL_NONE = -1, TL_HEAD, TL_BODY, TL_IDLE, TL_WRITE, TL_LINGER, TL_COUNT };

struct tlist {
    struct conn *head, *tail;
};

struct worker {
    gly_app *app;
    unsigned id;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_os_sock_t listen_fd;
    uv_async_t async;
    uv_timer_t tick;
    uv_check_t check;
    atomic_bool stop;  /* graceful stop asked */
    atomic_bool force; /* stop deadline passed: close everything */
    bool stopping;     /* this worker has acted on stop */
    bool loop_ok;      /* loop initialized */
    bool listening;

    char *rbuf;       /* shared read buffer (GLY_SHARED_RBUF), NULL while lent */
    char *spare_rbuf; /* one spare, to replace a buffer a connection took */
    /*
     * Output of the current run (one connection's batch of responses): bytes
     * in out, interleaved with referenced memory (segs), written by
     * gly__conn_flush() at the end of the run.
     */
    gly_buf out;
    struct out_seg segs[GLY_MAX_SEGS];
    unsigned nsegs;
    size_t seg_from; /* start in out of the bytes not yet in a segment */
    uv_buf_t iov[GLY_MAX_SEGS + 1];

    gly_coro_pool *coros;
    struct gly_req *free_reqs;
    unsigned nfree_reqs;
    struct gly_http_limits limits;

    struct tlist tl[TL_COUNT];
    unsigned timeouts[TL_COUNT];
    struct gly_stats stats;
    struct conn *conns; /* all connections */
    unsigned nconns;

    /* gly_worker_post(): tasks from other threads, run by on_worker_async() */
    uv_mutex_t post_lock;
    gly_task *post_head, *post_tail;
    bool post_open;   /* the loop runs and takes tasks */
    bool hooks_ended; /* the stop hooks ran */
    bool lock_ok;

    char reqid_prefix[12];
    uint64_t reqid_next;
};

enum conn_state {
    CS_HEAD,    /* waiting for (the rest of) a request head */
    CS_BODY,    /* head parsed, body still arriving */
    CS_HANDLER, /* a handler runs (suspended) for the current request */
    CS_CLOSING  /* no more requests; closes once the output drains */
};

struct conn {
    uv_tcp_t tcp;
    struct worker *w;
    struct conn *prev, *next;   /* worker's list of all connections */
    struct conn *tprev, *tnext; /* timeout list */
    uint64_t deadline;
    int tl;
    enum conn_state state;

    /* Input. When buf is NULL the connection holds no bytes. */
    char *buf;
    size_t cap, len, off; /* data is buf[off..len) */
    size_t last_len;      /* parser hint: bytes already scanned for the head's end */
    size_t head_len;      /* in CS_BODY: the head's length at off */
    uint64_t body_len;    /* in CS_BODY with a length: the body's length */
    bool chunked;
    struct gly_http_chunked chunk;
    size_t chunk_dec; /* decoded body bytes at off + head_len */
    size_t chunk_raw; /* raw bytes consumed after off + head_len */
    uint64_t max_body;
    bool moved; /* bytes moved since the head was parsed: parse it again */
    bool continue_sent;

    struct gly_req *req; /* request in CS_BODY / CS_HANDLER */

    /* Output: in flight (owned by uv_write) and queued behind it. */
    uv_write_t wreq;
    char *wbuf;
    size_t wlen;
    gly_buf queued;
    bool writing;

    bool reading;
    bool eof;         /* peer closed its side or the connection failed */
    bool closed;      /* uv_close called */
    bool handle_gone; /* its close callback ran */
    bool shut;        /* uv_shutdown called */
    bool keep_alive;  /* of the response being made */
    uv_shutdown_t sreq;
    char peer[56];
};

enum req_kind { RK_ROUTE, RK_NOT_FOUND, RK_NOT_ALLOWED, RK_OPTIONS, RK_OPTIONS_STAR };

struct resp_header {
    gly_str name, value;
    struct resp_header *next;
};

struct gly_req {
    struct conn *conn;
    struct worker *w;
    gly_app *app;
    gly_arena arena;
    struct gly_http_head head;
    gly_str body;
    size_t msg_len; /* head plus raw body bytes at conn->off */

    enum req_kind kind;
    int method; /* effective method (HEAD stays HEAD) */
    const struct route *route;
    const char *pattern;
    unsigned allow; /* methods of the path, for 405 / OPTIONS */
    struct gly_router_params params;
    unsigned mw_pos;

    gly_coro *co;
    uv_timer_t timer; /* gly_sleep; initialized once per pooled request */
    int wait_rc;
    bool sleeping;
    bool waiting_write;
    bool suspended; /* in gly_req_suspend() */
    void *slots[GLY_SLOTS];

    /* Response. */
    int status;
    bool sent;
    bool streaming, stream_ended;
    bool head_only;
    bool has_ref; /* the output references memory of this request */
    struct resp_header *hdrs, **hdrs_tail;
    uint64_t bytes_out;
    uint64_t t0; /* gly_now_ns() when the head was complete */
    gly_str id;
    char id_buf[32];

    struct gly_req *next_free;
};

struct worker_hook {
    gly_worker_start_fn start;
    gly_worker_stop_fn stop;
    void *ctx;
};

struct health_check {
    char *name;
    gly_health_fn fn;
    void *ctx;
};

/* stats.c */
void gly__status_slots_init(gly_app *app);

/* obs (metrics.c, health.c): the built-in routes */
int gly__metrics_route(gly_req *req);
int gly__health_ready(gly_req *req);
bool gly__app_stopping(const gly_app *app);
void gly__health_free(gly_app *app);

/* obs (openapi.c, docs.c): GET /openapi.json, GET /docs and its assets */
int gly__openapi_route(gly_req *req);
int gly__docs_page(gly_req *req);
int gly__docs_asset(gly_req *req);
void gly__openapi_system_docs(gly_app *app); /* tags the built-in routes "system" */
void gly__openapi_free(gly_app *app);        /* route docs and info */

/* An embedded file of the /docs page (generated docs_assets.c, scripts/embed.py). */
struct gly__asset {
    const char *name;         /* "swagger-ui.css" */
    const char *content_type; /* "text/css; charset=utf-8" */
    const char *etag;         /* "\"<hash of the bytes>\"", a strong validator */
    const unsigned char *data;
    size_t len;
};
const struct gly__asset *gly__docs_asset_find(gly_str name); /* NULL: none */

/* server.c */
void gly__out_append(struct worker *w, const void *p, size_t n);
int gly__out_ref(struct worker *w, const void *p, size_t n);
int gly__conn_flush(struct conn *c);
int gly__wait_write(struct gly_req *req);
void gly__req_resume(struct gly_req *req);
void gly__conn_request_done(struct conn *c);

/* request.c */
struct gly_req *gly__req_get(struct worker *w);
void gly__req_put(struct worker *w, struct gly_req *req);
void gly__req_dispatch_prepare(struct gly_req *req);
void gly__req_run(void *arg); /* coroutine body */
void gly__req_access_log(struct gly_req *req);
void gly__req_pool_free(struct worker *w);
const char *gly__conn_peer(struct conn *c);
void gly__access_log(struct worker *w, const char *peer, gly_str method, gly_str path, int status,
                     uint64_t bytes, uint64_t dur_ns, gly_str id, const char *error);

/* response.c */
int gly__resp_simple(struct worker *w, struct conn *c, struct gly_req *req, int status,
                     const char *why);
void gly__resp_finish_default(struct gly_req *req, int rc);

#endif
