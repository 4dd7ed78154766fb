/*
 * src/http/server.c - workers, listeners and the HTTP/1.1 connection.
 *
 * gly_run() binds one SO_REUSEPORT socket per worker in the calling thread
 * (so a bind error is reported before anything starts), then starts the
 * workers. Each worker runs its own libuv loop; the kernel spreads new
 * connections over the listeners, and a connection stays with the worker
 * that accepted it. The calling thread waits for SIGTERM/SIGINT or
 * gly_app_stop() and then conducts the graceful stop.
 *
 * Reading. An idle connection owns no buffer. A read lands in the worker's
 * shared 64 KiB buffer; the requests in it are parsed and served right
 * there, zero-copy. Bytes left over (a partial request) are copied into a
 * buffer of the connection's own. When a handler suspends while its request
 * still lives in the shared buffer, the connection takes that buffer and
 * the worker takes a spare, so nothing is copied either.
 *
 * Writing. The responses of one run (all requests of one read, pipelined or
 * not) are gathered in the worker's output buffer and written with one
 * writev at the end of the run. Only what the socket does not take at once
 * is copied into the connection's pending buffer; until it drains, the
 * connection neither reads nor parses (back-pressure).
 *
 * Timeouts. Every timeout kind has one list per worker, in deadline order
 * because each kind has a fixed duration; a tick every 250 ms expires the
 * heads. Moving a connection between lists is O(1).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/config.h"
#include "http/internal.h"

static void conn_process(struct conn *c);
static void conn_finish_run(struct conn *c);
static void conn_close(struct conn *c);
static void conn_end(struct conn *c);
static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);
static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void worker_check_done(struct worker *w);

/* ------------------------------------------------------------------------ */
/* Timeout lists                                                            */
/* ------------------------------------------------------------------------ */

static void tl_unlink(struct conn *c)
{
    if (c->tl == TL_NONE)
        return;
    struct tlist *l = &c->w->tl[c->tl];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        l->head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        l->tail = c->tprev;
    c->tprev = c->tnext = NULL;
    c->tl = TL_NONE;
}

/* Puts c on list which with a fresh deadline (TL_NONE: on none). */
static void tl_set(struct conn *c, int which)
{
    tl_unlink(c);
    if (which == TL_NONE)
        return;
    struct worker *w = c->w;
    struct tlist *l = &w->tl[which];
    c->deadline = uv_now(&w->loop) + w->timeouts[which];
    c->tl = which;
    c->tprev = l->tail;
    c->tnext = NULL;
    if (l->tail)
        l->tail->tnext = c;
    else
        l->head = c;
    l->tail = c;
}

/* Like tl_set, but keeps the running deadline when c is already on that list. */
static void tl_keep(struct conn *c, int which)
{
    if (c->tl != which)
        tl_set(c, which);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                   */
/* ------------------------------------------------------------------------ */

void gly__out_append(struct worker *w, const void *p, size_t n)
{
    gly_buf_append(&w->out, p, n);
}

/* Closes the run of copied bytes in out as a segment. */
static void out_cut(struct worker *w)
{
    if (w->out.len > w->seg_from) {
        w->segs[w->nsegs++] = (struct out_seg){NULL, w->seg_from, w->out.len - w->seg_from};
        w->seg_from = w->out.len;
    }
}

int gly__out_ref(struct worker *w, const void *p, size_t n)
{
    if (n < GLY_COPY_BELOW || w->nsegs + 2 > GLY_MAX_SEGS) {
        gly_buf_append(&w->out, p, n);
        return 0;
    }
    out_cut(w);
    w->segs[w->nsegs++] = (struct out_seg){p, 0, n};
    return 1;
}

static void out_reset(struct worker *w)
{
    w->nsegs = 0;
    w->seg_from = 0;
    gly_buf_clear(&w->out);
    if (w->out.cap > 4 * GLY_OUT_INITIAL) {
        /* one huge response must not pin megabytes for the worker's life */
        gly_buf_dispose(&w->out);
        gly_buf_init(&w->out, NULL, 0, NULL, 0);
    }
}

static void on_write(uv_write_t *wr, int status);

static int conn_write_start(struct conn *c)
{
    uv_buf_t b = uv_buf_init(c->wbuf, (unsigned)c->wlen);
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(c->wbuf);
        c->wbuf = NULL;
        c->wlen = 0;
        return rc;
    }
    c->writing = true;
    tl_set(c, TL_WRITE);
    return 0;
}

/*
 * Writes what the run produced for c: one writev; the part the socket does
 * not take is copied and handed to uv_write. Output for a connection that
 * is gone is dropped.
 */
int gly__conn_flush(struct conn *c)
{
    struct worker *w = c->w;
    out_cut(w);
    if (w->nsegs == 0)
        goto done;
    if (gly_buf_err(&w->out)) {
        gly_log_error("response dropped: %s", gly_strerror(gly_buf_err(&w->out)));
        c->eof = true;
        goto done;
    }
    if (c->eof || c->closed)
        goto done;

    size_t total = 0;
    for (unsigned i = 0; i < w->nsegs; i++) {
        struct out_seg *s = &w->segs[i];
        w->iov[i] = uv_buf_init((char *)(s->p ? s->p : w->out.p + s->off), (unsigned)s->n);
        total += s->n;
    }

    gly__count(&w->stats.bytes_out, total);
    size_t sent = 0;
    if (!c->writing) {
        int n = uv_try_write((uv_stream_t *)&c->tcp, w->iov, w->nsegs);
        if (n >= 0)
            sent = (size_t)n;
        else if (n != UV_EAGAIN) {
            c->eof = true;
            goto done;
        }
    }
    if (sent == total)
        goto done;

    /* Keep the rest: behind the write in flight, or as a new write. */
    gly_buf *dst = &c->queued;
    for (unsigned i = 0; i < w->nsegs; i++) {
        size_t n = w->iov[i].len;
        if (sent >= n) {
            sent -= n;
            continue;
        }
        gly_buf_append(dst, w->iov[i].base + sent, n - sent);
        sent = 0;
    }
    if (gly_buf_err(dst)) {
        c->eof = true;
        goto done;
    }
    if (!c->writing) {
        c->wbuf = dst->p; /* take the queued bytes as the write in flight */
        c->wlen = dst->len;
        gly_buf_init(&c->queued, NULL, 0, NULL, 0);
        if (conn_write_start(c) < 0)
            c->eof = true;
    }
done:
    out_reset(w);
    return c->eof ? GLY_ECANCELED : 0;
}

static void on_write(uv_write_t *wr, int status)
{
    struct conn *c = wr->data;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wlen = 0;
    c->writing = false;
    if (status < 0) {
        c->eof = true;
    } else if (c->queued.len > 0 && !c->closed) {
        c->wbuf = c->queued.p;
        c->wlen = c->queued.len;
        gly_buf_init(&c->queued, NULL, 0, NULL, 0);
        if (conn_write_start(c) == 0)
            return;
        c->eof = true;
    }
    if (!c->closed)
        tl_set(c, TL_NONE); /* the write timeout ends with the write */
    struct gly_req *req = c->req;
    if (c->state == CS_HANDLER && req->waiting_write) {
        req->waiting_write = false;
        req->wait_rc = c->eof ? GLY_ECANCELED : 0;
        gly__req_resume(req);
        return;
    }
    if (c->closed || c->state == CS_HANDLER)
        return; /* a sleeping handler finishes the run when it wakes */
    conn_process(c);
    conn_finish_run(c);
}

/* Suspends the request's handler until the connection's output drained. */
int gly__wait_write(struct gly_req *req)
{
    struct conn *c = req->conn;
    if (c->eof)
        return GLY_ECANCELED;
    if (!c->writing)
        return 0;
    req->waiting_write = true;
    gly__coro_yield();
    return req->wait_rc;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

/* Gives up a buffer the connection no longer needs. */
static void conn_drop_buf(struct conn *c)
{
    struct worker *w = c->w;
    if (c->cap == GLY_SHARED_RBUF && !w->spare_rbuf)
        w->spare_rbuf = c->buf;
    else
        free(c->buf);
    c->buf = NULL;
    c->cap = c->len = c->off = 0;
}

static void conn_free(struct conn *c)
{
    struct worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    gly__count(&w->stats.conns, (uint64_t)-1);
    if (c->buf)
        conn_drop_buf(c);
    free(c->wbuf);
    gly_buf_dispose(&c->queued);
    free(c);
    worker_check_done(w);
}

static void on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->handle_gone = true;
    if (c->state != CS_HANDLER)
        conn_free(c);
    /* else the handler still runs; gly__req_resume() frees c when it returns */
}

static void on_sleep(uv_timer_t *t)
{
    struct gly_req *req = t->data;
    req->sleeping = false;
    gly__req_resume(req);
}

/*
 * Closes at once. A handler suspended on the connection is woken with
 * GLY_ECANCELED (a pending write is cancelled by the close itself); the
 * connection's memory stays until both the handle and the handler are done.
 */
static void conn_close(struct conn *c)
{
    c->eof = true;
    if (c->closed)
        return;
    c->closed = true;
    tl_unlink(c);
    if (c->state == CS_HANDLER) {
        struct gly_req *req = c->req;
        if (req->sleeping) {
            req->wait_rc = GLY_ECANCELED;
            uv_timer_start(&req->timer, on_sleep, 0, 0);
        }
    } else if (c->req) {
        gly__req_put(c->w, c->req);
        c->req = NULL;
    }
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

int gly_sleep(gly_req *req, uint64_t ms)
{
    struct conn *c = req->conn;
    if (!c || c->eof)
        return GLY_ECANCELED;
    if (!gly__coro_current())
        return GLY_ESTATE;
    req->wait_rc = 0;
    req->sleeping = true;
    uv_timer_start(&req->timer, on_sleep, ms, 0);
    gly__coro_yield();
    return req->wait_rc;
}

int gly_req_suspend(gly_req *req)
{
    if (!gly__coro_current() || req->suspended)
        return GLY_ESTATE;
    req->wait_rc = 0;
    req->suspended = true;
    gly__coro_yield();
    return req->wait_rc;
}

void gly_req_wake(gly_req *req, int rc)
{
    assert(req->suspended);
    req->suspended = false;
    req->wait_rc = rc;
    gly__req_resume(req);
}

struct offload {
    uv_work_t work;
    void (*fn)(void *);
    void *arg;
    struct gly_req *req;
};

static void offload_run(uv_work_t *w)
{
    struct offload *o = w->data;
    o->fn(o->arg);
}

static void offload_done(uv_work_t *w, int status)
{
    struct offload *o = w->data;
    gly_req_wake(o->req, status < 0 ? status : 0);
}

int gly_req_offload(gly_req *req, void (*fn)(void *arg), void *arg)
{
    if (!gly__coro_current())
        return GLY_ESTATE;
    /* on the handler's stack: it stays suspended until offload_done */
    struct offload o = {.fn = fn, .arg = arg, .req = req};
    o.work.data = &o;
    int rc = uv_queue_work(&req->w->loop, &o.work, offload_run, offload_done);
    if (rc < 0)
        return rc;
    return gly_req_suspend(req);
}

unsigned gly_req_worker(const gly_req *req)
{
    return req->w->id;
}

void *gly_req_loop(const gly_req *req)
{
    return &req->w->loop;
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
    struct conn *c = sr->data;
    if (status < 0)
        conn_close(c);
}

/*
 * Ends the connection politely once its output is written: FIN, then read
 * and drop what the peer still sends, for up to GLY_LINGER_MS, so that our
 * last response is not destroyed by a reset (a close with unread input).
 */
static void conn_end(struct conn *c)
{
    c->state = CS_CLOSING;
    if (c->closed || c->writing)
        return;
    if (c->eof || c->shut) {
        if (c->eof)
            conn_close(c);
        return;
    }
    c->shut = true;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    tl_set(c, TL_LINGER);
    if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) == 0)
        c->reading = true; /* to see the peer's FIN */
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    struct conn *c = h->data;
    struct worker *w = c->w;
    (void)suggested;
    if (c->state == CS_CLOSING || (!c->buf && c->state == CS_HEAD)) {
        /* nothing buffered: borrow the worker's buffer */
        if (!w->rbuf) {
            w->rbuf = w->spare_rbuf ? w->spare_rbuf : malloc(GLY_SHARED_RBUF);
            w->spare_rbuf = NULL;
        }
        *out = uv_buf_init(w->rbuf, w->rbuf ? GLY_SHARED_RBUF : 0);
        return;
    }
    /* the connection's own buffer: make room at its end */
    if (c->off > 0 && c->state == CS_HEAD) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
        c->moved = true;
    }
    size_t want = 4096;
    if (c->state == CS_BODY && !c->chunked) {
        uint64_t end = c->off + c->head_len + c->body_len;
        if (end > c->len && end - c->len > want)
            want = (size_t)(end - c->len);
    }
    if (c->cap - c->len < want) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->len < want)
            cap *= 2;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            *out = uv_buf_init(NULL, 0);
            return;
        }
        if (nb != c->buf)
            c->moved = true;
        c->buf = nb;
        c->cap = cap;
    }
    *out = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    struct worker *w = c->w;
    bool lent = b->base && b->base == w->rbuf && c->buf != w->rbuf;

    if (nread < 0) {
        c->eof = true;
        if (c->state == CS_HANDLER)
            uv_read_stop(s);
        else
            conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    gly__count(&w->stats.bytes_in, (uint64_t)nread);
    if (c->state == CS_CLOSING)
        return; /* lingering: drop */

    if (lent) {
        c->buf = w->rbuf;
        c->cap = GLY_SHARED_RBUF;
        c->len = (size_t)nread;
        c->off = 0;
        w->rbuf = NULL;
    } else {
        c->len += (size_t)nread;
    }
    if (c->state == CS_BODY)
        tl_set(c, TL_BODY); /* the body timeout counts from the last byte */
    conn_process(c);

    if (lent && c->buf == b->base) {
        /* the buffer goes back to the worker unless a suspended handler holds it */
        if (c->state == CS_HANDLER) {
            w->rbuf = w->spare_rbuf;
            w->spare_rbuf = NULL;
        } else {
            size_t left = c->len - c->off;
            char *own = NULL;
            if (left > 0 && !c->closed) {
                size_t cap = 4096;
                while (cap < left + 1024)
                    cap *= 2;
                own = malloc(cap);
                if (own) {
                    memcpy(own, c->buf + c->off, left);
                    c->moved = true;
                } else {
                    c->eof = true;
                }
                c->cap = cap;
            }
            w->rbuf = c->buf;
            c->buf = own;
            c->len = own ? left : 0;
            c->off = 0;
            if (!own)
                c->cap = 0;
        }
    }
    conn_finish_run(c);
}

/*
 * After a run: write the output, and decide whether to read on. Idle
 * connections give their buffer back.
 */
static void conn_finish_run(struct conn *c)
{
    struct worker *w = c->w;
    gly__conn_flush(c);
    if (c->closed) {
        if (c->handle_gone && c->state != CS_HANDLER)
            conn_free(c);
        return;
    }
    if (c->eof && c->state != CS_HANDLER) {
        if (c->state == CS_CLOSING && c->writing)
            return;
        conn_close(c);
        return;
    }
    if (c->state == CS_CLOSING) {
        conn_end(c);
        return;
    }
    if (c->state == CS_HEAD && c->buf && c->off == c->len)
        conn_drop_buf(c);
    if (c->state == CS_HEAD && !c->buf && !c->writing && w->stopping) {
        conn_close(c);
        return;
    }
    bool want_read = (c->state == CS_HEAD || c->state == CS_BODY) && !c->writing;
    if (want_read && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) == 0)
            c->reading = true;
    } else if (!want_read && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    if (c->state == CS_HEAD && !c->writing)
        tl_keep(c, c->buf ? TL_HEAD : TL_IDLE);
}

/*
 * Answers an error the engine detects itself, then ends the connection. The
 * request in c->req, if any, names the method, path and id in the answer as
 * long as its slices still point at the bytes (nothing moved since the parse).
 */
static void conn_fail(struct conn *c, int status, const char *why)
{
    struct gly_req *req = c->req;
    gly__resp_simple(c->w, c, req && !c->moved ? req : NULL, status, why);
    if (req) {
        gly__req_put(c->w, req);
        c->req = NULL;
    }
    c->state = CS_CLOSING;
}

/*
 * Called when the request in c->req has its response: logs it, releases it
 * and makes the connection ready for the next request.
 */
void gly__conn_request_done(struct conn *c)
{
    struct worker *w = c->w;
    struct gly_req *req = c->req;
    gly__req_access_log(req);
    gly__count(&w->stats.in_flight, (uint64_t)-1);
    gly__stats_request(w->app, &w->stats, req->route ? req->route->slot : 0, req->method,
                       req->status, gly_now_ns() - req->t0);
    if (req->has_ref)
        gly__conn_flush(c); /* the output points into the request's arena */
    c->off += req->msg_len;
    c->req = NULL;
    gly__req_put(w, req);
    c->moved = false;
    c->continue_sent = false;
    c->state = c->keep_alive && !c->eof ? CS_HEAD : CS_CLOSING;
}

static void conn_dispatch(struct conn *c, struct gly_req *req, gly_str body, size_t msg_len)
{
    struct worker *w = c->w;
    req->body = body;
    req->msg_len = msg_len;
    req->conn = c;
    c->req = req;
    c->state = CS_HANDLER;
    tl_set(c, TL_NONE);
    gly__count(&w->stats.in_flight, 1);
    req->co = gly__coro_new(w->coros, gly__req_run, req);
    if (!req->co) {
        gly__count(&w->stats.in_flight, (uint64_t)-1);
        c->state = CS_HEAD;
        conn_fail(c, 503, "out of memory");
        return;
    }
    if (gly__coro_resume(req->co))
        return; /* suspended: resumed from a callback later */
    gly__conn_request_done(c);
}

/* Feeds buffered chunked bytes to the decoder. Returns 1 complete, 0 more, -1 failed. */
static int conn_dechunk(struct conn *c)
{
    struct worker *w = c->w;
    char *body = c->buf + c->off + c->head_len;
    size_t src_len = c->len - (c->off + c->head_len + c->chunk_raw);
    size_t dst_len = 0;
    int status = 400;
    const char *why = "bad chunked body";
    int r = gly_http_chunked_decode(&c->chunk, body + c->chunk_dec, &dst_len, body + c->chunk_raw,
                                    &src_len, c->max_body, &w->limits, &status, &why);
    if (r == GLY_HTTP_ERROR) {
        conn_fail(c, status, why);
        return -1;
    }
    c->chunk_dec += dst_len;
    c->chunk_raw += src_len;
    return r;
}

/* Parses and serves the requests buffered on c, in order, until one suspends. */
static void conn_process(struct conn *c)
{
    struct worker *w = c->w;
    while (!c->closed && !c->eof && !c->writing && (c->state == CS_HEAD || c->state == CS_BODY)) {
        if (w->out.len > GLY_OUT_FLUSH) {
            gly__conn_flush(c);
            continue;
        }
        size_t avail = c->len - c->off;
        if (c->state == CS_HEAD) {
            if (avail == 0)
                break;
            struct gly_req *req = gly__req_get(w);
            if (!req) {
                conn_fail(c, 503, "out of memory");
                break;
            }
            int status = 400;
            const char *why = "bad request";
            int r = gly_http_parse_head(c->buf + c->off, avail, c->last_len, &w->limits, &req->head,
                                        &status, &why);
            if (r == GLY_HTTP_INCOMPLETE) {
                gly__req_put(w, req);
                c->last_len = avail;
                tl_keep(c, TL_HEAD);
                break;
            }
            c->last_len = 0;
            if (r == GLY_HTTP_ERROR) {
                gly__req_put(w, req);
                conn_fail(c, status, why);
                break;
            }
            req->conn = c;
            req->t0 = gly_now_ns();
            gly__req_dispatch_prepare(req);
            if (req->head.method_id == GLY_CONNECT) {
                c->req = req;
                conn_fail(c, 501, "CONNECT is not implemented");
                break;
            }
            c->head_len = (size_t)r;
            c->chunked = req->head.flags & GLY_HTTP_CHUNKED;
            c->body_len = req->head.flags & GLY_HTTP_HAS_LENGTH ? req->head.content_length : 0;
            c->max_body =
                req->route && req->route->max_body ? req->route->max_body : w->app->cfg.max_body;
            c->req = req;
            if (!c->chunked && c->body_len > c->max_body) {
                conn_fail(c, 413, "request body too large");
                break;
            }
            if (c->chunked) {
                gly_http_chunked_init(&c->chunk);
                c->chunk_dec = c->chunk_raw = 0;
            }
            c->state = CS_BODY;
            c->moved = false;
            continue;
        }

        /* CS_BODY: is the whole message here? */
        bool complete;
        if (c->chunked) {
            int r = conn_dechunk(c);
            if (r < 0)
                break;
            complete = r == 1;
        } else {
            complete = avail - c->head_len >= c->body_len;
        }
        if (!complete) {
            struct gly_req *req = c->req;
            if ((req->head.flags & GLY_HTTP_EXPECT_CONTINUE) && !c->continue_sent) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                gly__out_append(w, cont, sizeof cont - 1);
                c->continue_sent = true;
            }
            tl_keep(c, TL_BODY);
            break;
        }
        struct gly_req *req = c->req;
        if (c->moved) {
            /* the bytes moved since the head was parsed: slices must point at them again */
            int status;
            const char *why;
            int r = gly_http_parse_head(c->buf + c->off, c->head_len, 0, &w->limits, &req->head,
                                        &status, &why);
            (void)r;
            assert(r == (int)c->head_len);
            gly__req_dispatch_prepare(req);
        }
        c->req = NULL;
        char *body = c->buf + c->off + c->head_len;
        if (c->chunked)
            conn_dispatch(c, req, (gly_str){body, c->chunk_dec}, c->head_len + c->chunk_raw);
        else
            conn_dispatch(c, req, (gly_str){body, (size_t)c->body_len},
                          c->head_len + (size_t)c->body_len);
    }
}

/* Resumes a suspended handler from a callback (timer, write done). */
void gly__req_resume(struct gly_req *req)
{
    struct conn *c = req->conn;
    if (gly__coro_resume(req->co) == 0) {
        gly__conn_request_done(c);
        conn_process(c);
    }
    conn_finish_run(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct worker *w = server->data;
    if (status < 0) {
        gly_log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->w = w;
    c->tl = TL_NONE;
    c->state = CS_HEAD;
    gly_buf_init(&c->queued, NULL, 0, NULL, 0);
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->wreq.data = c;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    gly__count(&w->stats.conns, 1);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0) {
        conn_close(c);
        return;
    }
    c->reading = true;
    tl_set(c, TL_HEAD);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */
/* ------------------------------------------------------------------------ */

static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    gly_date_refresh();
    uint64_t now = uv_now(&w->loop);
    for (int which = 0; which < TL_COUNT; which++) {
        struct conn *c;
        while ((c = w->tl[which].head) && c->deadline <= now) {
            tl_unlink(c);
            switch (which) {
            case TL_HEAD:
                if (c->buf && c->len > c->off) {
                    conn_fail(c, 408, "timed out reading the request head");
                    conn_finish_run(c);
                } else {
                    conn_close(c);
                }
                break;
            case TL_BODY:
                conn_fail(c, 408, "timed out reading the request body");
                conn_finish_run(c);
                break;
            default: /* idle, write, linger */
                conn_close(c);
                break;
            }
        }
    }
}

static void on_check(uv_check_t *h)
{
    (void)h;
    gly_log_flush();
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Runs the modules' stop hooks once: they close their own handles with callbacks. */
static void worker_end_hooks(struct worker *w)
{
    if (w->hooks_ended)
        return;
    w->hooks_ended = true;
    gly_app *app = w->app;
    for (unsigned i = app->nhooks; i-- > 0;)
        if (app->hooks[i].stop)
            app->hooks[i].stop(app, w->id, app->hooks[i].ctx);
}

static void worker_check_done(struct worker *w)
{
    if (!w->stopping || w->nconns > 0)
        return;
    worker_end_hooks(w);
    /* the loop ends once every handle is closed */
    uv_walk(&w->loop, close_walk, NULL);
}

static unsigned worker_count(const gly_config *cfg);

int gly_worker_post(gly_app *app, unsigned worker, gly_task *task)
{
    if (!app->workers || worker >= app->nworkers)
        return GLY_ESTATE;
    struct worker *w = &app->workers[worker];
    uv_mutex_lock(&w->post_lock);
    if (!w->post_open) {
        uv_mutex_unlock(&w->post_lock);
        return GLY_ESTATE;
    }
    task->next = NULL;
    if (w->post_tail)
        w->post_tail->next = task;
    else
        w->post_head = task;
    w->post_tail = task;
    uv_mutex_unlock(&w->post_lock);
    uv_async_send(&w->async);
    return 0;
}

/* Runs the tasks other threads posted, in order. */
static void worker_run_posted(struct worker *w)
{
    uv_mutex_lock(&w->post_lock);
    gly_task *t = w->post_head;
    w->post_head = w->post_tail = NULL;
    uv_mutex_unlock(&w->post_lock);
    while (t) {
        gly_task *next = t->next; /* fn may free or reuse t */
        t->fn(t);
        t = next;
    }
}

unsigned gly_app_workers(const gly_app *app)
{
    return app->nworkers ? app->nworkers : worker_count(&app->cfg);
}

static void on_worker_async(uv_async_t *a)
{
    struct worker *w = a->data;
    worker_run_posted(w);
    if (!atomic_load(&w->stop))
        return;
    if (!w->stopping) {
        w->stopping = true;
        if (w->listening) {
            uv_close((uv_handle_t *)&w->listener, NULL);
            w->listening = false;
        }
        /* idle connections go now; busy ones after their response */
        struct conn *c = w->conns, *next;
        for (; c; c = next) {
            next = c->next;
            if (c->state == CS_HEAD && !c->writing && (!c->buf || c->len == c->off))
                conn_close(c);
        }
    }
    if (atomic_load(&w->force)) {
        struct conn *c = w->conns, *next;
        for (; c; c = next) {
            next = c->next;
            conn_close(c);
        }
    }
    worker_check_done(w);
}

static void worker_main(void *arg)
{
    struct worker *w = arg;
    gly_app *app = w->app;
    gly_log_thread_begin(64 * 1024);
    gly_date_refresh();
    int rc = 0;
    for (unsigned i = 0; i < app->nhooks && rc == 0; i++)
        if (app->hooks[i].start)
            rc = app->hooks[i].start(app, w->id, &w->loop, app->hooks[i].ctx);
    if (rc < 0) {
        gly_log_error("worker %u: start failed: %s", w->id, gly_strerror(rc));
        gly_app_stop(app);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_mutex_lock(&w->post_lock);
    w->post_open = false;
    uv_mutex_unlock(&w->post_lock);
    worker_run_posted(w); /* none are expected: posters wait on requests that have ended */
    gly_log_thread_end();
}

static int worker_init(struct worker *w, gly_app *app, unsigned id, uv_os_sock_t fd)
{
    const gly_config *cfg = &app->cfg;
    w->app = app;
    w->id = id;
    w->listen_fd = fd;
    if (uv_mutex_init(&w->post_lock) < 0)
        return GLY_ENOMEM;
    w->lock_ok = true;
    w->post_open = true;
    w->tl[TL_HEAD] = w->tl[TL_BODY] = (struct tlist){0};
    w->timeouts[TL_HEAD] = cfg->header_timeout_ms;
    w->timeouts[TL_BODY] = cfg->body_timeout_ms;
    w->timeouts[TL_IDLE] = cfg->idle_timeout_ms;
    w->timeouts[TL_WRITE] = cfg->write_timeout_ms;
    w->timeouts[TL_LINGER] = GLY_LINGER_MS;
    w->limits.max_request_line = cfg->max_request_line;
    w->limits.max_head = cfg->max_head;
    w->limits.max_headers = cfg->max_headers;
    gly_buf_init(&w->out, NULL, 0, NULL, 0);
    w->rbuf = malloc(GLY_SHARED_RBUF);
    w->coros = gly__coro_pool_new(cfg->coro_stack, 256);
    if (!w->rbuf || !w->coros || gly__stats_init(&w->stats, app->nroutes) < 0)
        return GLY_ENOMEM;

    uint32_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
        seed = (uint32_t)gly_now_ns() ^ (uint32_t)getpid() ^ id;
    snprintf(w->reqid_prefix, sizeof w->reqid_prefix, "%08x", seed);

    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    w->loop_ok = true;
    uv_tcp_init(&w->loop, &w->listener);
    w->listener.data = w;
    if ((rc = uv_tcp_open(&w->listener, fd)) < 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&w->listener, (int)cfg->backlog, on_connection)) < 0)
        return rc;
    w->listening = true;
    uv_async_init(&w->loop, &w->async, on_worker_async);
    w->async.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, GLY_TICK_MS, GLY_TICK_MS);
    uv_check_init(&w->loop, &w->check);
    uv_check_start(&w->check, on_check);
    uv_unref((uv_handle_t *)&w->check);
    return 0;
}

static void worker_dispose(struct worker *w)
{
    if (w->loop_ok) {
        uv_walk(&w->loop, close_walk, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
    }
    gly__req_pool_free(w);
    if (w->lock_ok)
        uv_mutex_destroy(&w->post_lock);
    gly__coro_pool_free(w->coros);
    gly__stats_dispose(&w->stats);
    free(w->rbuf);
    free(w->spare_rbuf);
    gly_buf_dispose(&w->out);
}

/* ------------------------------------------------------------------------ */
/* Listening sockets                                                        */
/* ------------------------------------------------------------------------ */

/* Splits "host:port" / "[v6]:port" and resolves it. */
static int resolve(const char *hostport, struct sockaddr_storage *ss, socklen_t *sslen)
{
    char host[128];
    const char *colon = strrchr(hostport, ':');
    if (!colon)
        return GLY_EINVAL;
    size_t hn = (size_t)(colon - hostport);
    const char *h = hostport;
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') {
        h++;
        hn -= 2;
    }
    if (hn >= sizeof host)
        return GLY_EINVAL;
    memcpy(host, h, hn);
    host[hn] = '\0';
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(hn ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0 || !res)
        return GLY_EINVAL;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int listen_socket(struct sockaddr_storage *ss, socklen_t sslen, unsigned backlog)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
#ifdef TCP_DEFER_ACCEPT
    int defer = 1; /* seconds: accept once the first bytes arrived */
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
#endif
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)ss, sslen) < 0)
        goto fail;
    if (listen(fd, (int)backlog) < 0)
        goto fail;
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

/*
 * SO_REUSEPORT would let a second server (of the same user) share a port in
 * use and split the connections with it. A plain bind first tells whether
 * anybody listens there already.
 */
static int port_free(struct sockaddr_storage *ss, socklen_t sslen)
{
    in_port_t port = ss->ss_family == AF_INET6 ? ((struct sockaddr_in6 *)ss)->sin6_port
                                               : ((struct sockaddr_in *)ss)->sin_port;
    if (port == 0)
        return 0;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)ss, sslen) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Worker count: 0 means the CPUs this process may run on. */
static unsigned worker_count(const gly_config *cfg)
{
    if (cfg->workers)
        return cfg->workers;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ------------------------------------------------------------------------ */
/* gly_run and the graceful stop                                            */
/* ------------------------------------------------------------------------ */

struct runner {
    gly_app *app;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_async_t async;
    uv_timer_t deadline;
    atomic_uint finished;
    bool stopping;
};

static void on_deadline(uv_timer_t *t)
{
    struct runner *r = t->data;
    gly_app *app = r->app;
    gly_log_warn("graceful stop deadline passed: closing remaining connections");
    for (unsigned i = 0; i < app->nworkers; i++) {
        atomic_store(&app->workers[i].force, true);
        uv_async_send(&app->workers[i].async);
    }
}

static void begin_stop(struct runner *r)
{
    gly_app *app = r->app;
    if (r->stopping)
        return;
    r->stopping = true;
    atomic_store(&app->stop_requested, true);
    gly_log_info("graceful stop: finishing in-flight requests (deadline %u ms)",
                 app->cfg.shutdown_timeout_ms);
    for (unsigned i = 0; i < app->nworkers; i++) {
        atomic_store(&app->workers[i].stop, true);
        uv_async_send(&app->workers[i].async);
    }
    uv_timer_start(&r->deadline, on_deadline, app->cfg.shutdown_timeout_ms, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct runner *r = s->data;
    gly_log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (r->stopping) {
        /* a second signal: do not wait for the deadline */
        on_deadline(&r->deadline);
        return;
    }
    begin_stop(r);
}

static void on_main_async(uv_async_t *a)
{
    struct runner *r = a->data;
    gly_app *app = r->app;
    if (atomic_load(&app->stop_requested) && !r->stopping)
        begin_stop(r);
    if (atomic_load(&r->finished) == app->nworkers) {
        uv_close((uv_handle_t *)&r->sigterm, NULL);
        uv_close((uv_handle_t *)&r->sigint, NULL);
        uv_close((uv_handle_t *)&r->deadline, NULL);
        uv_close((uv_handle_t *)&r->async, NULL);
    }
}

struct worker_arg {
    struct worker *w;
    struct runner *r;
};

static void worker_thread(void *arg)
{
    struct worker_arg *wa = arg;
    struct worker *w = wa->w;
    struct runner *r = wa->r;
    worker_main(w);
    atomic_fetch_add(&r->finished, 1);
    uv_mutex_lock(&w->app->stop_lock);
    uv_async_send(&r->async);
    uv_mutex_unlock(&w->app->stop_lock);
}

void gly_app_stop(gly_app *app)
{
    atomic_store(&app->stop_requested, true);
    uv_mutex_lock(&app->stop_lock);
    if (app->main_async)
        uv_async_send(app->main_async);
    uv_mutex_unlock(&app->stop_lock);
}

bool gly__app_stopping(const gly_app *app)
{
    return atomic_load_explicit(&((gly_app *)app)->stop_requested, memory_order_relaxed);
}

int gly_app_port(const gly_app *app)
{
    return atomic_load(&((gly_app *)app)->port);
}

int gly_run(gly_app *app)
{
    int rc = 0;
    char err[256];
    unsigned n = 0, started = 0;
    int *fds = NULL;
    struct worker_arg *args = NULL;
    struct runner r = {.app = app};

    if (app->setup_err) {
        gly_log_error("%s", app->setup_msg);
        return app->setup_err;
    }
    if ((rc = gly__config_check(&app->cfg, err, sizeof err)) < 0) {
        gly_log_error("%s", err);
        return rc;
    }
    gly_log_set_level(app->cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    struct sockaddr_storage ss;
    socklen_t sslen;
    if (resolve(app->cfg.http, &ss, &sslen) < 0) {
        gly_log_error("cannot resolve listen address \"%s\"", app->cfg.http);
        return GLY_EINVAL;
    }
    n = worker_count(&app->cfg);
    fds = calloc(n, sizeof *fds);
    app->workers = calloc(n, sizeof *app->workers);
    args = calloc(n, sizeof *args);
    if (!fds || !app->workers || !args) {
        rc = GLY_ENOMEM;
        goto done;
    }
    for (unsigned i = 0; i < n; i++)
        fds[i] = -1;
    if ((rc = port_free(&ss, sslen)) < 0) {
        gly_log_error("cannot listen on %s: %s", app->cfg.http, gly_strerror(rc));
        goto done;
    }
    for (unsigned i = 0; i < n; i++) {
        fds[i] = listen_socket(&ss, sslen, app->cfg.backlog);
        if (fds[i] < 0) {
            rc = fds[i];
            gly_log_error("cannot listen on %s: %s", app->cfg.http, gly_strerror(rc));
            goto done;
        }
        if (i == 0) {
            /* with port 0 the kernel picked one; the other workers bind to it too */
            getsockname(fds[0], (struct sockaddr *)&ss, &sslen);
            int port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                      : ((struct sockaddr_in *)&ss)->sin_port);
            atomic_store(&app->port, port);
        }
    }

    uv_loop_init(&r.loop);
    uv_async_init(&r.loop, &r.async, on_main_async);
    r.async.data = &r;
    uv_signal_init(&r.loop, &r.sigterm);
    uv_signal_init(&r.loop, &r.sigint);
    r.sigterm.data = r.sigint.data = &r;
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_timer_init(&r.loop, &r.deadline);
    r.deadline.data = &r;
    atomic_init(&r.finished, 0);

    app->nworkers = n;
    for (unsigned i = 0; i < n; i++) {
        rc = worker_init(&app->workers[i], app, i, fds[i]);
        fds[i] = -1; /* the listener owns it now */
        if (rc < 0) {
            gly_log_error("worker %u: %s", i, gly_strerror(rc));
            goto stop;
        }
    }

    uv_mutex_lock(&app->stop_lock);
    app->main_async = &r.async;
    uv_mutex_unlock(&app->stop_lock);

    /* workers never take SIGTERM/SIGINT: the runner's loop handles them */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (unsigned i = 0; i < n; i++) {
        args[i] = (struct worker_arg){&app->workers[i], &r};
        if ((rc = uv_thread_create(&app->workers[i].thread, worker_thread, &args[i])) < 0)
            break;
        started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < n) {
        gly_log_error("cannot start worker threads: %s", gly_strerror(rc));
        goto stop;
    }
    gly_log_info("galley listening on http://%s (port %d, %u workers)", app->cfg.http,
                 gly_app_port(app), n);
    if (atomic_load(&app->stop_requested))
        uv_async_send(&r.async);

stop:
    if (rc < 0) {
        atomic_store(&app->stop_requested, true);
        for (unsigned i = 0; i < started; i++) {
            atomic_store(&app->workers[i].stop, true);
            atomic_store(&app->workers[i].force, true);
            uv_async_send(&app->workers[i].async);
        }
        r.stopping = true;
        if (started == 0) {
            uv_close((uv_handle_t *)&r.sigterm, NULL);
            uv_close((uv_handle_t *)&r.sigint, NULL);
            uv_close((uv_handle_t *)&r.deadline, NULL);
            uv_close((uv_handle_t *)&r.async, NULL);
        }
    }
    uv_run(&r.loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&app->workers[i].thread);
    uv_mutex_lock(&app->stop_lock);
    app->main_async = NULL;
    uv_mutex_unlock(&app->stop_lock);
    uv_loop_close(&r.loop);
    for (unsigned i = 0; i < n; i++)
        if (app->workers[i].app)
            worker_dispose(&app->workers[i]);
    if (rc == 0)
        gly_log_info("galley stopped");
    gly_log_flush();
done:
    if (fds)
        for (unsigned i = 0; i < n; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    free(fds);
    free(args);
    free(app->workers);
    app->workers = NULL;
    app->nworkers = 0;
    return rc;
}
