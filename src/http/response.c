/*
 * src/http/response.c - response heads and bodies, problem documents, streams.
 *
 * A response is serialized straight into the worker's output buffer when the
 * handler sends it; the connection writes the buffer at the end of the run.
 */
#include <stdarg.h>
#include <stdio.h>

#include "http/internal.h"

const char *gly_method_name(int method)
{
    static const char *const names[] = {
#define GLY__METHOD_NAME(name) #name,
        GLY_METHOD_MAP(GLY__METHOD_NAME)
#undef GLY__METHOD_NAME
    };
    return method >= 0 && method < GLY_METHOD_COUNT ? names[method] : NULL;
}

static const char *const status_texts[600] = {
    [100] = "Continue",
    [101] = "Switching Protocols",
    [200] = "OK",
    [201] = "Created",
    [202] = "Accepted",
    [203] = "Non-Authoritative Information",
    [204] = "No Content",
    [205] = "Reset Content",
    [206] = "Partial Content",
    [300] = "Multiple Choices",
    [301] = "Moved Permanently",
    [302] = "Found",
    [303] = "See Other",
    [304] = "Not Modified",
    [307] = "Temporary Redirect",
    [308] = "Permanent Redirect",
    [400] = "Bad Request",
    [401] = "Unauthorized",
    [402] = "Payment Required",
    [403] = "Forbidden",
    [404] = "Not Found",
    [405] = "Method Not Allowed",
    [406] = "Not Acceptable",
    [407] = "Proxy Authentication Required",
    [408] = "Request Timeout",
    [409] = "Conflict",
    [410] = "Gone",
    [411] = "Length Required",
    [412] = "Precondition Failed",
    [413] = "Content Too Large",
    [414] = "URI Too Long",
    [415] = "Unsupported Media Type",
    [416] = "Range Not Satisfiable",
    [417] = "Expectation Failed",
    [421] = "Misdirected Request",
    [422] = "Unprocessable Content",
    [423] = "Locked",
    [424] = "Failed Dependency",
    [425] = "Too Early",
    [426] = "Upgrade Required",
    [428] = "Precondition Required",
    [429] = "Too Many Requests",
    [431] = "Request Header Fields Too Large",
    [451] = "Unavailable For Legal Reasons",
    [500] = "Internal Server Error",
    [501] = "Not Implemented",
    [502] = "Bad Gateway",
    [503] = "Service Unavailable",
    [504] = "Gateway Timeout",
    [505] = "HTTP Version Not Supported",
    [507] = "Insufficient Storage",
    [511] = "Network Authentication Required",
};

const char *gly_status_text(int status)
{
    const char *t = status >= 0 && status < 600 ? status_texts[status] : NULL;
    return t ? t : "Unknown";
}

/* No body and no Content-Length for these (RFC 9110 8.6, 15.3.5, 15.4.5). */
static bool status_bodyless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* Appends "HTTP/1.1 SSS Reason\r\nServer: galley\r\nDate: ...\r\n". */
static void put_status_line(gly_buf *o, int status)
{
    char line[96];
    const char *reason = gly_status_text(status);
    size_t rn = strlen(reason);
    memcpy(line, "HTTP/1.1 ", 9);
    line[9] = (char)('0' + status / 100);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    line[12] = ' ';
    memcpy(line + 13, reason, rn);
    memcpy(line + 13 + rn, "\r\nServer: galley\r\nDate: ", 24);
    gly_buf_append(o, line, 13 + rn + 24);
    gly_buf_append(o, gly_http_date(), 29);
    gly_buf_append(o, "\r\n", 2);
}

static bool bad_field_text(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return true;
    return false;
}

/*
 * Writes the response head. length < 0 means none: chunked when chunked is
 * set, else the body runs to the connection's close.
 */
static int put_head(gly_req *req, int status, const char *ctype, int64_t length, bool chunked)
{
    struct worker *w = req->w;
    struct conn *c = req->conn;
    gly_buf *o = &w->out;
    size_t start = o->len;
    bool keep = (req->head.flags & GLY_HTTP_KEEP_ALIVE) && !w->stopping && !c->eof &&
                !atomic_load_explicit(&req->app->stop_requested, memory_order_relaxed);
    if (length < 0 && !chunked && !req->head_only)
        keep = false;
    c->keep_alive = keep;

    put_status_line(o, status);
    if (ctype) {
        gly_buf_append(o, "Content-Type: ", 14);
        gly_buf_puts(o, ctype);
        gly_buf_append(o, "\r\n", 2);
    }
    if (length >= 0 && !status_bodyless(status)) {
        char num[24];
        size_t n = gly_u64_to_dec(num, (uint64_t)length);
        gly_buf_append(o, "Content-Length: ", 16);
        gly_buf_append(o, num, n);
        gly_buf_append(o, "\r\n", 2);
    }
    if (chunked)
        gly_buf_append(o, "Transfer-Encoding: chunked\r\n", 28);
    for (struct resp_header *h = req->hdrs; h; h = h->next) {
        gly_buf_append(o, h->name.p, h->name.n);
        gly_buf_append(o, ": ", 2);
        gly_buf_append(o, h->value.p, h->value.n);
        gly_buf_append(o, "\r\n", 2);
    }
    if (req->app->cfg.request_id) {
        gly_str id = gly_req_id(req);
        gly_buf_append(o, "X-Request-Id: ", 14);
        gly_buf_append(o, id.p, id.n);
        gly_buf_append(o, "\r\n", 2);
    }
    if (!keep)
        gly_buf_append(o, "Connection: close\r\n", 19);
    else if (req->head.minor_version == 0)
        gly_buf_append(o, "Connection: keep-alive\r\n", 24);
    gly_buf_append(o, "\r\n", 2);
    req->bytes_out += o->len - start;
    req->status = status;
    req->sent = true;
    return gly_buf_err(o);
}

static int check_send(gly_req *req, int status, const char *ctype)
{
    if (req->sent)
        return GLY_ESTATE;
    if (status < 200 || status > 599 || (ctype && bad_field_text(ctype)))
        return GLY_EINVAL;
    return 0;
}

static bool body_allowed(const gly_req *req, int status)
{
    return !req->head_only && !status_bodyless(status);
}

int gly_send(gly_req *req, int status, const char *content_type, const void *body, size_t len)
{
    int rc = check_send(req, status, content_type);
    if (rc < 0)
        return rc;
    rc = put_head(req, status, content_type, (int64_t)len, false);
    if (body_allowed(req, status) && len) {
        gly__out_append(req->w, body, len);
        req->bytes_out += len;
    }
    return rc ? rc : gly_buf_err(&req->w->out);
}

int gly_send_iov(gly_req *req, int status, const char *content_type, const gly_str *parts,
                 size_t nparts)
{
    int rc = check_send(req, status, content_type);
    if (rc < 0)
        return rc;
    uint64_t total = 0;
    for (size_t i = 0; i < nparts; i++)
        total += parts[i].n;
    rc = put_head(req, status, content_type, (int64_t)total, false);
    if (body_allowed(req, status)) {
        for (size_t i = 0; i < nparts; i++)
            if (parts[i].n && gly__out_ref(req->w, parts[i].p, parts[i].n))
                req->has_ref = true;
        req->bytes_out += total;
    }
    return rc ? rc : gly_buf_err(&req->w->out);
}

int gly_send_ref(gly_req *req, int status, const char *content_type, const void *body, size_t len)
{
    gly_str part = {body, len};
    return gly_send_iov(req, status, content_type, &part, 1);
}

int gly_send_buf(gly_req *req, int status, const char *content_type, gly_buf *body)
{
    if (gly_buf_err(body))
        return gly_buf_err(body);
    if (body->arena == &req->arena && body->owned) /* not the caller's seed, maybe on its stack */
        return gly_send_ref(req, status, content_type, body->p, body->len);
    return gly_send(req, status, content_type, body->p, body->len);
}

int gly_send_text(gly_req *req, int status, const char *text)
{
    return gly_send(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* RFC 9110 tchar, one bit per byte value. */
static const uint64_t tchar_bits[4] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull,
                                       0x0000000000000000ull, 0x0000000000000000ull};

static bool is_tchar(unsigned char c)
{
    return (tchar_bits[c >> 6] >> (c & 63)) & 1;
}

/* The fields the engine writes itself; a handler may not set them. */
static bool reserved_field(gly_str name)
{
    switch (name.n) {
    case 4:
        return gly_str_ieq_c(name, "date");
    case 6:
        return gly_str_ieq_c(name, "server");
    case 10:
        return gly_str_ieq_c(name, "connection");
    case 14:
        return gly_str_ieq_c(name, "content-length");
    case 17:
        return gly_str_ieq_c(name, "transfer-encoding");
    default:
        return false;
    }
}

int gly_set_headerf(gly_req *req, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *value = gly_arena_vprintf(&req->arena, fmt, ap);
    va_end(ap);
    return value ? gly_set_header(req, name, value) : GLY_ENOMEM;
}

int gly_set_header_str(gly_req *req, gly_str name, gly_str value)
{
    if (req->sent)
        return GLY_ESTATE;
    if (!name.p || name.n == 0 || !value.p)
        return GLY_EINVAL;
    for (size_t i = 0; i < name.n; i++)
        if (!is_tchar((unsigned char)name.p[i]))
            return GLY_EINVAL;
    for (size_t i = 0; i < value.n; i++) {
        char c = value.p[i];
        if (c == '\r' || c == '\n' || c == '\0')
            return GLY_EINVAL;
    }
    if (reserved_field(name))
        return GLY_EINVAL;
    /* one block: the entry, then the name and the value */
    struct resp_header *h = gly_arena_alloc(&req->arena, sizeof *h + name.n + value.n);
    if (!h)
        return GLY_ENOMEM;
    char *n = (char *)(h + 1), *v = n + name.n;
    memcpy(n, name.p, name.n);
    memcpy(v, value.p, value.n);
    h->name = (gly_str){n, name.n};
    h->value = (gly_str){v, value.n};
    h->next = NULL;
    *req->hdrs_tail = h;
    req->hdrs_tail = &h->next;
    return 0;
}

int gly_set_header(gly_req *req, const char *name, const char *value)
{
    return gly_set_header_str(req, gly_str_c(name), gly_str_c(value));
}

int gly_replace_header(gly_req *req, const char *name, const char *value)
{
    int rc = gly_set_header(req, name, value);
    if (rc < 0)
        return rc;
    /* the new field is the last; drop the earlier ones of that name */
    struct resp_header *added = req->hdrs;
    while (added->next)
        added = added->next;
    struct resp_header **pp = &req->hdrs;
    gly_str n = gly_str_c(name);
    while (*pp) {
        if (*pp != added && gly_str_ieq((*pp)->name, n))
            *pp = (*pp)->next;
        else
            pp = &(*pp)->next;
    }
    req->hdrs_tail = pp;
    return 0;
}

bool gly_resp_sent(const gly_req *req)
{
    return req->sent;
}

/* The members every problem document has (RFC 9457), into an object already begun. */
static void problem_members(gly_json *j, int status, const char *code, const char *detail,
                            gly_str id)
{
    gly_json_key(j, "type");
    gly_json_str(j, "about:blank");
    gly_json_key(j, "title");
    gly_json_str(j, gly_status_text(status));
    gly_json_key(j, "status");
    gly_json_i64(j, status);
    if (detail) {
        gly_json_key(j, "detail");
        gly_json_str(j, detail);
    }
    if (code) {
        gly_json_key(j, "code");
        gly_json_str(j, code);
    }
    if (id.p) {
        gly_json_key(j, "request_id");
        gly_json_strn(j, id.p, id.n);
    }
}

/* Writes a whole problem document into b. */
static void problem_json(gly_buf *b, int status, const char *code, const char *detail, gly_str id)
{
    gly_json j;
    gly_json_init(&j, b);
    gly_json_obj_begin(&j);
    problem_members(&j, status, code, detail, id);
    gly_json_obj_end(&j);
}

int gly_problem_begin(gly_req *req, gly_json *j, gly_buf *b, int status, const char *code,
                      const char *detail)
{
    gly_buf_init(b, NULL, 0, &req->arena, 0);
    gly_json_init(j, b);
    gly_json_obj_begin(j);
    problem_members(j, status, code, detail, gly_req_id(req));
    return gly_json_err(j);
}

int gly_problem_end(gly_req *req, gly_json *j, int status)
{
    gly_json_obj_end(j);
    int rc = gly_json_finish(j);
    if (rc < 0)
        return rc;
    return gly_send_buf(req, status, "application/problem+json", j->b);
}

int gly_problem(gly_req *req, int status, const char *code, const char *detail)
{
    gly_buf b;
    gly_json j;
    gly_problem_begin(req, &j, &b, status, code, detail);
    return gly_problem_end(req, &j, status);
}

/*
 * An error the engine answers itself: a malformed request, a limit, a
 * timeout. req, when not NULL, is the request whose head was parsed (its
 * slices still valid): the log line and the answer then carry its method,
 * path and request id. The connection closes after the answer.
 */
int gly__resp_simple(struct worker *w, struct conn *c, struct gly_req *req, int status,
                     const char *why)
{
    char seed[512];
    gly_buf body;
    gly_str id = req ? gly_req_id(req) : GLY_STR_NULL;
    gly_buf_init(&body, seed, sizeof seed, NULL, 4096);
    problem_json(&body, status, NULL, why, id);
    gly_buf *o = &w->out;
    size_t start = o->len;
    char num[24];
    put_status_line(o, status);
    gly_buf_append(o, "Content-Type: application/problem+json\r\nContent-Length: ", 56);
    gly_buf_append(o, num, gly_u64_to_dec(num, body.len));
    if (id.p && w->app->cfg.request_id) {
        gly_buf_append(o, "\r\nX-Request-Id: ", 16);
        gly_buf_append(o, id.p, id.n);
    }
    gly_buf_puts(o, "\r\nConnection: close\r\n\r\n");
    gly_buf_append(o, body.p, body.len);
    gly__stats_request(w->app, &w->stats, 0, req ? req->method : GLY_METHOD_UNKNOWN, status,
                       req ? gly_now_ns() - req->t0 : 0);
    gly__access_log(w, gly__conn_peer(c), req ? req->head.method : GLY_STR("-"),
                    req ? req->head.path : GLY_STR("-"), status, o->len - start,
                    req ? gly_now_ns() - req->t0 : 0, id, why);
    gly_buf_dispose(&body);
    c->keep_alive = false;
    return gly_buf_err(o);
}

int gly_stream_begin(gly_req *req, int status, const char *content_type)
{
    int rc = check_send(req, status, content_type);
    if (rc < 0)
        return rc;
    bool bodyless = status_bodyless(status);
    /* a HEAD answer has the head the GET would have had; its writes are dropped */
    bool chunked = req->head.minor_version == 1 && !bodyless;
    req->streaming = true;
    rc = put_head(req, status, content_type, bodyless ? 0 : -1, chunked);
    if (rc < 0)
        return rc;
    if (bodyless)
        req->stream_ended = true;
    return gly__conn_flush(req->conn);
}

int gly_stream_write(gly_req *req, const void *data, size_t len)
{
    if (!req->streaming || req->stream_ended)
        return GLY_ESTATE;
    if (req->conn->eof)
        return GLY_ECANCELED;
    if (len == 0 || req->head_only)
        return 0;
    struct worker *w = req->w;
    bool chunked = req->head.minor_version == 1;
    if (chunked) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        gly__out_append(w, size, (size_t)n);
        req->bytes_out += (uint64_t)n + 2;
    }
    gly__out_append(w, data, len);
    if (chunked)
        gly__out_append(w, "\r\n", 2);
    req->bytes_out += len;
    int rc = gly__conn_flush(req->conn);
    if (rc < 0)
        return rc;
    return gly__wait_write(req);
}

int gly_stream_end(gly_req *req)
{
    if (!req->streaming || req->stream_ended)
        return GLY_ESTATE;
    req->stream_ended = true;
    if (req->head.minor_version == 1 && !req->head_only) {
        gly__out_append(req->w, "0\r\n\r\n", 5);
        req->bytes_out += 5;
    }
    return req->conn->eof ? GLY_ECANCELED : 0;
}

/*
 * After the chain returned: a failure or a missing response becomes a 500
 * that names only the request id; the log gets the detail.
 */
void gly__resp_finish_default(struct gly_req *req, int rc)
{
    if (rc == 0 && req->sent && (!req->streaming || req->stream_ended))
        return; /* the common case */
    gly_str id = gly_req_id(req);
    if (req->streaming) {
        if (rc < 0) {
            gly_log_error("handler failed mid-stream: %s (route %s, request %.*s)",
                          gly_err_name(rc), req->pattern ? req->pattern : "-", (int)id.n, id.p);
            /* a truncated chunked body: the client must see the failure */
            req->conn->keep_alive = false;
            req->conn->eof = true;
        } else if (!req->stream_ended) {
            gly_stream_end(req);
        }
        return;
    }
    if (req->sent) {
        if (rc < 0)
            gly_log_warn("handler failed after responding: %s (route %s, request %.*s)",
                         gly_err_name(rc), req->pattern ? req->pattern : "-", (int)id.n, id.p);
        return;
    }
    if (rc < 0)
        gly_log_error("handler failed: %s: %s (route %s, request %.*s)", gly_err_name(rc),
                      gly_strerror(rc), req->pattern ? req->pattern : "-", (int)id.n, id.p);
    else
        gly_log_error("handler returned without a response (route %s, request %.*s)",
                      req->pattern ? req->pattern : "-", (int)id.n, id.p);
    req->hdrs = NULL; /* what the handler added is not for the error */
    req->hdrs_tail = &req->hdrs;
    switch (rc) {
    case GLY_ECONNLOST:
    case GLY_EUNAVAIL:
    case GLY_EBUSY:
    case GLY_ETIMEDOUT:
        /* a dependency is down or overloaded: the request may succeed when retried */
        gly_set_header(req, "Retry-After", "1");
        gly_problem(req, 503, "unavailable",
                    "The service is temporarily unavailable. Retry the request shortly.");
        return;
    case GLY_EUNIQUE:
        gly_problem(req, 409, "conflict", "The request conflicts with an existing resource.");
        return;
    default:
        break;
    }
    gly_problem(req, 500, "internal-error",
                "The server failed to handle the request. Quote the request id when you "
                "report it.");
}
